//! `mgmd.toml`: daemon settings and static routes.
//!
//! ```toml
//! log_level = "info"              # error | warn | info | debug | trace (or an EnvFilter)
//! socket = "/run/mgmd/mgmd.sock"
//! table = 253                     # multicast routing table (needs CONFIG_IP_MROUTE_MULTIPLE_TABLES)
//! counter_interval = 10           # seconds between kernel counter polls
//! callback_deadline_ms = 200      # how long an RPF / creation-alert answer may hold a flow
//! mfe_timeout = 900               # seconds an idle MFE lives
//! event_queue = 1024              # events queued per client (1..=1048576) before it is dropped
//!
//! [[static]]
//! from = "eth0"
//! source = "10.0.0.1"             # optional: (S,G) route; without it a (*,G) route
//! group = "239.1.1.1"
//! to = ["eth1", "eth2"]
//!
//! [[igmp]]                        # built-in IGMP (IPv4) / MLD (IPv6) router side
//! interface = "eth1"
//! family = "ipv4"                 # optional: only IGMP ("ipv4") or MLD ("ipv6"); default both
//! igmp_version = 3                # optional, and likewise mld_version, robustness,
//! explicit_tracking = false       # query_interval (s), query_response_interval_ms,
//!                                 # last_member_query_interval_ms
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::ipc::message::StaticRoute;

/// Default configuration file.
pub const DEFAULT_CONFIG: &str = "/etc/mgmd/mgmd.toml";
/// Default IPC socket.
pub const DEFAULT_SOCKET: &str = "/run/mgmd/mgmd.sock";

/// Daemon configuration (file contents plus command-line overrides).
#[derive(Clone, Debug, Deserialize, Eq, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// tracing filter (`info`, `debug`, `agent=trace,info`).
    pub log_level: String,
    /// IPC socket path.
    pub socket: PathBuf,
    /// Multicast routing table; `None` = the default table (253).
    pub table: Option<u32>,
    /// Seconds between counter polls of the installed MFEs.
    pub counter_interval: u64,
    /// Milliseconds an answerable callback may hold a flow.
    pub callback_deadline_ms: u64,
    /// Seconds an MFE without traffic lives.
    pub mfe_timeout: u64,
    /// Events queued per client before it is disconnected as too slow.
    pub event_queue: usize,
    /// Static routes.
    #[serde(rename = "static")]
    pub static_routes: Vec<StaticRoute>,
    /// Interfaces running the built-in IGMP (IPv4) / MLD (IPv6) router side.
    #[serde(rename = "igmp")]
    pub igmp_interfaces: Vec<IgmpInterface>,
    /// The file this came from, re-read on SIGHUP; `None`: no reload.
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

/// The longest per-client event queue (`event_queue`).
pub const MAX_EVENT_QUEUE: usize = 1 << 20;

impl Default for Config {
    fn default() -> Config {
        Config {
            log_level: "info".to_string(),
            socket: PathBuf::from(DEFAULT_SOCKET),
            table: None,
            counter_interval: 10,
            callback_deadline_ms: 200,
            mfe_timeout: 900,
            event_queue: 1024,
            static_routes: Vec::new(),
            igmp_interfaces: Vec::new(),
            path: None,
        }
    }
}

/// One interface of the built-in IGMP / MLD protocol (`[[igmp]]` in mgmd.toml, or
/// `mgmctl igmp enable`). Timer fields left out keep the RFC defaults.
#[derive(Clone, Debug, Deserialize, Eq, PartialEq, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct IgmpInterface {
    /// Interface name.
    pub interface: String,
    /// `"ipv4"` (IGMP), `"ipv6"` (MLD); absent: both.
    #[serde(default)]
    pub family: Option<mgm_core::Family>,
    /// IGMP version of the queries (1, 2 or 3; default 3).
    #[serde(default)]
    pub igmp_version: Option<u8>,
    /// MLD version of the queries (1 or 2; default 2).
    #[serde(default)]
    pub mld_version: Option<u8>,
    /// Robustness Variable (default 2).
    #[serde(default)]
    pub robustness: Option<u8>,
    /// Query Interval, seconds (default 125).
    #[serde(default)]
    pub query_interval: Option<u64>,
    /// Query Response Interval, milliseconds (default 10000).
    #[serde(default)]
    pub query_response_interval_ms: Option<u64>,
    /// Last Member Query Interval, milliseconds (default 1000).
    #[serde(default)]
    pub last_member_query_interval_ms: Option<u64>,
    /// Track IGMPv3 / MLDv2 hosts and stop forwarding at once when the last one leaves.
    #[serde(default)]
    pub explicit_tracking: bool,
}

impl IgmpInterface {
    /// Whole-interface defaults for `interface`.
    pub fn new(interface: &str) -> IgmpInterface {
        IgmpInterface {
            interface: interface.to_string(),
            family: None,
            igmp_version: None,
            mld_version: None,
            robustness: None,
            query_interval: None,
            query_response_interval_ms: None,
            last_member_query_interval_ms: None,
            explicit_tracking: false,
        }
    }

    /// Check the values.
    ///
    /// # Errors
    ///
    /// An empty name or a version out of range.
    pub fn validate(&self) -> Result<(), String> {
        if self.interface.is_empty() {
            return Err("empty interface name".into());
        }
        if self.igmp_version.is_some_and(|v| !(1..=3).contains(&v)) {
            return Err("igmp_version must be 1, 2 or 3".into());
        }
        if self.mld_version.is_some_and(|v| !(1..=2).contains(&v)) {
            return Err("mld_version must be 1 or 2".into());
        }
        if self.query_interval == Some(0) {
            return Err("query_interval must be at least 1 second".into());
        }
        Ok(())
    }

    /// The families it covers (IPv4 first).
    pub fn families(&self) -> Vec<mgm_core::Family> {
        match self.family {
            Some(f) => vec![f],
            None => vec![mgm_core::Family::Ipv4, mgm_core::Family::Ipv6],
        }
    }

    /// The igmp crate's settings for `family`.
    pub fn router_config(&self, family: mgm_core::Family) -> igmp::Config {
        let mut c = match family {
            mgm_core::Family::Ipv4 => igmp::Config::igmp(),
            mgm_core::Family::Ipv6 => igmp::Config::mld(),
        };
        let version = match family {
            mgm_core::Family::Ipv4 => self.igmp_version,
            mgm_core::Family::Ipv6 => self.mld_version,
        };
        if let Some(v) = version {
            c.version = v;
        }
        if let Some(r) = self.robustness {
            c.robustness = r;
        }
        if let Some(q) = self.query_interval {
            c.query_interval = Duration::from_secs(q);
        }
        if let Some(ms) = self.query_response_interval_ms {
            c.query_response_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = self.last_member_query_interval_ms {
            c.last_member_query_interval = Duration::from_millis(ms);
        }
        c.explicit_tracking = self.explicit_tracking;
        c
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Parse and validate TOML text.
    ///
    /// # Errors
    ///
    /// Syntax errors, unknown keys, invalid static routes or values out of range.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Load `path`. When `explicit` is false (the default path), a missing file gives the
    /// defaults.
    ///
    /// # Errors
    ///
    /// The file cannot be read (or is missing and `explicit`), or [`Config::parse`] fails.
    pub fn load(path: &Path, explicit: bool) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
                return Ok(Config {
                    path: Some(path.to_path_buf()),
                    ..Config::default()
                })
            }
            Err(e) => return Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
        };
        let mut config = Config::parse(&text)
            .map_err(|ConfigError(e)| ConfigError(format!("{}: {e}", path.display())))?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Check values that TOML types do not.
    ///
    /// # Errors
    ///
    /// The first problem found.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.counter_interval == 0 {
            return Err(ConfigError(
                "counter_interval must be at least 1 second".into(),
            ));
        }
        if self.event_queue == 0 || self.event_queue > MAX_EVENT_QUEUE {
            // (tokio's bounded channels panic above usize::MAX >> 3.)
            return Err(ConfigError(format!(
                "event_queue must be between 1 and {MAX_EVENT_QUEUE}"
            )));
        }
        if self.mfe_timeout == 0 {
            return Err(ConfigError("mfe_timeout must be at least 1 second".into()));
        }
        if self.socket.as_os_str().is_empty() {
            return Err(ConfigError("socket path is empty".into()));
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError(format!("log_level {:?}: {e}", self.log_level)))?;
        for igmp in &self.igmp_interfaces {
            igmp.validate()
                .map_err(|e| ConfigError(format!("[[igmp]] {}: {e}", igmp.interface)))?;
        }
        for route in &self.static_routes {
            route
                .validate()
                .map_err(|e| ConfigError(format!("[[static]] {route}: {}", e.message)))?;
        }
        Ok(())
    }

    /// The core's limits and timers.
    pub fn mgm_config(&self) -> mgm_core::Config {
        mgm_core::Config {
            mfe_timeout: Duration::from_secs(self.mfe_timeout),
            callback_deadline: Duration::from_millis(self.callback_deadline_ms),
            ..mgm_core::Config::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_file() {
        let c = Config::parse(
            r#"
            log_level = "debug"
            socket = "/tmp/x.sock"
            table = 100
            counter_interval = 2
            [[static]]
            from = "eth0"
            group = "239.1.1.1"
            to = ["eth1"]
            [[static]]
            from = "eth0"
            source = "10.0.0.1"
            group = "239.2.2.2"
            to = ["eth1", "eth2"]
            [[igmp]]
            interface = "eth1"
            family = "ipv4"
            igmp_version = 2
            last_member_query_interval_ms = 100
            "#,
        )
        .unwrap();
        assert_eq!(c.log_level, "debug");
        assert_eq!(c.table, Some(100));
        assert_eq!(c.static_routes.len(), 2);
        assert_eq!(c.static_routes[1].source, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(c.callback_deadline_ms, 200);
        let igmp = &c.igmp_interfaces[0];
        assert_eq!(igmp.families(), [mgm_core::Family::Ipv4]);
        let router = igmp.router_config(mgm_core::Family::Ipv4);
        assert_eq!(router.version, 2);
        assert_eq!(
            router.last_member_query_interval,
            Duration::from_millis(100)
        );
        assert_eq!(router.query_interval, Duration::from_secs(125));
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    #[test]
    fn bad_files() {
        for text in [
            "nonsense = 1",
            "counter_interval = 0",
            "event_queue = 0",
            "event_queue = 3000000000000000000",
            "event_queue = 1048577",
            "log_level = \"info,=[\"",
            "[[static]]\nfrom = \"a\"\ngroup = \"10.0.0.1\"\nto = [\"b\"]",
            "[[static]]\nfrom = \"a\"\ngroup = \"239.1.1.1\"\nto = []",
            "[[static]]\nfrom = \"a\"\ngroup = \"239.1.1.1\"\nto = [\"b\"]\nextra = 1",
            "table = \"x\"",
            "[[igmp]]\ninterface = \"eth0\"\nigmp_version = 4",
            "[[igmp]]\ninterface = \"eth0\"\nfamily = \"ipx\"",
        ] {
            assert!(Config::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn missing_default_file_is_fine_explicit_is_not() {
        let path = Path::new("/nonexistent/mgmd-test.toml");
        assert!(Config::load(path, false).is_ok());
        let e = Config::load(path, true).unwrap_err();
        assert!(e.0.contains("cannot read"), "{e}");
    }
}
