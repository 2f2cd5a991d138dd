//! The IPC listener: socket file lifecycle (stale-socket check, mode 0660), peer credential
//! checks, one task per connection.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

use futures::FutureExt;
use tokio::net::UnixListener;
use tokio_util::task::TaskTracker;
use tracing::{debug, error, info, warn};

use crate::core_task::Input;
use crate::ipc::connection::{self, Peer, Shared};
use crate::Error;

/// Refuse to start when a live mgmd answers on `path`; remove a stale socket file left by a
/// crashed one.
///
/// # Errors
///
/// [`Error::SocketInUse`] when something accepts connections on `path`; [`Error::Os`] when
/// `path` exists and is not a socket or cannot be removed.
pub fn check_socket(path: &Path) -> Result<(), Error> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::Os(format!("cannot inspect {}: {e}", path.display()))),
    };
    if !meta.file_type().is_socket() {
        return Err(Error::Os(format!(
            "{} exists and is not a socket; remove it or choose another --socket",
            path.display()
        )));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(Error::SocketInUse(path.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            info!(path = %path.display(), "removing stale socket left by a previous mgmd");
            std::fs::remove_file(path)
                .map_err(|e| Error::Os(format!("cannot remove {}: {e}", path.display())))
        }
        Err(e) => Err(Error::Os(format!("cannot probe {}: {e}", path.display()))),
    }
}

/// Create the socket's directory, bind, and set mode 0660.
///
/// # Errors
///
/// [`Error::Os`] on any failure.
pub fn bind(path: &Path) -> Result<UnixListener, Error> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Os(format!("cannot create {}: {e}", dir.display())))?;
    }
    let listener = UnixListener::bind(path)
        .map_err(|e| Error::Os(format!("cannot listen on {}: {e}", path.display())))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| Error::Os(format!("cannot chmod {}: {e}", path.display())))?;
    Ok(listener)
}

/// Remove the socket file (at shutdown).
pub fn remove(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            warn!(path = %path.display(), "cannot remove socket: {e}");
        }
    }
}

/// Accept connections until shutdown; each runs [`connection::run`] on `tracker`.
pub(crate) async fn run(
    listener: UnixListener,
    path: PathBuf,
    shared: Shared,
    tracker: TaskTracker,
) {
    let socket_gid = std::fs::metadata(&path).map(|m| m.gid()).ok();
    let own_uid = nix::unistd::geteuid().as_raw();
    let mut next_client = 1u64;
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                warn!("accept failed: {e}");
                // EMFILE and friends: do not spin.
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let peer = match stream.peer_cred() {
            Ok(cred) => Peer {
                pid: cred.pid(),
                uid: cred.uid(),
                gid: cred.gid(),
            },
            Err(e) => {
                warn!("cannot read peer credentials, refusing the connection: {e}");
                continue;
            }
        };
        let client = next_client;
        next_client += 1;
        if !allowed(&peer, own_uid, socket_gid) {
            warn!(client, %peer, "connection refused: not root, not mgmd's user, not in the socket's group");
            tracker.spawn(refuse(stream, peer));
            continue;
        }
        info!(client, %peer, "client connected");
        let inputs_tx = shared.inputs_tx.clone();
        let task = connection::run(stream, client, peer, shared.clone());
        tracker.spawn(async move {
            // A panic kills only this connection; its registrations still get forced cleanup.
            if AssertUnwindSafe(task).catch_unwind().await.is_err() {
                error!(
                    client,
                    "connection task panicked; cleaning up its registrations"
                );
                let _ = inputs_tx.send(Input::Disconnected { client }).await;
            }
        });
    }
    debug!("listener stopped");
}

async fn refuse(mut stream: tokio::net::UnixStream, peer: Peer) {
    use tokio::io::AsyncWriteExt;
    let error = crate::ipc::message::WireError::mgm(
        mgm_core::ErrorCode::CanNotComplete,
        format!("permission denied for {peer}"),
    );
    let line = crate::ipc::message::response_line(&serde_json::Value::Null, &Err(error));
    let _ = stream.write_all(line.as_bytes()).await;
}

/// uid 0, mgmd's own uid, or a member (primary or supplementary) of the socket's group.
fn allowed(peer: &Peer, own_uid: u32, socket_gid: Option<u32>) -> bool {
    if peer.uid == 0 || peer.uid == own_uid {
        return true;
    }
    let Some(gid) = socket_gid else { return false };
    if peer.gid == gid {
        return true;
    }
    peer.pid
        .is_some_and(|pid| supplementary_groups(pid).contains(&gid))
}

/// The `Groups:` line of /proc/PID/status.
fn supplementary_groups(pid: i32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_rules() {
        let peer = |uid, gid| Peer {
            pid: None,
            uid,
            gid,
        };
        assert!(allowed(&peer(0, 0), 1000, Some(50)));
        assert!(allowed(&peer(1000, 7), 1000, Some(50)));
        assert!(allowed(&peer(1001, 50), 1000, Some(50)));
        assert!(!allowed(&peer(1001, 7), 1000, Some(50)));
        assert!(!allowed(&peer(1001, 7), 1000, None));
    }

    #[test]
    fn stale_socket_is_replaced_live_one_refused() {
        let dir = std::env::temp_dir().join(format!("mgmd-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("s.sock");
        let _ = std::fs::remove_file(&path);
        assert!(check_socket(&path).is_ok());
        // A bound but closed socket is stale.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        check_socket(&path).unwrap();
        assert!(!path.exists());
        // A listening one is live.
        let live = std::os::unix::net::UnixListener::bind(&path).unwrap();
        assert!(matches!(check_socket(&path), Err(Error::SocketInUse(_))));
        drop(live);
        std::fs::remove_file(&path).unwrap();
        // A regular file is refused.
        std::fs::write(&path, b"x").unwrap();
        assert!(matches!(check_socket(&path), Err(Error::Os(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
