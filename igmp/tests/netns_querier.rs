//! Two routers on one link, each an `Interface` on real sockets in its own namespace: exactly
//! one becomes querier; when it stops, the other takes over after the Other Querier Present
//! Interval. IGMP (queries read from the MRT socket) and MLD (from `MldSocket`).
//!
//! Root only: skipped when not root unless CI=true, where it must run.

use std::net::IpAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use igmp::{Config, Interface, Output};
use mgm_core::{Family, IfIndex};
use netlink::igmp_io::{IgmpSender, MldSocket};
use netlink::mrt::{MrtMessage, MrtSocket};
use testns::{root_or_skip, Lan, Netns};

/// QI 2 s, QRI 1 s, robustness 2: OQPI = 2 x 2 + 0.5 = 4.5 s; two startup queries 0.5 s apart.
fn config(family: Family) -> Config {
    let base = match family {
        Family::Ipv4 => Config::igmp(),
        Family::Ipv6 => Config::mld(),
    };
    Config {
        query_interval: Duration::from_secs(2),
        query_response_interval: Duration::from_secs(1),
        startup_query_interval: Some(Duration::from_millis(500)),
        ..base
    }
}

/// What one router did: when it sent general queries (since the common start), and whether
/// it was querier at the end.
struct Log {
    queries: Vec<Duration>,
    querier_at_end: bool,
}

/// Run an `Interface` on `ifname` of `ns` for `run_for`, sending its queries and feeding it
/// every IGMP/MLD packet that arrives.
fn router(
    ns: &Netns,
    ifname: &str,
    family: Family,
    own: IpAddr,
    start: Arc<Barrier>,
    run_for: Duration,
) -> std::thread::JoinHandle<Log> {
    let ifindex = IfIndex(ns.ifindex(ifname));
    ns.spawn_async(move || async move {
        enum Io {
            V4(MrtSocket, IgmpSender),
            V6(MldSocket),
        }
        let io = match family {
            Family::Ipv4 => {
                let mrt = MrtSocket::open(Family::Ipv4, None).expect("MRT_INIT");
                let sender = IgmpSender::open().expect("sender");
                sender.join(ifindex).expect("join");
                Io::V4(mrt, sender)
            }
            Family::Ipv6 => {
                let mld = MldSocket::open().expect("mld");
                mld.join(ifindex).expect("join");
                Io::V6(mld)
            }
        };
        start.wait();
        let t0 = Instant::now();
        let end = t0 + run_for;
        let mut iface = Interface::new(family, ifindex, own, config(family), t0);
        let mut queries = Vec::new();
        loop {
            while let Some(output) = iface.poll_output() {
                if let Output::Send {
                    destination,
                    payload,
                } = output
                {
                    queries.push(t0.elapsed());
                    match (&io, destination) {
                        (Io::V4(_, sender), IpAddr::V4(d)) => {
                            sender.send(ifindex, d, &payload).expect("send")
                        }
                        (Io::V6(mld), IpAddr::V6(d)) => {
                            mld.send(ifindex, d, &payload).expect("send")
                        }
                        _ => unreachable!("family mismatch"),
                    }
                }
            }
            let now = Instant::now();
            if now >= end {
                break;
            }
            let wake = iface.poll_timeout().unwrap_or(end).min(end);
            let sleep = tokio::time::sleep_until(tokio::time::Instant::from_std(wake));
            let packet = async {
                match &io {
                    Io::V4(mrt, _) => match mrt.recv().await.expect("recv") {
                        MrtMessage::Packet {
                            source,
                            destination,
                            payload,
                            ..
                        } => Some((source, destination, payload)),
                        MrtMessage::Upcall(_) => None,
                    },
                    Io::V6(mld) => {
                        let p = mld.recv().await.expect("recv");
                        Some((p.source, p.destination, p.payload))
                    }
                }
            };
            tokio::select! {
                received = packet => {
                    if let Some((source, destination, payload)) = received {
                        iface.handle_packet(Instant::now(), source, destination, &payload);
                    }
                }
                () = sleep => iface.handle_timeout(Instant::now()),
            }
        }
        Log {
            queries,
            querier_at_end: iface.is_querier(),
        }
    })
}

fn election(family: Family) {
    if !root_or_skip() {
        return;
    }
    let lan = Lan::new(match family {
        Family::Ipv4 => "q4",
        Family::Ipv6 => "q6",
    });
    let (a_addr, b_addr): (IpAddr, IpAddr) = match family {
        Family::Ipv4 => ("10.9.0.1".parse().unwrap(), "10.9.0.2".parse().unwrap()),
        Family::Ipv6 => (
            IpAddr::V6(lan.router.link_local("r0")),
            IpAddr::V6(lan.host.link_local("h0")),
        ),
    };
    // Name the lower address "low": it must win.
    let (low_ns, low_if, low, high_ns, high_if, high) = if a_addr < b_addr {
        (&lan.router, "r0", a_addr, &lan.host, "h0", b_addr)
    } else {
        (&lan.host, "h0", b_addr, &lan.router, "r0", a_addr)
    };
    let start = Arc::new(Barrier::new(2));
    let low_run = Duration::from_secs(3);
    let low_router = router(low_ns, low_if, family, low, start.clone(), low_run);
    let high_router = router(
        high_ns,
        high_if,
        family,
        high,
        start,
        Duration::from_millis(9500),
    );
    let low_log = low_router.join().expect("low router");
    let high_log = high_router.join().expect("high router");
    eprintln!("{family}: low {low} queries at {:?}", low_log.queries);
    eprintln!("{family}: high {high} queries at {:?}", high_log.queries);

    assert!(low_log.querier_at_end, "the lowest address stays querier");
    // Startup queries at 0 and 0.5 s, then every 2 s while it runs (3 s).
    assert_eq!(low_log.queries.len(), 3, "{:?}", low_log.queries);
    // The higher router sends its first startup query, hears the lower one, and falls silent.
    let first = high_log.queries.first().copied().expect("startup query");
    assert!(first < Duration::from_millis(300), "{first:?}");
    let silent: Vec<_> = high_log
        .queries
        .iter()
        .filter(|t| **t > Duration::from_millis(300) && **t < Duration::from_millis(6500))
        .collect();
    assert_eq!(
        silent,
        Vec::<&Duration>::new(),
        "a non-querier sends no queries"
    );
    // The lower one's last query is at ~2.5 s: take-over at ~2.5 + 4.5 = 7 s.
    let takeover = high_log
        .queries
        .iter()
        .find(|t| **t >= Duration::from_millis(6500))
        .copied()
        .expect("the other router takes over");
    assert!(
        takeover < Duration::from_millis(7600),
        "take-over at {takeover:?}"
    );
    assert!(high_log.querier_at_end);
}

#[test]
fn igmp_two_routers_one_querier_and_takeover() {
    election(Family::Ipv4);
}

#[test]
fn mld_two_routers_one_querier_and_takeover() {
    election(Family::Ipv6);
}
