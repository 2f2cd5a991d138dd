//! mgmd: the multicast group manager daemon, and the pieces `mgmctl` and clients share.
//!
//! mgmd owns the kernel multicast routing table of its network namespace (`MRT_INIT`) and
//! offers the semantics of the RRAS Multicast Group Manager to routing protocols over a Unix
//! socket (docs/PROTOCOL.md). The MGM rules live in `mgm-core`; the kernel adapters in
//! `netlink`; this crate wires them together.
//!
//! # Layout
//! - [`run`]: start-up, the task set, shutdown (STYLE 3.6-3.8).
//! - `core_task`: the single owner of [`mgm_core::Mgm`] and the kernel sockets.
//! - `kernel`: owner + programming sockets per family, start-up reconciliation.
//! - [`ipc`]: the socket server, framing and typed messages.
//! - `static_routes`: the built-in static protocol.
//! - `verify`: agent state against the kernel's dump.
//! - [`config`]: the `mgmd.toml` file.
//! - [`client`]: an async client library (used by `mgmctl` and the examples).
//!
//! # Glossary
//! VIF (MIF): kernel virtual interface number; MFE: (S,G) forwarding entry (kernel MFC entry);
//! iif/oif: incoming/outgoing interface; owner: the protocol that took an interface key.

pub mod client;
pub mod config;
mod core_task;
mod igmp_protocol;
pub mod ipc;
mod kernel;
mod route_cache;
mod static_routes;
mod verify;

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mgm_core::{LinkEvent, Mgm, Upcall};
use netlink::link::Rtnl;
use netlink::mrt::{MrtMessage, MrtSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, trace, warn};

pub use config::Config;

use crate::core_task::{Core, Input};
use crate::ipc::connection::Shared;
use crate::ipc::server;

/// Why mgmd could not start (or stopped abnormally).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad configuration or usage (exit 1).
    #[error("{0}")]
    Config(String),
    /// Another multicast router owns the table (exit 69, `EX_UNAVAILABLE`).
    #[error("{0}")]
    MrtInUse(String),
    /// A live mgmd answers on the socket path (exit 69).
    #[error("another mgmd is already running and answering on {}; stop it first or choose another --socket", .0.display())]
    SocketInUse(std::path::PathBuf),
    /// Any other operating-system failure at start (exit 71, `EX_OSERR`).
    #[error("{0}")]
    Os(String),
    /// A task died (exit 70, `EX_SOFTWARE`).
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Config(_) => 1,
            Error::MrtInUse(_) | Error::SocketInUse(_) => 69,
            Error::Internal(_) => 70,
            Error::Os(_) => 71,
        }
    }
}

/// Applies a new log filter; the error is for the log.
pub type SetLogLevel = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// Optional hooks from `main`.
#[derive(Clone, Default)]
pub struct Hooks {
    /// Apply a new log filter (SIGHUP reload); `None` when RUST_LOG or --log-level pin it.
    pub set_log_level: Option<SetLogLevel>,
}

/// Run mgmd until `shutdown` completes, then remove everything it installed.
///
/// # Errors
///
/// See [`Error`]; start-up failures are returned before anything is changed.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
    run_with(config, Hooks::default(), shutdown).await
}

/// [`run`] with hooks.
///
/// # Errors
///
/// See [`Error`].
pub async fn run_with(
    config: Config,
    hooks: Hooks,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    // Refuse early, before touching the kernel, if a live mgmd answers on the socket.
    server::check_socket(&config.socket)?;
    let kernel = kernel::Kernel::open(config.table).map_err(|e| match e {
        netlink::Error::MrtInUse { .. } => Error::MrtInUse(e.to_string()),
        other => Error::Os(format!("cannot open the multicast routing socket: {other}")),
    })?;
    info!(
        table = kernel.table(mgm_core::Family::Ipv4),
        ipv6 = kernel.available(mgm_core::Family::Ipv6),
        "multicast routing table owned"
    );
    // Everything that can fail at start happens before the first entry is installed.
    let prepared = async {
        let rtnl =
            Arc::new(Rtnl::new().map_err(|e| Error::Os(format!("cannot open rtnetlink: {e}")))?);
        let links = rtnl
            .links()
            .await
            .map_err(|e| Error::Os(format!("cannot list links: {e}")))?;
        let listener = server::bind(&config.socket)?;
        Ok::<_, Error>((rtnl, links, listener))
    };
    let (rtnl, links, listener) = match prepared.await {
        Ok(prepared) => prepared,
        Err(e) => {
            kernel.close();
            return Err(e);
        }
    };
    kernel.reconcile_at_start(&rtnl).await;

    let families = kernel.families();
    let sockets = igmp_sockets(&families);
    let mld = sockets.mld.clone();
    let igmp = igmp_protocol::IgmpProtocol::new(sockets, families);
    let mut core = Core::new(Mgm::new(config.mgm_config()), kernel, igmp);
    let now = Instant::now();
    for link in links {
        core.handle_link(now, LinkEvent::Link(link));
    }
    core.start_static(now, &config.static_routes);
    core.start_igmp(now, &config.igmp_interfaces);

    info!(socket = %config.socket.display(), "listening");

    let token = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (inputs_tx, inputs_rx) = mpsc::channel::<Input>(1024);

    tracker.spawn(link_monitor(inputs_tx.clone(), token.clone()));
    if let Some(mld) = mld {
        tracker.spawn(mld_reader(
            rtnl.clone(),
            mld,
            inputs_tx.clone(),
            token.clone(),
        ));
    }
    for owner in core.kernel().owners() {
        tracker.spawn(upcall_reader(
            owner,
            rtnl.clone(),
            inputs_tx.clone(),
            token.clone(),
        ));
    }
    let shared = Shared {
        inputs_tx: inputs_tx.clone(),
        rtnl: rtnl.clone(),
        shutdown: token.clone(),
        event_queue: config.event_queue,
    };
    tracker.spawn(server::run(
        listener,
        config.socket.clone(),
        shared,
        tracker.clone(),
    ));
    if let Some(path) = config.path.clone() {
        tracker.spawn(reload_on_sighup(
            path,
            inputs_tx.clone(),
            hooks,
            token.clone(),
        ));
    }
    let interval = Duration::from_secs(config.counter_interval.max(1));
    tracker.spawn(counter_thread(
        core.kernel().tables(),
        inputs_tx.clone(),
        interval,
        token.clone(),
    ));
    drop(inputs_tx);
    let mut core_task = tokio::spawn(core_task::run(core, inputs_rx, token.clone()));

    let core = tokio::select! {
        () = shutdown => {
            info!("shutting down");
            token.cancel();
            core_task.await
        }
        joined = &mut core_task => {
            token.cancel();
            joined
        }
    };
    let result = match core {
        Ok(core) => {
            let kernel = core.shutdown();
            tracker.close();
            if tokio::time::timeout(Duration::from_secs(5), tracker.wait())
                .await
                .is_err()
            {
                warn!("some tasks did not stop within 5 s");
            }
            kernel.close();
            Ok(())
        }
        Err(e) => {
            tracker.close();
            let _ = tokio::time::timeout(Duration::from_secs(2), tracker.wait()).await;
            Err(Error::Internal(format!("the core task failed: {e}")))
        }
    };
    server::remove(&config.socket);
    info!("stopped");
    result
}

/// Run [`counter_poller`] on a thread of its own (with its own runtime, in this thread's network
/// namespace): decoding a large MFC dump takes CPU time that must not delay the core task,
/// which shares the daemon's single-threaded runtime. Ends when `token` is cancelled.
async fn counter_thread(
    tables: Vec<(mgm_core::Family, u32)>,
    inputs_tx: mpsc::Sender<Input>,
    interval: Duration,
    token: CancellationToken,
) {
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    let spawned = std::thread::Builder::new()
        .name("mgmd-counters".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime.block_on(counter_poller(tables, inputs_tx, interval, token)),
                Err(e) => error!("cannot start the counter poller's runtime: {e}"),
            }
            let _ = done_tx.send(());
        });
    match spawned {
        Ok(_) => {
            let _ = done_rx.await;
        }
        Err(e) => error!("cannot start the counter poller thread: {e}"),
    }
}

/// Every `interval`, read the counters of every MFC entry of our tables with one rtnetlink dump
/// per family (its own rtnetlink socket: a large dump does not delay the connections' look-ups)
/// and hand them to the core as one input. The core task never waits for the kernel here.
async fn counter_poller(
    tables: Vec<(mgm_core::Family, u32)>,
    inputs_tx: mpsc::Sender<Input>,
    interval: Duration,
    token: CancellationToken,
) {
    let rtnl = match Rtnl::new() {
        Ok(rtnl) => rtnl,
        Err(e) => {
            error!("cannot open rtnetlink for the counter poller; MFEs expire without traffic checks: {e}");
            return;
        }
    };
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await; // the first tick is immediate: nothing is installed yet
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let mut entries = Vec::new();
        for (family, table) in &tables {
            match netlink::dump::mfc_dump(&rtnl, *family, *table).await {
                Ok(mfes) => entries.extend(mfes.into_iter().filter(|m| m.resolved).map(|m| {
                    core_task::MfcCounters {
                        family: m.family,
                        source: m.source,
                        group: m.group,
                        counters: m.counters,
                    }
                })),
                Err(e) => warn!(%family, "reading the MFC counters: {e}"),
            }
        }
        tokio::select! {
            () = token.cancelled() => return,
            sent = inputs_tx.send(Input::Counters(entries)) => if sent.is_err() { return },
        }
    }
}

/// Run the rtnetlink monitor and forward its events to the core's input.
async fn link_monitor(inputs_tx: mpsc::Sender<Input>, token: CancellationToken) {
    let (links_tx, mut links_rx) = mpsc::channel::<LinkEvent>(1024);
    let forward = async {
        while let Some(event) = links_rx.recv().await {
            if inputs_tx.send(Input::Link(event)).await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        () = token.cancelled() => {}
        result = netlink::link::monitor(links_tx) => match result {
            Ok(()) => debug!("link monitor ended"),
            Err(e) => error!("link monitor failed; interface changes are no longer seen: {e}"),
        },
        () = forward => {}
    }
}

/// Read one owner socket; NOCACHE upcalls get the FIB route toward their source first.
async fn upcall_reader(
    socket: Arc<MrtSocket>,
    rtnl: Arc<Rtnl>,
    inputs_tx: mpsc::Sender<Input>,
    token: CancellationToken,
) {
    let family = socket.family();
    let mut routes = route_cache::RouteCache::new(4096);
    loop {
        let message = tokio::select! {
            () = token.cancelled() => break,
            message = socket.recv() => message,
        };
        match message {
            Ok(MrtMessage::Upcall(upcall)) => {
                let route = match &upcall {
                    Upcall::NoCache { source, .. } => {
                        routes.lookup(&rtnl, Instant::now(), *source).await
                    }
                    _ => None,
                };
                if inputs_tx
                    .send(Input::Upcall { upcall, route })
                    .await
                    .is_err()
                {
                    break;
                }
            }
            // IPv6: MLD is read from the MLD socket (the MRT6 socket sees the same packets).
            Ok(MrtMessage::Packet {
                family: mgm_core::Family::Ipv4,
                ifindex: Some(ifindex),
                source,
                destination,
                payload,
                ..
            }) => {
                let routes = source_routes(&rtnl, mgm_core::Family::Ipv4, &payload).await;
                let packet = Input::IgmpPacket {
                    ifindex,
                    source,
                    destination,
                    payload,
                    routes,
                };
                if inputs_tx.send(packet).await.is_err() {
                    break;
                }
            }
            Ok(MrtMessage::Packet { source, .. }) => {
                trace!(%family, %source, "packet on the MRT socket ignored");
            }
            Err(e) => {
                warn!(%family, "reading the multicast routing socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Open the IGMP sender and the MLD socket; a failure only disables that family's IGMP/MLD.
fn igmp_sockets(families: &[mgm_core::Family]) -> igmp_protocol::IgmpSockets {
    let igmp = match netlink::igmp_io::IgmpSender::open() {
        Ok(s) => Some(s),
        Err(e) => {
            warn!("IGMP is not available (cannot open its socket): {e}");
            None
        }
    };
    let mld = if families.contains(&mgm_core::Family::Ipv6) {
        match netlink::igmp_io::MldSocket::open() {
            Ok(s) => Some(Arc::new(s)),
            Err(e) => {
                warn!("MLD is not available (cannot open its socket): {e}");
                None
            }
        }
    } else {
        None
    };
    igmp_protocol::IgmpSockets { igmp, mld }
}

/// The FIB route toward each source an IGMPv3 / MLDv2 report names, looked up here (off the
/// core task) for the (S,G) joins it may cause.
async fn source_routes(
    rtnl: &Rtnl,
    family: mgm_core::Family,
    payload: &[u8],
) -> HashMap<IpAddr, Option<mgm_core::Route>> {
    let mut routes = HashMap::new();
    let sources =
        igmp_protocol::report_sources(family, payload, igmp_protocol::REPORT_SOURCES_LIMIT);
    for source in sources {
        routes.insert(source, route_cache::fib_route(rtnl, source).await);
    }
    routes
}

/// Read MLD messages (valid ones: link-local source, hop limit 1, router alert).
async fn mld_reader(
    rtnl: Arc<Rtnl>,
    socket: Arc<netlink::igmp_io::MldSocket>,
    inputs_tx: mpsc::Sender<Input>,
    token: CancellationToken,
) {
    loop {
        let packet = tokio::select! {
            () = token.cancelled() => break,
            packet = socket.recv() => packet,
        };
        match packet {
            Ok(p) if p.is_valid() => {
                let Some(ifindex) = p.ifindex else { continue };
                let routes = source_routes(&rtnl, mgm_core::Family::Ipv6, &p.payload).await;
                let input = Input::IgmpPacket {
                    ifindex,
                    source: p.source,
                    destination: p.destination,
                    payload: p.payload,
                    routes,
                };
                if inputs_tx.send(input).await.is_err() {
                    break;
                }
            }
            Ok(p) => trace!(source = %p.source, "invalid MLD packet ignored"),
            Err(e) => {
                warn!("reading the MLD socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn reload_on_sighup(
    path: std::path::PathBuf,
    inputs_tx: mpsc::Sender<Input>,
    hooks: Hooks,
    token: CancellationToken,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        warn!("cannot install the SIGHUP handler; reload disabled");
        return;
    };
    loop {
        tokio::select! {
            () = token.cancelled() => return,
            got = hup.recv() => if got.is_none() { return },
        }
        info!(path = %path.display(), "SIGHUP: reloading the configuration");
        let config = match Config::load(&path, false) {
            Ok(config) => config,
            Err(e) => {
                error!("reload failed, keeping the running configuration: {e}");
                continue;
            }
        };
        if let Some(set) = &hooks.set_log_level {
            if let Err(e) = set(&config.log_level) {
                warn!("log level {:?} not applied: {e}", config.log_level);
            }
        }
        if inputs_tx
            .send(Input::Reload {
                routes: config.static_routes,
                igmp: config.igmp_interfaces,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}
