//! `mgmd`: parse arguments, set up logging, build the runtime, run [`agent::run_with`].

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use agent::config::{Config, DEFAULT_CONFIG};
use clap::Parser;
use tracing_subscriber::prelude::*;
use tracing_subscriber::{reload, EnvFilter};

/// The multicast group manager daemon: owns the kernel multicast routing table and serves the
/// MGM API to routing protocols over a Unix socket.
#[derive(Parser, Debug)]
#[command(name = "mgmd", version)]
struct Args {
    /// Configuration file (a missing default file is fine).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// IPC socket path [default: /run/mgmd/mgmd.sock, or `socket` in the config].
    #[arg(long, value_name = "PATH")]
    socket: Option<PathBuf>,
    /// Multicast routing table (needs CONFIG_IP_MROUTE_MULTIPLE_TABLES) [default: 253].
    #[arg(long, value_name = "N")]
    table: Option<u32>,
    /// Log filter; overrides RUST_LOG and the config's log_level.
    #[arg(long, value_name = "LEVEL")]
    log_level: Option<String>,
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let (path, explicit) = match &args.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let mut config = match Config::load(&path, explicit) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mgmd: {e}");
            return ExitCode::from(1);
        }
    };
    if let Some(socket) = args.socket {
        config.socket = socket;
    }
    if args.table.is_some() {
        config.table = args.table;
    }

    // Level: config log_level, overridden by RUST_LOG, overridden by --log-level.
    let env = std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty());
    let pinned = args.log_level.is_some() || env.is_some();
    let level = args
        .log_level
        .clone()
        .or(env)
        .unwrap_or_else(|| config.log_level.clone());
    let filter = match EnvFilter::try_new(&level) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("mgmd: invalid log level {level:?}: {e}");
            return ExitCode::from(1);
        }
    };
    let (filter, handle) = reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    let mut hooks = agent::Hooks::default();
    if !pinned {
        hooks.set_log_level = Some(Arc::new(move |level: &str| {
            let filter = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
            handle.reload(filter).map_err(|e| e.to_string())
        }));
    }

    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mgmd: cannot start the async runtime: {e}");
            return ExitCode::from(71);
        }
    };
    let result = runtime.block_on(async {
        let shutdown = async {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => {
                    tracing::warn!("cannot install signal handlers; stop with SIGKILL");
                    std::future::pending::<()>().await;
                }
            }
        };
        agent::run_with(config, hooks, shutdown).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("mgmd: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
