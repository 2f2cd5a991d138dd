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

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use mgm_core::{
    Callback, ComponentId, ErrorCode, Family, IfIndex, InterfaceKey, MembershipFlags, Notification,
    ProtocolHandle, ProtocolId,
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

    /// An IGMP or MLD packet that arrived on `ifindex`.
    pub fn handle_packet(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        ifindex: IfIndex,
        source: IpAddr,
        destination: IpAddr,
        payload: &[u8],
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
                ]
                .into_iter()
                .collect();
                match host
                    .mgm()
                    .register_protocol(ProtocolId::IGMP, ComponentId(0), callbacks)
                {
                    Ok(h) => {
                        self.handle = Some(h);
                        host.registered(h, Builtin::Igmp);
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
                    debug!(%key, %scope, "IGMP join");
                    let added = host.mgm().add_group_membership(
                        now,
                        handle,
                        scope,
                        key,
                        MembershipFlags::JOIN_STATE,
                        None,
                    );
                    if let Err(e) = added.and_then(|()| host.settle(now)) {
                        debug!(%key, %scope, "IGMP membership not added: {e}");
                    }
                }
                igmp::Output::Leave(scope) => {
                    debug!(%key, %scope, "IGMP leave");
                    let deleted = host.mgm().delete_group_membership(
                        now,
                        handle,
                        scope,
                        key,
                        MembershipFlags::JOIN_STATE,
                        None,
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
    }
}

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
