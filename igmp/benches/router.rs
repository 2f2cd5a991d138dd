//! Cost of the router side per packet: report in -> Join out, the steady-state refresh, and
//! the timer scan with many groups.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use igmp::packet::igmp::IgmpMessage;
use igmp::packet::{GroupRecord, RecordType};
use igmp::{Config, Interface, Output};
use mgm_core::{Family, IfIndex};

fn report(kind: RecordType, group: Ipv4Addr, sources: Vec<Ipv4Addr>) -> Vec<u8> {
    IgmpMessage::V3Report {
        records: vec![GroupRecord {
            kind,
            group,
            sources,
        }],
    }
    .encode()
}

fn interface(now: Instant, explicit_tracking: bool) -> Interface {
    let config = Config {
        explicit_tracking,
        ..Config::igmp()
    };
    let mut iface = Interface::new(
        Family::Ipv4,
        IfIndex(2),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        config,
        now,
    );
    while iface.poll_output().is_some() {}
    iface
}

fn bench(c: &mut Criterion) {
    let host = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 9));
    let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 22));
    let group = Ipv4Addr::new(239, 1, 2, 3);
    let join = report(RecordType::ToExclude, group, vec![]);
    let leave = report(RecordType::ToInclude, group, vec![]);

    // A join and a leave (explicit tracking): each produces one Join / Leave.
    c.bench_function("v3 join + leave (explicit tracking), per pair", |b| {
        let now = Instant::now();
        let mut iface = interface(now, true);
        b.iter(|| {
            iface.handle_packet(now, host, dst, black_box(&join));
            assert!(matches!(iface.poll_output(), Some(Output::Join(_))));
            iface.handle_packet(now, host, dst, black_box(&leave));
            assert!(matches!(iface.poll_output(), Some(Output::Leave(_))));
        })
    });

    // The steady state: a current-state report for a group that exists, with 1000 groups.
    c.bench_function("v3 IS_EX refresh, 1000 groups", |b| {
        let now = Instant::now();
        let mut iface = interface(now, false);
        for i in 0..1000u32 {
            let g = Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 2, 0, 0)) + i);
            iface.handle_packet(now, host, dst, &report(RecordType::IsExclude, g, vec![]));
        }
        while iface.poll_output().is_some() {}
        let refresh = report(RecordType::IsExclude, Ipv4Addr::new(239, 2, 1, 0), vec![]);
        b.iter(|| {
            iface.handle_packet(now, host, dst, black_box(&refresh));
            assert!(iface.poll_output().is_none());
        })
    });

    c.bench_function("poll_timeout, 1000 groups", |b| {
        let now = Instant::now();
        let mut iface = interface(now, false);
        for i in 0..1000u32 {
            let g = Ipv4Addr::from(u32::from(Ipv4Addr::new(239, 2, 0, 0)) + i);
            let s = Ipv4Addr::new(10, 1, 0, (i % 250) as u8 + 1);
            iface.handle_packet(now, host, dst, &report(RecordType::IsInclude, g, vec![s]));
        }
        b.iter(|| black_box(iface.poll_timeout()));
        assert!(iface
            .poll_timeout()
            .is_some_and(|t| t > now + Duration::from_secs(1)));
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
