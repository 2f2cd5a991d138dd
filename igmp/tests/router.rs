//! Timing behaviour of the router side, with a fake clock.

mod common;

use std::time::Duration;

use common::*;
use igmp::packet::igmp::IgmpMessage;
use igmp::packet::mld::MldMessage;
use igmp::packet::{QueryV3, RecordType};
use igmp::{Config, FilterMode, Output};

const HOST: &str = "10.0.0.10";
const HOST2: &str = "10.0.0.11";

#[test]
fn startup_queries_then_query_interval() {
    let mut r = Router::igmp("10.0.0.1", Config::igmp());
    let first = igmp_sent(&r.drain());
    assert_eq!(first.len(), 1);
    let (dest, msg) = &first[0];
    assert_eq!(*dest, ip("224.0.0.1"));
    // IGMPv3 general query: 10 s = 100 tenths, QRV 2, QQIC 125.
    assert_eq!(
        *msg,
        IgmpMessage::Query {
            max_resp_code: 100,
            group: v4("0.0.0.0"),
            v3: Some(QueryV3 {
                suppress: false,
                qrv: 2,
                qqic: 125,
                sources: vec![]
            }),
        }
    );
    // Startup Query Count 2 at the Startup Query Interval (QI / 4), then every QI.
    let times: Vec<_> = r.advance(secs(400)).into_iter().map(|(t, _)| t).collect();
    assert_eq!(times, [ms(31_250), ms(156_250), ms(281_250)]);
    assert!(r.iface.is_querier());
}

#[test]
fn v2_report_joins_star_g() {
    let mut r = Router::igmp("10.0.0.1", short(2));
    r.drain();
    let out = r.receive(HOST, &v2_report("239.1.1.1"));
    assert_eq!(out, [Output::Join(star_g("239.1.1.1"))]);
    // A repeated report changes nothing.
    assert_eq!(r.receive(HOST, &v2_report("239.1.1.1")), []);
    // Link-local groups are never forwarded: no membership.
    assert_eq!(r.receive(HOST, &v2_report("224.0.0.251")), []);
    let state = r.iface.state(r.now);
    assert_eq!(state.groups.len(), 1);
    assert_eq!(state.groups[0].mode, FilterMode::Exclude);
    assert_eq!(state.groups[0].compat_version, 2);
    assert_eq!(state.groups[0].filter_timer_ms, Some(22_000));
}

#[test]
fn v2_leave_sends_last_member_queries_then_leaves() {
    let mut r = Router::igmp("10.0.0.1", short(2));
    r.drain();
    r.receive(HOST, &v2_report("239.1.1.1"));
    r.advance(secs(3));
    let out = r.receive(HOST, &v2_leave("239.1.1.1"));
    let q = IgmpMessage::Query {
        max_resp_code: 10,
        group: v4("239.1.1.1"),
        v3: None,
    };
    assert_eq!(igmp_sent(&out), [(ip("239.1.1.1"), q.clone())]);
    assert_eq!(memberships(&out), []);
    // Second query after LMQI, Leave after LMQT = LMQI x LMQC = 2 s.
    let later = r.advance(secs(5));
    let specific: Vec<_> = later
        .iter()
        .filter(|(_, o)| matches!(o, Output::Send { destination, .. } if *destination == ip("239.1.1.1")))
        .map(|(t, o)| (*t, igmp_sent([o])[0].1.clone()))
        .collect();
    assert_eq!(specific, [(secs(4), q)]);
    let leaves: Vec<_> = later
        .iter()
        .filter(|(_, o)| !matches!(o, Output::Send { .. }))
        .collect();
    assert_eq!(leaves, [&(secs(5), Output::Leave(star_g("239.1.1.1")))]);
    assert!(r.iface.state(r.now).groups.is_empty());
}

#[test]
fn report_during_last_member_queries_keeps_the_group() {
    let mut r = Router::igmp("10.0.0.1", short(3));
    r.drain();
    r.receive(HOST, &v3_report(RecordType::IsExclude, "239.1.1.1", &[]));
    r.receive(HOST2, &v3_report(RecordType::IsExclude, "239.1.1.1", &[]));
    let out = r.receive(HOST, &v3_report(RecordType::ToInclude, "239.1.1.1", &[]));
    let sent = igmp_sent(&out);
    assert_eq!(sent.len(), 1);
    assert!(matches!(&sent[0].1, IgmpMessage::Query { v3: Some(v3), .. } if !v3.suppress));
    r.advance(ms(500));
    // The other host answers the query: the filter timer goes back to GMI.
    assert_eq!(
        r.receive(HOST2, &v3_report(RecordType::IsExclude, "239.1.1.1", &[])),
        []
    );
    let later = r.advance(secs(30));
    // The retransmission carries the S flag (timer above LMQT), and no Leave comes until the
    // group membership interval has passed without reports.
    let retransmit = igmp_sent(later.iter().map(|(_, o)| o).take(1));
    assert!(matches!(&retransmit[0].1, IgmpMessage::Query { v3: Some(v3), .. } if v3.suppress));
    let leaves: Vec<_> = later
        .iter()
        .filter(|(_, o)| !matches!(o, Output::Send { .. }))
        .collect();
    assert_eq!(leaves, [&(ms(22_500), Output::Leave(star_g("239.1.1.1")))]);
}

#[test]
fn membership_expires_after_group_membership_interval() {
    let mut r = Router::igmp("10.0.0.1", Config::igmp());
    r.drain();
    r.advance(secs(100));
    assert_eq!(
        r.receive(HOST, &v2_report("239.2.2.2")),
        [Output::Join(star_g("239.2.2.2"))]
    );
    let later = r.advance(secs(300));
    let leaves: Vec<_> = later
        .iter()
        .filter(|(_, o)| !matches!(o, Output::Send { .. }))
        .collect();
    // GMI = 2 x 125 s + 10 s = 260 s after the report.
    assert_eq!(leaves, [&(secs(360), Output::Leave(star_g("239.2.2.2")))]);
}

#[test]
fn querier_election_and_takeover() {
    let mut a = Router::igmp("10.0.0.1", short(3));
    let mut b = Router::new(mgm_core::Family::Ipv4, "10.0.0.2", short(3), a.start);
    // Both start as querier and send a startup query; each hears the other's.
    let qa = a.drain();
    let qb = b.drain();
    assert_eq!(igmp_sent(&qa).len(), 1);
    assert_eq!(igmp_sent(&qb).len(), 1);
    for o in &qb {
        if let Output::Send { payload, .. } = o {
            a.receive("10.0.0.2", payload);
        }
    }
    for o in &qa {
        if let Output::Send { payload, .. } = o {
            b.receive("10.0.0.1", payload);
        }
    }
    assert!(a.iface.is_querier());
    assert!(!b.iface.is_querier());
    assert_eq!(b.iface.state(b.now).querier, Some(ip("10.0.0.1")));
    // A keeps querying and B keeps hearing it: B stays silent for a long time.
    for _ in 0..10 {
        for (_, o) in a.advance(secs(10)) {
            if let Output::Send { payload, .. } = o {
                b.now = a.now;
                b.receive("10.0.0.1", &payload);
            }
        }
        let b_out = b.advance(a.now - b.now);
        assert_eq!(
            igmp_sent(b_out.iter().map(|(_, o)| o)),
            [],
            "the non-querier sends nothing"
        );
    }
    assert!(!b.iface.is_querier());
    // A stops. B takes over after the Other Querier Present Interval (2 x 10 + 1 = 21 s)
    // counted from the last query it heard.
    let last_heard = b.now - b.start - (b.now - a.now);
    let out = b.advance(secs(60));
    let first = out
        .iter()
        .find(|(_, o)| matches!(o, Output::Send { .. }))
        .expect("B queries");
    assert_eq!(first.0, last_heard + secs(21));
    assert!(b.iface.is_querier());
    assert_eq!(b.iface.state(b.now).querier, Some(ip("10.0.0.2")));
}

#[test]
fn higher_address_query_is_ignored_by_the_querier() {
    let mut a = Router::igmp("10.0.0.1", short(2));
    a.drain();
    let q = IgmpMessage::Query {
        max_resp_code: 100,
        group: v4("0.0.0.0"),
        v3: None,
    }
    .encode();
    a.receive("10.0.0.9", &q);
    assert!(a.iface.is_querier());
    a.receive("10.0.0.0", &q);
    assert!(!a.iface.is_querier());
}

#[test]
fn ssm_include_join_gives_source_group_only() {
    let mut r = Router::igmp("10.0.0.1", short(3));
    r.drain();
    // Any-source joins in 232/8 are ignored, whatever the version.
    assert_eq!(r.receive(HOST, &v2_report("232.1.1.1")), []);
    assert_eq!(
        r.receive(HOST, &v3_report(RecordType::IsExclude, "232.1.1.1", &[])),
        []
    );
    assert_eq!(
        r.receive(HOST, &v3_report(RecordType::ToExclude, "232.1.1.1", &[])),
        []
    );
    let out = r.receive(
        HOST,
        &v3_report(RecordType::AllowNew, "232.1.1.1", &["10.1.0.5"]),
    );
    assert_eq!(out, [Output::Join(sg("10.1.0.5", "232.1.1.1"))]);
    assert_eq!(r.iface.memberships(), [sg("10.1.0.5", "232.1.1.1")]);
    // Leaves of any-source kind are ignored too.
    assert_eq!(r.receive(HOST, &v2_leave("232.1.1.1")), []);
    // BLOCK queries the source, then it times out after LMQT.
    let out = r.receive(
        HOST,
        &v3_report(RecordType::BlockOld, "232.1.1.1", &["10.1.0.5"]),
    );
    let sent = igmp_sent(&out);
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, ip("232.1.1.1"));
    assert!(
        matches!(&sent[0].1, IgmpMessage::Query { v3: Some(v3), .. } if v3.sources == [v4("10.1.0.5")])
    );
    let later = r.advance(secs(3));
    let leaves: Vec<_> = later
        .iter()
        .filter(|(_, o)| !matches!(o, Output::Send { .. }))
        .collect();
    assert_eq!(
        leaves,
        [&(secs(2), Output::Leave(sg("10.1.0.5", "232.1.1.1")))]
    );
}

#[test]
fn block_one_of_two_sources() {
    let mut r = Router::igmp("10.0.0.1", short(3));
    r.drain();
    let out = r.receive(
        HOST,
        &v3_report(
            RecordType::IsInclude,
            "239.3.3.3",
            &["10.1.0.1", "10.1.0.2"],
        ),
    );
    assert_eq!(
        out,
        [
            Output::Join(sg("10.1.0.1", "239.3.3.3")),
            Output::Join(sg("10.1.0.2", "239.3.3.3"))
        ]
    );
    r.receive(
        HOST,
        &v3_report(RecordType::BlockOld, "239.3.3.3", &["10.1.0.2"]),
    );
    let later = r.advance(secs(5));
    assert_eq!(
        memberships(later.iter().map(|(_, o)| o)),
        [Output::Leave(sg("10.1.0.2", "239.3.3.3"))]
    );
    assert_eq!(r.iface.memberships(), [sg("10.1.0.1", "239.3.3.3")]);
}

#[test]
fn exclude_to_include_is_make_before_break() {
    let mut r = Router::igmp("10.0.0.1", short(3));
    r.drain();
    assert_eq!(
        r.receive(HOST, &v3_report(RecordType::ToExclude, "239.4.4.4", &[])),
        [Output::Join(star_g("239.4.4.4"))]
    );
    let out = r.receive(
        HOST,
        &v3_report(RecordType::ToInclude, "239.4.4.4", &["10.1.0.1"]),
    );
    assert_eq!(memberships(&out), []);
    // After LMQT the filter timer expires: INCLUDE {10.1.0.1}.
    let later = r.advance(secs(3));
    assert_eq!(
        memberships(later.iter().map(|(_, o)| o)),
        [
            Output::Join(sg("10.1.0.1", "239.4.4.4")),
            Output::Leave(star_g("239.4.4.4"))
        ]
    );
    let state = r.iface.state(r.now);
    assert_eq!(state.groups[0].mode, FilterMode::Include);
}

#[test]
fn v1_host_compatibility() {
    let mut r = Router::igmp("10.0.0.1", short(3));
    r.drain();
    assert_eq!(
        r.receive(HOST, &v1_report("239.5.5.5")),
        [Output::Join(star_g("239.5.5.5"))]
    );
    assert_eq!(r.iface.state(r.now).groups[0].compat_version, 1);
    // IGMPv1 hosts present: Leaves are ignored and BLOCK / TO_EX sources too.
    assert_eq!(r.receive(HOST2, &v2_leave("239.5.5.5")), []);
    r.receive(
        HOST2,
        &v3_report(RecordType::ToExclude, "239.5.5.5", &["10.1.0.1"]),
    );
    assert_eq!(r.iface.state(r.now).groups[0].sources, []);
    assert_eq!(
        r.receive(
            HOST2,
            &v3_report(RecordType::BlockOld, "239.5.5.5", &["10.1.0.1"])
        ),
        []
    );
    // The group lives for the GMI (22 s) since the last report, with no specific queries.
    let later = r.advance(secs(30));
    assert!(later.iter().all(
        |(_, o)| !matches!(o, Output::Send { destination, .. } if *destination == ip("239.5.5.5"))
    ));
    assert_eq!(
        memberships(later.iter().map(|(_, o)| o)),
        [Output::Leave(star_g("239.5.5.5"))]
    );
    assert_eq!(
        later
            .iter()
            .find(|(_, o)| matches!(o, Output::Leave(_)))
            .unwrap()
            .0,
        secs(22)
    );
    // Once the v1 host is gone (Older Host Present timer expired), Leaves work again.
    r.receive(HOST, &v2_report("239.5.5.5"));
    assert_eq!(r.iface.state(r.now).groups[0].compat_version, 2);
    let out = r.receive(HOST, &v2_leave("239.5.5.5"));
    assert_eq!(igmp_sent(&out).len(), 1);
}

#[test]
fn explicit_tracking_leaves_at_once() {
    let config = Config {
        explicit_tracking: true,
        ..short(3)
    };
    let mut r = Router::igmp("10.0.0.1", config);
    r.drain();
    assert_eq!(
        r.receive(HOST, &v3_report(RecordType::ToExclude, "239.6.6.6", &[])),
        [Output::Join(star_g("239.6.6.6"))]
    );
    assert_eq!(
        r.receive(HOST2, &v3_report(RecordType::ToExclude, "239.6.6.6", &[])),
        []
    );
    assert_eq!(r.iface.state(r.now).groups[0].hosts.len(), 2);
    // The first host leaves: the other is known to remain; no query, no Leave.
    assert_eq!(
        r.receive(HOST, &v3_report(RecordType::ToInclude, "239.6.6.6", &[])),
        []
    );
    // The last host leaves: Leave at once, no query.
    assert_eq!(
        r.receive(HOST2, &v3_report(RecordType::ToInclude, "239.6.6.6", &[])),
        [Output::Leave(star_g("239.6.6.6"))]
    );
    assert!(r.iface.state(r.now).groups.is_empty());
}

#[test]
fn explicit_tracking_prunes_sources_at_once() {
    let config = Config {
        explicit_tracking: true,
        ..short(3)
    };
    let mut r = Router::igmp("10.0.0.1", config);
    r.drain();
    r.receive(
        HOST,
        &v3_report(RecordType::AllowNew, "232.7.7.7", &["10.1.0.1", "10.1.0.2"]),
    );
    r.receive(
        HOST2,
        &v3_report(RecordType::AllowNew, "232.7.7.7", &["10.1.0.2"]),
    );
    // Host 1 blocks both: 10.1.0.1 is wanted by nobody, 10.1.0.2 still by host 2.
    let out = r.receive(
        HOST,
        &v3_report(RecordType::BlockOld, "232.7.7.7", &["10.1.0.1", "10.1.0.2"]),
    );
    assert_eq!(out, [Output::Leave(sg("10.1.0.1", "232.7.7.7"))]);
    let out = r.receive(
        HOST2,
        &v3_report(RecordType::BlockOld, "232.7.7.7", &["10.1.0.2"]),
    );
    assert_eq!(out, [Output::Leave(sg("10.1.0.2", "232.7.7.7"))]);
}

#[test]
fn explicit_tracking_falls_back_to_queries_with_old_hosts() {
    let config = Config {
        explicit_tracking: true,
        ..short(3)
    };
    let mut r = Router::igmp("10.0.0.1", config);
    r.drain();
    r.receive(HOST, &v2_report("239.8.8.8"));
    let out = r.receive(HOST, &v2_leave("239.8.8.8"));
    assert_eq!(memberships(&out), []);
    assert_eq!(igmp_sent(&out).len(), 1);
    let later = r.advance(secs(3));
    assert_eq!(
        memberships(later.iter().map(|(_, o)| o)),
        [Output::Leave(star_g("239.8.8.8"))]
    );
}

#[test]
fn disable_then_enable_re_emits_joins() {
    let mut r = Router::igmp("10.0.0.1", short(3));
    r.drain();
    r.receive(HOST, &v2_report("239.1.1.1"));
    r.receive(
        HOST,
        &v3_report(RecordType::IsInclude, "239.2.2.2", &["10.1.0.1"]),
    );
    r.receive(HOST, &v2_report("239.3.3.3"));
    r.iface.disable();
    // While disabled the protocol runs but tells MGM nothing.
    assert_eq!(r.receive(HOST, &v2_report("239.9.9.9")), []);
    let out = r.receive(HOST, &v2_leave("239.3.3.3"));
    assert_eq!(memberships(&out), []);
    let later = r.advance(secs(3));
    assert_eq!(memberships(later.iter().map(|(_, o)| o)), []);
    assert_eq!(r.iface.state(r.now).groups.len(), 3);
    r.iface.enable();
    assert_eq!(
        r.drain(),
        [
            Output::Join(star_g("239.1.1.1")),
            Output::Join(sg("10.1.0.1", "239.2.2.2")),
            Output::Join(star_g("239.9.9.9")),
        ]
    );
    // Back to normal.
    assert!(r.iface.is_enabled());
    assert_eq!(
        r.receive(HOST, &v2_report("239.4.4.4")),
        [Output::Join(star_g("239.4.4.4"))]
    );
    r.receive(HOST, &v2_leave("239.9.9.9"));
    let later = r.advance(secs(3));
    assert_eq!(
        memberships(later.iter().map(|(_, o)| o)),
        [Output::Leave(star_g("239.9.9.9"))]
    );
}

#[test]
fn non_querier_lowers_timers_on_the_queriers_group_query() {
    let mut r = Router::igmp("10.0.0.2", short(2));
    r.drain();
    let general = IgmpMessage::Query {
        max_resp_code: 20,
        group: v4("0.0.0.0"),
        v3: None,
    };
    r.receive("10.0.0.1", &general.encode());
    assert!(!r.iface.is_querier());
    r.receive(HOST, &v2_report("239.1.1.1"));
    // The leave makes the non-querier send nothing and keep the timer...
    let out = r.receive(HOST, &v2_leave("239.1.1.1"));
    assert_eq!(out, []);
    assert_eq!(r.iface.state(r.now).groups[0].filter_timer_ms, Some(22_000));
    // ...until the querier's group-specific query arrives: then LMQT.
    let specific = IgmpMessage::Query {
        max_resp_code: 10,
        group: v4("239.1.1.1"),
        v3: None,
    };
    r.receive("10.0.0.1", &specific.encode());
    assert_eq!(r.iface.state(r.now).groups[0].filter_timer_ms, Some(2_000));
    let later = r.advance(secs(3));
    assert_eq!(
        memberships(later.iter().map(|(_, o)| o)),
        [Output::Leave(star_g("239.1.1.1"))]
    );
}

#[test]
fn non_querier_adopts_querier_robustness_and_interval() {
    let mut r = Router::igmp("10.0.0.2", short(3));
    r.drain();
    let q = IgmpMessage::Query {
        max_resp_code: 20,
        group: v4("0.0.0.0"),
        v3: Some(QueryV3 {
            suppress: false,
            qrv: 3,
            qqic: 20,
            sources: vec![],
        }),
    };
    r.receive("10.0.0.1", &q.encode());
    let state = r.iface.state(r.now);
    assert_eq!(state.robustness, 3);
    assert_eq!(state.query_interval_ms, 20_000);
    // GMI = 3 x 20 + 2 = 62 s.
    r.receive(HOST, &v2_report("239.1.1.1"));
    assert_eq!(r.iface.state(r.now).groups[0].filter_timer_ms, Some(62_000));
}

#[test]
fn malformed_and_foreign_packets_are_ignored() {
    let mut r = Router::igmp("10.0.0.1", short(3));
    r.drain();
    let mut bad = v2_report("239.1.1.1");
    bad[2] ^= 0xff;
    assert_eq!(r.receive(HOST, &bad), []);
    assert_eq!(r.receive(HOST, &[0x11]), []);
    assert_eq!(r.receive("fe80::1", &v2_report("239.1.1.1")), []);
    assert!(r.iface.state(r.now).groups.is_empty());
}

// ---- MLD ----

#[test]
fn mld_startup_query_and_v1_listener() {
    let mut r = Router::mld(
        "fe80::1",
        Config {
            version: 1,
            ..short(1)
        },
    );
    let sent = mld_sent(&r.drain());
    assert_eq!(
        sent,
        [(
            ip("ff02::1"),
            MldMessage::Query {
                max_resp_code: 2000,
                group: v6("::"),
                v2: None
            }
        )]
    );
    let report = MldMessage::V1Report {
        group: v6("ff05::1:3"),
    }
    .encode();
    // Not from a link-local address: dropped.
    assert_eq!(r.receive("fd00::2", &report), []);
    assert_eq!(
        r.receive("fe80::2", &report),
        [Output::Join(star_g("ff05::1:3"))]
    );
    // Link-scope groups need no membership; other ICMPv6 types are ignored.
    assert_eq!(
        r.receive(
            "fe80::2",
            &MldMessage::V1Report {
                group: v6("ff02::fb")
            }
            .encode()
        ),
        []
    );
    assert_eq!(r.receive("fe80::2", &[135, 0, 0, 0, 0, 0, 0, 0]), []);
    let out = r.receive(
        "fe80::2",
        &MldMessage::V1Done {
            group: v6("ff05::1:3"),
        }
        .encode(),
    );
    assert_eq!(
        mld_sent(&out),
        [(
            ip("ff05::1:3"),
            MldMessage::Query {
                max_resp_code: 1000,
                group: v6("ff05::1:3"),
                v2: None
            }
        )]
    );
    let later = r.advance(secs(3));
    let leaves: Vec<_> = later
        .iter()
        .filter(|(_, o)| !matches!(o, Output::Send { .. }))
        .collect();
    assert_eq!(leaves, [&(secs(2), Output::Leave(star_g("ff05::1:3")))]);
}

#[test]
fn mld_v2_listener_ssm_and_querier_election() {
    let mut r = Router::mld(
        "fe80::5",
        Config {
            version: 2,
            ..short(2)
        },
    );
    let sent = mld_sent(&r.drain());
    assert!(
        matches!(&sent[0].1, MldMessage::Query { v2: Some(v2), max_resp_code: 2000, .. } if v2.qrv == 2 && v2.qqic == 10)
    );
    // SSM: EXCLUDE ignored, INCLUDE gives (S,G).
    let ex = mld2_report(RecordType::IsExclude, "ff3e::8000:1", &[]);
    assert_eq!(r.receive("fe80::2", &ex), []);
    let inc = mld2_report(RecordType::IsInclude, "ff3e::8000:1", &["fd00::9"]);
    assert_eq!(
        r.receive("fe80::2", &inc),
        [Output::Join(sg("fd00::9", "ff3e::8000:1"))]
    );
    // ASM.
    let asm = mld2_report(RecordType::ToExclude, "ff0e::42", &[]);
    assert_eq!(
        r.receive("fe80::2", &asm),
        [Output::Join(star_g("ff0e::42"))]
    );
    // A querier with a lower link-local address wins.
    let q = MldMessage::Query {
        max_resp_code: 2000,
        group: v6("::"),
        v2: None,
    }
    .encode();
    r.receive("fe80::9", &q);
    assert!(r.iface.is_querier());
    r.receive("fe80::4", &q);
    assert!(!r.iface.is_querier());
    assert_eq!(r.iface.state(r.now).querier, Some(ip("fe80::4")));
}

#[test]
fn state_serializes() {
    let config = Config {
        explicit_tracking: true,
        ..short(3)
    };
    let mut r = Router::igmp("10.0.0.1", config);
    r.drain();
    r.receive(
        HOST,
        &v3_report(RecordType::IsInclude, "239.1.1.1", &["10.1.0.1"]),
    );
    let json = serde_json::to_value(r.iface.state(r.now)).unwrap();
    assert_eq!(json["is_querier"], true);
    assert_eq!(json["groups"][0]["mode"], "include");
    assert_eq!(json["groups"][0]["sources"][0]["timer_ms"], 22_000);
    assert_eq!(json["groups"][0]["hosts"][0]["host"], "10.0.0.10");
}

#[test]
fn own_address_change_wins_the_election() {
    let mut r = Router::igmp("10.0.0.5", short(2));
    r.drain();
    let q = IgmpMessage::Query {
        max_resp_code: 100,
        group: v4("0.0.0.0"),
        v3: None,
    }
    .encode();
    r.receive("10.0.0.3", &q);
    assert!(!r.iface.is_querier());
    // Still higher than the querier: nothing changes.
    r.iface.set_own_address(r.now, ip("10.0.0.4"));
    assert!(!r.iface.is_querier());
    assert_eq!(r.drain(), []);
    // Lower: querier at once, with a general query.
    r.iface.set_own_address(r.now, ip("10.0.0.2"));
    assert!(r.iface.is_querier());
    let sent = igmp_sent(&r.drain());
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].0, ip("224.0.0.1"));
}

#[test]
fn extreme_config_values_neither_panic_nor_spin() {
    let config = Config {
        version: 9,
        robustness: 255,
        query_interval: Duration::MAX,
        query_response_interval: Duration::ZERO,
        last_member_query_interval: Duration::ZERO,
        last_member_query_count: Some(255),
        startup_query_interval: Some(Duration::ZERO),
        startup_query_count: Some(255),
        other_querier_present_interval: Some(Duration::MAX),
        group_membership_interval: Some(Duration::MAX),
        explicit_tracking: false,
    };
    let mut r = Router::igmp("10.0.0.1", config);
    assert_eq!(r.iface.state(r.now).version, 3);
    r.receive(HOST, &v2_report("239.1.1.1"));
    r.receive(HOST, &v2_leave("239.1.1.1"));
    let q = IgmpMessage::Query {
        max_resp_code: 1,
        group: v4("0.0.0.0"),
        v3: None,
    }
    .encode();
    r.receive("10.0.0.0", &q);
    // 255 startup queries 100 ms apart and 255 group queries 100 ms apart: bounded work.
    let out = r.advance(secs(60));
    assert!(out.len() < 1000, "{}", out.len());
    let zero = Config {
        query_interval: Duration::ZERO,
        ..Config::igmp()
    };
    let mut r = Router::igmp("10.0.0.1", zero);
    // Query Interval raised to 1 s: about 60 queries a minute, not a spin.
    let out = r.advance(secs(60));
    assert!(out.len() <= 62, "{}", out.len());
}
