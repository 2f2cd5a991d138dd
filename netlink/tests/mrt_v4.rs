//! IPv4 multicast routing socket against the real kernel, in network namespaces.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{next_upcall, proc_hex, static_entries_forward_across_owner_restart};
use mgm_core::{ErrorCode, Family, IfIndex, KernelOp, Upcall, VifIndex, VifSet};
use netlink::dump::{mfc_dump, vif_dump};
use netlink::link::Rtnl;
use netlink::mrt::{Flush, MrtMessage, MrtSocket};
use netlink::Error;
use testns::{root_or_skip, send_udp, Netns, Receiver, Topology};
use tokio::time::timeout;

const S: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const G: Ipv4Addr = Ipv4Addr::new(239, 1, 2, 3);
const PORT: u16 = 5001;

fn set(vifs: &[u16]) -> VifSet {
    let mut set = VifSet::EMPTY;
    for v in vifs {
        set.insert(VifIndex(*v));
    }
    set
}

#[test]
fn nocache_then_mfc_forwards_queued_packet_and_counts() {
    if !root_or_skip() {
        return;
    }
    let topo = Topology::new("v4fwd");
    let r0 = topo.router.ifindex("r0");
    let r1 = topo.router.ifindex("r1");
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let router_name = topo.router.name.clone();
    let router = topo.router.spawn_async(move || async move {
        let sock = MrtSocket::open(Family::Ipv4, None).expect("MRT_INIT");
        assert_eq!(sock.table(), 253);
        // A non-owner socket next to it, whose copies of IGMP packets the kernel drops.
        let keeper = MrtSocket::open_static(Family::Ipv4, None).unwrap();
        sock.add_vif(VifIndex(0), IfIndex(r0)).expect("vif 0");
        sock.add_vif(VifIndex(1), IfIndex(r1)).expect("vif 1");
        // IGMPv3 reports go to 224.0.0.22: join it where receivers are.
        sock.join_group(IpAddr::V4(Ipv4Addr::new(224, 0, 0, 22)), IfIndex(r1))
            .unwrap();
        // Adding a taken slot is AlreadyExists.
        let dup = sock.add_vif(VifIndex(1), IfIndex(r1)).unwrap_err();
        assert_eq!(dup.code(), ErrorCode::AlreadyExists, "{dup}");
        let rtnl = Rtnl::new().unwrap();
        let vifs = vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        assert_eq!(vifs.len(), 2, "{vifs:?}");
        assert_eq!((vifs[0].vif, vifs[0].ifindex), (VifIndex(0), IfIndex(r0)));
        assert_eq!((vifs[1].vif, vifs[1].ifindex), (VifIndex(1), IfIndex(r1)));
        assert!(!vifs[0].is_static);
        tx.send("vifs").unwrap();

        // The receiver joins (IGMP report on r1), then the sender sends one packet.
        let mut packets = Vec::new();
        let upcall = next_upcall(&sock, &mut packets).await;
        assert_eq!(
            upcall,
            Upcall::NoCache {
                family: Family::Ipv4,
                source: IpAddr::V4(S),
                group: IpAddr::V4(G),
                vif: VifIndex(0),
            }
        );
        // The unresolved entry is visible in the dump.
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        assert!(
            mfes.iter().any(|m| m.group == IpAddr::V4(G) && !m.resolved),
            "{mfes:?}"
        );

        sock.apply(&KernelOp::AddMfe {
            family: Family::Ipv4,
            source: IpAddr::V4(S),
            group: IpAddr::V4(G),
            iif: VifIndex(0),
            oifs: set(&[1]),
        })
        .expect("MRT_ADD_MFC");
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        let mfe = mfes
            .iter()
            .find(|m| m.group == IpAddr::V4(G))
            .expect("entry");
        assert_eq!(mfe.source, IpAddr::V4(S));
        assert_eq!(mfe.iif, Some(IfIndex(r0)));
        assert_eq!(mfe.oifs, vec![(IfIndex(r1), 1)]);
        assert!(mfe.resolved && !mfe.is_static);
        tx.send("mfc").unwrap();
        done_rx.recv().unwrap(); // more traffic sent and received

        let counters = sock.sg_counters(IpAddr::V4(S), IpAddr::V4(G)).unwrap();
        assert!(counters.packets >= 6, "{counters:?}");
        assert!(counters.bytes >= 6 * 128, "{counters:?}");
        let out = sock.vif_counters(VifIndex(1)).unwrap();
        assert!(out.packets_out >= 6, "{out:?}");
        let inp = sock.vif_counters(VifIndex(0)).unwrap();
        assert!(inp.packets_in >= 6, "{inp:?}");
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        let mfe = mfes.iter().find(|m| m.group == IpAddr::V4(G)).unwrap();
        assert!(mfe.counters.packets >= 6, "{mfe:?}");

        // Update in place to a negative entry, then delete.
        sock.add_mfc(IpAddr::V4(S), IpAddr::V4(G), VifIndex(0), VifSet::EMPTY)
            .unwrap();
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        let mfe = mfes.iter().find(|m| m.group == IpAddr::V4(G)).unwrap();
        assert!(mfe.oifs.is_empty(), "{mfe:?}");
        tx.send("negative").unwrap();
        done_rx.recv().unwrap();
        sock.del_mfc(IpAddr::V4(S), IpAddr::V4(G)).unwrap();
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        assert!(!mfes.iter().any(|m| m.group == IpAddr::V4(G)), "{mfes:?}");
        let gone = sock.del_mfc(IpAddr::V4(S), IpAddr::V4(G)).unwrap_err();
        assert!(gone.errno().is_some(), "{gone}");

        // Assert mode: the entry expects VIF 1; a packet on VIF 0 (in the OIL) -> WRONGVIF.
        sock.set_assert(true).unwrap();
        sock.add_mfc(IpAddr::V4(S), IpAddr::V4(G), VifIndex(1), set(&[0]))
            .unwrap();
        tx.send("assert").unwrap();
        let upcall = next_upcall(&sock, &mut packets).await;
        assert_eq!(
            upcall,
            Upcall::WrongVif {
                family: Family::Ipv4,
                source: IpAddr::V4(S),
                group: IpAddr::V4(G),
                vif: VifIndex(0),
            }
        );

        // The receiver's IGMP membership report reached the socket as a packet.
        let report = packets.iter().find_map(|p| match p {
            MrtMessage::Packet {
                ifindex,
                source,
                payload,
                router_alert,
                ..
            } if *source == IpAddr::V4(Ipv4Addr::new(10, 2, 0, 2)) => {
                Some((*ifindex, payload.first().copied(), *router_alert))
            }
            _ => None,
        });
        let (ifindex, kind, ra) = report.expect("an IGMP report from the receiver");
        assert_eq!(ifindex, Some(IfIndex(r1)));
        assert!(matches!(kind, Some(0x16 | 0x22)), "{kind:?}");
        assert!(ra);
        let quiet = timeout(Duration::from_millis(100), keeper.recv()).await;
        assert!(quiet.is_err(), "the non-owner socket received {quiet:?}");

        // Closing the owner flushes its (non-static) VIFs and entries.
        sock.close().unwrap();
        assert!(vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap().is_empty());
        assert!(mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap().is_empty());
        let _ = router_name;
    });

    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("vifs"));
    let vif_text = topo.router.proc_net("ip_mr_vif");
    assert!(
        vif_text.contains("r0") && vif_text.contains("r1"),
        "{vif_text}"
    );
    let receiver = Receiver::join(&topo.right, "eth0", IpAddr::V4(G), PORT);
    std::thread::sleep(Duration::from_millis(100));
    send_udp(&topo.left, "eth0", IpAddr::V4(G), PORT, 1);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("mfc"));
    // The queued packet was forwarded when the entry was installed.
    assert_eq!(
        receiver.count(1, Duration::from_secs(3)),
        1,
        "queued packet not delivered"
    );
    let cache = topo.router.proc_net("ip_mr_cache");
    assert!(
        cache.contains(&proc_hex(G)) && cache.contains(&proc_hex(S)),
        "{cache}"
    );
    send_udp(&topo.left, "eth0", IpAddr::V4(G), PORT, 5);
    assert_eq!(receiver.count(5, Duration::from_secs(3)), 5);
    done_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("negative"));
    send_udp(&topo.left, "eth0", IpAddr::V4(G), PORT, 3);
    assert_eq!(
        receiver.drain(Duration::from_millis(500)),
        0,
        "negative entry forwarded"
    );
    done_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("assert"));
    send_udp(&topo.left, "eth0", IpAddr::V4(G), PORT, 1);
    match router.join() {
        Ok(()) => {}
        Err(panic) => std::panic::resume_unwind(panic),
    }
    assert!(!topo.router.proc_net("ip_mr_vif").contains("r0"));
}

#[test]
fn second_owner_is_refused_with_a_clear_error_other_table_works() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("inuse");
    let name = ns.name.clone();
    ns.block_on(move || async move {
        for family in [Family::Ipv4, Family::Ipv6] {
            let owner = MrtSocket::open(family, None).expect("first MRT_INIT");
            let err = MrtSocket::open(family, None).unwrap_err();
            match &err {
                Error::MrtInUse {
                    family: f,
                    table,
                    netns,
                } => {
                    assert_eq!((*f, *table), (family, netlink::mrt::default_table(family)));
                    assert_eq!(netns, &name);
                }
                other => panic!("expected MrtInUse, got {other:?}"),
            }
            assert_eq!(err.code(), ErrorCode::AlreadyExists);
            let text = err.to_string();
            let default = netlink::mrt::default_table(family);
            assert!(
                text.contains(&format!("multicast routing table {default}")),
                "{text}"
            );
            assert!(
                text.contains(&format!("network namespace {name}")),
                "{text}"
            );
            assert!(text.contains("EADDRINUSE"), "{text}");
            // Table 100 has no owner yet.
            let other = MrtSocket::open(family, Some(100)).expect("MRT_TABLE 100 + MRT_INIT");
            assert_eq!(other.table(), 100);
            assert!(matches!(
                MrtSocket::open(family, Some(100)),
                Err(Error::MrtInUse { table: 100, .. })
            ));
            // A non-owner socket is fine next to the owner.
            let keeper = MrtSocket::open_static(family, None).expect("non-owner");
            assert!(!keeper.is_owner());
            drop(keeper);
            other.close().unwrap();
            owner.close().unwrap();
            // Ownership is free again.
            MrtSocket::open(family, None)
                .expect("MRT_INIT after MRT_DONE")
                .close()
                .unwrap();
        }
    });
}

#[test]
fn static_entries_survive_the_owner() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("static");
    ns.veth_pair("a0", "a1");
    let a0 = ns.ifindex("a0");
    let a1 = ns.ifindex("a1");
    let s = IpAddr::V4(Ipv4Addr::new(10, 9, 9, 9));
    let g = IpAddr::V4(Ipv4Addr::new(239, 9, 9, 9));
    let g_owner = IpAddr::V4(Ipv4Addr::new(239, 8, 8, 8));
    ns.block_on(move || async move {
        let rtnl = Rtnl::new().unwrap();
        let owner = MrtSocket::open(Family::Ipv4, None).unwrap();
        let keeper = MrtSocket::open_static(Family::Ipv4, None).unwrap();
        keeper.add_vif(VifIndex(0), IfIndex(a0)).unwrap();
        keeper.add_vif(VifIndex(1), IfIndex(a1)).unwrap();
        keeper.add_mfc(s, g, VifIndex(0), set(&[1])).unwrap();
        owner.add_mfc(s, g_owner, VifIndex(0), set(&[1])).unwrap();
        let vifs = vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        assert!(
            vifs.iter().all(|v| v.is_static && v.flags == 0x8008),
            "{vifs:?}"
        );
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        assert_eq!(mfes.len(), 2);
        assert!(mfes.iter().find(|m| m.group == g).unwrap().is_static);
        assert!(!mfes.iter().find(|m| m.group == g_owner).unwrap().is_static);
        owner.close().unwrap();
        let vifs = vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        assert_eq!(vifs.len(), 2, "static VIFs gone: {vifs:?}");
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        assert_eq!(mfes.len(), 1, "{mfes:?}");
        assert_eq!((mfes[0].source, mfes[0].group), (s, g));
        assert_eq!(mfes[0].oifs, vec![(IfIndex(a1), 1)]);
        // A new owner starts and sees them.
        let owner = MrtSocket::open(Family::Ipv4, None).unwrap();
        assert_eq!(mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap().len(), 1);
        owner.close().unwrap();
        drop(keeper);
        assert_eq!(vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap().len(), 2);
    });
    let text = ns.proc_net("ip_mr_vif");
    assert!(text.contains("a0") && text.contains("08008"), "{text}");
    let cache = ns.proc_net("ip_mr_cache");
    assert!(
        cache.contains(&proc_hex(Ipv4Addr::new(239, 9, 9, 9))),
        "{cache}"
    );
    // What a previous run left behind is cleared with an explicit static flush.
    ns.block_on(move || async move {
        let rtnl = Rtnl::new().unwrap();
        let owner = MrtSocket::open(Family::Ipv4, None).unwrap();
        owner.flush(Flush::MFC).unwrap();
        assert_eq!(mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap().len(), 1);
        owner.flush(Flush::MFC_STATIC).unwrap();
        assert!(mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap().is_empty());
        assert_eq!(vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap().len(), 2);
        owner.flush(Flush::VIFS | Flush::VIFS_STATIC).unwrap();
        assert!(vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap().is_empty());
        owner.close().unwrap();
    });
    assert!(!ns.proc_net("ip_mr_vif").contains("a0"));
    assert!(!ns
        .proc_net("ip_mr_cache")
        .contains(&proc_hex(Ipv4Addr::new(239, 9, 9, 9))));
}

#[test]
fn other_table_is_dumped_separately() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("table");
    ns.veth_pair("a0", "a1");
    let a0 = ns.ifindex("a0");
    let a1 = ns.ifindex("a1");
    ns.block_on(move || async move {
        let rtnl = Rtnl::new().unwrap();
        let sock = MrtSocket::open(Family::Ipv4, Some(100)).unwrap();
        sock.add_vif(VifIndex(3), IfIndex(a0)).unwrap();
        sock.add_vif(VifIndex(4), IfIndex(a1)).unwrap();
        let s = IpAddr::V4(Ipv4Addr::new(10, 3, 3, 3));
        let g = IpAddr::V4(Ipv4Addr::new(239, 3, 3, 3));
        sock.add_mfc(s, g, VifIndex(3), set(&[4])).unwrap();
        let vifs = vif_dump(&rtnl, Family::Ipv4, 100).await.unwrap();
        assert_eq!(
            vifs.iter().map(|v| v.vif).collect::<Vec<_>>(),
            [VifIndex(3), VifIndex(4)]
        );
        assert!(vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap().is_empty());
        let mfes = mfc_dump(&rtnl, Family::Ipv4, 100).await.unwrap();
        assert_eq!(mfes.len(), 1);
        assert_eq!(mfes[0].table, 100);
        assert!(mfc_dump(&rtnl, Family::Ipv4, 253).await.unwrap().is_empty());
        // Wrong family or VIF are refused before reaching the kernel.
        let v6: IpAddr = "ff3e::1".parse().unwrap();
        assert_eq!(
            sock.add_mfc(s, v6, VifIndex(3), set(&[4]))
                .unwrap_err()
                .code(),
            ErrorCode::InvalidParameter
        );
        assert!(sock.add_mfc(s, g, VifIndex(32), set(&[4])).is_err());
        sock.close().unwrap();
    });
}

#[test]
fn register_vif_gets_whole_packets() {
    if !root_or_skip() {
        return;
    }
    let topo = Topology::new("reg");
    let r0 = topo.router.ifindex("r0");
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let router = topo.router.spawn_async(move || async move {
        let sock = MrtSocket::open(Family::Ipv4, None).unwrap();
        sock.set_pim(true).expect("MRT_PIM (CONFIG_IP_PIMSM_V2)");
        sock.add_vif(VifIndex(0), IfIndex(r0)).unwrap();
        sock.add_register_vif(VifIndex(1)).expect("register VIF");
        let rtnl = Rtnl::new().unwrap();
        let vifs = vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap();
        let reg = vifs
            .iter()
            .find(|v| v.vif == VifIndex(1))
            .expect("register VIF dumped");
        assert_eq!(reg.flags & 0x4, 0x4, "VIFF_REGISTER: {reg:?}");
        assert!(rtnl
            .links()
            .await
            .unwrap()
            .iter()
            .any(|l| l.name == "pimreg"));
        // A second register VIF is refused.
        assert!(sock.add_register_vif(VifIndex(2)).is_err());
        sock.add_mfc(IpAddr::V4(S), IpAddr::V4(G), VifIndex(0), set(&[1]))
            .unwrap();
        tx.send("ready").unwrap();
        let mut packets = Vec::new();
        let upcall = next_upcall(&sock, &mut packets).await;
        let Upcall::WholePacket {
            family,
            source,
            group,
            vif,
            wrong_vif,
            packet,
        } = upcall
        else {
            panic!("expected WHOLEPKT, got {upcall:?}");
        };
        assert_eq!(
            (family, source, group),
            (Family::Ipv4, IpAddr::V4(S), IpAddr::V4(G))
        );
        assert_eq!(vif, VifIndex(1));
        assert!(!wrong_vif);
        // The original packet from its IPv4 header: UDP, 100 bytes of payload.
        assert_eq!(packet[0] >> 4, 4);
        assert_eq!(packet[9], 17);
        assert_eq!(packet.len(), 20 + 8 + 100);
        sock.close().unwrap();
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("ready"));
    send_udp(&topo.left, "eth0", IpAddr::V4(G), PORT, 1);
    testns::join(router);
}

#[test]
fn wrvifwhole_follows_wrongvif() {
    if !root_or_skip() {
        return;
    }
    let topo = Topology::new("wrvif");
    let r0 = topo.router.ifindex("r0");
    let r1 = topo.router.ifindex("r1");
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let router = topo.router.spawn_async(move || async move {
        let sock = MrtSocket::open(Family::Ipv4, None).unwrap();
        sock.set_pim_wrvifwhole().expect("MRT_PIM = 4");
        sock.add_vif(VifIndex(0), IfIndex(r0)).unwrap();
        sock.add_vif(VifIndex(1), IfIndex(r1)).unwrap();
        // Expected on VIF 1; with PIM on, arrival on VIF 0 need not be in the OIL.
        sock.add_mfc(IpAddr::V4(S), IpAddr::V4(G), VifIndex(1), VifSet::EMPTY)
            .unwrap();
        tx.send("ready").unwrap();
        let mut packets = Vec::new();
        let first = next_upcall(&sock, &mut packets).await;
        assert_eq!(
            first,
            Upcall::WrongVif {
                family: Family::Ipv4,
                source: IpAddr::V4(S),
                group: IpAddr::V4(G),
                vif: VifIndex(0),
            }
        );
        let second = next_upcall(&sock, &mut packets).await;
        let Upcall::WholePacket {
            vif,
            wrong_vif,
            packet,
            ..
        } = second
        else {
            panic!("expected WRVIFWHOLE, got {second:?}");
        };
        assert_eq!(vif, VifIndex(0));
        assert!(wrong_vif);
        assert_eq!(packet.len(), 20 + 8 + 100);
        let counters = sock.sg_counters(IpAddr::V4(S), IpAddr::V4(G)).unwrap();
        assert_eq!(counters.wrong_if, 1, "{counters:?}");
        sock.close().unwrap();
    });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("ready"));
    send_udp(&topo.left, "eth0", IpAddr::V4(G), PORT, 1);
    testns::join(router);
}

#[test]
fn kernel_drops_the_vif_of_a_deleted_interface() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("vifdel");
    ns.veth_pair("a0", "a1");
    let a0 = ns.ifindex("a0");
    let a1 = ns.ifindex("a1");
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let rtnl = Rtnl::new().unwrap();
        let sock = MrtSocket::open(Family::Ipv4, None).unwrap();
        sock.add_vif(VifIndex(0), IfIndex(a0)).unwrap();
        sock.add_vif(VifIndex(5), IfIndex(a1)).unwrap();
        let unknown = sock.add_vif(VifIndex(6), IfIndex(999_999)).unwrap_err();
        assert_eq!(unknown.code(), ErrorCode::InvalidParameter, "{unknown}");
        let too_big = sock.add_vif(VifIndex(32), IfIndex(a0)).unwrap_err();
        assert_eq!(too_big.code(), ErrorCode::NotEnoughMemory, "{too_big}");
        let status = std::process::Command::new("ip")
            .args(["-n", &name, "link", "del", "a0"])
            .status()
            .unwrap();
        assert!(status.success());
        // Deleting a0 deletes its peer a1 too: the kernel removed both VIFs itself.
        assert!(vif_dump(&rtnl, Family::Ipv4, 253).await.unwrap().is_empty());
        let gone = sock.del_vif(VifIndex(0), IfIndex(a0)).unwrap_err();
        assert_eq!(gone.code(), ErrorCode::InvalidParameter, "{gone}");
        sock.close().unwrap();
    });
}

/// Spec C.8: static entries keep forwarding through the owner's restart only while some owner
/// socket (here one on a spare table) keeps `mc_forwarding` up.
#[test]
fn static_entries_forward_across_owner_restart_with_a_spare_table_owner() {
    static_entries_forward_across_owner_restart(
        Family::Ipv4,
        "restart",
        IpAddr::V4(S),
        IpAddr::V4(G),
        PORT,
    );
}
