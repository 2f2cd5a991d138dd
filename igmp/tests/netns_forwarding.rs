//! End to end without the daemon: mgm-core's `Mgm`, the netlink MRT socket and the igmp
//! `Interfaces` glued together in a router namespace, a sender and a Linux host receiver in
//! two others. The host joins (IGMPv3 / MLDv2): its report makes the MFE forward to it, it
//! gets live packets only, and its leave (explicit tracking) stops the forwarding at once.
//! Measures report -> forwarding entry updated, and leave -> removed, over five joins.
//!
//! Root only: skipped when not root unless CI=true, where it must run.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use igmp::{Config, Interfaces, Output};
use mgm_core::{
    Action, Callbacks, ComponentId, Family, IfIndex, InterfaceKey, KernelOp, LinkEvent, LinkInfo,
    MembershipFlags, Mgm, ProtocolId,
};
use netlink::igmp_io::{IgmpSender, MldSocket};
use netlink::mrt::{MrtMessage, MrtSocket};
use testns::{root_or_skip, Netns, NO_DAD, NO_RP_FILTER};

const PORT: u16 = 5004;
const CYCLES: usize = 5;

/// Apply every action: kernel ops on the MRT socket; returns the outgoing VIF count of the
/// last AddMfe for `group`, if one was applied.
fn apply(mgm: &mut Mgm, mrt: &MrtSocket, now: Instant, group: IpAddr) -> Option<usize> {
    let mut mfe = None;
    while let Some(action) = mgm.poll_action() {
        if let Action::Kernel(op) = action {
            if let Err(e) = mrt.apply(&op) {
                mgm.handle_kernel_error(now, &op, e.code());
                continue;
            }
            if let KernelOp::AddMfe { group: g, oifs, .. } = &op {
                if *g == group {
                    mfe = Some(oifs.len());
                }
            }
        }
    }
    mfe
}

/// The IGMP / MLD socket of the router.
enum Io {
    V4(IgmpSender),
    V6(MldSocket),
}

/// The router loop: upcalls -> Mgm, IGMP/MLD -> Interfaces -> Mgm, kernel ops -> MRT socket.
/// Returns the latencies from the packet that changed forwarding to the MFE update.
#[allow(clippy::too_many_arguments)]
async fn route(
    family: Family,
    r0: IfIndex,
    r1: IfIndex,
    own: IpAddr,
    group: IpAddr,
    ready: mpsc::Sender<()>,
    stop: Arc<AtomicBool>,
) -> (Vec<Duration>, Vec<Duration>) {
    let now = Instant::now();
    let mrt = MrtSocket::open(family, None).expect("MRT_INIT");
    let io = match family {
        Family::Ipv4 => {
            let tx = IgmpSender::open().expect("igmp sender");
            tx.join(r0).expect("join 224.0.0.22");
            Io::V4(tx)
        }
        Family::Ipv6 => {
            let mld = MldSocket::open().expect("mld socket");
            mld.join(r0).expect("join ff02::16");
            Io::V6(mld)
        }
    };
    let mut mgm = Mgm::new(mgm_core::Config::default());
    for (ifindex, name) in [(r0, "r0"), (r1, "r1")] {
        let info = LinkInfo {
            ifindex,
            name: name.into(),
            up: true,
            multicast: true,
            point_to_point: false,
            loopback: false,
            mtu: 1500,
        };
        mgm.handle_link(now, LinkEvent::Link(info));
    }
    let me = mgm
        .register_protocol(ProtocolId::IGMP, ComponentId(0), Callbacks::NONE)
        .expect("register");
    for ifindex in [r0, r1] {
        mgm.take_interface_ownership(now, me, InterfaceKey::link(ifindex, family))
            .expect("own");
    }
    apply(&mut mgm, &mrt, now, group);
    let mut igmp = Interfaces::new();
    let config = Config {
        explicit_tracking: true,
        ..Config::default()
    };
    igmp.start(family, r0, own, config, now);
    ready.send(()).unwrap();

    let mut join_latency = Vec::new();
    let mut leave_latency = Vec::new();
    let mut forwarding = false;
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        let wake = [
            mgm.poll_timeout(),
            igmp.poll_timeout(),
            Some(now + Duration::from_millis(50)),
        ]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(now);
        let wake = tokio::time::Instant::from_std(wake);
        // IPv4: IGMP and upcalls on the MRT socket. IPv6: upcalls there, MLD on the MLD socket
        // (the MRT6 socket's copies of MLD are ignored).
        let mld_packet = async {
            match &io {
                Io::V6(mld) => Some(mld.recv().await),
                Io::V4(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            message = mrt.recv() => {
                let now = Instant::now();
                match message.expect("recv") {
                    MrtMessage::Upcall(upcall) => mgm.handle_upcall(now, upcall, None),
                    MrtMessage::Packet { family: Family::Ipv4, ifindex: Some(ifindex), source, destination, payload, .. } => {
                        igmp.handle_packet(now, ifindex, source, destination, &payload);
                    }
                    MrtMessage::Packet { .. } => {}
                }
            }
            packet = mld_packet => {
                let p = packet.expect("socket").expect("recv");
                if let (Some(ifindex), true) = (p.ifindex, p.is_valid()) {
                    igmp.handle_packet(Instant::now(), ifindex, p.source, p.destination, &p.payload);
                }
            }
            () = tokio::time::sleep_until(wake) => {
                let now = Instant::now();
                mgm.handle_timeout(now);
                igmp.handle_timeout(now);
            }
        }
        let now = Instant::now();
        while let Some(out) = igmp.poll_output() {
            let key = out.key();
            match (out.output, &io) {
                (
                    Output::Send {
                        destination: IpAddr::V4(d),
                        payload,
                    },
                    Io::V4(tx),
                ) => {
                    tx.send(out.ifindex, d, &payload).expect("send query");
                }
                (
                    Output::Send {
                        destination: IpAddr::V6(d),
                        payload,
                    },
                    Io::V6(mld),
                ) => {
                    mld.send(out.ifindex, d, &payload).expect("send query");
                }
                (Output::Send { .. }, _) => unreachable!("family mismatch"),
                (Output::Join(sg), _) => {
                    let flags = MembershipFlags::JOIN_STATE;
                    mgm.add_group_membership(now, me, sg, key, flags, None)
                        .expect("add");
                }
                (Output::Leave(sg), _) => {
                    let flags = MembershipFlags::JOIN_STATE;
                    mgm.delete_group_membership(now, me, sg, key, flags, None)
                        .expect("delete");
                }
            }
        }
        match apply(&mut mgm, &mrt, now, group) {
            Some(n) if n > 0 && !forwarding => {
                join_latency.push(now.elapsed());
                forwarding = true;
            }
            Some(0) if forwarding => {
                leave_latency.push(now.elapsed());
                forwarding = false;
            }
            _ => {}
        }
    }
    (join_latency, leave_latency)
}

fn forwarding(family: Family) {
    if !root_or_skip() {
        return;
    }
    let tag = match family {
        Family::Ipv4 => "4",
        Family::Ipv6 => "6",
    };
    let sender = Netns::new(&format!("igmp-fw{tag}-s"));
    let router = Netns::new(&format!("igmp-fw{tag}-r"));
    let host = Netns::new(&format!("igmp-fw{tag}-h"));
    for ns in [&sender, &router, &host] {
        ns.sysctl(&NO_DAD);
        ns.sysctl(&NO_RP_FILTER);
    }
    router.sysctl(&["net.ipv6.conf.all.forwarding=1"]);
    sender.veth_to("s0", &router, "r1");
    router.veth_to("r0", &host, "h0");
    sender.ip("addr add 10.1.0.2/24 dev s0");
    router.ip("addr add 10.1.0.1/24 dev r1");
    router.ip("addr add 10.9.0.1/24 dev r0");
    host.ip("addr add 10.9.0.2/24 dev h0");
    sender.ip("-6 addr add fd00:1::2/64 dev s0 nodad");
    router.ip("-6 addr add fd00:1::1/64 dev r1 nodad");
    router.ip("-6 addr add fd00:9::1/64 dev r0 nodad");
    host.ip("-6 addr add fd00:9::2/64 dev h0 nodad");
    sender.ip("route add 224.0.0.0/4 dev s0");
    host.sysctl(&[
        "net.ipv4.conf.h0.force_igmp_version=3",
        "net.ipv4.conf.h0.igmpv3_unsolicited_report_interval=100",
        "net.ipv6.conf.h0.force_mld_version=2",
        "net.ipv6.conf.h0.mldv2_unsolicited_report_interval=100",
    ]);
    let r0 = IfIndex(router.ifindex("r0"));
    let r1 = IfIndex(router.ifindex("r1"));
    let s0 = sender.ifindex("s0");
    let h0 = host.ifindex("h0");
    let (own, group): (IpAddr, IpAddr) = match family {
        Family::Ipv4 => ("10.9.0.1".parse().unwrap(), "239.4.5.6".parse().unwrap()),
        Family::Ipv6 => (
            IpAddr::V6(router.link_local("r0")),
            "ff0e::4:5:6".parse().unwrap(),
        ),
    };
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    let (ready, is_ready) = mpsc::channel();
    let router_stop = stop.clone();
    let router_thread =
        router.spawn_async(move || route(family, r0, r1, own, group, ready, router_stop));
    is_ready.recv().expect("router up");

    // The sender: one datagram every 5 ms carrying its send time (ns since t0).
    let sender_stop = stop.clone();
    let sender_thread = sender.spawn(move || {
        let socket = testns::multicast_sender(group, s0);
        let mut sent = 0u32;
        while !sender_stop.load(Ordering::SeqCst) {
            let stamp = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            socket
                .send_to(&stamp.to_be_bytes(), (group, PORT))
                .expect("send");
            sent += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        sent
    });
    // Let the flow be seen (NOCACHE -> negative entry) before anyone joins.
    std::thread::sleep(Duration::from_millis(1000));

    // The host joins, receives for 300 ms, leaves; five times.
    let receiver = host.spawn(move || {
        let mut cycles = Vec::new();
        for _ in 0..CYCLES {
            let socket = testns::multicast_receiver(group, PORT, h0);
            let joined = Instant::now();
            socket
                .set_read_timeout(Some(Duration::from_millis(50)))
                .unwrap();
            let mut ages = Vec::new();
            let mut buf = [0u8; 64];
            while joined.elapsed() < Duration::from_millis(300) {
                if let Ok(8) = socket.recv(&mut buf) {
                    let stamp = u64::from_be_bytes(buf[..8].try_into().unwrap());
                    ages.push(t0.elapsed().saturating_sub(Duration::from_nanos(stamp)));
                }
            }
            drop(socket); // IGMPv3 / MLDv2 TO_IN({}): the leave
            cycles.push(ages);
            std::thread::sleep(Duration::from_millis(200));
        }
        cycles
    });
    let cycles = receiver.join();
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let sent = sender_thread.join().expect("sender");
    let (mut join_latency, mut leave_latency) = testns::join(router_thread);
    let cycles = cycles.expect("receiver");
    join_latency.sort();
    leave_latency.sort();
    let received: Vec<usize> = cycles.iter().map(Vec::len).collect();
    let max_age = cycles.iter().flatten().max().copied().unwrap_or_default();
    eprintln!(
        "{family}: sent {sent}; received per 300 ms membership {received:?}, oldest packet \
         {max_age:?}; report -> MFE with the host's VIF {join_latency:?}; leave report -> MFE \
         without it {leave_latency:?}"
    );
    assert!(
        received.iter().all(|n| *n > 30),
        "forwarding to the joined host: {received:?}"
    );
    assert!(
        max_age < Duration::from_millis(200),
        "stale packets delivered: {max_age:?}"
    );
    assert_eq!(join_latency.len(), CYCLES, "one forwarding update per join");
    assert_eq!(
        leave_latency.len(),
        CYCLES,
        "one forwarding update per leave"
    );
    assert!(
        join_latency[CYCLES / 2] < Duration::from_millis(5),
        "{join_latency:?}"
    );
    assert!(
        leave_latency[CYCLES / 2] < Duration::from_millis(5),
        "{leave_latency:?}"
    );
}

#[test]
fn igmpv3_host_join_forwards_live_packets_and_leave_stops_at_once() {
    forwarding(Family::Ipv4);
}

#[test]
fn mldv2_host_join_forwards_live_packets_and_leave_stops_at_once() {
    forwarding(Family::Ipv6);
}
