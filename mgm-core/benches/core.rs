//! Criterion benchmarks of the core's hot paths with 1k, 10k and 100k MFEs present:
//! membership add + delete, packet-arrival MFE creation, and a (*,G) join + leave touching k
//! MFEs of one group.
//!
//! Run: `cargo bench -p mgm-core --bench core -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use mgm_core::{
    Callbacks, ComponentId, Config, Family, IfIndex, InterfaceKey, KernelOp, LinkEvent, LinkInfo,
    MembershipFlags, Mgm, ProtocolHandle, ProtocolId, Route, SourceGroup, VifIndex, VifSet,
};

const SIZES: [usize; 3] = [1_000, 10_000, 100_000];
/// Sources per group in the background MFEs.
const PER_GROUP: usize = 10;

fn source(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32))
}

fn group(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0xef00_0000 + i as u32))
}

fn key(i: u32) -> InterfaceKey {
    InterfaceKey::link(IfIndex(i), Family::Ipv4)
}

fn drain(mgm: &mut Mgm) {
    while mgm.poll_action().is_some() {}
}

/// A core with eth1 (iif, VIF 0) .. eth4 owned by one protocol handling no callbacks (MFEs
/// install at once), `n` MFEs in groups of `PER_GROUP` sources, plus `k` MFEs of group
/// 239.255.0.1 (the hot group).
fn world(n: usize, k: usize) -> (Mgm, ProtocolHandle, Instant) {
    let now = Instant::now();
    let mut mgm = Mgm::new(Config::default());
    for i in 1..=4 {
        mgm.handle_link(
            now,
            LinkEvent::Link(LinkInfo {
                ifindex: IfIndex(i),
                name: format!("eth{i}"),
                up: true,
                multicast: true,
                point_to_point: false,
                loopback: false,
                mtu: 1500,
            }),
        );
    }
    let p = mgm
        .register_protocol(ProtocolId::STATIC, ComponentId(0), Callbacks::NONE)
        .unwrap();
    for i in 1..=4 {
        mgm.take_interface_ownership(now, p, key(i)).unwrap();
    }
    // Background receivers so that MFEs carry outgoing interfaces.
    mgm.add_group_membership(
        now,
        p,
        SourceGroup::star_star(Family::Ipv4),
        key(2),
        MembershipFlags::JOIN_STATE,
        None,
    )
    .unwrap();
    let route = Some(route());
    for i in 0..n.saturating_sub(k) {
        let g = group(1 + i / PER_GROUP);
        mgm.handle_new_packet(now, Family::Ipv4, source(i), g, VifIndex(0), route.clone());
    }
    for i in 0..k {
        mgm.handle_new_packet(
            now,
            Family::Ipv4,
            source(i),
            hot(),
            VifIndex(0),
            route.clone(),
        );
    }
    drain(&mut mgm);
    assert_eq!(mgm.mfe_count(), n.max(k));
    (mgm, p, now)
}

fn hot() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(239, 255, 0, 1))
}

fn route() -> Route {
    Route {
        ifindex: IfIndex(1),
        gateway: None,
        prefix: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
        prefix_len: 8,
        protocol: 2,
    }
}

fn membership_add_delete(c: &mut Criterion) {
    let mut bench = c.benchmark_group("membership_add_delete_sg");
    for n in SIZES {
        let (mut mgm, p, now) = world(n, 0);
        // An (S,G) join on eth3 for an existing MFE in the middle of the table, then its
        // deletion: two MFE updates each.
        let i = n / 2;
        let scope = SourceGroup::sg(source(i), group(1 + i / PER_GROUP)).unwrap();
        let j = MembershipFlags::JOIN_STATE;
        bench.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                mgm.add_group_membership(now, p, black_box(scope), key(3), j, None)
                    .unwrap();
                mgm.delete_group_membership(now, p, black_box(scope), key(3), j, None)
                    .unwrap();
                drain(&mut mgm);
            })
        });
    }
    bench.finish();
}

fn packet_arrival(c: &mut Criterion) {
    let mut bench = c.benchmark_group("packet_arrival_mfe_creation");
    for n in SIZES {
        let (mut mgm, _, now) = world(n, 0);
        let (s, g) = (source(n + 7), group(1 + n / PER_GROUP / 2));
        let route = Some(route());
        // The refused-AddMfe path forgets the entry again, keeping the table at n MFEs.
        let forget = KernelOp::AddMfe {
            family: Family::Ipv4,
            source: s,
            group: g,
            iif: VifIndex(0),
            oifs: VifSet::EMPTY,
        };
        bench.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                mgm.handle_new_packet(now, Family::Ipv4, s, g, VifIndex(0), route.clone());
                drain(&mut mgm);
                mgm.handle_kernel_error(now, &forget, mgm_core::ErrorCode::NotEnoughMemory);
                drain(&mut mgm);
            })
        });
    }
    bench.finish();
}

fn star_g_join(c: &mut Criterion) {
    let mut bench = c.benchmark_group("star_g_join_leave_k100");
    let j = MembershipFlags::JOIN_STATE;
    let scope = SourceGroup::star_g(hot()).unwrap();
    for n in SIZES {
        let (mut mgm, p, now) = world(n, 100);
        bench.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| {
                mgm.add_group_membership(now, p, scope, key(4), j, None)
                    .unwrap();
                mgm.delete_group_membership(now, p, scope, key(4), j, None)
                    .unwrap();
                drain(&mut mgm);
            })
        });
    }
    bench.finish();
    let mut bench = c.benchmark_group("star_g_join_leave_n100k");
    for k in [10, 100, 1000] {
        let (mut mgm, p, now) = world(100_000, k);
        bench.bench_with_input(BenchmarkId::from_parameter(k), &k, |b, _| {
            b.iter(|| {
                mgm.add_group_membership(now, p, scope, key(4), j, None)
                    .unwrap();
                mgm.delete_group_membership(now, p, scope, key(4), j, None)
                    .unwrap();
                drain(&mut mgm);
            })
        });
    }
    bench.finish();
}

criterion_group!(benches, membership_add_delete, packet_arrival, star_g_join);
criterion_main!(benches);
