//! Typed IPC messages (docs/PROTOCOL.md): request parsing and validation, response and event
//! lines, wire error codes.
//!
//! Parsing is total: any line yields either a [`Request`] or an error reply carrying the
//! request's `id` when one could be read. Nothing here touches state; the core task applies
//! the parsed [`Op`]s.

use std::fmt;
use std::net::IpAddr;

use mgm_core::{
    Callback, Callbacks, ComponentId, EnumHandle, EnumKind, ErrorCode, Family, MembershipFlags,
    MgmError, ProtocolHandle, ProtocolId, QueryId, SourceGroup,
};
use serde_json::{json, Map, Value};

/// The only protocol version this server speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// Longest accepted line, newline excluded (1 MiB).
pub const MAX_LINE: usize = 1 << 20;

/// Default and largest `max` for MFE and enumeration reads.
pub const DEFAULT_MAX: usize = 100;
const LIMIT_MAX: usize = 100_000;

/// Every op name, as `hello` lists them.
pub const OPS: &[&str] = &[
    "hello",
    "register_protocol",
    "deregister_protocol",
    "take_interface_ownership",
    "release_interface_ownership",
    "get_protocol_on_interface",
    "add_group_membership",
    "delete_group_membership",
    "get_mfe",
    "get_first_mfe",
    "get_next_mfe",
    "get_mfe_stats",
    "get_first_mfe_stats",
    "get_next_mfe_stats",
    "set_mfe",
    "group_enumeration_start",
    "group_enumeration_get_next",
    "group_enumeration_end",
    "answer_rpf",
    "answer_creation_alert",
    "answer_prune_alert",
    "batch",
    "ping",
    "show_interfaces",
    "show_protocols",
    "show_owners",
    "show_groups",
    "show_mfe",
    "show_stats",
    "verify",
    "static_add",
    "static_del",
    "show_static",
    "show_igmp",
    "show_mld",
    "igmp_enable",
    "igmp_disable",
];

// ===== errors =====

/// The `code` of an error reply: an MGM code or a transport problem.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum WireCode {
    /// One of the MGM codes.
    Mgm(ErrorCode),
    /// Not JSON, not an object, missing `op`, or a field of the wrong type.
    MalformedRequest,
    /// The line was longer than [`MAX_LINE`]; the connection is closed after the reply.
    TooLarge,
    /// `op` names no operation.
    UnknownOp,
}

impl WireCode {
    /// The name carried on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            WireCode::Mgm(code) => code.as_str(),
            WireCode::MalformedRequest => "MalformedRequest",
            WireCode::TooLarge => "TooLarge",
            WireCode::UnknownOp => "UnknownOp",
        }
    }
}

impl fmt::Display for WireCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error reply: code plus a sentence.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct WireError {
    /// The code.
    pub code: WireCode,
    /// For people.
    pub message: String,
}

impl WireError {
    /// An MGM error.
    pub fn mgm(code: ErrorCode, message: impl Into<String>) -> WireError {
        WireError {
            code: WireCode::Mgm(code),
            message: message.into(),
        }
    }

    /// `InvalidParameter`.
    pub fn invalid(message: impl Into<String>) -> WireError {
        WireError::mgm(ErrorCode::InvalidParameter, message)
    }

    /// `MalformedRequest`.
    pub fn malformed(message: impl Into<String>) -> WireError {
        WireError {
            code: WireCode::MalformedRequest,
            message: message.into(),
        }
    }

    /// `TooLarge`.
    pub fn too_large() -> WireError {
        WireError {
            code: WireCode::TooLarge,
            message: format!("request line longer than {MAX_LINE} bytes; closing the connection"),
        }
    }

    /// The JSON object `{code, message}`.
    pub fn to_json(&self) -> Value {
        json!({"code": self.code.as_str(), "message": self.message})
    }
}

impl From<MgmError> for WireError {
    fn from(e: MgmError) -> WireError {
        WireError::mgm(e.code, e.message)
    }
}

/// What the core (or the connection) answers to one request.
pub type Reply = Result<Value, WireError>;

// ===== requests =====

/// An interface as a request names it.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Iface {
    /// `"ifindex": N`.
    Index(u32),
    /// `"ifname": "eth0"`.
    Name(String),
}

impl fmt::Display for Iface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Iface::Index(i) => write!(f, "interface {i}"),
            Iface::Name(n) => write!(f, "interface {n:?}"),
        }
    }
}

/// An interface key before resolution: interface, optional next hop, optional family.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct IfaceRef {
    /// The interface.
    pub iface: Iface,
    /// Point-to-multipoint next hop; `None` = whole link.
    pub next_hop: Option<IpAddr>,
    /// Family, when the request fixes it (from `next_hop` or `family`).
    pub family: Option<Family>,
}

impl IfaceRef {
    /// The families this reference covers: its own, or both (IPv4 first).
    pub fn families(&self) -> Vec<Family> {
        match self.family {
            Some(f) => vec![f],
            None => vec![Family::Ipv4, Family::Ipv6],
        }
    }

    /// The next hop in `family` (the unspecified address for a whole link).
    pub fn next_hop_in(&self, family: Family) -> IpAddr {
        self.next_hop.unwrap_or_else(|| family.unspecified())
    }
}

/// A membership request's arguments.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Membership {
    /// Registration; `None` = the connection's only one.
    pub handle: Option<ProtocolHandle>,
    /// (S,G), (*,G) or (*,*).
    pub scope: SourceGroup,
    /// Where; its family is the scope's.
    pub iface: IfaceRef,
    /// JOIN_STATE and/or FORWARD_STATE.
    pub flags: MembershipFlags,
}

/// A static route: traffic of `group` (from `source`, or any source) arriving on `from` is
/// forwarded to every interface in `to`.
#[derive(Clone, Debug, Eq, Hash, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct StaticRoute {
    /// Inbound interface name.
    pub from: String,
    /// Source; `None` = any source ((*,G) route).
    #[serde(default)]
    pub source: Option<IpAddr>,
    /// Group.
    pub group: IpAddr,
    /// Outbound interface names.
    pub to: Vec<String>,
}

impl StaticRoute {
    /// Check the addresses and names.
    ///
    /// # Errors
    ///
    /// `InvalidParameter` when the group is not multicast, the source not unicast, families
    /// differ, `to` is empty or names `from`, or a name is empty.
    pub fn validate(&self) -> Result<SourceGroup, WireError> {
        let scope = SourceGroup::new(Family::of(self.group), self.source, Some(self.group))?;
        if self.from.is_empty() || self.to.iter().any(String::is_empty) {
            return Err(WireError::invalid("static route: empty interface name"));
        }
        if self.to.is_empty() {
            return Err(WireError::invalid(
                "static route: `to` needs at least one interface",
            ));
        }
        if self.to.contains(&self.from) {
            return Err(WireError::invalid(format!(
                "static route: inbound interface {} is also outbound",
                self.from
            )));
        }
        Ok(scope)
    }

    /// The route's (S,G) or (*,G).
    pub fn scope(&self) -> Option<SourceGroup> {
        self.validate().ok()
    }
}

impl fmt::Display for StaticRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = self
            .source
            .map_or_else(|| "*".to_string(), |s| s.to_string());
        write!(
            f,
            "from {} ({source}, {}) to {}",
            self.from,
            self.group,
            self.to.join(" ")
        )
    }
}

/// A parsed operation.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Op {
    /// `add_group_membership`.
    AddGroupMembership(Membership),
    /// `answer_creation_alert`.
    AnswerCreationAlert {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Query of the alert.
        query: QueryId,
        /// Outgoing interfaces to disable.
        disabled: Vec<IfaceRef>,
    },
    /// `answer_prune_alert`.
    AnswerPruneAlert {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Query.
        query: QueryId,
        /// New MFE timeout in seconds.
        timeout: u32,
    },
    /// `answer_rpf`.
    AnswerRpf {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Query.
        query: QueryId,
        /// New incoming interface, if overridden.
        iif: Option<IfaceRef>,
        /// Upstream neighbour, if set.
        upstream: Option<IpAddr>,
    },
    /// `batch`: each entry parsed on its own.
    Batch(Vec<Result<Op, WireError>>),
    /// `delete_group_membership`.
    DeleteGroupMembership(Membership),
    /// `deregister_protocol`.
    DeregisterProtocol {
        /// Registration.
        handle: Option<ProtocolHandle>,
    },
    /// `get_first_mfe` / `get_first_mfe_stats`.
    GetFirstMfe {
        /// Restrict to a family.
        family: Option<Family>,
        /// Most entries returned.
        max: usize,
        /// Include counters.
        stats: bool,
    },
    /// `get_mfe` / `get_mfe_stats`.
    GetMfe {
        /// Source.
        source: IpAddr,
        /// Group.
        group: IpAddr,
        /// Include counters.
        stats: bool,
    },
    /// `get_next_mfe` / `get_next_mfe_stats`.
    GetNextMfe {
        /// Cursor source.
        source: IpAddr,
        /// Cursor group.
        group: IpAddr,
        /// Restrict to a family (else continue into IPv6 after IPv4).
        family: Option<Family>,
        /// Most entries.
        max: usize,
        /// Include counters.
        stats: bool,
    },
    /// `get_protocol_on_interface`.
    GetProtocolOnInterface(IfaceRef),
    /// `group_enumeration_end`.
    GroupEnumerationEnd {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Enumeration.
        enumeration: EnumHandle,
    },
    /// `group_enumeration_get_next`.
    GroupEnumerationGetNext {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Enumeration.
        enumeration: EnumHandle,
        /// Most entries.
        max: usize,
    },
    /// `group_enumeration_start`.
    GroupEnumerationStart {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Any source or all sources.
        kind: EnumKind,
    },
    /// `igmp_disable`.
    IgmpDisable {
        /// Interface name.
        ifname: String,
    },
    /// `igmp_enable`.
    IgmpEnable(crate::config::IgmpInterface),
    /// `hello`.
    Hello {
        /// Version asked for.
        version: u64,
        /// Client's name.
        client: Option<String>,
    },
    /// `ping`.
    Ping,
    /// `register_protocol`.
    RegisterProtocol {
        /// Protocol ID.
        protocol_id: ProtocolId,
        /// Component ID.
        component_id: ComponentId,
        /// Callbacks the client handles.
        callbacks: Callbacks,
    },
    /// `release_interface_ownership`.
    ReleaseInterfaceOwnership {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Key(s).
        iface: IfaceRef,
    },
    /// `set_mfe`.
    SetMfe {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Source.
        source: IpAddr,
        /// Group.
        group: IpAddr,
        /// Upstream neighbour.
        upstream: IpAddr,
    },
    /// `show_groups`.
    ShowGroups,
    /// `show_igmp`.
    ShowIgmp,
    /// `show_interfaces`.
    ShowInterfaces,
    /// `show_mfe`.
    ShowMfe {
        /// Restrict to a family.
        family: Option<Family>,
    },
    /// `show_mld`.
    ShowMld,
    /// `show_owners`.
    ShowOwners,
    /// `show_protocols`.
    ShowProtocols,
    /// `show_static`.
    ShowStatic,
    /// `show_stats`.
    ShowStats,
    /// `static_add`.
    StaticAdd(StaticRoute),
    /// `static_del`.
    StaticDel(StaticRoute),
    /// `take_interface_ownership`.
    TakeInterfaceOwnership {
        /// Registration.
        handle: Option<ProtocolHandle>,
        /// Key(s).
        iface: IfaceRef,
    },
    /// `verify`.
    Verify,
}

impl Op {
    /// The source of an (S,G) membership request, for the RPF route lookup.
    pub fn rpf_source(&self) -> Option<IpAddr> {
        match self {
            Op::AddGroupMembership(m) | Op::DeleteGroupMembership(m) => m.scope.source,
            _ => None,
        }
    }

    /// The interface and next hop of an ownership request with a specific next hop, for the
    /// neighbour refresh.
    pub fn next_hop_iface(&self) -> Option<(&Iface, IpAddr)> {
        match self {
            Op::TakeInterfaceOwnership { iface, .. } => iface.next_hop.map(|n| (&iface.iface, n)),
            _ => None,
        }
    }
}

/// One request line, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// Echoed in the response.
    pub id: Value,
    /// What to do.
    pub op: Op,
}

/// A line that is not a valid request: the id to echo (null when unknown) and the error.
#[derive(Clone, Debug, PartialEq)]
pub struct BadRequest {
    /// `id` of the request, if one could be read.
    pub id: Value,
    /// The reply.
    pub error: WireError,
}

/// Parse one request line (without its newline).
///
/// # Errors
///
/// [`BadRequest`] with `MalformedRequest`, `UnknownOp` or `InvalidParameter`.
pub fn parse_request(line: &str) -> Result<Request, BadRequest> {
    let value: Value = serde_json::from_str(line).map_err(|e| BadRequest {
        id: Value::Null,
        error: WireError::malformed(format!("not JSON: {e}")),
    })?;
    let Value::Object(object) = value else {
        return Err(BadRequest {
            id: Value::Null,
            error: WireError::malformed("a request is a JSON object"),
        });
    };
    let id = object.get("id").cloned().unwrap_or(Value::Null);
    if id.is_object() || id.is_array() {
        return Err(BadRequest {
            id: Value::Null,
            error: WireError::malformed("`id` must be a string, number, boolean or null"),
        });
    }
    match parse_op(object, true) {
        Ok(op) => Ok(Request { id, op }),
        Err(error) => Err(BadRequest { id, error }),
    }
}

/// Parse an op from a request object (`allow_batch`: false inside a batch).
fn parse_op(mut object: Map<String, Value>, allow_batch: bool) -> Result<Op, WireError> {
    let op = match object.remove("op") {
        Some(Value::String(op)) => op,
        Some(_) => return Err(WireError::malformed("`op` must be a string")),
        None => return Err(WireError::malformed("missing `op`")),
    };
    // Fields may also come inside "args"; they win over top-level ones of the same name.
    match object.remove("args") {
        None | Some(Value::Null) => {}
        Some(Value::Object(args)) => object.extend(args),
        Some(_) => return Err(WireError::malformed("`args` must be an object")),
    }
    let f = Fields(object);
    let stats = op.ends_with("_stats");
    Ok(match op.as_str() {
        "hello" => Op::Hello {
            version: f.opt_u64("version")?.unwrap_or(PROTOCOL_VERSION),
            client: f.opt_str("client")?.map(str::to_string),
        },
        "ping" => Op::Ping,
        "register_protocol" => Op::RegisterProtocol {
            protocol_id: ProtocolId(f.req_u32("protocol_id")?),
            component_id: ComponentId(f.opt_u32("component_id")?.unwrap_or(0)),
            callbacks: f.callbacks()?,
        },
        "deregister_protocol" => Op::DeregisterProtocol {
            handle: f.handle()?,
        },
        "take_interface_ownership" => Op::TakeInterfaceOwnership {
            handle: f.handle()?,
            iface: f.iface_ref()?,
        },
        "release_interface_ownership" => Op::ReleaseInterfaceOwnership {
            handle: f.handle()?,
            iface: f.iface_ref()?,
        },
        "get_protocol_on_interface" => Op::GetProtocolOnInterface(f.iface_ref()?),
        "add_group_membership" => Op::AddGroupMembership(f.membership()?),
        "delete_group_membership" => Op::DeleteGroupMembership(f.membership()?),
        "get_mfe" | "get_mfe_stats" => {
            let (source, group) = f.flow()?;
            Op::GetMfe {
                source,
                group,
                stats,
            }
        }
        "get_first_mfe" | "get_first_mfe_stats" => Op::GetFirstMfe {
            family: f.family()?,
            max: f.max()?,
            stats,
        },
        "get_next_mfe" | "get_next_mfe_stats" => {
            let (source, group) = f.flow()?;
            let family = f.family()?;
            if family.is_some_and(|fam| fam != Family::of(group)) {
                return Err(WireError::invalid(
                    "`family` differs from the group's family",
                ));
            }
            Op::GetNextMfe {
                source,
                group,
                family,
                max: f.max()?,
                stats,
            }
        }
        "set_mfe" => {
            let (source, group) = f.flow()?;
            let upstream = f
                .opt_addr("upstream")?
                .ok_or_else(|| WireError::invalid("missing `upstream`"))?;
            if Family::of(upstream) != Family::of(group) {
                return Err(WireError::invalid(
                    "`upstream` is not of the group's family",
                ));
            }
            Op::SetMfe {
                handle: f.handle()?,
                source,
                group,
                upstream,
            }
        }
        "group_enumeration_start" => {
            let kind = match f.opt_str("kind")? {
                None | Some("all_sources") => EnumKind::AllSources,
                Some("any_source") => EnumKind::AnySource,
                Some(other) => {
                    return Err(WireError::invalid(format!(
                        "`kind` {other:?}: expected \"any_source\" or \"all_sources\""
                    )))
                }
            };
            Op::GroupEnumerationStart {
                handle: f.handle()?,
                kind,
            }
        }
        "group_enumeration_get_next" => Op::GroupEnumerationGetNext {
            handle: f.handle()?,
            enumeration: EnumHandle(f.req_u32("enum")?),
            max: f.max()?,
        },
        "group_enumeration_end" => Op::GroupEnumerationEnd {
            handle: f.handle()?,
            enumeration: EnumHandle(f.req_u32("enum")?),
        },
        "answer_rpf" => {
            let iif = if f.has_iface() {
                Some(f.iface_ref()?)
            } else {
                None
            };
            Op::AnswerRpf {
                handle: f.handle()?,
                query: QueryId(f.req_u64("query")?),
                iif,
                upstream: f.opt_addr("upstream")?,
            }
        }
        "answer_creation_alert" => {
            let disabled = match f.0.get("disabled") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        Value::Object(o) => Fields(o.clone()).iface_ref(),
                        _ => Err(WireError::malformed(
                            "`disabled` entries are objects {ifindex or ifname, next_hop}",
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                Some(_) => return Err(WireError::malformed("`disabled` must be a list")),
            };
            Op::AnswerCreationAlert {
                handle: f.handle()?,
                query: QueryId(f.req_u64("query")?),
                disabled,
            }
        }
        "answer_prune_alert" => Op::AnswerPruneAlert {
            handle: f.handle()?,
            query: QueryId(f.req_u64("query")?),
            timeout: f.req_u32("timeout")?,
        },
        "batch" if allow_batch => {
            let Some(Value::Array(items)) = f.0.get("requests") else {
                return Err(WireError::malformed(
                    "`requests` must be a list of request objects",
                ));
            };
            Op::Batch(
                items
                    .iter()
                    .map(|item| match item {
                        Value::Object(o) => parse_op(o.clone(), false),
                        _ => Err(WireError::malformed("a batch entry is a request object")),
                    })
                    .collect(),
            )
        }
        "batch" => return Err(WireError::invalid("a batch cannot contain a batch")),
        "show_interfaces" => Op::ShowInterfaces,
        "show_protocols" => Op::ShowProtocols,
        "show_owners" => Op::ShowOwners,
        "show_groups" => Op::ShowGroups,
        "show_mfe" => Op::ShowMfe {
            family: f.family()?,
        },
        "show_stats" => Op::ShowStats,
        "show_static" => Op::ShowStatic,
        "show_igmp" => Op::ShowIgmp,
        "show_mld" => Op::ShowMld,
        "verify" => Op::Verify,
        "static_add" => Op::StaticAdd(f.static_route(true)?),
        "static_del" => Op::StaticDel(f.static_route(false)?),
        "igmp_enable" => Op::IgmpEnable(f.igmp_interface()?),
        "igmp_disable" => Op::IgmpDisable {
            ifname: f.ifname_field()?,
        },
        other => {
            return Err(WireError {
                code: WireCode::UnknownOp,
                message: format!("unknown op {other:?}"),
            })
        }
    })
}

/// Typed access to a request's fields. Wrong JSON types are `MalformedRequest`; well-typed
/// but invalid values are `InvalidParameter`.
struct Fields(Map<String, Value>);

impl Fields {
    fn get(&self, name: &str) -> Option<&Value> {
        match self.0.get(name) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    fn opt_u64(&self, name: &str) -> Result<Option<u64>, WireError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                WireError::malformed(format!("`{name}` must be a non-negative integer"))
            }),
        }
    }

    fn req_u64(&self, name: &str) -> Result<u64, WireError> {
        self.opt_u64(name)?
            .ok_or_else(|| WireError::invalid(format!("missing `{name}`")))
    }

    fn opt_u32(&self, name: &str) -> Result<Option<u32>, WireError> {
        match self.opt_u64(name)? {
            None => Ok(None),
            Some(v) => u32::try_from(v)
                .map(Some)
                .map_err(|_| WireError::invalid(format!("`{name}` {v} is out of range"))),
        }
    }

    fn req_u32(&self, name: &str) -> Result<u32, WireError> {
        self.opt_u32(name)?
            .ok_or_else(|| WireError::invalid(format!("missing `{name}`")))
    }

    fn opt_str(&self, name: &str) -> Result<Option<&str>, WireError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(WireError::malformed(format!("`{name}` must be a string"))),
        }
    }

    /// An address; absent, null or `"*"` is `None`.
    fn opt_addr(&self, name: &str) -> Result<Option<IpAddr>, WireError> {
        match self.opt_str(name)? {
            None | Some("*") => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|_| {
                WireError::invalid(format!("`{name}`: {s:?} is not an IPv4 or IPv6 address"))
            }),
        }
    }

    fn handle(&self) -> Result<Option<ProtocolHandle>, WireError> {
        Ok(self.opt_u32("handle")?.map(ProtocolHandle))
    }

    fn family(&self) -> Result<Option<Family>, WireError> {
        match self.opt_str("family")? {
            None => Ok(None),
            Some("ipv4" | "inet" | "4") => Ok(Some(Family::Ipv4)),
            Some("ipv6" | "inet6" | "6") => Ok(Some(Family::Ipv6)),
            Some(other) => Err(WireError::invalid(format!(
                "`family` {other:?}: expected \"ipv4\" or \"ipv6\""
            ))),
        }
    }

    fn max(&self) -> Result<usize, WireError> {
        match self.opt_u64("max")? {
            None => Ok(DEFAULT_MAX),
            Some(0) => Err(WireError::invalid("`max` must be at least 1")),
            Some(n) => Ok(usize::try_from(n).unwrap_or(LIMIT_MAX).min(LIMIT_MAX)),
        }
    }

    fn has_iface(&self) -> bool {
        self.get("ifindex").is_some() || self.get("ifname").is_some()
    }

    fn iface(&self) -> Result<Iface, WireError> {
        let index = self.opt_u32("ifindex")?;
        let name = self.opt_str("ifname")?;
        match (index, name) {
            (Some(_), Some(_)) => Err(WireError::invalid("give `ifindex` or `ifname`, not both")),
            (Some(0), None) => Err(WireError::invalid("`ifindex` 0 names no interface")),
            (Some(i), None) => Ok(Iface::Index(i)),
            (None, Some("")) => Err(WireError::invalid("`ifname` is empty")),
            (None, Some(n)) => Ok(Iface::Name(n.to_string())),
            (None, None) => Err(WireError::invalid(
                "missing interface: give `ifindex` or `ifname`",
            )),
        }
    }

    /// Interface, next hop and family, checked for consistency.
    fn iface_ref(&self) -> Result<IfaceRef, WireError> {
        let iface = self.iface()?;
        let next_hop = self.opt_addr("next_hop")?;
        let family = self.family()?;
        let family = match (next_hop, family) {
            (Some(n), Some(f)) if Family::of(n) != f => {
                return Err(WireError::invalid(format!(
                    "`next_hop` {n} is not an {f} address"
                )))
            }
            (Some(n), _) => Some(Family::of(n)),
            (None, f) => f,
        };
        if next_hop.is_some_and(|n| n.is_multicast()) {
            return Err(WireError::invalid("`next_hop` must be a unicast address"));
        }
        // An explicit unspecified next hop is the whole link.
        let next_hop = next_hop.filter(|n| !n.is_unspecified());
        Ok(IfaceRef {
            iface,
            next_hop,
            family,
        })
    }

    /// `source` and `group` of an (S,G) flow, both required.
    fn flow(&self) -> Result<(IpAddr, IpAddr), WireError> {
        let source = self
            .opt_addr("source")?
            .ok_or_else(|| WireError::invalid("missing `source`"))?;
        let group = self
            .opt_addr("group")?
            .ok_or_else(|| WireError::invalid("missing `group`"))?;
        SourceGroup::sg(source, group)?;
        Ok((source, group))
    }

    fn callbacks(&self) -> Result<Callbacks, WireError> {
        let Some(value) = self.get("callbacks") else {
            return Ok(Callbacks::NONE);
        };
        let Value::Array(items) = value else {
            return Err(WireError::malformed(
                "`callbacks` must be a list of event names",
            ));
        };
        let mut set = Callbacks::NONE;
        for item in items {
            let Value::String(name) = item else {
                return Err(WireError::malformed("`callbacks` entries are strings"));
            };
            let callback = Callback::ALL
                .into_iter()
                .find(|c| callback_name(*c) == name)
                .ok_or_else(|| WireError::invalid(format!("unknown callback {name:?}")))?;
            set.insert(callback);
        }
        Ok(set)
    }

    fn flags(&self) -> Result<MembershipFlags, WireError> {
        fn one(v: &Value) -> Result<u32, WireError> {
            match v {
                Value::Number(n) => n
                    .as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| WireError::malformed("`flags` number out of range")),
                Value::String(s) => match s.as_str() {
                    "join_state" => Ok(MembershipFlags::JOIN_STATE.0),
                    "forward_state" => Ok(MembershipFlags::FORWARD_STATE.0),
                    other => Err(WireError::invalid(format!(
                        "unknown flag {other:?}: expected \"join_state\" or \"forward_state\""
                    ))),
                },
                _ => Err(WireError::malformed(
                    "`flags` must be a number, a name or a list",
                )),
            }
        }
        let bits = match self.get("flags") {
            None => MembershipFlags::JOIN_STATE.0,
            Some(Value::Array(items)) => items
                .iter()
                .map(one)
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .fold(0, |a, b| a | b),
            Some(v) => one(v)?,
        };
        if bits == 0 || bits & !0x3 != 0 {
            return Err(WireError::invalid(format!(
                "`flags` {bits}: give join_state (1), forward_state (2) or both"
            )));
        }
        Ok(MembershipFlags(bits))
    }

    fn membership(&self) -> Result<Membership, WireError> {
        let source = self.opt_addr("source")?;
        let group = self.opt_addr("group")?;
        let source_mask = self.opt_addr("source_mask")?;
        let group_mask = self.opt_addr("group_mask")?;
        let mut iface = self.iface_ref()?;
        let hinted = [group, source, source_mask, group_mask]
            .into_iter()
            .flatten()
            .map(Family::of)
            .chain(iface.family);
        let mut family = None;
        for f in hinted {
            match family {
                None => family = Some(f),
                Some(known) if known != f => {
                    return Err(WireError::invalid(
                        "addresses, masks, next hop and family are of different families",
                    ))
                }
                Some(_) => {}
            }
        }
        let family = family.ok_or_else(|| {
            WireError::invalid("a (*,*) membership needs `family` (\"ipv4\" or \"ipv6\")")
        })?;
        let scope = if source_mask.is_some() || group_mask.is_some() {
            let all_ones: IpAddr = match family {
                Family::Ipv4 => IpAddr::from([255u8; 4]),
                Family::Ipv6 => IpAddr::from([255u8; 16]),
            };
            let zero = family.unspecified();
            let mask_for = |addr: Option<IpAddr>, mask: Option<IpAddr>| {
                mask.unwrap_or(if addr.is_some() { all_ones } else { zero })
            };
            SourceGroup::from_masks(
                source.unwrap_or(zero),
                mask_for(source, source_mask),
                group.unwrap_or(zero),
                mask_for(group, group_mask),
            )?
        } else {
            SourceGroup::new(family, source, group)?
        };
        if scope.family != family {
            return Err(WireError::invalid("masks are not of the addresses' family"));
        }
        iface.family = Some(family);
        Ok(Membership {
            handle: self.handle()?,
            scope,
            iface,
            flags: self.flags()?,
        })
    }

    /// `ifname` (or `interface`), required.
    fn ifname_field(&self) -> Result<String, WireError> {
        match self.opt_str("ifname")?.or(self.opt_str("interface")?) {
            Some("") | None => Err(WireError::invalid("missing `ifname`")),
            Some(name) => Ok(name.to_string()),
        }
    }

    fn opt_u8(&self, name: &str) -> Result<Option<u8>, WireError> {
        match self.opt_u64(name)? {
            None => Ok(None),
            Some(v) => u8::try_from(v)
                .map(Some)
                .map_err(|_| WireError::invalid(format!("`{name}` {v} is out of range"))),
        }
    }

    fn igmp_interface(&self) -> Result<crate::config::IgmpInterface, WireError> {
        let explicit_tracking = match self.get("explicit_tracking") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(WireError::malformed(
                    "`explicit_tracking` must be a boolean",
                ))
            }
        };
        let setting = crate::config::IgmpInterface {
            interface: self.ifname_field()?,
            family: self.family()?,
            igmp_version: self.opt_u8("igmp_version")?,
            mld_version: self.opt_u8("mld_version")?,
            robustness: self.opt_u8("robustness")?,
            query_interval: self.opt_u64("query_interval")?,
            query_response_interval_ms: self.opt_u64("query_response_interval_ms")?,
            last_member_query_interval_ms: self.opt_u64("last_member_query_interval_ms")?,
            explicit_tracking,
        };
        setting.validate().map_err(WireError::invalid)?;
        Ok(setting)
    }

    /// `need_to`: `static_del` may omit `to` (delete the whole route).
    fn static_route(&self, need_to: bool) -> Result<StaticRoute, WireError> {
        let from = self
            .opt_str("from")?
            .ok_or_else(|| WireError::invalid("missing `from` (inbound interface name)"))?
            .to_string();
        let group = self
            .opt_addr("group")?
            .ok_or_else(|| WireError::invalid("missing `group`"))?;
        let to = match self.get("to") {
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s.clone()),
                    _ => Err(WireError::malformed("`to` entries are interface names")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(Value::String(s)) => vec![s.clone()],
            Some(_) => {
                return Err(WireError::malformed(
                    "`to` must be a list of interface names",
                ))
            }
            None if need_to => {
                return Err(WireError::invalid(
                    "missing `to` (outbound interface names)",
                ))
            }
            None => Vec::new(),
        };
        let route = StaticRoute {
            from,
            source: self.opt_addr("source")?,
            group,
            to,
        };
        if need_to || !route.to.is_empty() {
            route.validate()?;
        } else {
            SourceGroup::new(Family::of(group), route.source, Some(group))?;
        }
        Ok(route)
    }
}

/// The wire name of a callback (`"join_alert"`).
pub fn callback_name(callback: Callback) -> &'static str {
    match callback {
        Callback::CreationAlert => "creation_alert",
        Callback::DisableIgmp => "disable_igmp",
        Callback::EnableIgmp => "enable_igmp",
        Callback::InterfaceDeleted => "interface_deleted",
        Callback::JoinAlert => "join_alert",
        Callback::LocalJoin => "local_join",
        Callback::LocalLeave => "local_leave",
        Callback::PruneAlert => "prune_alert",
        Callback::Rpf => "rpf",
        Callback::WrongIf => "wrong_if",
    }
}

// ===== output lines =====

/// The response line (with its newline) for request `id`.
pub fn response_line(id: &Value, reply: &Reply) -> String {
    let value = match reply {
        Ok(ok) => json!({"id": id, "ok": ok}),
        Err(e) => json!({"id": id, "error": e.to_json()}),
    };
    let mut line = value.to_string();
    line.push('\n');
    line
}

/// An event line (with its newline) from an event object.
pub fn event_line(event: &Value) -> String {
    let mut line = event.to_string();
    line.push('\n');
    line
}

/// The `shutdown` event line.
pub fn shutdown_line() -> String {
    event_line(&json!({"event": "shutdown"}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn op(line: &str) -> Op {
        parse_request(line).unwrap().op
    }

    fn err(line: &str) -> BadRequest {
        parse_request(line).unwrap_err()
    }

    #[test]
    fn malformed_lines() {
        let e = err("{not json");
        assert_eq!(e.error.code, WireCode::MalformedRequest);
        assert_eq!(e.id, Value::Null);
        assert_eq!(err("[1,2]").error.code, WireCode::MalformedRequest);
        assert_eq!(err("\"x\"").error.code, WireCode::MalformedRequest);
        let e = err(r#"{"id": 7}"#);
        assert_eq!((e.id, e.error.code), (json!(7), WireCode::MalformedRequest));
        assert_eq!(
            err(r#"{"id": 1, "op": 3}"#).error.code,
            WireCode::MalformedRequest
        );
        assert_eq!(
            err(r#"{"id": {}, "op": "ping"}"#).error.code,
            WireCode::MalformedRequest
        );
        let e = err(r#"{"id": "a", "op": "fly"}"#);
        assert_eq!((e.id, e.error.code), (json!("a"), WireCode::UnknownOp));
    }

    #[test]
    fn wrong_field_types_are_malformed() {
        let e = err(r#"{"id":1,"op":"take_interface_ownership","ifindex":"3"}"#);
        assert_eq!(e.error.code, WireCode::MalformedRequest);
        let e = err(r#"{"id":1,"op":"register_protocol","protocol_id":-1}"#);
        assert_eq!(e.error.code, WireCode::MalformedRequest);
        let e = err(r#"{"id":1,"op":"register_protocol","protocol_id":1,"callbacks":"rpf"}"#);
        assert_eq!(e.error.code, WireCode::MalformedRequest);
        let e = err(r#"{"id":1,"op":"ping","args":[1]}"#);
        assert_eq!(e.error.code, WireCode::MalformedRequest);
    }

    #[test]
    fn register_with_callbacks() {
        let o = op(r#"{"id":1,"op":"register_protocol","protocol_id":21,
            "callbacks":["join_alert","rpf"]}"#);
        let Op::RegisterProtocol {
            protocol_id,
            component_id,
            callbacks,
        } = o
        else {
            panic!("{o:?}")
        };
        assert_eq!(
            (protocol_id, component_id),
            (ProtocolId(21), ComponentId(0))
        );
        assert!(callbacks.contains(Callback::JoinAlert) && callbacks.contains(Callback::Rpf));
        assert!(!callbacks.contains(Callback::PruneAlert));
        let e = err(r#"{"id":1,"op":"register_protocol","protocol_id":21,"callbacks":["x"]}"#);
        assert_eq!(e.error.code, WireCode::Mgm(ErrorCode::InvalidParameter));
        let e = err(r#"{"id":1,"op":"register_protocol"}"#);
        assert_eq!(e.error.code, WireCode::Mgm(ErrorCode::InvalidParameter));
    }

    #[test]
    fn args_object_is_accepted() {
        let o =
            op(r#"{"id":1,"op":"take_interface_ownership","args":{"ifname":"eth0","handle":4}}"#);
        assert_eq!(
            o,
            Op::TakeInterfaceOwnership {
                handle: Some(ProtocolHandle(4)),
                iface: IfaceRef {
                    iface: Iface::Name("eth0".into()),
                    next_hop: None,
                    family: None
                }
            }
        );
    }

    #[test]
    fn iface_family_rules() {
        let o = op(r#"{"id":1,"op":"take_interface_ownership","ifindex":3,"next_hop":"fe80::1"}"#);
        let Op::TakeInterfaceOwnership { iface, .. } = o else {
            panic!()
        };
        assert_eq!(iface.family, Some(Family::Ipv6));
        assert_eq!(iface.families(), [Family::Ipv6]);
        let o = op(r#"{"id":1,"op":"take_interface_ownership","ifindex":3,"next_hop":"0.0.0.0"}"#);
        let Op::TakeInterfaceOwnership { iface, .. } = o else {
            panic!()
        };
        assert_eq!((iface.next_hop, iface.family), (None, Some(Family::Ipv4)));
        let o = op(r#"{"id":1,"op":"take_interface_ownership","ifname":"e"}"#);
        let Op::TakeInterfaceOwnership { iface, .. } = o else {
            panic!()
        };
        assert_eq!(iface.families(), [Family::Ipv4, Family::Ipv6]);
        for bad in [
            r#"{"id":1,"op":"take_interface_ownership","ifindex":3,"next_hop":"10.0.0.1","family":"ipv6"}"#,
            r#"{"id":1,"op":"take_interface_ownership","ifindex":3,"ifname":"e"}"#,
            r#"{"id":1,"op":"take_interface_ownership"}"#,
            r#"{"id":1,"op":"take_interface_ownership","ifindex":0}"#,
            r#"{"id":1,"op":"take_interface_ownership","ifindex":3,"family":"ipx"}"#,
            r#"{"id":1,"op":"take_interface_ownership","ifindex":3,"next_hop":"224.0.0.1"}"#,
            r#"{"id":1,"op":"take_interface_ownership","ifindex":3,"next_hop":"bogus"}"#,
        ] {
            assert_eq!(
                err(bad).error.code,
                WireCode::Mgm(ErrorCode::InvalidParameter),
                "{bad}"
            );
        }
    }

    #[test]
    fn memberships() {
        let o = op(r#"{"id":1,"op":"add_group_membership","ifname":"e","group":"239.1.1.1"}"#);
        let Op::AddGroupMembership(m) = o else {
            panic!()
        };
        assert_eq!(m.scope, SourceGroup::star_g(ip("239.1.1.1")).unwrap());
        assert_eq!(m.flags, MembershipFlags::JOIN_STATE);
        assert_eq!(m.iface.family, Some(Family::Ipv4));

        let o = op(
            r#"{"id":1,"op":"add_group_membership","ifname":"e","group":"ff3e::1",
            "source":"fd00::2","flags":["join_state","forward_state"]}"#,
        );
        let Op::AddGroupMembership(m) = o else {
            panic!()
        };
        assert_eq!(
            m.scope,
            SourceGroup::sg(ip("fd00::2"), ip("ff3e::1")).unwrap()
        );
        assert_eq!(m.flags, MembershipFlags(3));
        assert_eq!(o_rpf(&Op::AddGroupMembership(m)), Some(ip("fd00::2")));

        let o = op(
            r#"{"id":1,"op":"delete_group_membership","ifindex":2,"family":"ipv6",
            "group":"*","source":null}"#,
        );
        let Op::DeleteGroupMembership(m) = o else {
            panic!()
        };
        assert_eq!(m.scope, SourceGroup::star_star(Family::Ipv6));

        // Masks: exact and wildcard accepted, ranges refused.
        let o = op(
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"source":"0.0.0.0",
            "source_mask":"0.0.0.0","group":"239.1.1.1","group_mask":"255.255.255.255"}"#,
        );
        let Op::AddGroupMembership(m) = o else {
            panic!()
        };
        assert_eq!(m.scope, SourceGroup::star_g(ip("239.1.1.1")).unwrap());
        for bad in [
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"source":"10.0.0.0","source_mask":"255.255.255.0","group":"239.1.1.1"}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"group":"239.0.0.0","group_mask":"255.0.0.0"}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"group":"10.0.0.1"}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"group":"239.1.1.1","source":"fd00::1"}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"group":"239.1.1.1","family":"ipv6"}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"group":"239.1.1.1","flags":0}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"group":"239.1.1.1","flags":4}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"group":"239.1.1.1","flags":"x"}"#,
            r#"{"id":1,"op":"add_group_membership","ifindex":2,"source":"10.0.0.1","family":"ipv4"}"#,
        ] {
            assert_eq!(
                err(bad).error.code,
                WireCode::Mgm(ErrorCode::InvalidParameter),
                "{bad}"
            );
        }
    }

    fn o_rpf(o: &Op) -> Option<IpAddr> {
        o.rpf_source()
    }

    #[test]
    fn mfe_reads() {
        assert_eq!(
            op(r#"{"id":1,"op":"get_mfe_stats","source":"10.0.0.1","group":"239.1.1.1"}"#),
            Op::GetMfe {
                source: ip("10.0.0.1"),
                group: ip("239.1.1.1"),
                stats: true
            }
        );
        assert_eq!(
            op(r#"{"id":1,"op":"get_first_mfe","family":"ipv6","max":5}"#),
            Op::GetFirstMfe {
                family: Some(Family::Ipv6),
                max: 5,
                stats: false
            }
        );
        assert_eq!(
            err(r#"{"id":1,"op":"get_first_mfe","max":0}"#).error.code,
            WireCode::Mgm(ErrorCode::InvalidParameter)
        );
        assert_eq!(
            err(r#"{"id":1,"op":"get_mfe","group":"239.1.1.1"}"#)
                .error
                .code,
            WireCode::Mgm(ErrorCode::InvalidParameter)
        );
    }

    #[test]
    fn batch_parses_each_entry() {
        let o = op(
            r#"{"id":1,"op":"batch","requests":[{"op":"ping"},{"op":"nope"},
            {"op":"batch","requests":[]},3]}"#,
        );
        let Op::Batch(items) = o else { panic!() };
        assert_eq!(items.len(), 4);
        assert_eq!(items[0], Ok(Op::Ping));
        assert_eq!(items[1].as_ref().unwrap_err().code, WireCode::UnknownOp);
        assert_eq!(
            items[2].as_ref().unwrap_err().code,
            WireCode::Mgm(ErrorCode::InvalidParameter)
        );
        assert_eq!(
            items[3].as_ref().unwrap_err().code,
            WireCode::MalformedRequest
        );
        assert_eq!(
            err(r#"{"id":1,"op":"batch"}"#).error.code,
            WireCode::MalformedRequest
        );
    }

    #[test]
    fn static_routes() {
        let o = op(r#"{"id":1,"op":"static_add","from":"eth0","group":"239.1.1.1","to":["eth1"]}"#);
        assert_eq!(
            o,
            Op::StaticAdd(StaticRoute {
                from: "eth0".into(),
                source: None,
                group: ip("239.1.1.1"),
                to: vec!["eth1".into()]
            })
        );
        for bad in [
            r#"{"id":1,"op":"static_add","from":"eth0","group":"10.1.1.1","to":["eth1"]}"#,
            r#"{"id":1,"op":"static_add","from":"eth0","group":"239.1.1.1","to":[]}"#,
            r#"{"id":1,"op":"static_add","from":"eth0","group":"239.1.1.1","to":["eth0"]}"#,
            r#"{"id":1,"op":"static_add","group":"239.1.1.1","to":["eth1"]}"#,
            r#"{"id":1,"op":"static_add","from":"eth0","source":"fd00::1","group":"239.1.1.1","to":["eth1"]}"#,
        ] {
            assert_eq!(
                err(bad).error.code,
                WireCode::Mgm(ErrorCode::InvalidParameter),
                "{bad}"
            );
        }
    }

    #[test]
    fn igmp_ops() {
        let o = op(
            r#"{"id":1,"op":"igmp_enable","ifname":"eth1","family":"ipv4",
            "igmp_version":2,"last_member_query_interval_ms":100,"explicit_tracking":true}"#,
        );
        let Op::IgmpEnable(s) = o else {
            panic!("{o:?}")
        };
        assert_eq!(
            (s.interface.as_str(), s.family, s.igmp_version),
            ("eth1", Some(Family::Ipv4), Some(2))
        );
        assert!(s.explicit_tracking);
        assert_eq!(
            op(r#"{"id":1,"op":"igmp_disable","interface":"eth1"}"#),
            Op::IgmpDisable {
                ifname: "eth1".into()
            }
        );
        for bad in [
            r#"{"id":1,"op":"igmp_enable"}"#,
            r#"{"id":1,"op":"igmp_enable","ifname":"e","igmp_version":4}"#,
            r#"{"id":1,"op":"igmp_enable","ifname":"e","robustness":300}"#,
            r#"{"id":1,"op":"igmp_disable"}"#,
        ] {
            assert_eq!(
                err(bad).error.code,
                WireCode::Mgm(ErrorCode::InvalidParameter),
                "{bad}"
            );
        }
        assert_eq!(
            err(r#"{"id":1,"op":"igmp_enable","ifname":"e","explicit_tracking":1}"#)
                .error
                .code,
            WireCode::MalformedRequest
        );
    }

    #[test]
    fn answers_and_enumeration() {
        assert_eq!(
            op(r#"{"id":1,"op":"answer_rpf","query":9,"ifname":"e1"}"#),
            Op::AnswerRpf {
                handle: None,
                query: QueryId(9),
                iif: Some(IfaceRef {
                    iface: Iface::Name("e1".into()),
                    next_hop: None,
                    family: None
                }),
                upstream: None
            }
        );
        let o = op(r#"{"id":1,"op":"answer_creation_alert","query":2,"disabled":[{"ifindex":4}]}"#);
        let Op::AnswerCreationAlert { disabled, .. } = o else {
            panic!()
        };
        assert_eq!(disabled[0].iface, Iface::Index(4));
        assert_eq!(
            op(r#"{"id":1,"op":"group_enumeration_start","kind":"any_source"}"#),
            Op::GroupEnumerationStart {
                handle: None,
                kind: EnumKind::AnySource
            }
        );
        assert_eq!(
            err(r#"{"id":1,"op":"group_enumeration_start","kind":"x"}"#)
                .error
                .code,
            WireCode::Mgm(ErrorCode::InvalidParameter)
        );
    }

    #[test]
    fn lines() {
        let ok = response_line(&json!(3), &Ok(json!({"handle": 1})));
        assert_eq!(ok, "{\"id\":3,\"ok\":{\"handle\":1}}\n");
        let e = response_line(&json!("x"), &Err(WireError::invalid("bad")));
        let v: Value = serde_json::from_str(e.trim_end()).unwrap();
        assert_eq!(v["error"]["code"], "InvalidParameter");
        assert_eq!(v["id"], "x");
        assert_eq!(shutdown_line(), "{\"event\":\"shutdown\"}\n");
    }

    #[test]
    fn every_listed_op_parses_or_asks_for_fields() {
        for name in OPS {
            let line = json!({"id": 1, "op": name}).to_string();
            if let Err(e) = parse_request(&line) {
                assert_ne!(e.error.code, WireCode::UnknownOp, "{name}");
            }
        }
    }

    // Every op with every field set to each odd value (wrong types, huge and negative numbers,
    // floats, unicode, nesting), alone and with a plausible base: parsing answers, never panics.
    #[test]
    fn odd_field_values_never_panic() {
        let fields = [
            "handle",
            "protocol_id",
            "component_id",
            "callbacks",
            "ifindex",
            "ifname",
            "interface",
            "next_hop",
            "family",
            "source",
            "group",
            "source_mask",
            "group_mask",
            "flags",
            "max",
            "enum",
            "kind",
            "query",
            "iif",
            "upstream",
            "disabled",
            "timeout",
            "requests",
            "version",
            "client",
            "from",
            "to",
            "explicit_tracking",
            "igmp_version",
            "mld_version",
            "robustness",
            "query_interval",
            "query_response_interval_ms",
            "last_member_query_interval_ms",
            "args",
        ];
        let odd = [
            json!(null),
            json!(true),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1e308),
            json!(-0.5),
            json!(""),
            json!("*"),
            json!("\u{1F600}\u{0}é"),
            json!("ff3e::1"),
            json!("0.0.0.0"),
            json!([]),
            json!([[[1]]]),
            json!([{"op": "batch", "requests": [{"op": "ping"}]}]),
            json!({}),
            json!({"op": "batch"}),
        ];
        let base = json!({"handle": 1, "ifname": "eth0", "family": "ipv4", "group": "239.1.1.1",
            "source": "10.0.0.1", "query": 1, "enum": 1, "timeout": 5, "protocol_id": 1,
            "from": "eth0", "to": ["eth1"], "interface": "eth0", "upstream": "10.0.0.2"});
        for op in OPS {
            for field in fields {
                for value in &odd {
                    for mut request in [json!({}), base.clone()] {
                        request["op"] = json!(op);
                        request["id"] = json!(7);
                        request[field] = value.clone();
                        let _ = parse_request(&request.to_string());
                    }
                }
            }
        }
    }
}
