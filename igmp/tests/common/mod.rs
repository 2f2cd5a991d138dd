//! Test harness: a fake clock, packet builders and output helpers.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use igmp::packet::igmp::IgmpMessage;
use igmp::packet::mld::MldMessage;
use igmp::packet::{GroupRecord, RecordType};
use igmp::{Config, Interface, Output};
use mgm_core::{Family, IfIndex, SourceGroup};

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

pub fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

pub fn ms(m: u64) -> Duration {
    Duration::from_millis(m)
}

pub fn star_g(g: &str) -> SourceGroup {
    SourceGroup::star_g(ip(g)).unwrap()
}

pub fn sg(s: &str, g: &str) -> SourceGroup {
    SourceGroup::sg(ip(s), ip(g)).unwrap()
}

/// An interface driven by a fake clock.
pub struct Router {
    pub iface: Interface,
    pub now: Instant,
    pub start: Instant,
    pub address: IpAddr,
}

impl Router {
    pub fn igmp(address: &str, config: Config) -> Router {
        Router::new(Family::Ipv4, address, config, Instant::now())
    }

    pub fn mld(address: &str, config: Config) -> Router {
        Router::new(Family::Ipv6, address, config, Instant::now())
    }

    pub fn new(family: Family, address: &str, config: Config, start: Instant) -> Router {
        let address = ip(address);
        let iface = Interface::new(family, IfIndex(7), address, config, start);
        Router {
            iface,
            now: start,
            start,
            address,
        }
    }

    /// Seconds since start (for messages).
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    pub fn drain(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.iface.poll_output()).collect()
    }

    /// Feed a packet at the current time and return the outputs.
    pub fn receive(&mut self, source: &str, payload: &[u8]) -> Vec<Output> {
        let destination = match self.iface.family() {
            Family::Ipv4 => ip("224.0.0.22"),
            Family::Ipv6 => ip("ff02::16"),
        };
        self.iface
            .handle_packet(self.now, ip(source), destination, payload);
        self.drain()
    }

    /// Run every timer up to `now + d`, returning each output with its time since start.
    pub fn advance(&mut self, d: Duration) -> Vec<(Duration, Output)> {
        let until = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.iface.poll_timeout() {
            if t > until {
                break;
            }
            assert!(
                t >= self.now,
                "timer in the past: {:?} before now",
                self.now - t
            );
            self.now = t;
            self.iface.handle_timeout(t);
            for o in self.drain() {
                out.push((t - self.start, o));
            }
        }
        self.now = until;
        out
    }
}

/// Only the Join / Leave outputs.
pub fn memberships<'a>(outputs: impl IntoIterator<Item = &'a Output>) -> Vec<Output> {
    outputs
        .into_iter()
        .filter(|o| !matches!(o, Output::Send { .. }))
        .cloned()
        .collect()
}

/// Only the sent IGMP messages, decoded, with their destinations.
pub fn igmp_sent<'a>(outputs: impl IntoIterator<Item = &'a Output>) -> Vec<(IpAddr, IgmpMessage)> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send {
                destination,
                payload,
            } => Some((
                *destination,
                IgmpMessage::decode(payload).expect("we send valid IGMP"),
            )),
            _ => None,
        })
        .collect()
}

/// Only the sent MLD messages, decoded, with their destinations.
pub fn mld_sent<'a>(outputs: impl IntoIterator<Item = &'a Output>) -> Vec<(IpAddr, MldMessage)> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send {
                destination,
                payload,
            } => Some((
                *destination,
                MldMessage::decode(payload).expect("we send valid MLD"),
            )),
            _ => None,
        })
        .collect()
}

pub fn v1_report(group: &str) -> Vec<u8> {
    IgmpMessage::V1Report { group: v4(group) }.encode()
}

pub fn v2_report(group: &str) -> Vec<u8> {
    IgmpMessage::V2Report { group: v4(group) }.encode()
}

pub fn v2_leave(group: &str) -> Vec<u8> {
    IgmpMessage::V2Leave { group: v4(group) }.encode()
}

pub fn v3_report(kind: RecordType, group: &str, sources: &[&str]) -> Vec<u8> {
    IgmpMessage::V3Report {
        records: vec![GroupRecord {
            kind,
            group: v4(group),
            sources: sources.iter().map(|s| v4(s)).collect(),
        }],
    }
    .encode()
}

pub fn mld2_report(kind: RecordType, group: &str, sources: &[&str]) -> Vec<u8> {
    MldMessage::V2Report {
        records: vec![GroupRecord {
            kind,
            group: v6(group),
            sources: sources.iter().map(|s| v6(s)).collect(),
        }],
    }
    .encode()
}

/// Short timers: QI 10 s, QRI 2 s, LMQI 1 s, robustness 2 -> GMI 22 s, LMQT 2 s, OQPI 21 s.
pub fn short(version: u8) -> Config {
    Config {
        version,
        query_interval: secs(10),
        query_response_interval: secs(2),
        ..Config::igmp()
    }
}
