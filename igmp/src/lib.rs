//! The router side of IGMP and MLD with no I/O: packets and time in, packets and MGM
//! membership changes out.
//!
//! - [`packet`]: byte-exact codecs for IGMPv1/v2/v3 and MLDv1/v2.
//! - [`router`]: one [`Interface`] per (ifindex, family) — querier election, queries, timers,
//!   per-source INCLUDE/EXCLUDE state (RFC 9776 / RFC 9777), old-version host compatibility,
//!   SSM (RFC 4604), optional explicit host tracking — producing [`Output`]s.
//! - [`interfaces`]: all of them in one object ([`Interfaces`]): packets by arrival interface,
//!   one output queue, one timer, Disable/Enable-IGMP by MGM interface key.
//!
//! The crate reads no clock and does no I/O: every method that depends on time takes `now`.
//!
//! # Driving an interface
//!
//! ```
//! use std::net::IpAddr;
//! use std::time::Instant;
//!
//! use igmp::packet::igmp::IgmpMessage;
//! use igmp::{Config, Interface, Output};
//! use mgm_core::{Family, IfIndex, SourceGroup};
//!
//! let now = Instant::now();
//! let own: IpAddr = "10.0.0.1".parse().unwrap();
//! let mut eth0 = Interface::new(Family::Ipv4, IfIndex(2), own, Config::igmp(), now);
//!
//! // A host's IGMPv2 report (IP payload as read from the multicast routing socket).
//! let report = IgmpMessage::V2Report { group: "239.1.2.3".parse().unwrap() }.encode();
//! let host: IpAddr = "10.0.0.9".parse().unwrap();
//! eth0.handle_packet(now, host, "239.1.2.3".parse().unwrap(), &report);
//!
//! let mut joins = Vec::new();
//! while let Some(output) = eth0.poll_output() {
//!     match output {
//!         // Send on eth0 with TTL 1 and Router Alert (netlink::igmp_io).
//!         Output::Send { destination, payload } => { let _ = (destination, payload); }
//!         // MgmAddGroupMembershipEntry / MgmDeleteGroupMembershipEntry on (eth0, 0.0.0.0).
//!         Output::Join(sg) => joins.push(sg),
//!         Output::Leave(_) => {}
//!     }
//! }
//! assert_eq!(joins, [SourceGroup::star_g("239.1.2.3".parse().unwrap()).unwrap()]);
//! // Then sleep until `eth0.poll_timeout()` and call `eth0.handle_timeout(now)`.
//! assert!(eth0.poll_timeout().is_some());
//! ```

#![warn(missing_docs)]

pub mod interfaces;
pub mod packet;
pub mod router;

pub use interfaces::{InterfaceOutput, Interfaces};
pub use router::{Config, FilterMode, Interface, InterfaceState, Output};
