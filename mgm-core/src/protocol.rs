//! Protocol identities, registration handles and the callbacks a protocol handles.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A protocol ID (`dwProtocolId`, routprot.h values).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProtocolId(pub u32);

impl ProtocolId {
    /// `PROTO_IP_NETMGMT` (3): static routes, used by mgmd's built-in static protocol.
    pub const STATIC: ProtocolId = ProtocolId(3);
    /// `PROTO_IP_IGMP` (10).
    pub const IGMP: ProtocolId = ProtocolId(10);
    /// `MS_IP_IGMP` = PROTOCOL_ID(PROTO_TYPE_MCAST, PROTO_VENDOR_MS1, PROTO_IP_IGMP).
    pub const MS_IGMP: ProtocolId = ProtocolId(0x4137_000A);
    /// `PROTO_IP_PIMSM` (0x4137_0015 is MS_IP_PIMSM; plain PIM-SM uses 21 here).
    pub const PIM_SM: ProtocolId = ProtocolId(21);

    /// Whether a client registered with this ID gets the IGMP rules (coexistence with a
    /// routing owner, the Disable/Enable-IGMP handshake, local join/leave on the owner).
    pub fn is_igmp(self) -> bool {
        self == ProtocolId::IGMP || self == ProtocolId::MS_IGMP
    }
}

impl fmt::Display for ProtocolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A component (instance) ID (`dwComponentId`); (protocol ID, component ID) names one client.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ComponentId(pub u32);

/// A registration handle, issued by `register_protocol`, never reused by the same `Mgm`.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProtocolHandle(pub u32);

impl fmt::Display for ProtocolHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One MGM callback (the slots of `ROUTING_PROTOCOL_CONFIG`, plus `InterfaceDeleted`, our
/// Linux addition for links that vanish).
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Callback {
    /// `PMGM_CREATION_ALERT_CALLBACK`.
    CreationAlert,
    /// `PMGM_DISABLE_IGMP_CALLBACK`.
    DisableIgmp,
    /// `PMGM_ENABLE_IGMP_CALLBACK`.
    EnableIgmp,
    /// An owned interface disappeared from the kernel; its ownership ended.
    InterfaceDeleted,
    /// `PMGM_JOIN_ALERT_CALLBACK`.
    JoinAlert,
    /// `PMGM_LOCAL_JOIN_CALLBACK`.
    LocalJoin,
    /// `PMGM_LOCAL_LEAVE_CALLBACK`.
    LocalLeave,
    /// `PMGM_PRUNE_ALERT_CALLBACK`.
    PruneAlert,
    /// `PMGM_RPF_CALLBACK`.
    Rpf,
    /// `PMGM_WRONG_IF_CALLBACK`.
    WrongIf,
}

impl Callback {
    /// Every callback, in declaration order.
    pub const ALL: [Callback; 10] = [
        Callback::CreationAlert,
        Callback::DisableIgmp,
        Callback::EnableIgmp,
        Callback::InterfaceDeleted,
        Callback::JoinAlert,
        Callback::LocalJoin,
        Callback::LocalLeave,
        Callback::PruneAlert,
        Callback::Rpf,
        Callback::WrongIf,
    ];

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// The set of callbacks a protocol handles (the non-NULL pointers of its
/// `ROUTING_PROTOCOL_CONFIG`). Callbacks outside the set are never raised for it.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
pub struct Callbacks(u16);

impl Callbacks {
    /// No callbacks.
    pub const NONE: Callbacks = Callbacks(0);

    /// Every callback.
    pub fn all() -> Callbacks {
        Callback::ALL.iter().copied().collect()
    }

    /// Whether `callback` is handled.
    pub fn contains(&self, callback: Callback) -> bool {
        self.0 & callback.bit() != 0
    }

    /// Add `callback`.
    pub fn insert(&mut self, callback: Callback) {
        self.0 |= callback.bit();
    }

    /// The handled callbacks.
    pub fn iter(&self) -> impl Iterator<Item = Callback> + '_ {
        Callback::ALL.into_iter().filter(|c| self.contains(*c))
    }
}

impl FromIterator<Callback> for Callbacks {
    fn from_iter<I: IntoIterator<Item = Callback>>(iter: I) -> Callbacks {
        let mut set = Callbacks::NONE;
        for c in iter {
            set.insert(c);
        }
        set
    }
}
