//! IPv6 multicast routing socket (MRT6, MIFs) against the real kernel, in namespaces.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{next_upcall, static_entries_forward_across_owner_restart};
use mgm_core::{Family, IfIndex, Upcall, VifIndex, VifSet};
use netlink::dump::{mfc_dump, vif_dump};
use netlink::link::Rtnl;
use netlink::mrt::{MrtMessage, MrtSocket};
use testns::{root_or_skip, send_udp, Netns, Receiver, Topology};

const PORT: u16 = 5002;
const V6_TABLE: u32 = netlink::mrt::DEFAULT_TABLE_V6;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ip6_octets(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

#[test]
fn v6_nocache_then_mfc_forwards_and_counts() {
    if !root_or_skip() {
        return;
    }
    let topo = Topology::new("v6fwd");
    let r0 = topo.router.ifindex("r0");
    let r1 = topo.router.ifindex("r1");
    let s = ip("fd00:1::2");
    let g = ip("ff3e::1234");
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let router = topo.router.spawn_async(move || async move {
        let sock = MrtSocket::open(Family::Ipv6, None).expect("MRT6_INIT");
        sock.add_vif(VifIndex(0), IfIndex(r0)).expect("mif 0");
        sock.add_vif(VifIndex(1), IfIndex(r1)).expect("mif 1");
        sock.join_group(ip("ff02::16"), IfIndex(r1)).unwrap();
        let rtnl = Rtnl::new().unwrap();
        let mifs = vif_dump(&rtnl, Family::Ipv6, V6_TABLE).await.unwrap();
        let pairs: Vec<_> = mifs.iter().map(|m| (m.vif, m.ifindex)).collect();
        assert_eq!(
            pairs,
            [(VifIndex(0), IfIndex(r0)), (VifIndex(1), IfIndex(r1))]
        );
        assert!(vif_dump(&rtnl, Family::Ipv6, 7).await.is_err());
        tx.send("mifs").unwrap();

        let mut packets = Vec::new();
        let upcall = next_upcall(&sock, &mut packets).await;
        assert_eq!(
            upcall,
            Upcall::NoCache {
                family: Family::Ipv6,
                source: s,
                group: g,
                vif: VifIndex(0)
            }
        );
        // The receiver's MLDv2 report (to ff02::16, joined above) reached the socket with
        // its ancillary data: interface, link-local source, hop limit 1, router alert.
        let report = packets.iter().find(|p| {
            matches!(p, MrtMessage::Packet { payload, .. }
                    if payload.first() == Some(&143)
                        && payload.windows(16).any(|w| w == ip6_octets("ff3e::1234")))
        });
        let Some(MrtMessage::Packet {
            family,
            ifindex,
            source,
            destination,
            ttl_or_hops,
            router_alert,
            ..
        }) = report
        else {
            panic!("no MLDv2 report for ff3e::1234 among {packets:?}");
        };
        assert_eq!(*family, Family::Ipv6);
        assert_eq!(*ifindex, Some(IfIndex(r1)));
        assert!(
            matches!(source, IpAddr::V6(a) if a.segments()[0] == 0xfe80),
            "{source}"
        );
        assert_eq!(*destination, ip("ff02::16"));
        assert_eq!(*ttl_or_hops, 1);
        assert!(*router_alert);
        let mut oifs = VifSet::EMPTY;
        oifs.insert(VifIndex(1));
        sock.add_mfc(s, g, VifIndex(0), oifs).expect("MRT6_ADD_MFC");
        let mfes = mfc_dump(&rtnl, Family::Ipv6, V6_TABLE).await.unwrap();
        let mfe = mfes.iter().find(|m| m.group == g).expect("entry");
        assert_eq!(mfe.source, s);
        assert_eq!(mfe.iif, Some(IfIndex(r0)));
        assert_eq!(
            mfe.oifs.iter().map(|o| o.0).collect::<Vec<_>>(),
            [IfIndex(r1)]
        );
        assert!(mfe.resolved && !mfe.is_static);
        tx.send("mfc").unwrap();
        go_rx.recv().unwrap();
        let counters = sock.sg_counters(s, g).unwrap();
        assert!(counters.packets >= 6, "{counters:?}");
        let out = sock.vif_counters(VifIndex(1)).unwrap();
        assert!(out.packets_out >= 6, "{out:?}");

        // Assert mode: entry expects MIF 1, packet arrives on MIF 0 (in the OIL).
        sock.set_assert(true).unwrap();
        let mut oil = VifSet::EMPTY;
        oil.insert(VifIndex(0));
        sock.add_mfc(s, g, VifIndex(1), oil).unwrap();
        tx.send("assert").unwrap();
        let upcall = next_upcall(&sock, &mut packets).await;
        assert_eq!(
            upcall,
            Upcall::WrongVif {
                family: Family::Ipv6,
                source: s,
                group: g,
                vif: VifIndex(0)
            }
        );
        sock.del_mfc(s, g).unwrap();
        assert!(!mfc_dump(&rtnl, Family::Ipv6, V6_TABLE)
            .await
            .unwrap()
            .iter()
            .any(|m| m.group == g));
        sock.del_vif(VifIndex(1), IfIndex(r1)).unwrap();
        assert_eq!(
            vif_dump(&rtnl, Family::Ipv6, V6_TABLE).await.unwrap().len(),
            1
        );
        sock.close().unwrap();
        assert!(vif_dump(&rtnl, Family::Ipv6, V6_TABLE)
            .await
            .unwrap()
            .is_empty());
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("mifs"));
    let text = topo.router.proc_net("ip6_mr_vif");
    assert!(text.contains("r0") && text.contains("r1"), "{text}");
    let receiver = Receiver::join(&topo.right, "eth0", g, PORT);
    std::thread::sleep(Duration::from_millis(100));
    send_udp(&topo.left, "eth0", g, PORT, 1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("mfc"));
    assert_eq!(
        receiver.count(1, Duration::from_secs(3)),
        1,
        "queued packet not delivered"
    );
    let cache = topo.router.proc_net("ip6_mr_cache");
    // /proc prints every group of four hex digits.
    assert!(
        cache.contains("ff3e:0000:0000:0000:0000:0000:0000:1234"),
        "{cache}"
    );
    assert!(
        cache.contains("fd00:0001:0000:0000:0000:0000:0000:0002"),
        "{cache}"
    );
    send_udp(&topo.left, "eth0", g, PORT, 5);
    assert_eq!(receiver.count(5, Duration::from_secs(3)), 5);
    go_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("assert"));
    send_udp(&topo.left, "eth0", g, PORT, 1);
    testns::join(router);
}

#[test]
fn v6_static_entries_survive_the_owner() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("static6");
    ns.veth_pair("a0", "a1");
    let a0 = ns.ifindex("a0");
    let a1 = ns.ifindex("a1");
    ns.block_on(move || async move {
        let rtnl = Rtnl::new().unwrap();
        let owner = MrtSocket::open(Family::Ipv6, None).unwrap();
        let keeper = MrtSocket::open_static(Family::Ipv6, None).unwrap();
        keeper.add_vif(VifIndex(0), IfIndex(a0)).unwrap();
        keeper.add_vif(VifIndex(1), IfIndex(a1)).unwrap();
        let mut oifs = VifSet::EMPTY;
        oifs.insert(VifIndex(1));
        keeper
            .add_mfc(ip("fd00:9::9"), ip("ff3e::9"), VifIndex(0), oifs)
            .unwrap();
        owner
            .add_mfc(ip("fd00:9::9"), ip("ff3e::8"), VifIndex(0), oifs)
            .unwrap();
        owner.close().unwrap();
        let mifs = vif_dump(&rtnl, Family::Ipv6, V6_TABLE).await.unwrap();
        assert_eq!(mifs.len(), 2);
        assert!(mifs.iter().all(|m| m.is_static), "{mifs:?}");
        let mfes = mfc_dump(&rtnl, Family::Ipv6, V6_TABLE).await.unwrap();
        assert_eq!(mfes.len(), 1, "{mfes:?}");
        assert_eq!(mfes[0].group, ip("ff3e::9"));
        assert!(mfes[0].is_static);
        drop(keeper);
    });
}

/// Spec C.8 for IPv6: static MIFs and entries keep forwarding through the owner's restart
/// while an owner of a spare table keeps `mc_forwarding` up, and stop without any owner.
#[test]
fn v6_static_entries_forward_across_owner_restart_with_a_spare_table_owner() {
    static_entries_forward_across_owner_restart(
        Family::Ipv6,
        "restart6",
        ip("fd00:1::2"),
        ip("ff3e::4242"),
        PORT,
    );
}
