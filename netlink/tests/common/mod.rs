//! What the MRT tests share beyond the namespace harness (`testns`).

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use mgm_core::{Family, IfIndex, Upcall, VifIndex, VifSet};
use netlink::mrt::{MrtMessage, MrtSocket};
use testns::{root_or_skip, send_udp, Receiver, Topology};
use tokio::time::timeout;

/// Read until an upcall arrives; IGMP / MLD packets read meanwhile are collected in `packets`.
pub async fn next_upcall(sock: &MrtSocket, packets: &mut Vec<MrtMessage>) -> Upcall {
    loop {
        let message = timeout(Duration::from_secs(5), sock.recv())
            .await
            .expect("no upcall within 5 s")
            .expect("recv");
        match message {
            MrtMessage::Upcall(upcall) => return upcall,
            packet => packets.push(packet),
        }
    }
}

/// Hex form of an IPv4 address in `/proc/net/ip_mr_cache` (the `__be32` printed with `%08X`
/// on a little-endian host).
pub fn proc_hex(addr: Ipv4Addr) -> String {
    format!("{:08X}", u32::from_ne_bytes(addr.octets()))
}

/// Spec C.8, for either family: static VIFs and an (`s`, `g`) entry made by a non-owner socket
/// keep forwarding through the owner's restart while an owner of a spare table keeps
/// `mc_forwarding` up, and stop without any owner.
pub fn static_entries_forward_across_owner_restart(
    family: Family,
    tag: &str,
    s: IpAddr,
    g: IpAddr,
    port: u16,
) {
    if !root_or_skip() {
        return;
    }
    let topo = Topology::new(tag);
    let r0 = topo.router.ifindex("r0");
    let r1 = topo.router.ifindex("r1");
    let (tx, rx) = std::sync::mpsc::channel::<&'static str>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let router = topo.router.spawn(move || {
        let owner = MrtSocket::open(family, None).unwrap();
        let spare = MrtSocket::open(family, Some(4242)).unwrap();
        let keeper = MrtSocket::open_static(family, None).unwrap();
        keeper.add_vif(VifIndex(0), IfIndex(r0)).unwrap();
        keeper.add_vif(VifIndex(1), IfIndex(r1)).unwrap();
        let mut oifs = VifSet::EMPTY;
        oifs.insert(VifIndex(1));
        keeper.add_mfc(s, g, VifIndex(0), oifs).unwrap();
        owner.close().unwrap(); // the daemon "restarts"
        tx.send("owner closed").unwrap();
        go_rx.recv().unwrap();
        spare.close().unwrap(); // no owner left at all
        tx.send("spare closed").unwrap();
        go_rx.recv().unwrap();
        drop(keeper);
    });
    let receiver = Receiver::join(&topo.right, "eth0", g, port);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("owner closed"));
    send_udp(&topo.left, "eth0", g, port, 5);
    assert_eq!(
        receiver.count(5, Duration::from_secs(3)),
        5,
        "forwarding stopped"
    );
    go_tx.send(()).unwrap();
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok("spare closed"));
    let ipv = match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    };
    let mc_forwarding = topo
        .router
        .sh(&format!("sysctl -n net.{ipv}.conf.all.mc_forwarding"));
    assert_eq!(mc_forwarding.trim(), "0");
    send_udp(&topo.left, "eth0", g, port, 5);
    assert_eq!(
        receiver.drain(Duration::from_millis(500)),
        0,
        "forwarded without any owner"
    );
    go_tx.send(()).unwrap();
    testns::join(router);
}
