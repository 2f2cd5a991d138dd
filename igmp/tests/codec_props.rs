//! Codec properties: decoding arbitrary bytes never panics; decode(encode(x)) == x.

use std::net::{Ipv4Addr, Ipv6Addr};

use igmp::packet::igmp::IgmpMessage;
use igmp::packet::mld::MldMessage;
use igmp::packet::{GroupRecord, QueryV3, RecordType};
use igmp::{Config, Interface};
use mgm_core::{Family, IfIndex};
use proptest::prelude::*;

fn record_type() -> impl Strategy<Value = RecordType> {
    any::<u8>().prop_map(RecordType::from_u8)
}

fn v4() -> impl Strategy<Value = Ipv4Addr> + Clone {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn v6() -> impl Strategy<Value = Ipv6Addr> + Clone {
    any::<u128>().prop_map(Ipv6Addr::from)
}

fn query_v3<A: std::fmt::Debug>(
    addr: impl Strategy<Value = A>,
) -> impl Strategy<Value = QueryV3<A>> {
    (
        any::<bool>(),
        0u8..8,
        any::<u8>(),
        prop::collection::vec(addr, 0..8),
    )
        .prop_map(|(suppress, qrv, qqic, sources)| QueryV3 {
            suppress,
            qrv,
            qqic,
            sources,
        })
}

fn records<A: std::fmt::Debug + Clone>(
    addr: impl Strategy<Value = A> + Clone,
) -> impl Strategy<Value = Vec<GroupRecord<A>>> {
    prop::collection::vec(
        (
            record_type(),
            addr.clone(),
            prop::collection::vec(addr, 0..6),
        )
            .prop_map(|(kind, group, sources)| GroupRecord {
                kind,
                group,
                sources,
            }),
        0..6,
    )
}

fn igmp_message() -> impl Strategy<Value = IgmpMessage> {
    prop_oneof![
        (any::<u8>(), v4(), prop::option::of(query_v3(v4()))).prop_map(
            |(max_resp_code, group, v3)| IgmpMessage::Query {
                max_resp_code,
                group,
                v3
            }
        ),
        v4().prop_map(|group| IgmpMessage::V1Report { group }),
        v4().prop_map(|group| IgmpMessage::V2Report { group }),
        v4().prop_map(|group| IgmpMessage::V2Leave { group }),
        records(v4()).prop_map(|records| IgmpMessage::V3Report { records }),
    ]
}

fn mld_message() -> impl Strategy<Value = MldMessage> {
    prop_oneof![
        (any::<u16>(), v6(), prop::option::of(query_v3(v6()))).prop_map(
            |(max_resp_code, group, v2)| MldMessage::Query {
                max_resp_code,
                group,
                v2
            }
        ),
        v6().prop_map(|group| MldMessage::V1Report { group }),
        v6().prop_map(|group| MldMessage::V1Done { group }),
        records(v6()).prop_map(|records| MldMessage::V2Report { records }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn igmp_roundtrip(msg in igmp_message()) {
        let bytes = msg.encode();
        prop_assert_eq!(IgmpMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn mld_roundtrip(msg in mld_message()) {
        let bytes = msg.encode();
        prop_assert_eq!(MldMessage::decode(&bytes), Ok(msg));
    }

    #[test]
    fn decode_random_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = IgmpMessage::decode(&bytes);
        let _ = MldMessage::decode(&bytes);
    }

    #[test]
    fn decode_mutated_never_panics(msg in igmp_message(), at in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut bytes = msg.encode();
        let i = at.index(bytes.len());
        bytes[i] = byte;
        let _ = IgmpMessage::decode(&bytes);
        bytes.truncate(cut.index(bytes.len() + 1));
        let _ = IgmpMessage::decode(&bytes);
        let _ = MldMessage::decode(&bytes);
    }

    /// The router never panics and its timers never go backwards, whatever it is fed.
    #[test]
    fn router_survives_any_input(
        packets in prop::collection::vec((igmp_message(), 0u64..30_000, 0u8..4), 0..40),
    ) {
        let start = std::time::Instant::now();
        let config = Config { explicit_tracking: true, ..Config::igmp() };
        let mut iface = Interface::new(Family::Ipv4, IfIndex(1), "10.0.0.5".parse().unwrap(), config, start);
        let mut now = start;
        for (msg, delay, host) in packets {
            now += std::time::Duration::from_millis(delay);
            while let Some(t) = iface.poll_timeout() {
                if t > now { break; }
                iface.handle_timeout(t);
            }
            let source = std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 0, host));
            iface.handle_packet(now, source, "224.0.0.22".parse().unwrap(), &msg.encode());
            if let Some(t) = iface.poll_timeout() {
                prop_assert!(t + std::time::Duration::from_secs(1) > now);
            }
            while iface.poll_output().is_some() {}
        }
        let _ = iface.state(now);
    }
}
