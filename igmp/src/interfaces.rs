//! Every IGMP / MLD interface of the daemon in one sans-IO object: the agent feeds it packets
//! by arrival interface and drains one output queue and one timer.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use mgm_core::{Family, IfIndex, InterfaceKey};

use crate::router::{Config, Interface, InterfaceState, Output};

/// An [`Output`] with the interface it belongs to.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub struct InterfaceOutput {
    /// Interface index.
    pub ifindex: IfIndex,
    /// IGMP (`Ipv4`) or MLD (`Ipv6`).
    pub family: Family,
    /// What to do.
    pub output: Output,
}

impl InterfaceOutput {
    /// The MGM interface key of the output's memberships: the whole link.
    pub fn key(&self) -> InterfaceKey {
        InterfaceKey::link(self.ifindex, self.family)
    }
}

/// The IGMP/MLD interfaces, keyed by (ifindex, family).
#[derive(Debug, Default)]
pub struct Interfaces {
    interfaces: BTreeMap<(IfIndex, Family), Interface>,
    outputs: VecDeque<InterfaceOutput>,
}

impl Interfaces {
    /// No interfaces.
    pub fn new() -> Interfaces {
        Interfaces::default()
    }

    /// Start IGMP (IPv4) or MLD (IPv6) on `ifindex` (see [`Interface::new`]). Starting it again
    /// restarts it: the old instance's memberships are left first.
    pub fn start(
        &mut self,
        family: Family,
        ifindex: IfIndex,
        own_address: IpAddr,
        config: Config,
        now: Instant,
    ) {
        self.stop(family, ifindex);
        let interface = Interface::new(family, ifindex, own_address, config, now);
        self.interfaces.insert((ifindex, family), interface);
        self.collect(ifindex, family);
    }

    /// Stop IGMP / MLD on `ifindex`: Leaves for its memberships are queued. Returns whether it
    /// was running.
    pub fn stop(&mut self, family: Family, ifindex: IfIndex) -> bool {
        let Some(mut interface) = self.interfaces.remove(&(ifindex, family)) else {
            return false;
        };
        interface.shutdown();
        while let Some(output) = interface.poll_output() {
            self.outputs.push_back(InterfaceOutput {
                ifindex,
                family,
                output,
            });
        }
        true
    }

    /// The interface of (ifindex, family), if running.
    pub fn get(&self, family: Family, ifindex: IfIndex) -> Option<&Interface> {
        self.interfaces.get(&(ifindex, family))
    }

    /// The interface of (ifindex, family), if running, for direct calls (drain with
    /// [`Interfaces::poll_output`] after: outputs are collected lazily).
    pub fn get_mut(&mut self, family: Family, ifindex: IfIndex) -> Option<&mut Interface> {
        self.interfaces.get_mut(&(ifindex, family))
    }

    /// A packet that arrived on `ifindex` (ignored when IGMP/MLD does not run there; the
    /// family is the source address's).
    pub fn handle_packet(
        &mut self,
        now: Instant,
        ifindex: IfIndex,
        source: IpAddr,
        destination: IpAddr,
        payload: &[u8],
    ) {
        let family = Family::of(source);
        if let Some(interface) = self.interfaces.get_mut(&(ifindex, family)) {
            interface.handle_packet(now, source, destination, payload);
            self.collect(ifindex, family);
        }
    }

    /// Run every interface's expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<(IfIndex, Family)> = self
            .interfaces
            .iter()
            .filter(|(_, i)| i.poll_timeout().is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for (ifindex, family) in due {
            if let Some(interface) = self.interfaces.get_mut(&(ifindex, family)) {
                interface.handle_timeout(now);
            }
            self.collect(ifindex, family);
        }
    }

    /// MGM's Disable-IGMP for `iface` (a no-op for interfaces not running).
    pub fn disable(&mut self, iface: InterfaceKey) {
        if let Some(interface) = self.interfaces.get_mut(&(iface.ifindex, iface.family())) {
            interface.disable();
        }
    }

    /// MGM's Enable-IGMP for `iface`: queues a Join for every current membership. Call it after
    /// the MGM call that produced the notification has returned.
    pub fn enable(&mut self, iface: InterfaceKey) {
        let (ifindex, family) = (iface.ifindex, iface.family());
        if let Some(interface) = self.interfaces.get_mut(&(ifindex, family)) {
            interface.enable();
            self.collect(ifindex, family);
        }
    }

    /// The earliest deadline of all interfaces.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.interfaces
            .values()
            .filter_map(Interface::poll_timeout)
            .min()
    }

    /// The next output of any interface.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<InterfaceOutput> {
        if self.outputs.is_empty() {
            let keys: Vec<(IfIndex, Family)> = self.interfaces.keys().copied().collect();
            for (ifindex, family) in keys {
                self.collect(ifindex, family);
            }
        }
        self.outputs.pop_front()
    }

    /// Snapshots of the interfaces of `family`, for `mgmctl show igmp` / `show mld`.
    pub fn state(&self, family: Family, now: Instant) -> Vec<InterfaceState> {
        self.interfaces
            .iter()
            .filter(|((_, f), _)| *f == family)
            .map(|(_, i)| i.state(now))
            .collect()
    }

    /// Running (ifindex, family) pairs.
    pub fn running(&self) -> impl Iterator<Item = (IfIndex, Family)> + '_ {
        self.interfaces.keys().copied()
    }

    fn collect(&mut self, ifindex: IfIndex, family: Family) {
        if let Some(interface) = self.interfaces.get_mut(&(ifindex, family)) {
            while let Some(output) = interface.poll_output() {
                self.outputs.push_back(InterfaceOutput {
                    ifindex,
                    family,
                    output,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use mgm_core::SourceGroup;

    use super::*;
    use crate::packet::igmp::IgmpMessage;
    use crate::packet::mld::MldMessage;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn drain(all: &mut Interfaces) -> Vec<InterfaceOutput> {
        std::iter::from_fn(|| all.poll_output()).collect()
    }

    #[test]
    fn routes_packets_outputs_and_timers_per_interface() {
        let now = Instant::now();
        let mut all = Interfaces::new();
        all.start(
            Family::Ipv4,
            IfIndex(2),
            ip("10.0.0.1"),
            Config::igmp(),
            now,
        );
        all.start(Family::Ipv6, IfIndex(2), ip("fe80::1"), Config::mld(), now);
        all.start(
            Family::Ipv4,
            IfIndex(3),
            ip("10.1.0.1"),
            Config::igmp(),
            now,
        );
        // One startup query each.
        let startup = drain(&mut all);
        assert_eq!(startup.len(), 3);
        assert!(startup
            .iter()
            .all(|o| matches!(o.output, Output::Send { .. })));

        let report = IgmpMessage::V2Report {
            group: "239.1.1.1".parse().unwrap(),
        }
        .encode();
        all.handle_packet(now, IfIndex(3), ip("10.1.0.9"), ip("239.1.1.1"), &report);
        // Not running on ifindex 4: ignored.
        all.handle_packet(now, IfIndex(4), ip("10.2.0.9"), ip("239.1.1.1"), &report);
        let mld = MldMessage::V1Report {
            group: "ff05::1:3".parse().unwrap(),
        }
        .encode();
        all.handle_packet(now, IfIndex(2), ip("fe80::9"), ip("ff05::1:3"), &mld);
        let out = drain(&mut all);
        let star_g = |g: &str| Output::Join(SourceGroup::star_g(ip(g)).unwrap());
        assert_eq!(
            out,
            [
                InterfaceOutput {
                    ifindex: IfIndex(3),
                    family: Family::Ipv4,
                    output: star_g("239.1.1.1")
                },
                InterfaceOutput {
                    ifindex: IfIndex(2),
                    family: Family::Ipv6,
                    output: star_g("ff05::1:3")
                },
            ]
        );
        assert_eq!(out[1].key(), InterfaceKey::link(IfIndex(2), Family::Ipv6));

        // Disable / Enable by MGM key.
        let key = InterfaceKey::link(IfIndex(3), Family::Ipv4);
        all.disable(key);
        all.enable(key);
        assert_eq!(drain(&mut all).len(), 1);

        // Timers: the startup queries come 31.25 s later, on all three.
        let t = all.poll_timeout().unwrap();
        assert_eq!(t, now + Duration::from_millis(31_250));
        all.handle_timeout(t);
        assert_eq!(drain(&mut all).len(), 3);

        // Stopping leaves the memberships.
        assert!(all.stop(Family::Ipv4, IfIndex(3)));
        assert!(!all.stop(Family::Ipv4, IfIndex(3)));
        let out = drain(&mut all);
        assert_eq!(out.len(), 1);
        assert!(matches!(out[0].output, Output::Leave(_)));
        assert_eq!(all.state(Family::Ipv4, now).len(), 1);
        assert_eq!(all.state(Family::Ipv6, now).len(), 1);
    }
}
