//! The router side against the real Linux host stack, in network namespaces: a host joins a
//! group with `IP_ADD_MEMBERSHIP` / `IPV6_JOIN_GROUP`, its report reaches the router's socket
//! (`MrtSocket` for IGMP, `netlink::igmp_io::MldSocket` for MLD), the codec decodes it, the
//! `Interface` turns it into a Join, and the `Interface`'s own query, sent with
//! `netlink::igmp_io`, makes the host report again.
//!
//! Root only: skipped when not root unless CI=true, where it must run.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use igmp::packet::igmp::IgmpMessage;
use igmp::packet::mld::MldMessage;
use igmp::{Config, Interface, Output};
use mgm_core::{Family, IfIndex, SourceGroup, VifIndex};
use netlink::igmp_io::{IgmpSender, MldSocket};
use netlink::mrt::{MrtMessage, MrtSocket};
use testns::{root_or_skip, Lan};
const WAIT: Duration = Duration::from_secs(5);

fn drain(iface: &mut Interface) -> Vec<Output> {
    std::iter::from_fn(|| iface.poll_output()).collect()
}

fn igmp_report_groups(msg: &IgmpMessage) -> Vec<Ipv4Addr> {
    match msg {
        IgmpMessage::V1Report { group } | IgmpMessage::V2Report { group } => vec![*group],
        IgmpMessage::V3Report { records } => records.iter().map(|r| r.group).collect(),
        _ => vec![],
    }
}

fn ipv4_host_report(version: u8) {
    if !root_or_skip() {
        return;
    }
    let lan = Lan::new(&format!("v4-{version}"));
    lan.host
        .sysctl(&[&format!("net.ipv4.conf.h0.force_igmp_version={version}")]);
    let r0 = IfIndex(lan.router.ifindex("r0"));
    let group: Ipv4Addr = "239.7.7.7".parse().unwrap();

    // The router's sockets: the MRT socket (reception) with a VIF on r0, and the sender.
    let (opened, is_open) = mpsc::channel();
    let (go, start) = mpsc::channel::<mpsc::Sender<()>>();
    let router = lan.router.spawn_async(move || async move {
            let mrt = MrtSocket::open(Family::Ipv4, None).expect("MRT_INIT");
            mrt.add_vif(VifIndex(0), r0).expect("vif");
            let sender = IgmpSender::open().expect("sender");
            sender.join(r0).expect("join 224.0.0.22 and 224.0.0.2");
            opened.send(()).unwrap();
            let host = start.recv().unwrap();
            let now = Instant::now();
            let config = Config {
                version,
                explicit_tracking: true,
                ..Config::igmp()
            };
            let mut iface = Interface::new(
                Family::Ipv4,
                r0,
                IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1)),
                config,
                now,
            );
            let startup = drain(&mut iface);
            // 1. The host's unsolicited report arrives, decodes, and becomes a Join.
            let mut joined = Vec::new();
            let deadline = tokio::time::Instant::now() + WAIT;
            while joined.is_empty() {
                let message = tokio::time::timeout_at(deadline, mrt.recv())
                    .await
                    .expect("no report within 5 s")
                    .expect("recv");
                let MrtMessage::Packet {
                    source,
                    payload,
                    ifindex,
                    ttl_or_hops,
                    router_alert,
                    ..
                } = message
                else {
                    continue;
                };
                assert_eq!(ifindex, Some(r0));
                let decoded = IgmpMessage::decode(&payload).expect("valid IGMP from Linux");
                if !igmp_report_groups(&decoded).contains(&group) {
                    continue;
                }
                match (version, &decoded) {
                    (2, IgmpMessage::V2Report { .. }) | (3, IgmpMessage::V3Report { .. }) => {}
                    other => {
                        panic!("unexpected report for force_igmp_version {version}: {other:?}")
                    }
                }
                assert_eq!(ttl_or_hops, 1);
                assert!(router_alert, "Linux sends reports with a Router Alert");
                iface.handle_packet(Instant::now(), source, IpAddr::V4(group), &payload);
                joined = drain(&mut iface);
            }
            let star_g = SourceGroup::star_g(IpAddr::V4(group)).unwrap();
            assert_eq!(joined, [Output::Join(star_g)]);
            // 2. Our startup query (max response 10 s... shortened: re-encode with 1 s) makes
            // the host report again: proof that it accepted the query.
            let Some(Output::Send {
                destination,
                payload,
            }) = startup.first().cloned()
            else {
                panic!("no startup query: {startup:?}");
            };
            assert_eq!(destination, IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)));
            let query = match IgmpMessage::decode(&payload).unwrap() {
                IgmpMessage::Query { group, v3, .. } => IgmpMessage::Query {
                    max_resp_code: 10,
                    group,
                    v3,
                }
                .encode(),
                other => panic!("not a query: {other:?}"),
            };
            // Let the unsolicited reports pass first.
            tokio::time::sleep(Duration::from_millis(400)).await;
            while tokio::time::timeout(Duration::from_millis(100), mrt.recv())
                .await
                .is_ok()
            {}
            let sent = tokio::time::Instant::now();
            sender
                .send(r0, Ipv4Addr::new(224, 0, 0, 1), &query)
                .expect("send query");
            loop {
                let message = tokio::time::timeout_at(sent + Duration::from_secs(3), mrt.recv())
                    .await
                    .expect("the host did not answer our query")
                    .expect("recv");
                if let MrtMessage::Packet { payload, .. } = message {
                    if let Ok(decoded) = IgmpMessage::decode(&payload) {
                        if igmp_report_groups(&decoded).contains(&group) {
                            break;
                        }
                    }
                }
            }
            // 3. The host leaves (IGMPv2 Leave to 224.0.0.2, IGMPv3 TO_IN({}) to 224.0.0.22).
            drop(host);
            let left = Instant::now();
            let mut arrived = left;
            let mut processing = Duration::ZERO;
            let mut outputs = Vec::new();
            while !outputs.iter().any(|o| matches!(o, Output::Leave(_))) {
                let deadline = iface.poll_timeout().unwrap_or(left + WAIT).min(left + WAIT);
                let wait = tokio::time::Instant::from_std(deadline);
                match tokio::time::timeout_at(wait, mrt.recv()).await {
                    Ok(Ok(MrtMessage::Packet { source, destination, payload, .. })) => {
                        arrived = Instant::now();
                        iface.handle_packet(arrived, source, destination, &payload);
                    }
                    Ok(other) => {
                        other.expect("recv");
                    }
                    Err(_) => {
                        assert!(Instant::now() < left + WAIT, "no Leave within 5 s: {outputs:?}");
                        iface.handle_timeout(Instant::now());
                    }
                }
                for output in drain(&mut iface) {
                    if matches!(output, Output::Leave(_)) {
                        processing = arrived.elapsed();
                    }
                    if let Output::Send { destination: IpAddr::V4(d), payload } = &output {
                        sender.send(r0, *d, payload).expect("send");
                    }
                    outputs.push(output);
                }
            }
            let elapsed = left.elapsed();
            let queries = outputs
                .iter()
                .filter(|o| matches!(o, Output::Send { destination, .. } if *destination == IpAddr::V4(group)))
                .count();
            (elapsed, queries, processing)
        });
    is_open.recv().expect("router sockets");
    // The host side: capture our query with its IP header, then join.
    let capture = lan.host.spawn(|| {
        let s = socket2::Socket::new(
            socket2::Domain::IPV4,
            socket2::Type::RAW,
            Some(socket2::Protocol::from(2)),
        )
        .expect("raw igmp");
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let s: std::net::UdpSocket = s.into();
        let deadline = Instant::now() + Duration::from_secs(8);
        let mut buf = [0u8; 1500];
        while Instant::now() < deadline {
            if let Ok(n) = s.recv(&mut buf) {
                let ihl = usize::from(buf[0] & 0x0f) * 4;
                if n > ihl && buf[ihl] == 0x11 && buf[12..16] == [10, 9, 0, 1] {
                    return Some(buf[..n].to_vec());
                }
            }
        }
        None
    });
    let stop = lan.host_joins(IpAddr::V4(group));
    go.send(stop).unwrap();
    let (leave_after, specific_queries, processing) = testns::join(router);
    eprintln!(
        "IGMPv{version}: host leave -> MGM Leave in {leave_after:?} ({processing:?} of it from \
         the leave's arrival), {specific_queries} group-specific queries"
    );
    if version == 3 {
        // Explicit tracking: the last host's TO_IN({}) ends the membership at once.
        assert_eq!(specific_queries, 0);
        assert!(leave_after < Duration::from_millis(500), "{leave_after:?}");
    } else {
        // Last member queries: LMQC = 2 queries, Leave after LMQT = 2 s.
        assert_eq!(specific_queries, 2);
        assert!(leave_after >= Duration::from_secs(2), "{leave_after:?}");
        assert!(leave_after < Duration::from_secs(3), "{leave_after:?}");
    }
    let query = capture.join().unwrap().expect("the host saw our query");
    assert_eq!(query[8], 1, "TTL 1");
    assert_eq!(query[0] & 0x0f, 6, "IP header with one 4-byte option");
    assert_eq!(query[20..24], [0x94, 0x04, 0x00, 0x00], "Router Alert");
    assert_eq!(query[16..20], [224, 0, 0, 1]);
}

#[test]
fn igmpv2_host_report_reaches_router_and_answers_our_query() {
    ipv4_host_report(2);
}

#[test]
fn igmpv3_host_report_reaches_router_and_answers_our_query() {
    ipv4_host_report(3);
}

fn ipv6_host_report(version: u8) {
    if !root_or_skip() {
        return;
    }
    let lan = Lan::new(&format!("v6-{version}"));
    lan.host
        .sysctl(&[&format!("net.ipv6.conf.h0.force_mld_version={version}")]);
    let r0 = IfIndex(lan.router.ifindex("r0"));
    let own = lan.router.link_local("r0");
    let host_ll = lan.host.link_local("h0");
    let group: Ipv6Addr = "ff05::1:3".parse().unwrap();
    let (opened, is_open) = mpsc::channel();
    let (go, start) = mpsc::channel::<mpsc::Sender<()>>();
    let router = lan.router.spawn_async(move || async move {
            // MRT6_INIT turns IPv6 multicast forwarding on: only then does the kernel deliver
            // MLDv1 reports (sent to the group itself) to local raw sockets.
            let _mrt = MrtSocket::open(Family::Ipv6, None).expect("MRT6_INIT");
            let mld = MldSocket::open().expect("mld socket");
            mld.join(r0).expect("join ff02::16 and ff02::2");
            opened.send(()).unwrap();
            let host = start.recv().unwrap();
            let config = Config {
                version,
                explicit_tracking: true,
                ..Config::mld()
            };
            let mut iface =
                Interface::new(Family::Ipv6, r0, IpAddr::V6(own), config, Instant::now());
            let startup = drain(&mut iface);
            let mut joined = Vec::new();
            let deadline = tokio::time::Instant::now() + WAIT;
            while joined.is_empty() {
                let packet = tokio::time::timeout_at(deadline, mld.recv())
                    .await
                    .expect("no MLD report within 5 s")
                    .expect("recv");
                let decoded = MldMessage::decode(&packet.payload).expect("valid MLD from Linux");
                let groups: Vec<Ipv6Addr> = match &decoded {
                    MldMessage::V1Report { group } => vec![*group],
                    MldMessage::V2Report { records } => records.iter().map(|r| r.group).collect(),
                    _ => vec![],
                };
                if !groups.contains(&group) {
                    continue;
                }
                match (version, &decoded) {
                    (1, MldMessage::V1Report { .. }) | (2, MldMessage::V2Report { .. }) => {}
                    other => panic!("unexpected report for force_mld_version {version}: {other:?}"),
                }
                assert_eq!(packet.ifindex, Some(r0));
                assert_eq!(packet.source, IpAddr::V6(host_ll));
                assert!(
                    packet.is_valid(),
                    "hop limit 1, Router Alert, link-local: {packet:?}"
                );
                iface.handle_packet(
                    Instant::now(),
                    packet.source,
                    packet.destination,
                    &packet.payload,
                );
                joined = drain(&mut iface);
            }
            let star_g = SourceGroup::star_g(IpAddr::V6(group)).unwrap();
            assert_eq!(joined, [Output::Join(star_g)]);
            // Our startup query, with a 1 s max response, makes the host report again.
            let Some(Output::Send {
                destination,
                payload,
            }) = startup.first().cloned()
            else {
                panic!("no startup query: {startup:?}");
            };
            assert_eq!(destination, "ff02::1".parse::<IpAddr>().unwrap());
            let query = match MldMessage::decode(&payload).unwrap() {
                MldMessage::Query { group, v2, .. } => MldMessage::Query {
                    max_resp_code: 1000,
                    group,
                    v2,
                }
                .encode(),
                other => panic!("not a query: {other:?}"),
            };
            tokio::time::sleep(Duration::from_millis(400)).await;
            while tokio::time::timeout(Duration::from_millis(100), mld.recv())
                .await
                .is_ok()
            {}
            let sent = tokio::time::Instant::now();
            mld.send(r0, "ff02::1".parse().unwrap(), &query)
                .expect("send query");
            loop {
                let packet = tokio::time::timeout_at(sent + Duration::from_secs(3), mld.recv())
                    .await
                    .expect("the host did not answer our query")
                    .expect("recv");
                let answered = match MldMessage::decode(&packet.payload) {
                    Ok(MldMessage::V1Report { group: g }) => g == group,
                    Ok(MldMessage::V2Report { records }) => {
                        records.iter().any(|r| r.group == group)
                    }
                    _ => false,
                };
                if answered {
                    break;
                }
            }
            // The host leaves (MLDv1 Done to ff02::2, MLDv2 TO_IN({}) to ff02::16).
            drop(host);
            let left = Instant::now();
            let mut arrived = left;
            let mut processing = Duration::ZERO;
            let mut outputs = Vec::new();
            while !outputs.iter().any(|o| matches!(o, Output::Leave(_))) {
                let deadline = iface.poll_timeout().unwrap_or(left + WAIT).min(left + WAIT);
                let wait = tokio::time::Instant::from_std(deadline);
                match tokio::time::timeout_at(wait, mld.recv()).await {
                    Ok(packet) => {
                        let p = packet.expect("recv");
                        arrived = Instant::now();
                        iface.handle_packet(arrived, p.source, p.destination, &p.payload);
                    }
                    Err(_) => {
                        assert!(Instant::now() < left + WAIT, "no Leave within 5 s: {outputs:?}");
                        iface.handle_timeout(Instant::now());
                    }
                }
                for output in drain(&mut iface) {
                    if matches!(output, Output::Leave(_)) {
                        processing = arrived.elapsed();
                    }
                    if let Output::Send { destination: IpAddr::V6(d), payload } = &output {
                        mld.send(r0, *d, payload).expect("send");
                    }
                    outputs.push(output);
                }
            }
            let queries = outputs
                .iter()
                .filter(|o| matches!(o, Output::Send { destination, .. } if *destination == IpAddr::V6(group)))
                .count();
            (left.elapsed(), queries, processing)
        });
    is_open.recv().expect("router sockets");
    let stop = lan.host_joins(IpAddr::V6(group));
    go.send(stop).unwrap();
    let (leave_after, specific_queries, processing) = testns::join(router);
    eprintln!(
        "MLDv{version}: host leave -> MGM Leave in {leave_after:?} ({processing:?} of it from \
         the leave's arrival), {specific_queries} group-specific queries"
    );
    if version == 2 {
        assert_eq!(specific_queries, 0);
        assert!(leave_after < Duration::from_millis(500), "{leave_after:?}");
    } else {
        assert_eq!(specific_queries, 2);
        assert!(leave_after >= Duration::from_secs(2), "{leave_after:?}");
        assert!(leave_after < Duration::from_secs(3), "{leave_after:?}");
    }
}

#[test]
fn mldv1_host_report_reaches_router_and_answers_our_query() {
    ipv6_host_report(1);
}

#[test]
fn mldv2_host_report_reaches_router_and_answers_our_query() {
    ipv6_host_report(2);
}

/// A child process I started, killed on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Linux host in `ns` joining (`source`, `group`) for `seconds`: IPv4 through
/// `IP_ADD_SOURCE_MEMBERSHIP` (socket2), IPv6 through `MCAST_JOIN_SOURCE_GROUP` from python3
/// (std and socket2 have no IPv6 source-specific join).
fn host_joins_source(lan: &Lan, source: IpAddr, group: IpAddr, seconds: u32) -> Option<Child> {
    match (source, group) {
        (IpAddr::V4(s), IpAddr::V4(g)) => {
            let (ready, is_ready) = mpsc::channel();
            lan.host.spawn(move || {
                let socket = socket2::Socket::new(
                    socket2::Domain::IPV4,
                    socket2::Type::DGRAM,
                    Some(socket2::Protocol::UDP),
                )
                .expect("udp");
                socket
                    .join_ssm_v4(&s, &g, &Ipv4Addr::new(10, 9, 0, 2))
                    .expect("join (S,G)");
                ready.send(()).unwrap();
                std::thread::sleep(Duration::from_secs(u64::from(seconds)));
            });
            is_ready.recv().expect("joined");
            None
        }
        (IpAddr::V6(s), IpAddr::V6(g)) => {
            let script = r#"
import socket, struct, sys, time
ifindex, group, source, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
def sockaddr_in6(addr):
    b = struct.pack('=HHI', socket.AF_INET6, 0, 0) + socket.inet_pton(socket.AF_INET6, addr) + struct.pack('=I', 0)
    return b + bytes(128 - len(b))
req = struct.pack('=I', ifindex) + bytes(4) + sockaddr_in6(group) + sockaddr_in6(source)
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, 46, req)  # MCAST_JOIN_SOURCE_GROUP
print('joined', flush=True)
time.sleep(seconds)
"#;
            let ifindex = lan.host.ifindex("h0").to_string();
            let mut child = std::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &lan.host.name,
                    "python3",
                    "-c",
                    script,
                    &ifindex,
                ])
                .args([g.to_string(), s.to_string(), seconds.to_string()])
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("python3");
            let mut line = String::new();
            let stdout = child.stdout.take().expect("stdout");
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line)
                .expect("read");
            assert_eq!(line.trim(), "joined");
            Some(Child(child))
        }
        _ => panic!("family mismatch"),
    }
}

/// A host joins one source of an SSM group: only (S,G) is joined, never (*,G).
fn ssm(family: Family) {
    if !root_or_skip() {
        return;
    }
    let lan = Lan::new(match family {
        Family::Ipv4 => "ssm4",
        Family::Ipv6 => "ssm6",
    });
    let r0 = IfIndex(lan.router.ifindex("r0"));
    let (own, source, group): (IpAddr, IpAddr, IpAddr) = match family {
        Family::Ipv4 => (
            "10.9.0.1".parse().unwrap(),
            "10.5.0.5".parse().unwrap(),
            "232.1.1.1".parse().unwrap(),
        ),
        Family::Ipv6 => (
            IpAddr::V6(lan.router.link_local("r0")),
            "fd00:5::5".parse().unwrap(),
            "ff3e::8000:1".parse().unwrap(),
        ),
    };
    let (opened, is_open) = mpsc::channel();
    let router = lan.router.spawn_async(move || async move {
        let mut iface = Interface::new(family, r0, own, Config::default(), Instant::now());
        drain(&mut iface);
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut outputs = Vec::new();
        match family {
            Family::Ipv4 => {
                let mrt = MrtSocket::open(Family::Ipv4, None).expect("MRT_INIT");
                let sender = IgmpSender::open().expect("sender");
                sender.join(r0).expect("join");
                opened.send(()).unwrap();
                while outputs.is_empty() {
                    let message = tokio::time::timeout_at(deadline, mrt.recv())
                        .await
                        .expect("no report within 5 s")
                        .expect("recv");
                    if let MrtMessage::Packet {
                        source,
                        destination,
                        payload,
                        ..
                    } = message
                    {
                        iface.handle_packet(Instant::now(), source, destination, &payload);
                        outputs.extend(drain(&mut iface));
                    }
                }
                // The host's retransmissions: still nothing but (S,G).
                let more = tokio::time::Instant::now() + Duration::from_millis(700);
                while let Ok(message) = tokio::time::timeout_at(more, mrt.recv()).await {
                    if let MrtMessage::Packet {
                        source,
                        destination,
                        payload,
                        ..
                    } = message.expect("recv")
                    {
                        iface.handle_packet(Instant::now(), source, destination, &payload);
                        outputs.extend(drain(&mut iface));
                    }
                }
            }
            Family::Ipv6 => {
                let mld = MldSocket::open().expect("mld");
                mld.join(r0).expect("join");
                opened.send(()).unwrap();
                while outputs.is_empty() {
                    let p = tokio::time::timeout_at(deadline, mld.recv())
                        .await
                        .expect("no report within 5 s")
                        .expect("recv");
                    iface.handle_packet(Instant::now(), p.source, p.destination, &p.payload);
                    outputs.extend(drain(&mut iface));
                }
                let more = tokio::time::Instant::now() + Duration::from_millis(700);
                while let Ok(p) = tokio::time::timeout_at(more, mld.recv()).await {
                    let p = p.expect("recv");
                    iface.handle_packet(Instant::now(), p.source, p.destination, &p.payload);
                    outputs.extend(drain(&mut iface));
                }
            }
        }
        outputs
    });
    is_open.recv().expect("router sockets");
    let _host = host_joins_source(&lan, source, group, 3);
    let outputs = testns::join(router);
    assert_eq!(
        outputs,
        [Output::Join(SourceGroup::sg(source, group).unwrap())]
    );
}

#[test]
fn igmpv3_ssm_source_join_gives_source_group_only() {
    ssm(Family::Ipv4);
}

#[test]
fn mldv2_ssm_source_join_gives_source_group_only() {
    ssm(Family::Ipv6);
}
