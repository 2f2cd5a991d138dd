//! The router side of IGMP and MLD with no I/O: packets and time in, packets and MGM
//! membership changes out.
//!
//! - [`packet`]: byte-exact codecs for IGMPv1/v2/v3 and MLDv1/v2.
//! - [`router`]: one [`Interface`] per (ifindex, family) — querier election, queries, timers,
//!   per-source INCLUDE/EXCLUDE state (RFC 9776 / RFC 9777), old-version host compatibility,
//!   SSM (RFC 4604), optional explicit host tracking — producing [`Output`]s.
//!
//! The crate reads no clock and does no I/O: every method that depends on time takes `now`.

#![warn(missing_docs)]

pub mod packet;
pub mod router;

pub use router::{Config, FilterMode, Interface, InterfaceState, Output};
