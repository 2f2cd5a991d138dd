//! rtnetlink: route and neighbour lookups, link dumps ([`Rtnl`]) and the interface monitor
//! ([`monitor`]).
//!
//! | function | kernel |
//! | --- | --- |
//! | [`Rtnl::route_to`] | `RTM_GETROUTE` get with `RTM_F_FIB_MATCH` (`ip route get fibmatch ADDR`) |
//! | [`Rtnl::neighbours`] | `RTM_GETNEIGH` dump (`ip neigh show dev IF`) |
//! | [`Rtnl::links`] | `RTM_GETLINK` dump (`ip link show`) |
//! | [`monitor`] | a netlink socket bound to `RTNLGRP_LINK`, `IPV4_IFADDR`, `IPV6_IFADDR`, `NEIGH` (`ip monitor link address neigh`), then `RTM_GETLINK`, `RTM_GETADDR`, `RTM_GETNEIGH` dumps |

use std::io;
use std::net::IpAddr;

use futures::StreamExt;
use mgm_core::{IfIndex, LinkEvent, LinkInfo, Route};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};
use tokio::sync::mpsc::Sender;

use crate::error::{from_rtnetlink, Error};

/// rtnetlink handle for requests (route/neighbour lookups, dumps).
///
/// Cheap to clone; requests may run concurrently. The netlink socket belongs to the network
/// namespace of the thread that called [`Rtnl::new`].
#[derive(Clone, Debug)]
pub struct Rtnl {
    handle: rtnetlink::Handle,
}

impl Rtnl {
    /// Open a netlink route socket and spawn its connection task on the current tokio runtime
    /// (must be called inside one).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when the socket cannot be opened; [`Error::Invalid`] outside a tokio
    /// runtime.
    pub fn new() -> Result<Rtnl, Error> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(Error::Invalid(
                "Rtnl::new must run inside a tokio runtime".to_owned(),
            ));
        }
        let (connection, handle, _messages) =
            rtnetlink::new_connection().map_err(|e| Error::sys("socket(NETLINK_ROUTE)", e))?;
        tokio::spawn(connection);
        Ok(Rtnl { handle })
    }

    /// Send `message` and collect every answer (one for a get, many for a dump).
    pub(crate) async fn request(
        &self,
        op: &'static str,
        message: RouteNetlinkMessage,
        dump: bool,
    ) -> Result<Vec<RouteNetlinkMessage>, Error> {
        let mut request = NetlinkMessage::from(message);
        request.header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        let mut handle = self.handle.clone();
        let mut answers = handle.request(request).map_err(|e| from_rtnetlink(op, e))?;
        let mut out = Vec::new();
        while let Some(answer) = answers.next().await {
            match answer.payload {
                NetlinkPayload::InnerMessage(inner) => out.push(inner),
                NetlinkPayload::Error(e) if e.code.is_some() => {
                    return Err(from_rtnetlink(op, rtnetlink::Error::NetlinkError(e)));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The route the kernel uses toward `addr` (the RPF lookup): equivalent to
    /// `ip route get fibmatch ADDR` (`RTM_GETROUTE` with `RTM_F_FIB_MATCH`, through the policy
    /// rules, normally the main table). Returns the matching prefix, its outgoing interface and
    /// gateway (the first next hop of a multipath route). `None` when the address is
    /// unreachable (no route, or an unreachable/blackhole/prohibit route).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the request fails for another reason.
    pub async fn route_to(&self, addr: IpAddr) -> Result<Option<Route>, Error> {
        let mut message = RouteMessage::default();
        message.header.address_family = match addr {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        message.header.destination_prefix_length = match addr {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        message.header.flags = RouteFlags::FibMatch;
        message
            .attributes
            .push(RouteAttribute::Destination(RouteAddress::from(addr)));
        let answers = match self
            .request(
                "RTM_GETROUTE",
                RouteNetlinkMessage::GetRoute(message),
                false,
            )
            .await
        {
            Ok(answers) => answers,
            Err(e)
                if matches!(
                    e.errno(),
                    Some(libc::ENETUNREACH | libc::EHOSTUNREACH | libc::ESRCH)
                ) =>
            {
                return Ok(None)
            }
            Err(e) => return Err(e),
        };
        for answer in answers {
            if let RouteNetlinkMessage::NewRoute(route) = answer {
                return Ok(route_of(&route, addr));
            }
        }
        Ok(None)
    }

    /// The usable neighbours on `ifindex`, IPv4 and IPv6: equivalent to `ip neigh show dev IF`
    /// without FAILED, INCOMPLETE, NOARP and NONE entries and without multicast addresses.
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the dump fails.
    pub async fn neighbours(&self, ifindex: IfIndex) -> Result<Vec<IpAddr>, Error> {
        let mut out = Vec::new();
        for answer in self.dump_neighbours().await? {
            if let RouteNetlinkMessage::NewNeighbour(n) = answer {
                if let Some((index, addr, usable)) = neighbour_of(&n) {
                    if index == ifindex && usable {
                        out.push(addr);
                    }
                }
            }
        }
        Ok(out)
    }

    async fn dump_neighbours(&self) -> Result<Vec<RouteNetlinkMessage>, Error> {
        let message = NeighbourMessage::default();
        self.request(
            "RTM_GETNEIGH",
            RouteNetlinkMessage::GetNeighbour(message),
            true,
        )
        .await
    }

    async fn dump_addresses(&self) -> Result<Vec<RouteNetlinkMessage>, Error> {
        let message = AddressMessage::default();
        self.request(
            "RTM_GETADDR",
            RouteNetlinkMessage::GetAddress(message),
            true,
        )
        .await
    }

    /// Every interface: equivalent to `ip link show` (`RTM_GETLINK` dump).
    ///
    /// # Errors
    ///
    /// [`Error::Netlink`] when the dump fails.
    pub async fn links(&self) -> Result<Vec<LinkInfo>, Error> {
        let message = LinkMessage::default();
        let answers = self
            .request("RTM_GETLINK", RouteNetlinkMessage::GetLink(message), true)
            .await?;
        Ok(answers
            .iter()
            .filter_map(|m| match m {
                RouteNetlinkMessage::NewLink(link) => link_info(link),
                _ => None,
            })
            .collect())
    }
}

fn route_address(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        RouteAddress::Other(bytes) => ip_from_bytes(bytes),
        _ => None,
    }
}

/// An address from 4 or 16 raw bytes.
pub(crate) fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn route_of(route: &RouteMessage, addr: IpAddr) -> Option<Route> {
    if matches!(
        route.header.kind,
        RouteType::Unreachable | RouteType::BlackHole | RouteType::Prohibit | RouteType::Throw
    ) {
        return None;
    }
    let mut oif = None;
    let mut gateway = None;
    let mut prefix = None;
    for attr in &route.attributes {
        match attr {
            RouteAttribute::Oif(index) => oif = Some(*index),
            RouteAttribute::Gateway(gw) => gateway = route_address(gw),
            RouteAttribute::Destination(dst) => prefix = route_address(dst),
            RouteAttribute::MultiPath(hops) if oif.is_none() => {
                if let Some(hop) = hops.first() {
                    oif = Some(hop.interface_index);
                    for a in &hop.attributes {
                        if let RouteAttribute::Gateway(gw) = a {
                            gateway = route_address(gw);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let family = mgm_core::Family::of(addr);
    Some(Route {
        ifindex: IfIndex(oif?),
        gateway,
        prefix: prefix.unwrap_or(family.unspecified()),
        prefix_len: route.header.destination_prefix_length,
        protocol: u8::from(route.header.protocol),
    })
}

/// A link message as [`LinkInfo`] (`None` without a name, or for a non-`AF_UNSPEC` message
/// such as a bridge port's `AF_BRIDGE` notification).
fn link_info(link: &LinkMessage) -> Option<LinkInfo> {
    if link.header.interface_family != AddressFamily::Unspec {
        return None;
    }
    let mut name = None;
    let mut mtu = 0;
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = *m,
            _ => {}
        }
    }
    let flags = link.header.flags;
    Some(LinkInfo {
        ifindex: IfIndex(link.header.index),
        name: name?,
        up: flags.contains(LinkFlags::Up)
            && (flags.contains(LinkFlags::Running) || flags.contains(LinkFlags::LowerUp)),
        multicast: flags.contains(LinkFlags::Multicast),
        point_to_point: flags.contains(LinkFlags::Pointopoint),
        loopback: flags.contains(LinkFlags::Loopback),
        mtu,
    })
}

/// (ifindex, address, prefix length) of an address message; for IPv4 the local address
/// (`IFA_LOCAL`) wins over the peer (`IFA_ADDRESS`).
fn address_of(message: &AddressMessage) -> Option<(IfIndex, IpAddr, u8)> {
    let mut local = None;
    let mut address = None;
    for attr in &message.attributes {
        match attr {
            AddressAttribute::Local(a) => local = Some(*a),
            AddressAttribute::Address(a) => address = Some(*a),
            _ => {}
        }
    }
    let addr = local.or(address)?;
    Some((
        IfIndex(message.header.index),
        addr,
        message.header.prefix_len,
    ))
}

/// (ifindex, address, usable) of a neighbour message; `None` for other families and
/// multicast addresses. Usable = REACHABLE, STALE, DELAY, PROBE or PERMANENT.
fn neighbour_of(message: &NeighbourMessage) -> Option<(IfIndex, IpAddr, bool)> {
    if !matches!(
        message.header.family,
        AddressFamily::Inet | AddressFamily::Inet6
    ) {
        return None;
    }
    let addr = message.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    })?;
    if addr.is_multicast() || addr.is_unspecified() {
        return None;
    }
    let usable = matches!(
        message.header.state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
    );
    Some((IfIndex(message.header.ifindex), addr, usable))
}

/// The [`LinkEvent`]s one rtnetlink message means (none for messages we do not follow).
pub fn events_of(message: &RouteNetlinkMessage) -> Vec<LinkEvent> {
    match message {
        RouteNetlinkMessage::NewLink(link) => {
            link_info(link).map(LinkEvent::Link).into_iter().collect()
        }
        RouteNetlinkMessage::DelLink(link)
            if link.header.interface_family == AddressFamily::Unspec =>
        {
            vec![LinkEvent::Removed {
                ifindex: IfIndex(link.header.index),
            }]
        }
        RouteNetlinkMessage::NewAddress(a) => address_of(a)
            .map(|(ifindex, addr, prefix_len)| LinkEvent::AddressAdded {
                ifindex,
                addr,
                prefix_len,
            })
            .into_iter()
            .collect(),
        RouteNetlinkMessage::DelAddress(a) => address_of(a)
            .map(|(ifindex, addr, prefix_len)| LinkEvent::AddressRemoved {
                ifindex,
                addr,
                prefix_len,
            })
            .into_iter()
            .collect(),
        RouteNetlinkMessage::NewNeighbour(n) => match neighbour_of(n) {
            Some((ifindex, addr, true)) => vec![LinkEvent::NeighbourAdded { ifindex, addr }],
            Some((ifindex, addr, false)) if n.header.state == NeighbourState::Failed => {
                vec![LinkEvent::NeighbourRemoved { ifindex, addr }]
            }
            _ => Vec::new(),
        },
        RouteNetlinkMessage::DelNeighbour(n) => match neighbour_of(n) {
            Some((ifindex, addr, _)) => vec![LinkEvent::NeighbourRemoved { ifindex, addr }],
            None => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Parse every netlink message in one datagram; undecodable ones are skipped.
pub(crate) fn parse_datagram(buf: &[u8]) -> Vec<NetlinkMessage<RouteNetlinkMessage>> {
    let mut out = Vec::new();
    let mut offset = 0;
    while buf.len().saturating_sub(offset) >= 16 {
        let len = u32::from_ne_bytes([
            buf[offset],
            buf[offset + 1],
            buf[offset + 2],
            buf[offset + 3],
        ]) as usize;
        if len < 16 || offset + len > buf.len() {
            break;
        }
        if let Ok(message) =
            NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[offset..offset + len])
        {
            out.push(message);
        }
        offset += (len + 3) & !3;
    }
    out
}

/// `RTNLGRP_*` numbers the monitor joins.
const MONITOR_GROUPS: [u32; 4] = [
    1, // RTNLGRP_LINK
    3, // RTNLGRP_NEIGH
    5, // RTNLGRP_IPV4_IFADDR
    9, // RTNLGRP_IPV6_IFADDR
];

/// Subscribe first (LINK, IPV4_IFADDR, IPV6_IFADDR, NEIGH), then dump links, addresses (v4+v6)
/// and neighbours, sending [`LinkEvent`]s; then stream changes forever. On monitor overrun
/// (`ENOBUFS`) send [`LinkEvent::ResyncBegin`], dump again, [`LinkEvent::ResyncEnd`]. Returns
/// only on a fatal error or when the receiver is dropped (then `Ok`).
///
/// Runs on the current tokio runtime; the sockets belong to the calling thread's namespace.
///
/// # Errors
///
/// [`Error::Sys`] when the monitor socket fails, [`Error::Netlink`] when a dump fails.
pub async fn monitor(events_tx: Sender<LinkEvent>) -> Result<(), Error> {
    monitor_with_rcvbuf(events_tx, MONITOR_RCVBUF).await
}

/// Receive buffer of the monitor socket (`SO_RCVBUFFORCE`, else `SO_RCVBUF`).
pub const MONITOR_RCVBUF: usize = 4 << 20;

/// [`monitor`] with a chosen receive buffer size (tests use a tiny one to force an overrun).
///
/// # Errors
///
/// As [`monitor`].
pub async fn monitor_with_rcvbuf(events_tx: Sender<LinkEvent>, rcvbuf: usize) -> Result<(), Error> {
    let mut socket =
        Socket::new(NETLINK_ROUTE).map_err(|e| Error::sys("socket(NETLINK_ROUTE)", e))?;
    let groups = MONITOR_GROUPS
        .iter()
        .fold(0u32, |acc, g| acc | (1 << (g - 1)));
    socket
        .bind(&SocketAddr::new(0, groups))
        .map_err(|e| Error::sys("bind(NETLINK_ROUTE)", e))?;
    socket
        .set_non_blocking(true)
        .map_err(|e| Error::sys("O_NONBLOCK", e))?;
    // Best effort: a bigger buffer makes overruns rarer; they are handled anyway.
    let size = libc::c_int::try_from(rcvbuf).unwrap_or(libc::c_int::MAX);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&socket);
    if crate::mrt::sys::setsockopt(fd, libc::SOL_SOCKET, crate::mrt::sys::SO_RCVBUFFORCE, &size)
        .is_err()
    {
        let _ = socket.set_rx_buf_sz(rcvbuf);
    }
    let socket =
        crate::mrt::sys::register(socket).map_err(|e| Error::sys("AsyncFd::register", e))?;
    let rtnl = Rtnl::new()?;
    if !dump_all(&rtnl, &events_tx).await? {
        return Ok(());
    }
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    loop {
        let mut guard = socket.readable().await.map_err(|e| Error::sys("poll", e))?;
        buf.clear();
        let result = guard.try_io(|inner| inner.get_ref().recv(&mut buf, libc::MSG_DONTWAIT));
        match result {
            Err(_would_block) => continue,
            Ok(Ok(_)) => {
                for message in parse_datagram(&buf) {
                    if let NetlinkPayload::InnerMessage(inner) = &message.payload {
                        for event in events_of(inner) {
                            if events_tx.send(event).await.is_err() {
                                return Ok(());
                            }
                        }
                    }
                }
            }
            Ok(Err(e)) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                tracing::info!("rtnetlink monitor overrun, resynchronising");
                // Notifications still queued are older than the dump to come: drop them, or
                // they would be applied after it (a deleted link would come back).
                drain(socket.get_ref(), &mut buf);
                if events_tx.send(LinkEvent::ResyncBegin).await.is_err() {
                    return Ok(());
                }
                if !dump_all(&rtnl, &events_tx).await? {
                    return Ok(());
                }
                if events_tx.send(LinkEvent::ResyncEnd).await.is_err() {
                    return Ok(());
                }
            }
            Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
            Ok(Err(e)) => {
                return Err(Error::sys("recv(NETLINK_ROUTE)", e));
            }
        }
    }
}

/// Read and discard everything queued on the non-blocking monitor socket.
fn drain(socket: &Socket, buf: &mut Vec<u8>) {
    loop {
        buf.clear();
        match socket.recv(buf, libc::MSG_DONTWAIT) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return, // EAGAIN: empty
        }
    }
}

/// Dump links, addresses and neighbours as events. `Ok(false)` when the receiver is gone.
async fn dump_all(rtnl: &Rtnl, tx: &Sender<LinkEvent>) -> Result<bool, Error> {
    let links = rtnl
        .request(
            "RTM_GETLINK",
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            true,
        )
        .await?;
    let addresses = rtnl.dump_addresses().await?;
    let neighbours = rtnl.dump_neighbours().await?;
    for message in links.iter().chain(&addresses).chain(&neighbours) {
        for event in events_of(message) {
            if matches!(event, LinkEvent::NeighbourRemoved { .. }) {
                continue; // a dump only announces what exists
            }
            if tx.send(event).await.is_err() {
                return Ok(false);
            }
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::LinkHeader;

    #[test]
    fn link_up_needs_running_or_lower_up() {
        let mut link = LinkMessage::default();
        link.header = LinkHeader {
            index: 7,
            ..LinkHeader::default()
        };
        link.attributes.push(LinkAttribute::IfName("veth0".into()));
        link.attributes.push(LinkAttribute::Mtu(1500));
        link.header.flags = LinkFlags::Up | LinkFlags::Multicast;
        let info = link_info(&link).unwrap();
        assert!(!info.up);
        assert!(info.multicast);
        assert_eq!(info.mtu, 1500);
        link.header.flags |= LinkFlags::LowerUp;
        assert!(link_info(&link).unwrap().up);
        link.header.interface_family = AddressFamily::Bridge;
        assert_eq!(link_info(&link), None);
        assert!(events_of(&RouteNetlinkMessage::DelLink(link)).is_empty());
    }

    #[test]
    fn neighbour_states() {
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Inet;
        n.header.ifindex = 3;
        n.header.state = NeighbourState::Reachable;
        n.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                "10.0.0.9".parse().unwrap(),
            )));
        let addr: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(
            events_of(&RouteNetlinkMessage::NewNeighbour(n.clone())),
            vec![LinkEvent::NeighbourAdded {
                ifindex: IfIndex(3),
                addr
            }]
        );
        n.header.state = NeighbourState::Failed;
        assert_eq!(
            events_of(&RouteNetlinkMessage::NewNeighbour(n.clone())),
            vec![LinkEvent::NeighbourRemoved {
                ifindex: IfIndex(3),
                addr
            }]
        );
        n.header.state = NeighbourState::Incomplete;
        assert!(events_of(&RouteNetlinkMessage::NewNeighbour(n)).is_empty());
    }

    #[test]
    fn routes_unicast_multipath_and_unreachable() {
        use netlink_packet_route::route::{RouteNextHop, RouteProtocol};
        let mut route = RouteMessage::default();
        route.header.kind = RouteType::Unicast;
        route.header.destination_prefix_length = 16;
        route.header.protocol = RouteProtocol::Static;
        route
            .attributes
            .push(RouteAttribute::Destination(RouteAddress::Inet(
                "10.9.0.0".parse().unwrap(),
            )));
        let mut hop = RouteNextHop::default();
        hop.interface_index = 4;
        hop.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(
                "10.1.0.2".parse().unwrap(),
            )));
        route.attributes.push(RouteAttribute::MultiPath(vec![
            hop,
            RouteNextHop::default(),
        ]));
        assert_eq!(
            route_of(&route, ip("10.9.1.1")),
            Some(Route {
                ifindex: IfIndex(4),
                gateway: Some(ip("10.1.0.2")),
                prefix: ip("10.9.0.0"),
                prefix_len: 16,
                protocol: 4,
            })
        );
        route.header.kind = RouteType::Unreachable;
        assert_eq!(route_of(&route, ip("10.9.1.1")), None);
        // No outgoing interface at all: no route.
        let mut bare = RouteMessage::default();
        bare.header.kind = RouteType::Unicast;
        assert_eq!(route_of(&bare, ip("10.9.1.1")), None);
    }

    #[test]
    fn ipv4_local_address_wins_over_peer() {
        let mut a = AddressMessage::default();
        a.header.index = 5;
        a.header.prefix_len = 32;
        a.attributes.push(AddressAttribute::Address(ip("10.0.0.2")));
        a.attributes.push(AddressAttribute::Local(ip("10.0.0.1")));
        assert_eq!(address_of(&a), Some((IfIndex(5), ip("10.0.0.1"), 32)));
        assert_eq!(
            events_of(&RouteNetlinkMessage::DelAddress(a)),
            vec![LinkEvent::AddressRemoved {
                ifindex: IfIndex(5),
                addr: ip("10.0.0.1"),
                prefix_len: 32
            }]
        );
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn garbage_datagrams_are_skipped() {
        assert!(parse_datagram(&[]).is_empty());
        assert!(parse_datagram(&[0xff; 40]).is_empty());
        assert!(
            parse_datagram(&[16, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).len() <= 1
        );
    }
}
