//! Property tests: random operation sequences from several protocols, with invariants checked
//! after every step against the core's reads and against a tiny model kernel fed with every
//! emitted `KernelOp`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use common::*;
use mgm_core::{
    Action, Callbacks, Config, ErrorCode, Family, IfIndex, InterfaceKey, KernelOp, LinkEvent,
    MembershipFlags, MfeCounters, Notification, ProtocolHandle, ProtocolId, QueryId, SourceGroup,
    Upcall, VifIndex, VifSet, MAX_VIFS,
};
use proptest::prelude::*;

const IFACES: u32 = 4;

/// The kernel's multicast routing table, as far as the core's operations go.
#[derive(Default)]
struct ModelKernel {
    vifs: BTreeMap<(Family, u16), IfIndex>,
    mfc: BTreeMap<(Family, IpAddr, IpAddr), (VifIndex, VifSet)>,
    /// Refuse the next AddVif (an injected failure).
    fail_next_add_vif: bool,
}

impl ModelKernel {
    fn apply(&mut self, op: &KernelOp) -> Result<(), ErrorCode> {
        match *op {
            KernelOp::AddVif {
                family,
                vif,
                ifindex,
            } => {
                if std::mem::take(&mut self.fail_next_add_vif) {
                    return Err(ErrorCode::CanNotComplete);
                }
                if vif.0 >= MAX_VIFS || self.vifs.contains_key(&(family, vif.0)) {
                    return Err(ErrorCode::AlreadyExists);
                }
                self.vifs.insert((family, vif.0), ifindex);
            }
            KernelOp::DelVif { family, vif, .. } => {
                self.vifs
                    .remove(&(family, vif.0))
                    .ok_or(ErrorCode::NotFound)?;
            }
            KernelOp::AddMfe {
                family,
                source,
                group,
                iif,
                oifs,
            } => {
                let missing = std::iter::once(iif)
                    .chain(oifs.iter())
                    .any(|v| !self.vifs.contains_key(&(family, v.0)));
                if missing {
                    return Err(ErrorCode::InvalidParameter);
                }
                self.mfc.insert((family, source, group), (iif, oifs));
            }
            KernelOp::DelMfe {
                family,
                source,
                group,
            } => {
                self.mfc
                    .remove(&(family, source, group))
                    .ok_or(ErrorCode::NotFound)?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Op {
    Register(usize),
    Deregister(usize),
    Disconnect(usize),
    Take(usize, u32, bool, bool),
    Release(usize, u32, bool, bool),
    Membership {
        add: bool,
        slot: usize,
        scope: u8,
        ifindex: u32,
        v6: bool,
        flags: u32,
        rpf: Option<u32>,
    },
    Packet {
        v6: bool,
        source: u8,
        group: u8,
        vif: u16,
        route: Option<u32>,
    },
    WrongVif {
        v6: bool,
        source: u8,
        group: u8,
        vif: u16,
    },
    Counters {
        v6: bool,
        source: u8,
        group: u8,
        packets: u64,
    },
    Advance(u64),
    LinkRemoved(u32),
    LinkAdded(u32),
    AnswerRpf {
        query: usize,
        iif: Option<(u32, bool)>,
    },
    AnswerCreation {
        query: usize,
        disable_first: bool,
    },
    AnswerPrune {
        query: usize,
        secs: u32,
    },
    FailNextAddVif,
}

fn op() -> impl Strategy<Value = Op> {
    let slot = 0..4usize;
    let ifindex = 1..=IFACES;
    prop_oneof![
        2 => slot.clone().prop_map(Op::Register),
        1 => slot.clone().prop_map(Op::Deregister),
        1 => slot.clone().prop_map(Op::Disconnect),
        8 => (slot.clone(), ifindex.clone(), prop::bool::weighted(0.3), prop::bool::weighted(0.2))
            .prop_map(|(s, i, v6, nh)| Op::Take(s, i, v6, nh)),
        2 => (slot.clone(), ifindex.clone(), any::<bool>(), prop::bool::weighted(0.2))
            .prop_map(|(s, i, v6, nh)| Op::Release(s, i, v6, nh)),
        20 => (prop::bool::weighted(0.6), slot.clone(),
               prop_oneof![Just(0u8), Just(1), Just(2), Just(2), Just(3), Just(3)],
               ifindex.clone(), prop::bool::weighted(0.3),
               prop_oneof![Just(1u32), Just(1), Just(1), Just(3), Just(2), Just(0)],
               prop::option::of(ifindex.clone()))
            .prop_map(|(add, slot, scope, ifindex, v6, flags, rpf)| Op::Membership {
                add, slot, scope, ifindex, v6, flags, rpf
            }),
        6 => (prop::bool::weighted(0.3), 0..3u8, 0..3u8, 0..5u16, prop::option::of(ifindex.clone()))
            .prop_map(|(v6, source, group, vif, route)| Op::Packet { v6, source, group, vif, route }),
        1 => (any::<bool>(), 0..3u8, 0..3u8, 0..5u16)
            .prop_map(|(v6, source, group, vif)| Op::WrongVif { v6, source, group, vif }),
        2 => (any::<bool>(), 0..3u8, 0..3u8, 0..4u64)
            .prop_map(|(v6, source, group, packets)| Op::Counters { v6, source, group, packets }),
        3 => prop_oneof![Just(0u64), Just(1), Just(100), Just(1000)].prop_map(Op::Advance),
        1 => ifindex.clone().prop_map(Op::LinkRemoved),
        2 => ifindex.clone().prop_map(Op::LinkAdded),
        3 => (0..8usize, prop::option::of((ifindex.clone(), any::<bool>())))
            .prop_map(|(query, iif)| Op::AnswerRpf { query, iif }),
        3 => (0..8usize, any::<bool>())
            .prop_map(|(query, disable_first)| Op::AnswerCreation { query, disable_first }),
        2 => (0..8usize, prop_oneof![Just(0u32), Just(5), Just(60)])
            .prop_map(|(query, secs)| Op::AnswerPrune { query, secs }),
        1 => Just(Op::FailNextAddVif),
    ]
}

fn family(v6: bool) -> Family {
    if v6 {
        Family::Ipv6
    } else {
        Family::Ipv4
    }
}

fn source(v6: bool, i: u8) -> IpAddr {
    if v6 {
        ip(&format!("fd00::{}", i + 1))
    } else {
        ip(&format!("10.0.0.{}", i + 1))
    }
}

fn group(v6: bool, i: u8) -> IpAddr {
    if v6 {
        ip(&format!("ff3e::{}", i + 1))
    } else {
        ip(&format!("239.1.1.{}", i + 1))
    }
}

fn neighbour(v6: bool, ifindex: u32) -> IpAddr {
    if v6 {
        ip(&format!("fd00:{ifindex}::9"))
    } else {
        ip(&format!("10.{ifindex}.0.9"))
    }
}

fn iface(ifindex: u32, v6: bool, nh: bool) -> InterfaceKey {
    let f = family(v6);
    InterfaceKey {
        ifindex: IfIndex(ifindex),
        next_hop: if nh {
            neighbour(v6, ifindex)
        } else {
            f.unspecified()
        },
    }
}

struct World {
    h: Harness,
    kernel: ModelKernel,
    slots: [Option<ProtocolHandle>; 4],
    /// Answerable queries seen in notifications: (recipient, query, kind).
    queries: Vec<(ProtocolHandle, QueryId, char, Vec<InterfaceKey>)>,
    /// (source, group, key) ever added with FORWARD_STATE successfully.
    forced: BTreeSet<(IpAddr, IpAddr, InterfaceKey)>,
    /// Every membership record with its alert identity (the recording protocol, or the
    /// routing owner of the key for IGMP's records there): the join/prune-alert oracle.
    identities: BTreeMap<Record, ProtocolHandle>,
    /// Notifications of the current step.
    notes: Vec<(ProtocolHandle, Notification)>,
}

type Record = (ProtocolHandle, InterfaceKey, SourceGroup);

/// What the alert oracle needs to know from before a step.
struct Before {
    records: BTreeSet<Record>,
    owners: BTreeMap<InterfaceKey, (Option<ProtocolHandle>, Option<ProtocolHandle>)>,
    iifs: BTreeMap<(IpAddr, IpAddr), InterfaceKey>,
}

impl Before {
    /// The owner of the RPF interface toward S: the MFE's iif, else the route's interface.
    fn rpf_owner(&self, scope: SourceGroup, rpf_if: Option<u32>) -> Option<ProtocolHandle> {
        let owner_of = |k: &InterfaceKey| self.owners.get(k).and_then(|(r, i)| r.or(*i));
        let (s, g) = (scope.source?, scope.group?);
        if let Some(iif) = self.iifs.get(&(s, g)) {
            return owner_of(iif);
        }
        let ifindex = IfIndex(rpf_if?);
        let link = InterfaceKey::link(ifindex, scope.family);
        if self.owners.contains_key(&link) {
            return owner_of(&link);
        }
        let key = self
            .owners
            .keys()
            .find(|k| k.ifindex == ifindex && k.family() == scope.family)?;
        owner_of(key)
    }
}

const SLOT_IDS: [ProtocolId; 4] = [
    ProtocolId::PIM_SM,
    ProtocolId(0x4137_0004),
    ProtocolId::STATIC,
    ProtocolId::IGMP,
];

fn slot_callbacks(slot: usize) -> Callbacks {
    match slot {
        0 | 3 => Callbacks::all(),
        1 => alerts_only(),
        _ => Callbacks::NONE,
    }
}

impl World {
    fn new() -> World {
        let config = Config {
            max_vifs: 5,
            max_mfes: 20,
            ..Config::default()
        };
        let mut w = World {
            h: Harness::with_config(config),
            kernel: ModelKernel::default(),
            slots: [None; 4],
            queries: Vec::new(),
            forced: BTreeSet::new(),
            identities: BTreeMap::new(),
            notes: Vec::new(),
        };
        for i in 1..=IFACES {
            w.link_added(i);
        }
        w
    }

    fn link_added(&mut self, ifindex: u32) {
        let now = self.h.now;
        let m = &mut self.h.mgm;
        m.handle_link(now, LinkEvent::Link(link_info(ifindex)));
        for v6 in [false, true] {
            let addr = neighbour(v6, ifindex);
            m.handle_link(
                now,
                LinkEvent::NeighbourAdded {
                    ifindex: IfIndex(ifindex),
                    addr,
                },
            );
        }
    }

    fn handle(&self, slot: usize) -> ProtocolHandle {
        // A stale or never-issued handle exercises the InvalidParameter paths.
        self.slots[slot].unwrap_or(ProtocolHandle(1000 + slot as u32))
    }

    fn apply(&mut self, op: &Op) {
        self.notes.clear();
        let before = Before {
            records: self.records(),
            owners: self
                .h
                .mgm
                .owned_interfaces()
                .into_iter()
                .map(|o| (o.iface, (o.routing, o.igmp)))
                .collect(),
            iifs: [Family::Ipv4, Family::Ipv6]
                .into_iter()
                .flat_map(|f| self.h.mgm.mfes_after(self.h.now, f, None, usize::MAX).0)
                .map(|e| ((e.source, e.group), e.iif))
                .collect(),
        };
        self.step(op);
        self.check_alerts(op, &before);
    }

    fn records(&self) -> BTreeSet<Record> {
        self.h
            .mgm
            .memberships()
            .into_iter()
            .map(|m| (m.protocol, m.iface, m.scope))
            .collect()
    }

    /// The join/prune-alert rules (spec 3.3, 3.4, 5.8), checked on every single membership
    /// add or delete request against an independent count of identities and RPF owners.
    fn check_alerts(&mut self, op: &Op, before: &Before) {
        let rpf_if = match op {
            Op::Membership { rpf, .. } => *rpf,
            _ => None,
        };
        let after = self.records();
        let added: Vec<Record> = after.difference(&before.records).copied().collect();
        let removed: Vec<Record> = before.records.difference(&after).copied().collect();
        let is_request = matches!(op, Op::Membership { .. });
        let mut expected: Vec<(ProtocolHandle, Notification)> = Vec::new();
        for r in &removed {
            let identity = self.identities.remove(r).expect("record without identity");
            if !is_request {
                continue;
            }
            let remaining = self.identities_of(r.2);
            let recipients = self.recipients(before, rpf_if, r, identity, &remaining);
            let alert = Notification::PruneAlert {
                query: None,
                scope: r.2,
                iface: Some(r.1),
                member_delete: true,
                timeout: 900,
            };
            expected.extend(recipients.into_iter().map(|p| (p, alert.clone())));
        }
        for r in &added {
            assert!(
                is_request,
                "a record appeared outside a membership request: {r:?}"
            );
            let routing = before.owners.get(&r.1).and_then(|o| o.0);
            let identity = match routing {
                Some(owner) if self.slots[3] == Some(r.0) && owner != r.0 => owner,
                _ => r.0,
            };
            let present = self.identities_of(r.2);
            self.identities.insert(*r, identity);
            let recipients = self.recipients(before, rpf_if, r, identity, &present);
            let alert = Notification::JoinAlert {
                scope: r.2,
                member_update: true,
            };
            expected.extend(recipients.into_iter().map(|p| (p, alert.clone())));
        }
        if !is_request {
            return;
        }
        let emitted: Vec<(ProtocolHandle, Notification)> = self
            .notes
            .iter()
            .filter(|(_, n)| {
                matches!(
                    n,
                    Notification::JoinAlert {
                        member_update: true,
                        ..
                    } | Notification::PruneAlert {
                        member_delete: true,
                        ..
                    }
                )
            })
            .cloned()
            .collect();
        assert_eq!(emitted, expected, "membership alerts of {op:?}");
    }

    /// The identities having records of `scope`.
    fn identities_of(&self, scope: SourceGroup) -> BTreeSet<ProtocolHandle> {
        self.identities
            .iter()
            .filter(|(k, _)| k.2 == scope)
            .map(|(_, id)| *id)
            .collect()
    }

    /// Who hears of record `r` (of `identity`) appearing or going while `others` (the other
    /// records' identities) have the scope.
    fn recipients(
        &self,
        before: &Before,
        rpf_if: Option<u32>,
        r: &Record,
        identity: ProtocolHandle,
        others: &BTreeSet<ProtocolHandle>,
    ) -> Vec<ProtocolHandle> {
        let (caller, scope) = (r.0, r.2);
        let not_cause = |p: &ProtocolHandle| *p != caller && *p != identity;
        let list: Vec<ProtocolHandle> = if scope.source.is_some() {
            // (S,G): the first record / the last one, to the RPF interface owner only.
            match (others.is_empty(), before.rpf_owner(scope, rpf_if)) {
                (true, Some(o)) => vec![o],
                _ => Vec::new(),
            }
        } else if others.contains(&identity) {
            Vec::new()
        } else {
            // (*,G), (*,*): first -> all others; second -> the first; when leaving, one left
            // -> it; none left -> all others.
            match others.len() {
                0 => self.registered().collect(),
                1 => others.iter().copied().collect(),
                _ => Vec::new(),
            }
        };
        list.into_iter()
            .filter(not_cause)
            .filter(|p| self.hears_alerts(*p))
            .collect()
    }

    fn registered(&self) -> impl Iterator<Item = ProtocolHandle> + '_ {
        let mut all: Vec<ProtocolHandle> = self.slots.iter().flatten().copied().collect();
        all.sort();
        all.into_iter()
    }

    /// Whether a protocol handles join and prune alerts (slots 0, 1 and 3 do).
    fn hears_alerts(&self, p: ProtocolHandle) -> bool {
        self.slots[0] == Some(p) || self.slots[1] == Some(p) || self.slots[3] == Some(p)
    }

    fn step(&mut self, op: &Op) {
        let now = self.h.now;
        match op.clone() {
            Op::Register(slot) => {
                let r = self.h.mgm.register_protocol(
                    SLOT_IDS[slot],
                    mgm_core::ComponentId(0),
                    slot_callbacks(slot),
                );
                match (r, self.slots[slot]) {
                    (Ok(h), None) => self.slots[slot] = Some(h),
                    (Err(e), Some(_)) => assert_eq!(e.code, ErrorCode::AlreadyExists),
                    (r, s) => panic!("register {slot}: {r:?} with slot {s:?}"),
                }
            }
            Op::Deregister(slot) => {
                let h = self.handle(slot);
                if self.h.mgm.deregister_protocol(h).is_ok() {
                    self.slots[slot] = None;
                }
            }
            Op::Disconnect(slot) => {
                let h = self.handle(slot);
                self.h.mgm.handle_disconnect(now, h);
                self.slots[slot] = None;
            }
            Op::Take(slot, i, v6, nh) => {
                let h = self.handle(slot);
                let _ = self
                    .h
                    .mgm
                    .take_interface_ownership(now, h, iface(i, v6, nh));
            }
            Op::Release(slot, i, v6, nh) => {
                let h = self.handle(slot);
                let _ = self
                    .h
                    .mgm
                    .release_interface_ownership(now, h, iface(i, v6, nh));
            }
            Op::Membership {
                add,
                slot,
                scope,
                ifindex,
                v6,
                flags,
                rpf,
            } => {
                let h = self.handle(slot);
                // Mostly act on a key the protocol owns (an existing record when deleting),
                // so that requests succeed often enough to matter.
                let owned = self
                    .h
                    .mgm
                    .protocol(h)
                    .map(|p| p.interfaces)
                    .unwrap_or_default();
                let records: Vec<_> = self
                    .h
                    .mgm
                    .memberships()
                    .into_iter()
                    .filter(|r| r.protocol == h)
                    .collect();
                let pick = ifindex as usize + usize::from(scope);
                if !add && !records.is_empty() && ifindex != 1 {
                    let r = &records[pick % records.len()];
                    let flags = MembershipFlags(flags);
                    let _ = self.h.mgm.delete_group_membership(
                        now,
                        h,
                        r.scope,
                        r.iface,
                        flags,
                        rpf.map(|i| route(i, None)),
                    );
                    self.drain();
                    return;
                }
                let (key, v6) = match owned.get(pick % owned.len().max(1)) {
                    Some(k) if ifindex != 1 => (*k, k.family() == Family::Ipv6),
                    _ => (iface(ifindex, v6, false), v6),
                };
                let f = family(v6);
                let scope = match scope {
                    0 => SourceGroup::sg(source(v6, 0), group(v6, 0)),
                    1 => SourceGroup::sg(source(v6, 1), group(v6, 0)),
                    2 => SourceGroup::star_g(group(v6, 0)),
                    _ => Ok(SourceGroup::star_star(f)),
                }
                .unwrap();
                let route = rpf.map(|i| route(i, None));
                let flags = MembershipFlags(flags);
                let r = if add {
                    self.h
                        .mgm
                        .add_group_membership(now, h, scope, key, flags, route)
                } else {
                    self.h
                        .mgm
                        .delete_group_membership(now, h, scope, key, flags, route)
                };
                if let (true, Ok(()), true, Some(s), Some(g)) =
                    (add, r, flags.forward_state(), scope.source, scope.group)
                {
                    self.forced.insert((s, g, key));
                }
            }
            Op::Packet {
                v6,
                source: s,
                group: g,
                vif,
                route: r,
            } => {
                self.h.mgm.handle_new_packet(
                    now,
                    family(v6),
                    source(v6, s),
                    group(v6, g),
                    VifIndex(vif),
                    r.map(|i| route(i, None)),
                );
            }
            Op::WrongVif {
                v6,
                source: s,
                group: g,
                vif,
            } => {
                let up = Upcall::WrongVif {
                    family: family(v6),
                    source: source(v6, s),
                    group: group(v6, g),
                    vif: VifIndex(vif),
                };
                self.h.mgm.handle_upcall(now, up, None);
            }
            Op::Counters {
                v6,
                source: s,
                group: g,
                packets,
            } => {
                let c = MfeCounters {
                    packets,
                    bytes: packets * 100,
                    wrong_if: 0,
                };
                self.h
                    .mgm
                    .handle_counters(now, family(v6), source(v6, s), group(v6, g), c);
            }
            Op::Advance(secs) => {
                self.h.advance(Duration::from_secs(secs));
                if secs > 0 {
                    // An RPF deadline that fired now opens the creation-alert stage, which
                    // gets a deadline of its own; past that one nothing is pending any more.
                    self.drain();
                    let deadline = self.h.mgm.config().callback_deadline;
                    self.h.advance(deadline);
                    self.drain();
                    for f in [Family::Ipv4, Family::Ipv6] {
                        let (list, _) = self.h.mgm.mfes_after(self.h.now, f, None, usize::MAX);
                        assert!(list.iter().all(|e| e.installed), "{list:?}");
                    }
                }
            }
            Op::LinkRemoved(i) => self.h.link_removed(i),
            Op::LinkAdded(i) => self.link_added(i),
            Op::AnswerRpf { query, iif } => {
                if let Some((p, q, _, _)) = self.pick('r', query) {
                    let iif = iif.map(|(i, v6)| iface(i, v6, false));
                    let _ = self.h.mgm.answer_rpf(now, p, q, iif, None);
                }
            }
            Op::AnswerCreation {
                query,
                disable_first,
            } => {
                if let Some((p, q, _, offered)) = self.pick('c', query) {
                    let disabled: Vec<InterfaceKey> = offered
                        .into_iter()
                        .take(usize::from(disable_first))
                        .collect();
                    let _ = self.h.mgm.answer_creation_alert(now, p, q, &disabled);
                }
            }
            Op::AnswerPrune { query, secs } => {
                if let Some((p, q, _, _)) = self.pick('p', query) {
                    let _ = self.h.mgm.answer_prune_alert(now, p, q, secs);
                }
            }
            Op::FailNextAddVif => self.kernel.fail_next_add_vif = true,
        }
        self.drain();
    }

    fn pick(
        &self,
        kind: char,
        index: usize,
    ) -> Option<(ProtocolHandle, QueryId, char, Vec<InterfaceKey>)> {
        let of_kind: Vec<_> = self.queries.iter().filter(|q| q.2 == kind).collect();
        if of_kind.is_empty() {
            return None;
        }
        Some(of_kind[index % of_kind.len()].clone())
    }

    /// Drain the core, applying kernel operations to the model (reporting refusals back).
    fn drain(&mut self) {
        while let Some(action) = self.h.mgm.poll_action() {
            match action {
                Action::Kernel(op) => {
                    let injected =
                        self.kernel.fail_next_add_vif && matches!(op, KernelOp::AddVif { .. });
                    if let Err(code) = self.kernel.apply(&op) {
                        assert!(injected, "the model kernel refused {op:?}: {code:?}");
                        let now = self.h.now;
                        self.h.mgm.handle_kernel_error(now, &op, code);
                    }
                }
                Action::Notify {
                    protocol,
                    notification,
                } => {
                    assert!(
                        self.slots.contains(&Some(protocol)),
                        "notification to unregistered {protocol}: {notification:?}"
                    );
                    self.notes.push((protocol, notification.clone()));
                    match notification {
                        Notification::Rpf { query, .. } => {
                            self.queries.push((protocol, query, 'r', Vec::new()))
                        }
                        Notification::CreationAlert { query, oifs, .. } => self.queries.push((
                            protocol,
                            query,
                            'c',
                            oifs.iter().map(|e| e.iface).collect(),
                        )),
                        Notification::PruneAlert {
                            query: Some(query), ..
                        } => self.queries.push((protocol, query, 'p', Vec::new())),
                        _ => {}
                    }
                }
            }
        }
    }

    fn check(&self) {
        let m = &self.h.mgm;
        // Owners: one routing owner (non-IGMP), one IGMP owner, both registered, and the
        // protocols' own lists agree.
        let mut owned: BTreeMap<ProtocolHandle, BTreeSet<InterfaceKey>> = BTreeMap::new();
        for o in m.owned_interfaces() {
            if let Some(r) = o.routing {
                assert!(!m.protocol(r).unwrap().protocol_id.is_igmp());
                owned.entry(r).or_default().insert(o.iface);
            }
            if let Some(i) = o.igmp {
                assert!(m.protocol(i).unwrap().protocol_id.is_igmp());
                owned.entry(i).or_default().insert(o.iface);
            }
            assert!(o.routing.is_some() || o.igmp.is_some());
            assert_eq!(Some(o.vif), m.vif_of(o.iface.ifindex, o.iface.family()));
        }
        for p in m.protocols() {
            let mine: BTreeSet<InterfaceKey> = p.interfaces.iter().copied().collect();
            assert_eq!(&mine, owned.get(&p.handle).unwrap_or(&BTreeSet::new()));
        }
        // VIFs: < MAX_VIFS, used once per family, exactly the model kernel's table.
        let mut core_vifs = BTreeMap::new();
        for i in m.interfaces() {
            for (f, v) in [(Family::Ipv4, i.vif_v4), (Family::Ipv6, i.vif_v6)] {
                if let Some(v) = v {
                    assert!(v.0 < MAX_VIFS && v.0 < m.config().max_vifs);
                    assert!(
                        core_vifs.insert((f, v.0), i.link.ifindex).is_none(),
                        "VIF used twice"
                    );
                    assert_eq!(m.ifindex_of_vif(f, v), Some(i.link.ifindex));
                }
            }
        }
        assert_eq!(core_vifs, self.kernel.vifs, "core VIFs vs kernel VIFs");
        // MFEs: iif never an oif; oifs owned; installed ones exactly the kernel's MFC.
        let mut core_mfc = BTreeMap::new();
        for f in [Family::Ipv4, Family::Ipv6] {
            let (list, more) = m.mfes_after(self.h.now, f, None, usize::MAX);
            assert!(!more);
            for e in list {
                let mut oifs = VifSet::EMPTY;
                for k in &e.oifs {
                    assert_ne!(k.ifindex, e.iif.ifindex, "iif in the oif list: {e:?}");
                    let member = m
                        .memberships()
                        .iter()
                        .any(|r| r.iface == *k && r.scope.matches(e.source, e.group));
                    assert!(
                        member || self.forced.contains(&(e.source, e.group, *k)),
                        "oif {k} of {e:?} has no membership"
                    );
                    let o = m.owners(*k);
                    assert!(o.routing.is_some() || o.igmp.is_some(), "unowned oif {k}");
                    oifs.insert(m.vif_of(k.ifindex, f).unwrap());
                }
                assert!(m.owners(e.iif) != Default::default(), "unowned iif {e:?}");
                if e.installed {
                    core_mfc.insert((f, e.source, e.group), (e.iif_vif, oifs));
                } else {
                    // A pending MFE always has its callback deadline armed.
                    let due = m.poll_timeout().expect("pending MFE without a timer");
                    assert!(due <= self.h.now + m.config().callback_deadline);
                }
            }
        }
        assert_eq!(core_mfc, self.kernel.mfc, "core MFEs vs kernel MFC");
        assert!(m.mfe_count() <= m.config().max_mfes);
    }

    fn teardown(&mut self) {
        for slot in 0..4 {
            if let Some(h) = self.slots[slot] {
                let now = self.h.now;
                self.h.mgm.handle_disconnect(now, h);
                self.slots[slot] = None;
                self.drain();
                self.check();
            }
        }
        assert!(self.h.mgm.owned_interfaces().is_empty());
        assert!(self.h.mgm.memberships().is_empty());
        self.h.mgm.shutdown();
        self.drain();
        assert!(
            self.kernel.vifs.is_empty(),
            "kernel VIFs left: {:?}",
            self.kernel.vifs
        );
        assert!(
            self.kernel.mfc.is_empty(),
            "kernel MFC left: {:?}",
            self.kernel.mfc
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_after_every_step(
        ops in prop::collection::vec(op(), 1..80),
        registered in prop::collection::vec(0..4usize, 1..4),
    ) {
        let mut w = World::new();
        for slot in registered {
            w.apply(&Op::Register(slot));
        }
        for op in &ops {
            w.apply(op);
            w.check();
        }
        w.teardown();
    }
}

/// A deterministic long run (the same generator, many more steps than the proptest cases).
#[test]
fn long_random_run_keeps_the_invariants() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut w = World::new();
    for slot in 0..4 {
        w.apply(&Op::Register(slot));
    }
    for _ in 0..3000 {
        let op = op().new_tree(&mut runner).unwrap().current();
        w.apply(&op);
        w.check();
        if let Op::Disconnect(slot) = op {
            w.apply(&Op::Register(slot));
        }
    }
    w.teardown();
}
