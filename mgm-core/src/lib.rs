//! The Multicast Group Manager (MGM) as a state machine with no I/O, no clock and no async
//! runtime.
//!
//! Callers feed it requests from multicast routing protocols (`register_protocol`,
//! `take_interface_ownership`, `add_group_membership`, ...) and facts from the kernel
//! (`handle_link`, `handle_upcall`, `handle_counters`, `handle_timeout`). After every call they
//! drain [`Mgm::poll_action`] until it returns `None` (kernel operations to apply, callbacks to
//! deliver), then re-arm a timer from [`Mgm::poll_timeout`]. Time is always a parameter.
//!
//! # Layout
//! - [`addr`]: families, interface keys, VIF numbers, (S,G) specifications.
//! - [`error`]: the MGM error codes.
//! - [`protocol`]: protocol IDs, handles, callback sets.
//! - [`link`]: facts from the kernel (links, routes, upcalls, counters).
//! - [`action`]: outputs (kernel operations, notifications).
//! - `mgm`: [`Mgm`] itself, the one place every MGM rule is decided.
//!
//! # Glossary
//! - **VIF** (MIF for IPv6): the kernel's virtual interface number, 0..31 per family; the core
//!   allocates them on first ownership of an interface and frees them on last release.
//! - **MFE**: multicast forwarding entry, (S,G) → incoming interface + outgoing interfaces; the
//!   kernel calls it an MFC entry. Created when data arrives (a NOCACHE upcall), not when a
//!   membership is added.
//! - **iif / oif**: incoming / outgoing interface of an MFE.
//! - **(S,G), (*,G), (*,*)**: a membership for one source and group, any source of a group,
//!   every group.
//! - **Owner**: the routing protocol that took an interface key; IGMP may co-own it.

#![warn(missing_docs)]

pub mod action;
pub mod addr;
pub mod error;
pub mod link;
mod mgm;
pub mod protocol;

pub use action::{Action, KernelOp, Notification, OifEntry, QueryId};
pub use addr::{Family, IfIndex, InterfaceKey, SourceGroup, VifIndex, VifSet, MAX_VIFS};
pub use error::{ErrorCode, MgmError};
pub use link::{LinkEvent, LinkInfo, MfeCounters, Route, Upcall};
pub use mgm::*;
pub use protocol::{Callback, Callbacks, ComponentId, ProtocolHandle, ProtocolId};
