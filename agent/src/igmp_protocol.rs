//! The built-in IGMP (IPv4) / MLD (IPv6) router side as an in-process MGM client
//! (`ProtocolId::IGMP`), around the sans-IO `igmp::Interfaces`.
//!
//! For each enabled interface (config `[[igmp]]`, or `igmp_enable` over the IPC) whose link
//! exists and has an address to query from (IPv4: any; IPv6: link-local), it takes ownership of
//! the link key under the MGM IGMP rules (co-owning with a routing protocol), joins the
//! all-routers groups so reports reach it, and starts the querier. Its outputs become MGM calls
//! (`Join` / `Leave` → JOIN_STATE memberships on the interface) and packets (`Send` → the IGMP
//! sender socket or the MLD socket). Disable-IGMP / Enable-IGMP from the core are passed to the
//! interface, which stops and later replays its memberships. Like the static protocol, the
//! desired set is recomputed on every change ([`IgmpProtocol::sync`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use mgm_core::{
    Callback, ErrorCode, Family, IfIndex, InterfaceKey, MembershipFlags, Notification,
    ProtocolHandle, ProtocolId, Route, SourceGroup,
};
use netlink::igmp_io::{IgmpSender, MldSocket};
use serde_json::{json, Value};
use tracing::{debug, info, trace, warn};

use crate::config::IgmpInterface;
use crate::ipc::message::WireError;
use crate::static_routes::{Builtin, Host, Origin};

/// The packet sockets (either may be missing: that family then stays pending).
#[derive(Default)]
pub(crate) struct IgmpSockets {
    pub igmp: Option<IgmpSender>,
    pub mld: Option<Arc<MldSocket>>,
}

struct Wanted {
    setting: IgmpInterface,
    origin: Origin,
}

struct Running {
    name: String,
    address: IpAddr,
}

/// The IGMP/MLD protocol.
#[derive(Default)]
pub(crate) struct IgmpProtocol {
    handle: Option<ProtocolHandle>,
    sockets: IgmpSockets,
    interfaces: igmp::Interfaces,
    wanted: Vec<Wanted>,
    running: BTreeMap<(IfIndex, Family), Running>,
    /// (interface name, family) → why it is not running.
    pending: BTreeMap<(String, Family), String>,
    /// Families the kernel routes (IPv6 may be unavailable).
    families: Vec<Family>,
    /// FIB route toward each source named by recent reports (looked up by the packet readers,
    /// off the core task), for the (S,G) joins they cause. Bounded: cleared when full.
    source_routes: HashMap<IpAddr, Option<Route>>,
    /// The route given to the core with each (S,G) join held, given again with its leave (the
    /// prune alert then reaches the owner that got the join alert).
    sg_routes: HashMap<(InterfaceKey, SourceGroup), Option<Route>>,
}

/// Most sources of one report whose routes are looked up ([`report_sources`]).
pub(crate) const REPORT_SOURCES_LIMIT: usize = 64;

/// The distinct sources named by an IGMPv3 / MLDv2 report (`payload` from the IGMP / ICMPv6
/// header on), at most `limit`: its (S,G) joins need the route toward each. Anything else,
/// malformed input included, names none.
pub(crate) fn report_sources(family: Family, payload: &[u8], limit: usize) -> Vec<IpAddr> {
    use igmp::packet::{igmp::IgmpMessage, mld::MldMessage};
    let all: Vec<IpAddr> = match family {
        Family::Ipv4 => match IgmpMessage::decode(payload) {
            Ok(IgmpMessage::V3Report { records }) => records
                .into_iter()
                .flat_map(|r| r.sources)
                .map(IpAddr::V4)
                .collect(),
            _ => Vec::new(),
        },
        Family::Ipv6 => match MldMessage::decode(payload) {
            Ok(MldMessage::V2Report { records }) => records
                .into_iter()
                .flat_map(|r| r.sources)
                .map(IpAddr::V6)
                .collect(),
            _ => Vec::new(),
        },
    };
    let mut sources: Vec<IpAddr> = Vec::new();
    for source in all {
        if sources.len() >= limit {
            break;
        }
        if !sources.contains(&source) {
            sources.push(source);
        }
    }
    sources
}

impl IgmpProtocol {
    pub fn new(sockets: IgmpSockets, families: Vec<Family>) -> IgmpProtocol {
        IgmpProtocol {
            sockets,
            families,
            ..IgmpProtocol::default()
        }
    }

    /// The registration handle, once registered.
    pub fn handle(&self) -> Option<ProtocolHandle> {
        self.handle
    }

    /// Whether an interface waits for its link, address or ownership.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The earliest protocol timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.interfaces.poll_timeout()
    }

    /// `igmp_enable`: run on `setting.interface` (replacing an earlier setting of it).
    pub fn enable(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        setting: IgmpInterface,
        origin: Origin,
    ) -> Result<Value, WireError> {
        setting.validate().map_err(WireError::invalid)?;
        let name = setting.interface.clone();
        let families = setting.families();
        if let Some(i) = self.wanted.iter().position(|w| w.setting.interface == name) {
            if self.wanted[i].setting == setting {
                return Err(WireError::mgm(
                    ErrorCode::AlreadyExists,
                    format!("IGMP/MLD already runs on {name} with these settings"),
                ));
            }
            // New settings: restart.
            self.stop_name(host, now, &name);
            self.wanted[i] = Wanted { setting, origin };
        } else {
            self.wanted.push(Wanted { setting, origin });
        }
        self.sync(host, now);
        Ok(json!({"interfaces": self.status_of(&name, &families)}))
    }

    /// `igmp_disable`: stop on `name` (its memberships are deleted).
    pub fn disable(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        name: &str,
    ) -> Result<Value, WireError> {
        let before = self.wanted.len();
        self.wanted.retain(|w| w.setting.interface != name);
        if self.wanted.len() == before {
            return Err(WireError::mgm(
                ErrorCode::NotFound,
                format!("IGMP/MLD is not enabled on {name}"),
            ));
        }
        self.sync(host, now);
        Ok(json!({}))
    }

    /// SIGHUP: replace the config file's interfaces; those enabled with mgmctl stay.
    pub fn reload(&mut self, host: &mut dyn Host, now: Instant, settings: &[IgmpInterface]) {
        self.wanted
            .retain(|w| w.origin == Origin::Runtime || settings.contains(&w.setting));
        for setting in settings {
            if setting.validate().is_err()
                || self
                    .wanted
                    .iter()
                    .any(|w| w.setting.interface == setting.interface)
            {
                continue;
            }
            self.wanted.push(Wanted {
                setting: setting.clone(),
                origin: Origin::Config,
            });
        }
        self.sync(host, now);
    }

    /// An IGMP or MLD packet that arrived on `ifindex`, with the FIB routes toward the sources
    /// it names ([`report_sources`]).
    #[allow(clippy::too_many_arguments)]
    pub fn handle_packet(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        ifindex: IfIndex,
        source: IpAddr,
        destination: IpAddr,
        payload: &[u8],
        routes: HashMap<IpAddr, Option<Route>>,
    ) {
        trace!(%ifindex, %source, %destination, len = payload.len(), "IGMP/MLD packet");
        // Our own host side's reports (the router's kernel joins groups such as ff05::2 too)
        // loop back to us: they are not receivers.
        let own = host
            .mgm()
            .interface(ifindex)
            .is_some_and(|i| i.addresses.iter().any(|(a, _)| *a == source));
        if own {
            return;
        }
        if self.source_routes.len() + routes.len() > SOURCE_ROUTES_LIMIT {
            self.source_routes.clear();
        }
        self.source_routes.extend(routes);
        self.interfaces
            .handle_packet(now, ifindex, source, destination, payload);
        self.process_outputs(host, now);
    }

    /// Timers.
    pub fn handle_timeout(&mut self, host: &mut dyn Host, now: Instant) {
        if self.interfaces.poll_timeout().is_some_and(|t| t <= now) {
            self.interfaces.handle_timeout(now);
            self.process_outputs(host, now);
        }
    }

    /// A callback for the IGMP protocol.
    pub fn handle_notification(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        notification: Notification,
    ) {
        match notification {
            // MGM: stop adding and deleting memberships on the key until Enable-IGMP; the
            // core drops our memberships there itself.
            Notification::DisableIgmp { iface } => {
                debug!(%iface, "Disable-IGMP");
                self.interfaces.disable(iface);
            }
            // MGM: re-add every membership (after the call that raised it has returned, which
            // the inbox guarantees).
            Notification::EnableIgmp { iface } => {
                debug!(%iface, "Enable-IGMP");
                self.interfaces.enable(iface);
                self.process_outputs(host, now);
            }
            Notification::InterfaceDeleted { iface } => {
                let key = (iface.ifindex, iface.family());
                if let Some(running) = self.running.remove(&key) {
                    info!(interface = %running.name, family = %key.1, "IGMP/MLD: interface deleted");
                    self.interfaces.stop(key.1, key.0);
                    // Its Leaves find no key any more: nothing to undo in the core.
                    while self.interfaces.poll_output().is_some() {}
                    self.sg_routes
                        .retain(|(k, _), _| (k.ifindex, k.family()) != key);
                }
                self.sync(host, now);
            }
            other => debug!(?other, "IGMP: ignored callback"),
        }
    }

    /// Recompute which interfaces run and apply the difference.
    pub fn sync(&mut self, host: &mut dyn Host, now: Instant) {
        let handle = match self.handle {
            Some(h) => h,
            // Registered on first use only, so that an external IGMP client can register
            // (ProtocolId::IGMP, component 0) when the built-in one is not used.
            None if self.wanted.is_empty() => return,
            None => {
                let callbacks = [
                    Callback::DisableIgmp,
                    Callback::EnableIgmp,
                    Callback::InterfaceDeleted,
                ];
                match host.register_builtin(Builtin::Igmp, ProtocolId::IGMP, &callbacks) {
                    Ok(h) => {
                        self.handle = Some(h);
                        h
                    }
                    Err(e) => {
                        warn!("IGMP protocol cannot register: {e}");
                        return;
                    }
                }
            }
        };
        let mut pending = BTreeMap::new();
        let mut desired: BTreeMap<(IfIndex, Family), (String, IpAddr, igmp::Config)> =
            BTreeMap::new();
        for w in &self.wanted {
            for family in w.setting.families() {
                let name = w.setting.interface.clone();
                let reason = if !self.families.contains(&family) {
                    Some(crate::kernel::unavailable(family).message)
                } else if self.socket_missing(family) {
                    Some(format!(
                        "no {} socket",
                        if family == Family::Ipv4 {
                            "IGMP"
                        } else {
                            "MLD"
                        }
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    pending.insert((name, family), reason);
                    continue;
                }
                let Some(ifindex) = host.mgm().interface_by_name(&name) else {
                    pending.insert(
                        (name.clone(), family),
                        format!("interface {name} does not exist"),
                    );
                    continue;
                };
                let Some(address) = own_address(host, ifindex, family) else {
                    let what = if family == Family::Ipv4 {
                        "IPv4 address"
                    } else {
                        "IPv6 link-local address"
                    };
                    pending.insert((name.clone(), family), format!("{name} has no {what}"));
                    continue;
                };
                desired.insert(
                    (ifindex, family),
                    (name, address, w.setting.router_config(family)),
                );
            }
        }
        // Stop what is no longer wanted (or moved to another ifindex).
        let stale: Vec<(IfIndex, Family)> = self
            .running
            .keys()
            .filter(|k| !desired.contains_key(k))
            .copied()
            .collect();
        for key in stale {
            self.stop(host, now, handle, key);
        }
        for (key, (name, address, config)) in desired {
            let (ifindex, family) = key;
            if let Some(running) = self.running.get_mut(&key) {
                if running.address != address {
                    info!(interface = %name, %address, "IGMP/MLD: own address changed");
                    running.address = address;
                    if let Some(interface) = self.interfaces.get_mut(family, ifindex) {
                        interface.set_own_address(now, address);
                    }
                }
                continue;
            }
            let iface = InterfaceKey::link(ifindex, family);
            let taken = host.mgm().take_interface_ownership(now, handle, iface);
            if let Err(e) = taken.and_then(|()| host.settle(now)) {
                let reason = format!("cannot own {name}: {}", e.message);
                if self.pending.get(&(name.clone(), family)) != Some(&reason) {
                    warn!(interface = %name, %family, "IGMP/MLD pending: {reason}");
                }
                pending.insert((name, family), reason);
                continue;
            }
            if let Err(e) = self.join_routers(family, ifindex) {
                warn!(interface = %name, %family, "cannot join the all-routers groups: {e}");
            }
            info!(interface = %name, %family, %address, version = config.version, "IGMP/MLD started");
            self.interfaces.start(family, ifindex, address, config, now);
            self.running.insert(key, Running { name, address });
        }
        self.pending = pending;
        self.process_outputs(host, now);
    }

    fn socket_missing(&self, family: Family) -> bool {
        match family {
            Family::Ipv4 => self.sockets.igmp.is_none(),
            Family::Ipv6 => self.sockets.mld.is_none(),
        }
    }

    fn join_routers(&self, family: Family, ifindex: IfIndex) -> Result<(), netlink::Error> {
        match family {
            Family::Ipv4 => self
                .sockets
                .igmp
                .as_ref()
                .map_or(Ok(()), |s| s.join(ifindex)),
            Family::Ipv6 => self
                .sockets
                .mld
                .as_ref()
                .map_or(Ok(()), |s| s.join(ifindex)),
        }
    }

    fn stop_name(&mut self, host: &mut dyn Host, now: Instant, name: &str) {
        let Some(handle) = self.handle else { return };
        let keys: Vec<(IfIndex, Family)> = self
            .running
            .iter()
            .filter(|(_, r)| r.name == name)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.stop(host, now, handle, key);
        }
    }

    /// Stop one interface: Leaves for its memberships, then release the key.
    fn stop(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        handle: ProtocolHandle,
        key: (IfIndex, Family),
    ) {
        let (ifindex, family) = key;
        let Some(running) = self.running.remove(&key) else {
            return;
        };
        info!(interface = %running.name, %family, "IGMP/MLD stopped");
        self.interfaces.stop(family, ifindex);
        self.process_outputs(host, now);
        // (A disabled interface stops without Leaves.)
        self.sg_routes
            .retain(|(k, _), _| (k.ifindex, k.family()) != key);
        let iface = InterfaceKey::link(ifindex, family);
        let released = host.mgm().release_interface_ownership(now, handle, iface);
        if let Err(e) = released.and_then(|()| host.settle(now)) {
            debug!(%iface, "IGMP release: {e}");
        }
        let left = match family {
            Family::Ipv4 => self.sockets.igmp.as_ref().map(|s| s.leave(ifindex)),
            Family::Ipv6 => self.sockets.mld.as_ref().map(|s| s.leave(ifindex)),
        };
        if let Some(Err(e)) = left {
            debug!(%iface, "leaving the all-routers groups: {e}");
        }
    }

    /// Drain the protocol's outputs: memberships to the core, queries to the sockets.
    fn process_outputs(&mut self, host: &mut dyn Host, now: Instant) {
        let Some(handle) = self.handle else {
            while self.interfaces.poll_output().is_some() {}
            return;
        };
        while let Some(out) = self.interfaces.poll_output() {
            let key = out.key();
            match out.output {
                igmp::Output::Join(scope) => {
                    let rpf = self.join_route(key, scope);
                    debug!(%key, %scope, ?rpf, "IGMP join");
                    let added = host.mgm().add_group_membership(
                        now,
                        handle,
                        scope,
                        key,
                        MembershipFlags::JOIN_STATE,
                        rpf,
                    );
                    if let Err(e) = added.and_then(|()| host.settle(now)) {
                        debug!(%key, %scope, "IGMP membership not added: {e}");
                    }
                }
                igmp::Output::Leave(scope) => {
                    debug!(%key, %scope, "IGMP leave");
                    let rpf = self.sg_routes.remove(&(key, scope)).flatten();
                    let deleted = host.mgm().delete_group_membership(
                        now,
                        handle,
                        scope,
                        key,
                        MembershipFlags::JOIN_STATE,
                        rpf,
                    );
                    if let Err(e) = deleted.and_then(|()| host.settle(now)) {
                        debug!(%key, %scope, "IGMP membership not deleted: {e}");
                    }
                }
                igmp::Output::Send {
                    destination,
                    payload,
                } => {
                    let sent = match destination {
                        IpAddr::V4(d) => self
                            .sockets
                            .igmp
                            .as_ref()
                            .map(|s| s.send(key.ifindex, d, &payload)),
                        IpAddr::V6(d) => self
                            .sockets
                            .mld
                            .as_ref()
                            .map(|s| s.send(key.ifindex, d, &payload)),
                    };
                    match sent {
                        Some(Ok(())) => trace!(%key, %destination, "query sent"),
                        Some(Err(e)) => debug!(%key, %destination, "query not sent: {e}"),
                        None => {}
                    }
                }
            }
        }
    }

    /// The route toward the source of an (S,G) join (kept for its leave): from the reports
    /// seen, else the one the same membership had before (a replay after Enable-IGMP).
    fn join_route(&mut self, key: InterfaceKey, scope: SourceGroup) -> Option<Route> {
        let source = scope.source?;
        let route = match self.source_routes.get(&source) {
            Some(route) => route.clone(),
            None => self.sg_routes.get(&(key, scope)).cloned().flatten(),
        };
        self.sg_routes.insert((key, scope), route.clone());
        route
    }

    fn status_of(&self, name: &str, families: &[Family]) -> Vec<Value> {
        families
            .iter()
            .map(|family| {
                let running = self
                    .running
                    .iter()
                    .any(|((_, f), r)| f == family && r.name == name);
                let reason = self.pending.get(&(name.to_string(), *family));
                json!({"ifname": name, "family": family,
                    "state": if running { "running" } else { "pending" }, "reason": reason})
            })
            .collect()
    }

    /// `show_igmp` / `show_mld`.
    pub fn show(&self, family: Family, now: Instant) -> Value {
        let mut interfaces: Vec<Value> = self
            .interfaces
            .state(family, now)
            .into_iter()
            .map(|state| {
                let name = self
                    .running
                    .get(&(state.ifindex, family))
                    .map(|r| r.name.clone());
                let mut v = serde_json::to_value(&state).unwrap_or(Value::Null);
                v["ifname"] = json!(name);
                v["state"] = json!("running");
                v
            })
            .collect();
        for ((name, f), reason) in &self.pending {
            if *f == family {
                interfaces.push(json!({"ifname": name, "family": f, "state": "pending",
                    "reason": reason}));
            }
        }
        json!({"interfaces": interfaces})
    }

    /// Stop everything (shutdown): nothing is sent; the core is being torn down anyway.
    pub fn shutdown(&mut self) {
        for (ifindex, family) in self.running.keys().copied().collect::<Vec<_>>() {
            self.interfaces.stop(family, ifindex);
        }
        while self.interfaces.poll_output().is_some() {}
        self.running.clear();
        self.sg_routes.clear();
    }
}

/// Most cached source routes ([`IgmpProtocol::handle_packet`]).
const SOURCE_ROUTES_LIMIT: usize = 4096;

/// The address to query from: IPv4 any (the first), IPv6 the link-local one.
fn own_address(host: &mut dyn Host, ifindex: IfIndex, family: Family) -> Option<IpAddr> {
    let info = host.mgm().interface(ifindex)?;
    info.addresses
        .iter()
        .map(|(a, _)| *a)
        .find(|a| match (family, a) {
            (Family::Ipv4, IpAddr::V4(_)) => true,
            (Family::Ipv6, IpAddr::V6(v6)) => v6.segments()[0] & 0xffc0 == 0xfe80,
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use igmp::packet::{igmp::IgmpMessage, mld::MldMessage, GroupRecord, RecordType};

    use super::*;

    #[test]
    fn report_sources_are_distinct_bounded_and_never_panic() {
        let s = |n: u8| Ipv4Addr::new(10, 0, 0, n);
        let report = IgmpMessage::V3Report {
            records: vec![
                GroupRecord {
                    kind: RecordType::AllowNew,
                    group: Ipv4Addr::new(232, 1, 1, 1),
                    sources: vec![s(1), s(2), s(1)],
                },
                GroupRecord {
                    kind: RecordType::IsInclude,
                    group: Ipv4Addr::new(232, 1, 1, 2),
                    sources: vec![s(2), s(3), s(4)],
                },
            ],
        }
        .encode();
        let ip = |n: u8| IpAddr::V4(s(n));
        assert_eq!(
            report_sources(Family::Ipv4, &report, 64),
            [ip(1), ip(2), ip(3), ip(4)]
        );
        assert_eq!(report_sources(Family::Ipv4, &report, 2), [ip(1), ip(2)]);
        // Not a report of the family, truncated, empty, garbage: no sources.
        assert!(report_sources(Family::Ipv6, &report, 64).is_empty());
        for bytes in [&report[..report.len() - 1], &[][..], &[0xff; 40][..]] {
            assert!(report_sources(Family::Ipv4, bytes, 64).is_empty());
        }
        let v6 = MldMessage::V2Report {
            records: vec![GroupRecord {
                kind: RecordType::AllowNew,
                group: "ff3e::1".parse::<Ipv6Addr>().unwrap(),
                sources: vec!["fd00::1".parse().unwrap()],
            }],
        }
        .encode();
        assert_eq!(
            report_sources(Family::Ipv6, &v6, 64),
            ["fd00::1".parse::<IpAddr>().unwrap()]
        );
    }
}
