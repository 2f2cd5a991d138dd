//! The router side of IGMP (RFC 9776 with IGMPv1/v2 compatibility) and MLD (RFC 9777 with
//! MLDv1 compatibility) on one interface, with no I/O and no clock.
//!
//! An [`Interface`] is fed received packets ([`Interface::handle_packet`]) and the passing of
//! time ([`Interface::handle_timeout`]); after every call the caller drains
//! [`Interface::poll_output`] and re-arms a timer from [`Interface::poll_timeout`].
//!
//! # From IGMP state to MGM memberships
//!
//! MGM memberships are (S,G) and (*,G) only: MGM cannot express "every source but S". So:
//! - a group in EXCLUDE mode becomes one (*,G) membership, whatever its exclude list. Sources
//!   the hosts excluded are still forwarded onto the link; the hosts' own socket filters drop
//!   them. Over-forwarding costs bandwidth, under-forwarding would lose traffic someone wants.
//! - a group in INCLUDE mode becomes one (S,G) membership per source with a running timer.
//!
//! When a group changes between the two, the new memberships are joined before the old ones
//! are left (make before break).
//!
//! # Versions
//!
//! `Config::version` is the version this router speaks in its queries: IGMP 1, 2 or 3, MLD 1
//! or 2. Reports of every version are processed. Per group, old-version hosts (RFC 9776 7.3.2,
//! RFC 9777 8.3.2) lower the group's compatibility mode for an Older Host Present Interval:
//! then BLOCK records are ignored, TO_EX(x) counts as TO_EX({}), IGMPv1 mode ignores Leaves.
//! A router configured for an old version treats every group as at most that old. The router
//! never lowers its own query version on hearing older queriers (RFC 9776 7.3.1 leaves that to
//! the administrator); it logs them.
//!
//! # SSM (RFC 4604, RFC 4607)
//!
//! In 232.0.0.0/8 and ff3x::/32 any-source joins are ignored: IS_EX / TO_EX records, IGMPv1/v2
//! and MLDv1 reports and IGMPv2 Leaves / MLDv1 Dones.
//!
//! # Scope
//!
//! Reports for link-local groups (224.0.0.0/24, IPv6 scope 0-2 such as ff02::/16) are ignored:
//! they are never forwarded, so they need no membership. MLD messages from a source that is not
//! link-local are dropped (RFC 9777 5.1.14, 5.2.13).
//!
//! # Explicit tracking
//!
//! With `Config::explicit_tracking`, IGMPv3/MLDv2 reports identify each host by its source
//! address and the router keeps every host's filter state. For groups where only such hosts
//! are present, the last-member queries are replaced by exact knowledge: when no remaining
//! host wants the group (or a source), it is dropped at once and the Leave emitted with no
//! delay.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use mgm_core::{Family, IfIndex, SourceGroup};
use serde::Serialize;

use crate::packet::igmp::IgmpMessage;
use crate::packet::mld::MldMessage;
use crate::packet::{
    decode_code8, encode_code16, encode_code8, units, DecodeError, QueryV3, RecordType,
};

/// Timer values and behaviour of one interface. [`Config::igmp`] and [`Config::mld`] give the
/// RFC defaults; every field may be overridden (tests use short timers). [`Interface::new`]
/// keeps the Query Interval within 1 s..1 day, the other intervals within 100 ms..1 day, and
/// the interval overrides under 300 days.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Config {
    /// Protocol version of the queries: IGMP 1, 2 or 3; MLD 1 or 2. Out-of-range values are
    /// taken as the highest version of the family.
    pub version: u8,
    /// Robustness Variable (default 2; 0 is taken as 1).
    pub robustness: u8,
    /// Query Interval between general queries (default 125 s).
    pub query_interval: Duration,
    /// Query Response Interval: Max Resp Time of general queries (default 10 s).
    pub query_response_interval: Duration,
    /// Last Member Query Interval: Max Resp Time of group(-and-source)-specific queries and
    /// the time between their retransmissions (default 1 s).
    pub last_member_query_interval: Duration,
    /// Last Member Query Count; `None` = the Robustness Variable.
    pub last_member_query_count: Option<u8>,
    /// Startup Query Interval; `None` = a quarter of the Query Interval.
    pub startup_query_interval: Option<Duration>,
    /// Startup Query Count; `None` = the Robustness Variable.
    pub startup_query_count: Option<u8>,
    /// Other Querier Present Interval; `None` = RV x QI + QRI / 2.
    pub other_querier_present_interval: Option<Duration>,
    /// Group Membership Interval (and Older Host Present Interval); `None` = RV x QI + QRI.
    pub group_membership_interval: Option<Duration>,
    /// Track every IGMPv3/MLDv2 host and leave at once when the last one leaves.
    pub explicit_tracking: bool,
}

impl Config {
    /// RFC 9776 defaults, IGMPv3.
    pub fn igmp() -> Config {
        Config {
            version: 3,
            robustness: 2,
            query_interval: Duration::from_secs(125),
            query_response_interval: Duration::from_secs(10),
            last_member_query_interval: Duration::from_secs(1),
            last_member_query_count: None,
            startup_query_interval: None,
            startup_query_count: None,
            other_querier_present_interval: None,
            group_membership_interval: None,
            explicit_tracking: false,
        }
    }

    /// RFC 9777 defaults, MLDv2.
    pub fn mld() -> Config {
        Config {
            version: 2,
            ..Config::igmp()
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::igmp()
    }
}

/// What the caller should do next.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
pub enum Output {
    /// Send this IGMP / ICMPv6 message on the interface to `destination`. The I/O layer adds
    /// the IP header with TTL / hop limit 1 and the Router Alert option.
    Send {
        /// 224.0.0.1 / ff02::1 for general queries, the group for specific ones.
        destination: IpAddr,
        /// The message from the IGMP / ICMPv6 header on.
        payload: Vec<u8>,
    },
    /// Add this membership on the interface (`MgmAddGroupMembershipEntry`).
    Join(SourceGroup),
    /// Delete this membership on the interface (`MgmDeleteGroupMembershipEntry`).
    Leave(SourceGroup),
}

/// Filter mode of a group (or of one host's membership).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterMode {
    /// Only the listed sources.
    Include,
    /// Every source but the excluded ones.
    Exclude,
}

/// The state of one interface, for `mgmctl show igmp` / `show mld`. Times are remaining
/// milliseconds at the `now` given to [`Interface::state`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct InterfaceState {
    /// Address family (ipv4 = IGMP, ipv6 = MLD).
    pub family: Family,
    /// Interface.
    pub ifindex: IfIndex,
    /// Our address on it (IPv6: link-local).
    pub address: IpAddr,
    /// Configured version (IGMP 1-3, MLD 1-2).
    pub version: u8,
    /// The querier: our address when we are querier, else the other querier's.
    pub querier: Option<IpAddr>,
    /// Whether we are the querier.
    pub is_querier: bool,
    /// Other Querier Present timer.
    pub other_querier_expires_ms: Option<u64>,
    /// Next general query (querier only).
    pub next_general_query_ms: Option<u64>,
    /// Robustness Variable in use (adopted from the querier when not querier).
    pub robustness: u8,
    /// Query Interval in use (adopted from the querier when not querier).
    pub query_interval_ms: u64,
    /// Whether explicit host tracking is on.
    pub explicit_tracking: bool,
    /// Whether memberships are passed to MGM (false between Disable-IGMP and Enable-IGMP).
    pub enabled: bool,
    /// Groups with state.
    pub groups: Vec<GroupState>,
}

/// One group of [`InterfaceState`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct GroupState {
    /// The group.
    pub group: IpAddr,
    /// Filter mode.
    pub mode: FilterMode,
    /// Filter (group) timer, EXCLUDE mode only.
    pub filter_timer_ms: Option<u64>,
    /// Compatibility mode: the oldest host version present (IGMP 1-3, MLD 1-2).
    pub compat_version: u8,
    /// Whether the group is in the SSM range.
    pub ssm: bool,
    /// Sources: INCLUDE list, or EXCLUDE mode's requested (timer) and excluded (no timer).
    pub sources: Vec<SourceState>,
    /// Hosts (explicit tracking only).
    pub hosts: Vec<HostState>,
    /// The memberships this group gives MGM.
    pub memberships: Vec<SourceGroup>,
}

/// One source of [`GroupState`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct SourceState {
    /// The source.
    pub source: IpAddr,
    /// Source timer; `None` = excluded.
    pub timer_ms: Option<u64>,
}

/// One tracked host of [`GroupState`].
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct HostState {
    /// The host's address.
    pub host: IpAddr,
    /// Its filter mode.
    pub mode: FilterMode,
    /// Its source list.
    pub sources: Vec<IpAddr>,
    /// Time until it is forgotten without a new report.
    pub expires_ms: u64,
}

#[derive(Clone, Debug)]
struct Source {
    /// `None` = excluded (EXCLUDE mode only).
    timer: Option<Instant>,
    /// Group-and-source-specific query retransmissions left.
    queries_left: u8,
}

#[derive(Clone, Debug)]
struct Host {
    mode: FilterMode,
    sources: BTreeSet<IpAddr>,
    until: Instant,
}

#[derive(Clone, Debug)]
struct Group {
    mode: FilterMode,
    /// Filter timer; always set in EXCLUDE mode.
    timer: Option<Instant>,
    sources: BTreeMap<IpAddr, Source>,
    /// IGMPv1 Host Present timer.
    v1_host_until: Option<Instant>,
    /// IGMPv2 / MLDv1 Host Present timer.
    v2_host_until: Option<Instant>,
    /// Group-specific query retransmissions left and when the next is due.
    queries_left: u8,
    query_next: Option<Instant>,
    /// When the next group-and-source-specific retransmission is due.
    source_query_next: Option<Instant>,
    hosts: BTreeMap<IpAddr, Host>,
}

impl Group {
    fn new() -> Group {
        Group {
            mode: FilterMode::Include,
            timer: None,
            sources: BTreeMap::new(),
            v1_host_until: None,
            v2_host_until: None,
            queries_left: 0,
            query_next: None,
            source_query_next: None,
            hosts: BTreeMap::new(),
        }
    }

    /// Protocol level of the oldest host present: 1 = IGMPv1, 2 = IGMPv2 / MLDv1,
    /// 3 = IGMPv3 / MLDv2.
    fn host_level(&self, now: Instant) -> u8 {
        if self.v1_host_until.is_some_and(|t| t > now) {
            1
        } else if self.v2_host_until.is_some_and(|t| t > now) {
            2
        } else {
            3
        }
    }

    /// Sources with a running timer (INCLUDE list, or EXCLUDE mode's requested list X).
    fn timed(&self) -> BTreeSet<IpAddr> {
        self.sources
            .iter()
            .filter(|(_, s)| s.timer.is_some())
            .map(|(a, _)| *a)
            .collect()
    }

    /// EXCLUDE mode's excluded list Y.
    fn excluded(&self) -> BTreeSet<IpAddr> {
        self.sources
            .iter()
            .filter(|(_, s)| s.timer.is_none())
            .map(|(a, _)| *a)
            .collect()
    }

    fn set_timer(&mut self, source: IpAddr, until: Option<Instant>) {
        self.sources
            .entry(source)
            .or_insert(Source {
                timer: None,
                queries_left: 0,
            })
            .timer = until;
    }

    /// Whether a tracked host wants traffic from `source`.
    fn host_wants(&self, source: IpAddr) -> bool {
        self.hosts.values().any(|h| match h.mode {
            FilterMode::Include => h.sources.contains(&source),
            FilterMode::Exclude => !h.sources.contains(&source),
        })
    }

    /// The MGM memberships: (*,G) in EXCLUDE mode, (S,G) per timed source in INCLUDE mode.
    fn memberships(&self) -> BTreeSet<Option<IpAddr>> {
        match self.mode {
            FilterMode::Exclude => BTreeSet::from([None]),
            FilterMode::Include => self.timed().into_iter().map(Some).collect(),
        }
    }

    fn update_host(
        &mut self,
        host: IpAddr,
        kind: RecordType,
        b: &BTreeSet<IpAddr>,
        until: Instant,
    ) {
        use FilterMode::{Exclude, Include};
        let existing = self.hosts.get(&host).map(|h| h.mode);
        let new = match (kind, existing) {
            (RecordType::IsInclude | RecordType::ToInclude, _) => Some((Include, b.clone())),
            (RecordType::IsExclude | RecordType::ToExclude, _) => Some((Exclude, b.clone())),
            (RecordType::AllowNew, None) => Some((Include, b.clone())),
            (RecordType::BlockOld, None) => None,
            (RecordType::AllowNew | RecordType::BlockOld, Some(mode)) => {
                let mut sources = self
                    .hosts
                    .get(&host)
                    .map(|h| h.sources.clone())
                    .unwrap_or_default();
                let add = (kind == RecordType::AllowNew) == (mode == Include);
                if add {
                    sources.extend(b.iter().copied());
                } else {
                    sources.retain(|s| !b.contains(s));
                }
                Some((mode, sources))
            }
            (RecordType::Unknown(_), _) => return,
        };
        match new {
            Some((Include, sources)) if sources.is_empty() => {
                self.hosts.remove(&host);
            }
            Some((mode, sources)) => {
                self.hosts.insert(
                    host,
                    Host {
                        mode,
                        sources,
                        until,
                    },
                );
            }
            None => {}
        }
    }
}

/// A decoded message, version-independent.
enum Message {
    Query {
        level: u8,
        group: Option<IpAddr>,
        suppress: bool,
        qrv: u8,
        qqi: Duration,
        sources: Vec<IpAddr>,
    },
    OldReport {
        level: u8,
        group: IpAddr,
    },
    OldLeave {
        group: IpAddr,
    },
    Report {
        records: Vec<(RecordType, IpAddr, Vec<IpAddr>)>,
    },
}

/// Largest source list per query, so that a query fits a 1500-byte (IPv4) or 1280-byte (IPv6)
/// MTU with the IP header and Router Alert.
fn max_sources(family: Family) -> usize {
    match family {
        Family::Ipv4 => 366,
        Family::Ipv6 => 75,
    }
}

/// Whether `group` is in the SSM range: 232.0.0.0/8 or ff3x::/32.
pub fn is_ssm(group: IpAddr) -> bool {
    match group {
        IpAddr::V4(g) => g.octets()[0] == 232,
        IpAddr::V6(g) => {
            let s = g.segments();
            s[0] & 0xfff0 == 0xff30 && s[1] == 0
        }
    }
}

/// Whether `group` is a multicast address that routers forward (not 224.0.0.0/24, IPv6 scope
/// at least 3).
pub fn is_routable_group(group: IpAddr) -> bool {
    match group {
        IpAddr::V4(g) => g.is_multicast() && g.octets()[..3] != [224, 0, 0],
        IpAddr::V6(g) => g.is_multicast() && g.octets()[1] & 0x0f >= 3,
    }
}

fn is_link_local_v6(addr: Ipv6Addr) -> bool {
    addr.segments()[0] & 0xffc0 == 0xfe80
}

fn is_unicast_source(addr: IpAddr) -> bool {
    !addr.is_multicast() && !addr.is_unspecified() && addr != IpAddr::V4(Ipv4Addr::BROADCAST)
}

fn remaining_ms(until: Instant, now: Instant) -> u64 {
    u64::try_from(until.saturating_duration_since(now).as_millis()).unwrap_or(u64::MAX)
}

fn min_time(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// The router side of IGMP or MLD on one interface.
#[derive(Clone, Debug)]
pub struct Interface {
    family: Family,
    ifindex: IfIndex,
    own_address: IpAddr,
    config: Config,
    /// Query protocol level: 1 = IGMPv1, 2 = IGMPv2 / MLDv1, 3 = IGMPv3 / MLDv2.
    level: u8,
    robustness: u8,
    query_interval: Duration,
    querier: bool,
    other_querier: Option<IpAddr>,
    other_querier_until: Option<Instant>,
    next_general_query: Option<Instant>,
    startup_left: u8,
    groups: BTreeMap<IpAddr, Group>,
    /// The memberships MGM holds from us, per group.
    joined: BTreeMap<IpAddr, BTreeSet<Option<IpAddr>>>,
    dirty: BTreeSet<IpAddr>,
    /// Groups whose timers changed since the last [`Interface::reindex`].
    touched: BTreeSet<IpAddr>,
    /// Every group's next deadline, ordered: the timer wheel.
    timers: BTreeSet<(Instant, IpAddr)>,
    /// The deadline each group has in `timers`.
    deadlines: HashMap<IpAddr, Instant>,
    enabled: bool,
    outputs: VecDeque<Output>,
}

impl Interface {
    /// Start IGMP (`Family::Ipv4`) or MLD (`Family::Ipv6`) on `ifindex`, where our address is
    /// `own_address` (IPv6: the link-local address). The interface starts as querier and
    /// queues its first startup query.
    pub fn new(
        family: Family,
        ifindex: IfIndex,
        own_address: IpAddr,
        config: Config,
        now: Instant,
    ) -> Interface {
        // Floors keep a zero from a configuration file from turning into a busy loop; the
        // ceilings keep `now + interval` far from overflowing.
        let day = Duration::from_secs(86_400);
        let ms100 = Duration::from_millis(100);
        let mut config = config;
        config.query_interval = config.query_interval.clamp(Duration::from_secs(1), day);
        config.query_response_interval = config.query_response_interval.clamp(ms100, day);
        config.last_member_query_interval = config.last_member_query_interval.clamp(ms100, day);
        if let Some(interval) = config.startup_query_interval.as_mut() {
            *interval = (*interval).clamp(ms100, day);
        }
        for interval in [
            &mut config.other_querier_present_interval,
            &mut config.group_membership_interval,
        ]
        .into_iter()
        .flatten()
        {
            *interval = (*interval).min(day * 300);
        }
        let level = match family {
            Family::Ipv4 => config.version.clamp(1, 3),
            Family::Ipv6 => {
                if config.version == 1 {
                    2
                } else {
                    3
                }
            }
        };
        let mut interface = Interface {
            family,
            ifindex,
            own_address,
            level,
            robustness: config.robustness.max(1),
            query_interval: config.query_interval,
            querier: true,
            other_querier: None,
            other_querier_until: None,
            next_general_query: Some(now),
            startup_left: config
                .startup_query_count
                .unwrap_or(config.robustness)
                .max(1),
            config,
            groups: BTreeMap::new(),
            joined: BTreeMap::new(),
            dirty: BTreeSet::new(),
            touched: BTreeSet::new(),
            timers: BTreeSet::new(),
            deadlines: HashMap::new(),
            enabled: true,
            outputs: VecDeque::new(),
        };
        interface.run_timers(now);
        interface
    }

    /// The interface's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface's index.
    pub fn ifindex(&self) -> IfIndex {
        self.ifindex
    }

    /// Whether we are the querier.
    pub fn is_querier(&self) -> bool {
        self.querier
    }

    /// Our address on the link changed (IPv6: the link-local address). If it now beats the
    /// current querier's, we become querier at once; if it no longer beats a querier we hear,
    /// its next query makes us yield as usual.
    pub fn set_own_address(&mut self, now: Instant, address: IpAddr) {
        if Family::of(address) != self.family || address == self.own_address {
            return;
        }
        self.own_address = address;
        if self.other_querier.is_some_and(|other| address < other) {
            self.other_querier_until = Some(now);
        }
        self.run_timers(now);
        self.flush();
    }

    // ---- intervals (RFC 9776 section 8) ----

    fn gmi(&self) -> Duration {
        self.config.group_membership_interval.unwrap_or(
            self.query_interval * u32::from(self.robustness) + self.config.query_response_interval,
        )
    }

    fn older_host_present_interval(&self) -> Duration {
        self.gmi()
    }

    fn oqpi(&self) -> Duration {
        self.config.other_querier_present_interval.unwrap_or(
            self.query_interval * u32::from(self.robustness)
                + self.config.query_response_interval / 2,
        )
    }

    fn lmqc(&self) -> u8 {
        self.config
            .last_member_query_count
            .unwrap_or(self.robustness)
            .max(1)
    }

    fn lmqt(&self) -> Duration {
        self.config.last_member_query_interval * u32::from(self.lmqc())
    }

    fn startup_query_interval(&self) -> Duration {
        self.config
            .startup_query_interval
            .unwrap_or(self.config.query_interval / 4)
    }

    /// The version number users see for a protocol level.
    fn version_of_level(&self, level: u8) -> u8 {
        match self.family {
            Family::Ipv4 => level,
            Family::Ipv6 => level.saturating_sub(1).max(1),
        }
    }

    fn group_level(&self, group: IpAddr, now: Instant) -> u8 {
        let hosts = self.groups.get(&group).map_or(3, |g| g.host_level(now));
        hosts.min(self.level)
    }

    // ---- inputs ----

    /// A received IGMP message (IPv4, from the IGMP header on) or ICMPv6 message (IPv6, from
    /// the ICMPv6 header on; non-MLD types are ignored), from `source` to `destination`.
    /// Malformed and irrelevant messages are ignored.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        source: IpAddr,
        destination: IpAddr,
        payload: &[u8],
    ) {
        let _ = destination;
        if Family::of(source) != self.family {
            return;
        }
        match self.decode(source, payload) {
            Ok(Some(message)) => self.handle_message(now, source, message),
            Ok(None) => {}
            Err(error) => {
                tracing::debug!(ifindex = %self.ifindex, %source, %error, "ignored malformed packet");
            }
        }
        self.run_timers(now);
        self.flush();
    }

    fn decode(&self, source: IpAddr, payload: &[u8]) -> Result<Option<Message>, DecodeError> {
        let v4 = |a: Ipv4Addr| IpAddr::V4(a);
        let v6 = |a: Ipv6Addr| IpAddr::V6(a);
        let general = |g: IpAddr| if g.is_unspecified() { None } else { Some(g) };
        match self.family {
            Family::Ipv4 => Ok(Some(match IgmpMessage::decode(payload)? {
                IgmpMessage::Query {
                    max_resp_code,
                    group,
                    v3,
                } => {
                    let level = match (&v3, max_resp_code) {
                        (Some(_), _) => 3,
                        (None, 0) => 1,
                        (None, _) => 2,
                    };
                    let v3 = v3.unwrap_or(QueryV3 {
                        suppress: false,
                        qrv: 0,
                        qqic: 0,
                        sources: vec![],
                    });
                    Message::Query {
                        level,
                        group: general(v4(group)),
                        suppress: v3.suppress,
                        qrv: v3.qrv,
                        qqi: Duration::from_secs(u64::from(decode_code8(v3.qqic))),
                        sources: v3.sources.into_iter().map(v4).collect(),
                    }
                }
                IgmpMessage::V1Report { group } => Message::OldReport {
                    level: 1,
                    group: v4(group),
                },
                IgmpMessage::V2Report { group } => Message::OldReport {
                    level: 2,
                    group: v4(group),
                },
                IgmpMessage::V2Leave { group } => Message::OldLeave { group: v4(group) },
                IgmpMessage::V3Report { records } => Message::Report {
                    records: records
                        .into_iter()
                        .map(|r| (r.kind, v4(r.group), r.sources.into_iter().map(v4).collect()))
                        .collect(),
                },
            })),
            Family::Ipv6 => {
                let message = match MldMessage::decode(payload) {
                    Err(DecodeError::UnknownType(_)) => return Ok(None),
                    other => other?,
                };
                // RFC 9777 5.1.14 / 5.2.13: only link-local sources count.
                if !matches!(source, IpAddr::V6(s) if is_link_local_v6(s)) {
                    return Ok(None);
                }
                Ok(Some(match message {
                    MldMessage::Query {
                        max_resp_code: _,
                        group,
                        v2,
                    } => {
                        let level = if v2.is_some() { 3 } else { 2 };
                        let v2 = v2.unwrap_or(QueryV3 {
                            suppress: false,
                            qrv: 0,
                            qqic: 0,
                            sources: vec![],
                        });
                        Message::Query {
                            level,
                            group: general(v6(group)),
                            suppress: v2.suppress,
                            qrv: v2.qrv,
                            qqi: Duration::from_secs(u64::from(decode_code8(v2.qqic))),
                            sources: v2.sources.into_iter().map(v6).collect(),
                        }
                    }
                    MldMessage::V1Report { group } => Message::OldReport {
                        level: 2,
                        group: v6(group),
                    },
                    MldMessage::V1Done { group } => Message::OldLeave { group: v6(group) },
                    MldMessage::V2Report { records } => Message::Report {
                        records: records
                            .into_iter()
                            .map(|r| (r.kind, v6(r.group), r.sources.into_iter().map(v6).collect()))
                            .collect(),
                    },
                }))
            }
        }
    }

    fn handle_message(&mut self, now: Instant, source: IpAddr, message: Message) {
        match message {
            Message::Query {
                level,
                group,
                suppress,
                qrv,
                qqi,
                sources,
            } => {
                self.handle_query(now, source, level, group, suppress, qrv, qqi, &sources);
            }
            Message::OldReport { level, group } => {
                if !is_routable_group(group) || is_ssm(group) {
                    return;
                }
                let until = Some(now + self.older_host_present_interval());
                self.touched.insert(group);
                let g = self.groups.entry(group).or_insert_with(Group::new);
                if level == 1 {
                    g.v1_host_until = until;
                } else {
                    g.v2_host_until = until;
                }
                self.apply_record(now, group, RecordType::IsExclude, BTreeSet::new());
            }
            Message::OldLeave { group } => {
                if !is_routable_group(group) || is_ssm(group) || !self.groups.contains_key(&group) {
                    return;
                }
                if self.group_level(group, now) == 1 {
                    return; // IGMPv1 hosts present: Leaves are ignored (RFC 9776 7.3.2).
                }
                self.apply_record(now, group, RecordType::ToInclude, BTreeSet::new());
            }
            Message::Report { records } => {
                for (kind, group, sources) in records {
                    self.handle_record(now, source, kind, group, sources);
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_query(
        &mut self,
        now: Instant,
        source: IpAddr,
        level: u8,
        group: Option<IpAddr>,
        suppress: bool,
        qrv: u8,
        qqi: Duration,
        sources: &[IpAddr],
    ) {
        if source == self.own_address || source.is_unspecified() {
            return;
        }
        if level != self.level {
            tracing::warn!(
                ifindex = %self.ifindex, querier = %source,
                "query of version {} heard, configured {}",
                self.version_of_level(level), self.config.version
            );
        }
        if source > self.own_address {
            return; // We win the election (or lost it to an even lower address).
        }
        if self.querier {
            tracing::info!(ifindex = %self.ifindex, querier = %source, "other querier has a lower address: no longer querier");
        }
        self.querier = false;
        self.next_general_query = None;
        self.startup_left = 0;
        self.other_querier = Some(source);
        // Non-queriers adopt the querier's Robustness Variable and Query Interval
        // (RFC 9776 4.1.6, 4.1.7).
        if level == 3 {
            if qrv != 0 {
                self.robustness = qrv;
            }
            if !qqi.is_zero() {
                self.query_interval = qqi;
            }
        }
        self.other_querier_until = Some(now + self.oqpi());
        // Timer updates from the querier's specific queries (RFC 9776 6.6.1).
        let Some(group) = group else { return };
        if suppress {
            return;
        }
        self.touched.insert(group);
        let lowered = now + self.lmqt();
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        if sources.is_empty() {
            if g.mode == FilterMode::Exclude {
                g.timer = min_time(g.timer, Some(lowered));
            }
        } else {
            for s in sources {
                if let Some(state) = g.sources.get_mut(s) {
                    if state.timer.is_some() {
                        state.timer = min_time(state.timer, Some(lowered));
                    }
                }
            }
        }
    }

    fn handle_record(
        &mut self,
        now: Instant,
        host: IpAddr,
        kind: RecordType,
        group: IpAddr,
        sources: Vec<IpAddr>,
    ) {
        if matches!(kind, RecordType::Unknown(_))
            || Family::of(group) != self.family
            || !is_routable_group(group)
        {
            return;
        }
        let mut b: BTreeSet<IpAddr> = sources
            .into_iter()
            .filter(|s| Family::of(*s) == self.family && is_unicast_source(*s))
            .collect();
        let exclude = matches!(kind, RecordType::IsExclude | RecordType::ToExclude);
        if exclude && is_ssm(group) {
            return; // No any-source (EXCLUDE) membership in the SSM range (RFC 4604 2.2.2).
        }
        if self.group_level(group, now) < 3 {
            match kind {
                RecordType::BlockOld => return,
                RecordType::ToExclude => b.clear(),
                _ => {}
            }
        }
        if self.config.explicit_tracking && !host.is_unspecified() {
            let until = now + self.gmi();
            self.touched.insert(group);
            self.groups
                .entry(group)
                .or_insert_with(Group::new)
                .update_host(host, kind, &b, until);
        }
        self.apply_record(now, group, kind, b);
    }

    /// The router state tables of RFC 9776 6.4.1 / 6.4.2 (RFC 9777 7.4.1 / 7.4.2).
    fn apply_record(&mut self, now: Instant, group: IpAddr, kind: RecordType, b: BTreeSet<IpAddr>) {
        use FilterMode::{Exclude, Include};
        use RecordType as R;
        let gmi = Some(now + self.gmi());
        self.touched.insert(group);
        let g = self.groups.entry(group).or_insert_with(Group::new);
        let x = g.timed(); // A in INCLUDE mode
        let y = g.excluded();
        let mut query_sources = BTreeSet::new();
        let mut query_group = false;
        match (g.mode, kind) {
            (_, R::Unknown(_)) => {}
            (Include, R::IsInclude | R::AllowNew) | (Exclude, R::IsInclude | R::AllowNew) => {
                for s in &b {
                    g.set_timer(*s, gmi);
                }
            }
            (Include, R::BlockOld) => query_sources = x.intersection(&b).copied().collect(),
            (Include, R::IsExclude | R::ToExclude) => {
                g.sources.retain(|s, _| b.contains(s));
                for s in b.difference(&x) {
                    g.set_timer(*s, None);
                }
                g.mode = Exclude;
                g.timer = gmi;
                if kind == R::ToExclude {
                    query_sources = x.intersection(&b).copied().collect();
                }
            }
            (Include, R::ToInclude) => {
                for s in &b {
                    g.set_timer(*s, gmi);
                }
                query_sources = x.difference(&b).copied().collect();
            }
            (Exclude, R::BlockOld) => {
                let timer = g.timer;
                for s in &b {
                    if !x.contains(s) && !y.contains(s) {
                        g.set_timer(*s, timer);
                    }
                }
                query_sources = b.difference(&y).copied().collect();
            }
            (Exclude, R::IsExclude | R::ToExclude) => {
                let new_timer = if kind == R::IsExclude { gmi } else { g.timer };
                for s in &b {
                    if !x.contains(s) && !y.contains(s) {
                        g.set_timer(*s, new_timer);
                    }
                }
                g.sources.retain(|s, _| b.contains(s));
                if kind == R::ToExclude {
                    query_sources = b.difference(&y).copied().collect();
                }
                g.timer = gmi;
            }
            (Exclude, R::ToInclude) => {
                for s in &b {
                    g.set_timer(*s, gmi);
                }
                query_sources = x.difference(&b).copied().collect();
                query_group = true;
            }
        }
        self.dirty.insert(group);
        if !query_sources.is_empty() {
            self.query_group_sources(now, group, &query_sources);
        }
        if query_group {
            self.query_group(now, group);
        }
        self.cleanup(group);
    }

    /// Whether explicit tracking decides for `group` instead of queries.
    fn tracking_decides(&self, group: IpAddr, now: Instant) -> bool {
        self.config.explicit_tracking && self.group_level(group, now) == 3
    }

    /// "Send Q(G)": lower the filter timer to LMQT and query the group LMQC times.
    fn query_group(&mut self, now: Instant, group: IpAddr) {
        self.touched.insert(group);
        if self.tracking_decides(group, now) {
            let Some(g) = self.groups.get_mut(&group) else {
                return;
            };
            if !g.hosts.values().any(|h| h.mode == FilterMode::Exclude) {
                g.timer = Some(now); // No host wants every source: the EXCLUDE state ends now.
            }
            return;
        }
        if !self.querier || self.level < 2 {
            return;
        }
        let lowered = Some(now + self.lmqt());
        let lmqc = self.lmqc();
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        g.timer = min_time(g.timer, lowered);
        g.queries_left = lmqc;
        self.send_group_query(now, group);
    }

    /// "Send Q(G,S)": lower the source timers to LMQT and query them LMQC times.
    fn query_group_sources(&mut self, now: Instant, group: IpAddr, sources: &BTreeSet<IpAddr>) {
        self.touched.insert(group);
        if self.tracking_decides(group, now) {
            let Some(g) = self.groups.get_mut(&group) else {
                return;
            };
            for s in sources {
                if !g.host_wants(*s) {
                    if let Some(state) = g.sources.get_mut(s) {
                        if state.timer.is_some() {
                            state.timer = Some(now); // Nobody wants it: it expires now.
                        }
                    }
                }
            }
            return;
        }
        if !self.querier || self.group_level(group, now) < 3 {
            return;
        }
        let lowered = Some(now + self.lmqt());
        let lmqc = self.lmqc();
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        for s in sources {
            if let Some(state) = g.sources.get_mut(s) {
                if state.timer.is_some() {
                    state.timer = min_time(state.timer, lowered);
                    state.queries_left = lmqc;
                }
            }
        }
        self.send_source_queries(now, group);
    }

    /// Drop a group with no state left.
    fn cleanup(&mut self, group: IpAddr) {
        self.touched.insert(group);
        if let Some(g) = self.groups.get(&group) {
            if g.mode == FilterMode::Include && g.sources.is_empty() {
                self.groups.remove(&group);
                self.dirty.insert(group);
            }
        }
    }

    /// The time has come: run every expired timer.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.run_timers(now);
        self.flush();
    }

    fn run_timers(&mut self, now: Instant) {
        if self.other_querier_until.is_some_and(|t| t <= now) {
            tracing::info!(ifindex = %self.ifindex, "other querier gone: becoming querier");
            self.querier = true;
            self.other_querier = None;
            self.other_querier_until = None;
            self.robustness = self.config.robustness.max(1);
            self.query_interval = self.config.query_interval;
            self.next_general_query = Some(now);
        }
        if self.querier && self.next_general_query.is_some_and(|t| t <= now) {
            self.send_general_query();
            self.startup_left = self.startup_left.saturating_sub(1);
            let interval = if self.startup_left > 0 {
                self.startup_query_interval()
            } else {
                self.query_interval
            };
            self.next_general_query = Some(now + interval);
        }
        self.reindex();
        let due: Vec<IpAddr> = self
            .timers
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, g)| *g)
            .collect();
        for group in due {
            self.run_group_timers(now, group);
        }
        self.reindex();
    }

    /// Bring `timers` up to date for the groups touched since the last call.
    fn reindex(&mut self) {
        for group in std::mem::take(&mut self.touched) {
            if let Some(old) = self.deadlines.remove(&group) {
                self.timers.remove(&(old, group));
            }
            let deadline = self
                .groups
                .get(&group)
                .and_then(|g| Self::group_deadline(g, self.config.explicit_tracking));
            if let Some(t) = deadline {
                self.timers.insert((t, group));
                self.deadlines.insert(group, t);
            }
        }
        #[cfg(debug_assertions)]
        self.check_index();
    }

    /// Debug builds: the index holds exactly every group's deadline.
    #[cfg(debug_assertions)]
    fn check_index(&self) {
        let expected: BTreeSet<(Instant, IpAddr)> = self
            .groups
            .iter()
            .filter_map(|(a, g)| {
                Self::group_deadline(g, self.config.explicit_tracking).map(|t| (t, *a))
            })
            .collect();
        debug_assert_eq!(self.timers, expected, "timer index out of date");
    }

    fn run_group_timers(&mut self, now: Instant, group: IpAddr) {
        self.touched.insert(group);
        let expired = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        if expired(g.v1_host_until) {
            g.v1_host_until = None;
        }
        if expired(g.v2_host_until) {
            g.v2_host_until = None;
        }
        g.hosts.retain(|_, h| h.until > now);
        let query_due = expired(g.query_next);
        let source_query_due = expired(g.source_query_next);
        if query_due {
            self.send_group_query(now, group);
        }
        if source_query_due {
            self.send_source_queries(now, group);
        }
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        let mut changed = false;
        match g.mode {
            FilterMode::Include => {
                if expired(g.timer) {
                    g.timer = None;
                }
                let before = g.sources.len();
                g.sources.retain(|_, s| !expired(s.timer));
                changed |= g.sources.len() != before;
            }
            FilterMode::Exclude => {
                for s in g.sources.values_mut() {
                    if expired(s.timer) {
                        s.timer = None; // Moves to the excluded list.
                        s.queries_left = 0;
                        changed = true;
                    }
                }
                if expired(g.timer) || g.timer.is_none() {
                    g.mode = FilterMode::Include;
                    g.timer = None;
                    g.queries_left = 0;
                    g.query_next = None;
                    g.sources.retain(|_, s| s.timer.is_some());
                    changed = true;
                }
            }
        }
        if changed {
            self.dirty.insert(group);
        }
        self.cleanup(group);
    }

    fn group_deadline(g: &Group, tracking: bool) -> Option<Instant> {
        let mut t = min_time(g.timer, g.v1_host_until);
        t = min_time(t, g.v2_host_until);
        t = min_time(t, g.query_next);
        t = min_time(t, g.source_query_next);
        for s in g.sources.values() {
            t = min_time(t, s.timer);
        }
        if tracking {
            for h in g.hosts.values() {
                t = min_time(t, Some(h.until));
            }
        }
        t
    }

    /// When [`Interface::handle_timeout`] should be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut t = self.other_querier_until;
        if self.querier {
            t = min_time(t, self.next_general_query);
        }
        min_time(t, self.timers.first().map(|(t, _)| *t))
    }

    /// The next thing to do, if any.
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    // ---- queries ----

    fn all_hosts(&self) -> IpAddr {
        match self.family {
            Family::Ipv4 => IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)),
            Family::Ipv6 => IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1)),
        }
    }

    /// Encode a query of `level` with max response time `max_resp`.
    fn query(
        &self,
        level: u8,
        max_resp: Duration,
        group: Option<IpAddr>,
        suppress: bool,
        sources: &[IpAddr],
    ) -> Vec<u8> {
        let qrv = if self.robustness <= 7 {
            self.robustness
        } else {
            0
        };
        let qqic = encode_code8(units(self.query_interval, Duration::from_secs(1)));
        match self.family {
            Family::Ipv4 => {
                let tenths = units(max_resp, Duration::from_millis(100));
                let group = match group {
                    Some(IpAddr::V4(g)) => g,
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                let (max_resp_code, v3) = match level {
                    1 => (0, None),
                    2 => (tenths.clamp(1, 255) as u8, None),
                    _ => {
                        let sources = sources
                            .iter()
                            .filter_map(|s| match s {
                                IpAddr::V4(s) => Some(*s),
                                IpAddr::V6(_) => None,
                            })
                            .collect();
                        (
                            encode_code8(tenths),
                            Some(QueryV3 {
                                suppress,
                                qrv,
                                qqic,
                                sources,
                            }),
                        )
                    }
                };
                IgmpMessage::Query {
                    max_resp_code,
                    group,
                    v3,
                }
                .encode()
            }
            Family::Ipv6 => {
                let ms = units(max_resp, Duration::from_millis(1));
                let group = match group {
                    Some(IpAddr::V6(g)) => g,
                    _ => Ipv6Addr::UNSPECIFIED,
                };
                let (max_resp_code, v2) = match level {
                    1 | 2 => (u16::try_from(ms).unwrap_or(u16::MAX), None),
                    _ => {
                        let sources = sources
                            .iter()
                            .filter_map(|s| match s {
                                IpAddr::V6(s) => Some(*s),
                                IpAddr::V4(_) => None,
                            })
                            .collect();
                        (
                            encode_code16(ms),
                            Some(QueryV3 {
                                suppress,
                                qrv,
                                qqic,
                                sources,
                            }),
                        )
                    }
                };
                MldMessage::Query {
                    max_resp_code,
                    group,
                    v2,
                }
                .encode()
            }
        }
    }

    fn send_general_query(&mut self) {
        let payload = self.query(
            self.level,
            self.config.query_response_interval,
            None,
            false,
            &[],
        );
        let destination = self.all_hosts();
        self.outputs.push_back(Output::Send {
            destination,
            payload,
        });
    }

    /// Send one group-specific query for `group` and schedule the next retransmission.
    fn send_group_query(&mut self, now: Instant, group: IpAddr) {
        self.touched.insert(group);
        let lmqi = self.config.last_member_query_interval;
        let lmqt = now + self.lmqt();
        let level = self.group_level(group, now).max(2);
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        if g.queries_left == 0 || g.mode != FilterMode::Exclude || !self.querier {
            g.queries_left = 0;
            g.query_next = None;
            return;
        }
        g.queries_left -= 1;
        g.query_next = if g.queries_left > 0 {
            Some(now + lmqi)
        } else {
            None
        };
        // S flag when the filter timer is above LMQT (a report came in meanwhile).
        let suppress = g.timer.is_some_and(|t| t > lmqt);
        let payload = self.query(level, lmqi, Some(group), suppress, &[]);
        self.outputs.push_back(Output::Send {
            destination: group,
            payload,
        });
    }

    /// Send one round of group-and-source-specific queries for `group` (RFC 9776 6.6.3.2):
    /// one with the S flag for sources whose timer is above LMQT, one without for the others.
    fn send_source_queries(&mut self, now: Instant, group: IpAddr) {
        self.touched.insert(group);
        let lmqi = self.config.last_member_query_interval;
        let lmqt = now + self.lmqt();
        let querier = self.querier;
        let Some(g) = self.groups.get_mut(&group) else {
            return;
        };
        let mut with_s = Vec::new();
        let mut without_s = Vec::new();
        for (addr, s) in g.sources.iter_mut() {
            if s.queries_left == 0 {
                continue;
            }
            if !querier || s.timer.is_none() {
                s.queries_left = 0;
                continue;
            }
            s.queries_left -= 1;
            if s.timer.is_some_and(|t| t > lmqt) {
                with_s.push(*addr);
            } else {
                without_s.push(*addr);
            }
        }
        let more = g.sources.values().any(|s| s.queries_left > 0);
        g.source_query_next = if more { Some(now + lmqi) } else { None };
        for (suppress, list) in [(true, with_s), (false, without_s)] {
            for chunk in list.chunks(max_sources(self.family)) {
                let payload = self.query(3, lmqi, Some(group), suppress, chunk);
                self.outputs.push_back(Output::Send {
                    destination: group,
                    payload,
                });
            }
        }
    }

    // ---- MGM memberships ----

    fn membership(group: IpAddr, source: Option<IpAddr>) -> Option<SourceGroup> {
        match source {
            Some(s) => SourceGroup::sg(s, group).ok(),
            None => SourceGroup::star_g(group).ok(),
        }
    }

    /// Emit the membership changes of the groups touched since the last flush.
    fn flush(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        if !self.enabled {
            return;
        }
        for group in dirty {
            let desired = self
                .groups
                .get(&group)
                .map(Group::memberships)
                .unwrap_or_default();
            let current = self.joined.remove(&group).unwrap_or_default();
            for s in desired.difference(&current) {
                if let Some(sg) = Self::membership(group, *s) {
                    self.outputs.push_back(Output::Join(sg));
                }
            }
            for s in current.difference(&desired) {
                if let Some(sg) = Self::membership(group, *s) {
                    self.outputs.push_back(Output::Leave(sg));
                }
            }
            if !desired.is_empty() {
                self.joined.insert(group, desired);
            }
        }
    }

    /// Disable-IGMP: stop emitting Join / Leave (an ownership change is under way); the
    /// protocol keeps running.
    pub fn disable(&mut self) {
        self.enabled = false;
    }

    /// Enable-IGMP: emit a Join for every current membership, then resume.
    ///
    /// MGM drops IGMP's memberships on the interface during the ownership change that
    /// Disable/Enable bracket (mgm-core's take/release ownership), so nothing is left here:
    /// whatever ended while disabled is simply not re-added.
    pub fn enable(&mut self) {
        self.enabled = true;
        self.dirty.clear();
        self.joined.clear();
        for (group, g) in &self.groups {
            let desired = g.memberships();
            for s in &desired {
                if let Some(sg) = Self::membership(*group, *s) {
                    self.outputs.push_back(Output::Join(sg));
                }
            }
            if !desired.is_empty() {
                self.joined.insert(*group, desired);
            }
        }
    }

    /// Stop: emit a Leave for every membership MGM holds from us and forget all group state.
    pub fn shutdown(&mut self) {
        if self.enabled {
            for (group, sources) in std::mem::take(&mut self.joined) {
                for s in sources {
                    if let Some(sg) = Self::membership(group, s) {
                        self.outputs.push_back(Output::Leave(sg));
                    }
                }
            }
        }
        self.joined.clear();
        self.groups.clear();
        self.dirty.clear();
        self.touched.clear();
        self.timers.clear();
        self.deadlines.clear();
    }

    /// Whether memberships are being passed to MGM.
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The memberships MGM currently holds from this interface.
    pub fn memberships(&self) -> Vec<SourceGroup> {
        self.joined
            .iter()
            .flat_map(|(g, sources)| sources.iter().filter_map(|s| Self::membership(*g, *s)))
            .collect()
    }

    /// A snapshot for `mgmctl show igmp` / `show mld`.
    pub fn state(&self, now: Instant) -> InterfaceState {
        let groups = self
            .groups
            .iter()
            .map(|(group, g)| GroupState {
                group: *group,
                mode: g.mode,
                filter_timer_ms: g.timer.map(|t| remaining_ms(t, now)),
                compat_version: self.version_of_level(self.group_level(*group, now)),
                ssm: is_ssm(*group),
                sources: g
                    .sources
                    .iter()
                    .map(|(a, s)| SourceState {
                        source: *a,
                        timer_ms: s.timer.map(|t| remaining_ms(t, now)),
                    })
                    .collect(),
                hosts: g
                    .hosts
                    .iter()
                    .map(|(a, h)| HostState {
                        host: *a,
                        mode: h.mode,
                        sources: h.sources.iter().copied().collect(),
                        expires_ms: remaining_ms(h.until, now),
                    })
                    .collect(),
                memberships: g
                    .memberships()
                    .into_iter()
                    .filter_map(|s| Self::membership(*group, s))
                    .collect(),
            })
            .collect();
        InterfaceState {
            family: self.family,
            ifindex: self.ifindex,
            address: self.own_address,
            version: self.version_of_level(self.level),
            querier: if self.querier {
                Some(self.own_address)
            } else {
                self.other_querier
            },
            is_querier: self.querier,
            other_querier_expires_ms: self.other_querier_until.map(|t| remaining_ms(t, now)),
            next_general_query_ms: if self.querier {
                self.next_general_query.map(|t| remaining_ms(t, now))
            } else {
                None
            },
            robustness: self.robustness,
            query_interval_ms: u64::try_from(self.query_interval.as_millis()).unwrap_or(u64::MAX),
            explicit_tracking: self.config.explicit_tracking,
            enabled: self.enabled,
            groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ssm_and_scope() {
        assert!(is_ssm(ip("232.1.2.3")));
        assert!(!is_ssm(ip("239.1.2.3")));
        assert!(is_ssm(ip("ff3e::1234")));
        assert!(is_ssm(ip("ff35::1")));
        assert!(!is_ssm(ip("ff3e:1::1")), "ff3x::/32 only");
        assert!(!is_ssm(ip("ff0e::1")));
        assert!(is_routable_group(ip("239.1.1.1")));
        assert!(!is_routable_group(ip("224.0.0.22")));
        assert!(is_routable_group(ip("224.0.1.1")));
        assert!(!is_routable_group(ip("ff02::16")));
        assert!(is_routable_group(ip("ff05::1:3")));
        assert!(!is_routable_group(ip("10.0.0.1")));
    }

    #[test]
    fn mld_level_mapping() {
        let now = Instant::now();
        let mut config = Config::mld();
        let i = Interface::new(Family::Ipv6, IfIndex(1), ip("fe80::1"), config.clone(), now);
        assert_eq!(i.level, 3);
        assert_eq!(i.state(now).version, 2);
        config.version = 1;
        let i = Interface::new(Family::Ipv6, IfIndex(1), ip("fe80::1"), config, now);
        assert_eq!(i.level, 2);
        assert_eq!(i.state(now).version, 1);
    }

    #[test]
    fn default_intervals() {
        let now = Instant::now();
        let i = Interface::new(
            Family::Ipv4,
            IfIndex(1),
            ip("10.0.0.1"),
            Config::igmp(),
            now,
        );
        assert_eq!(i.gmi(), Duration::from_secs(260));
        assert_eq!(i.oqpi(), Duration::from_secs(255));
        assert_eq!(i.lmqt(), Duration::from_secs(2));
        assert_eq!(i.startup_query_interval(), Duration::from_millis(31_250));
    }
}
