//! End to end without the daemon: mgm-core's `Mgm`, the netlink MRT socket and the igmp
//! `Interfaces` glued together in a router namespace, a sender and a Linux host receiver in
//! two others. The host joins with `IP_ADD_MEMBERSHIP` (IGMPv3): its report makes the MFE
//! forward to it, it gets live packets only, and its leave (explicit tracking) stops the
//! forwarding at once. Measures report -> forwarding entry updated, and leave -> removed.
//!
//! Root only: skipped when not root unless CI=true, where it must run.

mod netns;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use igmp::{Config, Interfaces, Output};
use mgm_core::{
    Action, Callbacks, ComponentId, Family, IfIndex, InterfaceKey, KernelOp, LinkEvent, LinkInfo,
    MembershipFlags, Mgm, ProtocolId,
};
use netlink::igmp_io::IgmpSender;
use netlink::mrt::{MrtMessage, MrtSocket};
use netns::{should_run, Netns};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 4, 5, 6);
const PORT: u16 = 5004;
const CYCLES: usize = 5;

/// Apply every action: kernel ops on the MRT socket; returns whether an AddMfe for GROUP was
/// applied and with how many outgoing VIFs.
fn apply(mgm: &mut Mgm, mrt: &MrtSocket, now: Instant) -> Option<usize> {
    let mut mfe = None;
    while let Some(action) = mgm.poll_action() {
        if let Action::Kernel(op) = action {
            if let Err(e) = mrt.apply(&op) {
                mgm.handle_kernel_error(now, &op, e.code());
                continue;
            }
            if let KernelOp::AddMfe { group, oifs, .. } = &op {
                if *group == IpAddr::V4(GROUP) {
                    mfe = Some(oifs.len());
                }
            }
        }
    }
    mfe
}

#[test]
fn igmpv3_host_join_forwards_live_packets_and_leave_stops_at_once() {
    if !should_run() {
        return;
    }
    let sender = Netns::new("fw-s");
    let router = Netns::new("fw-r");
    let host = Netns::new("fw-h");
    for ns in [&sender, &router, &host] {
        ns.sysctl(&[
            "net.ipv4.conf.all.rp_filter=0",
            "net.ipv4.conf.default.rp_filter=0",
        ]);
    }
    sender.ip(&format!(
        "link add name s0 type veth peer name r1 netns {}",
        router.name
    ));
    router.ip(&format!(
        "link add name r0 type veth peer name h0 netns {}",
        host.name
    ));
    sender.ip("addr add 10.1.0.2/24 dev s0");
    router.ip("addr add 10.1.0.1/24 dev r1");
    router.ip("addr add 10.9.0.1/24 dev r0");
    host.ip("addr add 10.9.0.2/24 dev h0");
    sender.ip("link set s0 up");
    router.ip("link set r1 up");
    router.ip("link set r0 up");
    host.ip("link set h0 up");
    sender.ip("route add 224.0.0.0/4 dev s0");
    host.sysctl(&[
        "net.ipv4.conf.h0.force_igmp_version=3",
        "net.ipv4.conf.h0.igmpv3_unsolicited_report_interval=100",
    ]);
    let r0 = IfIndex(router.ifindex("r0"));
    let r1 = IfIndex(router.ifindex("r1"));
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    // The router: Mgm + MRT socket + IGMP on r0 (the receivers' side).
    let (ready, is_ready) = mpsc::channel();
    let router_stop = stop.clone();
    let router_thread = router.spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let now = Instant::now();
            let mrt = MrtSocket::open(Family::Ipv4, None).expect("MRT_INIT");
            let igmp_tx = IgmpSender::open().expect("sender");
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
                mgm.take_interface_ownership(now, me, InterfaceKey::link(ifindex, Family::Ipv4))
                    .expect("own");
            }
            apply(&mut mgm, &mrt, now);
            igmp_tx.join(r0).expect("join 224.0.0.22");
            let mut igmp = Interfaces::new();
            let config = Config {
                explicit_tracking: true,
                ..Config::igmp()
            };
            igmp.start(
                Family::Ipv4,
                r0,
                IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)),
                config,
                now,
            );
            ready.send(()).unwrap();

            let mut join_latency = Vec::new();
            let mut leave_latency = Vec::new();
            let mut forwarding = false;
            while !router_stop.load(Ordering::SeqCst) {
                let now = Instant::now();
                let wake = [
                    mgm.poll_timeout(),
                    igmp.poll_timeout(),
                    Some(now + Duration::from_millis(50)),
                ]
                .into_iter()
                .flatten()
                .min()
                .unwrap();
                let message =
                    tokio::time::timeout_at(tokio::time::Instant::from_std(wake), mrt.recv()).await;
                let now = Instant::now();
                match message {
                    Ok(Ok(MrtMessage::Upcall(upcall))) => mgm.handle_upcall(now, upcall, None),
                    Ok(Ok(MrtMessage::Packet {
                        ifindex: Some(ifindex),
                        source,
                        destination,
                        payload,
                        ..
                    })) => {
                        igmp.handle_packet(now, ifindex, source, destination, &payload);
                    }
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => panic!("recv: {e}"),
                    Err(_) => {
                        mgm.handle_timeout(now);
                        igmp.handle_timeout(now);
                    }
                }
                while let Some(out) = igmp.poll_output() {
                    let key = out.key();
                    match out.output {
                        Output::Send {
                            destination: IpAddr::V4(d),
                            payload,
                        } => {
                            igmp_tx.send(out.ifindex, d, &payload).expect("send query");
                        }
                        Output::Send { .. } => {}
                        Output::Join(sg) => {
                            mgm.add_group_membership(
                                now,
                                me,
                                sg,
                                key,
                                MembershipFlags::JOIN_STATE,
                                None,
                            )
                            .expect("add membership");
                        }
                        Output::Leave(sg) => {
                            mgm.delete_group_membership(
                                now,
                                me,
                                sg,
                                key,
                                MembershipFlags::JOIN_STATE,
                                None,
                            )
                            .expect("delete membership");
                        }
                    }
                }
                match apply(&mut mgm, &mrt, now) {
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
        })
    });
    is_ready.recv().expect("router up");

    // The sender: one datagram every 5 ms carrying its send time (ns since t0).
    let sender_stop = stop.clone();
    let sender_thread = sender.spawn(move || {
        let socket = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
        socket.set_multicast_ttl_v4(8).expect("ttl");
        let mut sent = 0u32;
        while !sender_stop.load(Ordering::SeqCst) {
            let stamp = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
            socket
                .send_to(&stamp.to_be_bytes(), (GROUP, PORT))
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
            let socket =
                UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT))).expect("bind");
            socket
                .join_multicast_v4(&GROUP, &Ipv4Addr::new(10, 9, 0, 2))
                .expect("join");
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
            drop(socket); // IGMPv3 TO_IN({}): the leave
            cycles.push(ages);
            std::thread::sleep(Duration::from_millis(200));
        }
        cycles
    });
    let cycles = receiver.join().expect("receiver");
    std::thread::sleep(Duration::from_millis(100));
    stop.store(true, Ordering::SeqCst);
    let sent = sender_thread.join().expect("sender");
    let (mut join_latency, mut leave_latency) = match router_thread.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    join_latency.sort();
    leave_latency.sort();
    let received: Vec<usize> = cycles.iter().map(Vec::len).collect();
    let max_age = cycles.iter().flatten().max().copied().unwrap_or_default();
    eprintln!(
        "sent {sent}; received per 300 ms membership {received:?}, oldest packet {max_age:?}; \
         report -> MFE with the host's VIF {join_latency:?}; leave report -> MFE without it \
         {leave_latency:?}"
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
