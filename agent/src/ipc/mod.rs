//! The IPC for out-of-process protocols and `mgmctl` (docs/PROTOCOL.md): newline-delimited
//! JSON over a Unix stream socket.
//!
//! - [`message`]: parsing and validation of requests, response and event lines.
//! - [`connection`]: one client: framing, look-ups, event delivery.
//! - [`server`]: socket file lifecycle, credentials, accept loop.

pub mod connection;
pub mod message;
pub mod server;
