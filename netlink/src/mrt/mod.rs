//! The multicast routing socket: `MRT_*` (IPv4, raw IGMP socket) and `MRT6_*` (IPv6, raw
//! ICMPv6 socket) options, the counter ioctls and the async upcall reader.
//!
//! | method | kernel |
//! | --- | --- |
//! | [`MrtSocket::open`] | `socket(AF_INET, SOCK_RAW, IPPROTO_IGMP)` (v6: `AF_INET6`, `IPPROTO_ICMPV6`), `SO_RCVBUFFORCE` 8 MiB, `[MRT_TABLE]`, `MRT_INIT` |
//! | [`MrtSocket::open_static`] | the same without `MRT_INIT`: a non-owner socket (needs `CAP_NET_ADMIN`) |
//! | [`MrtSocket::add_vif`] | `MRT_ADD_VIF` with `VIFF_USE_IFINDEX` / `MRT6_ADD_MIF` with `mif6c_pifi` |
//! | [`MrtSocket::add_register_vif`] | `MRT_ADD_VIF` with `VIFF_REGISTER` / `MRT6_ADD_MIF` with `MIFF_REGISTER` (creates `pimreg`) |
//! | [`MrtSocket::del_vif`] | `MRT_DEL_VIF` / `MRT6_DEL_MIF` |
//! | [`MrtSocket::add_mfc`] | `MRT_ADD_MFC` / `MRT6_ADD_MFC` (TTL threshold 1 per outgoing VIF) |
//! | [`MrtSocket::del_mfc`] | `MRT_DEL_MFC` / `MRT6_DEL_MFC` |
//! | [`MrtSocket::set_pim`], [`MrtSocket::set_assert`] | `MRT_PIM`, `MRT_ASSERT` (v6: `MRT6_*`) |
//! | [`MrtSocket::set_pim_wrvifwhole`] | `MRT_PIM` = 4 (`IGMPMSG_WRVIFWHOLE`) |
//! | [`MrtSocket::flush`] | `MRT_FLUSH` / `MRT6_FLUSH` with an `int` mask |
//! | [`MrtSocket::sg_counters`] | `ioctl(SIOCGETSGCNT)` / `SIOCGETSGCNT_IN6` |
//! | [`MrtSocket::vif_counters`] | `ioctl(SIOCGETVIFCNT)` / `SIOCGETMIFCNT_IN6` |
//! | [`MrtSocket::join_group`], [`MrtSocket::leave_group`] | `IP_ADD_MEMBERSHIP` / `IPV6_JOIN_GROUP` by ifindex (to receive IGMPv3/MLDv2 reports) |
//! | [`MrtSocket::recv`] | `recvmsg` through tokio's `AsyncFd`, decoded by [`crate::upcall`] |
//! | [`MrtSocket::close`] | `MRT_DONE`, then `close` |
//!
//! Entries added through the owner socket are flushed by the kernel when it closes; entries
//! added through a non-owner socket ([`MrtSocket::open_static`]) are `VIFF_STATIC` /
//! `MFC_STATIC` and survive it (spec C.3, C.8).

pub(crate) mod sys;

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

use libc::c_int;
use mgm_core::{Family, IfIndex, KernelOp, MfeCounters, Upcall, VifIndex, VifSet, MAX_VIFS};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::unix::AsyncFd;

use crate::error::Error;
use crate::upcall::{self, Decoded};

/// `RT_TABLE_DEFAULT` (253): the IPv4 multicast routing table used when none is named.
pub const DEFAULT_TABLE: u32 = 253;

/// The IPv6 multicast routing table used when none is named: `ip6mr` creates its default
/// table with `RT6_TABLE_DFLT`, which the kernel reports as 254 (`RT_TABLE_MAIN`) in
/// `RTM_GETROUTE` dumps (measured on 6.18).
pub const DEFAULT_TABLE_V6: u32 = 254;

/// The table a socket of `family` uses when none is named: 253 for IPv4, 254 for IPv6.
pub fn default_table(family: Family) -> u32 {
    match family {
        Family::Ipv4 => DEFAULT_TABLE,
        Family::Ipv6 => DEFAULT_TABLE_V6,
    }
}

/// Receive buffer asked for with `SO_RCVBUFFORCE` (falls back to `SO_RCVBUF`).
const RCVBUF: c_int = 8 << 20;

/// ICMPv6 types let through the IPv6 socket's filter: MLD query, v1 report, done, v2 report.
/// Upcalls are queued directly by the kernel and bypass the filter.
const MLD_TYPES: [u8; 4] = [130, 131, 132, 143];

/// What [`MrtSocket::flush`] removes (`MRT_FLUSH_*` bits, combinable with `|`).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Flush(pub u8);

impl Flush {
    /// `MRT_FLUSH_MFC`: MFC entries added by the owner.
    pub const MFC: Flush = Flush(1);
    /// `MRT_FLUSH_MFC_STATIC`: static MFC entries.
    pub const MFC_STATIC: Flush = Flush(2);
    /// `MRT_FLUSH_VIFS`: VIFs added by the owner.
    pub const VIFS: Flush = Flush(4);
    /// `MRT_FLUSH_VIFS_STATIC`: static VIFs.
    pub const VIFS_STATIC: Flush = Flush(8);
    /// Everything.
    pub const ALL: Flush = Flush(15);
}

impl std::ops::BitOr for Flush {
    type Output = Flush;
    fn bitor(self, other: Flush) -> Flush {
        Flush(self.0 | other.0)
    }
}

/// Per-VIF counters (`struct sioc_vif_req` / `sioc_mif_req6`).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct VifCounters {
    /// Packets received on the VIF.
    pub packets_in: u64,
    /// Bytes received on the VIF.
    pub bytes_in: u64,
    /// Packets forwarded out of the VIF.
    pub packets_out: u64,
    /// Bytes forwarded out of the VIF.
    pub bytes_out: u64,
}

/// One message read from the multicast routing socket.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum MrtMessage {
    /// A kernel upcall (NOCACHE, WRONGVIF, WHOLEPKT, WRVIFWHOLE).
    Upcall(Upcall),
    /// A real IGMP (IPv4, `ip_p == 2`) or ICMPv6/MLD packet that arrived on the socket.
    Packet {
        /// Family of the socket.
        family: Family,
        /// Arrival interface (`IP_PKTINFO` / `IPV6_PKTINFO`).
        ifindex: Option<IfIndex>,
        /// IP source address.
        source: IpAddr,
        /// IP destination address (IPv6: unspecified if the kernel gave no `IPV6_PKTINFO`).
        destination: IpAddr,
        /// The IGMP or ICMPv6 message, from its header on.
        payload: Vec<u8>,
        /// IPv4 TTL or IPv6 hop limit (0 when unknown).
        ttl_or_hops: u8,
        /// The packet carried a router alert option.
        router_alert: bool,
    },
}

/// The raw fd registered with tokio; the [`Socket`] in [`MrtSocket`] owns it.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

/// A multicast routing socket of one family and table: the owner (`MRT_INIT`) or a non-owner
/// whose entries are static.
///
/// Construction needs no runtime; [`MrtSocket::recv`] registers the socket with the current
/// tokio runtime on first use (the runtime must have I/O enabled). All other methods are
/// synchronous `setsockopt`/`ioctl` calls. The socket belongs to the network namespace of the
/// thread that opened it.
pub struct MrtSocket {
    // Declared before `socket` so that it is dropped (deregistered) before the fd is closed.
    async_fd: tokio::sync::OnceCell<AsyncFd<Fd>>,
    /// Receive buffer reused by [`MrtSocket::recv`] (64 KiB: the largest datagram).
    buf: std::sync::Mutex<Vec<u8>>,
    socket: Socket,
    family: Family,
    table: u32,
    owner: bool,
}

impl std::fmt::Debug for MrtSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MrtSocket")
            .field("fd", &self.socket.as_raw_fd())
            .field("family", &self.family)
            .field("table", &self.table)
            .field("owner", &self.owner)
            .finish()
    }
}

impl MrtSocket {
    /// Open the owner socket of `family` for `table` (default [`default_table`]: 253 for IPv4,
    /// 254 for IPv6): `MRT_TABLE` (only when
    /// `table` is given) then `MRT_INIT`. Non-blocking, 8 MiB receive buffer, `IP_PKTINFO` (v6:
    /// `IPV6_RECVPKTINFO`, `IPV6_RECVHOPLIMIT`, `IPV6_RECVHOPOPTS` and an ICMPv6 filter that
    /// passes MLD only).
    ///
    /// # Errors
    ///
    /// - [`Error::MrtInUse`] when another socket owns the table (`EADDRINUSE`).
    /// - [`Error::Sys`] for any other failure (`ENOPROTOOPT` from `MRT_TABLE` without
    ///   `CONFIG_IP_MROUTE_MULTIPLE_TABLES`, `EPERM` without `CAP_NET_RAW`, ...).
    pub fn open(family: Family, table: Option<u32>) -> Result<MrtSocket, Error> {
        MrtSocket::open_inner(family, table, true)
    }

    /// Open a non-owner socket of `family` for `table`: no `MRT_INIT`. VIFs and MFC entries it
    /// adds are `VIFF_STATIC` / `MFC_STATIC` and survive the owner's close. Needs
    /// `CAP_NET_ADMIN`. Upcalls go to the owner, not to this socket, and a socket filter drops
    /// the copies of IGMP/ICMPv6 packets every raw socket gets, so [`MrtSocket::recv`] on it
    /// never returns.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when the socket or an option fails.
    pub fn open_static(family: Family, table: Option<u32>) -> Result<MrtSocket, Error> {
        MrtSocket::open_inner(family, table, false)
    }

    fn open_inner(family: Family, table: Option<u32>, owner: bool) -> Result<MrtSocket, Error> {
        let (domain, protocol) = match family {
            Family::Ipv4 => (Domain::IPV4, Protocol::from(libc::IPPROTO_IGMP)),
            Family::Ipv6 => (Domain::IPV6, Protocol::ICMPV6),
        };
        let socket =
            Socket::new(domain, Type::RAW, Some(protocol)).map_err(|e| Error::sys("socket", e))?;
        socket
            .set_nonblocking(true)
            .map_err(|e| Error::sys("O_NONBLOCK", e))?;
        let fd = socket.as_raw_fd();
        if !owner {
            // Nobody reads a non-owner socket, yet a raw socket gets a copy of every IGMP /
            // ICMPv6 packet: drop them all in the kernel (BPF `ret #0`).
            socket
                .attach_filter(&[socket2::SockFilter::new(0x06, 0, 0, 0)])
                .map_err(|e| Error::sys("SO_ATTACH_FILTER", e))?;
        } else if sys::setsockopt(fd, libc::SOL_SOCKET, sys::SO_RCVBUFFORCE, &RCVBUF).is_err() {
            socket
                .set_recv_buffer_size(RCVBUF as usize)
                .map_err(|e| Error::sys("SO_RCVBUF", e))?;
        }
        let one: c_int = 1;
        match family {
            Family::Ipv4 => {
                sys::setsockopt(fd, libc::IPPROTO_IP, libc::IP_PKTINFO, &one)
                    .map_err(|e| Error::sys("IP_PKTINFO", e))?;
            }
            Family::Ipv6 => {
                sys::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &one)
                    .map_err(|e| Error::sys("IPV6_RECVPKTINFO", e))?;
                sys::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &one)
                    .map_err(|e| Error::sys("IPV6_RECVHOPLIMIT", e))?;
                sys::setsockopt(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPOPTS, &one)
                    .map_err(|e| Error::sys("IPV6_RECVHOPOPTS", e))?;
                let filter = sys::Icmp6Filter::pass_only(&MLD_TYPES);
                sys::setsockopt(fd, libc::IPPROTO_ICMPV6, sys::ICMP6_FILTER, &filter)
                    .map_err(|e| Error::sys("ICMP6_FILTER", e))?;
            }
        }
        let level = level_of(family);
        if let Some(table) = table {
            sys::setsockopt(fd, level, sys::MRT_TABLE, &table)
                .map_err(|e| Error::sys(name(family, "MRT_TABLE", "MRT6_TABLE"), e))?;
        }
        let table = table.unwrap_or(default_table(family));
        if owner {
            if let Err(e) = sys::setsockopt(fd, level, sys::MRT_INIT, &one) {
                if e.raw_os_error() == Some(libc::EADDRINUSE) {
                    return Err(Error::MrtInUse {
                        family,
                        table,
                        netns: current_netns(),
                    });
                }
                return Err(Error::sys(name(family, "MRT_INIT", "MRT6_INIT"), e));
            }
        }
        Ok(MrtSocket {
            async_fd: tokio::sync::OnceCell::new(),
            buf: std::sync::Mutex::new(vec![0u8; 65536]),
            socket,
            family,
            table,
            owner,
        })
    }

    /// The socket's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The table id; when none was given, [`default_table`]: 253 (`RT_TABLE_DEFAULT`) for
    /// IPv4, 254 for IPv6.
    pub fn table(&self) -> u32 {
        self.table
    }

    /// Whether this is the owner socket (`MRT_INIT` done).
    pub fn is_owner(&self) -> bool {
        self.owner
    }

    /// The socket's file descriptor.
    pub fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    fn set<T: Copy>(
        &self,
        v4: &'static str,
        v6: &'static str,
        opt: c_int,
        v: &T,
    ) -> Result<(), Error> {
        sys::setsockopt(self.as_raw_fd(), level_of(self.family), opt, v)
            .map_err(|e| Error::sys(name(self.family, v4, v6), e))
    }

    /// Add VIF `vif` bound to interface `ifindex`. Equivalent to `MRT_ADD_VIF` with
    /// `VIFF_USE_IFINDEX`, threshold 1 (v6: `MRT6_ADD_MIF` with `mif6c_pifi = ifindex`).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`]: `EADDRINUSE` slot taken, `ENFILE` index ≥ 32, `EADDRNOTAVAIL`/`ENODEV`
    /// unknown interface. [`Error::Invalid`] for an IPv6 ifindex above 65535.
    pub fn add_vif(&self, vif: VifIndex, ifindex: IfIndex) -> Result<(), Error> {
        match self.family {
            Family::Ipv4 => {
                let ifindex = i32::try_from(ifindex.0)
                    .map_err(|_| Error::Invalid(format!("ifindex {ifindex} out of range")))?;
                let ctl = sys::VifCtl {
                    vifc_vifi: vif.0,
                    vifc_flags: sys::VIFF_USE_IFINDEX,
                    vifc_threshold: 1,
                    vifc_rate_limit: 0,
                    vifc_lcl_ifindex: ifindex,
                    vifc_rmt_addr: 0,
                };
                self.set("MRT_ADD_VIF", "", sys::MRT_ADD_VIF, &ctl)
            }
            Family::Ipv6 => {
                let pifi = u16::try_from(ifindex.0).map_err(|_| {
                    Error::Invalid(format!(
                        "ifindex {ifindex} does not fit mif6c_pifi (16 bits)"
                    ))
                })?;
                let ctl = sys::Mif6Ctl {
                    mif6c_mifi: vif.0,
                    mif6c_flags: 0,
                    vifc_threshold: 1,
                    mif6c_pifi: pifi,
                    vifc_rate_limit: 0,
                };
                self.set("", "MRT6_ADD_MIF", sys::MRT_ADD_VIF, &ctl)
            }
        }
    }

    /// Add the PIM register VIF `vif`. Equivalent to `MRT_ADD_VIF` with `VIFF_REGISTER`
    /// (v6: `MRT6_ADD_MIF` with `MIFF_REGISTER`); the kernel creates `pimreg` (`pim6reg`).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`]: `EADDRINUSE` when a register VIF exists, `ENOPROTOOPT`/`EINVAL`
    /// without `CONFIG_IP_PIMSM_V2`.
    pub fn add_register_vif(&self, vif: VifIndex) -> Result<(), Error> {
        match self.family {
            Family::Ipv4 => {
                let ctl = sys::VifCtl {
                    vifc_vifi: vif.0,
                    vifc_flags: sys::VIFF_REGISTER,
                    vifc_threshold: 1,
                    ..sys::VifCtl::default()
                };
                self.set("MRT_ADD_VIF", "", sys::MRT_ADD_VIF, &ctl)
            }
            Family::Ipv6 => {
                let ctl = sys::Mif6Ctl {
                    mif6c_mifi: vif.0,
                    mif6c_flags: sys::MIFF_REGISTER,
                    vifc_threshold: 1,
                    ..sys::Mif6Ctl::default()
                };
                self.set("", "MRT6_ADD_MIF", sys::MRT_ADD_VIF, &ctl)
            }
        }
    }

    /// Delete VIF `vif`. Equivalent to `MRT_DEL_VIF` (v6: `MRT6_DEL_MIF`, which takes the
    /// index only). `ifindex` is informational (the kernel keys by VIF number).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`]: `EADDRNOTAVAIL` when the VIF does not exist (for instance after the
    /// kernel removed it on interface deletion).
    pub fn del_vif(&self, vif: VifIndex, ifindex: IfIndex) -> Result<(), Error> {
        match self.family {
            Family::Ipv4 => {
                let ctl = sys::VifCtl {
                    vifc_vifi: vif.0,
                    vifc_flags: sys::VIFF_USE_IFINDEX,
                    vifc_lcl_ifindex: i32::try_from(ifindex.0).unwrap_or(0),
                    ..sys::VifCtl::default()
                };
                self.set("MRT_DEL_VIF", "", sys::MRT_DEL_VIF, &ctl)
            }
            Family::Ipv6 => self.set("", "MRT6_DEL_MIF", sys::MRT_DEL_VIF, &vif.0),
        }
    }

    /// Add, or replace in place, the MFC entry (source, group) with incoming VIF `iif` and
    /// outgoing VIFs `oifs`, TTL threshold 1 each. Equivalent to `MRT_ADD_MFC` /
    /// `MRT6_ADD_MFC`. An empty `oifs` is a negative entry (packets dropped and counted).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for addresses of another family or `iif` ≥ 32; [`Error::Sys`]
    /// (`EINVAL` for a non-multicast group, `ENFILE` for a bad parent).
    pub fn add_mfc(
        &self,
        source: IpAddr,
        group: IpAddr,
        iif: VifIndex,
        oifs: VifSet,
    ) -> Result<(), Error> {
        if iif.0 >= MAX_VIFS {
            return Err(Error::Invalid(format!(
                "incoming VIF {iif} is not below {MAX_VIFS}"
            )));
        }
        match (source, group) {
            (IpAddr::V4(s), IpAddr::V4(g)) if self.family == Family::Ipv4 => {
                let ctl = sys::MfcCtl::new(s, g, iif.0, oifs.0);
                self.set("MRT_ADD_MFC", "", sys::MRT_ADD_MFC, &ctl)
            }
            (IpAddr::V6(s), IpAddr::V6(g)) if self.family == Family::Ipv6 => {
                let ctl = sys::Mf6cCtl::new(s, g, iif.0, oifs.0);
                self.set("", "MRT6_ADD_MFC", sys::MRT_ADD_MFC, &ctl)
            }
            _ => Err(self.wrong_family(source, group)),
        }
    }

    /// Delete the MFC entry (source, group). Equivalent to `MRT_DEL_MFC` / `MRT6_DEL_MFC`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] with `ENOENT` when there is no such entry; [`Error::Invalid`] for
    /// addresses of another family.
    pub fn del_mfc(&self, source: IpAddr, group: IpAddr) -> Result<(), Error> {
        match (source, group) {
            (IpAddr::V4(s), IpAddr::V4(g)) if self.family == Family::Ipv4 => {
                let ctl = sys::MfcCtl::new(s, g, 0, 0);
                self.set("MRT_DEL_MFC", "", sys::MRT_DEL_MFC, &ctl)
            }
            (IpAddr::V6(s), IpAddr::V6(g)) if self.family == Family::Ipv6 => {
                let ctl = sys::Mf6cCtl::new(s, g, 0, 0);
                self.set("", "MRT6_DEL_MFC", sys::MRT_DEL_MFC, &ctl)
            }
            _ => Err(self.wrong_family(source, group)),
        }
    }

    fn wrong_family(&self, source: IpAddr, group: IpAddr) -> Error {
        Error::Invalid(format!(
            "({source}, {group}) on the {} multicast routing socket",
            self.family
        ))
    }

    /// Apply one kernel operation from the core.
    ///
    /// # Errors
    ///
    /// As the matching method; [`Error::Invalid`] when the op's family is not the socket's.
    pub fn apply(&self, op: &KernelOp) -> Result<(), Error> {
        let family = match op {
            KernelOp::AddMfe { family, .. }
            | KernelOp::AddVif { family, .. }
            | KernelOp::DelMfe { family, .. }
            | KernelOp::DelVif { family, .. } => *family,
        };
        if family != self.family {
            return Err(Error::Invalid(format!(
                "{family} operation on the {} multicast routing socket",
                self.family
            )));
        }
        match op {
            KernelOp::AddMfe {
                source,
                group,
                iif,
                oifs,
                ..
            } => self.add_mfc(*source, *group, *iif, *oifs),
            KernelOp::AddVif { vif, ifindex, .. } => self.add_vif(*vif, *ifindex),
            KernelOp::DelMfe { source, group, .. } => self.del_mfc(*source, *group),
            KernelOp::DelVif { vif, ifindex, .. } => self.del_vif(*vif, *ifindex),
        }
    }

    /// Turn PIM mode on or off: `MRT_PIM` / `MRT6_PIM` (also sets assert mode; WRONGVIF
    /// upcalls need it or [`MrtSocket::set_assert`]).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`]: `ENOPROTOOPT` without `CONFIG_IP_PIMSM_V1/V2`, `EACCES` for a
    /// non-owner without `CAP_NET_ADMIN`.
    pub fn set_pim(&self, on: bool) -> Result<(), Error> {
        self.set("MRT_PIM", "MRT6_PIM", sys::MRT_PIM, &c_int::from(on))
    }

    /// Turn PIM mode on with whole-packet wrong-VIF upcalls: `MRT_PIM` / `MRT6_PIM` with the
    /// value 4 (`IGMPMSG_WRVIFWHOLE` / `MRT6MSG_WRMIFWHOLE`). Each WRONGVIF upcall is then
    /// followed by a WRVIFWHOLE upcall carrying the packet. The kernel only takes the value
    /// when PIM mode changes, so call it while PIM is off.
    ///
    /// # Errors
    ///
    /// As [`MrtSocket::set_pim`].
    pub fn set_pim_wrvifwhole(&self) -> Result<(), Error> {
        let value = c_int::from(upcall::MSG_WRVIFWHOLE);
        self.set("MRT_PIM", "MRT6_PIM", sys::MRT_PIM, &value)
    }

    /// Turn assert mode (WRONGVIF upcalls) on or off: `MRT_ASSERT` / `MRT6_ASSERT`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when the kernel refuses.
    pub fn set_assert(&self, on: bool) -> Result<(), Error> {
        self.set(
            "MRT_ASSERT",
            "MRT6_ASSERT",
            sys::MRT_ASSERT,
            &c_int::from(on),
        )
    }

    /// Flush part of the table: `MRT_FLUSH` / `MRT6_FLUSH` with an `int` mask built from
    /// [`Flush`]. Static entries (added by non-owner sockets) are only removed when asked
    /// for explicitly — the way to clear what a previous run left behind.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when the kernel refuses (`EACCES` without `CAP_NET_ADMIN`).
    pub fn flush(&self, what: Flush) -> Result<(), Error> {
        let mask = c_int::from(what.0);
        self.set("MRT_FLUSH", "MRT6_FLUSH", sys::MRT_FLUSH, &mask)
    }

    /// Counters of the MFC entry (source, group): `ioctl(SIOCGETSGCNT)` /
    /// `SIOCGETSGCNT_IN6`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] with `EADDRNOTAVAIL` when there is no such entry.
    pub fn sg_counters(&self, source: IpAddr, group: IpAddr) -> Result<MfeCounters, Error> {
        let fd = self.as_raw_fd();
        match (source, group) {
            (IpAddr::V4(s), IpAddr::V4(g)) if self.family == Family::Ipv4 => {
                let mut req = sys::SiocSgReq::new(s, g);
                sys::ioctl(fd, sys::SIOCGETSGCNT, &mut req)
                    .map_err(|e| Error::sys("SIOCGETSGCNT", e))?;
                Ok(MfeCounters {
                    packets: ulong(req.pktcnt),
                    bytes: ulong(req.bytecnt),
                    wrong_if: ulong(req.wrong_if),
                })
            }
            (IpAddr::V6(s), IpAddr::V6(g)) if self.family == Family::Ipv6 => {
                let mut req = sys::SiocSgReq6::new(s, g);
                sys::ioctl(fd, sys::SIOCGETSGCNT, &mut req)
                    .map_err(|e| Error::sys("SIOCGETSGCNT_IN6", e))?;
                Ok(MfeCounters {
                    packets: ulong(req.pktcnt),
                    bytes: ulong(req.bytecnt),
                    wrong_if: ulong(req.wrong_if),
                })
            }
            _ => Err(self.wrong_family(source, group)),
        }
    }

    /// Counters of VIF `vif`: `ioctl(SIOCGETVIFCNT)` / `SIOCGETMIFCNT_IN6`.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] with `EADDRNOTAVAIL` when the VIF does not exist.
    pub fn vif_counters(&self, vif: VifIndex) -> Result<VifCounters, Error> {
        let mut req = sys::SiocVifReq {
            vifi: vif.0,
            ..sys::SiocVifReq::default()
        };
        sys::ioctl(self.as_raw_fd(), sys::SIOCGETVIFCNT, &mut req)
            .map_err(|e| Error::sys(name(self.family, "SIOCGETVIFCNT", "SIOCGETMIFCNT_IN6"), e))?;
        Ok(VifCounters {
            packets_in: ulong(req.icount),
            bytes_in: ulong(req.ibytes),
            packets_out: ulong(req.ocount),
            bytes_out: ulong(req.obytes),
        })
    }

    /// Join `group` on interface `ifindex` with this socket: `IP_ADD_MEMBERSHIP` (`ip_mreqn` by
    /// ifindex) / `IPV6_JOIN_GROUP`. A router joins the link-local report groups (224.0.0.22
    /// for IGMPv3, ff02::16 for MLDv2, 224.0.0.2 / ff02::2 for leaves and dones) so that the
    /// kernel delivers those reports to the socket; reports sent to routable groups reach it
    /// through the router alert option anyway.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for a group of the other family; [`Error::Sys`] when the kernel
    /// refuses (`EADDRINUSE` when already joined, `ENODEV` for an unknown interface).
    pub fn join_group(&self, group: IpAddr, ifindex: IfIndex) -> Result<(), Error> {
        match (group, self.family) {
            (IpAddr::V4(g), Family::Ipv4) => self
                .socket
                .join_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(ifindex.0))
                .map_err(|e| Error::sys("IP_ADD_MEMBERSHIP", e)),
            (IpAddr::V6(g), Family::Ipv6) => self
                .socket
                .join_multicast_v6(&g, ifindex.0)
                .map_err(|e| Error::sys("IPV6_JOIN_GROUP", e)),
            _ => Err(Error::Invalid(format!(
                "group {group} on the {} socket",
                self.family
            ))),
        }
    }

    /// Leave `group` on `ifindex`: `IP_DROP_MEMBERSHIP` / `IPV6_LEAVE_GROUP`.
    ///
    /// # Errors
    ///
    /// As [`MrtSocket::join_group`].
    pub fn leave_group(&self, group: IpAddr, ifindex: IfIndex) -> Result<(), Error> {
        match (group, self.family) {
            (IpAddr::V4(g), Family::Ipv4) => self
                .socket
                .leave_multicast_v4_n(&g, &socket2::InterfaceIndexOrAddress::Index(ifindex.0))
                .map_err(|e| Error::sys("IP_DROP_MEMBERSHIP", e)),
            (IpAddr::V6(g), Family::Ipv6) => self
                .socket
                .leave_multicast_v6(&g, ifindex.0)
                .map_err(|e| Error::sys("IPV6_LEAVE_GROUP", e)),
            _ => Err(Error::Invalid(format!(
                "group {group} on the {} socket",
                self.family
            ))),
        }
    }

    /// Wait for the next upcall or IGMP/MLD packet. Datagrams that cannot be decoded are
    /// skipped (logged at debug level). Takes `&self`, so one task can read while others
    /// program the socket through an `Arc`.
    ///
    /// Must run inside a tokio runtime with I/O enabled (the socket is registered on first
    /// call).
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when registration or `recvmsg` fails (not for would-block).
    pub async fn recv(&self) -> Result<MrtMessage, Error> {
        let fd = self
            .async_fd
            .get_or_try_init(|| async {
                sys::register(Fd(self.socket.as_raw_fd()))
                    .map_err(|e| Error::sys("AsyncFd::register", e))
            })
            .await?;
        loop {
            let mut guard = fd.readable().await.map_err(|e| Error::sys("poll", e))?;
            let outcome = {
                // Held only for the non-blocking read and the decode, never across an await.
                let mut buf = self
                    .buf
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                match guard.try_io(|inner| sys::recvmsg(inner.get_ref().0, &mut buf)) {
                    Ok(Ok(received)) => {
                        let len = received.len.min(buf.len());
                        Some(self.classify(&buf[..len], &received))
                    }
                    Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => None,
                    Ok(Err(e)) => return Err(Error::sys("recvmsg", e)),
                    Err(_would_block) => None,
                }
            };
            match outcome {
                Some(Ok(message)) => return Ok(message),
                Some(Err(e)) => {
                    tracing::debug!(family = %self.family, error = %e, "skipped a datagram");
                }
                None => {}
            }
        }
    }

    fn classify(&self, buf: &[u8], received: &sys::Received) -> Result<MrtMessage, Error> {
        let decoded = match self.family {
            Family::Ipv4 => upcall::decode_v4(buf)?,
            Family::Ipv6 => upcall::decode_v6(buf)?,
        };
        match decoded {
            Decoded::Upcall(upcall) => Ok(MrtMessage::Upcall(upcall)),
            Decoded::Packet(info) => {
                let unspecified = self.family.unspecified();
                let payload = buf.get(info.payload.clone()).unwrap_or_default().to_vec();
                Ok(MrtMessage::Packet {
                    family: self.family,
                    ifindex: received.ifindex.filter(|i| *i != 0).map(IfIndex),
                    source: info.source.or(received.source).unwrap_or(unspecified),
                    destination: info
                        .destination
                        .or(received.destination)
                        .unwrap_or(unspecified),
                    payload,
                    ttl_or_hops: info.ttl_or_hops.or(received.hop_limit).unwrap_or(0),
                    router_alert: info.router_alert || received.router_alert,
                })
            }
        }
    }

    /// Give up ownership and close: `MRT_DONE` (owner only; the kernel flushes the non-static
    /// VIFs and MFC entries), then `close`. Dropping the socket also closes it but cannot
    /// report an error.
    ///
    /// # Errors
    ///
    /// [`Error::Sys`] when `MRT_DONE` fails; the socket is closed anyway.
    pub fn close(self) -> Result<(), Error> {
        if self.owner {
            let zero: c_int = 0;
            self.set("MRT_DONE", "MRT6_DONE", sys::MRT_DONE, &zero)?;
        }
        Ok(())
    }
}

// The agent shares one socket between a reader task and the programming code.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<MrtSocket>();
};

impl AsRawFd for MrtSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

fn level_of(family: Family) -> c_int {
    match family {
        Family::Ipv4 => libc::IPPROTO_IP,
        Family::Ipv6 => libc::IPPROTO_IPV6,
    }
}

fn name(family: Family, v4: &'static str, v6: &'static str) -> &'static str {
    match family {
        Family::Ipv4 => v4,
        Family::Ipv6 => v6,
    }
}

/// The calling thread's network namespace: its `ip netns` name when one of `/run/netns/*` is
/// the same namespace, else the kernel's `net:[inode]` text.
pub fn current_netns() -> String {
    use std::os::unix::fs::MetadataExt;
    let path = "/proc/thread-self/ns/net";
    let text = std::fs::read_link(path)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let Ok(me) = std::fs::metadata(path) else {
        return text;
    };
    if let Ok(entries) = std::fs::read_dir("/run/netns") {
        for entry in entries.flatten() {
            if let Ok(meta) = std::fs::metadata(entry.path()) {
                if meta.ino() == me.ino() && meta.dev() == me.dev() {
                    return entry.file_name().to_string_lossy().into_owned();
                }
            }
        }
    }
    if me.ino() != 0 && text == "unknown" {
        return format!("net:[{}]", me.ino());
    }
    text
}

/// A kernel `unsigned long` counter as `u64` (a no-op on LP64, a widening on 32-bit).
#[allow(clippy::useless_conversion)]
fn ulong(value: libc::c_ulong) -> u64 {
    u64::from(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Compiles only if the future of `recv` is `Send` (the agent spawns it in a task).
    #[allow(dead_code)]
    fn recv_future_is_send(sock: &MrtSocket) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&sock.recv());
    }

    #[test]
    fn default_tables() {
        assert_eq!(default_table(Family::Ipv4), 253);
        assert_eq!(default_table(Family::Ipv6), 254);
    }
}
