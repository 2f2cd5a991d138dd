//! An async client for mgmd's IPC (docs/PROTOCOL.md), used by `mgmctl` and the examples.
//!
//! ```no_run
//! # async fn demo() -> Result<(), agent::client::ClientError> {
//! use serde_json::json;
//! let mut client = agent::client::Client::connect("/run/mgmd/mgmd.sock").await?;
//! let handle = client
//!     .request("register_protocol", json!({"protocol_id": 21, "callbacks": ["join_alert"]}))
//!     .await?["handle"]
//!     .clone();
//! client.request("take_interface_ownership", json!({"handle": handle, "ifname": "eth1"})).await?;
//! while let Some(event) = client.next_event().await? {
//!     println!("{event}");
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// A failed client operation.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// mgmd is not reachable.
    #[error("cannot connect to mgmd at {}: {source}", path.display())]
    Connect {
        /// Socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Reading or writing the socket failed.
    #[error("connection to mgmd failed: {0}")]
    Io(#[from] std::io::Error),
    /// mgmd closed the connection.
    #[error("mgmd closed the connection")]
    Closed,
    /// A line from mgmd was not a JSON object.
    #[error("unexpected message from mgmd: {0}")]
    Protocol(String),
    /// mgmd answered with an error.
    #[error("{code}: {message}")]
    Server {
        /// The error code (`InvalidParameter`, `UnknownOp`, ...).
        code: String,
        /// mgmd's explanation.
        message: String,
    },
}

/// A connection to mgmd.
pub struct Client {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    events: VecDeque<Value>,
}

impl Client {
    /// Connect to the socket at `path`.
    ///
    /// # Errors
    ///
    /// [`ClientError::Connect`] when nothing listens there.
    pub async fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path)
            .await
            .map_err(|source| ClientError::Connect {
                path: path.to_path_buf(),
                source,
            })?;
        let (read, writer) = stream.into_split();
        Ok(Client {
            reader: BufReader::new(read),
            writer,
            next_id: 1,
            events: VecDeque::new(),
        })
    }

    /// Send `op` with `fields` (a JSON object, or null) and wait for its response; events that
    /// arrive meanwhile are kept for [`Client::next_event`].
    ///
    /// # Errors
    ///
    /// [`ClientError::Server`] for an error response, or a transport error.
    pub async fn request(&mut self, op: &str, fields: Value) -> Result<Value, ClientError> {
        let response = self.request_raw(op, fields).await?;
        into_result(response)
    }

    /// Like [`Client::request`] but returns the whole response object (`ok` or `error`).
    ///
    /// # Errors
    ///
    /// Transport errors only.
    pub async fn request_raw(&mut self, op: &str, fields: Value) -> Result<Value, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        let mut object = match fields {
            Value::Object(map) => map,
            Value::Null => Map::new(),
            other => {
                let mut map = Map::new();
                map.insert("args".to_string(), other);
                map
            }
        };
        object.insert("id".to_string(), Value::from(id));
        object.insert("op".to_string(), Value::from(op));
        self.send_line(&Value::Object(object).to_string()).await?;
        self.wait_for(&Value::from(id)).await
    }

    /// Send one raw line (a complete JSON request) and return the next response (events that
    /// come first are kept).
    ///
    /// # Errors
    ///
    /// Transport errors.
    pub async fn raw(&mut self, line: &str) -> Result<Value, ClientError> {
        self.send_line(line.trim()).await?;
        loop {
            let message = self.read_message().await?;
            if message.get("event").is_some() && message.get("id").is_none() {
                self.events.push_back(message);
            } else {
                return Ok(message);
            }
        }
    }

    /// The next event (`{"event": ...}`), waiting for one; `None` when mgmd closed the
    /// connection.
    ///
    /// # Errors
    ///
    /// Transport errors.
    pub async fn next_event(&mut self) -> Result<Option<Value>, ClientError> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Some(event));
        }
        loop {
            match self.read_message().await {
                Ok(m) if m.get("event").is_some() => return Ok(Some(m)),
                Ok(_) => continue,
                Err(ClientError::Closed) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }

    async fn send_line(&mut self, line: &str) -> Result<(), ClientError> {
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.write_all(b"\n").await?;
        Ok(())
    }

    async fn wait_for(&mut self, id: &Value) -> Result<Value, ClientError> {
        loop {
            let message = self.read_message().await?;
            if message.get("id") == Some(id) {
                return Ok(message);
            }
            if message.get("event").is_some() {
                self.events.push_back(message);
            } else if message.get("error").is_some() && message.get("id") == Some(&Value::Null) {
                // A connection-level error (TooLarge, permission denied).
                return Ok(message);
            }
        }
    }

    async fn read_message(&mut self) -> Result<Value, ClientError> {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).await?;
        if n == 0 {
            return Err(ClientError::Closed);
        }
        match serde_json::from_str::<Value>(line.trim_end()) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(ClientError::Protocol(line.trim_end().to_string())),
        }
    }
}

/// `ok` of a response, or its error as [`ClientError::Server`].
///
/// # Errors
///
/// The response's error.
pub fn into_result(mut response: Value) -> Result<Value, ClientError> {
    if let Some(ok) = response.get_mut("ok") {
        return Ok(ok.take());
    }
    let error = response.get("error").cloned().unwrap_or(Value::Null);
    Err(ClientError::Server {
        code: error
            .get("code")
            .and_then(Value::as_str)
            .unwrap_or("Unknown")
            .to_string(),
        message: error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    })
}
