//! The built-in **static** protocol: an in-process MGM client (`ProtocolId::STATIC`) that
//! turns smcroute-style routes `{from, source?, group, to[]}` into MGM calls.
//!
//! For each route whose interfaces all exist it owns `from` and every `to` (in the group's
//! family), adds a JOIN_STATE membership (S,G) or (*,G) on each `to`, and answers RPF callbacks
//! for matching flows with iif = `from`. Routes naming interfaces that do not exist (yet), or
//! whose interfaces another protocol owns, stay pending with the reason, and are retried on
//! every link change (smcroute's pending list). The desired state is recomputed from the route
//! list on every change ([`StaticRoutes::sync`]) and the difference applied, so removal, link
//! loss and SIGHUP reloads are all the same code path.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Instant;

use mgm_core::{
    Callback, ComponentId, ErrorCode, InterfaceKey, MembershipFlags, Mgm, MgmError, Notification,
    ProtocolHandle, ProtocolId, SourceGroup,
};
use serde_json::{json, Value};
use tracing::{debug, info, warn};

use crate::ipc::message::{StaticRoute, WireError};

/// What the static protocol needs from the core task: the core, and a way to apply the queued
/// actions and learn whether the kernel refused one.
pub(crate) trait Host {
    fn mgm(&mut self) -> &mut Mgm;
    /// Drain and apply queued actions; the kernel error of this step, if any.
    fn settle(&mut self, now: Instant) -> Result<(), MgmError>;
    /// A built-in protocol registered as `handle`: deliver its callbacks to it from now on
    /// (even those raised before the call that registered it returns).
    fn registered(&mut self, _handle: ProtocolHandle, _builtin: Builtin) {}

    /// Register a built-in protocol (component 0) handling `callbacks`, and route its callbacks
    /// to it.
    fn register_builtin(
        &mut self,
        builtin: Builtin,
        protocol_id: ProtocolId,
        callbacks: &[Callback],
    ) -> Result<ProtocolHandle, MgmError> {
        let callbacks = callbacks.iter().copied().collect();
        let handle = self
            .mgm()
            .register_protocol(protocol_id, ComponentId(0), callbacks)?;
        self.registered(handle, builtin);
        Ok(handle)
    }
}

/// The in-process protocols.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Builtin {
    Igmp,
    Static,
}

/// Where a route came from: the config file (replaced on SIGHUP) or `mgmctl static add`.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Origin {
    Config,
    Runtime,
}

#[derive(Clone, Debug, Eq, PartialEq)]
enum State {
    Installed,
    Pending(String),
}

#[derive(Clone, Debug)]
struct Entry {
    route: StaticRoute,
    scope: SourceGroup,
    origin: Origin,
    state: State,
    /// Interface keys of an installed route: `from` first, then the `to`s.
    keys: Vec<InterfaceKey>,
}

/// The static protocol's routes and what it holds in the core.
#[derive(Default)]
pub(crate) struct StaticRoutes {
    handle: Option<ProtocolHandle>,
    entries: Vec<Entry>,
    /// Keys the static protocol owns.
    owned: BTreeSet<InterfaceKey>,
    /// Memberships it added.
    members: BTreeSet<(SourceGroup, InterfaceKey)>,
}

impl StaticRoutes {
    /// The registration handle, once registered.
    pub fn handle(&self) -> Option<ProtocolHandle> {
        self.handle
    }

    /// Whether any route waits for an interface.
    pub fn has_pending(&self) -> bool {
        self.entries.iter().any(|e| e.state != State::Installed)
    }

    /// Add a route (merging `to` into an existing route with the same from/source/group).
    ///
    /// # Errors
    ///
    /// `InvalidParameter` for an invalid route, `AlreadyExists` when nothing is new.
    pub fn add(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        route: StaticRoute,
        origin: Origin,
    ) -> Result<Value, WireError> {
        let scope = route.validate()?;
        let summary = route.to_string();
        let route_key = route.clone();
        match self.find(&route) {
            Some(i) => {
                let entry = &mut self.entries[i];
                let new: Vec<String> = route
                    .to
                    .iter()
                    .filter(|t| !entry.route.to.contains(t))
                    .cloned()
                    .collect();
                if new.is_empty() {
                    return Err(WireError::mgm(
                        ErrorCode::AlreadyExists,
                        format!("static route {summary} already exists"),
                    ));
                }
                entry.route.to.extend(new);
            }
            None => self.entries.push(Entry {
                route,
                scope,
                origin,
                state: State::Pending("not yet installed".into()),
                keys: Vec::new(),
            }),
        }
        let key = StaticRoute {
            to: Vec::new(),
            ..route_key
        };
        self.sync(host, now);
        info!(route = %summary, "static route added");
        let state = self.find(&key).map(|i| state_json(&self.entries[i].state));
        Ok(json!({"state": state}))
    }

    /// Delete a route (or only the listed `to` interfaces of it).
    ///
    /// # Errors
    ///
    /// `NotFound` when no route has this from/source/group (or none of the `to`s).
    pub fn del(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        route: &StaticRoute,
    ) -> Result<Value, WireError> {
        let not_found = || WireError::mgm(ErrorCode::NotFound, format!("no static route {route}"));
        let i = self.find(route).ok_or_else(not_found)?;
        let entry = &mut self.entries[i];
        if route.to.is_empty() || route.to.iter().all(|t| entry.route.to.contains(t)) {
            entry.route.to.retain(|t| !route.to.contains(t));
            if route.to.is_empty() || entry.route.to.is_empty() {
                self.entries.remove(i);
            }
        } else {
            return Err(not_found());
        }
        self.sync(host, now);
        info!(route = %route, "static route deleted");
        Ok(json!({}))
    }

    /// SIGHUP: replace the config-file routes with `routes` (mark and sweep); routes added with
    /// mgmctl stay.
    pub fn reload(&mut self, host: &mut dyn Host, now: Instant, routes: &[StaticRoute]) {
        let before = self.entries.len();
        self.entries
            .retain(|e| e.origin == Origin::Runtime || routes.contains(&e.route));
        let removed = before - self.entries.len();
        let mut added = 0;
        for route in routes {
            if self.entries.iter().any(|e| &e.route == route) {
                continue;
            }
            let Ok(scope) = route.validate() else {
                continue;
            };
            self.entries.push(Entry {
                route: route.clone(),
                scope,
                origin: Origin::Config,
                state: State::Pending("not yet installed".into()),
                keys: Vec::new(),
            });
            added += 1;
        }
        info!(added, removed, "static routes reloaded");
        self.sync(host, now);
    }

    /// A callback for the static protocol.
    pub fn handle_notification(
        &mut self,
        host: &mut dyn Host,
        now: Instant,
        notification: Notification,
    ) {
        let Some(handle) = self.handle else { return };
        match notification {
            Notification::Rpf {
                query,
                source,
                group,
                arrived_on,
                ..
            } => {
                let iif = self.rpf(source, group, arrived_on);
                debug!(%source, %group, ?iif, "static RPF answer");
                if let Err(e) = host.mgm().answer_rpf(now, handle, query, iif, None) {
                    debug!(%source, %group, "RPF answer refused: {e}");
                }
                let _ = host.settle(now);
            }
            Notification::InterfaceDeleted { iface } => {
                info!(%iface, "static: interface deleted");
                self.owned.remove(&iface);
                self.members.retain(|(_, k)| *k != iface);
                self.sync(host, now);
            }
            other => debug!(?other, "static: ignored callback"),
        }
    }

    /// The incoming interface for a flow: `from` of the best installed route covering it
    /// ((S,G) before (*,G); a route whose `from` is the arrival interface first).
    fn rpf(&self, source: IpAddr, group: IpAddr, arrived_on: InterfaceKey) -> Option<InterfaceKey> {
        self.entries
            .iter()
            .filter(|e| e.state == State::Installed && e.scope.matches(source, group))
            .max_by_key(|e| {
                let from = e.keys.first().copied();
                (
                    e.scope.source.is_some(),
                    from.map(|k| k.ifindex) == Some(arrived_on.ifindex),
                )
            })
            .and_then(|e| e.keys.first().copied())
    }

    /// Recompute the desired ownerships and memberships from the routes and apply the
    /// difference.
    pub fn sync(&mut self, host: &mut dyn Host, now: Instant) {
        let handle = match self.handle {
            Some(h) => h,
            None => {
                let callbacks = [Callback::Rpf, Callback::InterfaceDeleted];
                match host.register_builtin(Builtin::Static, ProtocolId::STATIC, &callbacks) {
                    Ok(h) => {
                        self.handle = Some(h);
                        h
                    }
                    Err(e) => {
                        warn!("static protocol cannot register: {e}");
                        for entry in &mut self.entries {
                            entry.state = State::Pending(format!("cannot register: {e}"));
                        }
                        return;
                    }
                }
            }
        };
        let mut want_keys = BTreeSet::new();
        let mut want_members = BTreeSet::new();
        for entry in &mut self.entries {
            entry.keys.clear();
            let family = entry.scope.family;
            let mut keys = Vec::new();
            let mut missing = None;
            for name in std::iter::once(&entry.route.from).chain(&entry.route.to) {
                match host.mgm().interface_by_name(name) {
                    Some(ifindex) => keys.push(InterfaceKey::link(ifindex, family)),
                    None => {
                        missing = Some(name.clone());
                        break;
                    }
                }
            }
            if let Some(name) = missing {
                entry.state = State::Pending(format!("interface {name} does not exist"));
                continue;
            }
            let mut failure = None;
            for (key, name) in keys
                .iter()
                .zip(std::iter::once(&entry.route.from).chain(&entry.route.to))
            {
                if self.owned.contains(key) {
                    continue;
                }
                let taken = host.mgm().take_interface_ownership(now, handle, *key);
                match taken.and_then(|()| host.settle(now)) {
                    Ok(()) => {
                        self.owned.insert(*key);
                    }
                    Err(e) => {
                        failure = Some(format!("cannot own {name}: {}", e.message));
                        break;
                    }
                }
            }
            if let Some(reason) = failure {
                if entry.state != State::Pending(reason.clone()) {
                    warn!(route = %entry.route, "static route pending: {reason}");
                }
                entry.state = State::Pending(reason);
                continue;
            }
            want_keys.extend(keys.iter().copied());
            for key in &keys[1..] {
                want_members.insert((entry.scope, *key));
            }
            entry.keys = keys;
            if entry.state != State::Installed {
                info!(route = %entry.route, "static route installed");
            }
            entry.state = State::Installed;
        }
        let stale: Vec<_> = self.members.difference(&want_members).copied().collect();
        for (scope, key) in stale {
            let deleted = host.mgm().delete_group_membership(
                now,
                handle,
                scope,
                key,
                MembershipFlags::JOIN_STATE,
                None,
            );
            if let Err(e) = deleted.and_then(|()| host.settle(now)) {
                debug!(%scope, %key, "static: delete membership: {e}");
            }
            self.members.remove(&(scope, key));
        }
        let new: Vec<_> = want_members.difference(&self.members).copied().collect();
        for (scope, key) in new {
            let added = host.mgm().add_group_membership(
                now,
                handle,
                scope,
                key,
                MembershipFlags::JOIN_STATE,
                None,
            );
            match added.and_then(|()| host.settle(now)) {
                Ok(()) => {
                    self.members.insert((scope, key));
                }
                Err(e) if e.code == ErrorCode::AlreadyExists => {
                    self.members.insert((scope, key));
                }
                Err(e) => warn!(%scope, %key, "static: add membership: {e}"),
            }
        }
        let unused: Vec<_> = self.owned.difference(&want_keys).copied().collect();
        for key in unused {
            let released = host.mgm().release_interface_ownership(now, handle, key);
            if let Err(e) = released.and_then(|()| host.settle(now)) {
                debug!(%key, "static: release: {e}");
            }
            self.owned.remove(&key);
        }
    }

    /// `show_static`.
    pub fn show(&self) -> Value {
        let routes: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                json!({
                    "from": e.route.from,
                    "source": e.route.source,
                    "group": e.route.group,
                    "to": e.route.to,
                    "origin": match e.origin { Origin::Config => "config", Origin::Runtime => "mgmctl" },
                    "state": state_json(&e.state),
                    "reason": match &e.state { State::Installed => None, State::Pending(r) => Some(r) },
                })
            })
            .collect();
        json!({"routes": routes})
    }

    fn find(&self, route: &StaticRoute) -> Option<usize> {
        self.entries.iter().position(|e| {
            e.route.from == route.from
                && e.route.source == route.source
                && e.route.group == route.group
        })
    }
}

fn state_json(state: &State) -> &'static str {
    match state {
        State::Installed => "installed",
        State::Pending(_) => "pending",
    }
}

#[cfg(test)]
mod tests {
    use mgm_core::{Action, Family, IfIndex, LinkEvent, LinkInfo, Upcall, VifIndex};

    use super::*;

    /// A core without a kernel: kernel ops are accepted, notifications collected.
    struct TestHost {
        mgm: Mgm,
        notifications: Vec<(ProtocolHandle, Notification)>,
    }

    impl Host for TestHost {
        fn mgm(&mut self) -> &mut Mgm {
            &mut self.mgm
        }

        fn settle(&mut self, _now: Instant) -> Result<(), MgmError> {
            while let Some(action) = self.mgm.poll_action() {
                if let Action::Notify {
                    protocol,
                    notification,
                } = action
                {
                    self.notifications.push((protocol, notification));
                }
            }
            self.mgm.take_last_kernel_error().map_or(Ok(()), Err)
        }
    }

    fn link(host: &mut TestHost, now: Instant, index: u32, name: &str) {
        let info = LinkInfo {
            ifindex: IfIndex(index),
            name: name.to_string(),
            up: true,
            multicast: true,
            point_to_point: false,
            loopback: false,
            mtu: 1500,
        };
        host.mgm.handle_link(now, LinkEvent::Link(info));
        host.settle(now).unwrap();
    }

    fn route(from: &str, source: Option<&str>, group: &str, to: &[&str]) -> StaticRoute {
        StaticRoute {
            from: from.to_string(),
            source: source.map(|s| s.parse().unwrap()),
            group: group.parse().unwrap(),
            to: to.iter().map(|t| t.to_string()).collect(),
        }
    }

    fn setup() -> (TestHost, StaticRoutes, Instant) {
        let now = Instant::now();
        let mut host = TestHost {
            mgm: Mgm::new(mgm_core::Config::default()),
            notifications: Vec::new(),
        };
        link(&mut host, now, 2, "eth0");
        link(&mut host, now, 3, "eth1");
        let mut statics = StaticRoutes::default();
        statics.sync(&mut host, now);
        (host, statics, now)
    }

    fn states(statics: &StaticRoutes) -> Vec<String> {
        statics.show()["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["state"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn route_owns_interfaces_and_joins_outputs() {
        let (mut host, mut statics, now) = setup();
        let added = statics
            .add(
                &mut host,
                now,
                route("eth0", None, "239.1.1.1", &["eth1"]),
                Origin::Runtime,
            )
            .unwrap();
        assert_eq!(added["state"], "installed");
        let h = statics.handle().unwrap();
        let key = |i| InterfaceKey::link(IfIndex(i), Family::Ipv4);
        assert_eq!(host.mgm.owners(key(2)).routing, Some(h));
        assert_eq!(host.mgm.owners(key(3)).routing, Some(h));
        let members = host.mgm.memberships();
        assert_eq!(members.len(), 1);
        assert_eq!(members[0].iface, key(3));
        // Deleting releases everything.
        statics
            .del(&mut host, now, &route("eth0", None, "239.1.1.1", &[]))
            .unwrap();
        assert_eq!(host.mgm.owners(key(2)).routing, None);
        assert!(host.mgm.memberships().is_empty());
        assert_eq!(
            statics
                .del(&mut host, now, &route("eth0", None, "239.1.1.1", &[]))
                .unwrap_err()
                .code,
            crate::ipc::message::WireCode::Mgm(ErrorCode::NotFound)
        );
    }

    #[test]
    fn missing_interface_is_pending_until_it_appears() {
        let (mut host, mut statics, now) = setup();
        let added = statics
            .add(
                &mut host,
                now,
                route("eth9", None, "239.1.1.1", &["eth1"]),
                Origin::Config,
            )
            .unwrap();
        assert_eq!(added["state"], "pending");
        assert!(statics.has_pending());
        assert!(statics.show()["routes"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("eth9"));
        link(&mut host, now, 9, "eth9");
        statics.sync(&mut host, now);
        assert_eq!(states(&statics), ["installed"]);
        assert!(!statics.has_pending());
    }

    #[test]
    fn rpf_answer_prefers_the_source_specific_route() {
        let (mut host, mut statics, now) = setup();
        link(&mut host, now, 4, "eth2");
        statics
            .add(
                &mut host,
                now,
                route("eth0", None, "239.1.1.1", &["eth1"]),
                Origin::Runtime,
            )
            .unwrap();
        statics
            .add(
                &mut host,
                now,
                route("eth2", Some("10.0.0.1"), "239.1.1.1", &["eth1"]),
                Origin::Runtime,
            )
            .unwrap();
        let arrived = InterfaceKey::link(IfIndex(2), Family::Ipv4);
        let source = "10.0.0.1".parse().unwrap();
        let other = "10.0.0.2".parse().unwrap();
        let group = "239.1.1.1".parse().unwrap();
        assert_eq!(
            statics.rpf(source, group, arrived),
            Some(InterfaceKey::link(IfIndex(4), Family::Ipv4))
        );
        assert_eq!(statics.rpf(other, group, arrived), Some(arrived));
        assert_eq!(
            statics.rpf(other, "239.9.9.9".parse().unwrap(), arrived),
            None
        );

        // A packet of the (*,G) route: the static protocol answers its RPF callback, and the
        // MFE forwards eth0 -> eth1.
        host.mgm.handle_upcall(
            now,
            Upcall::NoCache {
                family: Family::Ipv4,
                source: other,
                group,
                vif: VifIndex(0),
            },
            None,
        );
        host.settle(now).unwrap();
        let pending: Vec<_> = std::mem::take(&mut host.notifications);
        for (_, n) in pending {
            statics.handle_notification(&mut host, now, n);
        }
        let mfe = host
            .mgm
            .mfe(now, Family::Ipv4, other, group)
            .expect("an MFE");
        assert_eq!(mfe.iif, arrived);
        assert_eq!(mfe.oifs, [InterfaceKey::link(IfIndex(3), Family::Ipv4)]);
    }

    #[test]
    fn reload_replaces_config_routes_and_keeps_runtime_ones() {
        let (mut host, mut statics, now) = setup();
        statics.reload(
            &mut host,
            now,
            &[route("eth0", None, "239.1.1.1", &["eth1"])],
        );
        statics
            .add(
                &mut host,
                now,
                route("eth1", None, "239.3.3.3", &["eth0"]),
                Origin::Runtime,
            )
            .unwrap();
        statics.reload(
            &mut host,
            now,
            &[route("eth0", None, "239.2.2.2", &["eth1"])],
        );
        let groups: Vec<String> = statics.show()["routes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| r["group"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(groups, ["239.3.3.3", "239.2.2.2"]);
        assert_eq!(host.mgm.memberships().len(), 2);
        assert_eq!(states(&statics), ["installed", "installed"]);
    }

    #[test]
    fn adding_the_same_route_twice_is_already_exists_and_to_lists_merge() {
        let (mut host, mut statics, now) = setup();
        link(&mut host, now, 4, "eth2");
        statics
            .add(
                &mut host,
                now,
                route("eth0", None, "239.1.1.1", &["eth1"]),
                Origin::Runtime,
            )
            .unwrap();
        let again = statics.add(
            &mut host,
            now,
            route("eth0", None, "239.1.1.1", &["eth1"]),
            Origin::Runtime,
        );
        assert_eq!(
            again.unwrap_err().code,
            crate::ipc::message::WireCode::Mgm(ErrorCode::AlreadyExists)
        );
        let merged = statics
            .add(
                &mut host,
                now,
                route("eth0", None, "239.1.1.1", &["eth2"]),
                Origin::Runtime,
            )
            .unwrap();
        assert_eq!(merged["state"], "installed");
        assert_eq!(host.mgm.memberships().len(), 2);
        statics
            .del(&mut host, now, &route("eth0", None, "239.1.1.1", &["eth1"]))
            .unwrap();
        assert_eq!(host.mgm.memberships().len(), 1);
        assert_eq!(states(&statics), ["installed"]);
    }
}
