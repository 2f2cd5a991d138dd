//! Test harness over the pure core: an `Mgm`, a clock, link helpers and action draining.
#![allow(dead_code)]

use std::net::IpAddr;
use std::time::{Duration, Instant};

use mgm_core::{
    Action, Callback, Callbacks, ComponentId, Config, Family, IfIndex, InterfaceKey, KernelOp,
    LinkEvent, LinkInfo, MembershipFlags, Mgm, Notification, ProtocolHandle, ProtocolId, Route,
    SourceGroup, VifIndex, VifSet,
};

/// The pure core plus a clock.
pub struct Harness {
    pub mgm: Mgm,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Harness {
        Harness::with_config(Config::default())
    }

    pub fn with_config(config: Config) -> Harness {
        Harness {
            mgm: Mgm::new(config),
            now: Instant::now(),
        }
    }

    /// Register `id` (component 0) handling every callback.
    pub fn register(&mut self, id: ProtocolId) -> ProtocolHandle {
        self.register_with(id, 0, Callbacks::all())
    }

    pub fn register_with(
        &mut self,
        id: ProtocolId,
        component: u32,
        callbacks: Callbacks,
    ) -> ProtocolHandle {
        self.mgm
            .register_protocol(id, ComponentId(component), callbacks)
            .unwrap()
    }

    /// Announce an up, multicast-capable interface `eth<ifindex>`.
    pub fn link_up(&mut self, ifindex: u32) {
        self.mgm
            .handle_link(self.now, LinkEvent::Link(link_info(ifindex)));
    }

    pub fn link_removed(&mut self, ifindex: u32) {
        self.mgm.handle_link(
            self.now,
            LinkEvent::Removed {
                ifindex: IfIndex(ifindex),
            },
        );
    }

    pub fn take(&mut self, p: ProtocolHandle, key: InterfaceKey) {
        self.mgm.take_interface_ownership(self.now, p, key).unwrap();
    }

    pub fn release(&mut self, p: ProtocolHandle, key: InterfaceKey) {
        self.mgm
            .release_interface_ownership(self.now, p, key)
            .unwrap();
    }

    pub fn join(&mut self, p: ProtocolHandle, scope: SourceGroup, key: InterfaceKey) {
        self.mgm
            .add_group_membership(self.now, p, scope, key, MembershipFlags::JOIN_STATE, None)
            .unwrap();
    }

    pub fn leave(&mut self, p: ProtocolHandle, scope: SourceGroup, key: InterfaceKey) {
        self.mgm
            .delete_group_membership(self.now, p, scope, key, MembershipFlags::JOIN_STATE, None)
            .unwrap();
    }

    /// A NOCACHE fact for (source, group) arriving on `vif`, with a FIB route via `route_if`.
    pub fn packet(&mut self, source: &str, group: &str, vif: u16, route_if: Option<u32>) {
        let s = ip(source);
        self.mgm.handle_new_packet(
            self.now,
            Family::of(s),
            s,
            ip(group),
            VifIndex(vif),
            route_if.map(|i| route(i, None)),
        );
    }

    /// Advance the clock and fire due timers.
    pub fn advance(&mut self, by: Duration) {
        self.now += by;
        self.mgm.handle_timeout(self.now);
    }

    /// Collect every queued action.
    pub fn drain(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.mgm.poll_action()).collect()
    }

    /// Collect only the notifications.
    pub fn notes(&mut self) -> Vec<(ProtocolHandle, Notification)> {
        self.drain()
            .into_iter()
            .filter_map(|a| match a {
                Action::Notify {
                    protocol,
                    notification,
                } => Some((protocol, notification)),
                Action::Kernel(_) => None,
            })
            .collect()
    }

    /// Collect only the kernel operations.
    pub fn kernel(&mut self) -> Vec<KernelOp> {
        self.drain()
            .into_iter()
            .filter_map(|a| match a {
                Action::Kernel(op) => Some(op),
                Action::Notify { .. } => None,
            })
            .collect()
    }
}

pub fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

pub fn link_info(ifindex: u32) -> LinkInfo {
    LinkInfo {
        ifindex: IfIndex(ifindex),
        name: format!("eth{ifindex}"),
        up: true,
        multicast: true,
        point_to_point: false,
        loopback: false,
        mtu: 1500,
    }
}

/// The IPv4 whole-link key of `ifindex`.
pub fn key(ifindex: u32) -> InterfaceKey {
    InterfaceKey::link(IfIndex(ifindex), Family::Ipv4)
}

/// The IPv6 whole-link key of `ifindex`.
pub fn key6(ifindex: u32) -> InterfaceKey {
    InterfaceKey::link(IfIndex(ifindex), Family::Ipv6)
}

pub fn route(ifindex: u32, gateway: Option<&str>) -> Route {
    Route {
        ifindex: IfIndex(ifindex),
        gateway: gateway.map(ip),
        prefix: ip("10.0.0.0"),
        prefix_len: 8,
        protocol: 2,
    }
}

pub fn sg(source: &str, group: &str) -> SourceGroup {
    SourceGroup::sg(ip(source), ip(group)).unwrap()
}

pub fn star_g(group: &str) -> SourceGroup {
    SourceGroup::star_g(ip(group)).unwrap()
}

pub fn star_star() -> SourceGroup {
    SourceGroup::star_star(Family::Ipv4)
}

pub fn vifs(list: &[u16]) -> VifSet {
    let mut set = VifSet::EMPTY;
    for v in list {
        set.insert(VifIndex(*v));
    }
    set
}

pub fn add_vif(vif: u16, ifindex: u32) -> KernelOp {
    KernelOp::AddVif {
        family: Family::Ipv4,
        vif: VifIndex(vif),
        ifindex: IfIndex(ifindex),
    }
}

pub fn del_vif(vif: u16, ifindex: u32) -> KernelOp {
    KernelOp::DelVif {
        family: Family::Ipv4,
        vif: VifIndex(vif),
        ifindex: IfIndex(ifindex),
    }
}

pub fn add_mfe(source: &str, group: &str, iif: u16, oifs: &[u16]) -> KernelOp {
    KernelOp::AddMfe {
        family: Family::Ipv4,
        source: ip(source),
        group: ip(group),
        iif: VifIndex(iif),
        oifs: vifs(oifs),
    }
}

pub fn del_mfe(source: &str, group: &str) -> KernelOp {
    KernelOp::DelMfe {
        family: Family::Ipv4,
        source: ip(source),
        group: ip(group),
    }
}

pub fn notify(protocol: ProtocolHandle, notification: Notification) -> Action {
    Action::Notify {
        protocol,
        notification,
    }
}

/// Callbacks from a list.
pub fn callbacks(list: &[Callback]) -> Callbacks {
    list.iter().copied().collect()
}

/// A routing protocol that handles only the alerts (no RPF, no creation alert): MFEs are
/// installed at once.
pub fn alerts_only() -> Callbacks {
    callbacks(&[
        Callback::JoinAlert,
        Callback::PruneAlert,
        Callback::LocalJoin,
        Callback::LocalLeave,
    ])
}
