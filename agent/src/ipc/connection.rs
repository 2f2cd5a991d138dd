//! One client connection: newline framing with a 1 MiB limit, request preparation (FIB and
//! neighbour look-ups that must not run on the core task), and event delivery.
//!
//! ```text
//!  socket --lines--> parse --> prepare (rtnl look-ups) --Input::Request--> core task
//!  socket <--line--- response <------------------ oneshot reply ----------/
//!  socket <--line--- events_rx (bounded, filled by the core with try_send)
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use futures::StreamExt;
use mgm_core::IfIndex;
use serde_json::Value;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, FramedRead};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::core_task::{ClientId, Context, CoreReply, Input};
use crate::ipc::message::{
    self, parse_request, response_line, shutdown_line, Iface, Op, Reply, WireError, MAX_LINE,
};
use crate::verify;

/// Credentials of a connected peer (`SO_PEERCRED`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Peer {
    /// Process ID, if known.
    pub pid: Option<i32>,
    /// User ID.
    pub uid: u32,
    /// Group ID.
    pub gid: u32,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid} uid {} gid {}", self.uid, self.gid),
            None => write!(f, "uid {} gid {}", self.uid, self.gid),
        }
    }
}

/// What a connection task needs from the daemon.
#[derive(Clone)]
pub(crate) struct Shared {
    /// The core task's input.
    pub inputs_tx: mpsc::Sender<Input>,
    /// rtnetlink for RPF and neighbour look-ups and verify's dumps.
    pub rtnl: Arc<netlink::link::Rtnl>,
    /// Daemon shutdown.
    pub shutdown: CancellationToken,
    /// Per-client event queue length.
    pub event_queue: usize,
}

/// Serve one client until it closes, is kicked, or the daemon stops.
pub(crate) async fn run(stream: UnixStream, client: ClientId, peer: Peer, shared: Shared) {
    let (events_tx, mut events_rx) = mpsc::channel::<String>(shared.event_queue);
    let kick = CancellationToken::new();
    let connected = Input::Connected {
        client,
        events_tx,
        kick: kick.clone(),
        peer,
    };
    if shared.inputs_tx.send(connected).await.is_err() {
        return;
    }
    let (read_half, mut write_half) = stream.into_split();
    let codec = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), b"\n".to_vec(), MAX_LINE);
    let mut lines = FramedRead::new(read_half, codec);
    loop {
        tokio::select! {
            biased;
            () = shared.shutdown.cancelled() => {
                // Bounded: a client that does not read must not delay the daemon's exit.
                let line = shutdown_line();
                let _ = tokio::time::timeout(
                    std::time::Duration::from_millis(500),
                    write_half.write_all(line.as_bytes()),
                )
                .await;
                break;
            }
            () = kick.cancelled() => {
                info!(client, %peer, "client disconnected by mgmd (event queue full)");
                break;
            }
            Some(event) = events_rx.recv() => {
                if write(&mut write_half, &event, &kick, &shared.shutdown).await.is_err() {
                    break;
                }
            }
            frame = lines.next() => {
                let bytes = match frame {
                    None => break,
                    Some(Ok(bytes)) => bytes,
                    Some(Err(AnyDelimiterCodecError::MaxChunkLengthExceeded)) => {
                        warn!(client, %peer, "request line over {MAX_LINE} bytes; closing");
                        let line = response_line(&Value::Null, &Err(WireError::too_large()));
                        let _ = write(&mut write_half, &line, &kick, &shared.shutdown).await;
                        break;
                    }
                    Some(Err(e)) => {
                        debug!(client, "read error: {e}");
                        break;
                    }
                };
                let line = handle_line(&bytes, client, &shared).await;
                let Some(line) = line else { continue };
                // Events the request caused (queued before its reply) go out first.
                let mut out = String::new();
                while let Ok(event) = events_rx.try_recv() {
                    out.push_str(&event);
                }
                out.push_str(&line);
                if write(&mut write_half, &out, &kick, &shared.shutdown).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = shared.inputs_tx.send(Input::Disconnected { client }).await;
}

/// Write one line unless the client is kicked or the daemon stops first (a client that does
/// not read must not hold its task forever).
async fn write<W: AsyncWrite + Unpin>(
    writer: &mut W,
    line: &str,
    kick: &CancellationToken,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    tokio::select! {
        r = writer.write_all(line.as_bytes()) => r,
        () = kick.cancelled() => Err(std::io::ErrorKind::ConnectionAborted.into()),
        () = shutdown.cancelled() => Err(std::io::ErrorKind::ConnectionAborted.into()),
    }
}

/// Parse, prepare and execute one request line; `None` for a blank line.
async fn handle_line(bytes: &[u8], client: ClientId, shared: &Shared) -> Option<String> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text.trim(),
        Err(_) => {
            let e = WireError::malformed("request is not UTF-8");
            return Some(response_line(&Value::Null, &Err(e)));
        }
    };
    if text.is_empty() {
        return None;
    }
    let request = match parse_request(text) {
        Ok(request) => request,
        Err(bad) => {
            debug!(client, "bad request: {}", bad.error);
            return Some(response_line(&bad.id, &Err(bad.error)));
        }
    };
    let reply = execute(request.op, client, shared).await;
    Some(response_line(&request.id, &reply))
}

/// Run one parsed op: `hello` here, everything else on the core task.
pub(crate) async fn execute(op: Op, client: ClientId, shared: &Shared) -> Reply {
    if let Op::Hello {
        version,
        client: name,
    } = &op
    {
        if *version != message::PROTOCOL_VERSION {
            return Err(WireError::invalid(format!(
                "protocol version {version} is not supported; this server speaks version {}",
                message::PROTOCOL_VERSION
            )));
        }
        debug!(client, name = name.as_deref().unwrap_or("?"), "hello");
        return Ok(serde_json::json!({
            "version": message::PROTOCOL_VERSION,
            "server": concat!("mgmd ", env!("CARGO_PKG_VERSION")),
            "ops": message::OPS,
        }));
    }
    let context = prepare(&op, &shared.rtnl).await;
    let (reply_tx, reply_rx) = oneshot::channel();
    let input = Input::Request {
        client,
        op,
        context,
        reply: reply_tx,
    };
    let stopping = || WireError::mgm(mgm_core::ErrorCode::CanNotComplete, "mgmd is stopping");
    if shared.inputs_tx.send(input).await.is_err() {
        return Err(stopping());
    }
    match reply_rx.await {
        Err(_) => Err(stopping()),
        Ok(CoreReply::Done(reply)) => reply,
        Ok(CoreReply::Verify(expected)) => Ok(verify::run(&shared.rtnl, &expected).await),
    }
}

/// Look-ups the core needs but must not wait for: the FIB route toward the source of (S,G)
/// membership requests, and the neighbours of an interface whose next hop is being taken.
async fn prepare(op: &Op, rtnl: &netlink::link::Rtnl) -> Context {
    let mut context = Context::default();
    let ops: Vec<&Op> = match op {
        Op::Batch(items) => items.iter().filter_map(|i| i.as_ref().ok()).collect(),
        other => vec![other],
    };
    let mut rpf: HashMap<IpAddr, Option<mgm_core::Route>> = HashMap::new();
    for op in ops {
        if let Some(source) = op.rpf_source() {
            if let std::collections::hash_map::Entry::Vacant(slot) = rpf.entry(source) {
                slot.insert(crate::route_cache::fib_route(rtnl, source).await);
            }
        }
        if let Some((iface, _)) = op.next_hop_iface() {
            let ifindex = match iface {
                Iface::Index(i) => Some(*i),
                Iface::Name(name) => nix::net::if_::if_nametoindex(name.as_str()).ok(),
            };
            if let Some(ifindex) = ifindex {
                match rtnl.neighbours(IfIndex(ifindex)).await {
                    Ok(addrs) => context.neighbours.push((IfIndex(ifindex), addrs)),
                    Err(e) => debug!(ifindex, "neighbour lookup failed: {e}"),
                }
            }
        }
    }
    context.rpf = rpf;
    context
}
