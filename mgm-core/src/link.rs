//! Facts from the kernel that the core consumes: links, addresses, neighbours, routes, upcalls
//! and counters. The agent's netlink adapters produce them; the core never asks the kernel.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::addr::{Family, IfIndex, VifIndex};

/// One interface as rtnetlink reports it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct LinkInfo {
    /// Kernel interface index.
    pub ifindex: IfIndex,
    /// Interface name (`IFLA_IFNAME`).
    pub name: String,
    /// `IFF_UP` (administratively up) and carrier: the link can pass traffic.
    pub up: bool,
    /// `IFF_MULTICAST`: required to own the interface.
    pub multicast: bool,
    /// `IFF_POINTOPOINT`.
    pub point_to_point: bool,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// MTU in bytes.
    pub mtu: u32,
}

/// A change in the kernel's interfaces, addresses or neighbours.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum LinkEvent {
    /// A link appeared or changed (rename, flags, MTU). Idempotent: the same info twice is
    /// harmless. An ifindex that reappears after `Removed` is a new interface.
    Link(LinkInfo),
    /// A link was deleted: every ownership on it ends, its VIFs are freed, owners are told.
    Removed {
        /// The deleted interface.
        ifindex: IfIndex,
    },
    /// An address was added to an interface.
    AddressAdded {
        /// Interface.
        ifindex: IfIndex,
        /// Address.
        addr: IpAddr,
        /// Prefix length (on-link subnet).
        prefix_len: u8,
    },
    /// An address was removed from an interface.
    AddressRemoved {
        /// Interface.
        ifindex: IfIndex,
        /// Address.
        addr: IpAddr,
        /// Prefix length.
        prefix_len: u8,
    },
    /// The kernel has a (reachable, stale, permanent...) neighbour entry on an interface: a
    /// next hop that may be owned as a point-to-multipoint key.
    NeighbourAdded {
        /// Interface.
        ifindex: IfIndex,
        /// Neighbour address.
        addr: IpAddr,
    },
    /// A neighbour entry went away (failed or deleted). Existing ownerships stay.
    NeighbourRemoved {
        /// Interface.
        ifindex: IfIndex,
        /// Neighbour address.
        addr: IpAddr,
    },
    /// A full resync starts (monitor overrun): everything not re-announced before
    /// `ResyncEnd` is forgotten (mark and sweep).
    ResyncBegin,
    /// A full resync ended; links not seen since `ResyncBegin` are removed.
    ResyncEnd,
}

/// The kernel FIB's answer to "how do I reach this source" (`RTM_GETROUTE` get), the route the
/// RPF check uses.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct Route {
    /// Outgoing interface toward the source: the expected incoming interface of its traffic.
    pub ifindex: IfIndex,
    /// Gateway, if the source is not on-link: the upstream neighbour.
    pub gateway: Option<IpAddr>,
    /// Destination prefix of the matching route.
    pub prefix: IpAddr,
    /// Prefix length of the matching route.
    pub prefix_len: u8,
    /// Routing protocol that installed the route (`rtm_protocol`).
    pub protocol: u8,
}

/// A kernel upcall on the multicast routing socket, decoded.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub enum Upcall {
    /// `IGMPMSG_NOCACHE` / `MRT6MSG_NOCACHE`: a packet of (source, group) arrived on `vif` and
    /// the kernel has no forwarding entry for it.
    NoCache {
        /// Family.
        family: Family,
        /// Source address.
        source: IpAddr,
        /// Group address.
        group: IpAddr,
        /// Arrival VIF.
        vif: VifIndex,
    },
    /// `IGMPMSG_WRONGVIF`: a packet of an installed (source, group) arrived on `vif`, which is
    /// not the entry's incoming VIF (assert mode).
    WrongVif {
        /// Family.
        family: Family,
        /// Source address.
        source: IpAddr,
        /// Group address.
        group: IpAddr,
        /// Arrival VIF.
        vif: VifIndex,
    },
    /// `IGMPMSG_WHOLEPKT` / `IGMPMSG_WRVIFWHOLE`: a whole packet for the register VIF or a
    /// wrong-VIF packet with its payload.
    WholePacket {
        /// Family.
        family: Family,
        /// Source address.
        source: IpAddr,
        /// Group address.
        group: IpAddr,
        /// VIF the kernel named.
        vif: VifIndex,
        /// Whether this was `WRVIFWHOLE` (a wrong-VIF packet) rather than `WHOLEPKT`.
        wrong_vif: bool,
        /// The packet, starting at its IP header.
        packet: Vec<u8>,
    },
}

/// Kernel counters of one forwarding entry (`SIOCGETSGCNT` or `RTA_MFC_STATS`).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize, Deserialize)]
pub struct MfeCounters {
    /// Packets that matched the entry.
    pub packets: u64,
    /// Bytes that matched the entry.
    pub bytes: u64,
    /// Packets that arrived on another interface than the incoming one.
    pub wrong_if: u64,
}
