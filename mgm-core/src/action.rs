//! What the core asks its caller to do: program the kernel, or deliver a callback.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::addr::{Family, IfIndex, InterfaceKey, SourceGroup, VifIndex, VifSet};
use crate::protocol::ProtocolHandle;

/// One output of the core, drained with `Mgm::poll_action`.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Action {
    /// Program the kernel multicast routing table. Apply in order; on failure call
    /// `Mgm::handle_kernel_error` with this op before draining further.
    Kernel(KernelOp),
    /// Deliver an MGM callback to one protocol.
    Notify {
        /// Recipient.
        protocol: ProtocolHandle,
        /// The callback and its arguments.
        notification: Notification,
    },
}

/// A kernel multicast routing operation (names mirror `MRT_*`).
#[derive(Clone, Debug, Eq, Hash, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum KernelOp {
    /// `MRT_ADD_MFC` / `MRT6_ADD_MFC`: add, or replace in place, the entry for (source, group)
    /// with incoming VIF `iif` and outgoing VIFs `oifs` (TTL threshold 1 each). An empty
    /// `oifs` is a negative entry: packets are dropped and counted.
    AddMfe {
        /// Family.
        family: Family,
        /// Source.
        source: IpAddr,
        /// Group.
        group: IpAddr,
        /// Incoming VIF.
        iif: VifIndex,
        /// Outgoing VIFs.
        oifs: VifSet,
    },
    /// `MRT_ADD_VIF` (`VIFF_USE_IFINDEX`) / `MRT6_ADD_MIF`.
    AddVif {
        /// Family.
        family: Family,
        /// VIF number allocated by the core.
        vif: VifIndex,
        /// The interface behind it.
        ifindex: IfIndex,
    },
    /// `MRT_DEL_MFC` / `MRT6_DEL_MFC`.
    DelMfe {
        /// Family.
        family: Family,
        /// Source.
        source: IpAddr,
        /// Group.
        group: IpAddr,
    },
    /// `MRT_DEL_VIF` / `MRT6_DEL_MIF`. After a link was deleted the kernel has already removed
    /// the VIF, so a failure of this op is expected then and only logged.
    DelVif {
        /// Family.
        family: Family,
        /// VIF number.
        vif: VifIndex,
        /// The interface it was bound to.
        ifindex: IfIndex,
    },
}

/// Identifies an answerable callback (RPF, creation alert, prune alert) so that the answer can
/// be matched to it. Unique per `Mgm`.
#[derive(Clone, Copy, Debug, Eq, Hash, Ord, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct QueryId(pub u64);

/// One outgoing interface offered in a creation alert (`MGM_IF_ENTRY`).
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
pub struct OifEntry {
    /// The interface.
    pub iface: InterfaceKey,
    /// `bIGMP`: IGMP is also enabled on the interface (receivers may be IGMP-learned).
    pub igmp: bool,
    /// `bIsEnabled`: the default is true; the protocol may answer with it disabled.
    pub enabled: bool,
}

/// An MGM callback, as data.
#[derive(Clone, Debug, Eq, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Notification {
    /// `PMGM_CREATION_ALERT_CALLBACK`: a new MFE will forward to these of the recipient's
    /// interfaces. Answer with `Mgm::answer_creation_alert` before the deadline to disable
    /// some; silence keeps them all.
    CreationAlert {
        /// Answer handle.
        query: QueryId,
        /// Source.
        source: IpAddr,
        /// Group.
        group: IpAddr,
        /// Incoming interface of the new MFE.
        iif: InterfaceKey,
        /// The recipient's outgoing interfaces in it.
        oifs: Vec<OifEntry>,
    },
    /// `PMGM_DISABLE_IGMP_CALLBACK`: stop adding and deleting memberships on `iface` until
    /// `EnableIgmp`.
    DisableIgmp {
        /// The interface whose ownership is changing.
        iface: InterfaceKey,
    },
    /// `PMGM_ENABLE_IGMP_CALLBACK`: the ownership change is done; re-add every membership on
    /// `iface` (after returning from the callback).
    EnableIgmp {
        /// The interface.
        iface: InterfaceKey,
    },
    /// An owned interface was deleted from the kernel; the ownership ended.
    InterfaceDeleted {
        /// The interface.
        iface: InterfaceKey,
    },
    /// `PMGM_JOIN_ALERT_CALLBACK`: receivers for `scope` appeared on interfaces of other
    /// protocols (`member_update`), or an MFE's outgoing list became non-empty.
    JoinAlert {
        /// (S,G), (*,G) or (*,*).
        scope: SourceGroup,
        /// `bMemberUpdate`: true when caused by a membership add.
        member_update: bool,
    },
    /// `PMGM_LOCAL_JOIN_CALLBACK`: IGMP added a membership on an interface the recipient owns.
    LocalJoin {
        /// The membership.
        scope: SourceGroup,
        /// The interface.
        iface: InterfaceKey,
    },
    /// `PMGM_LOCAL_LEAVE_CALLBACK`: IGMP deleted a membership on an interface the recipient
    /// owns.
    LocalLeave {
        /// The membership.
        scope: SourceGroup,
        /// The interface.
        iface: InterfaceKey,
    },
    /// `PMGM_PRUNE_ALERT_CALLBACK`: receivers for `scope` went away (`member_delete`), or the
    /// MFE's outgoing list became empty (then `query` is set and the recipient may answer
    /// with a cache timeout; the default is `timeout` seconds).
    PruneAlert {
        /// Answer handle when the alert is answerable (`member_delete == false`).
        query: Option<QueryId>,
        /// (S,G), (*,G) or (*,*).
        scope: SourceGroup,
        /// The interface concerned, when there is one.
        iface: Option<InterfaceKey>,
        /// `bMemberDelete`.
        member_delete: bool,
        /// The MFE's current timeout in seconds (`*pdwTimeout` in).
        timeout: u32,
    },
    /// `PMGM_RPF_CALLBACK`: an MFE for (source, group) is being created with incoming
    /// interface `iif` (from the FIB). Answer with `Mgm::answer_rpf` before the deadline to
    /// override it; silence keeps it.
    Rpf {
        /// Answer handle.
        query: QueryId,
        /// Source.
        source: IpAddr,
        /// Group.
        group: IpAddr,
        /// Expected incoming interface.
        iif: InterfaceKey,
        /// Upstream neighbour toward the source (the route's gateway), if any.
        upstream: Option<IpAddr>,
        /// Interface the packet actually arrived on.
        arrived_on: InterfaceKey,
    },
    /// `PMGM_WRONG_IF_CALLBACK`: a packet of (source, group) arrived on `iface`, which is not
    /// the MFE's incoming interface.
    WrongIf {
        /// Source.
        source: IpAddr,
        /// Group.
        group: IpAddr,
        /// Arrival interface.
        iface: InterfaceKey,
    },
}
