//! The core task: the single owner of [`Mgm`], of the kernel sockets and of the built-in
//! protocols (static routes, IGMP/MLD).
//!
//! ```text
//!  link::monitor ----Link---------->+--------------------+----> Kernel ops -> programming socket
//!  upcall reader(s) --Upcall+route->|     core task      |----> Notify -> client event queue
//!                   --IGMP packet-->|  (owns Mgm, loop)  |        or static / IGMP protocol
//!  MLD reader -------MLD packet---->|                    |----> queries -> IGMP / MLD socket
//!  IPC connections --Request------->|                    |<---- reply (oneshot) per request
//!                  --Disconnected-->|                    |
//!  SIGHUP ----------Reload--------->|                    |
//!  counter poller --Counters------->+--------------------+
//!                  (one bounded channel)  ^ sleep_until(earliest Mgm / IGMP deadline)
//!                                         ^ shutdown token
//! ```
//!
//! After every call into the core the queued actions are drained at once ([`Core::settle`]):
//! kernel operations are applied inline and a refusal is fed back with
//! `handle_kernel_error`, so the IPC reply can carry it.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use mgm_core::{
    Action, ErrorCode, Family, IfIndex, InterfaceKey, KernelOp, LinkEvent, MfeInfo, Mgm, MgmError,
    Notification, ProtocolHandle, QueryId, Route, SourceGroup, Upcall,
};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace, warn};

use crate::config::IgmpInterface;
use crate::igmp_protocol::IgmpProtocol;
use crate::ipc::connection::Peer;
use crate::ipc::message::{
    self, callback_name, event_line, Iface, IfaceRef, Op, Reply, StaticRoute, WireError,
};
use crate::kernel::{self, Kernel};
use crate::static_routes::{Builtin, Host, Origin, StaticRoutes};
use crate::verify::{Expected, FamilyState};

/// A connection, numbered by the server.
pub(crate) type ClientId = u64;

/// Everything the core task can be told.
pub(crate) enum Input {
    /// A client connected; its events go to `events_tx`; `kick` closes it.
    Connected {
        client: ClientId,
        events_tx: mpsc::Sender<String>,
        kick: CancellationToken,
        peer: Peer,
    },
    /// A change of links, addresses or neighbours (from `netlink::link::monitor`).
    Link(LinkEvent),
    /// A client's connection ended: forced cleanup.
    Disconnected { client: ClientId },
    /// A request, prepared by the connection task.
    Request {
        client: ClientId,
        op: Op,
        context: Context,
        reply: oneshot::Sender<CoreReply>,
    },
    /// A kernel upcall, with the FIB route toward the source for NOCACHE.
    Upcall {
        upcall: Upcall,
        route: Option<Route>,
    },
    /// The kernel counters of every resolved MFC entry of our tables, read with one rtnetlink
    /// dump per family by the counter poller (off the core task), every `counter_interval`.
    Counters(Vec<MfcCounters>),
    /// SIGHUP: the config file's static routes.
    Reload {
        routes: Vec<StaticRoute>,
        igmp: Vec<IgmpInterface>,
    },
    /// An IGMP (from the MRT socket) or MLD packet that arrived on `ifindex`, with the FIB
    /// route toward each source a report names (for the (S,G) join alerts).
    IgmpPacket {
        ifindex: IfIndex,
        source: IpAddr,
        destination: IpAddr,
        payload: Vec<u8>,
        routes: HashMap<IpAddr, Option<Route>>,
    },
}

/// The counters of one kernel MFC entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MfcCounters {
    pub family: Family,
    pub source: IpAddr,
    pub group: IpAddr,
    pub counters: mgm_core::MfeCounters,
}

/// Look-ups done by the connection task before the request reaches the core.
#[derive(Debug, Default)]
pub(crate) struct Context {
    /// FIB route toward each (S,G) membership source.
    pub rpf: HashMap<IpAddr, Option<Route>>,
    /// Fresh neighbours of interfaces whose next hop is being taken.
    pub neighbours: Vec<(IfIndex, Vec<IpAddr>)>,
}

/// The core's answer to a request.
pub(crate) enum CoreReply {
    /// The reply.
    Done(Reply),
    /// `verify`: the connection compares this with the kernel's dump.
    Verify(Expected),
}

struct ClientState {
    events_tx: mpsc::Sender<String>,
    kick: CancellationToken,
    peer: Peer,
    handles: BTreeSet<ProtocolHandle>,
}

#[derive(Clone, Copy, Debug)]
enum Owner {
    Igmp,
    Client(ClientId),
    Static,
}

#[derive(Default)]
struct Stats {
    requests: u64,
    upcalls: u64,
    nocache: u64,
    wrong_vif: u64,
    kernel_ops: u64,
    kernel_errors: u64,
    events_sent: u64,
    slow_clients: u64,
    counter_polls: u64,
    /// Recent times from an IGMP/MLD packet's arrival on the core task to its kernel update
    /// applied (only packets that changed the kernel), newest last.
    igmp_to_kernel: VecDeque<Duration>,
}

/// Query → family of its flow, for answers that name an interface without a family.
/// Bounded: unanswered queries are forgotten oldest first.
#[derive(Default)]
struct QueryFamilies {
    order: VecDeque<QueryId>,
    map: HashMap<QueryId, Family>,
}

impl QueryFamilies {
    const LIMIT: usize = 16_384;

    fn insert(&mut self, query: QueryId, family: Family) {
        if self.map.insert(query, family).is_none() {
            self.order.push_back(query);
        }
        while self.order.len() > QueryFamilies::LIMIT {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }

    fn get(&self, query: QueryId) -> Option<Family> {
        self.map.get(&query).copied()
    }
}

/// The core task's state.
pub(crate) struct Core {
    mgm: Mgm,
    kernel: Kernel,
    clients: HashMap<ClientId, ClientState>,
    owners: HashMap<ProtocolHandle, Owner>,
    /// Taken out while it runs, so that it can call back into the core.
    statics: Option<StaticRoutes>,
    static_inbox: VecDeque<Notification>,
    /// The built-in IGMP/MLD protocol; taken out while it runs.
    igmp: Option<IgmpProtocol>,
    igmp_inbox: VecDeque<Notification>,
    kicked: Vec<ClientId>,
    queries: QueryFamilies,
    /// Interface names, kept after a link is removed until its notifications are out.
    names: HashMap<IfIndex, String>,
    stats: Stats,
    started: Instant,
}

impl Host for Core {
    fn mgm(&mut self) -> &mut Mgm {
        &mut self.mgm
    }

    fn settle(&mut self, now: Instant) -> Result<(), MgmError> {
        Core::settle(self, now)
    }

    fn registered(&mut self, handle: ProtocolHandle, builtin: Builtin) {
        let owner = match builtin {
            Builtin::Igmp => Owner::Igmp,
            Builtin::Static => Owner::Static,
        };
        self.owners.insert(handle, owner);
    }
}

impl Core {
    pub fn new(mgm: Mgm, kernel: Kernel, igmp: IgmpProtocol) -> Core {
        Core {
            mgm,
            kernel,
            clients: HashMap::new(),
            owners: HashMap::new(),
            statics: Some(StaticRoutes::default()),
            static_inbox: VecDeque::new(),
            igmp: Some(igmp),
            igmp_inbox: VecDeque::new(),
            kicked: Vec::new(),
            queries: QueryFamilies::default(),
            names: HashMap::new(),
            stats: Stats::default(),
            started: Instant::now(),
        }
    }

    /// The kernel sockets (for the upcall readers).
    pub fn kernel(&self) -> &Kernel {
        &self.kernel
    }

    /// Feed a link event.
    pub fn handle_link(&mut self, now: Instant, event: LinkEvent) {
        let mut changed = false;
        if let LinkEvent::Link(info) = &event {
            let old = self.names.insert(info.ifindex, info.name.clone());
            changed = old.as_deref() != Some(info.name.as_str());
            if changed {
                debug!(ifindex = %info.ifindex, name = %info.name, up = info.up, "link");
            }
        }
        let addressed = matches!(
            event,
            LinkEvent::AddressAdded { .. } | LinkEvent::AddressRemoved { .. }
        );
        let removed = match &event {
            LinkEvent::Removed { ifindex } => Some(*ifindex),
            LinkEvent::ResyncEnd => {
                changed = true;
                None
            }
            _ => None,
        };
        self.mgm.handle_link(now, event);
        if let Err(e) = self.settle(now) {
            debug!("after link event: {e}");
        }
        if let Some(ifindex) = removed {
            debug!(%ifindex, "link removed");
            self.names.remove(&ifindex);
            changed = true;
        }
        // Static routes name interfaces: re-resolve them when a name appears, changes or goes.
        if changed {
            self.with_statics(now, |statics, core, now| statics.sync(core, now));
        }
        // IGMP/MLD also needs an address to query from.
        if changed || addressed {
            self.with_igmp(now, |igmp, core, now| igmp.sync(core, now));
        }
    }

    /// Register the IGMP protocol and start the config file's interfaces.
    pub fn start_igmp(&mut self, now: Instant, settings: &[IgmpInterface]) {
        self.with_igmp(now, |igmp, core, now| igmp.reload(core, now, settings));
    }

    fn with_igmp<T>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut IgmpProtocol, &mut Core, Instant) -> T,
    ) -> Option<T> {
        let mut igmp = self.igmp.take()?;
        let out = f(&mut igmp, self, now);
        if let Some(h) = igmp.handle() {
            self.owners.insert(h, Owner::Igmp);
        }
        self.igmp = Some(igmp);
        if !self.igmp_inbox.is_empty() {
            let _ = self.settle(now);
        }
        Some(out)
    }

    /// Register the static protocol and install the config file's routes.
    pub fn start_static(&mut self, now: Instant, routes: &[StaticRoute]) {
        self.with_statics(now, |statics, core, now| {
            statics.sync(core, now);
            statics.reload(core, now, routes);
        });
        if let Some(h) = self.statics.as_ref().and_then(StaticRoutes::handle) {
            self.owners.insert(h, Owner::Static);
        }
    }

    fn with_statics<T>(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut StaticRoutes, &mut Core, Instant) -> T,
    ) -> Option<T> {
        let mut statics = self.statics.take()?;
        let out = f(&mut statics, self, now);
        if let Some(h) = statics.handle() {
            self.owners.insert(h, Owner::Static);
        }
        self.statics = Some(statics);
        // Callbacks that arrived for it meanwhile.
        if !self.static_inbox.is_empty() {
            let _ = self.settle(now);
        }
        Some(out)
    }

    /// Drain every queued action: apply kernel ops (feeding failures back), deliver
    /// notifications, run forced cleanup of kicked clients and the static protocol's
    /// callbacks, until nothing is left. Returns the first kernel error the core recorded.
    pub fn settle(&mut self, now: Instant) -> Result<(), MgmError> {
        let mut error = None;
        loop {
            let mut progressed = false;
            while let Some(action) = self.mgm.poll_action() {
                progressed = true;
                match action {
                    Action::Kernel(op) => self.apply(now, &op),
                    Action::Notify {
                        protocol,
                        notification,
                    } => {
                        self.notify(protocol, notification);
                    }
                }
            }
            if error.is_none() {
                error = self.mgm.take_last_kernel_error();
            }
            while let Some(client) = self.kicked.pop() {
                progressed = true;
                self.disconnect(now, client);
            }
            if let Some(mut statics) = self.statics.take() {
                while let Some(notification) = self.static_inbox.pop_front() {
                    progressed = true;
                    statics.handle_notification(self, now, notification);
                }
                self.statics = Some(statics);
            }
            if let Some(mut igmp) = self.igmp.take() {
                while let Some(notification) = self.igmp_inbox.pop_front() {
                    progressed = true;
                    igmp.handle_notification(self, now, notification);
                }
                self.igmp = Some(igmp);
            }
            if !progressed {
                break;
            }
        }
        match error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn apply(&mut self, now: Instant, op: &KernelOp) {
        self.stats.kernel_ops += 1;
        match self.kernel.apply(op) {
            Ok(()) => trace!(?op, "kernel"),
            Err(e) => {
                self.stats.kernel_errors += 1;
                match op {
                    // After a link removal the kernel has already dropped the VIF (and a
                    // deleted entry may be gone with it): expected.
                    KernelOp::DelVif { .. } | KernelOp::DelMfe { .. } => {
                        debug!(?op, "kernel: {e}");
                    }
                    _ => warn!(?op, "kernel refused: {e}"),
                }
                self.mgm.handle_kernel_error(now, op, e.code());
            }
        }
    }

    fn notify(&mut self, protocol: ProtocolHandle, notification: Notification) {
        match self.owners.get(&protocol).copied() {
            Some(Owner::Static) => self.static_inbox.push_back(notification),
            Some(Owner::Igmp) => self.igmp_inbox.push_back(notification),
            Some(Owner::Client(client)) => {
                let event = self.event_json(protocol, &notification);
                let Some(state) = self.clients.get(&client) else {
                    return;
                };
                if state.kick.is_cancelled() {
                    return; // being disconnected
                }
                match state.events_tx.try_send(event_line(&event)) {
                    Ok(()) => self.stats.events_sent += 1,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        warn!(client, peer = %state.peer, "event queue full: disconnecting the client");
                        self.stats.slow_clients += 1;
                        state.kick.cancel();
                        if !self.kicked.contains(&client) {
                            self.kicked.push(client);
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        debug!(client, "event for a closing connection dropped");
                    }
                }
            }
            None => debug!(%protocol, ?notification, "notification for an unknown handle"),
        }
    }

    /// Forced cleanup of every registration of `client`.
    fn disconnect(&mut self, now: Instant, client: ClientId) {
        let Some(state) = self.clients.remove(&client) else {
            return;
        };
        state.kick.cancel();
        for handle in &state.handles {
            info!(client, %handle, peer = %state.peer, "forced cleanup of a disconnected client");
            self.mgm.handle_disconnect(now, *handle);
            self.owners.remove(handle);
        }
    }

    /// Handle one input.
    pub fn handle_input(&mut self, input: Input) {
        let now = Instant::now();
        match input {
            Input::Connected {
                client,
                events_tx,
                kick,
                peer,
            } => {
                self.clients.insert(
                    client,
                    ClientState {
                        events_tx,
                        kick,
                        peer,
                        handles: BTreeSet::new(),
                    },
                );
            }
            Input::Disconnected { client } => {
                if self.clients.contains_key(&client) {
                    debug!(client, "client disconnected");
                    self.disconnect(now, client);
                    if let Err(e) = self.settle(now) {
                        debug!("after disconnect: {e}");
                    }
                    self.retry_pending_statics(now);
                }
            }
            Input::Request {
                client,
                op,
                context,
                reply,
            } => {
                let frees = matches!(
                    op,
                    Op::ReleaseInterfaceOwnership { .. }
                        | Op::DeregisterProtocol { .. }
                        | Op::Batch(_)
                );
                let answer = self.request(now, client, op, &context);
                let _ = reply.send(answer);
                if frees {
                    self.retry_pending_statics(now);
                }
            }
            Input::Upcall { upcall, route } => {
                self.stats.upcalls += 1;
                match &upcall {
                    Upcall::NoCache {
                        family,
                        source,
                        group,
                        vif,
                    } => {
                        self.stats.nocache += 1;
                        debug!(%family, %source, %group, %vif, ?route, "NOCACHE");
                    }
                    Upcall::WrongVif {
                        family,
                        source,
                        group,
                        vif,
                    } => {
                        self.stats.wrong_vif += 1;
                        debug!(%family, %source, %group, %vif, "WRONGVIF");
                    }
                    Upcall::WholePacket {
                        family,
                        source,
                        group,
                        vif,
                        ..
                    } => {
                        debug!(%family, %source, %group, %vif, "WHOLEPKT");
                    }
                }
                self.mgm.handle_upcall(now, upcall, route);
                if let Err(e) = self.settle(now) {
                    debug!("after upcall: {e}");
                }
            }
            Input::Link(event) => self.handle_link(now, event),
            Input::Counters(entries) => self.handle_counters(now, entries),
            Input::Reload { routes, igmp } => {
                self.with_statics(now, |statics, core, now| statics.reload(core, now, &routes));
                self.with_igmp(now, |p, core, now| p.reload(core, now, &igmp));
            }
            Input::IgmpPacket {
                ifindex,
                source,
                destination,
                payload,
                routes,
            } => {
                let ops = self.stats.kernel_ops;
                self.with_igmp(now, |p, core, now| {
                    p.handle_packet(core, now, ifindex, source, destination, &payload, routes);
                });
                if self.stats.kernel_ops > ops {
                    let samples = &mut self.stats.igmp_to_kernel;
                    if samples.len() == 1024 {
                        samples.pop_front();
                    }
                    samples.push_back(now.elapsed());
                }
            }
        }
    }

    /// An interface another protocol held may be free now: retry pending static routes.
    fn retry_pending_statics(&mut self, now: Instant) {
        if self.statics.as_ref().is_some_and(StaticRoutes::has_pending) {
            self.with_statics(now, |statics, core, now| statics.sync(core, now));
        }
        if self.igmp.as_ref().is_some_and(IgmpProtocol::has_pending) {
            self.with_igmp(now, |igmp, core, now| igmp.sync(core, now));
        }
    }

    /// Timer expiry.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.mgm.poll_timeout().is_some_and(|t| t <= now) {
            self.mgm.handle_timeout(now);
            if let Err(e) = self.settle(now) {
                debug!("after timeout: {e}");
            }
        }
        self.with_igmp(now, |igmp, core, now| igmp.handle_timeout(core, now));
    }

    /// The next deadline of the core or the IGMP protocol.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let igmp = self.igmp.as_ref().and_then(IgmpProtocol::poll_timeout);
        match (self.mgm.poll_timeout(), igmp) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Counters read by the poller: traffic since the last report refreshes an MFE's expiry
    /// (`Mgm::handle_counters`; entries the core does not know are ignored there).
    pub fn handle_counters(&mut self, now: Instant, entries: Vec<MfcCounters>) {
        self.stats.counter_polls += 1;
        for e in entries {
            self.mgm
                .handle_counters(now, e.family, e.source, e.group, e.counters);
        }
        if let Err(e) = self.settle(now) {
            debug!("after counters: {e}");
        }
    }

    /// Delete everything and give the sockets back.
    pub fn shutdown(mut self) -> Kernel {
        let now = Instant::now();
        for state in self.clients.values() {
            state.kick.cancel();
        }
        if let Some(igmp) = self.igmp.as_mut() {
            igmp.shutdown();
        }
        self.mgm.shutdown();
        if let Err(e) = self.settle(now) {
            debug!("during shutdown: {e}");
        }
        info!(
            kernel_ops = self.stats.kernel_ops,
            "multicast routing state removed"
        );
        self.kernel
    }

    // ===== requests =====

    fn request(&mut self, now: Instant, client: ClientId, op: Op, context: &Context) -> CoreReply {
        self.stats.requests += 1;
        let _ = self.mgm.take_last_kernel_error();
        match op {
            Op::Verify => CoreReply::Verify(self.expected(now)),
            Op::Batch(items) => {
                let results: Vec<Value> = items
                    .into_iter()
                    .map(|item| {
                        let reply = item.and_then(|op| match op {
                            Op::Verify => Err(WireError::invalid("verify cannot be batched")),
                            op => self.execute(now, client, op, context),
                        });
                        match reply {
                            Ok(ok) => json!({"ok": ok}),
                            Err(e) => json!({"error": e.to_json()}),
                        }
                    })
                    .collect();
                CoreReply::Done(Ok(json!({"results": results})))
            }
            op => CoreReply::Done(self.execute(now, client, op, context)),
        }
    }

    fn handle(
        &self,
        client: ClientId,
        handle: Option<ProtocolHandle>,
    ) -> Result<ProtocolHandle, WireError> {
        let handles = self.clients.get(&client).map(|c| &c.handles);
        let empty = BTreeSet::new();
        let handles = handles.unwrap_or(&empty);
        match handle {
            Some(h) if handles.contains(&h) => Ok(h),
            Some(h) => Err(WireError::invalid(format!(
                "handle {} is not registered on this connection",
                h.0
            ))),
            None => match handles.len() {
                1 => Ok(*handles.iter().next().unwrap_or(&ProtocolHandle(0))),
                0 => Err(WireError::invalid(
                    "this connection has no registration: call register_protocol first",
                )),
                n => Err(WireError::invalid(format!(
                    "this connection has {n} registrations: give `handle`"
                ))),
            },
        }
    }

    fn resolve(&self, iface: &Iface, code: ErrorCode) -> Result<IfIndex, WireError> {
        match iface {
            Iface::Index(i) => Ok(IfIndex(*i)),
            Iface::Name(name) => self
                .mgm
                .interface_by_name(name)
                .ok_or_else(|| WireError::mgm(code, format!("interface {name} does not exist"))),
        }
    }

    fn check_family(&self, family: Family) -> Result<(), WireError> {
        if self.kernel.available(family) {
            Ok(())
        } else {
            Err(kernel::unavailable(family).into())
        }
    }

    /// The families a reference covers that this host can route.
    fn families_of(&self, iface: &IfaceRef) -> Result<Vec<Family>, WireError> {
        match iface.family {
            Some(f) => {
                self.check_family(f)?;
                Ok(vec![f])
            }
            None => Ok(self.kernel.families()),
        }
    }

    fn key_in(
        &self,
        iface: &IfaceRef,
        family: Family,
        code: ErrorCode,
    ) -> Result<InterfaceKey, WireError> {
        Ok(InterfaceKey {
            ifindex: self.resolve(&iface.iface, code)?,
            next_hop: iface.next_hop_in(family),
        })
    }

    fn settled(&mut self, now: Instant) -> Result<(), WireError> {
        self.settle(now).map_err(WireError::from)
    }

    #[allow(clippy::too_many_lines)]
    fn execute(&mut self, now: Instant, client: ClientId, op: Op, context: &Context) -> Reply {
        match op {
            Op::Hello { version, .. } => {
                if version != message::PROTOCOL_VERSION {
                    return Err(WireError::invalid(format!(
                        "protocol version {version} is not supported"
                    )));
                }
                Ok(json!({"version": message::PROTOCOL_VERSION,
                    "server": concat!("mgmd ", env!("CARGO_PKG_VERSION")), "ops": message::OPS}))
            }
            Op::Ping => Ok(json!({"pong": true})),
            Op::RegisterProtocol {
                protocol_id,
                component_id,
                callbacks,
            } => {
                if !self.clients.contains_key(&client) {
                    return Err(WireError::mgm(
                        ErrorCode::CanNotComplete,
                        "connection closing",
                    ));
                }
                let handle = self
                    .mgm
                    .register_protocol(protocol_id, component_id, callbacks)?;
                self.owners.insert(handle, Owner::Client(client));
                if let Some(state) = self.clients.get_mut(&client) {
                    state.handles.insert(handle);
                    info!(client, %handle, protocol_id = protocol_id.0, component_id = component_id.0,
                        peer = %state.peer, "protocol registered");
                }
                Ok(json!({"handle": handle.0}))
            }
            Op::DeregisterProtocol { handle } => {
                let h = self.handle(client, handle)?;
                self.mgm.deregister_protocol(h)?;
                self.owners.remove(&h);
                if let Some(state) = self.clients.get_mut(&client) {
                    state.handles.remove(&h);
                }
                info!(client, handle = %h, "protocol deregistered");
                self.settled(now)?;
                Ok(json!({}))
            }
            Op::TakeInterfaceOwnership { handle, iface } => {
                let h = self.handle(client, handle)?;
                let families = self.families_of(&iface)?;
                let ifindex = self.resolve(&iface.iface, ErrorCode::InvalidParameter)?;
                for (index, addrs) in &context.neighbours {
                    for addr in addrs {
                        self.mgm.handle_link(
                            now,
                            LinkEvent::NeighbourAdded {
                                ifindex: *index,
                                addr: *addr,
                            },
                        );
                    }
                }
                self.settled(now)?;
                let mut taken: Vec<InterfaceKey> = Vec::new();
                for family in families {
                    let key = InterfaceKey {
                        ifindex,
                        next_hop: iface.next_hop_in(family),
                    };
                    let result = self
                        .mgm
                        .take_interface_ownership(now, h, key)
                        .map_err(WireError::from)
                        .and_then(|()| self.settled(now));
                    if let Err(e) = result {
                        // Both families or neither: roll back what was taken.
                        for key in taken.iter().rev() {
                            let _ = self.mgm.release_interface_ownership(now, h, *key);
                            let _ = self.settle(now);
                        }
                        return Err(e);
                    }
                    taken.push(key);
                }
                let keys: Vec<Value> = taken
                    .iter()
                    .map(|k| {
                        let mut v = self.iface_json(*k);
                        v["vif"] = json!(self.mgm.vif_of(k.ifindex, k.family()).map(|v| v.0));
                        v["family"] = json!(k.family());
                        v
                    })
                    .collect();
                Ok(json!({"ifindex": ifindex.0, "keys": keys}))
            }
            Op::ReleaseInterfaceOwnership { handle, iface } => {
                let h = self.handle(client, handle)?;
                let families = self.families_of(&iface)?;
                let explicit = iface.family.is_some();
                let ifindex = self.resolve(&iface.iface, ErrorCode::InvalidParameter)?;
                let mut first_error = None;
                let mut released = 0;
                for family in families {
                    let key = InterfaceKey {
                        ifindex,
                        next_hop: iface.next_hop_in(family),
                    };
                    // Without a family, release what this protocol owns of the two.
                    if !explicit
                        && self.mgm.owners(key).routing != Some(h)
                        && self.mgm.owners(key).igmp != Some(h)
                    {
                        continue;
                    }
                    match self
                        .mgm
                        .release_interface_ownership(now, h, key)
                        .map_err(WireError::from)
                        .and_then(|()| self.settled(now))
                    {
                        Ok(()) => released += 1,
                        Err(e) => {
                            first_error.get_or_insert(e);
                        }
                    }
                }
                match first_error {
                    Some(e) => Err(e),
                    None if released == 0 => Err(WireError::invalid(format!(
                        "interface {ifindex} is not owned by handle {}",
                        h.0
                    ))),
                    None => Ok(json!({})),
                }
            }
            Op::GetProtocolOnInterface(iface) => {
                let families = self.families_of(&iface)?;
                let mut last = WireError::mgm(ErrorCode::NotFound, "no owner");
                for family in families {
                    let key = self.key_in(&iface, family, ErrorCode::NotFound)?;
                    match self.mgm.protocol_on_interface(key) {
                        Ok((protocol_id, component_id)) => {
                            return Ok(json!({"protocol_id": protocol_id.0,
                                "component_id": component_id.0, "family": family}))
                        }
                        Err(e) => last = e.into(),
                    }
                }
                Err(last)
            }
            Op::AddGroupMembership(m) => self.membership(now, client, true, m, context),
            Op::DeleteGroupMembership(m) => self.membership(now, client, false, m, context),
            Op::GetMfe {
                source,
                group,
                stats,
            } => {
                let family = Family::of(group);
                self.check_family(family)?;
                match self.mgm.mfe(now, family, source, group) {
                    Some(info) => Ok(json!({"mfe": self.mfe_json(&info, stats)})),
                    None => Err(WireError::mgm(
                        ErrorCode::NotFound,
                        format!("no MFE for ({source}, {group})"),
                    )),
                }
            }
            Op::GetFirstMfe { family, max, stats } => {
                let families = match family {
                    Some(f) => {
                        self.check_family(f)?;
                        vec![f]
                    }
                    None => self.kernel.families(),
                };
                Ok(self.mfe_page(now, &families, None, max, stats))
            }
            Op::GetNextMfe {
                source,
                group,
                family,
                max,
                stats,
            } => {
                let start = Family::of(group);
                self.check_family(start)?;
                let families: Vec<Family> = match family {
                    Some(f) => vec![f],
                    None => self
                        .kernel
                        .families()
                        .into_iter()
                        .filter(|f| *f >= start)
                        .collect(),
                };
                Ok(self.mfe_page(now, &families, Some((source, group)), max, stats))
            }
            Op::SetMfe {
                handle,
                source,
                group,
                upstream,
            } => {
                let h = self.handle(client, handle)?;
                self.mgm
                    .set_mfe(h, Family::of(group), source, group, upstream)?;
                self.settled(now)?;
                Ok(json!({}))
            }
            Op::GroupEnumerationStart { handle, kind } => {
                let h = self.handle(client, handle)?;
                let e = self.mgm.group_enumeration_start(h, kind)?;
                Ok(json!({"enum": e.0}))
            }
            Op::GroupEnumerationGetNext {
                handle,
                enumeration,
                max,
            } => {
                let h = self.handle(client, handle)?;
                let (entries, more) = self.mgm.group_enumeration_get_next(h, enumeration, max)?;
                let entries: Vec<Value> = entries.iter().map(scope_json).collect();
                Ok(json!({"entries": entries, "more": more}))
            }
            Op::GroupEnumerationEnd {
                handle,
                enumeration,
            } => {
                let h = self.handle(client, handle)?;
                self.mgm.group_enumeration_end(h, enumeration)?;
                Ok(json!({}))
            }
            Op::AnswerRpf {
                handle,
                query,
                iif,
                upstream,
            } => {
                let h = self.handle(client, handle)?;
                let key = match &iif {
                    None => None,
                    Some(iface) => {
                        let family = iface
                            .family
                            .or(upstream.map(Family::of))
                            .or(self.queries.get(query))
                            .ok_or_else(|| {
                                WireError::mgm(
                                    ErrorCode::NotFound,
                                    format!("unknown query {}", query.0),
                                )
                            })?;
                        Some(self.key_in(iface, family, ErrorCode::InvalidParameter)?)
                    }
                };
                self.mgm.answer_rpf(now, h, query, key, upstream)?;
                self.settled(now)?;
                Ok(json!({}))
            }
            Op::AnswerCreationAlert {
                handle,
                query,
                disabled,
            } => {
                let h = self.handle(client, handle)?;
                let mut keys = Vec::new();
                for iface in &disabled {
                    let family = iface.family.or(self.queries.get(query)).ok_or_else(|| {
                        WireError::mgm(ErrorCode::NotFound, format!("unknown query {}", query.0))
                    })?;
                    keys.push(self.key_in(iface, family, ErrorCode::InvalidParameter)?);
                }
                self.mgm.answer_creation_alert(now, h, query, &keys)?;
                self.settled(now)?;
                Ok(json!({}))
            }
            Op::AnswerPruneAlert {
                handle,
                query,
                timeout,
            } => {
                let h = self.handle(client, handle)?;
                self.mgm.answer_prune_alert(now, h, query, timeout)?;
                self.settled(now)?;
                Ok(json!({}))
            }
            Op::Batch(_) => Err(WireError::invalid("a batch cannot contain a batch")),
            Op::Verify => Err(WireError::invalid("verify cannot be batched")),
            Op::ShowInterfaces => Ok(self.show_interfaces()),
            Op::ShowProtocols => Ok(self.show_protocols()),
            Op::ShowOwners => Ok(self.show_owners()),
            Op::ShowGroups => Ok(self.show_groups()),
            Op::ShowMfe { family } => {
                let families = match family {
                    Some(f) => vec![f],
                    None => self.kernel.families(),
                };
                let mut mfes = Vec::new();
                for f in families {
                    for info in self.all_mfes(now, f) {
                        mfes.push(self.mfe_json(&info, true));
                    }
                }
                Ok(json!({"mfes": mfes}))
            }
            Op::ShowStats => Ok(self.show_stats(now)),
            Op::StaticAdd(route) => self
                .with_statics(now, |s, core, now| s.add(core, now, route, Origin::Runtime))
                .unwrap_or_else(|| Err(WireError::mgm(ErrorCode::CanNotComplete, "busy"))),
            Op::StaticDel(route) => self
                .with_statics(now, |s, core, now| s.del(core, now, &route))
                .unwrap_or_else(|| Err(WireError::mgm(ErrorCode::CanNotComplete, "busy"))),
            Op::ShowStatic => Ok(self
                .statics
                .as_ref()
                .map_or_else(|| json!({"routes": []}), StaticRoutes::show)),
            Op::ShowIgmp => Ok(self.show_igmp(Family::Ipv4, now)),
            Op::ShowMld => Ok(self.show_igmp(Family::Ipv6, now)),
            Op::IgmpEnable(setting) => self
                .with_igmp(now, |igmp, core, now| {
                    igmp.enable(core, now, setting, Origin::Runtime)
                })
                .unwrap_or_else(|| Err(WireError::mgm(ErrorCode::CanNotComplete, "busy"))),
            Op::IgmpDisable { ifname } => self
                .with_igmp(now, |igmp, core, now| igmp.disable(core, now, &ifname))
                .unwrap_or_else(|| Err(WireError::mgm(ErrorCode::CanNotComplete, "busy"))),
        }
    }

    fn membership(
        &mut self,
        now: Instant,
        client: ClientId,
        add: bool,
        m: message::Membership,
        context: &Context,
    ) -> Reply {
        let h = self.handle(client, m.handle)?;
        self.check_family(m.scope.family)?;
        let key = self.key_in(&m.iface, m.scope.family, ErrorCode::NotFound)?;
        let rpf = m
            .scope
            .source
            .and_then(|s| context.rpf.get(&s).cloned().flatten());
        if add {
            self.mgm
                .add_group_membership(now, h, m.scope, key, m.flags, rpf)?;
        } else {
            self.mgm
                .delete_group_membership(now, h, m.scope, key, m.flags, rpf)?;
        }
        self.settled(now)?;
        Ok(json!({}))
    }

    // ===== reads =====

    /// Every MFE of `family`, in the core's order.
    fn all_mfes(&self, now: Instant, family: Family) -> Vec<MfeInfo> {
        let mut out: Vec<MfeInfo> = Vec::new();
        loop {
            let after = out.last().map(cursor_of);
            let (page, more) = self.mgm.mfes_after(now, family, after, 1024);
            let got = page.len();
            out.extend(page);
            if !more || got == 0 {
                return out;
            }
        }
    }

    fn mfe_page(
        &self,
        now: Instant,
        families: &[Family],
        after: Option<(IpAddr, IpAddr)>,
        max: usize,
        stats: bool,
    ) -> Value {
        let mut mfes = Vec::new();
        let mut more = false;
        for (i, family) in families.iter().enumerate() {
            let cursor = after.filter(|(_, g)| Family::of(*g) == *family);
            let room = max - mfes.len();
            let (page, family_more) = self.mgm.mfes_after(now, *family, cursor, room);
            mfes.extend(page.iter().map(|m| self.mfe_json(m, stats)));
            if mfes.len() >= max {
                more = family_more
                    || families[i + 1..]
                        .iter()
                        .any(|f| !self.mgm.mfes_after(now, *f, None, 1).0.is_empty());
                break;
            }
        }
        json!({"mfes": mfes, "more": more})
    }

    fn expected(&self, now: Instant) -> Expected {
        let mut families = Vec::new();
        for family in self.kernel.families() {
            let mut state = FamilyState::default();
            for info in self.mgm.interfaces() {
                let vif = match family {
                    Family::Ipv4 => info.vif_v4,
                    Family::Ipv6 => info.vif_v6,
                };
                if let Some(vif) = vif {
                    state.vifs.insert(vif, info.link.ifindex);
                }
            }
            for mfe in self.all_mfes(now, family) {
                if mfe.installed {
                    let oifs = mfe.oifs.iter().map(|k| k.ifindex).collect();
                    state
                        .mfes
                        .insert((mfe.source, mfe.group), (mfe.iif.ifindex, oifs));
                }
            }
            families.push((family, self.kernel.table(family), state));
        }
        Expected { families }
    }

    fn name_of(&self, ifindex: IfIndex) -> Option<String> {
        self.mgm
            .interface(ifindex)
            .map(|i| i.link.name)
            .or_else(|| self.names.get(&ifindex).cloned())
    }

    fn iface_json(&self, key: InterfaceKey) -> Value {
        json!({"ifindex": key.ifindex.0, "ifname": self.name_of(key.ifindex), "next_hop": key.next_hop})
    }

    fn mfe_json(&self, m: &MfeInfo, stats: bool) -> Value {
        let mut v = json!({
            "family": m.family,
            "source": m.source,
            "group": m.group,
            "iif": self.iface_json(m.iif),
            "iif_vif": m.iif_vif.0,
            "iif_protocol": m.iif_protocol.map(|p| p.0),
            "upstream": m.upstream,
            "oifs": m.oifs.iter().map(|k| self.iface_json(*k)).collect::<Vec<_>>(),
            "installed": m.installed,
            "uptime": m.uptime_secs,
            "expires": m.expires_in_secs,
            "timeout": m.timeout_secs,
        });
        if stats {
            v["stats"] = json!({"packets": m.counters.packets, "bytes": m.counters.bytes,
                "wrong_if": m.counters.wrong_if});
        }
        v
    }

    fn event_json(&mut self, handle: ProtocolHandle, n: &Notification) -> Value {
        let mut v = match n {
            Notification::CreationAlert {
                query,
                source,
                group,
                iif,
                oifs,
            } => {
                self.queries.insert(*query, Family::of(*group));
                json!({"event": "creation_alert", "query": query.0, "source": source,
                    "group": group, "family": Family::of(*group), "iif": self.iface_json(*iif),
                    "oifs": oifs.iter().map(|o| json!({"iface": self.iface_json(o.iface),
                        "igmp": o.igmp, "enabled": o.enabled})).collect::<Vec<_>>()})
            }
            Notification::DisableIgmp { iface } => {
                json!({"event": "disable_igmp", "iface": self.iface_json(*iface)})
            }
            Notification::EnableIgmp { iface } => {
                json!({"event": "enable_igmp", "iface": self.iface_json(*iface)})
            }
            Notification::InterfaceDeleted { iface } => {
                json!({"event": "interface_deleted", "iface": self.iface_json(*iface)})
            }
            Notification::JoinAlert {
                scope,
                member_update,
            } => {
                let mut v = scope_json(scope);
                v["event"] = json!("join_alert");
                v["member_update"] = json!(member_update);
                v
            }
            Notification::LocalJoin { scope, iface }
            | Notification::LocalLeave { scope, iface } => {
                let mut v = scope_json(scope);
                let name = if matches!(n, Notification::LocalJoin { .. }) {
                    "local_join"
                } else {
                    "local_leave"
                };
                v["event"] = json!(name);
                v["iface"] = self.iface_json(*iface);
                v
            }
            Notification::PruneAlert {
                query,
                scope,
                iface,
                member_delete,
                timeout,
            } => {
                if let Some(q) = query {
                    self.queries.insert(*q, scope.family);
                }
                let mut v = scope_json(scope);
                v["event"] = json!("prune_alert");
                v["query"] = json!(query.map(|q| q.0));
                v["iface"] = iface.map_or(Value::Null, |k| self.iface_json(k));
                v["member_delete"] = json!(member_delete);
                v["timeout"] = json!(timeout);
                v
            }
            Notification::Rpf {
                query,
                source,
                group,
                iif,
                upstream,
                arrived_on,
            } => {
                self.queries.insert(*query, Family::of(*group));
                json!({"event": "rpf", "query": query.0, "source": source, "group": group,
                    "family": Family::of(*group), "iif": self.iface_json(*iif),
                    "upstream": upstream, "arrived_on": self.iface_json(*arrived_on)})
            }
            Notification::WrongIf {
                source,
                group,
                iface,
            } => {
                json!({"event": "wrong_if", "source": source, "group": group,
                    "family": Family::of(*group), "iface": self.iface_json(*iface)})
            }
        };
        v["handle"] = json!(handle.0);
        v
    }

    fn show_igmp(&self, family: Family, now: Instant) -> Value {
        self.igmp
            .as_ref()
            .map_or_else(|| json!({"interfaces": []}), |igmp| igmp.show(family, now))
    }

    fn show_interfaces(&self) -> Value {
        let interfaces: Vec<Value> = self
            .mgm
            .interfaces()
            .iter()
            .map(|i| {
                json!({
                    "ifindex": i.link.ifindex.0,
                    "ifname": i.link.name,
                    "up": i.link.up,
                    "multicast": i.link.multicast,
                    "loopback": i.link.loopback,
                    "point_to_point": i.link.point_to_point,
                    "mtu": i.link.mtu,
                    "addresses": i.addresses.iter().map(|(a, p)| format!("{a}/{p}")).collect::<Vec<_>>(),
                    "vif_v4": i.vif_v4.map(|v| v.0),
                    "vif_v6": i.vif_v6.map(|v| v.0),
                })
            })
            .collect();
        json!({"interfaces": interfaces})
    }

    fn client_text(&self, handle: ProtocolHandle) -> String {
        match self.owners.get(&handle) {
            Some(Owner::Static) => "built-in static".to_string(),
            Some(Owner::Igmp) => "built-in IGMP/MLD".to_string(),
            Some(Owner::Client(c)) => self
                .clients
                .get(c)
                .map_or_else(|| format!("client {c}"), |s| s.peer.to_string()),
            None => "-".to_string(),
        }
    }

    fn show_protocols(&self) -> Value {
        let protocols: Vec<Value> = self
            .mgm
            .protocols()
            .iter()
            .map(|p| {
                json!({
                    "handle": p.handle.0,
                    "protocol_id": p.protocol_id.0,
                    "component_id": p.component_id.0,
                    "callbacks": p.callbacks.iter().map(|c| callback_name(*c)).collect::<Vec<_>>(),
                    "interfaces": p.interfaces.iter().map(|k| self.iface_json(*k)).collect::<Vec<_>>(),
                    "client": self.client_text(p.handle),
                })
            })
            .collect();
        json!({"protocols": protocols})
    }

    fn protocol_json(&self, handle: Option<ProtocolHandle>) -> Value {
        match handle {
            None => Value::Null,
            Some(h) => {
                let id = self.mgm.protocol(h).map(|p| p.protocol_id.0);
                json!({"handle": h.0, "protocol_id": id})
            }
        }
    }

    fn show_owners(&self) -> Value {
        let owners: Vec<Value> = self
            .mgm
            .owned_interfaces()
            .iter()
            .map(|o| {
                let mut v = self.iface_json(o.iface);
                v["family"] = json!(o.iface.family());
                v["routing"] = self.protocol_json(o.routing);
                v["igmp"] = self.protocol_json(o.igmp);
                v["vif"] = json!(o.vif.0);
                v
            })
            .collect();
        json!({"owners": owners})
    }

    fn show_groups(&self) -> Value {
        let groups: Vec<Value> = self
            .mgm
            .memberships()
            .iter()
            .map(|m| {
                let mut v = scope_json(&m.scope);
                v["protocol"] = self.protocol_json(Some(m.protocol));
                v["iface"] = self.iface_json(m.iface);
                v
            })
            .collect();
        json!({"groups": groups})
    }

    fn show_stats(&self, now: Instant) -> Value {
        let mut vifs = json!({});
        for family in self.kernel.families() {
            let n = self
                .mgm
                .interfaces()
                .iter()
                .filter(|i| match family {
                    Family::Ipv4 => i.vif_v4.is_some(),
                    Family::Ipv6 => i.vif_v6.is_some(),
                })
                .count();
            vifs[family.to_string()] = json!(n);
        }
        let s = &self.stats;
        json!({"stats": {
            "uptime_secs": now.saturating_duration_since(self.started).as_secs(),
            "table": self.kernel.table(Family::Ipv4),
            "table_v6": self.kernel.available(Family::Ipv6).then(|| self.kernel.table(Family::Ipv6)),
            "ipv6_available": self.kernel.available(Family::Ipv6),
            "clients": self.clients.len(),
            "protocols": self.mgm.protocols().len(),
            "interfaces": self.mgm.interfaces().len(),
            "owned_keys": self.mgm.owned_interfaces().len(),
            "memberships": self.mgm.memberships().len(),
            "mfes": self.mgm.mfe_count(),
            "vifs": vifs,
            "requests": s.requests,
            "upcalls": s.upcalls,
            "nocache": s.nocache,
            "wrong_vif": s.wrong_vif,
            "kernel_ops": s.kernel_ops,
            "kernel_errors": s.kernel_errors,
            "events_sent": s.events_sent,
            "slow_clients_disconnected": s.slow_clients,
            "counter_polls": s.counter_polls,
            "igmp_to_kernel_median_us": median_us(&s.igmp_to_kernel),
        }})
    }
}

/// Median of `samples` in microseconds (`None` without samples).
fn median_us(samples: &VecDeque<Duration>) -> Option<u64> {
    let mut sorted: Vec<Duration> = samples.iter().copied().collect();
    sorted.sort();
    sorted
        .get(sorted.len() / 2)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The `mfes_after` cursor of an entry.
fn cursor_of(m: &MfeInfo) -> (IpAddr, IpAddr) {
    (m.source, m.group)
}

fn scope_json(scope: &SourceGroup) -> Value {
    json!({"source": scope.source, "group": scope.group, "family": scope.family})
}

/// The core loop (see the module diagram). Returns the core when `shutdown` fires, for the
/// caller to tear down after the other tasks have stopped.
pub(crate) async fn run(
    mut core: Core,
    mut inputs_rx: mpsc::Receiver<Input>,
    shutdown: CancellationToken,
) -> Core {
    let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
    let sleep = tokio::time::sleep_until(far());
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            input = inputs_rx.recv() => match input {
                Some(input) => core.handle_input(input),
                None => break,
            },
            () = &mut sleep => {}
        }
        // Fire due timers (also when another branch won the race with the sleep).
        let now = Instant::now();
        if core.poll_timeout().is_some_and(|deadline| deadline <= now) {
            core.handle_timeout(now);
        }
        let deadline = core
            .poll_timeout()
            .map_or_else(far, tokio::time::Instant::from_std);
        sleep.as_mut().reset(deadline);
    }
    core
}
