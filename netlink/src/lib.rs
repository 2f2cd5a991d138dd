//! mgmd's kernel adapters: the only code that talks to the kernel, and the only `unsafe`
//! (confined to [`mrt`]'s `sys` module).
//!
//! - [`mrt`]: the IPv4/IPv6 multicast routing socket (`MRT_*` / `MRT6_*`), VIFs, MFC entries,
//!   counters and the async upcall reader.
//! - [`upcall`]: pure decoders for upcalls and IGMP/MLD packets read from that socket.
//! - [`link`]: rtnetlink lookups ([`link::Rtnl`]) and the interface monitor ([`link::monitor`]).
//! - [`dump`]: the kernel's own view of VIFs and MFC entries (any table).
//! - [`error`]: [`Error`], with the errno kept and one errno → MGM code table.
//!
//! See `README.md` in this crate for what each function maps to in the kernel.

#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod dump;
pub mod error;
pub mod igmp_io;
pub mod link;
pub mod mrt;
pub mod upcall;

pub use error::Error;
