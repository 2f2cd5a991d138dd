//! Kernel multicast state reader through rtnetlink (`RTNL_FAMILY_IPMR` 128 /
//! `RTNL_FAMILY_IP6MR` 129) and `/proc`, for tests, `mgmctl verify` and restart
//! reconciliation.
//!
//! | function | kernel |
//! | --- | --- |
//! | [`mfc_dump`] | `RTM_GETROUTE` dump, family IPMR / IP6MR (`ip mroute show table T`) |
//! | [`vif_dump`] IPv4 | `RTM_GETLINK` dump, family IPMR, `IPMRA_*` attributes parsed by [`parse_ipmr_link`] |
//! | [`vif_dump`] IPv6 | `/proc/net/ip6_mr_vif` (the kernel has no IP6MR `RTM_GETLINK`; default table 254 only) |

use std::net::IpAddr;

use mgm_core::{Family, IfIndex, MfeCounters, VifIndex};
use netlink_packet_route::route::{RouteAttribute, RouteFlags, RouteMessage, RouteProtocol};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::protocols::NETLINK_ROUTE;
use netlink_sys::{Socket, SocketAddr};

use crate::error::Error;
use crate::link::{ip_from_bytes, Rtnl};
use crate::mrt::sys::VIFF_STATIC;
use crate::mrt::DEFAULT_TABLE_V6;

/// `RTNL_FAMILY_IPMR`.
pub const RTNL_FAMILY_IPMR: u8 = 128;
/// `RTNL_FAMILY_IP6MR`.
pub const RTNL_FAMILY_IP6MR: u8 = 129;

/// One MFC entry as the kernel reports it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KernelMfe {
    /// Family.
    pub family: Family,
    /// Table id.
    pub table: u32,
    /// Source (unspecified for a (*,G) proxy entry).
    pub source: IpAddr,
    /// Group.
    pub group: IpAddr,
    /// Incoming interface (`RTA_IIF`); `None` for an unresolved entry.
    pub iif: Option<IfIndex>,
    /// Outgoing interfaces with their TTL thresholds (`RTA_MULTIPATH`), in VIF order.
    pub oifs: Vec<(IfIndex, u8)>,
    /// Counters (`RTA_MFC_STATS`).
    pub counters: MfeCounters,
    /// `MFC_STATIC` (protocol `RTPROT_STATIC`): added by a non-owner, survives the owner.
    pub is_static: bool,
    /// False for an unresolved entry (packets queued, waiting for the daemon).
    pub resolved: bool,
}

/// One VIF as the kernel reports it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct KernelVif {
    /// Family.
    pub family: Family,
    /// Table id.
    pub table: u32,
    /// VIF number.
    pub vif: VifIndex,
    /// Interface (0 when unknown, e.g. a `/proc` name that no longer resolves).
    pub ifindex: IfIndex,
    /// `VIFF_*` / `MIFF_*` flags, with the kernel-internal `VIFF_STATIC` (0x8000).
    pub flags: u32,
    /// `VIFF_STATIC`.
    pub is_static: bool,
}

/// The MFC entries of `table`, resolved and unresolved: equivalent to
/// `ip mroute show table T` (IPv6: `ip -6 mroute show table T`).
///
/// # Errors
///
/// [`Error::Netlink`] when the dump fails.
pub async fn mfc_dump(rtnl: &Rtnl, family: Family, table: u32) -> Result<Vec<KernelMfe>, Error> {
    let mut message = RouteMessage::default();
    message.header.address_family = AddressFamily::from(match family {
        Family::Ipv4 => RTNL_FAMILY_IPMR,
        Family::Ipv6 => RTNL_FAMILY_IP6MR,
    });
    let answers = rtnl
        .request("RTM_GETROUTE", RouteNetlinkMessage::GetRoute(message), true)
        .await?;
    Ok(answers
        .iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewRoute(route) => kernel_mfe(family, route),
            _ => None,
        })
        .filter(|mfe| mfe.table == table)
        .collect())
}

fn kernel_mfe(family: Family, route: &RouteMessage) -> Option<KernelMfe> {
    let mut table = u32::from(route.header.table);
    let mut source = None;
    let mut group = None;
    let mut iif = None;
    let mut oifs = Vec::new();
    let mut counters = MfeCounters::default();
    for attr in &route.attributes {
        match attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Source(a) => source = route_ip(a),
            RouteAttribute::Destination(a) => group = route_ip(a),
            RouteAttribute::Iif(i) => iif = Some(IfIndex(*i)),
            RouteAttribute::MultiPath(hops) => {
                oifs = hops
                    .iter()
                    .map(|h| (IfIndex(h.interface_index), h.hops))
                    .collect();
            }
            RouteAttribute::MfcStats(s) => {
                counters = MfeCounters {
                    packets: s.packets,
                    bytes: s.bytes,
                    wrong_if: s.wrong_if,
                };
            }
            _ => {}
        }
    }
    let group = group?;
    Some(KernelMfe {
        family,
        table,
        source: source.unwrap_or(family.unspecified()),
        group,
        iif,
        oifs,
        counters,
        is_static: route.header.protocol != RouteProtocol::Mrouted,
        resolved: !route.header.flags.contains(RouteFlags::Unresolved),
    })
}

fn route_ip(addr: &netlink_packet_route::route::RouteAddress) -> Option<IpAddr> {
    use netlink_packet_route::route::RouteAddress;
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        RouteAddress::Other(bytes) => ip_from_bytes(bytes),
        _ => None,
    }
}

/// The VIFs of `table`. IPv4: `RTM_GETLINK` dump of family IPMR (every table). IPv6:
/// `/proc/net/ip6_mr_vif` of the calling thread's namespace, which only shows the default
/// table (254, see [`crate::mrt::default_table`]) and
/// names interfaces (resolved to an ifindex with `if_nametoindex`, 0 if gone).
///
/// # Errors
///
/// [`Error::Invalid`] for an IPv6 table other than 254; [`Error::Sys`] / [`Error::Netlink`] /
/// [`Error::Decode`] when the dump fails.
pub async fn vif_dump(_rtnl: &Rtnl, family: Family, table: u32) -> Result<Vec<KernelVif>, Error> {
    match family {
        Family::Ipv4 => {
            let mut out = Vec::new();
            for payload in raw_dump(RTM_GETLINK, RTNL_FAMILY_IPMR)? {
                let parsed = parse_ipmr_link(&payload)?;
                if parsed.table == table {
                    out.extend(parsed.vifs);
                }
            }
            Ok(out)
        }
        Family::Ipv6 => {
            if table != DEFAULT_TABLE_V6 {
                return Err(Error::Invalid(format!(
                    "the IPv6 MIF table {table} cannot be read: the kernel offers no IP6MR \
                     RTM_GETLINK and /proc/net/ip6_mr_vif shows the default table \
                     {DEFAULT_TABLE_V6} only"
                )));
            }
            let text = proc_net("ip6_mr_vif")?;
            Ok(parse_proc_vifs(Family::Ipv6, &text)
                .into_iter()
                .map(|(vif, name, flags)| KernelVif {
                    family,
                    table,
                    vif,
                    ifindex: IfIndex(nix::net::if_::if_nametoindex(name.as_str()).unwrap_or(0)),
                    flags,
                    is_static: flags & VIFF_STATIC != 0,
                })
                .collect())
        }
    }
}

/// Read `/proc/thread-self/net/<file>` (the calling thread's namespace, unlike `/proc/net`,
/// which follows the process's main thread), e.g. `ip_mr_vif`, `ip_mr_cache`, `ip6_mr_vif`,
/// `ip6_mr_cache`.
///
/// # Errors
///
/// [`Error::Sys`] when the file cannot be read.
pub fn proc_net(file: &str) -> Result<String, Error> {
    std::fs::read_to_string(format!("/proc/thread-self/net/{file}"))
        .map_err(|e| Error::sys("read /proc/net", e))
}

/// Parse `/proc/net/ip_mr_vif` or `ip6_mr_vif`: (VIF, interface name, flags) per line.
pub fn parse_proc_vifs(family: Family, text: &str) -> Vec<(VifIndex, String, u32)> {
    let _ = family; // both files have the index, name, 4 counters and hex flags first
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let vif = fields.first()?.parse().ok()?;
            let name = (*fields.get(1)?).to_owned();
            let flags = u32::from_str_radix(fields.get(6)?, 16).ok()?;
            Some((VifIndex(vif), name, flags))
        })
        .collect()
}

const RTM_GETLINK: u16 = 18;
const RTM_NEWLINK: u16 = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;

/// Send a dump request with a bare `ifinfomsg`/`rtgenmsg`-sized header of `family` and return
/// the payloads of the answers (after the netlink header). Used where netlink-packet-route
/// would mis-parse the answer (IPMR `RTM_GETLINK`).
fn raw_dump(msg_type: u16, family: u8) -> Result<Vec<Vec<u8>>, Error> {
    let mut socket =
        Socket::new(NETLINK_ROUTE).map_err(|e| Error::sys("socket(NETLINK_ROUTE)", e))?;
    socket
        .bind_auto()
        .map_err(|e| Error::sys("bind(NETLINK_ROUTE)", e))?;
    let seq: u32 = 1;
    let mut request = Vec::with_capacity(32);
    request.extend_from_slice(&32u32.to_ne_bytes()); // nlmsg_len
    request.extend_from_slice(&msg_type.to_ne_bytes()); // nlmsg_type
    request.extend_from_slice(&(0x1u16 | 0x300).to_ne_bytes()); // NLM_F_REQUEST | NLM_F_DUMP
    request.extend_from_slice(&seq.to_ne_bytes()); // nlmsg_seq
    request.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid
    request.push(family); // ifi_family
    request.extend_from_slice(&[0u8; 15]); // rest of struct ifinfomsg
    socket
        .send_to(&request, &SocketAddr::new(0, 0), 0)
        .map_err(|e| Error::sys("send(NETLINK_ROUTE)", e))?;
    let mut out = Vec::new();
    loop {
        let (buf, _) = socket
            .recv_from_full()
            .map_err(|e| Error::sys("recv(NETLINK_ROUTE)", e))?;
        let mut offset = 0;
        while buf.len().saturating_sub(offset) >= 16 {
            let len = u32_at(&buf, offset) as usize;
            let kind = u16::from_ne_bytes([buf[offset + 4], buf[offset + 5]]);
            if len < 16 || offset + len > buf.len() {
                return Err(Error::Decode {
                    what: "netlink message",
                    reason: format!("length {len} at offset {offset}"),
                });
            }
            let payload = &buf[offset + 16..offset + len];
            match kind {
                NLMSG_DONE => return Ok(out),
                NLMSG_ERROR => {
                    let code = if payload.len() >= 4 {
                        i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]])
                    } else {
                        0
                    };
                    if code != 0 {
                        return Err(Error::Netlink {
                            op: "RTM_GETLINK(IPMR)",
                            errno: Some(code.abs()),
                            message: std::io::Error::from_raw_os_error(code.abs()).to_string(),
                        });
                    }
                    return Ok(out);
                }
                RTM_NEWLINK => out.push(payload.to_vec()),
                _ => {}
            }
            offset += (len + 3) & !3;
        }
    }
}

fn u32_at(buf: &[u8], offset: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[offset..offset + 4]);
    u32::from_ne_bytes(b)
}

/// Iterate netlink attributes: (type without the nested/byte-order bits, data).
fn attributes(mut buf: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if buf.len() < 4 {
            return None;
        }
        let len = usize::from(u16::from_ne_bytes([buf[0], buf[1]]));
        let kind = u16::from_ne_bytes([buf[2], buf[3]]) & 0x3fff;
        if len < 4 || len > buf.len() {
            return None;
        }
        let data = &buf[4..len];
        buf = &buf[((len + 3) & !3).min(buf.len())..];
        Some((kind, data))
    })
}

fn uint(data: &[u8]) -> Option<u64> {
    match data.len() {
        1 => Some(u64::from(data[0])),
        2 => Some(u64::from(u16::from_ne_bytes([data[0], data[1]]))),
        4 => Some(u64::from(u32::from_ne_bytes([
            data[0], data[1], data[2], data[3],
        ]))),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(data);
            Some(u64::from_ne_bytes(b))
        }
        _ => None,
    }
}

/// One `RTM_NEWLINK` answer of an IPMR link dump: a table and its VIFs.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IpmrTable {
    /// `IPMRA_TABLE_ID`.
    pub table: u32,
    /// `IPMRA_TABLE_VIFS`.
    pub vifs: Vec<KernelVif>,
}

const IFLA_AF_SPEC: u16 = 26;
const IPMRA_TABLE_ID: u16 = 1;
const IPMRA_TABLE_VIFS: u16 = 6;
const IPMRA_VIF: u16 = 1;
const IPMRA_VIFA_IFINDEX: u16 = 1;
const IPMRA_VIFA_VIF_ID: u16 = 2;
const IPMRA_VIFA_FLAGS: u16 = 3;

fn parse_vifs(data: &[u8]) -> Vec<KernelVif> {
    let mut vifs = Vec::new();
    for (vif_kind, vif_data) in attributes(data) {
        if vif_kind != IPMRA_VIF {
            continue;
        }
        let (mut ifindex, mut id, mut flags) = (None, None, 0u32);
        for (a, d) in attributes(vif_data) {
            match a {
                IPMRA_VIFA_IFINDEX => ifindex = uint(d),
                IPMRA_VIFA_VIF_ID => id = uint(d),
                IPMRA_VIFA_FLAGS => flags = uint(d).unwrap_or(0) as u32,
                _ => {}
            }
        }
        if let (Some(ifindex), Some(id)) = (ifindex, id) {
            vifs.push(KernelVif {
                family: Family::Ipv4,
                table: 0,
                vif: VifIndex(u16::try_from(id).unwrap_or(u16::MAX)),
                ifindex: IfIndex(u32::try_from(ifindex).unwrap_or(0)),
                flags,
                is_static: flags & VIFF_STATIC != 0,
            });
        }
    }
    vifs
}

/// Parse the payload of an IPMR `RTM_NEWLINK`: a `struct ifinfomsg`, then `IFLA_AF_SPEC`
/// holding the `IPMRA_TABLE_*` attributes, with the nested `IPMRA_TABLE_VIFS` → `IPMRA_VIF` →
/// `IPMRA_VIFA_*` (kernel `ipmr_rtm_dumplink`).
///
/// # Errors
///
/// [`Error::Decode`] when the header is short or the table id is missing.
pub fn parse_ipmr_link(payload: &[u8]) -> Result<IpmrTable, Error> {
    const IFINFOMSG_LEN: usize = 16;
    if payload.len() < IFINFOMSG_LEN {
        return Err(Error::Decode {
            what: "IPMR ifinfomsg",
            reason: format!("{} bytes, need {IFINFOMSG_LEN}", payload.len()),
        });
    }
    let mut table = None;
    let mut vifs = Vec::new();
    for (kind, af_spec) in attributes(&payload[IFINFOMSG_LEN..]) {
        if kind != IFLA_AF_SPEC {
            continue;
        }
        for (kind, data) in attributes(af_spec) {
            match kind {
                IPMRA_TABLE_ID => table = uint(data).and_then(|t| u32::try_from(t).ok()),
                IPMRA_TABLE_VIFS => vifs.extend(parse_vifs(data)),
                _ => {}
            }
        }
    }
    let table = table.ok_or(Error::Decode {
        what: "IPMR table",
        reason: "no IPMRA_TABLE_ID".to_owned(),
    })?;
    for vif in &mut vifs {
        vif.table = table;
    }
    Ok(IpmrTable { table, vifs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nla(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&u16::try_from(4 + data.len()).unwrap().to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    #[test]
    fn ipmr_link_answer() {
        let mut vif = Vec::new();
        vif.extend(nla(IPMRA_VIFA_IFINDEX, &7u32.to_ne_bytes())); // ifindex 7
        vif.extend(nla(IPMRA_VIFA_VIF_ID, &2u16.to_ne_bytes())); // VIF 2
        vif.extend(nla(IPMRA_VIFA_FLAGS, &0x8008u16.to_ne_bytes())); // STATIC | USE_IFINDEX
        vif.extend(nla(4, &1234u64.to_ne_bytes())); // IPMRA_VIFA_BYTES_IN (ignored)
        let vifs = nla(IPMRA_TABLE_VIFS | 0x8000, &nla(IPMRA_VIF | 0x8000, &vif));
        let mut table = nla(IPMRA_TABLE_ID, &253u32.to_ne_bytes());
        table.extend(nla(4, &1u32.to_ne_bytes())); // IPMRA_TABLE_MROUTE_DO_ASSERT
        table.extend(vifs);
        let mut payload = vec![RTNL_FAMILY_IPMR];
        payload.extend_from_slice(&[0u8; 15]); // rest of ifinfomsg
        payload.extend(nla(IFLA_AF_SPEC | 0x8000, &table)); // IFLA_AF_SPEC (nested)
        let parsed = parse_ipmr_link(&payload).unwrap();
        assert_eq!(parsed.table, 253);
        assert_eq!(
            parsed.vifs,
            vec![KernelVif {
                family: Family::Ipv4,
                table: 253,
                vif: VifIndex(2),
                ifindex: IfIndex(7),
                flags: 0x8008,
                is_static: true,
            }]
        );
        assert!(parse_ipmr_link(&payload[..10]).is_err());
        assert!(parse_ipmr_link(&payload[..16]).is_err()); // no table id
                                                           // truncated attributes never panic
        for cut in 16..payload.len() {
            let _ = parse_ipmr_link(&payload[..cut]);
        }
    }

    #[test]
    fn proc_vif_lines() {
        let text = "Interface      BytesIn  PktsIn  BytesOut PktsOut Flags Local    Remote\n \
                    0 r0              840      10         0       0 00008 00000007 00000000\n \
                    3 pim6reg           0       0         0       0 08001\n";
        assert_eq!(
            parse_proc_vifs(Family::Ipv4, text),
            vec![
                (VifIndex(0), "r0".to_owned(), 8),
                (VifIndex(3), "pim6reg".to_owned(), 0x8001)
            ]
        );
    }
}
