//! The sockets that carry IGMP and MLD for the router side (the I/O of the sans-IO `igmp`
//! crate).
//!
//! | call | kernel |
//! | --- | --- |
//! | [`IgmpSender::open`] | `socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)`, `IP_OPTIONS` = Router Alert, `IP_MULTICAST_TTL` 1, `IP_MULTICAST_LOOP` 0, smallest `SO_RCVBUF` |
//! | [`IgmpSender::join`] / [`IgmpSender::leave`] | `IP_ADD_MEMBERSHIP` / `IP_DROP_MEMBERSHIP` 224.0.0.22 (IGMPv3 reports) and 224.0.0.2 (IGMPv2 leaves) on the ifindex |
//! | [`IgmpSender::send`] | `IP_MULTICAST_IF` (`ip_mreqn` with the ifindex), `sendto` |
//! | [`MldSocket::open`] | `socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6)`, `IPV6_MULTICAST_HOPS` 1, `IPV6_MULTICAST_LOOP` 0, `IPV6_HOPOPTS` = Router Alert (MLD), `IPV6_RECVPKTINFO`, `IPV6_RECVHOPLIMIT`, `IPV6_RECVHOPOPTS`, `ICMP6_FILTER` passing 130/131/132/143 |
//! | [`MldSocket::join`] / [`MldSocket::leave`] | `IPV6_JOIN_GROUP` / `IPV6_LEAVE_GROUP` ff02::16 (MLDv2 reports) and ff02::2 (MLDv1 Dones) on the ifindex |
//! | [`MldSocket::send`] | `IPV6_MULTICAST_IF`, `sendto` with the ifindex as scope id |
//! | [`MldSocket::recv`] | `recvmsg` through tokio's `AsyncFd` |
//!
//! # Where reports arrive
//!
//! - IPv4: IGMP is received on the multicast routing socket ([`crate::mrt::MrtMessage::Packet`]).
//!   IGMPv1/v2 reports go to the group itself: once a VIF exists on the interface the kernel
//!   hands them to the `MRT_INIT` socket (`ip_mr_input`). IGMPv3 reports (224.0.0.22) and
//!   IGMPv2 leaves (224.0.0.2) are link-local groups that the kernel only accepts when the host
//!   is a member, so [`IgmpSender::join`] joins both on every IGMP interface; raw IGMP sockets
//!   (the MRT socket among them) then get a copy. [`IgmpSender`] never reads; its receive
//!   buffer is kept minimal.
//! - IPv6: [`MldSocket`] receives MLDv2 reports (ff02::16), MLDv1 Dones (ff02::2), both joined
//!   per interface by [`MldSocket::join`], and queries (ff02::1). MLDv1 reports go to the group
//!   itself: the kernel delivers MLD messages with a Router Alert to local raw sockets when
//!   IPv6 multicast forwarding is on (`MRT6_INIT`; `ip6_mc_input`), which is the case while
//!   mgmd runs. `IPV6_ROUTER_ALERT` is not used: Linux refuses it on `IPPROTO_ICMPV6` sockets
//!   (`ENOPROTOOPT`, measured on 6.18; only `IPPROTO_RAW` sockets may set it) and it only
//!   concerns packets being forwarded.
//!
//! The kernel computes the ICMPv6 checksum of everything sent on a raw ICMPv6 socket and
//! verifies it on reception, so [`MldSocket::send`] takes MLD messages with checksum 0.
//! Sockets belong to the network namespace of the thread that opens them.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Mutex;

use libc::c_int;
use mgm_core::IfIndex;
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockAddr, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::error::Error;
use crate::mrt::sys;

/// IPv4 Router Alert option (RFC 2113): type 148, length 4, value 0.
const IPV4_ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];

/// IPv6 Hop-by-Hop Options header with a Router Alert option (RFC 2711) of value 0 (MLD) and a
/// 2-byte PadN; the kernel fills in the next header.
const IPV6_HOPOPTS_ROUTER_ALERT: [u8; 8] = [0, 0, 5, 2, 0, 0, 1, 0];

/// The ICMPv6 types [`MldSocket`] receives: MLD query, v1 report, v1 done, v2 report.
const MLD_TYPES: [u8; 4] = [130, 131, 132, 143];

/// ff02::16, all MLDv2-capable routers: where MLDv2 reports go.
pub const ALL_MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

/// ff02::2, all routers: where MLDv1 Dones go.
pub const ALL_ROUTERS_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);

/// 224.0.0.22, all IGMPv3-capable routers: where IGMPv3 reports go.
pub const ALL_IGMPV3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);

/// 224.0.0.2, all routers: where IGMPv2 leaves go.
pub const ALL_ROUTERS_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);

/// `IPV6_JOIN_GROUP` / `IP_ADD_MEMBERSHIP` twice on one socket: `EADDRINUSE`, not an error.
fn tolerate_joined(result: io::Result<()>, op: &'static str) -> Result<(), Error> {
    match result {
        Err(e) if e.raw_os_error() != Some(libc::EADDRINUSE) => Err(Error::sys(op, e)),
        _ => Ok(()),
    }
}

/// The raw socket that sends IGMP queries (TTL 1, Router Alert, out of a chosen interface).
#[derive(Debug)]
pub struct IgmpSender {
    socket: Socket,
    /// Serialises `IP_MULTICAST_IF` + `sendto`.
    send_lock: Mutex<()>,
}

impl IgmpSender {
    /// Open the socket in the calling thread's network namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when the socket or an option fails (`EPERM` without `CAP_NET_RAW`).
    pub fn open() -> Result<IgmpSender, Error> {
        let socket = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(libc::IPPROTO_IGMP)),
        )
        .map_err(|e| Error::sys("socket(IPPROTO_IGMP)", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::sys("O_NONBLOCK", e))?;
        let fd = socket.as_raw_fd();
        sys::setsockopt(fd, libc::IPPROTO_IP, libc::IP_OPTIONS, &IPV4_ROUTER_ALERT)
            .map_err(|e| Error::sys("IP_OPTIONS", e))?;
        socket
            .set_multicast_ttl_v4(1)
            .map_err(|e| Error::sys("IP_MULTICAST_TTL", e))?;
        socket
            .set_multicast_loop_v4(false)
            .map_err(|e| Error::sys("IP_MULTICAST_LOOP", e))?;
        socket
            .set_multicast_all_v4(false)
            .map_err(|e| Error::sys("IP_MULTICAST_ALL", e))?;
        // A raw IGMP socket gets a copy of every IGMP packet the host receives; this one only
        // sends, so keep its queue at the kernel's minimum (it then drops).
        socket
            .set_recv_buffer_size(0)
            .map_err(|e| Error::sys("SO_RCVBUF", e))?;
        Ok(IgmpSender {
            socket,
            send_lock: Mutex::new(()),
        })
    }

    /// Make the kernel accept IGMPv3 reports and IGMPv2 leaves arriving on `ifindex`: join
    /// 224.0.0.22 and 224.0.0.2 there (joining twice is not an error).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `IP_ADD_MEMBERSHIP` fails (`ENODEV` for an unknown interface).
    pub fn join(&self, ifindex: IfIndex) -> Result<(), Error> {
        let on = InterfaceIndexOrAddress::Index(ifindex.0);
        for group in [ALL_IGMPV3_ROUTERS, ALL_ROUTERS_V4] {
            tolerate_joined(
                self.socket.join_multicast_v4_n(&group, &on),
                "IP_ADD_MEMBERSHIP",
            )?;
        }
        Ok(())
    }

    /// Undo [`IgmpSender::join`] on `ifindex`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `IP_DROP_MEMBERSHIP` fails (`EADDRNOTAVAIL` when not joined).
    pub fn leave(&self, ifindex: IfIndex) -> Result<(), Error> {
        let on = InterfaceIndexOrAddress::Index(ifindex.0);
        for group in [ALL_IGMPV3_ROUTERS, ALL_ROUTERS_V4] {
            self.socket
                .leave_multicast_v4_n(&group, &on)
                .map_err(|e| Error::sys("IP_DROP_MEMBERSHIP", e))?;
        }
        Ok(())
    }

    /// Send one IGMP message (from the IGMP header on, checksum included) to `destination`
    /// out of `ifindex`. The kernel adds the IP header: TTL 1 for multicast destinations,
    /// the Router Alert option, and the interface's primary address as source.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `IP_MULTICAST_IF` or `sendto` fails (would-block included).
    pub fn send(
        &self,
        ifindex: IfIndex,
        destination: Ipv4Addr,
        payload: &[u8],
    ) -> Result<(), Error> {
        let index = c_int::try_from(ifindex.0).map_err(|_| {
            Error::sys(
                "IP_MULTICAST_IF",
                io::Error::from_raw_os_error(libc::EINVAL),
            )
        })?;
        let mreqn = libc::ip_mreqn {
            imr_multiaddr: libc::in_addr { s_addr: 0 },
            imr_address: libc::in_addr { s_addr: 0 },
            imr_ifindex: index,
        };
        let _guard = self
            .send_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        sys::setsockopt(
            self.socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            &mreqn,
        )
        .map_err(|e| Error::sys("IP_MULTICAST_IF", e))?;
        let to = SockAddr::from(SocketAddrV4::new(destination, 0));
        self.socket
            .send_to(payload, &to)
            .map_err(|e| Error::sys("sendto", e))?;
        Ok(())
    }

    /// The socket's fd.
    pub fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

/// An MLD message read from [`MldSocket`].
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct MldPacket {
    /// Arrival interface (`IPV6_PKTINFO`).
    pub ifindex: Option<IfIndex>,
    /// IPv6 source address.
    pub source: IpAddr,
    /// IPv6 destination address (`IPV6_PKTINFO`), unspecified if unknown.
    pub destination: IpAddr,
    /// Hop limit (`IPV6_HOPLIMIT`); 0 if unknown. MLD messages have 1.
    pub hop_limit: u8,
    /// Whether a Hop-by-Hop Router Alert option was present (`IPV6_HOPOPTS`).
    pub router_alert: bool,
    /// The ICMPv6 message, from its header on.
    pub payload: Vec<u8>,
}

impl MldPacket {
    /// RFC 9777 5.1.14 / 5.2.13: valid MLD has hop limit 1, a Router Alert and a link-local
    /// source (reports from :: are not counted either).
    pub fn is_valid(&self) -> bool {
        self.hop_limit == 1
            && self.router_alert
            && matches!(self.source, IpAddr::V6(s) if s.segments()[0] & 0xffc0 == 0xfe80)
    }
}

/// The raw fd registered with tokio; the [`Socket`] in [`MldSocket`] owns it.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// The raw ICMPv6 socket that sends MLD queries and receives MLD messages.
///
/// Construction needs no runtime; [`MldSocket::recv`] registers the socket with the current
/// tokio runtime on first use.
pub struct MldSocket {
    // Declared before `socket` so that it is deregistered before the fd is closed.
    async_fd: tokio::sync::OnceCell<AsyncFd<Fd>>,
    socket: Socket,
    /// Serialises `IPV6_MULTICAST_IF` + `sendto`.
    send_lock: Mutex<()>,
}

impl std::fmt::Debug for MldSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MldSocket")
            .field("fd", &self.socket.as_raw_fd())
            .finish()
    }
}

impl MldSocket {
    /// Open the socket in the calling thread's network namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when the socket or an option fails (`EPERM` without `CAP_NET_RAW`).
    pub fn open() -> Result<MldSocket, Error> {
        let socket = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .map_err(|e| Error::sys("socket(IPPROTO_ICMPV6)", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::sys("O_NONBLOCK", e))?;
        socket
            .set_multicast_hops_v6(1)
            .map_err(|e| Error::sys("IPV6_MULTICAST_HOPS", e))?;
        socket
            .set_multicast_loop_v6(false)
            .map_err(|e| Error::sys("IPV6_MULTICAST_LOOP", e))?;
        let fd = socket.as_raw_fd();
        let one: c_int = 1;
        sys::setsockopt(
            fd,
            libc::IPPROTO_IPV6,
            libc::IPV6_HOPOPTS,
            &IPV6_HOPOPTS_ROUTER_ALERT,
        )
        .map_err(|e| Error::sys("IPV6_HOPOPTS", e))?;
        sys::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &one)
            .map_err(|e| Error::sys("IPV6_RECVPKTINFO", e))?;
        sys::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &one)
            .map_err(|e| Error::sys("IPV6_RECVHOPLIMIT", e))?;
        sys::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPOPTS, &one)
            .map_err(|e| Error::sys("IPV6_RECVHOPOPTS", e))?;
        let filter = sys::Icmp6Filter::pass_only(&MLD_TYPES);
        sys::setsockopt(fd, libc::IPPROTO_ICMPV6, sys::ICMP6_FILTER, &filter)
            .map_err(|e| Error::sys("ICMP6_FILTER", e))?;
        Ok(MldSocket {
            async_fd: tokio::sync::OnceCell::new(),
            socket,
            send_lock: Mutex::new(()),
        })
    }

    /// Start receiving MLDv2 reports and MLDv1 Dones on `ifindex`: join ff02::16 and ff02::2
    /// there (joining twice is not an error).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `IPV6_JOIN_GROUP` fails (`ENODEV` for an unknown interface).
    pub fn join(&self, ifindex: IfIndex) -> Result<(), Error> {
        for group in [ALL_MLDV2_ROUTERS, ALL_ROUTERS_V6] {
            tolerate_joined(
                self.socket.join_multicast_v6(&group, ifindex.0),
                "IPV6_JOIN_GROUP",
            )?;
        }
        Ok(())
    }

    /// Undo [`MldSocket::join`] on `ifindex`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `IPV6_LEAVE_GROUP` fails.
    pub fn leave(&self, ifindex: IfIndex) -> Result<(), Error> {
        for group in [ALL_MLDV2_ROUTERS, ALL_ROUTERS_V6] {
            self.socket
                .leave_multicast_v6(&group, ifindex.0)
                .map_err(|e| Error::sys("IPV6_LEAVE_GROUP", e))?;
        }
        Ok(())
    }

    /// Send one MLD message (from the ICMPv6 header on; the kernel fills in the checksum) to
    /// `destination` out of `ifindex`, with hop limit 1 and a Router Alert. The kernel picks
    /// the interface's link-local address as source.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `IPV6_MULTICAST_IF` or `sendto` fails (would-block included).
    pub fn send(
        &self,
        ifindex: IfIndex,
        destination: Ipv6Addr,
        payload: &[u8],
    ) -> Result<(), Error> {
        let _guard = self
            .send_lock
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        self.socket
            .set_multicast_if_v6(ifindex.0)
            .map_err(|e| Error::sys("IPV6_MULTICAST_IF", e))?;
        let to = SockAddr::from(SocketAddrV6::new(destination, 0, 0, ifindex.0));
        self.socket
            .send_to(payload, &to)
            .map_err(|e| Error::sys("sendto", e))?;
        Ok(())
    }

    /// Wait for the next MLD message (cancel-safe: nothing is lost when the future is dropped
    /// before it completes).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when registration with tokio or `recvmsg` fails (not for would-block).
    pub async fn recv(&self) -> Result<MldPacket, Error> {
        let fd = self
            .async_fd
            .get_or_try_init(|| async {
                sys::register(Fd(self.socket.as_raw_fd()))
                    .map_err(|e| Error::sys("AsyncFd::register", e))
            })
            .await?;
        let mut buf = vec![0u8; 65536];
        loop {
            let mut guard = fd.readable().await.map_err(|e| Error::sys("poll", e))?;
            let received = match guard.try_io(|inner| sys::recvmsg(inner.get_ref().0, &mut buf)) {
                Ok(Ok(received)) => received,
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => continue,
                Ok(Err(e)) => return Err(Error::sys("recvmsg", e)),
                Err(_would_block) => continue,
            };
            let len = received.len.min(buf.len());
            let unspecified = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
            return Ok(MldPacket {
                ifindex: received.ifindex.filter(|i| *i != 0).map(IfIndex),
                source: received.source.unwrap_or(unspecified),
                destination: received.destination.unwrap_or(unspecified),
                hop_limit: received.hop_limit.unwrap_or(0),
                router_alert: received.router_alert,
                payload: buf[..len].to_vec(),
            });
        }
    }

    /// The socket's fd.
    pub fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_bytes() {
        assert!(crate::upcall::ipv4_options_have_router_alert(
            &IPV4_ROUTER_ALERT
        ));
        assert!(crate::upcall::hop_by_hop_has_router_alert(
            &IPV6_HOPOPTS_ROUTER_ALERT
        ));
    }

    #[test]
    fn mld_validity() {
        let packet = MldPacket {
            ifindex: Some(IfIndex(3)),
            source: "fe80::1".parse().unwrap(),
            destination: "ff02::16".parse().unwrap(),
            hop_limit: 1,
            router_alert: true,
            payload: vec![143, 0, 0, 0, 0, 0, 0, 0],
        };
        assert!(packet.is_valid());
        assert!(!MldPacket {
            hop_limit: 2,
            ..packet.clone()
        }
        .is_valid());
        assert!(!MldPacket {
            router_alert: false,
            ..packet.clone()
        }
        .is_valid());
        assert!(!MldPacket {
            source: "fd00::1".parse().unwrap(),
            ..packet
        }
        .is_valid());
    }
}
