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
        self.sync(host, now);
        info!(route = %summary, "static route added");
        let state = self.find_by_summary(&summary).map(|e| state_json(&e.state));
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
                let callbacks = [Callback::Rpf, Callback::InterfaceDeleted]
                    .into_iter()
                    .collect();
                match host
                    .mgm()
                    .register_protocol(ProtocolId::STATIC, ComponentId(0), callbacks)
                {
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

    fn find_by_summary(&self, summary: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.route.to_string() == summary)
    }
}

fn state_json(state: &State) -> &'static str {
    match state {
        State::Installed => "installed",
        State::Pending(_) => "pending",
    }
}
