//! The router side never panics on any sequence of packets and delays, IGMP or MLD.
//!
//! Input: chunks of `[family/host byte, delay byte, length byte, payload...]`.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use igmp::{Config, Interface};
use libfuzzer_sys::fuzz_target;
use mgm_core::{Family, IfIndex};

fuzz_target!(|data: &[u8]| {
    let start = Instant::now();
    let v6 = data.first().is_some_and(|b| b & 1 == 1);
    let (family, own, config) = if v6 {
        (
            Family::Ipv6,
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 5)),
            Config::mld(),
        )
    } else {
        (
            Family::Ipv4,
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 5)),
            Config::igmp(),
        )
    };
    let config = Config {
        explicit_tracking: data.get(1).is_some_and(|b| b & 1 == 1),
        ..config
    };
    let mut iface = Interface::new(family, IfIndex(1), own, config, start);
    let mut now = start;
    let mut rest = data.get(2..).unwrap_or_default();
    while let [host, delay, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, next) = tail.split_at(len);
        rest = next;
        now += Duration::from_millis(u64::from(*delay) * 100);
        while let Some(t) = iface.poll_timeout() {
            if t > now {
                break;
            }
            iface.handle_timeout(t);
        }
        let source = if v6 {
            IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, u16::from(*host)))
        } else {
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, *host))
        };
        iface.handle_packet(now, source, own, payload);
        while iface.poll_output().is_some() {}
        if let Some(t) = iface.poll_timeout() {
            assert!(t + Duration::from_secs(1) >= now, "timer in the past");
        }
    }
    let _ = iface.state(now);
});
