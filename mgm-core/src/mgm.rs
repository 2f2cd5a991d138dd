//! [`Mgm`]: every MGM function, callback and rule. CONTRACT SKELETON: the signatures below are
//! the public API the agent is written against; the bodies are being implemented.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::action::{Action, KernelOp, QueryId};
use crate::addr::{Family, IfIndex, InterfaceKey, SourceGroup, VifIndex};
use crate::error::{ErrorCode, MgmError};
use crate::link::{LinkEvent, LinkInfo, MfeCounters, Route, Upcall};
use crate::protocol::{Callbacks, ComponentId, ProtocolHandle, ProtocolId};

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

/// The multicast group manager.
pub struct Mgm {
    _config: Config,
}

#[allow(unused_variables, missing_docs)]
impl Mgm {
    pub fn new(config: Config) -> Mgm {
        todo!()
    }
    pub fn config(&self) -> &Config {
        todo!()
    }

    // ===== requests from protocols =====
    pub fn register_protocol(
        &mut self,
        protocol_id: ProtocolId,
        component_id: ComponentId,
        callbacks: Callbacks,
    ) -> Result<ProtocolHandle, MgmError> {
        todo!()
    }
    pub fn deregister_protocol(&mut self, protocol: ProtocolHandle) -> Result<(), MgmError> {
        todo!()
    }
    pub fn take_interface_ownership(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
    ) -> Result<(), MgmError> {
        todo!()
    }
    pub fn release_interface_ownership(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        iface: InterfaceKey,
    ) -> Result<(), MgmError> {
        todo!()
    }
    pub fn protocol_on_interface(
        &self,
        iface: InterfaceKey,
    ) -> Result<(ProtocolId, ComponentId), MgmError> {
        todo!()
    }
    /// `rpf`: the FIB route toward the source, for (S,G) scopes (join-alert recipient).
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
        todo!()
    }
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
        todo!()
    }
    pub fn set_mfe(
        &mut self,
        protocol: ProtocolHandle,
        family: Family,
        source: IpAddr,
        group: IpAddr,
        upstream: IpAddr,
    ) -> Result<(), MgmError> {
        todo!()
    }
    pub fn answer_rpf(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        query: QueryId,
        iif: Option<InterfaceKey>,
        upstream: Option<IpAddr>,
    ) -> Result<(), MgmError> {
        todo!()
    }
    pub fn answer_creation_alert(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        query: QueryId,
        disabled: &[InterfaceKey],
    ) -> Result<(), MgmError> {
        todo!()
    }
    pub fn answer_prune_alert(
        &mut self,
        now: Instant,
        protocol: ProtocolHandle,
        query: QueryId,
        timeout_secs: u32,
    ) -> Result<(), MgmError> {
        todo!()
    }
    pub fn group_enumeration_start(
        &mut self,
        protocol: ProtocolHandle,
        kind: EnumKind,
    ) -> Result<EnumHandle, MgmError> {
        todo!()
    }
    pub fn group_enumeration_get_next(
        &mut self,
        protocol: ProtocolHandle,
        handle: EnumHandle,
        max: usize,
    ) -> Result<(Vec<SourceGroup>, bool), MgmError> {
        todo!()
    }
    pub fn group_enumeration_end(
        &mut self,
        protocol: ProtocolHandle,
        handle: EnumHandle,
    ) -> Result<(), MgmError> {
        todo!()
    }

    // ===== facts from the system =====
    pub fn handle_link(&mut self, now: Instant, event: LinkEvent) {
        todo!()
    }
    pub fn handle_new_packet(
        &mut self,
        now: Instant,
        family: Family,
        source: IpAddr,
        group: IpAddr,
        vif: VifIndex,
        route: Option<Route>,
    ) {
        todo!()
    }
    pub fn handle_upcall(&mut self, now: Instant, upcall: Upcall, route: Option<Route>) {
        todo!()
    }
    pub fn handle_counters(
        &mut self,
        now: Instant,
        family: Family,
        source: IpAddr,
        group: IpAddr,
        counters: MfeCounters,
    ) {
        todo!()
    }
    pub fn handle_kernel_error(&mut self, now: Instant, op: &KernelOp, error: ErrorCode) {
        todo!()
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        todo!()
    }
    pub fn handle_disconnect(&mut self, now: Instant, protocol: ProtocolHandle) {
        todo!()
    }
    pub fn shutdown(&mut self) {
        todo!()
    }

    // ===== reads =====
    pub fn owners(&self, iface: InterfaceKey) -> Owners {
        todo!()
    }
    pub fn vif_of(&self, ifindex: IfIndex, family: Family) -> Option<VifIndex> {
        todo!()
    }
    pub fn ifindex_of_vif(&self, family: Family, vif: VifIndex) -> Option<IfIndex> {
        todo!()
    }
    pub fn interface(&self, ifindex: IfIndex) -> Option<InterfaceInfo> {
        todo!()
    }
    pub fn interface_by_name(&self, name: &str) -> Option<IfIndex> {
        todo!()
    }
    pub fn interfaces(&self) -> Vec<InterfaceInfo> {
        todo!()
    }
    pub fn protocols(&self) -> Vec<ProtocolInfo> {
        todo!()
    }
    pub fn protocol(&self, handle: ProtocolHandle) -> Option<ProtocolInfo> {
        todo!()
    }
    pub fn owned_interfaces(&self) -> Vec<OwnerInfo> {
        todo!()
    }
    pub fn memberships(&self) -> Vec<MembershipInfo> {
        todo!()
    }
    pub fn mfe(&self, now: Instant, family: Family, source: IpAddr, group: IpAddr)
        -> Option<MfeInfo> {
        todo!()
    }
    pub fn mfes_after(
        &self,
        now: Instant,
        family: Family,
        after: Option<(IpAddr, IpAddr)>,
        max: usize,
    ) -> (Vec<MfeInfo>, bool) {
        todo!()
    }
    pub fn mfe_count(&self) -> usize {
        todo!()
    }

    // ===== what to do next =====
    #[must_use]
    pub fn poll_action(&mut self) -> Option<Action> {
        todo!()
    }
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!()
    }
}
