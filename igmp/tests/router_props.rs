//! Router invariants under random traffic from a few hosts on a few groups: the Join/Leave
//! stream never joins twice or leaves what it did not join, always adds up to the memberships
//! the state shows, and SSM groups never get (*,G).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use igmp::packet::igmp::IgmpMessage;
use igmp::packet::{GroupRecord, QueryV3, RecordType};
use igmp::router::is_ssm;
use igmp::{Config, Interface, Output};
use mgm_core::{Family, IfIndex, SourceGroup};
use proptest::prelude::*;

const GROUPS: [Ipv4Addr; 3] = [
    Ipv4Addr::new(239, 1, 1, 1),
    Ipv4Addr::new(239, 1, 1, 2),
    Ipv4Addr::new(232, 1, 1, 1),
];
const SOURCES: [Ipv4Addr; 3] = [
    Ipv4Addr::new(10, 5, 0, 1),
    Ipv4Addr::new(10, 5, 0, 2),
    Ipv4Addr::new(10, 5, 0, 3),
];

fn group() -> impl Strategy<Value = Ipv4Addr> {
    prop::sample::select(GROUPS.to_vec())
}

fn sources() -> impl Strategy<Value = Vec<Ipv4Addr>> {
    prop::sample::subsequence(SOURCES.to_vec(), 0..=3)
}

fn message() -> impl Strategy<Value = IgmpMessage> {
    prop_oneof![
        4 => prop::collection::vec(
            (1u8..=6, group(), sources()).prop_map(|(kind, group, sources)| GroupRecord {
                kind: RecordType::from_u8(kind),
                group,
                sources,
            }),
            1..3,
        )
        .prop_map(|records| IgmpMessage::V3Report { records }),
        1 => group().prop_map(|group| IgmpMessage::V2Report { group }),
        1 => group().prop_map(|group| IgmpMessage::V1Report { group }),
        2 => group().prop_map(|group| IgmpMessage::V2Leave { group }),
        1 => (prop::option::of(group()), any::<bool>(), sources()).prop_map(|(g, s, sources)| {
            IgmpMessage::Query {
                max_resp_code: 10,
                group: g.unwrap_or(Ipv4Addr::UNSPECIFIED),
                v3: Some(QueryV3 { suppress: s, qrv: 2, qqic: 10, sources }),
            }
        }),
    ]
}

/// (host byte, delay in 100 ms, message, disable/enable toggle)
fn step() -> impl Strategy<Value = (u8, u16, IgmpMessage, bool)> {
    (1u8..6, 0u16..60, message(), prop::bool::weighted(0.05))
}

fn check(iface: &Interface, joined: &BTreeSet<SourceGroup>, now: Instant) {
    let memberships: BTreeSet<SourceGroup> = iface.memberships().into_iter().collect();
    assert_eq!(
        &memberships, joined,
        "the Join/Leave stream adds up to memberships()"
    );
    if iface.is_enabled() {
        let from_state: BTreeSet<SourceGroup> = iface
            .state(now)
            .groups
            .into_iter()
            .flat_map(|g| g.memberships)
            .collect();
        assert_eq!(
            memberships, from_state,
            "memberships() follows the group state"
        );
    }
    for sg in joined {
        if let Some(g) = sg.group {
            assert!(
                !(is_ssm(g) && sg.source.is_none()),
                "(*,G) in the SSM range: {sg}"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn join_leave_stream_is_consistent(
        steps in prop::collection::vec(step(), 1..60),
        version in 1u8..=3,
        explicit_tracking in any::<bool>(),
    ) {
        let start = Instant::now();
        let config = Config {
            version,
            explicit_tracking,
            query_interval: Duration::from_secs(10),
            query_response_interval: Duration::from_secs(2),
            ..Config::igmp()
        };
        let own = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 3));
        let mut iface = Interface::new(Family::Ipv4, IfIndex(1), own, config, start);
        let mut joined = BTreeSet::new();
        let apply = |iface: &mut Interface, joined: &mut BTreeSet<SourceGroup>| {
            while let Some(o) = iface.poll_output() {
                match o {
                    Output::Join(sg) => assert!(joined.insert(sg), "joined twice: {sg}"),
                    Output::Leave(sg) => assert!(joined.remove(&sg), "left unjoined: {sg}"),
                    Output::Send { payload, .. } => {
                        IgmpMessage::decode(&payload).expect("we send valid IGMP");
                    }
                }
            }
        };
        let mut now = start;
        apply(&mut iface, &mut joined);
        for (host, delay, msg, toggle) in steps {
            now += Duration::from_millis(u64::from(delay) * 100);
            while let Some(t) = iface.poll_timeout() {
                if t > now {
                    break;
                }
                iface.handle_timeout(t);
                apply(&mut iface, &mut joined);
                check(&iface, &joined, t);
            }
            if toggle {
                if iface.is_enabled() {
                    iface.disable();
                } else {
                    // MGM dropped our memberships during the ownership change.
                    joined.clear();
                    iface.enable();
                }
            }
            let source = IpAddr::V4(Ipv4Addr::new(10, 0, 0, host));
            iface.handle_packet(now, source, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 22)), &msg.encode());
            apply(&mut iface, &mut joined);
            check(&iface, &joined, now);
        }
        // Everything expires in the end (no host reports any more).
        let end = now + Duration::from_secs(600);
        while let Some(t) = iface.poll_timeout() {
            if t > end {
                break;
            }
            iface.handle_timeout(t);
            apply(&mut iface, &mut joined);
        }
        if iface.is_enabled() {
            prop_assert!(joined.is_empty(), "left over: {joined:?}");
        }
        prop_assert!(iface.state(end).groups.is_empty());
    }
}
