//! The kernel's multicast routing ABI, declared once (`uapi/linux/mroute.h`,
//! `uapi/linux/mroute6.h`), and the only `unsafe` code of the project: `setsockopt`, `ioctl`
//! and `recvmsg` on the raw multicast routing socket.
//!
//! Every struct is `#[repr(C)]` and has a size and offset test against the sizes measured with
//! gcc on x86_64 (spec C.2).

#![allow(unsafe_code)]

use std::io;
use std::mem::{size_of, MaybeUninit};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, RawFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use libc::{c_int, c_ulong, c_void, in6_addr, in_addr, sockaddr_in6, socklen_t};

// --- constants (uapi/linux/mroute.h, mroute6.h) ---

/// `MRT_INIT` / `MRT6_INIT`: become the owner of the table.
pub const MRT_INIT: c_int = 200;
/// `MRT_DONE` / `MRT6_DONE`.
pub const MRT_DONE: c_int = 201;
/// `MRT_ADD_VIF` / `MRT6_ADD_MIF`.
pub const MRT_ADD_VIF: c_int = 202;
/// `MRT_DEL_VIF` / `MRT6_DEL_MIF`.
pub const MRT_DEL_VIF: c_int = 203;
/// `MRT_ADD_MFC` / `MRT6_ADD_MFC`.
pub const MRT_ADD_MFC: c_int = 204;
/// `MRT_DEL_MFC` / `MRT6_DEL_MFC`.
pub const MRT_DEL_MFC: c_int = 205;
/// `MRT_ASSERT` / `MRT6_ASSERT`.
pub const MRT_ASSERT: c_int = 207;
/// `MRT_PIM` / `MRT6_PIM`.
pub const MRT_PIM: c_int = 208;
/// `MRT_TABLE` / `MRT6_TABLE`.
pub const MRT_TABLE: c_int = 209;
/// `MRT_FLUSH` / `MRT6_FLUSH` (takes an `int` mask).
pub const MRT_FLUSH: c_int = 212;

/// `VIFF_REGISTER`.
pub const VIFF_REGISTER: u8 = 0x4;
/// `VIFF_USE_IFINDEX`.
pub const VIFF_USE_IFINDEX: u8 = 0x8;
/// Kernel-internal `VIFF_STATIC`: the VIF was added by a non-owner and survives the owner.
pub const VIFF_STATIC: u32 = 0x8000;
/// `MIFF_REGISTER`.
pub const MIFF_REGISTER: u8 = 0x1;

/// `SIOCGETVIFCNT` / `SIOCGETMIFCNT_IN6` (`SIOCPROTOPRIVATE`).
pub const SIOCGETVIFCNT: c_ulong = 0x89e0;
/// `SIOCGETSGCNT` / `SIOCGETSGCNT_IN6`.
pub const SIOCGETSGCNT: c_ulong = 0x89e1;

/// `ICMP6_FILTER` socket option (level `IPPROTO_ICMPV6`).
pub const ICMP6_FILTER: c_int = 1;
/// `SO_RCVBUFFORCE`.
pub const SO_RCVBUFFORCE: c_int = 33;

/// `MAXVIFS`.
pub const MAXVIFS: usize = 32;

// --- structs ---

/// `struct vifctl` (16 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct VifCtl {
    pub vifc_vifi: u16,
    pub vifc_flags: u8,
    pub vifc_threshold: u8,
    pub vifc_rate_limit: u32,
    /// Union of `vifc_lcl_addr` (in_addr) and `vifc_lcl_ifindex` (int): the ifindex with
    /// `VIFF_USE_IFINDEX`.
    pub vifc_lcl_ifindex: i32,
    pub vifc_rmt_addr: u32,
}

/// `struct mfcctl` (60 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct MfcCtl {
    pub mfcc_origin: in_addr,
    pub mfcc_mcastgrp: in_addr,
    pub mfcc_parent: u16,
    /// TTL threshold per VIF; 0 or 255 = not an outgoing VIF.
    pub mfcc_ttls: [u8; MAXVIFS],
    pub mfcc_pkt_cnt: u32,
    pub mfcc_byte_cnt: u32,
    pub mfcc_wrong_if: u32,
    pub mfcc_expire: c_int,
}

/// `struct igmpmsg` (20 bytes): what an IPv4 upcall starts with (overlays an IP header).
/// Declared for the layout test; [`crate::upcall`] decodes the bytes at these offsets.
#[allow(dead_code)]
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct IgmpMsg {
    pub unused1: u32,
    pub unused2: u32,
    pub im_msgtype: u8,
    pub im_mbz: u8,
    pub im_vif: u8,
    pub im_vif_hi: u8,
    pub im_src: in_addr,
    pub im_dst: in_addr,
}

/// `struct sioc_sg_req` (32 bytes on LP64).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SiocSgReq {
    pub src: in_addr,
    pub grp: in_addr,
    pub pktcnt: c_ulong,
    pub bytecnt: c_ulong,
    pub wrong_if: c_ulong,
}

/// `struct sioc_vif_req` (40 bytes on LP64); also `struct sioc_mif_req6`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SiocVifReq {
    pub vifi: u16,
    pub icount: c_ulong,
    pub ocount: c_ulong,
    pub ibytes: c_ulong,
    pub obytes: c_ulong,
}

/// `struct mif6ctl` (12 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct Mif6Ctl {
    pub mif6c_mifi: u16,
    pub mif6c_flags: u8,
    pub vifc_threshold: u8,
    /// The ifindex: only 16 bits.
    pub mif6c_pifi: u16,
    pub vifc_rate_limit: u32,
}

/// `struct mf6cctl` (92 bytes).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Mf6cCtl {
    pub mf6cc_origin: sockaddr_in6,
    pub mf6cc_mcastgrp: sockaddr_in6,
    pub mf6cc_parent: u16,
    /// `struct if_set`: 256 bits, only 0..31 usable.
    pub mf6cc_ifset: [u32; 8],
}

/// `struct mrt6msg` (40 bytes): an IPv6 upcall, delivered as ICMPv6 payload.
/// Declared for the layout test; [`crate::upcall`] decodes the bytes at these offsets.
#[allow(dead_code)]
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Mrt6Msg {
    pub im6_mbz: u8,
    pub im6_msgtype: u8,
    pub im6_mif: u16,
    pub im6_pad: u32,
    pub im6_src: in6_addr,
    pub im6_dst: in6_addr,
}

/// `struct sioc_sg_req6` (80 bytes on LP64).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SiocSgReq6 {
    pub src: sockaddr_in6,
    pub grp: sockaddr_in6,
    pub pktcnt: c_ulong,
    pub bytecnt: c_ulong,
    pub wrong_if: c_ulong,
}

/// `struct icmp6_filter` (32 bytes): bit set = type blocked (Linux semantics).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Icmp6Filter {
    pub data: [u32; 8],
}

impl Icmp6Filter {
    /// A filter that blocks every ICMPv6 type but `pass`.
    pub fn pass_only(pass: &[u8]) -> Icmp6Filter {
        let mut data = [u32::MAX; 8];
        for t in pass {
            data[usize::from(*t >> 5)] &= !(1u32 << (t & 31));
        }
        Icmp6Filter { data }
    }
}

impl MfcCtl {
    /// An `mfcctl` for (origin, group) with incoming VIF `parent` and TTL threshold 1 on each
    /// VIF of `oifs` (bit i = VIF i).
    pub fn new(origin: Ipv4Addr, group: Ipv4Addr, parent: u16, oifs: u32) -> MfcCtl {
        let mut ttls = [0u8; MAXVIFS];
        for (i, ttl) in ttls.iter_mut().enumerate() {
            if oifs & (1 << i) != 0 {
                *ttl = 1;
            }
        }
        MfcCtl {
            mfcc_origin: in_addr_of(origin),
            mfcc_mcastgrp: in_addr_of(group),
            mfcc_parent: parent,
            mfcc_ttls: ttls,
            mfcc_pkt_cnt: 0,
            mfcc_byte_cnt: 0,
            mfcc_wrong_if: 0,
            mfcc_expire: 0,
        }
    }
}

impl Mf6cCtl {
    /// An `mf6cctl` for (origin, group) with incoming MIF `parent` and outgoing MIFs `oifs`.
    pub fn new(origin: Ipv6Addr, group: Ipv6Addr, parent: u16, oifs: u32) -> Mf6cCtl {
        let mut ifset = [0u32; 8];
        ifset[0] = oifs;
        Mf6cCtl {
            mf6cc_origin: sockaddr_in6_of(origin),
            mf6cc_mcastgrp: sockaddr_in6_of(group),
            mf6cc_parent: parent,
            mf6cc_ifset: ifset,
        }
    }
}

impl SiocSgReq {
    /// A request for (src, grp).
    pub fn new(src: Ipv4Addr, grp: Ipv4Addr) -> SiocSgReq {
        SiocSgReq {
            src: in_addr_of(src),
            grp: in_addr_of(grp),
            pktcnt: 0,
            bytecnt: 0,
            wrong_if: 0,
        }
    }
}

impl SiocSgReq6 {
    /// A request for (src, grp).
    pub fn new(src: Ipv6Addr, grp: Ipv6Addr) -> SiocSgReq6 {
        SiocSgReq6 {
            src: sockaddr_in6_of(src),
            grp: sockaddr_in6_of(grp),
            pktcnt: 0,
            bytecnt: 0,
            wrong_if: 0,
        }
    }
}

/// An `in_addr` in network byte order.
pub fn in_addr_of(addr: Ipv4Addr) -> in_addr {
    in_addr {
        s_addr: u32::from_ne_bytes(addr.octets()),
    }
}

/// A `sockaddr_in6` with family `AF_INET6`, port 0.
pub fn sockaddr_in6_of(addr: Ipv6Addr) -> sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all-zero bytes are a valid value.
    let mut sa: sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr = in6_addr {
        s6_addr: addr.octets(),
    };
    sa
}

// --- system calls ---

/// Register `inner`'s fd with the current tokio runtime for readability.
///
/// Callers guarantee the fd stays open for the whole life of the returned `AsyncFd`: either
/// `inner` owns it, or its owner is dropped after the `AsyncFd` (see `MrtSocket`'s field
/// order).
pub fn register<T: AsRawFd>(inner: T) -> io::Result<AsyncFd<T>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other("no tokio runtime on this thread"));
    }
    // SAFETY: `inner.as_raw_fd()` is an open fd that stays open and unchanged while the
    // AsyncFd lives (the caller's guarantee above); a runtime exists, so this does not panic.
    unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }.map_err(|e| e.into())
}

/// `setsockopt(fd, level, name, &value, sizeof value)`.
pub fn setsockopt<T: Copy>(fd: RawFd, level: c_int, name: c_int, value: &T) -> io::Result<()> {
    let len = socklen_t::try_from(size_of::<T>())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `value` points to a live, initialised `T` of exactly `len` bytes; the kernel only
    // reads it.
    let rc =
        unsafe { libc::setsockopt(fd, level, name, (value as *const T).cast::<c_void>(), len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `ioctl(fd, request, &mut value)` for the mroute counter requests.
pub fn ioctl<T: Copy>(fd: RawFd, request: c_ulong, value: &mut T) -> io::Result<()> {
    // SAFETY: `value` is a live, exclusively borrowed `T` whose layout is the one the request
    // expects (layout-tested below); the kernel reads and writes only within it.
    let rc = unsafe { libc::ioctl(fd, request as _, (value as *mut T).cast::<c_void>()) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// What `recvmsg` returned: the datagram length and the ancillary data we understand.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct Received {
    /// Bytes written into the buffer.
    pub len: usize,
    /// `msg_name` source address (IPv6 sockets; IPv4 has it in the IP header).
    pub source: Option<IpAddr>,
    /// `IP_PKTINFO` / `IPV6_PKTINFO` interface index.
    pub ifindex: Option<u32>,
    /// `IPV6_PKTINFO` destination address.
    pub destination: Option<IpAddr>,
    /// `IPV6_HOPLIMIT`.
    pub hop_limit: Option<u8>,
    /// `IPV6_HOPOPTS` carried a router alert option.
    pub router_alert: bool,
}

/// `recvmsg(fd, ..., MSG_DONTWAIT)` with room for ancillary data; non-blocking.
pub fn recvmsg(fd: RawFd, buf: &mut [u8]) -> io::Result<Received> {
    let mut name = MaybeUninit::<libc::sockaddr_storage>::zeroed();
    let mut control = [0u64; 64]; // 512 bytes, 8-byte aligned for cmsghdr
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast::<c_void>(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain old data; all-zero is valid, fields are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = name.as_mut_ptr().cast::<c_void>();
    msg.msg_namelen = size_of::<libc::sockaddr_storage>() as socklen_t;
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast::<c_void>();
    msg.msg_controllen = size_of::<[u64; 64]>() as _;
    // SAFETY: every pointer in `msg` refers to a live local buffer of the stated length.
    let rc = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out = Received {
        len: rc as usize,
        ..Received::default()
    };
    // SAFETY: the kernel wrote at most msg_namelen bytes of a sockaddr into `name`.
    let name = unsafe { name.assume_init() };
    if name.ss_family == libc::AF_INET6 as libc::sa_family_t
        && msg.msg_namelen as usize >= size_of::<sockaddr_in6>()
    {
        // SAFETY: the family says the storage holds a sockaddr_in6, which fits in it.
        let sa = unsafe { *(&name as *const libc::sockaddr_storage).cast::<sockaddr_in6>() };
        out.source = Some(IpAddr::V6(Ipv6Addr::from(sa.sin6_addr.s6_addr)));
    }
    // SAFETY: walking the control buffer with the libc CMSG macros on the msghdr the kernel
    // filled; each data pointer is read only within cmsg_len.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let hdr = &*cmsg;
            let data = libc::CMSG_DATA(cmsg);
            let data_len = (hdr.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            match (hdr.cmsg_level, hdr.cmsg_type) {
                (libc::IPPROTO_IP, libc::IP_PKTINFO)
                    if data_len >= size_of::<libc::in_pktinfo>() =>
                {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in_pktinfo>());
                    out.ifindex = u32::try_from(info.ipi_ifindex).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO)
                    if data_len >= size_of::<libc::in6_pktinfo>() =>
                {
                    let info = std::ptr::read_unaligned(data.cast::<libc::in6_pktinfo>());
                    out.ifindex = Some(info.ipi6_ifindex);
                    out.destination = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) if data_len >= size_of::<c_int>() => {
                    let hops = std::ptr::read_unaligned(data.cast::<c_int>());
                    out.hop_limit = u8::try_from(hops).ok();
                }
                (libc::IPPROTO_IPV6, libc::IPV6_HOPOPTS) => {
                    let opts = std::slice::from_raw_parts(data, data_len);
                    out.router_alert = crate::upcall::hop_by_hop_has_router_alert(opts);
                }
                _ => {}
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn sizes_match_uapi() {
        assert_eq!(size_of::<VifCtl>(), 16);
        assert_eq!(size_of::<MfcCtl>(), 60);
        assert_eq!(size_of::<IgmpMsg>(), 20);
        assert_eq!(size_of::<Mif6Ctl>(), 12);
        assert_eq!(size_of::<Mf6cCtl>(), 92);
        assert_eq!(size_of::<Mrt6Msg>(), 40);
        assert_eq!(size_of::<SiocSgReq>(), 32);
        assert_eq!(size_of::<SiocVifReq>(), 40);
        assert_eq!(size_of::<SiocSgReq6>(), 80);
        assert_eq!(size_of::<Icmp6Filter>(), 32);
    }

    #[test]
    fn offsets_match_uapi() {
        assert_eq!(offset_of!(VifCtl, vifc_flags), 2);
        assert_eq!(offset_of!(VifCtl, vifc_threshold), 3);
        assert_eq!(offset_of!(VifCtl, vifc_rate_limit), 4);
        assert_eq!(offset_of!(VifCtl, vifc_lcl_ifindex), 8);
        assert_eq!(offset_of!(VifCtl, vifc_rmt_addr), 12);
        assert_eq!(offset_of!(MfcCtl, mfcc_mcastgrp), 4);
        assert_eq!(offset_of!(MfcCtl, mfcc_parent), 8);
        assert_eq!(offset_of!(MfcCtl, mfcc_ttls), 10);
        assert_eq!(offset_of!(MfcCtl, mfcc_pkt_cnt), 44);
        assert_eq!(offset_of!(MfcCtl, mfcc_expire), 56);
        assert_eq!(offset_of!(IgmpMsg, im_msgtype), 8);
        assert_eq!(offset_of!(IgmpMsg, im_mbz), 9);
        assert_eq!(offset_of!(IgmpMsg, im_vif), 10);
        assert_eq!(offset_of!(IgmpMsg, im_vif_hi), 11);
        assert_eq!(offset_of!(IgmpMsg, im_src), 12);
        assert_eq!(offset_of!(IgmpMsg, im_dst), 16);
        assert_eq!(offset_of!(Mif6Ctl, mif6c_flags), 2);
        assert_eq!(offset_of!(Mif6Ctl, mif6c_pifi), 4);
        assert_eq!(offset_of!(Mif6Ctl, vifc_rate_limit), 8);
        assert_eq!(offset_of!(Mf6cCtl, mf6cc_mcastgrp), 28);
        assert_eq!(offset_of!(Mf6cCtl, mf6cc_parent), 56);
        assert_eq!(offset_of!(Mf6cCtl, mf6cc_ifset), 60);
        assert_eq!(offset_of!(Mrt6Msg, im6_msgtype), 1);
        assert_eq!(offset_of!(Mrt6Msg, im6_mif), 2);
        assert_eq!(offset_of!(Mrt6Msg, im6_src), 8);
        assert_eq!(offset_of!(Mrt6Msg, im6_dst), 24);
        assert_eq!(offset_of!(SiocSgReq, pktcnt), 8);
        assert_eq!(offset_of!(SiocVifReq, icount), 8);
        assert_eq!(offset_of!(SiocSgReq6, grp), 28);
        assert_eq!(offset_of!(SiocSgReq6, pktcnt), 56);
    }

    #[test]
    fn mfcctl_ttls_and_ifset() {
        let ctl = MfcCtl::new(
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(239, 1, 1, 1),
            2,
            0b1001 | (1 << 31),
        );
        assert_eq!(ctl.mfcc_ttls[0], 1);
        assert_eq!(ctl.mfcc_ttls[1], 0);
        assert_eq!(ctl.mfcc_ttls[3], 1);
        assert_eq!(ctl.mfcc_ttls[31], 1);
        assert_eq!(ctl.mfcc_origin.s_addr.to_ne_bytes(), [10, 0, 0, 1]);
        let ctl6 = Mf6cCtl::new(Ipv6Addr::LOCALHOST, "ff3e::1".parse().unwrap(), 1, 0b110);
        assert_eq!(ctl6.mf6cc_ifset[0], 0b110);
        assert_eq!(
            ctl6.mf6cc_origin.sin6_family,
            libc::AF_INET6 as libc::sa_family_t
        );
    }

    #[test]
    fn icmp6_filter_bits() {
        let f = Icmp6Filter::pass_only(&[130, 131, 132, 143]);
        assert_eq!(f.data[4], !((1 << 2) | (1 << 3) | (1 << 4) | (1 << 15)));
        assert_eq!(f.data[0], u32::MAX);
        assert_eq!(f.data[7], u32::MAX);
    }
}
