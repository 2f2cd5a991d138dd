//! The decoders never panic on random bytes, and decode what they should from structured
//! random upcalls.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use mgm_core::{Family, Upcall, VifIndex};
use netlink::dump::parse_ipmr_link;
use netlink::upcall::{decode_v4, decode_v6, hop_by_hop_has_router_alert, Decoded};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode_v4(&bytes);
        let _ = decode_v6(&bytes);
        let _ = parse_ipmr_link(&bytes);
        let _ = hop_by_hop_has_router_alert(&bytes);
        if let Ok(Decoded::Packet(info)) = decode_v4(&bytes) {
            prop_assert!(info.payload.end <= bytes.len());
            prop_assert!(info.payload.start <= info.payload.end);
        }
    }

    #[test]
    fn v4_upcalls_round_trip(
        msgtype in 1u8..=4,
        vif in any::<u16>(),
        src in any::<[u8; 4]>(),
        dst in any::<[u8; 4]>(),
        head in any::<[u8; 8]>(),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = head.to_vec();
        buf.push(msgtype);
        buf.push(0); // im_mbz
        buf.extend_from_slice(&vif.to_le_bytes()); // im_vif, im_vif_hi
        buf.extend_from_slice(&src);
        buf.extend_from_slice(&dst);
        buf.extend_from_slice(&tail);
        let source = IpAddr::V4(Ipv4Addr::from(src));
        let group = IpAddr::V4(Ipv4Addr::from(dst));
        let vif = VifIndex(vif);
        let family = Family::Ipv4;
        let expected = match msgtype {
            1 => Upcall::NoCache { family, source, group, vif },
            2 => Upcall::WrongVif { family, source, group, vif },
            _ => Upcall::WholePacket { family, source, group, vif, wrong_vif: msgtype == 4, packet: tail },
        };
        prop_assert_eq!(decode_v4(&buf).unwrap(), Decoded::Upcall(expected));
    }

    #[test]
    fn v6_upcalls_round_trip(
        msgtype in 1u8..=4,
        mif in any::<u16>(),
        src in any::<[u8; 16]>(),
        dst in any::<[u8; 16]>(),
        tail in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let mut buf = vec![0, msgtype];
        buf.extend_from_slice(&mif.to_ne_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&src);
        buf.extend_from_slice(&dst);
        buf.extend_from_slice(&tail);
        let source = IpAddr::V6(Ipv6Addr::from(src));
        let group = IpAddr::V6(Ipv6Addr::from(dst));
        let vif = VifIndex(mif);
        let family = Family::Ipv6;
        let expected = match msgtype {
            1 => Upcall::NoCache { family, source, group, vif },
            2 => Upcall::WrongVif { family, source, group, vif },
            _ => Upcall::WholePacket { family, source, group, vif, wrong_vif: msgtype == 4, packet: tail },
        };
        prop_assert_eq!(decode_v6(&buf).unwrap(), Decoded::Upcall(expected));
    }
}
