//! Costs of the kernel adapters: the pure decoders, and (as root, inside a throwaway network
//! namespace) the multicast routing socket's system calls and the rtnetlink MFC dump.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use criterion::{criterion_group, criterion_main, Criterion};
use mgm_core::{Family, IfIndex, VifIndex, VifSet};
use netlink::dump::{mfc_dump, parse_ipmr_link};
use netlink::link::Rtnl;
use netlink::mrt::MrtSocket;
use netlink::upcall::{decode_v4, decode_v6};

const NOCACHE_V4: [u8; 28] = [
    0x45, 0x00, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, // IP header start
    0x01, 0x00, 0x03, 0x00, // im_msgtype NOCACHE, im_mbz, im_vif 3, im_vif_hi
    10, 1, 0, 2, 239, 1, 2, 3, // im_src, im_dst
    0x01, 0, 0, 0, 0, 0, 0, 0, // igmphdr
];

fn decoders(c: &mut Criterion) {
    let mut v6 = vec![0u8, 1, 2, 0, 0, 0, 0, 0];
    v6.extend_from_slice(&[0xfd; 16]);
    v6.extend_from_slice(&[0xff; 16]);
    c.bench_function("decode_v4 NOCACHE", |b| {
        b.iter(|| decode_v4(black_box(&NOCACHE_V4)))
    });
    c.bench_function("decode_v6 NOCACHE", |b| {
        b.iter(|| decode_v6(black_box(&v6)))
    });
    let mut ipmr = vec![128u8];
    ipmr.extend_from_slice(&[0; 15]);
    ipmr.extend_from_slice(&[12, 0, 26 | 0x80, 0x80, 8, 0, 1, 0, 253, 0, 0, 0]);
    c.bench_function("parse_ipmr_link", |b| {
        b.iter(|| parse_ipmr_link(black_box(&ipmr)))
    });
}

/// A namespace for the kernel benches, deleted on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn ip(ns: &str, args: &str) {
    let ok = Command::new("ip")
        .args(["-n", ns])
        .args(args.split_whitespace())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "ip -n {ns} {args}");
}

fn kernel(c: &mut Criterion) {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("kernel benches skipped: need root");
        return;
    }
    let ns = Netns(format!("mgmb-{}", std::process::id()));
    assert!(Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .unwrap()
        .success());
    ip(&ns.0, "link add name a0 type veth peer name a1");
    ip(&ns.0, "link set a0 up");
    ip(&ns.0, "link set a1 up");
    let ifindex = |name: &str| -> u32 {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.0,
                "cat",
                &format!("/sys/class/net/{name}/ifindex"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let (a0, a1) = (ifindex("a0"), ifindex("a1"));
    // This bench process's main thread moves into the namespace for good.
    let file = std::fs::File::open(format!("/run/netns/{}", ns.0)).unwrap();
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();

    let sock = MrtSocket::open(Family::Ipv4, None).unwrap();
    sock.add_vif(VifIndex(0), IfIndex(a0)).unwrap();
    sock.add_vif(VifIndex(1), IfIndex(a1)).unwrap();
    let s = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    let mut oifs = VifSet::EMPTY;
    oifs.insert(VifIndex(1));
    let group = |i: u32| IpAddr::V4(Ipv4Addr::from(0xef00_0000 | i));
    c.bench_function("MRT_ADD_MFC update in place", |b| {
        b.iter(|| sock.add_mfc(s, group(1), VifIndex(0), oifs).unwrap())
    });
    c.bench_function("MRT_ADD_MFC + MRT_DEL_MFC", |b| {
        b.iter(|| {
            sock.add_mfc(s, group(2), VifIndex(0), oifs).unwrap();
            sock.del_mfc(s, group(2)).unwrap();
        })
    });
    c.bench_function("SIOCGETSGCNT", |b| {
        b.iter(|| sock.sg_counters(s, group(1)).unwrap())
    });
    for i in 3..1003 {
        sock.add_mfc(s, group(i), VifIndex(0), oifs).unwrap();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rtnl = rt.block_on(async { Rtnl::new() }).unwrap();
    let mut group_bench = c.benchmark_group("rtnetlink");
    group_bench.sample_size(20);
    group_bench.bench_function("mfc_dump 1001 entries", |b| {
        b.iter(|| {
            let entries = rt.block_on(mfc_dump(&rtnl, Family::Ipv4, 253)).unwrap();
            assert_eq!(entries.len(), 1001);
        })
    });
    group_bench.finish();
    sock.close().unwrap();
}

criterion_group!(benches, decoders, kernel);
criterion_main!(benches);
