//! [`Mgm`]: every MGM function, callback and rule, decided in one place.
//!
//! The state is a handful of ordered tables (protocols, interfaces, owners, VIFs, membership
//! records, MFEs, pending queries, timers). Requests validate first and change nothing when
//! they fail; then they update the tables and queue [`Action`]s. The choices made where the
//! MGM documentation is silent are listed in `docs/mgm-semantics.md`, each with its test.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Bound;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tracing::{debug, trace, warn};

use crate::action::{Action, KernelOp, Notification, OifEntry, QueryId};
use crate::addr::{Family, IfIndex, InterfaceKey, SourceGroup, VifIndex, VifSet, MAX_VIFS};
use crate::error::{ErrorCode, MgmError};
use crate::link::{LinkEvent, LinkInfo, MfeCounters, Route, Upcall};
use crate::protocol::{Callback, Callbacks, ComponentId, ProtocolHandle, ProtocolId};

/// Limits and timers. Every table has an explicit bound so `NotEnoughMemory` means something.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct Config {
    /// VIFs per family (Linux `MAXVIFS` = 32; lower it only in tests).
    pub max_vifs: u16,
    /// Default MFE lifetime when no prune alert answer sets one (MGM: 900 s).
    pub mfe_timeout: Duration,
    /// How long an answerable callback (RPF, creation alert) may hold an MFE's creation.
    pub callback_deadline: Duration,
    /// Maximum MFEs (both families together), pending ones included.
    pub max_mfes: usize,
    /// Maximum membership records (protocol, interface, scope) in all.
    pub max_memberships: usize,
    /// Maximum registered protocols.
    pub max_protocols: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            max_vifs: crate::addr::MAX_VIFS,
            mfe_timeout: Duration::from_secs(900),
            callback_deadline: Duration::from_millis(200),
            max_mfes: 1_000_000,
            max_memberships: 1_000_000,
            max_protocols: 1024,
        }
    }
}

/// Open group enumerations one protocol may hold at once (each is a snapshot of every joined
/// scope, so an unbounded number would let one client exhaust memory).
pub const MAX_ENUMERATIONS: usize = 16;

/// The longest callback deadline [`Mgm::new`] accepts (longer ones are capped).
pub const MAX_CALLBACK_DEADLINE: Duration = Duration::from_secs(3600);

/// `MGM_JOIN_STATE_FLAG` (0x1) and `MGM_FORWARD_STATE_FLAG` (0x2), as a bit set.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MembershipFlags(pub u32);

impl MembershipFlags {
    /// Record the membership and update every matching MFE.
    pub const JOIN_STATE: MembershipFlags = MembershipFlags(0x1);
    /// Add / remove the interface in the outgoing list of the (S,G) MFE only.
    pub const FORWARD_STATE: MembershipFlags = MembershipFlags(0x2);

    /// Whether `JOIN_STATE` is set.
    pub fn join_state(self) -> bool {
        self.0 & 0x1 != 0
    }

    /// Whether `FORWARD_STATE` is set.
    pub fn forward_state(self) -> bool {
        self.0 & 0x2 != 0
    }
}

/// Who owns an interface key: at most one routing protocol, plus possibly IGMP.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Owners {
    /// The routing (non-IGMP) owner.
    pub routing: Option<ProtocolHandle>,
    /// The IGMP co-owner.
    pub igmp: Option<ProtocolHandle>,
}

/// A registered protocol, for `show protocols`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct ProtocolInfo {
    /// Handle.
    pub handle: ProtocolHandle,
    /// Protocol ID.
    pub protocol_id: ProtocolId,
    /// Component ID.
    pub component_id: ComponentId,
    /// Handled callbacks.
    pub callbacks: Vec<crate::protocol::Callback>,
    /// Owned interface keys.
    pub interfaces: Vec<InterfaceKey>,
}

/// A known interface, for `show interfaces`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct InterfaceInfo {
    /// Link facts.
    pub link: LinkInfo,
    /// Addresses with prefix length.
    pub addresses: Vec<(IpAddr, u8)>,
    /// VIF per family, when one is allocated.
    pub vif_v4: Option<VifIndex>,
    /// MIF, when one is allocated.
    pub vif_v6: Option<VifIndex>,
}

/// One owned key, for `show owners`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct OwnerInfo {
    /// The key.
    pub iface: InterfaceKey,
    /// Routing owner.
    pub routing: Option<ProtocolHandle>,
    /// IGMP co-owner.
    pub igmp: Option<ProtocolHandle>,
    /// VIF of the key's (ifindex, family).
    pub vif: VifIndex,
}

/// One membership record, for `show groups`.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct MembershipInfo {
    /// Who added it.
    pub protocol: ProtocolHandle,
    /// Where.
    pub iface: InterfaceKey,
    /// What.
    pub scope: SourceGroup,
}

/// An MFE (`MIB_IPMCAST_MFE` plus `_STATS`), as the reads return it.
#[derive(Clone, Debug, Eq, PartialEq, Serialize)]
pub struct MfeInfo {
    /// Family.
    pub family: Family,
    /// Source.
    pub source: IpAddr,
    /// Group.
    pub group: IpAddr,
    /// Incoming interface (`dwInIfIndex` + next hop).
    pub iif: InterfaceKey,
    /// Its VIF.
    pub iif_vif: VifIndex,
    /// Protocol owning the incoming interface (`dwInIfProtocol`), if any.
    pub iif_protocol: Option<ProtocolId>,
    /// Upstream neighbour (`dwUpStrmNgbr`), settable with `set_mfe`.
    pub upstream: Option<IpAddr>,
    /// The route used for RPF (`dwRoute*`), if the FIB had one.
    pub route: Option<Route>,
    /// Outgoing interfaces (empty: negative MFE).
    pub oifs: Vec<InterfaceKey>,
    /// Whether the entry is in the kernel (false while callbacks are pending).
    pub installed: bool,
    /// Seconds since creation (`ulUpTime`).
    pub uptime_secs: u64,
    /// Seconds until expiry (`ulExpiryTime`); `None`: not aged.
    pub expires_in_secs: Option<u64>,
    /// `ulTimeOut`, seconds.
    pub timeout_secs: u32,
    /// Last counters fed with `handle_counters`.
    pub counters: MfeCounters,
}

/// `MGM_ENUM_TYPES`.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnumKind {
    /// `ANY_SOURCE`: one record per joined group (source wildcard).
    AnySource,
    /// `ALL_SOURCES`: every (S,G) and (*,G) membership record (and (*,*)).
    AllSources,
}

/// A group enumeration handle.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EnumHandle(pub u32);

// ===== internal state =====

/// MFE table key: (family, group, source), so that the MFEs of one group are one range.
type MfeKey = (Family, IpAddr, IpAddr);

fn family_index(family: Family) -> usize {
    match family {
        Family::Ipv4 => 0,
        Family::Ipv6 => 1,
    }
}

fn max_addr(family: Family) -> IpAddr {
    match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::BROADCAST),
        Family::Ipv6 => IpAddr::V6(Ipv6Addr::from(u128::MAX)),
    }
}

fn invalid(message: impl Into<String>) -> MgmError {
    MgmError::new(ErrorCode::InvalidParameter, message)
}

fn not_found(message: impl Into<String>) -> MgmError {
    MgmError::new(ErrorCode::NotFound, message)
}

/// Whether `addr` lies inside `prefix/len`.
fn in_prefix(addr: IpAddr, prefix: IpAddr, len: u8) -> bool {
    match (addr, prefix) {
        (IpAddr::V4(a), IpAddr::V4(p)) => {
            let len = u32::from(len.min(32));
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(p) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(p)) => {
            let len = u32::from(len.min(128));
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(p) & mask
        }
        _ => false,
    }
}

struct Protocol {
    id: ProtocolId,
    component: ComponentId,
    callbacks: Callbacks,
    /// Keys this protocol owns (as routing owner or IGMP co-owner).
    keys: BTreeSet<InterfaceKey>,
    /// Open group enumerations.
    enums: BTreeSet<EnumHandle>,
}

struct Interface {
    link: LinkInfo,
    /// Addresses; the flag says "seen since ResyncBegin".
    addresses: BTreeMap<(IpAddr, u8), bool>,
    /// Neighbours; the flag says "seen since ResyncBegin".
    neighbours: BTreeMap<IpAddr, bool>,
    /// VIF per family (index by `family_index`).
    vif: [Option<VifIndex>; 2],
    /// Seen since ResyncBegin.
    seen: bool,
}

/// Who has a membership for one scope.
#[derive(Default)]
struct ScopeMembers {
    /// Records per alert identity (drives the join/prune-alert recipient rules): the
    /// recording protocol, except that IGMP's records on a routing-owned key count as the
    /// routing owner's (that component owns the interface; it hears local joins).
    by_protocol: BTreeMap<ProtocolHandle, u32>,
    /// How many protocols have this scope on each key (drives MFE outgoing lists).
    keys: BTreeMap<InterfaceKey, u32>,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
enum Stage {
    /// Waiting for the RPF answer.
    Rpf,
    /// Waiting for creation-alert answers.
    Creation,
    /// In the kernel.
    Installed,
}

struct Mfe {
    iif: InterfaceKey,
    arrival: InterfaceKey,
    upstream: Option<IpAddr>,
    route: Option<Route>,
    /// Current outgoing keys (never on the iif's ifindex).
    oifs: BTreeSet<InterfaceKey>,
    /// FORWARD_STATE additions, with the protocol that forced each.
    forced: BTreeSet<(InterfaceKey, ProtocolHandle)>,
    /// Keys disabled by a creation-alert answer: membership updates do not re-add them.
    disabled: BTreeSet<InterfaceKey>,
    stage: Stage,
    /// Outstanding RPF / creation-alert queries.
    pending: BTreeSet<QueryId>,
    /// The outstanding answerable prune alert, if any.
    prune_query: Option<QueryId>,
    deadline: Option<Instant>,
    created: Instant,
    timeout_secs: u32,
    expires: Option<Instant>,
    counters: MfeCounters,
}

#[derive(Clone, Debug, Eq, PartialEq)]
enum QueryKind {
    Rpf,
    Creation { offered: Vec<InterfaceKey> },
    Prune,
}

struct Query {
    protocol: ProtocolHandle,
    mfe: MfeKey,
    kind: QueryKind,
}

#[derive(Clone, Copy, Debug, Eq, Ord, PartialEq, PartialOrd)]
enum TimerKey {
    /// Callback deadline of a pending MFE.
    Deadline(MfeKey),
    /// Expiry of an MFE.
    Expire(MfeKey),
}

struct Enumeration {
    protocol: ProtocolHandle,
    entries: Vec<SourceGroup>,
    position: usize,
}

/// The multicast group manager.
///
/// Drive it with requests (methods returning `Result`) and facts (`handle_*`), then drain
/// [`Mgm::poll_action`] and re-arm a timer from [`Mgm::poll_timeout`].
pub struct Mgm {
    config: Config,
    protocols: BTreeMap<ProtocolHandle, Protocol>,
    next_handle: u32,
    interfaces: BTreeMap<IfIndex, Interface>,
    resyncing: bool,
    owners: BTreeMap<InterfaceKey, Owners>,
    /// VIF slots per family: the ifindex behind each allocated VIF.
    vifs: [Vec<Option<IfIndex>>; 2],
    /// Every JOIN_STATE membership record, with its alert identity (see `ScopeMembers`).
    records: BTreeMap<(ProtocolHandle, InterfaceKey, SourceGroup), ProtocolHandle>,
    scopes: BTreeMap<SourceGroup, ScopeMembers>,
    /// MFEs by exact key: O(1) on the packet path whatever the table size.
    mfes: HashMap<MfeKey, Mfe>,
    /// The same keys in (family, group, source) order: the MFEs of one group are one range
    /// (a (*,G) change costs O(log n + MFEs of G)), and walks are ordered.
    mfe_order: BTreeSet<MfeKey>,
    queries: BTreeMap<QueryId, Query>,
    next_query: u64,
    timers: BTreeSet<(Instant, TimerKey)>,
    enums: BTreeMap<EnumHandle, Enumeration>,
    next_enum: u32,
    actions: VecDeque<Action>,
    last_kernel_error: Option<MgmError>,
}

impl Mgm {
    /// A manager with no protocols, interfaces or state. `config.max_vifs` is capped at
    /// [`MAX_VIFS`], `callback_deadline` at [`MAX_CALLBACK_DEADLINE`] and `mfe_timeout` at
    /// `u32::MAX` seconds.
    pub fn new(config: Config) -> Mgm {
        let mut config = config;
        config.max_vifs = config.max_vifs.min(MAX_VIFS);
        // Keep every deadline inside the clock's range whatever the configuration says.
        config.callback_deadline = config.callback_deadline.min(MAX_CALLBACK_DEADLINE);
        config.mfe_timeout = config
            .mfe_timeout
            .min(Duration::from_secs(u64::from(u32::MAX)));
        let slots = usize::from(config.max_vifs);
        Mgm {
            config,
            protocols: BTreeMap::new(),
            next_handle: 1,
            interfaces: BTreeMap::new(),
            resyncing: false,
            owners: BTreeMap::new(),
            vifs: [vec![None; slots], vec![None; slots]],
            records: BTreeMap::new(),
            scopes: BTreeMap::new(),
            mfes: HashMap::new(),
            mfe_order: BTreeSet::new(),
            queries: BTreeMap::new(),
            next_query: 1,
            timers: BTreeSet::new(),
            enums: BTreeMap::new(),
            next_enum: 1,
            actions: VecDeque::new(),
            last_kernel_error: None,
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ===== requests from protocols =====

    /// `MgmRegisterMProtocol`: register a client; `callbacks` names the callbacks it handles.
    ///
    /// # Errors
    /// - `AlreadyExists`: (protocol ID, component ID) is already registered.
    /// - `NotEnoughMemory`: `max_protocols` reached.
    pub fn register_protocol(
        &mut self,
        protocol_id: ProtocolId,
        component_id: ComponentId,
        callbacks: Callbacks,
    ) -> Result<ProtocolHandle, MgmError> {
        self.last_kernel_error = None;
        if self
            .protocols
            .values()
            .any(|p| p.id == protocol_id && p.component == component_id)
        {
            return Err(MgmError::new(
                ErrorCode::AlreadyExists,
                format!(
                    "protocol {protocol_id} component {} is already registered",
                    component_id.0
                ),
            ));
        }
        if self.protocols.len() >= self.config.max_protocols {
            return Err(MgmError::new(
                ErrorCode::NotEnoughMemory,
                format!(
                    "at most {} protocols may be registered",
                    self.config.max_protocols
                ),
            ));
        }
        // After the u32 wraps, skip 0 and handles still registered (a reused live handle would
        // replace that protocol). At most max_protocols are live, so this ends.
        while self.next_handle == 0
            || self
                .protocols
                .contains_key(&ProtocolHandle(self.next_handle))
        {
            self.next_handle = self.next_handle.wrapping_add(1);
        }
        let handle = ProtocolHandle(self.next_handle);
        self.next_handle = self.next_handle.wrapping_add(1);
        self.protocols.insert(
            handle,
            Protocol {
                id: protocol_id,
                component: component_id,
                callbacks,
                keys: BTreeSet::new(),
                enums: BTreeSet::new(),
            },
        );
        debug!(%handle, %protocol_id, component = component_id.0, "protocol registered");
        Ok(handle)
    }

    /// `MgmDeRegisterMProtocol`: destroy the handle; ends its group enumerations and answers
    /// its outstanding queries with the defaults.
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown or stale handle.
    /// - `CanNotComplete`: the protocol still owns interfaces.
    pub fn deregister_protocol(&mut self, protocol: ProtocolHandle) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        let p = self.protocol_ref(protocol)?;
        if !p.keys.is_empty() {
            return Err(MgmError::new(
                ErrorCode::CanNotComplete,
                format!(
                    "protocol {protocol} still owns {} interface(s); release them first",
                    p.keys.len()
                ),
            ));
        }
        // Deregistration has no clock: MFEs that waited only for this protocol's answers
        // proceed with the defaults at their callback deadline.
        self.forget_protocol(None, protocol);
        Ok(())
    }

    /// `MgmTakeInterfaceOwnership`: claim `iface`. Allocates the VIF of (ifindex, family) on
    /// the first owned key; runs the Disable/Enable-IGMP handshake when a routing protocol
    /// takes a key IGMP has.
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown handle; the interface does not exist, is not
    ///   multicast-capable or is a loopback; a specific next hop that is neither on-link nor a
    ///   known neighbour.
    /// - `AlreadyExists`: the caller already owns it, another routing protocol owns it, or
    ///   another IGMP client has it.
    /// - `NotEnoughMemory`: no free VIF in the family.
    pub fn take_interface_ownership(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        let is_igmp = self.protocol_ref(protocol)?.id.is_igmp();
        let family = iface.family();
        let intf = self
            .interfaces
            .get(&iface.ifindex)
            .ok_or_else(|| invalid(format!("interface {} does not exist", iface.ifindex)))?;
        if intf.link.loopback {
            return Err(invalid(format!(
                "interface {} ({}) is a loopback interface",
                iface.ifindex, intf.link.name
            )));
        }
        if !intf.link.multicast {
            return Err(invalid(format!(
                "interface {} ({}) is not multicast-capable",
                iface.ifindex, intf.link.name
            )));
        }
        if !iface.is_link() {
            let nh = iface.next_hop;
            if nh.is_multicast() {
                return Err(invalid(format!("next hop {nh} is a multicast address")));
            }
            let on_link = intf
                .addresses
                .keys()
                .any(|&(a, len)| in_prefix(nh, a, len) && a != nh);
            if !on_link && !intf.neighbours.contains_key(&nh) {
                return Err(invalid(format!(
                    "next hop {nh} is neither on-link nor a known neighbour on interface {} ({})",
                    iface.ifindex, intf.link.name
                )));
            }
        }
        let owners = self.owners(iface);
        if is_igmp {
            if owners.igmp == Some(protocol) {
                return Err(MgmError::new(
                    ErrorCode::AlreadyExists,
                    format!("protocol {protocol} is already enabled on {iface}"),
                ));
            }
            if let Some(other) = owners.igmp {
                return Err(MgmError::new(
                    ErrorCode::AlreadyExists,
                    format!("IGMP client {other} is already enabled on {iface}"),
                ));
            }
        } else {
            if owners.routing == Some(protocol) {
                return Err(MgmError::new(
                    ErrorCode::AlreadyExists,
                    format!("protocol {protocol} is already enabled on {iface}"),
                ));
            }
            if let Some(other) = owners.routing {
                return Err(MgmError::new(
                    ErrorCode::AlreadyExists,
                    format!(
                        "{iface} is owned by protocol {other}: only one routing protocol \
                         may own an interface"
                    ),
                ));
            }
        }
        if self.vif_of(iface.ifindex, family).is_none() {
            let vif = self.allocate_vif(iface.ifindex, family)?;
            self.actions.push_back(Action::Kernel(KernelOp::AddVif {
                family,
                vif,
                ifindex: iface.ifindex,
            }));
        }
        if is_igmp {
            self.owners.entry(iface).or_default().igmp = Some(protocol);
        } else {
            // MGM: Disable-IGMP, the changes, Enable-IGMP (MgmTakeInterfaceOwnership remarks).
            let igmp = owners.igmp;
            if let Some(i) = igmp {
                self.notify(i, Notification::DisableIgmp { iface });
                self.drop_memberships_of(now, i, iface, false);
            }
            self.owners.entry(iface).or_default().routing = Some(protocol);
            if let Some(i) = igmp {
                self.notify(i, Notification::EnableIgmp { iface });
            }
        }
        if let Some(p) = self.protocols.get_mut(&protocol) {
            p.keys.insert(iface);
        }
        debug!(%protocol, %iface, "interface ownership taken");
        Ok(())
    }

    /// `MgmReleaseInterfaceOwnership`: give `iface` up. Removes the caller's memberships and
    /// forced outgoing interfaces on it, deletes the MFEs whose incoming interface it owned,
    /// frees the VIF after the last key of (ifindex, family), and runs the IGMP handshake when
    /// the routing owner leaves a key IGMP also has.
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown handle, or the caller does not own `iface`.
    pub fn release_interface_ownership(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        self.protocol_ref(protocol)?;
        let owners = self.owners(iface);
        if owners.routing != Some(protocol) && owners.igmp != Some(protocol) {
            return Err(invalid(format!("protocol {protocol} does not own {iface}")));
        }
        self.release_key(now, protocol, iface, true);
        debug!(%protocol, %iface, "interface ownership released");
        Ok(())
    }

    /// `MgmGetProtocolOnInterface`: the routing owner of `iface`, else its IGMP owner.
    ///
    /// # Errors
    /// - `NotFound`: nobody owns `iface`.
    pub fn protocol_on_interface(
        &self,
        iface: InterfaceKey,
    ) -> Result<(ProtocolId, ComponentId), MgmError> {
        self.owner_of(iface)
            .and_then(|h| self.protocols.get(&h))
            .map(|p| (p.id, p.component))
            .ok_or_else(|| not_found(format!("no protocol owns {iface}")))
    }

    /// `MgmAddGroupMembershipEntry`. `rpf`: the FIB route toward the source, for (S,G) scopes
    /// (join-alert recipient when no MFE exists yet).
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown handle; the key's family differs from the scope's; the
    ///   caller does not own `iface`; no flag set; FORWARD_STATE with a non-(S,G) scope.
    /// - `NotFound`: the interface does not exist; FORWARD_STATE alone and no MFE.
    /// - `NotEnoughMemory`: `max_memberships` reached.
    #[allow(clippy::too_many_arguments)]
    pub fn add_group_membership(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        scope: SourceGroup,
        iface: InterfaceKey,
        flags: MembershipFlags,
        rpf: Option<Route>,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        let forward_mfe = self.check_membership_request(protocol, scope, iface, flags)?;
        if flags.forward_state() && forward_mfe.is_none() && !flags.join_state() {
            return Err(not_found(format!("no forwarding entry for {scope}")));
        }
        let record = (protocol, iface, scope);
        let new_record = flags.join_state() && !self.records.contains_key(&record);
        if new_record && self.records.len() >= self.config.max_memberships {
            return Err(MgmError::new(
                ErrorCode::NotEnoughMemory,
                format!(
                    "at most {} memberships may exist",
                    self.config.max_memberships
                ),
            ));
        }
        if new_record {
            self.insert_membership(now, protocol, iface, scope, rpf.as_ref());
        }
        if let Some(mk) = forward_mfe {
            self.force_oif(mk, iface, protocol);
        }
        Ok(())
    }

    /// `MgmDeleteGroupMembershipEntry`.
    ///
    /// # Errors
    /// - `InvalidParameter`: as for add (the key owned by another protocol included).
    /// - `NotFound`: the interface does not exist; no such membership (or forced outgoing
    ///   interface).
    #[allow(clippy::too_many_arguments)]
    pub fn delete_group_membership(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        scope: SourceGroup,
        iface: InterfaceKey,
        flags: MembershipFlags,
        rpf: Option<Route>,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        let forward_mfe = self.check_membership_request(protocol, scope, iface, flags)?;
        let join = flags.join_state() && self.records.contains_key(&(protocol, iface, scope));
        let forward = forward_mfe.filter(|mk| {
            self.mfes
                .get(mk)
                .is_some_and(|m| m.forced.contains(&(iface, protocol)))
        });
        if !join && forward.is_none() {
            return Err(not_found(format!(
                "protocol {protocol} has no membership {scope} on {iface}"
            )));
        }
        if join {
            self.remove_membership(now, protocol, iface, scope, rpf.as_ref(), true);
        }
        if let Some(mk) = forward {
            self.unforce_oif(mk, iface, protocol);
        }
        Ok(())
    }

    /// `MgmSetMfe`: change the upstream neighbour of an MFE.
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown handle, or the caller does not own the MFE's incoming
    ///   interface.
    /// - `NotFound`: no such MFE.
    pub fn set_mfe(
        &mut self,
        protocol: ProtocolHandle,
        family: Family,
        source: IpAddr,
        group: IpAddr,
        upstream: IpAddr,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        self.protocol_ref(protocol)?;
        let mk = (family, group, source);
        let iif = self
            .mfes
            .get(&mk)
            .map(|m| m.iif)
            .ok_or_else(|| not_found(format!("no forwarding entry for ({source}, {group})")))?;
        if self.owner_of(iif) != Some(protocol) {
            return Err(invalid(format!(
                "protocol {protocol} does not own the incoming interface {iif} of ({source}, {group})"
            )));
        }
        if let Some(m) = self.mfes.get_mut(&mk) {
            m.upstream = Some(upstream);
        }
        Ok(())
    }

    /// Answer an RPF callback: `iif` overrides the incoming interface (it must be an owned
    /// key of the MFE's family), `upstream` the upstream neighbour. `None` keeps the default.
    ///
    /// # Errors
    /// - `NotFound`: unknown or expired query.
    /// - `InvalidParameter`: unknown handle, the query was asked to another protocol or is not
    ///   an RPF query, or `iif` is not an owned key of the family (the query stays open).
    pub fn answer_rpf(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        query: QueryId,
        iif: Option<InterfaceKey>,
        upstream: Option<IpAddr>,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        let mk = self.check_answer(protocol, query, |k| matches!(k, QueryKind::Rpf))?;
        if let Some(k) = iif {
            if k.family() != mk.0
                || self.owner_of(k).is_none()
                || self.vif_of(k.ifindex, mk.0).is_none()
            {
                return Err(invalid(format!(
                    "RPF answer: {k} is not an owned interface of family {}",
                    mk.0
                )));
            }
        }
        self.queries.remove(&query);
        if let Some(m) = self.mfes.get_mut(&mk) {
            m.pending.remove(&query);
            if let Some(k) = iif {
                m.iif = k;
            }
            if upstream.is_some() {
                m.upstream = upstream;
            }
        }
        self.stage_creation(now, mk);
        Ok(())
    }

    /// Answer a creation alert: `disabled` lists the offered keys that must not forward this
    /// flow (others are ignored). The MFE is installed once every alert is answered.
    ///
    /// # Errors
    /// - `NotFound`: unknown or expired query.
    /// - `InvalidParameter`: unknown handle, or the query is another protocol's or not a
    ///   creation alert.
    pub fn answer_creation_alert(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        query: QueryId,
        disabled: &[InterfaceKey],
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        let mk = self.check_answer(protocol, query, |k| matches!(k, QueryKind::Creation { .. }))?;
        let offered = match self.queries.remove(&query) {
            Some(Query {
                kind: QueryKind::Creation { offered },
                ..
            }) => offered,
            _ => Vec::new(),
        };
        let Some(m) = self.mfes.get_mut(&mk) else {
            return Ok(());
        };
        m.pending.remove(&query);
        for k in disabled.iter().filter(|k| offered.contains(k)) {
            m.disabled.insert(*k);
            m.oifs.remove(k);
        }
        if m.pending.is_empty() {
            self.install(now, mk);
        }
        Ok(())
    }

    /// Answer a prune alert (`member_delete == false`): the MFE's timeout becomes
    /// `timeout_secs` from `now` (0: the MFE is not aged).
    ///
    /// # Errors
    /// - `NotFound`: unknown or already answered query, or the MFE is gone.
    /// - `InvalidParameter`: unknown handle, or the query is another protocol's or not a prune
    ///   alert.
    pub fn answer_prune_alert(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        query: QueryId,
        timeout_secs: u32,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        let mk = self.check_answer(protocol, query, |k| matches!(k, QueryKind::Prune))?;
        self.queries.remove(&query);
        if let Some(m) = self.mfes.get_mut(&mk) {
            m.prune_query = None;
            m.timeout_secs = timeout_secs;
        }
        self.arm_expiry(now, mk);
        Ok(())
    }

    /// `MgmGroupEnumerationStart`: snapshot the joined groups of every protocol.
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown handle.
    /// - `NotEnoughMemory`: the protocol already has [`MAX_ENUMERATIONS`] open.
    pub fn group_enumeration_start(
        &mut self,
        protocol: ProtocolHandle,
        kind: EnumKind,
    ) -> Result<EnumHandle, MgmError> {
        self.last_kernel_error = None;
        if self.protocol_ref(protocol)?.enums.len() >= MAX_ENUMERATIONS {
            return Err(MgmError::new(
                ErrorCode::NotEnoughMemory,
                format!("at most {MAX_ENUMERATIONS} group enumerations may be open at once"),
            ));
        }
        let entries: Vec<SourceGroup> = match kind {
            EnumKind::AllSources => self.scopes.keys().copied().collect(),
            EnumKind::AnySource => {
                let set: BTreeSet<SourceGroup> = self
                    .scopes
                    .keys()
                    .map(|s| SourceGroup {
                        family: s.family,
                        source: None,
                        group: s.group,
                    })
                    .collect();
                set.into_iter().collect()
            }
        };
        // As for protocol handles: never hand out 0 or an open enumeration's handle.
        while self.next_enum == 0 || self.enums.contains_key(&EnumHandle(self.next_enum)) {
            self.next_enum = self.next_enum.wrapping_add(1);
        }
        let handle = EnumHandle(self.next_enum);
        self.next_enum = self.next_enum.wrapping_add(1);
        self.enums.insert(
            handle,
            Enumeration {
                protocol,
                entries,
                position: 0,
            },
        );
        if let Some(p) = self.protocols.get_mut(&protocol) {
            p.enums.insert(handle);
        }
        Ok(handle)
    }

    /// `MgmGroupEnumerationGetNext`: up to `max` entries, and whether more remain.
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown protocol or enumeration handle, an enumeration of another
    ///   protocol, or `max == 0` (`ERROR_INSUFFICIENT_BUFFER` in MGM).
    pub fn group_enumeration_get_next(
        &mut self,
        protocol: ProtocolHandle,
        handle: EnumHandle,
        max: usize,
    ) -> Result<(Vec<SourceGroup>, bool), MgmError> {
        self.last_kernel_error = None;
        self.protocol_ref(protocol)?;
        let e = self
            .enums
            .get_mut(&handle)
            .filter(|e| e.protocol == protocol)
            .ok_or_else(|| invalid(format!("unknown group enumeration handle {}", handle.0)))?;
        if max == 0 {
            return Err(invalid("the buffer cannot hold one entry (max is 0)"));
        }
        let end = e.entries.len().min(e.position.saturating_add(max));
        let batch = e.entries[e.position..end].to_vec();
        e.position = end;
        Ok((batch, end < e.entries.len()))
    }

    /// `MgmGroupEnumerationEnd`.
    ///
    /// # Errors
    /// - `InvalidParameter`: unknown protocol or enumeration handle, or another protocol's.
    pub fn group_enumeration_end(
        &mut self,
        protocol: ProtocolHandle,
        handle: EnumHandle,
    ) -> Result<(), MgmError> {
        self.last_kernel_error = None;
        self.protocol_ref(protocol)?;
        if self
            .enums
            .get(&handle)
            .is_none_or(|e| e.protocol != protocol)
        {
            return Err(invalid(format!(
                "unknown group enumeration handle {}",
                handle.0
            )));
        }
        self.enums.remove(&handle);
        if let Some(p) = self.protocols.get_mut(&protocol) {
            p.enums.remove(&handle);
        }
        Ok(())
    }

    // ===== facts from the system =====

    /// A link, address or neighbour fact from rtnetlink. `Link` adds or updates an interface
    /// (a rename keeps its ifindex); `Removed` ends every ownership on it (owners get
    /// `InterfaceDeleted`, memberships go with the usual alerts, MFEs are updated or deleted,
    /// its VIFs are freed); addresses and neighbours feed next-hop validation;
    /// `ResyncBegin` / `ResyncEnd` mark and sweep everything not re-announced.
    pub fn handle_link(&mut self, now: Instant, event: LinkEvent) {
        match event {
            LinkEvent::Link(info) => {
                let ifindex = info.ifindex;
                match self.interfaces.get_mut(&ifindex) {
                    Some(intf) => {
                        intf.link = info;
                        intf.seen = true;
                    }
                    None => {
                        self.interfaces.insert(
                            ifindex,
                            Interface {
                                link: info,
                                addresses: BTreeMap::new(),
                                neighbours: BTreeMap::new(),
                                vif: [None, None],
                                seen: true,
                            },
                        );
                    }
                }
            }
            LinkEvent::Removed { ifindex } => self.remove_interface(now, ifindex),
            LinkEvent::AddressAdded {
                ifindex,
                addr,
                prefix_len,
            } => match self.interfaces.get_mut(&ifindex) {
                Some(intf) => {
                    intf.addresses.insert((addr, prefix_len), true);
                }
                None => debug!(%ifindex, %addr, "address on an unknown interface ignored"),
            },
            LinkEvent::AddressRemoved {
                ifindex,
                addr,
                prefix_len,
            } => {
                if let Some(intf) = self.interfaces.get_mut(&ifindex) {
                    intf.addresses.remove(&(addr, prefix_len));
                }
            }
            LinkEvent::NeighbourAdded { ifindex, addr } => {
                match self.interfaces.get_mut(&ifindex) {
                    Some(intf) => {
                        intf.neighbours.insert(addr, true);
                    }
                    None => debug!(%ifindex, %addr, "neighbour on an unknown interface ignored"),
                }
            }
            LinkEvent::NeighbourRemoved { ifindex, addr } => {
                if let Some(intf) = self.interfaces.get_mut(&ifindex) {
                    intf.neighbours.remove(&addr);
                }
            }
            LinkEvent::ResyncBegin => {
                self.resyncing = true;
                for intf in self.interfaces.values_mut() {
                    intf.seen = false;
                    intf.addresses.values_mut().for_each(|s| *s = false);
                    intf.neighbours.values_mut().for_each(|s| *s = false);
                }
            }
            LinkEvent::ResyncEnd => {
                if !self.resyncing {
                    debug!("ResyncEnd without ResyncBegin ignored");
                    return;
                }
                self.resyncing = false;
                let gone: Vec<IfIndex> = self
                    .interfaces
                    .iter()
                    .filter(|(_, i)| !i.seen)
                    .map(|(k, _)| *k)
                    .collect();
                for ifindex in gone {
                    self.remove_interface(now, ifindex);
                }
                for intf in self.interfaces.values_mut() {
                    intf.addresses.retain(|_, seen| *seen);
                    intf.neighbours.retain(|_, seen| *seen);
                }
            }
        }
    }

    /// A packet of (`source`, `group`) arrived on `vif` and the kernel has no entry for it
    /// (NOCACHE). `route` is the FIB route toward `source`.
    pub fn handle_new_packet(
        &mut self,
        now: Instant,
        family: Family,
        source: IpAddr,
        group: IpAddr,
        vif: VifIndex,
        route: Option<Route>,
    ) {
        if Family::of(source) != family || Family::of(group) != family || !group.is_multicast() {
            debug!(%source, %group, %family, "malformed new-packet fact ignored");
            return;
        }
        let Some(arrival_if) = self.ifindex_of_vif(family, vif) else {
            debug!(%source, %group, %vif, "packet on an unknown VIF ignored");
            return;
        };
        let mk = (family, group, source);
        if let Some(m) = self.mfes.get(&mk) {
            if m.stage == Stage::Installed {
                // The kernel lost an entry we installed (e.g. FRR #12878): program it again.
                let op = self.add_mfe_op(mk);
                self.actions.extend(op.map(Action::Kernel));
            }
            return;
        }
        if self.mfes.len() >= self.config.max_mfes {
            warn!(%source, %group, max = self.config.max_mfes, "MFE table full, flow dropped");
            return;
        }
        let Some(arrival) = self.owned_key_for(arrival_if, family, None) else {
            debug!(%source, %group, %vif, "packet on a VIF without owner ignored");
            return;
        };
        let from_route = route.as_ref().and_then(|r| {
            self.vif_of(r.ifindex, family)?;
            let key = self.owned_key_for(r.ifindex, family, r.gateway)?;
            Some((key, r.gateway))
        });
        let (iif, upstream) = from_route.unwrap_or((arrival, None));
        let timeout_secs = u32::try_from(self.config.mfe_timeout.as_secs()).unwrap_or(u32::MAX);
        self.mfe_order.insert(mk);
        self.mfes.insert(
            mk,
            Mfe {
                iif,
                arrival,
                upstream,
                route,
                oifs: BTreeSet::new(),
                forced: BTreeSet::new(),
                disabled: BTreeSet::new(),
                stage: Stage::Rpf,
                pending: BTreeSet::new(),
                prune_query: None,
                deadline: None,
                created: now,
                timeout_secs,
                expires: None,
                counters: MfeCounters::default(),
            },
        );
        let asked = self
            .owner_of(iif)
            .filter(|o| self.handles(*o, Callback::Rpf));
        match asked {
            Some(owner) => {
                let query = self.new_query(owner, mk, QueryKind::Rpf);
                if let Some(m) = self.mfes.get_mut(&mk) {
                    m.pending.insert(query);
                }
                self.push_notify(
                    owner,
                    Notification::Rpf {
                        query,
                        source,
                        group,
                        iif,
                        upstream,
                        arrived_on: arrival,
                    },
                );
                self.arm_deadline(now, mk);
            }
            None => self.stage_creation(now, mk),
        }
    }

    /// A decoded upcall from the multicast routing socket.
    pub fn handle_upcall(&mut self, now: Instant, upcall: Upcall, route: Option<Route>) {
        match upcall {
            Upcall::NoCache {
                family,
                source,
                group,
                vif,
            } => {
                self.handle_new_packet(now, family, source, group, vif, route);
            }
            Upcall::WrongVif {
                family,
                source,
                group,
                vif,
            } => {
                let Some(arrival) = self
                    .ifindex_of_vif(family, vif)
                    .and_then(|i| self.owned_key_for(i, family, None))
                else {
                    debug!(%source, %group, %vif, "wrong-VIF upcall on an unknown VIF ignored");
                    return;
                };
                if let Some(owner) = self.owner_of(arrival) {
                    self.notify(
                        owner,
                        Notification::WrongIf {
                            source,
                            group,
                            iface: arrival,
                        },
                    );
                }
            }
            Upcall::WholePacket {
                family,
                source,
                group,
                vif,
                wrong_vif,
                packet,
            } => {
                trace!(%family, %source, %group, %vif, wrong_vif, len = packet.len(),
                    "whole-packet upcall ignored");
            }
        }
    }

    /// Kernel counters of an MFE: traffic since the last report refreshes its expiry.
    pub fn handle_counters(
        &mut self,
        now: Instant,
        family: Family,
        source: IpAddr,
        group: IpAddr,
        counters: MfeCounters,
    ) {
        let mk = (family, group, source);
        let Some(m) = self.mfes.get_mut(&mk) else {
            return;
        };
        let grew = counters.packets > m.counters.packets;
        m.counters = counters;
        if grew && m.stage == Stage::Installed {
            self.arm_expiry(now, mk);
        }
    }

    /// The kernel refused `op` with `error`: roll back what caused it. A refused `AddVif`
    /// undoes the ownership that allocated it and is reported by
    /// [`Mgm::take_last_kernel_error`]; a refused `AddMfe` forgets the MFE (the next packet
    /// retries); refused deletions are only logged.
    pub fn handle_kernel_error(&mut self, now: Instant, op: &KernelOp, error: ErrorCode) {
        match *op {
            KernelOp::AddVif {
                family,
                vif,
                ifindex,
            } => {
                let fi = family_index(family);
                let slot = self.vifs[fi].get(usize::from(vif.0)).copied().flatten();
                if slot != Some(ifindex) {
                    debug!(%vif, %ifindex, "kernel error for a VIF no longer allocated");
                    return;
                }
                warn!(%family, %vif, %ifindex, %error, "kernel refused AddVif, rolling back");
                self.actions.retain(|a| match a {
                    Action::Kernel(KernelOp::AddMfe {
                        family: f,
                        iif,
                        oifs,
                        ..
                    }) => !(*f == family && (*iif == vif || oifs.contains(vif))),
                    Action::Kernel(KernelOp::DelVif {
                        family: f, vif: v, ..
                    }) => !(*f == family && *v == vif),
                    _ => true,
                });
                // Free the slot first so that releasing the keys queues no DelVif.
                self.vifs[fi][usize::from(vif.0)] = None;
                if let Some(intf) = self.interfaces.get_mut(&ifindex) {
                    intf.vif[fi] = None;
                }
                for (key, owners) in self.keys_on(ifindex, Some(family)) {
                    for p in [owners.routing, owners.igmp].into_iter().flatten() {
                        self.release_key(now, p, key, false);
                    }
                }
                self.last_kernel_error = Some(MgmError::new(
                    if error == ErrorCode::NotFound {
                        ErrorCode::CanNotComplete
                    } else {
                        error
                    },
                    format!("the kernel refused to add {family} VIF {vif} for interface {ifindex}"),
                ));
            }
            KernelOp::AddMfe {
                family,
                source,
                group,
                ..
            } => {
                let mk = (family, group, source);
                if self.mfes.contains_key(&mk) {
                    warn!(%source, %group, %error, "kernel refused AddMfe, entry forgotten");
                    // Installed, so this queues a DelMfe: the kernel may still hold an
                    // older version of the entry.
                    self.delete_mfe(mk);
                }
            }
            KernelOp::DelMfe { source, group, .. } => {
                debug!(%source, %group, %error, "kernel refused DelMfe (entry already gone)");
            }
            KernelOp::DelVif { vif, ifindex, .. } => {
                debug!(%vif, %ifindex, %error, "kernel refused DelVif (VIF already gone)");
            }
        }
    }

    /// Fire every timer due at or before `now`: callback deadlines (the silent protocols keep
    /// the defaults) and MFE expiries.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(at, key)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, key));
            match key {
                TimerKey::Deadline(mk) => {
                    let Some(m) = self.mfes.get_mut(&mk) else {
                        continue;
                    };
                    m.deadline = None;
                    let stage = m.stage;
                    let pending: Vec<QueryId> =
                        std::mem::take(&mut m.pending).into_iter().collect();
                    for q in pending {
                        self.queries.remove(&q);
                    }
                    match stage {
                        Stage::Rpf => self.stage_creation(now, mk),
                        Stage::Creation => self.install(now, mk),
                        Stage::Installed => {}
                    }
                }
                TimerKey::Expire(mk) => {
                    if let Some(m) = self.mfes.get_mut(&mk) {
                        m.expires = None;
                        debug!(source = %mk.2, group = %mk.1, "MFE expired");
                        self.delete_mfe(mk);
                    }
                }
            }
        }
    }

    /// The client behind `protocol` vanished: release everything it owns (as release would,
    /// with the usual alerts to others), end its enumerations, answer its queries with the
    /// defaults and deregister it. Unknown handles are ignored.
    pub fn handle_disconnect(&mut self, now: Instant, protocol: ProtocolHandle) {
        let Some(p) = self.protocols.get_mut(&protocol) else {
            return;
        };
        // Nobody is left to hear callbacks: raise none to it during the cleanup.
        p.callbacks = Callbacks::NONE;
        let keys: Vec<InterfaceKey> = p.keys.iter().copied().collect();
        for key in keys {
            self.release_key(now, protocol, key, true);
        }
        self.forget_protocol(Some(now), protocol);
        debug!(%protocol, "protocol disconnected and cleaned up");
    }

    /// Queue the deletion of everything installed (every MFE, then every VIF) and forget all
    /// state.
    pub fn shutdown(&mut self) {
        let installed: Vec<MfeKey> = self
            .mfe_order
            .iter()
            .filter(|k| {
                self.mfes
                    .get(k)
                    .is_some_and(|m| m.stage == Stage::Installed)
            })
            .copied()
            .collect();
        for (family, group, source) in installed {
            self.actions.push_back(Action::Kernel(KernelOp::DelMfe {
                family,
                source,
                group,
            }));
        }
        for family in [Family::Ipv4, Family::Ipv6] {
            for (vif, slot) in self.vifs[family_index(family)].iter_mut().enumerate() {
                if let Some(ifindex) = slot.take() {
                    let vif = VifIndex(u16::try_from(vif).unwrap_or(u16::MAX));
                    self.actions.push_back(Action::Kernel(KernelOp::DelVif {
                        family,
                        vif,
                        ifindex,
                    }));
                }
            }
        }
        self.protocols.clear();
        self.interfaces.clear();
        self.owners.clear();
        self.records.clear();
        self.scopes.clear();
        self.mfes.clear();
        self.mfe_order.clear();
        self.queries.clear();
        self.timers.clear();
        self.enums.clear();
        self.resyncing = false;
    }

    /// The error of the last refused kernel operation that undid a request (a refused
    /// `AddVif`), if any; taken once. Cleared at the start of every request.
    pub fn take_last_kernel_error(&mut self) -> Option<MgmError> {
        self.last_kernel_error.take()
    }

    // ===== reads =====

    /// Who owns `iface`.
    pub fn owners(&self, iface: InterfaceKey) -> Owners {
        self.owners.get(&iface).copied().unwrap_or_default()
    }

    /// The VIF of (ifindex, family), when one is allocated.
    pub fn vif_of(&self, ifindex: IfIndex, family: Family) -> Option<VifIndex> {
        self.interfaces
            .get(&ifindex)
            .and_then(|i| i.vif[family_index(family)])
    }

    /// The interface behind a VIF.
    pub fn ifindex_of_vif(&self, family: Family, vif: VifIndex) -> Option<IfIndex> {
        self.vifs[family_index(family)]
            .get(usize::from(vif.0))
            .copied()
            .flatten()
    }

    /// One known interface.
    pub fn interface(&self, ifindex: IfIndex) -> Option<InterfaceInfo> {
        self.interfaces.get(&ifindex).map(|i| InterfaceInfo {
            link: i.link.clone(),
            addresses: i.addresses.keys().copied().collect(),
            vif_v4: i.vif[0],
            vif_v6: i.vif[1],
        })
    }

    /// The ifindex of the interface called `name`.
    pub fn interface_by_name(&self, name: &str) -> Option<IfIndex> {
        self.interfaces
            .iter()
            .find(|(_, i)| i.link.name == name)
            .map(|(k, _)| *k)
    }

    /// Every known interface, by ifindex.
    pub fn interfaces(&self) -> Vec<InterfaceInfo> {
        self.interfaces
            .keys()
            .filter_map(|i| self.interface(*i))
            .collect()
    }

    /// Every registered protocol, by handle.
    pub fn protocols(&self) -> Vec<ProtocolInfo> {
        self.protocols
            .keys()
            .filter_map(|h| self.protocol(*h))
            .collect()
    }

    /// One registered protocol.
    pub fn protocol(&self, handle: ProtocolHandle) -> Option<ProtocolInfo> {
        self.protocols.get(&handle).map(|p| ProtocolInfo {
            handle,
            protocol_id: p.id,
            component_id: p.component,
            callbacks: p.callbacks.iter().collect(),
            interfaces: p.keys.iter().copied().collect(),
        })
    }

    /// Every owned key, in key order.
    pub fn owned_interfaces(&self) -> Vec<OwnerInfo> {
        self.owners
            .iter()
            .filter_map(|(k, o)| {
                Some(OwnerInfo {
                    iface: *k,
                    routing: o.routing,
                    igmp: o.igmp,
                    vif: self.vif_of(k.ifindex, k.family())?,
                })
            })
            .collect()
    }

    /// Every JOIN_STATE membership record, by protocol then key then scope.
    pub fn memberships(&self) -> Vec<MembershipInfo> {
        self.records
            .keys()
            .map(|&(protocol, iface, scope)| MembershipInfo {
                protocol,
                iface,
                scope,
            })
            .collect()
    }

    /// `MgmGetMfe` / `MgmGetMfeStats`: one MFE (pending ones included, `installed: false`).
    pub fn mfe(
        &self,
        now: Instant,
        family: Family,
        source: IpAddr,
        group: IpAddr,
    ) -> Option<MfeInfo> {
        let mk = (family, group, source);
        self.mfes.get(&mk).map(|m| self.mfe_info(now, mk, m))
    }

    /// `MgmGetFirstMfe` / `MgmGetNextMfe`: up to `max` MFEs of `family` in (group, source)
    /// order, strictly after the cursor `after` = (source, group) (which need not exist), and
    /// whether more remain.
    pub fn mfes_after(
        &self,
        now: Instant,
        family: Family,
        after: Option<(IpAddr, IpAddr)>,
        max: usize,
    ) -> (Vec<MfeInfo>, bool) {
        // A cursor of the other family is past every MFE of `family` (an IPv6 address sorts
        // after every IPv4 one); its range would run backwards, which `range` refuses.
        if after.is_some_and(|(s, g)| Family::of(s) != family || Family::of(g) != family) {
            return (Vec::new(), false);
        }
        let start = match after {
            Some((source, group)) => Bound::Excluded((family, group, source)),
            None => Bound::Included((family, family.unspecified(), family.unspecified())),
        };
        let end = Bound::Included((family, max_addr(family), max_addr(family)));
        let mut iter = self.mfe_order.range((start, end));
        let out: Vec<MfeInfo> = iter
            .by_ref()
            .take(max)
            .filter_map(|k| self.mfes.get(k).map(|m| self.mfe_info(now, *k, m)))
            .collect();
        (out, iter.next().is_some())
    }

    /// Number of MFEs (pending ones included).
    pub fn mfe_count(&self) -> usize {
        self.mfes.len()
    }

    // ===== what to do next =====

    /// The next thing to do: a kernel operation to apply or a callback to deliver.
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// When [`Mgm::handle_timeout`] must next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.first().map(|(at, _)| *at)
    }
}

mod oif;
mod rules;

#[cfg(test)]
mod tests {
    use super::*;

    // Given handles about to wrap (after 2^32 registrations or enumerations),
    // When more are handed out,
    // Then 0 and the ones still in use are skipped: no live protocol or enumeration is
    // replaced by a newcomer.
    #[test]
    fn wrapped_handles_skip_live_ones() {
        let mut mgm = Mgm::new(Config::default());
        let live = mgm
            .register_protocol(ProtocolId::PIM_SM, ComponentId(0), Callbacks::NONE)
            .unwrap();
        assert_eq!(live, ProtocolHandle(1));
        let e = mgm
            .group_enumeration_start(live, EnumKind::AllSources)
            .unwrap();
        assert_eq!(e, EnumHandle(1));
        mgm.next_handle = u32::MAX;
        mgm.next_enum = u32::MAX;
        let a = mgm
            .register_protocol(ProtocolId::STATIC, ComponentId(0), Callbacks::NONE)
            .unwrap();
        let b = mgm
            .register_protocol(ProtocolId::STATIC, ComponentId(1), Callbacks::NONE)
            .unwrap();
        assert_eq!((a, b), (ProtocolHandle(u32::MAX), ProtocolHandle(2)));
        assert_eq!(
            mgm.protocol(live).map(|p| p.protocol_id),
            Some(ProtocolId::PIM_SM)
        );
        let e1 = mgm
            .group_enumeration_start(live, EnumKind::AllSources)
            .unwrap();
        let e2 = mgm
            .group_enumeration_start(live, EnumKind::AllSources)
            .unwrap();
        assert_eq!((e1, e2), (EnumHandle(u32::MAX), EnumHandle(2)));
        assert!(mgm.group_enumeration_end(live, e).is_ok());
    }
}
