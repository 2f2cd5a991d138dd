//! Pure decoders for what the kernel delivers on a multicast routing socket: upcalls
//! (`struct igmpmsg` / `struct mrt6msg`) and real IGMP / MLD packets. No I/O; every input is
//! untrusted and no input makes them panic (see the property test and the fuzz target).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use mgm_core::{Family, Upcall, VifIndex};

use crate::error::Error;

/// `IGMPMSG_NOCACHE` / `MRT6MSG_NOCACHE`.
pub const MSG_NOCACHE: u8 = 1;
/// `IGMPMSG_WRONGVIF` / `MRT6MSG_WRONGMIF`.
pub const MSG_WRONGVIF: u8 = 2;
/// `IGMPMSG_WHOLEPKT` / `MRT6MSG_WHOLEPKT`.
pub const MSG_WHOLEPKT: u8 = 3;
/// `IGMPMSG_WRVIFWHOLE` / `MRT6MSG_WRMIFWHOLE`.
pub const MSG_WRVIFWHOLE: u8 = 4;

/// `sizeof(struct igmpmsg)`.
pub const IGMPMSG_LEN: usize = 20;
/// `sizeof(struct mrt6msg)`.
pub const MRT6MSG_LEN: usize = 40;

/// One datagram from a multicast routing socket, decoded.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Decoded {
    /// A kernel upcall.
    Upcall(Upcall),
    /// A real protocol packet (IGMP for IPv4, ICMPv6 for IPv6).
    Packet(PacketInfo),
}

/// Where the protocol message sits in a datagram and what its IP header said. IPv6 raw
/// sockets carry no IP header, so the addresses and hop limit come from ancillary data and are
/// `None` here.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct PacketInfo {
    /// IP source address (IPv4 only).
    pub source: Option<IpAddr>,
    /// IP destination address (IPv4 only).
    pub destination: Option<IpAddr>,
    /// IPv4 TTL (IPv6: `None`).
    pub ttl_or_hops: Option<u8>,
    /// The IPv4 header carried a router alert option (RFC 2113).
    pub router_alert: bool,
    /// The IGMP message (IPv4) or ICMPv6 message (IPv6) within the buffer.
    pub payload: Range<usize>,
}

fn short(what: &'static str, need: usize, got: usize) -> Error {
    Error::Decode {
        what,
        reason: format!("{got} bytes, need at least {need}"),
    }
}

fn vif_upcall(
    family: Family,
    msgtype: u8,
    source: IpAddr,
    group: IpAddr,
    vif: u16,
    rest: &[u8],
    what: &'static str,
) -> Result<Upcall, Error> {
    let vif = VifIndex(vif);
    match msgtype {
        MSG_NOCACHE => Ok(Upcall::NoCache {
            family,
            source,
            group,
            vif,
        }),
        MSG_WRONGVIF => Ok(Upcall::WrongVif {
            family,
            source,
            group,
            vif,
        }),
        MSG_WHOLEPKT | MSG_WRVIFWHOLE => Ok(Upcall::WholePacket {
            family,
            source,
            group,
            vif,
            wrong_vif: msgtype == MSG_WRVIFWHOLE,
            packet: rest.to_vec(),
        }),
        other => Err(Error::Decode {
            what,
            reason: format!("unknown upcall type {other}"),
        }),
    }
}

/// Decode one datagram read from the IPv4 multicast routing socket (raw IGMP socket: the
/// buffer starts with an IPv4 header).
///
/// A datagram whose protocol byte (`ip_p`, aliased by `im_mbz`) is 0 is an upcall
/// (`struct igmpmsg`): NOCACHE and WRONGVIF carry the copied IP header, WHOLEPKT and
/// WRVIFWHOLE are followed by the whole original packet (returned from its IP header on).
/// A datagram with `ip_p == 2` is a real IGMP packet.
///
/// # Errors
///
/// [`Error::Decode`] for a short buffer, a non-IPv4 header, another protocol or an unknown
/// upcall type.
pub fn decode_v4(buf: &[u8]) -> Result<Decoded, Error> {
    if buf.len() < IGMPMSG_LEN {
        return Err(short("igmpmsg", IGMPMSG_LEN, buf.len()));
    }
    let source = IpAddr::V4(Ipv4Addr::new(buf[12], buf[13], buf[14], buf[15]));
    let destination = IpAddr::V4(Ipv4Addr::new(buf[16], buf[17], buf[18], buf[19]));
    match buf[9] {
        0 => {
            let vif = u16::from_le_bytes([buf[10], buf[11]]);
            let upcall = vif_upcall(
                Family::Ipv4,
                buf[8],
                source,
                destination,
                vif,
                &buf[20..],
                "igmpmsg",
            )?;
            Ok(Decoded::Upcall(upcall))
        }
        2 => {
            if buf[0] >> 4 != 4 {
                return Err(Error::Decode {
                    what: "IPv4 header",
                    reason: format!("version {}", buf[0] >> 4),
                });
            }
            let ihl = usize::from(buf[0] & 0x0f) * 4;
            if ihl < 20 || ihl > buf.len() {
                return Err(Error::Decode {
                    what: "IPv4 header",
                    reason: format!("header length {ihl} in a {}-byte datagram", buf.len()),
                });
            }
            let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
            let end = if (ihl..=buf.len()).contains(&total) {
                total
            } else {
                buf.len()
            };
            Ok(Decoded::Packet(PacketInfo {
                source: Some(source),
                destination: Some(destination),
                ttl_or_hops: Some(buf[8]),
                router_alert: ipv4_options_have_router_alert(&buf[20..ihl]),
                payload: ihl..end,
            }))
        }
        other => Err(Error::Decode {
            what: "IPv4 datagram",
            reason: format!("protocol {other} on the multicast routing socket"),
        }),
    }
}

/// Decode one datagram read from the IPv6 multicast routing socket (raw ICMPv6 socket: the
/// buffer starts at the ICMPv6 header).
///
/// A first byte of 0 (`im6_mbz`, aliasing the ICMPv6 type, which is never 0) marks an upcall
/// (`struct mrt6msg`, 40 bytes); WHOLEPKT and WRMIFWHOLE are followed by the whole original
/// packet from its IPv6 header on. Anything else is an ICMPv6 message (MLD).
///
/// # Errors
///
/// [`Error::Decode`] for a short buffer or an unknown upcall type.
pub fn decode_v6(buf: &[u8]) -> Result<Decoded, Error> {
    match buf.first() {
        None => Err(short("ICMPv6 message", 1, 0)),
        Some(0) => {
            if buf.len() < MRT6MSG_LEN {
                return Err(short("mrt6msg", MRT6MSG_LEN, buf.len()));
            }
            let mif = u16::from_ne_bytes([buf[2], buf[3]]);
            let source = IpAddr::V6(Ipv6Addr::from(addr16(&buf[8..24])));
            let group = IpAddr::V6(Ipv6Addr::from(addr16(&buf[24..40])));
            let upcall = vif_upcall(
                Family::Ipv6,
                buf[1],
                source,
                group,
                mif,
                &buf[40..],
                "mrt6msg",
            )?;
            Ok(Decoded::Upcall(upcall))
        }
        Some(_) => Ok(Decoded::Packet(PacketInfo {
            source: None,
            destination: None,
            ttl_or_hops: None,
            router_alert: false,
            payload: 0..buf.len(),
        })),
    }
}

fn addr16(bytes: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&bytes[..16]);
    out
}

/// Whether IPv4 options (the bytes after the fixed 20-byte header) hold a router alert
/// (type 148).
pub fn ipv4_options_have_router_alert(options: &[u8]) -> bool {
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            0 => return false, // end of option list
            1 => i += 1,       // no-op
            148 => return true,
            _ => {
                let len = options.get(i + 1).copied().map_or(0, usize::from);
                if len < 2 {
                    return false;
                }
                i += len;
            }
        }
    }
    false
}

/// Whether an IPv6 hop-by-hop options header (as delivered by `IPV6_HOPOPTS`: next header,
/// length, options) holds a router alert option (type 5, RFC 2711).
pub fn hop_by_hop_has_router_alert(header: &[u8]) -> bool {
    let Some(&ext_len) = header.get(1) else {
        return false;
    };
    let end = header.len().min((usize::from(ext_len) + 1) * 8);
    let mut i = 2;
    while i < end {
        match header[i] {
            0 => i += 1, // Pad1
            5 => return true,
            _ => {
                let Some(&len) = header.get(i + 1) else {
                    return false;
                };
                i += 2 + usize::from(len);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// An IPv4 NOCACHE upcall as the kernel builds it: the copied IP header of the data packet
    /// with `ip_p` zeroed and the igmpmsg fields overlaid, then an 8-byte IGMP header.
    const NOCACHE_V4: [u8; 28] = [
        0x45, 0x00, 0x00, 0x1c, // version/ihl, tos, tot_len = 28
        0x12, 0x34, 0x40, 0x00, // id, frag
        0x01, // im_msgtype = IGMPMSG_NOCACHE (overlays ttl)
        0x00, // im_mbz = 0 (overlays ip_p)
        0x03, // im_vif = 3
        0x00, // im_vif_hi = 0
        10, 1, 0, 2, // im_src = 10.1.0.2
        239, 1, 2, 3, // im_dst = 239.1.2.3
        0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // igmphdr (type = assert)
    ];

    #[test]
    fn v4_nocache() {
        let decoded = decode_v4(&NOCACHE_V4).unwrap();
        assert_eq!(
            decoded,
            Decoded::Upcall(Upcall::NoCache {
                family: Family::Ipv4,
                source: v4("10.1.0.2"),
                group: v4("239.1.2.3"),
                vif: VifIndex(3),
            })
        );
    }

    #[test]
    fn v4_wrongvif_uses_high_vif_byte() {
        let mut buf = NOCACHE_V4;
        buf[8] = 0x02; // im_msgtype = IGMPMSG_WRONGVIF
        buf[10] = 0x01; // im_vif = 1
        buf[11] = 0x01; // im_vif_hi = 1 -> VIF 257
        assert_eq!(
            decode_v4(&buf).unwrap(),
            Decoded::Upcall(Upcall::WrongVif {
                family: Family::Ipv4,
                source: v4("10.1.0.2"),
                group: v4("239.1.2.3"),
                vif: VifIndex(257),
            })
        );
    }

    #[test]
    fn v4_wholepkt_and_wrvifwhole() {
        let inner: [u8; 24] = [
            0x45, 0x00, 0x00, 0x18, 0, 0, 0, 0, 7, 17, 0, 0, // IPv4 header: ttl 7, UDP
            10, 1, 0, 2, // saddr
            239, 1, 2, 3, // daddr
            0xde, 0xad, 0xbe, 0xef, // payload
        ];
        for (msgtype, wrong_vif) in [(3u8, false), (4u8, true)] {
            let mut buf = vec![
                0x45, 0x00, 0x00, 0x2c, 0, 0, 0, 0,       //
                msgtype, // im_msgtype = WHOLEPKT (3) / WRVIFWHOLE (4)
                0x00,    // im_mbz
                0x00,    // im_vif = 0 (register VIF)
                0x00,    // im_vif_hi
                10, 1, 0, 2, // im_src
                239, 1, 2, 3, // im_dst
            ];
            buf.extend_from_slice(&inner);
            assert_eq!(
                decode_v4(&buf).unwrap(),
                Decoded::Upcall(Upcall::WholePacket {
                    family: Family::Ipv4,
                    source: v4("10.1.0.2"),
                    group: v4("239.1.2.3"),
                    vif: VifIndex(0),
                    wrong_vif,
                    packet: inner.to_vec(),
                })
            );
        }
    }

    #[test]
    fn v4_igmp_packet_with_router_alert() {
        let buf: [u8; 32] = [
            0x46, 0xc0, 0x00, 0x20, // version 4, ihl 6 (24 bytes), tos, tot_len 32
            0, 0, 0x40, 0, // id, DF
            1, 2, 0, 0, // ttl 1, ip_p = IGMP, checksum
            10, 1, 0, 2, // saddr
            224, 0, 0, 22, // daddr
            0x94, 0x04, 0x00, 0x00, // router alert option
            0x22, 0x00, 0xf9, 0xfc, 0x00, 0x00, 0x00, 0x00, // IGMPv3 report header
        ];
        let Decoded::Packet(info) = decode_v4(&buf).unwrap() else {
            panic!("not a packet")
        };
        assert_eq!(info.source, Some(v4("10.1.0.2")));
        assert_eq!(info.destination, Some(v4("224.0.0.22")));
        assert_eq!(info.ttl_or_hops, Some(1));
        assert!(info.router_alert);
        assert_eq!(info.payload, 24..32);
        assert_eq!(buf[info.payload][0], 0x22);
    }

    #[test]
    fn v4_rejects() {
        assert!(decode_v4(&NOCACHE_V4[..19]).is_err());
        let mut udp = NOCACHE_V4;
        udp[9] = 17;
        assert!(decode_v4(&udp).is_err());
        let mut unknown = NOCACHE_V4;
        unknown[8] = 9;
        assert!(decode_v4(&unknown).is_err());
        let mut bad_ihl = NOCACHE_V4;
        bad_ihl[9] = 2;
        bad_ihl[0] = 0x4f; // ihl 60 > 28 bytes
        assert!(decode_v4(&bad_ihl).is_err());
    }

    fn mrt6msg(msgtype: u8, mif: u16) -> Vec<u8> {
        let mut buf = vec![
            0x00,    // im6_mbz = 0
            msgtype, // im6_msgtype
        ];
        buf.extend_from_slice(&mif.to_ne_bytes()); // im6_mif (host order)
        buf.extend_from_slice(&[0, 0, 0, 0]); // im6_pad
        buf.extend_from_slice(&"fd00:1::2".parse::<Ipv6Addr>().unwrap().octets()); // im6_src
        buf.extend_from_slice(&"ff3e::1234".parse::<Ipv6Addr>().unwrap().octets()); // im6_dst
        buf
    }

    #[test]
    fn v6_every_upcall_type() {
        let source: IpAddr = "fd00:1::2".parse().unwrap();
        let group: IpAddr = "ff3e::1234".parse().unwrap();
        let family = Family::Ipv6;
        assert_eq!(
            decode_v6(&mrt6msg(1, 2)).unwrap(),
            Decoded::Upcall(Upcall::NoCache {
                family,
                source,
                group,
                vif: VifIndex(2)
            })
        );
        assert_eq!(
            decode_v6(&mrt6msg(2, 31)).unwrap(),
            Decoded::Upcall(Upcall::WrongVif {
                family,
                source,
                group,
                vif: VifIndex(31)
            })
        );
        for (msgtype, wrong_vif) in [(3u8, false), (4u8, true)] {
            let mut buf = mrt6msg(msgtype, 0);
            buf.extend_from_slice(&[0x60, 0, 0, 0, 0, 4, 17, 8]); // IPv6 header start
            assert_eq!(
                decode_v6(&buf).unwrap(),
                Decoded::Upcall(Upcall::WholePacket {
                    family,
                    source,
                    group,
                    vif: VifIndex(0),
                    wrong_vif,
                    packet: vec![0x60, 0, 0, 0, 0, 4, 17, 8],
                })
            );
        }
    }

    #[test]
    fn v6_mld_packet_and_rejects() {
        let mld = [143u8, 0, 0x12, 0x34, 0, 0, 0, 0]; // MLDv2 report header
        assert_eq!(
            decode_v6(&mld).unwrap(),
            Decoded::Packet(PacketInfo {
                source: None,
                destination: None,
                ttl_or_hops: None,
                router_alert: false,
                payload: 0..8,
            })
        );
        assert!(decode_v6(&[]).is_err());
        assert!(decode_v6(&mrt6msg(1, 0)[..39]).is_err());
        assert!(decode_v6(&mrt6msg(7, 0)).is_err());
    }

    #[test]
    fn router_alert_options() {
        assert!(ipv4_options_have_router_alert(&[0x94, 4, 0, 0]));
        assert!(ipv4_options_have_router_alert(&[1, 0x94, 4, 0, 0]));
        assert!(!ipv4_options_have_router_alert(&[0, 0x94, 4, 0, 0]));
        assert!(!ipv4_options_have_router_alert(&[0x44, 0]));
        // hop-by-hop: next header 58, length 0 (8 bytes), RA (5, 2, 0, 0), PadN (1, 0)
        assert!(hop_by_hop_has_router_alert(&[58, 0, 5, 2, 0, 0, 1, 0]));
        assert!(!hop_by_hop_has_router_alert(&[58, 0, 1, 4, 0, 0, 0, 0]));
        assert!(!hop_by_hop_has_router_alert(&[58]));
    }
}
