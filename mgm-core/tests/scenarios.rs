//! Scenario tests over the pure core: one per function, callback and error code of the MGM
//! checklist (spec section 6), plus our documented choices (docs/mgm-semantics.md).

mod common;

use std::time::Duration;

use common::*;
use mgm_core::{
    Action, Callback, Callbacks, ComponentId, Config, EnumKind, ErrorCode, Family, IfIndex,
    InterfaceKey, KernelOp, LinkEvent, MembershipFlags, MfeCounters, Notification, OifEntry,
    ProtocolHandle, ProtocolId, QueryId, SourceGroup, Upcall, VifIndex,
};

const PIM: ProtocolId = ProtocolId::PIM_SM;
const DVMRP: ProtocolId = ProtocolId(0x4137_0004);
const OTHER: ProtocolId = ProtocolId(0x4137_0007);
const IGMP: ProtocolId = ProtocolId::IGMP;

fn err<T: std::fmt::Debug>(r: Result<T, mgm_core::MgmError>) -> ErrorCode {
    r.unwrap_err().code
}

// ===== 1, 2: register / deregister =====

// Given PIM component 0 registered,
// When it registers again with the same (protocol, component),
// Then AlreadyExists; another component of the same protocol is a separate client.
#[test]
fn register_duplicate_is_already_exists() {
    let mut h = Harness::new();
    let a = h.register(PIM);
    let again = h
        .mgm
        .register_protocol(PIM, ComponentId(0), Callbacks::all());
    assert_eq!(err(again), ErrorCode::AlreadyExists);
    let b = h.register_with(PIM, 1, Callbacks::all());
    assert_ne!(a, b);
    assert!(h.drain().is_empty(), "registration raises no callbacks");
}

// Given max_protocols = 2 and two registered clients,
// When a third registers,
// Then NotEnoughMemory.
#[test]
fn register_beyond_max_protocols_is_not_enough_memory() {
    let mut h = Harness::with_config(Config {
        max_protocols: 2,
        ..Config::default()
    });
    h.register(PIM);
    h.register(DVMRP);
    let third = h
        .mgm
        .register_protocol(OTHER, ComponentId(0), Callbacks::all());
    assert_eq!(err(third), ErrorCode::NotEnoughMemory);
}

// Given PIM owning eth1,
// When it deregisters,
// Then CanNotComplete; after releasing, deregistration succeeds, the handle becomes stale
// (InvalidParameter) and is never reused.
#[test]
fn deregister_while_owning_is_can_not_complete_then_handle_is_stale() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    h.take(pim, key(1));
    assert_eq!(
        err(h.mgm.deregister_protocol(pim)),
        ErrorCode::CanNotComplete
    );
    h.release(pim, key(1));
    h.mgm.deregister_protocol(pim).unwrap();
    assert_eq!(
        err(h.mgm.deregister_protocol(pim)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, pim, key(1))),
        ErrorCode::InvalidParameter
    );
    let again = h.register(PIM);
    assert_ne!(again, pim, "handles are never reused");
}

// ===== 3: take ownership =====

// Given eth1 and eth2,
// When PIM takes eth1 then eth2,
// Then VIFs 0 and 1 are added (lowest free first, never the ifindex).
#[test]
fn take_allocates_lowest_free_vif() {
    let mut h = Harness::new();
    h.link_up(5);
    h.link_up(9);
    let pim = h.register(PIM);
    h.take(pim, key(5));
    h.take(pim, key(9));
    assert_eq!(h.kernel(), [add_vif(0, 5), add_vif(1, 9)]);
    assert_eq!(h.mgm.vif_of(IfIndex(9), Family::Ipv4), Some(VifIndex(1)));
    assert_eq!(
        h.mgm.ifindex_of_vif(Family::Ipv4, VifIndex(0)),
        Some(IfIndex(5))
    );
    h.release(pim, key(5));
    assert_eq!(h.kernel(), [del_vif(0, 5)]);
    h.link_up(11);
    h.take(pim, key(11));
    assert_eq!(
        h.kernel(),
        [add_vif(0, 11)],
        "the freed VIF 0 is reused first"
    );
}

// Given PIM owning eth1,
// When DVMRP takes eth1, or PIM takes it again,
// Then AlreadyExists and nothing changes.
#[test]
fn second_routing_owner_or_same_owner_again_is_already_exists() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    let dvmrp = h.register(DVMRP);
    h.take(pim, key(1));
    h.drain();
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, dvmrp, key(1))),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, pim, key(1))),
        ErrorCode::AlreadyExists
    );
    assert_eq!(h.mgm.owners(key(1)).routing, Some(pim));
    assert!(h.drain().is_empty());
}

// Given max_vifs interfaces owned (32),
// When a 33rd interface is taken,
// Then NotEnoughMemory and nothing changes.
#[test]
fn thirty_third_vif_is_not_enough_memory() {
    let mut h = Harness::new();
    let pim = h.register(PIM);
    for i in 1..=33 {
        h.link_up(i);
    }
    for i in 1..=32 {
        h.take(pim, key(i));
    }
    assert_eq!(h.kernel().len(), 32);
    let r = h.mgm.take_interface_ownership(h.now, pim, key(33));
    assert_eq!(err(r), ErrorCode::NotEnoughMemory);
    assert!(h.drain().is_empty());
    assert_eq!(h.mgm.owners(key(33)), Default::default());
    assert_eq!(h.mgm.protocol(pim).unwrap().interfaces.len(), 32);
}

// Given interface 7 is unknown, eth2 is not multicast-capable and lo is a loopback,
// When PIM takes them,
// Then InvalidParameter with a clear message each time.
#[test]
fn take_unknown_non_multicast_or_loopback_interface_is_invalid_parameter() {
    let mut h = Harness::new();
    let pim = h.register(PIM);
    let r = h.mgm.take_interface_ownership(h.now, pim, key(7));
    let e = r.unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert!(e.message.contains("interface 7 does not exist"), "{e}");
    let mut info = link_info(2);
    info.multicast = false;
    h.mgm.handle_link(h.now, LinkEvent::Link(info));
    let e = h
        .mgm
        .take_interface_ownership(h.now, pim, key(2))
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidParameter);
    assert!(e.message.contains("not multicast-capable"), "{e}");
    let mut info = link_info(3);
    info.loopback = true;
    h.mgm.handle_link(h.now, LinkEvent::Link(info));
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, pim, key(3))),
        ErrorCode::InvalidParameter
    );
    assert!(h.drain().is_empty());
}

// Given a down (but multicast-capable) eth4,
// When PIM takes it,
// Then the take succeeds and its VIF is added.
#[test]
fn down_interface_may_be_owned() {
    let mut h = Harness::new();
    let pim = h.register(PIM);
    let mut info = link_info(4);
    info.up = false;
    h.mgm.handle_link(h.now, LinkEvent::Link(info));
    h.take(pim, key(4));
    assert_eq!(h.kernel(), [add_vif(0, 4)]);
}

// Given eth1 with 10.1.0.1/24 and neighbour 10.9.9.9,
// When PIM takes (eth1, 10.1.0.7), (eth1, 10.9.9.9) and (eth1, 10.2.0.1),
// Then the on-link and neighbour keys succeed and share one VIF; the third is
// InvalidParameter.
#[test]
fn specific_next_hop_must_be_on_link_or_a_neighbour() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    h.mgm.handle_link(
        h.now,
        LinkEvent::AddressAdded {
            ifindex: IfIndex(1),
            addr: ip("10.1.0.1"),
            prefix_len: 24,
        },
    );
    h.mgm.handle_link(
        h.now,
        LinkEvent::NeighbourAdded {
            ifindex: IfIndex(1),
            addr: ip("10.9.9.9"),
        },
    );
    let on_link = InterfaceKey {
        ifindex: IfIndex(1),
        next_hop: ip("10.1.0.7"),
    };
    let neighbour = InterfaceKey {
        ifindex: IfIndex(1),
        next_hop: ip("10.9.9.9"),
    };
    let stranger = InterfaceKey {
        ifindex: IfIndex(1),
        next_hop: ip("10.2.0.1"),
    };
    h.take(pim, on_link);
    h.take(pim, neighbour);
    assert_eq!(
        h.kernel(),
        [add_vif(0, 1)],
        "all keys of one ifindex share its VIF"
    );
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, pim, stranger)),
        ErrorCode::InvalidParameter
    );
    // The VIF goes with the last key.
    h.release(pim, on_link);
    assert!(h.kernel().is_empty());
    h.release(pim, neighbour);
    assert_eq!(h.kernel(), [del_vif(0, 1)]);
}

// Given eth1,
// When PIM takes (eth1, 0.0.0.0) and (eth1, ::),
// Then they are two keys with a VIF and a MIF, both numbered 0.
#[test]
fn families_have_separate_keys_and_vif_tables() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    h.take(pim, key(1));
    h.take(pim, key6(1));
    assert_eq!(
        h.kernel(),
        [
            add_vif(0, 1),
            KernelOp::AddVif {
                family: Family::Ipv6,
                vif: VifIndex(0),
                ifindex: IfIndex(1)
            }
        ]
    );
    let info = h.mgm.interface(IfIndex(1)).unwrap();
    assert_eq!(
        (info.vif_v4, info.vif_v6),
        (Some(VifIndex(0)), Some(VifIndex(0)))
    );
}

// ===== 36, 25, 26: IGMP coexistence and the handshake =====

// Given IGMP owning eth1 with a (*,G) membership,
// When PIM takes eth1,
// Then IGMP gets DisableIgmp, its membership is dropped (prune alert to PIM, the only other
// protocol), PIM becomes owner, then IGMP gets EnableIgmp.
#[test]
fn routing_take_on_igmp_interface_runs_the_handshake() {
    let mut h = Harness::new();
    h.link_up(1);
    let igmp = h.register(IGMP);
    let pim = h.register(PIM);
    h.take(igmp, key(1));
    h.join(igmp, star_g("239.1.1.1"), key(1));
    h.drain();
    h.take(pim, key(1));
    assert_eq!(
        h.drain(),
        [
            notify(igmp, Notification::DisableIgmp { iface: key(1) }),
            notify(
                pim,
                Notification::PruneAlert {
                    query: None,
                    scope: star_g("239.1.1.1"),
                    iface: Some(key(1)),
                    member_delete: true,
                    timeout: 900,
                }
            ),
            notify(igmp, Notification::EnableIgmp { iface: key(1) }),
        ]
    );
    let owners = h.mgm.owners(key(1));
    assert_eq!((owners.routing, owners.igmp), (Some(pim), Some(igmp)));
    assert!(h.mgm.memberships().is_empty());
    assert_eq!(
        h.mgm.protocol_on_interface(key(1)).unwrap(),
        (PIM, ComponentId(0))
    );
}

// Given PIM owning eth1,
// When IGMP takes eth1,
// Then it co-owns it with no handshake; a second IGMP client gets AlreadyExists.
#[test]
fn igmp_take_on_routing_interface_coexists_without_handshake() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    let igmp = h.register(IGMP);
    let igmp2 = h.register_with(ProtocolId::MS_IGMP, 0, Callbacks::all());
    h.take(pim, key(1));
    h.drain();
    h.take(igmp, key(1));
    assert!(h.drain().is_empty());
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, igmp2, key(1))),
        ErrorCode::AlreadyExists
    );
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, igmp, key(1))),
        ErrorCode::AlreadyExists
    );
}

// Given PIM and IGMP co-owning eth1, IGMP with a membership there, and DVMRP elsewhere,
// When PIM releases eth1,
// Then DisableIgmp, IGMP's membership dropped (prune alert to DVMRP: nobody else has (*,G)),
// ownership change, EnableIgmp; the VIF stays and IGMP is the owner now.
#[test]
fn routing_release_on_igmp_interface_runs_the_handshake() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    let igmp = h.register(IGMP);
    let dvmrp = h.register_with(DVMRP, 0, alerts_only());
    h.take(pim, key(1));
    h.take(igmp, key(1));
    h.join(igmp, star_g("239.1.1.1"), key(1));
    h.drain();
    h.release(pim, key(1));
    assert_eq!(
        h.drain(),
        [
            notify(igmp, Notification::DisableIgmp { iface: key(1) }),
            notify(
                dvmrp,
                Notification::PruneAlert {
                    query: None,
                    scope: star_g("239.1.1.1"),
                    iface: Some(key(1)),
                    member_delete: true,
                    timeout: 900,
                }
            ),
            notify(igmp, Notification::EnableIgmp { iface: key(1) }),
        ]
    );
    assert_eq!(h.mgm.owners(key(1)).igmp, Some(igmp));
    assert_eq!(h.mgm.protocol_on_interface(key(1)).unwrap().0, IGMP);
    assert!(h.drain().is_empty());
}

// ===== 4, 5: release / get owner =====

// Given PIM owning eth1 and DVMRP nothing,
// When DVMRP releases eth1 or PIM releases eth2 it does not own,
// Then InvalidParameter; get-owner of an unowned key is NotFound.
#[test]
fn release_not_owned_is_invalid_parameter_and_unowned_owner_is_not_found() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register(PIM);
    let dvmrp = h.register(DVMRP);
    h.take(pim, key(1));
    assert_eq!(
        err(h.mgm.release_interface_ownership(h.now, dvmrp, key(1))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.release_interface_ownership(h.now, pim, key(2))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.protocol_on_interface(key(2))),
        ErrorCode::NotFound
    );
    assert_eq!(
        h.mgm.protocol_on_interface(key(1)).unwrap(),
        (PIM, ComponentId(0))
    );
}

// ===== 38, 18, 19: MFE creation =====

// Given PIM (handling every callback) owning eth1 (VIF 0) and eth2 (VIF 1), a (*,G) join on
// eth2,
// When a packet of (S,G) arrives on VIF 0 with a route via eth1,
// Then RPF to PIM; after its answer, a creation alert with eth2; after that, AddMfe 0 -> {1}.
#[test]
fn packet_arrival_runs_rpf_then_creation_alert_then_installs() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register(PIM);
    h.take(pim, key(1));
    h.take(pim, key(2));
    h.join(pim, star_g("239.1.1.1"), key(2));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let rpf = h.notes();
    let [(
        to,
        Notification::Rpf {
            query,
            source,
            group,
            iif,
            upstream,
            arrived_on,
        },
    )] = rpf.as_slice()
    else {
        panic!("expected one RPF callback, got {rpf:?}");
    };
    assert_eq!(
        (*to, *source, *group, *iif, *upstream, *arrived_on),
        (pim, ip("10.0.0.1"), ip("239.1.1.1"), key(1), None, key(1))
    );
    let info = h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.1"), ip("239.1.1.1"))
        .unwrap();
    assert!(!info.installed);
    h.mgm.answer_rpf(h.now, pim, *query, None, None).unwrap();
    let ca = h.notes();
    let [(
        to,
        Notification::CreationAlert {
            query, iif, oifs, ..
        },
    )] = ca.as_slice()
    else {
        panic!("expected one creation alert, got {ca:?}");
    };
    assert_eq!((*to, *iif), (pim, key(1)));
    assert_eq!(
        oifs,
        &[mgm_core::OifEntry {
            iface: key(2),
            igmp: false,
            enabled: true
        }]
    );
    h.mgm
        .answer_creation_alert(h.now, pim, *query, &[])
        .unwrap();
    assert_eq!(
        h.drain(),
        [Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 0, &[1]))]
    );
    let info = h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.1"), ip("239.1.1.1"))
        .unwrap();
    assert!(info.installed);
    assert_eq!(info.oifs, [key(2)]);
    assert_eq!(info.iif_protocol, Some(PIM));
    assert_eq!(info.timeout_secs, 900);
}

// Given a protocol that handles neither RPF nor creation alerts,
// When a packet arrives,
// Then the MFE is installed in the same call.
#[test]
fn nobody_to_ask_installs_at_once() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let st = h.register_with(ProtocolId::STATIC, 0, alerts_only());
    h.take(st, key(1));
    h.take(st, key(2));
    h.join(st, star_g("239.1.1.1"), key(2));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    assert_eq!(
        h.drain(),
        [Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 0, &[1]))]
    );
}

// Given an installed MFE with no receivers (negative) and a prune alert to the iif owner,
// When the owner answers with 60 s,
// Then the MFE expires after 60 s (DelMfe), not 900 s.
#[test]
fn negative_mfe_raises_answerable_prune_alert_that_sets_the_timeout() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register_with(PIM, 0, alerts_only());
    h.take(pim, key(1));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    let out = h.drain();
    assert_eq!(
        out[0],
        Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 0, &[]))
    );
    let Action::Notify {
        protocol,
        notification:
            Notification::PruneAlert {
                query: Some(q),
                scope,
                iface,
                member_delete,
                timeout,
            },
    } = &out[1]
    else {
        panic!("expected a prune alert, got {out:?}");
    };
    assert_eq!(
        (*protocol, *scope, *iface, *member_delete, *timeout),
        (pim, sg("10.0.0.1", "239.1.1.1"), Some(key(1)), false, 900)
    );
    h.mgm.answer_prune_alert(h.now, pim, *q, 60).unwrap();
    assert_eq!(
        err(h.mgm.answer_prune_alert(h.now, pim, *q, 60)),
        ErrorCode::NotFound
    );
    h.advance(Duration::from_secs(59));
    assert!(h.drain().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.kernel(), [del_mfe("10.0.0.1", "239.1.1.1")]);
    assert_eq!(h.mgm.mfe_count(), 0);
}

// ===== helpers for the scenarios below =====

/// Two routing protocols A (eth1, eth2) and B (eth3), both handling only alerts, plus C and D
/// registered with no interfaces.
struct Border {
    h: Harness,
    a: ProtocolHandle,
    b: ProtocolHandle,
    c: ProtocolHandle,
    d: ProtocolHandle,
}

fn border() -> Border {
    let mut h = Harness::new();
    for i in 1..=5 {
        h.link_up(i);
    }
    let a = h.register_with(PIM, 0, alerts_only());
    let b = h.register_with(DVMRP, 0, alerts_only());
    let c = h.register_with(OTHER, 0, alerts_only());
    let d = h.register_with(OTHER, 1, alerts_only());
    h.take(a, key(1));
    h.take(a, key(2));
    h.take(b, key(3));
    h.take(c, key(4));
    h.drain();
    Border { h, a, b, c, d }
}

fn join_alert(p: ProtocolHandle, scope: SourceGroup, member_update: bool) -> Action {
    notify(
        p,
        Notification::JoinAlert {
            scope,
            member_update,
        },
    )
}

fn prune_alert(p: ProtocolHandle, scope: SourceGroup, iface: InterfaceKey) -> Action {
    notify(
        p,
        Notification::PruneAlert {
            query: None,
            scope,
            iface: Some(iface),
            member_delete: true,
            timeout: 900,
        },
    )
}

// ===== 21, 20: join / prune alert recipients (spec 3.3, 3.4, 5.8) =====

// Given A, B, C, D registered,
// When A, then B, then C report (*,G) receivers,
// Then A's join alerts every other protocol, B's alerts A only, C's alerts nobody.
// A second interface of A raises nothing.
#[test]
fn star_g_join_alerts_first_to_all_others_second_to_first_third_to_none() {
    let Border { mut h, a, b, c, d } = border();
    let g = star_g("239.1.1.1");
    h.join(a, g, key(1));
    assert_eq!(
        h.drain(),
        [
            join_alert(b, g, true),
            join_alert(c, g, true),
            join_alert(d, g, true)
        ]
    );
    h.join(a, g, key(2));
    assert!(h.drain().is_empty());
    h.join(b, g, key(3));
    assert_eq!(h.drain(), [join_alert(a, g, true)]);
    h.join(c, g, key(4));
    assert!(h.drain().is_empty());
}

// Given A, B and C with (*,G) receivers,
// When C, then B, then A (two interfaces) leave,
// Then C's leave alerts nobody, B's leave alerts A (the one left), A's last leave alerts
// every other protocol.
#[test]
fn star_g_prune_alerts_mirror_the_join_rules() {
    let Border { mut h, a, b, c, d } = border();
    let g = star_g("239.1.1.1");
    h.join(a, g, key(1));
    h.join(a, g, key(2));
    h.join(b, g, key(3));
    h.join(c, g, key(4));
    h.drain();
    h.leave(c, g, key(4));
    assert!(h.drain().is_empty());
    h.leave(b, g, key(3));
    assert_eq!(h.drain(), [prune_alert(a, g, key(3))]);
    h.leave(a, g, key(1));
    assert!(h.drain().is_empty(), "A still has eth2");
    h.leave(a, g, key(2));
    assert_eq!(
        h.drain(),
        [
            prune_alert(b, g, key(2)),
            prune_alert(c, g, key(2)),
            prune_alert(d, g, key(2))
        ]
    );
}

// Given A and B,
// When A reports (*,*) receivers, then B,
// Then the (*,*) alerts follow the (*,G) rules.
#[test]
fn star_star_alerts_follow_the_star_g_rules() {
    let Border { mut h, a, b, c, d } = border();
    let all = star_star();
    h.join(a, all, key(1));
    assert_eq!(
        h.drain(),
        [
            join_alert(b, all, true),
            join_alert(c, all, true),
            join_alert(d, all, true)
        ]
    );
    h.join(b, all, key(3));
    assert_eq!(h.drain(), [join_alert(a, all, true)]);
    h.leave(b, all, key(3));
    assert_eq!(h.drain(), [prune_alert(a, all, key(3))]);
}

// Given B owning eth3, the RPF interface toward S (FIB route via eth3), and no MFE,
// When A reports (S,G) receivers on eth1 (then on eth2), and later removes both,
// Then only B gets the join alert, once; only B gets the prune alert when the last goes.
#[test]
fn source_specific_alerts_go_to_the_rpf_interface_owner() {
    let Border { mut h, a, b, .. } = border();
    let s = sg("10.0.0.1", "239.1.1.1");
    let j = MembershipFlags::JOIN_STATE;
    let rpf = Some(route(3, None));
    h.mgm
        .add_group_membership(h.now, a, s, key(1), j, rpf.clone())
        .unwrap();
    assert_eq!(h.drain(), [join_alert(b, s, true)]);
    h.mgm
        .add_group_membership(h.now, a, s, key(2), j, rpf.clone())
        .unwrap();
    assert!(h.drain().is_empty());
    h.mgm
        .delete_group_membership(h.now, a, s, key(1), j, rpf.clone())
        .unwrap();
    assert!(h.drain().is_empty());
    h.mgm
        .delete_group_membership(h.now, a, s, key(2), j, rpf)
        .unwrap();
    assert_eq!(h.drain(), [prune_alert(b, s, key(2))]);
}

// Given an installed MFE (S,G) whose iif eth3 belongs to B,
// When A reports (S,G) receivers without a route,
// Then the join alert goes to the MFE's iif owner B, and the MFE gains eth1 (AddMfe) with a
// join alert (member_update false) to B as its list became non-empty.
#[test]
fn source_specific_alert_uses_the_existing_mfe_iif() {
    let Border { mut h, a, b, .. } = border();
    h.packet("10.0.0.1", "239.1.1.1", 2, Some(3)); // VIF 2 = eth3
    let out = h.drain();
    assert_eq!(
        out[0],
        Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 2, &[]))
    );
    let s = sg("10.0.0.1", "239.1.1.1");
    h.join(a, s, key(1));
    assert_eq!(
        h.drain(),
        [
            join_alert(b, s, true),
            Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 2, &[0])),
            join_alert(b, s, false),
        ]
    );
}

// Given B handling no callbacks at all,
// When A reports (*,G) receivers,
// Then B gets nothing (callbacks outside its set are never raised).
#[test]
fn callbacks_a_protocol_does_not_handle_are_never_raised() {
    let mut h = Harness::new();
    h.link_up(1);
    let a = h.register(PIM);
    let b = h.register_with(DVMRP, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.drain();
    h.join(a, star_g("239.1.1.1"), key(1));
    assert!(h.drain().is_empty());
    assert_eq!(h.mgm.protocol(b).unwrap().callbacks, Vec::<Callback>::new());
}

// ===== 23, 24: local join / leave =====

// Given PIM and IGMP co-owning eth1, and DVMRP registered,
// When IGMP adds then deletes (*,G) on eth1,
// Then PIM gets LocalJoin then LocalLeave; for the join/prune-alert rules the receivers count
// as PIM's (the component owning the interface), so DVMRP, not PIM, gets the alerts.
#[test]
fn igmp_membership_on_routing_interface_raises_local_join_and_leave() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    let igmp = h.register(IGMP);
    let dvmrp = h.register_with(DVMRP, 0, alerts_only());
    h.take(pim, key(1));
    h.take(igmp, key(1));
    h.drain();
    let g = star_g("239.1.1.1");
    h.join(igmp, g, key(1));
    assert_eq!(
        h.drain(),
        [
            join_alert(dvmrp, g, true),
            notify(
                pim,
                Notification::LocalJoin {
                    scope: g,
                    iface: key(1)
                }
            )
        ]
    );
    h.leave(igmp, g, key(1));
    assert_eq!(
        h.drain(),
        [
            prune_alert(dvmrp, g, key(1)),
            notify(
                pim,
                Notification::LocalLeave {
                    scope: g,
                    iface: key(1)
                }
            )
        ]
    );
}

// Given IGMP alone on eth2 and DVMRP with (*,G) receivers on eth3,
// When IGMP reports (*,G) on eth2,
// Then IGMP counts as a client of its own: it is second, so DVMRP (the first) is alerted.
#[test]
fn igmp_alone_on_an_interface_is_an_ordinary_client_for_alerts() {
    let mut h = Harness::new();
    h.link_up(2);
    h.link_up(3);
    let igmp = h.register(IGMP);
    let dvmrp = h.register_with(DVMRP, 0, alerts_only());
    h.take(igmp, key(2));
    h.take(dvmrp, key(3));
    let g = star_g("239.1.1.1");
    h.join(dvmrp, g, key(3));
    h.drain();
    h.join(igmp, g, key(2));
    assert_eq!(h.drain(), [join_alert(dvmrp, g, true)]);
}

// Given IGMP alone on eth2 and PIM on eth1 (iif),
// When IGMP adds (*,G) on eth2 and a packet arrives,
// Then eth2 is an outgoing interface and IGMP gets the creation alert for it (igmp: true).
#[test]
fn igmp_memberships_land_in_outgoing_lists_and_igmp_gets_creation_alerts() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register_with(PIM, 0, alerts_only());
    let igmp = h.register(IGMP);
    h.take(pim, key(1));
    h.take(igmp, key(2));
    h.join(igmp, star_g("239.1.1.1"), key(2));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let out = h.notes();
    let [(to, Notification::CreationAlert { query, oifs, .. })] = out.as_slice() else {
        panic!("{out:?}");
    };
    assert_eq!(*to, igmp);
    assert_eq!(
        oifs,
        &[OifEntry {
            iface: key(2),
            igmp: true,
            enabled: true
        }]
    );
    h.mgm
        .answer_creation_alert(h.now, igmp, *query, &[])
        .unwrap();
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[1])]);
}

// ===== 6, 7, 31, 41: membership errors and flags =====

// Given PIM owning eth1 and DVMRP owning eth2,
// When memberships are added with bad arguments,
// Then each fails with its code and nothing changes.
#[test]
fn add_membership_errors() {
    let mut h = Harness::with_config(Config {
        max_memberships: 1,
        ..Config::default()
    });
    h.link_up(1);
    h.link_up(2);
    let pim = h.register(PIM);
    let dvmrp = h.register(DVMRP);
    h.take(pim, key(1));
    h.take(dvmrp, key(2));
    h.drain();
    let g = star_g("239.1.1.1");
    let j = MembershipFlags::JOIN_STATE;
    let add = |h: &mut Harness, p, scope, k, flags| {
        h.mgm
            .add_group_membership(h.now, p, scope, k, flags, None)
            .map(|_| ())
    };
    assert_eq!(
        err(add(&mut h, ProtocolHandle(99), g, key(1), j)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(add(&mut h, pim, g, key6(1), j)),
        ErrorCode::InvalidParameter,
        "family"
    );
    assert_eq!(
        err(add(&mut h, pim, g, key(7), j)),
        ErrorCode::NotFound,
        "no such interface"
    );
    assert_eq!(
        err(add(&mut h, pim, g, key(2), j)),
        ErrorCode::InvalidParameter,
        "not owned"
    );
    assert_eq!(
        err(add(&mut h, pim, g, key(1), MembershipFlags(0))),
        ErrorCode::InvalidParameter,
        "no flag"
    );
    assert_eq!(
        err(add(&mut h, pim, g, key(1), MembershipFlags::FORWARD_STATE)),
        ErrorCode::InvalidParameter,
        "FORWARD_STATE needs (S,G)"
    );
    assert_eq!(
        err(add(
            &mut h,
            pim,
            sg("10.0.0.1", "239.1.1.1"),
            key(1),
            MembershipFlags::FORWARD_STATE
        )),
        ErrorCode::NotFound,
        "FORWARD_STATE without MFE"
    );
    assert!(h.drain().is_empty());
    add(&mut h, pim, g, key(1), j).unwrap();
    h.drain();
    add(&mut h, pim, g, key(1), j).unwrap();
    assert!(
        h.drain().is_empty(),
        "adding an existing record is idempotent and silent"
    );
    assert_eq!(
        err(add(&mut h, pim, star_g("239.1.1.2"), key(1), j)),
        ErrorCode::NotEnoughMemory
    );
    assert_eq!(h.mgm.memberships().len(), 1);
}

// Given PIM owning eth1 and DVMRP eth2,
// When memberships are deleted with bad arguments,
// Then NotFound (no interface, no record) or InvalidParameter (other owner).
#[test]
fn delete_membership_errors() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register(PIM);
    let dvmrp = h.register(DVMRP);
    h.take(pim, key(1));
    h.take(dvmrp, key(2));
    let g = star_g("239.1.1.1");
    h.join(dvmrp, g, key(2));
    h.drain();
    let j = MembershipFlags::JOIN_STATE;
    let del = |h: &mut Harness, p, k| h.mgm.delete_group_membership(h.now, p, g, k, j, None);
    assert_eq!(err(del(&mut h, pim, key(9))), ErrorCode::NotFound);
    assert_eq!(err(del(&mut h, pim, key(2))), ErrorCode::InvalidParameter);
    assert_eq!(err(del(&mut h, pim, key(1))), ErrorCode::NotFound);
    assert_eq!(
        err(del(&mut h, ProtocolHandle(77), key(1))),
        ErrorCode::InvalidParameter
    );
    assert!(h.drain().is_empty());
    assert_eq!(h.mgm.memberships().len(), 1);
}

// Given a registered protocol that has not taken eth1,
// When it adds a membership on eth1,
// Then InvalidParameter (take ownership comes first).
#[test]
fn membership_before_ownership_is_invalid_parameter() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    let r = h.mgm.add_group_membership(
        h.now,
        pim,
        star_g("239.1.1.1"),
        key(1),
        MembershipFlags::JOIN_STATE,
        None,
    );
    assert_eq!(err(r), ErrorCode::InvalidParameter);
}

// Given an address range mask,
// When a scope is built from it,
// Then InvalidParameter: only wildcard or exact masks exist.
#[test]
fn range_masks_are_invalid_parameter() {
    let all = ip("255.255.255.255");
    let r = SourceGroup::from_masks(ip("10.0.0.0"), ip("255.0.0.0"), ip("239.1.1.1"), all);
    assert_eq!(err(r), ErrorCode::InvalidParameter);
    let r = SourceGroup::from_masks(
        ip("0.0.0.0"),
        ip("0.0.0.0"),
        ip("239.0.0.0"),
        ip("255.0.0.0"),
    );
    assert_eq!(err(r), ErrorCode::InvalidParameter);
}

// ===== 40: memberships update existing MFEs =====

/// A, alerts only, owns eth1..eth4 (VIFs 0..3); MFEs (S1,G1), (S2,G1), (S1,G2) installed
/// negative with iif eth1.
fn three_mfes() -> (Harness, ProtocolHandle) {
    let mut h = Harness::new();
    for i in 1..=4 {
        h.link_up(i);
    }
    let a = h.register_with(PIM, 0, callbacks(&[Callback::JoinAlert]));
    for i in 1..=4 {
        h.take(a, key(i));
    }
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.packet("10.0.0.2", "239.1.1.1", 0, Some(1));
    h.packet("10.0.0.1", "239.2.2.2", 0, Some(1));
    h.drain();
    (h, a)
}

// Given three negative MFEs, two of G1,
// When (*,G1) is joined on eth2,
// Then exactly the two G1 MFEs gain VIF 1, each with a join alert (member_update false).
#[test]
fn star_g_join_updates_only_the_mfes_of_that_group() {
    let (mut h, a) = three_mfes();
    h.join(a, star_g("239.1.1.1"), key(2));
    let g1 = |s: &str| sg(s, "239.1.1.1");
    assert_eq!(
        h.drain(),
        [
            Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 0, &[1])),
            join_alert(a, g1("10.0.0.1"), false),
            Action::Kernel(add_mfe("10.0.0.2", "239.1.1.1", 0, &[1])),
            join_alert(a, g1("10.0.0.2"), false),
        ]
    );
}

// Given three negative MFEs,
// When (*,*) is joined on eth3 and (S1,G2) on eth4, then (*,*) is left,
// Then every MFE gains VIF 2, (S1,G2) also VIF 3; leaving (*,*) removes VIF 2 everywhere.
#[test]
fn star_star_and_sg_joins_update_matching_mfes() {
    let (mut h, a) = three_mfes();
    h.join(a, star_star(), key(3));
    let ops = h.kernel();
    assert_eq!(
        ops,
        [
            add_mfe("10.0.0.1", "239.1.1.1", 0, &[2]),
            add_mfe("10.0.0.2", "239.1.1.1", 0, &[2]),
            add_mfe("10.0.0.1", "239.2.2.2", 0, &[2]),
        ]
    );
    h.join(a, sg("10.0.0.1", "239.2.2.2"), key(4));
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.2.2.2", 0, &[2, 3])]);
    h.leave(a, star_star(), key(3));
    assert_eq!(
        h.kernel(),
        [
            add_mfe("10.0.0.1", "239.1.1.1", 0, &[]),
            add_mfe("10.0.0.2", "239.1.1.1", 0, &[]),
            add_mfe("10.0.0.1", "239.2.2.2", 0, &[3]),
        ]
    );
}

// Given (S,G) and (*,G) joined on eth2 and an MFE forwarding to it,
// When (S,G) is deleted,
// Then eth2 stays (still covered by (*,G)); deleting (*,G) removes it and the iif owner gets
// an answerable prune alert.
#[test]
fn interface_stays_while_another_membership_covers_it() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let a = h.register_with(PIM, 0, callbacks(&[Callback::PruneAlert]));
    h.take(a, key(1));
    h.take(a, key(2));
    h.join(a, sg("10.0.0.1", "239.1.1.1"), key(2));
    h.join(a, star_g("239.1.1.1"), key(2));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.drain();
    h.leave(a, sg("10.0.0.1", "239.1.1.1"), key(2));
    assert!(h.kernel().is_empty());
    h.leave(a, star_g("239.1.1.1"), key(2));
    let out = h.drain();
    assert_eq!(
        out[0],
        Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 0, &[]))
    );
    assert!(matches!(
        &out[1],
        Action::Notify {
            protocol,
            notification: Notification::PruneAlert { query: Some(_), member_delete: false, .. }
        } if *protocol == a
    ));
    assert_eq!(out.len(), 2);
}

// Given an installed (S,G) MFE on eth1 -> {} and PIM owning eth2,
// When PIM adds FORWARD_STATE (S,G) on eth2, then deletes it,
// Then the MFE gains then loses VIF 1, and no membership record exists.
#[test]
fn forward_state_edits_only_the_existing_mfe() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.take(a, key(2));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.drain();
    let s = sg("10.0.0.1", "239.1.1.1");
    let f = MembershipFlags::FORWARD_STATE;
    h.mgm
        .add_group_membership(h.now, a, s, key(2), f, None)
        .unwrap();
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[1])]);
    assert!(h.mgm.memberships().is_empty());
    h.mgm
        .delete_group_membership(h.now, a, s, key(2), f, None)
        .unwrap();
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[])]);
    assert_eq!(
        err(h.mgm.delete_group_membership(h.now, a, s, key(2), f, None)),
        ErrorCode::NotFound
    );
    // Both flags: the join is recorded even though no MFE exists for another flow.
    let both = MembershipFlags(0x3);
    let other = sg("10.0.0.9", "239.1.1.1");
    h.mgm
        .add_group_membership(h.now, a, other, key(2), both, None)
        .unwrap();
    assert_eq!(h.mgm.memberships().len(), 1);
}

// Given eth1 the iif of an MFE and a (*,G) membership on eth1 and eth2,
// When the packet arrives,
// Then the outgoing list never contains the iif (only VIF 1).
#[test]
fn incoming_interface_is_never_an_outgoing_interface() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.take(a, key(2));
    h.join(a, star_g("239.1.1.1"), key(1));
    h.join(a, star_g("239.1.1.1"), key(2));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[1])]);
}

// ===== 18, 19: RPF and creation alert answers, deadlines =====

/// PIM (every callback) on eth1, eth2, eth3 (VIFs 0, 1, 2); DVMRP (every callback) on eth4
/// (VIF 3); (*,G) joined by PIM on eth2 and by DVMRP on eth4.
fn two_owners() -> (Harness, ProtocolHandle, ProtocolHandle) {
    let mut h = Harness::new();
    for i in 1..=4 {
        h.link_up(i);
    }
    let pim = h.register(PIM);
    let dvmrp = h.register(DVMRP);
    for i in 1..=3 {
        h.take(pim, key(i));
    }
    h.take(dvmrp, key(4));
    h.join(pim, star_g("239.1.1.1"), key(2));
    h.join(dvmrp, star_g("239.1.1.1"), key(4));
    h.drain();
    (h, pim, dvmrp)
}

fn rpf_query(out: &[(ProtocolHandle, Notification)]) -> QueryId {
    match out {
        [(_, Notification::Rpf { query, .. })] => *query,
        _ => panic!("expected one RPF callback, got {out:?}"),
    }
}

// Given a route toward S via eth1,
// When PIM answers the RPF callback with iif eth2 and upstream 10.9.9.9,
// Then the MFE's iif is eth2 (VIF 1), eth2 leaves the outgoing list, the upstream is set.
#[test]
fn rpf_answer_overrides_iif_and_upstream() {
    let (mut h, pim, dvmrp) = two_owners();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let q = rpf_query(&h.notes());
    h.mgm
        .answer_rpf(h.now, pim, q, Some(key(2)), Some(ip("10.9.9.9")))
        .unwrap();
    let out = h.notes();
    assert_eq!(
        out.len(),
        1,
        "only DVMRP has outgoing interfaces now: {out:?}"
    );
    let (
        to,
        Notification::CreationAlert {
            query, iif, oifs, ..
        },
    ) = &out[0]
    else {
        panic!("{out:?}");
    };
    assert_eq!((*to, *iif), (dvmrp, key(2)));
    assert_eq!(
        oifs,
        &[OifEntry {
            iface: key(4),
            igmp: false,
            enabled: true
        }]
    );
    h.mgm
        .answer_creation_alert(h.now, dvmrp, *query, &[])
        .unwrap();
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 1, &[3])]);
    let info = h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.1"), ip("239.1.1.1"))
        .unwrap();
    assert_eq!((info.iif, info.upstream), (key(2), Some(ip("10.9.9.9"))));
}

// Given an open RPF query to PIM,
// When DVMRP answers it, PIM answers with an unowned iif, or anyone answers an unknown query,
// Then InvalidParameter / InvalidParameter / NotFound, and the query stays open.
#[test]
fn rpf_answer_errors() {
    let (mut h, pim, dvmrp) = two_owners();
    h.link_up(9);
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let q = rpf_query(&h.notes());
    assert_eq!(
        err(h.mgm.answer_rpf(h.now, dvmrp, q, None, None)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.answer_rpf(h.now, pim, q, Some(key(9)), None)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.answer_rpf(h.now, pim, QueryId(999), None, None)),
        ErrorCode::NotFound
    );
    assert_eq!(
        err(h.mgm.answer_creation_alert(h.now, pim, q, &[])),
        ErrorCode::InvalidParameter,
        "an RPF query is not a creation alert"
    );
    h.mgm.answer_rpf(h.now, pim, q, None, None).unwrap();
}

// Given RPF and creation callbacks nobody answers,
// When the callback deadline passes each time,
// Then the defaults apply (FIB iif, every offered interface) and the MFE is installed.
#[test]
fn silent_protocols_get_the_defaults_at_the_deadline() {
    let (mut h, pim, dvmrp) = two_owners();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let deadline = h.mgm.poll_timeout().unwrap();
    assert_eq!(deadline, h.now + Config::default().callback_deadline);
    rpf_query(&h.notes());
    h.advance(Config::default().callback_deadline);
    let out = h.notes();
    assert_eq!(
        out.iter().map(|(p, _)| *p).collect::<Vec<_>>(),
        [pim, dvmrp]
    );
    let late = match &out[0].1 {
        Notification::CreationAlert { query, .. } => *query,
        n => panic!("{n:?}"),
    };
    h.advance(Config::default().callback_deadline);
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[1, 3])]);
    assert_eq!(
        err(h.mgm.answer_creation_alert(h.now, pim, late, &[])),
        ErrorCode::NotFound
    );
}

// Given creation alerts to PIM (eth2) and DVMRP (eth4),
// When DVMRP disables eth4 and PIM keeps eth2, and later DVMRP adds (*,G) on eth4 again
// after leaving,
// Then the MFE forwards to VIF 1 only and eth4 is not re-added to this MFE.
#[test]
fn creation_alert_can_disable_own_interfaces_for_this_mfe() {
    let (mut h, pim, dvmrp) = two_owners();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let q = rpf_query(&h.notes());
    h.mgm.answer_rpf(h.now, pim, q, None, None).unwrap();
    let out = h.notes();
    let query_of = |p: ProtocolHandle| {
        out.iter()
            .find_map(|(to, n)| match n {
                Notification::CreationAlert { query, .. } if *to == p => Some(*query),
                _ => None,
            })
            .unwrap()
    };
    // A protocol may only disable its own interfaces: eth2 in DVMRP's answer is ignored.
    h.mgm
        .answer_creation_alert(h.now, dvmrp, query_of(dvmrp), &[key(4), key(2)])
        .unwrap();
    assert!(h.drain().is_empty(), "still waiting for PIM");
    h.mgm
        .answer_creation_alert(h.now, pim, query_of(pim), &[])
        .unwrap();
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[1])]);
    h.leave(dvmrp, star_g("239.1.1.1"), key(4));
    h.join(dvmrp, star_g("239.1.1.1"), key(4));
    assert!(
        h.kernel().is_empty(),
        "a disabled interface stays out of this MFE"
    );
}

// Given an MFE pending on its RPF answer,
// When the same flow is reported again,
// Then nothing happens; once installed, a repeated NOCACHE re-pushes AddMfe.
#[test]
fn repeated_packets_are_ignored_while_pending_and_reinstall_when_installed() {
    let (mut h, pim, _) = two_owners();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let q = rpf_query(&h.notes());
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    assert!(h.drain().is_empty());
    h.mgm.answer_rpf(h.now, pim, q, None, None).unwrap();
    h.advance(Duration::from_secs(1));
    let op = add_mfe("10.0.0.1", "239.1.1.1", 0, &[1, 3]);
    assert_eq!(h.kernel(), std::slice::from_ref(&op));
    h.mgm.handle_upcall(
        h.now,
        Upcall::NoCache {
            family: Family::Ipv4,
            source: ip("10.0.0.1"),
            group: ip("239.1.1.1"),
            vif: VifIndex(0),
        },
        None,
    );
    assert_eq!(
        h.kernel(),
        [op],
        "the kernel lost it (FRR #12878): program it again"
    );
}

// Given no route toward S,
// When a packet arrives on eth1,
// Then the arrival interface is the iif (no upstream).
#[test]
fn without_route_the_arrival_interface_is_the_iif() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.take(a, key(2));
    h.join(a, star_g("239.1.1.1"), key(1));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 1, None);
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 1, &[0])]);
    // A route via an interface nobody owns also falls back to the arrival interface.
    h.link_up(3);
    h.packet("10.0.0.2", "239.1.1.1", 1, Some(3));
    assert_eq!(h.kernel(), [add_mfe("10.0.0.2", "239.1.1.1", 1, &[0])]);
    let info = h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.2"), ip("239.1.1.1"))
        .unwrap();
    assert_eq!(info.upstream, None);
}

// Given a route via a gateway on eth1,
// When the packet arrives,
// Then the upstream neighbour is the gateway.
#[test]
fn route_gateway_is_the_upstream_neighbour() {
    let mut h = Harness::new();
    h.link_up(1);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.drain();
    h.mgm.handle_new_packet(
        h.now,
        Family::Ipv4,
        ip("10.0.0.1"),
        ip("239.1.1.1"),
        VifIndex(0),
        Some(route(1, Some("10.1.1.254"))),
    );
    let info = h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.1"), ip("239.1.1.1"))
        .unwrap();
    assert_eq!(info.upstream, Some(ip("10.1.1.254")));
    assert_eq!(info.route, Some(route(1, Some("10.1.1.254"))));
}

// Given max_mfes = 1 with one MFE, and an unknown VIF,
// When more packets arrive,
// Then the new flow is dropped without state and the unknown VIF is ignored.
#[test]
fn full_mfe_table_and_unknown_vif_drop_the_flow() {
    let mut h = Harness::with_config(Config {
        max_mfes: 1,
        ..Config::default()
    });
    h.link_up(1);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    h.drain();
    h.packet("10.0.0.2", "239.1.1.1", 0, None);
    h.packet("10.0.0.3", "239.1.1.1", 7, None);
    assert!(h.drain().is_empty());
    assert_eq!(h.mgm.mfe_count(), 1);
}

// ===== 39: aging =====

// Given an installed MFE (timeout 900 s),
// When counters show traffic at 800 s,
// Then it lives until 1700 s; idle counters do not refresh it; then DelMfe, and the next
// packet re-creates it.
#[test]
fn traffic_refreshes_the_expiry_and_expiry_deletes() {
    let mut h = Harness::new();
    h.link_up(1);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    h.drain();
    let (s, g) = (ip("10.0.0.1"), ip("239.1.1.1"));
    h.advance(Duration::from_secs(800));
    let c = MfeCounters {
        packets: 10,
        bytes: 1000,
        wrong_if: 0,
    };
    h.mgm.handle_counters(h.now, Family::Ipv4, s, g, c);
    h.advance(Duration::from_secs(800));
    h.mgm.handle_counters(h.now, Family::Ipv4, s, g, c);
    let info = h.mgm.mfe(h.now, Family::Ipv4, s, g).unwrap();
    assert_eq!(
        (info.uptime_secs, info.expires_in_secs, info.counters),
        (1600, Some(100), c)
    );
    h.advance(Duration::from_secs(99));
    assert!(h.drain().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.kernel(), [del_mfe("10.0.0.1", "239.1.1.1")]);
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[])]);
}

// ===== 8-13, 32-34, 43: reads =====

// Given MFEs of two groups and sources,
// When walked 2 at a time from the start,
// Then the order is (group, source) and `more` tells when to stop; the cursor need not exist.
#[test]
fn mfe_walk_is_ordered_by_group_then_source() {
    let mut h = Harness::new();
    h.link_up(1);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    for (s, g) in [
        ("10.0.0.9", "239.1.1.1"),
        ("10.0.0.1", "239.2.2.2"),
        ("10.0.0.5", "239.1.1.1"),
    ] {
        h.packet(s, g, 0, None);
    }
    let walk = |h: &Harness, after| {
        let (list, more) = h.mgm.mfes_after(h.now, Family::Ipv4, after, 2);
        (
            list.iter().map(|m| (m.source, m.group)).collect::<Vec<_>>(),
            more,
        )
    };
    let (first, more) = walk(&h, None);
    assert_eq!(
        first,
        [
            (ip("10.0.0.5"), ip("239.1.1.1")),
            (ip("10.0.0.9"), ip("239.1.1.1"))
        ]
    );
    assert!(more);
    let (next, more) = walk(&h, Some(first[1]));
    assert_eq!(next, [(ip("10.0.0.1"), ip("239.2.2.2"))]);
    assert!(!more);
    let (from_missing, _) = walk(&h, Some((ip("10.0.0.6"), ip("239.1.1.1"))));
    assert_eq!(from_missing[0], (ip("10.0.0.9"), ip("239.1.1.1")));
    assert!(h.mgm.mfes_after(h.now, Family::Ipv6, None, 10).0.is_empty());
    assert!(h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.7"), ip("239.1.1.1"))
        .is_none());
}

// ===== 14: set MFE =====

// Given an MFE whose iif eth1 PIM owns,
// When PIM sets the upstream, DVMRP tries, or the MFE does not exist,
// Then Ok / InvalidParameter / NotFound.
#[test]
fn set_mfe_changes_upstream_for_the_iif_owner_only() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register_with(PIM, 0, Callbacks::NONE);
    let dvmrp = h.register_with(DVMRP, 0, Callbacks::NONE);
    h.take(pim, key(1));
    h.take(dvmrp, key(2));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let (s, g, f) = (ip("10.0.0.1"), ip("239.1.1.1"), Family::Ipv4);
    h.mgm.set_mfe(pim, f, s, g, ip("10.1.1.1")).unwrap();
    assert_eq!(
        h.mgm.mfe(h.now, f, s, g).unwrap().upstream,
        Some(ip("10.1.1.1"))
    );
    assert_eq!(
        err(h.mgm.set_mfe(dvmrp, f, s, g, ip("10.1.1.2"))),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.set_mfe(pim, f, ip("10.0.0.2"), g, ip("10.1.1.2"))),
        ErrorCode::NotFound
    );
    assert_eq!(
        err(h.mgm.set_mfe(ProtocolHandle(50), f, s, g, ip("10.1.1.2"))),
        ErrorCode::InvalidParameter
    );
}

// ===== 15, 16, 17, 29, 30: group enumeration =====

// Given memberships (S,G1), (*,G1) on two interfaces, (*,G2) and (*,*),
// When enumerated with ANY_SOURCE and ALL_SOURCES, one entry at a time,
// Then ANY_SOURCE gives one entry per group (and (*,*)), ALL_SOURCES every distinct scope.
#[test]
fn group_enumeration_any_source_and_all_sources() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    let b = h.register_with(DVMRP, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.take(a, key(2));
    h.join(a, sg("10.0.0.1", "239.1.1.1"), key(1));
    h.join(a, star_g("239.1.1.1"), key(1));
    h.join(a, star_g("239.1.1.1"), key(2));
    h.join(a, star_g("239.2.2.2"), key(2));
    h.join(a, star_star(), key(2));
    let collect = |h: &mut Harness, kind| {
        let e = h.mgm.group_enumeration_start(b, kind).unwrap();
        let mut all = Vec::new();
        loop {
            let (batch, more) = h.mgm.group_enumeration_get_next(b, e, 1).unwrap();
            all.extend(batch);
            if !more {
                break;
            }
        }
        h.mgm.group_enumeration_end(b, e).unwrap();
        all
    };
    let any = collect(&mut h, EnumKind::AnySource);
    assert_eq!(any, [star_star(), star_g("239.1.1.1"), star_g("239.2.2.2")]);
    let mut all = collect(&mut h, EnumKind::AllSources);
    all.sort();
    let mut expected = vec![
        star_star(),
        star_g("239.1.1.1"),
        star_g("239.2.2.2"),
        sg("10.0.0.1", "239.1.1.1"),
    ];
    expected.sort();
    assert_eq!(all, expected);
}

// Given an enumeration opened by A,
// When B uses it, max is 0, or it is ended twice,
// Then InvalidParameter; deregistering A ends its open enumerations.
#[test]
fn group_enumeration_errors() {
    let mut h = Harness::new();
    let a = h.register(PIM);
    let b = h.register(DVMRP);
    assert_eq!(
        err(h
            .mgm
            .group_enumeration_start(ProtocolHandle(42), EnumKind::AnySource)),
        ErrorCode::InvalidParameter
    );
    let e = h
        .mgm
        .group_enumeration_start(a, EnumKind::AnySource)
        .unwrap();
    assert_eq!(
        err(h.mgm.group_enumeration_get_next(b, e, 10)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.group_enumeration_get_next(a, e, 0)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        h.mgm.group_enumeration_get_next(a, e, 10).unwrap(),
        (vec![], false)
    );
    h.mgm.group_enumeration_end(a, e).unwrap();
    assert_eq!(
        err(h.mgm.group_enumeration_end(a, e)),
        ErrorCode::InvalidParameter
    );
    let e2 = h
        .mgm
        .group_enumeration_start(a, EnumKind::AllSources)
        .unwrap();
    h.mgm.deregister_protocol(a).unwrap();
    let a2 = h.register(PIM);
    assert_eq!(
        err(h.mgm.group_enumeration_get_next(a2, e2, 1)),
        ErrorCode::InvalidParameter
    );
}

// ===== 22: wrong interface =====

// Given PIM owning eth2 and an MFE with iif eth1,
// When a WRONGVIF upcall reports the flow on VIF 1 (eth2),
// Then PIM, owner of the arrival interface, gets WrongIf; a whole packet is only logged.
#[test]
fn wrong_vif_upcall_alerts_the_arrival_interface_owner() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let dvmrp = h.register_with(DVMRP, 0, Callbacks::NONE);
    let pim = h.register(PIM);
    h.take(dvmrp, key(1));
    h.take(pim, key(2));
    h.drain();
    let (s, g) = (ip("10.0.0.1"), ip("239.1.1.1"));
    let f = Family::Ipv4;
    h.mgm.handle_upcall(
        h.now,
        Upcall::WrongVif {
            family: f,
            source: s,
            group: g,
            vif: VifIndex(1),
        },
        None,
    );
    assert_eq!(
        h.drain(),
        [notify(
            pim,
            Notification::WrongIf {
                source: s,
                group: g,
                iface: key(2)
            }
        )]
    );
    h.mgm.handle_upcall(
        h.now,
        Upcall::WrongVif {
            family: f,
            source: s,
            group: g,
            vif: VifIndex(0),
        },
        None,
    );
    assert!(h.drain().is_empty(), "DVMRP does not handle WrongIf");
    let whole = Upcall::WholePacket {
        family: f,
        source: s,
        group: g,
        vif: VifIndex(0),
        wrong_vif: true,
        packet: vec![0x45, 0],
    };
    h.mgm.handle_upcall(h.now, whole, None);
    assert!(h.drain().is_empty());
}

// ===== 4: release side effects; link removal; forced cleanup =====

// Given PIM owning eth1 (iif) and eth2 (oif) of an installed MFE, and DVMRP on eth3 (oif),
// When PIM releases eth2, then eth1,
// Then eth2 leaves the outgoing list (AddMfe) and its VIF goes; releasing eth1 deletes the
// MFE (DelMfe) before deleting VIF 0.
#[test]
fn release_updates_and_deletes_mfes_before_freeing_the_vif() {
    let mut h = Harness::new();
    for i in 1..=3 {
        h.link_up(i);
    }
    let pim = h.register_with(PIM, 0, Callbacks::NONE);
    let dvmrp = h.register_with(DVMRP, 0, Callbacks::NONE);
    h.take(pim, key(1));
    h.take(pim, key(2));
    h.take(dvmrp, key(3));
    h.join(pim, star_g("239.1.1.1"), key(2));
    h.join(dvmrp, star_g("239.1.1.1"), key(3));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.drain();
    h.release(pim, key(2));
    assert_eq!(
        h.kernel(),
        [add_mfe("10.0.0.1", "239.1.1.1", 0, &[2]), del_vif(1, 2)]
    );
    h.release(pim, key(1));
    assert_eq!(
        h.kernel(),
        [del_mfe("10.0.0.1", "239.1.1.1"), del_vif(0, 1)]
    );
    assert_eq!(h.mgm.mfe_count(), 0);
}

// Given PIM and IGMP on eth1 and PIM on eth2 (iif) with a forwarding MFE,
// When eth1 is deleted from the kernel,
// Then both owners get InterfaceDeleted, the MFE loses VIF 0, VIF 0 is deleted, and the
// interface is forgotten; when ifindex 1 reappears it has no owner.
#[test]
fn link_removal_ends_ownership_and_frees_the_vif() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register_with(PIM, 0, callbacks(&[Callback::InterfaceDeleted]));
    let igmp = h.register_with(IGMP, 0, callbacks(&[Callback::InterfaceDeleted]));
    h.take(pim, key(1));
    h.take(igmp, key(1));
    h.take(pim, key(2));
    h.join(igmp, star_g("239.1.1.1"), key(1));
    h.packet("10.0.0.1", "239.1.1.1", 1, Some(2));
    assert_eq!(
        h.kernel(),
        [
            add_vif(0, 1),
            add_vif(1, 2),
            add_mfe("10.0.0.1", "239.1.1.1", 1, &[0])
        ]
    );
    h.link_removed(1);
    assert_eq!(
        h.drain(),
        [
            notify(pim, Notification::InterfaceDeleted { iface: key(1) }),
            notify(igmp, Notification::InterfaceDeleted { iface: key(1) }),
            Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 1, &[])),
            Action::Kernel(del_vif(0, 1)),
        ]
    );
    assert!(h.mgm.interface(IfIndex(1)).is_none());
    assert!(h.mgm.memberships().is_empty());
    assert_eq!(h.mgm.protocol(pim).unwrap().interfaces, [key(2)]);
    h.link_up(1);
    assert_eq!(h.mgm.owners(key(1)), Default::default());
}

// Given eth1 and eth2 known and eth2 owned,
// When a resync re-announces only eth1,
// Then eth2 is removed at ResyncEnd (mark and sweep); a rename keeps the ifindex.
#[test]
fn resync_sweeps_links_not_reannounced() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register(PIM);
    h.take(pim, key(2));
    h.drain();
    h.mgm.handle_link(h.now, LinkEvent::ResyncBegin);
    let mut renamed = link_info(1);
    renamed.name = "uplink".into();
    h.mgm.handle_link(h.now, LinkEvent::Link(renamed));
    assert!(h.drain().is_empty(), "nothing happens before ResyncEnd");
    h.mgm.handle_link(h.now, LinkEvent::ResyncEnd);
    assert_eq!(
        h.drain(),
        [
            notify(pim, Notification::InterfaceDeleted { iface: key(2) }),
            Action::Kernel(del_vif(0, 2))
        ]
    );
    assert_eq!(h.mgm.interface_by_name("uplink"), Some(IfIndex(1)));
    assert_eq!(h.mgm.interfaces().len(), 1);
}

// Given PIM owning eth1 and eth2 with memberships and DVMRP with (*,G) receivers,
// When PIM's client disconnects,
// Then its memberships go (prune alert to DVMRP, the one left), its MFEs are deleted, its
// VIFs freed, and the handle is stale.
#[test]
fn disconnect_cleans_up_everything_of_the_protocol() {
    let mut h = Harness::new();
    for i in 1..=3 {
        h.link_up(i);
    }
    let pim = h.register_with(PIM, 0, alerts_only());
    let dvmrp = h.register_with(DVMRP, 0, alerts_only());
    h.take(pim, key(1));
    h.take(pim, key(2));
    h.take(dvmrp, key(3));
    let g = star_g("239.1.1.1");
    h.join(pim, g, key(2));
    h.join(dvmrp, g, key(3));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.drain();
    h.mgm.handle_disconnect(h.now, pim);
    assert_eq!(
        h.drain(),
        [
            Action::Kernel(del_mfe("10.0.0.1", "239.1.1.1")),
            Action::Kernel(del_vif(0, 1)),
            prune_alert(dvmrp, g, key(2)),
            Action::Kernel(del_vif(1, 2)),
        ]
    );
    assert!(h.mgm.protocol(pim).is_none());
    assert_eq!(h.mgm.protocols().len(), 1);
    assert_eq!(
        err(h.mgm.deregister_protocol(pim)),
        ErrorCode::InvalidParameter
    );
    h.mgm.handle_disconnect(h.now, pim); // unknown: no-op
    assert!(h.drain().is_empty());
}

// Given an MFE waiting for DVMRP's creation-alert answer,
// When DVMRP disconnects,
// Then its query is answered by default and the MFE installs at once.
#[test]
fn disconnect_answers_pending_queries_by_default() {
    let (mut h, pim, dvmrp) = two_owners();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let q = rpf_query(&h.notes());
    h.mgm.answer_rpf(h.now, pim, q, None, None).unwrap();
    let out = h.notes();
    let pim_q = out
        .iter()
        .find_map(|(to, n)| match n {
            Notification::CreationAlert { query, .. } if *to == pim => Some(*query),
            _ => None,
        })
        .unwrap();
    h.mgm.answer_creation_alert(h.now, pim, pim_q, &[]).unwrap();
    assert!(h.drain().is_empty());
    h.mgm.handle_disconnect(h.now, dvmrp);
    assert_eq!(
        h.kernel(),
        [del_vif(3, 4), add_mfe("10.0.0.1", "239.1.1.1", 0, &[1])],
        "installed without DVMRP's interface, which it released"
    );
}

// ===== kernel errors and shutdown =====

// Given PIM taking eth1,
// When the kernel refuses AddVif,
// Then the ownership is undone, the VIF number is free again and take_last_kernel_error
// reports the refusal; the next request clears it.
#[test]
fn refused_add_vif_rolls_back_the_ownership() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    h.take(pim, key(1));
    let ops = h.kernel();
    assert_eq!(ops, [add_vif(0, 1)]);
    h.mgm
        .handle_kernel_error(h.now, &ops[0], ErrorCode::CanNotComplete);
    assert!(
        h.drain().is_empty(),
        "no DelVif for a VIF the kernel never added"
    );
    let e = h.mgm.take_last_kernel_error().unwrap();
    assert_eq!(e.code, ErrorCode::CanNotComplete);
    assert!(e.message.contains("VIF 0"), "{e}");
    assert_eq!(h.mgm.owners(key(1)), Default::default());
    assert_eq!(h.mgm.vif_of(IfIndex(1), Family::Ipv4), None);
    h.take(pim, key(1));
    assert_eq!(h.kernel(), [add_vif(0, 1)]);
    assert!(h.mgm.take_last_kernel_error().is_none());
}

// Given an MFE being installed,
// When the kernel refuses AddMfe,
// Then the MFE is forgotten (a DelMfe clears any older kernel copy) and the next packet
// retries; refused deletions are only logged.
#[test]
fn refused_add_mfe_forgets_the_entry() {
    let mut h = Harness::new();
    h.link_up(1);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    let op = add_mfe("10.0.0.1", "239.1.1.1", 0, &[]);
    assert_eq!(h.kernel(), std::slice::from_ref(&op));
    h.mgm
        .handle_kernel_error(h.now, &op, ErrorCode::InvalidParameter);
    assert_eq!(h.kernel(), [del_mfe("10.0.0.1", "239.1.1.1")]);
    assert_eq!(h.mgm.mfe_count(), 0);
    assert_eq!(h.mgm.poll_timeout(), None);
    h.mgm.handle_kernel_error(
        h.now,
        &del_mfe("10.0.0.1", "239.1.1.1"),
        ErrorCode::NotFound,
    );
    h.mgm
        .handle_kernel_error(h.now, &del_vif(0, 1), ErrorCode::NotFound);
    assert!(h.drain().is_empty());
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    assert_eq!(h.kernel(), [op]);
}

// Given installed MFEs and VIFs in both families,
// When shutdown runs,
// Then every MFE is deleted, then every VIF, and no state is left.
#[test]
fn shutdown_deletes_mfes_then_vifs() {
    let mut h = Harness::new();
    h.link_up(1);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1));
    h.take(a, key6(1));
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    h.packet("fd00::1", "ff3e::1", 0, None);
    h.drain();
    h.mgm.shutdown();
    assert_eq!(
        h.kernel(),
        [
            del_mfe("10.0.0.1", "239.1.1.1"),
            KernelOp::DelMfe {
                family: Family::Ipv6,
                source: ip("fd00::1"),
                group: ip("ff3e::1")
            },
            del_vif(0, 1),
            KernelOp::DelVif {
                family: Family::Ipv6,
                vif: VifIndex(0),
                ifindex: IfIndex(1)
            },
        ]
    );
    assert_eq!(h.mgm.mfe_count(), 0);
    assert!(h.mgm.protocols().is_empty());
    assert!(h.mgm.owned_interfaces().is_empty());
    assert_eq!(h.mgm.poll_timeout(), None);
}

// ===== IPv6 =====

// Given PIM owning (eth1, ::) and (eth2, ::) and an MLD-learned (*,G) on eth2,
// When an IPv6 packet arrives on MIF 0,
// Then an IPv6 MFE is installed using MIFs, independent of the IPv4 tables.
#[test]
fn ipv6_flows_use_mifs() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let a = h.register_with(PIM, 0, Callbacks::NONE);
    h.take(a, key(1)); // VIF 0 (IPv4)
    h.take(a, key6(2)); // MIF 0
    h.take(a, key6(1)); // MIF 1
    h.join(a, SourceGroup::star_g(ip("ff3e::1")).unwrap(), key6(2));
    h.drain();
    h.mgm.handle_new_packet(
        h.now,
        Family::Ipv6,
        ip("fd00::1"),
        ip("ff3e::1"),
        VifIndex(1),
        None,
    );
    let mut oifs = mgm_core::VifSet::EMPTY;
    oifs.insert(VifIndex(0));
    assert_eq!(
        h.kernel(),
        [KernelOp::AddMfe {
            family: Family::Ipv6,
            source: ip("fd00::1"),
            group: ip("ff3e::1"),
            iif: VifIndex(1),
            oifs,
        }]
    );
    assert_eq!(h.mgm.mfes_after(h.now, Family::Ipv4, None, 10).0.len(), 0);
    let owners = h.mgm.owned_interfaces();
    assert_eq!(owners.len(), 3);
}

// ===== more documented choices =====

// Given a negative MFE whose prune alert PIM answers with 0 s,
// When a long time passes,
// Then the MFE never expires (0 = not aged, as ulExpiryTime 0 in the MIB).
#[test]
fn prune_answer_of_zero_seconds_means_not_aged() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register_with(PIM, 0, callbacks(&[Callback::PruneAlert]));
    h.take(pim, key(1));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    let q = h
        .notes()
        .into_iter()
        .find_map(|(_, n)| match n {
            Notification::PruneAlert { query, .. } => query,
            _ => None,
        })
        .unwrap();
    h.mgm.answer_prune_alert(h.now, pim, q, 0).unwrap();
    assert_eq!(h.mgm.poll_timeout(), None);
    h.advance(Duration::from_secs(100_000));
    let info = h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.1"), ip("239.1.1.1"))
        .unwrap();
    assert_eq!((info.timeout_secs, info.expires_in_secs), (0, None));
}

// Given PIM owning both the RPF interface toward S (eth1) and eth2,
// When PIM itself reports (S,G) receivers on eth2,
// Then no join alert is raised (it would only tell PIM about its own join); DVMRP is not told
// either (source-specific alerts go only to the RPF owner).
#[test]
fn source_specific_alert_is_not_sent_back_to_its_cause() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register(PIM);
    h.register(DVMRP);
    h.take(pim, key(1));
    h.take(pim, key(2));
    h.drain();
    let s = sg("10.0.0.1", "239.1.1.1");
    let j = MembershipFlags::JOIN_STATE;
    h.mgm
        .add_group_membership(h.now, pim, s, key(2), j, Some(route(1, None)))
        .unwrap();
    assert!(h.drain().is_empty());
}

// Given PIM and IGMP co-owning eth1 (iif of an MFE) with IGMP receivers there,
// When IGMP releases eth1,
// Then PIM gets the local leave, PIM keeps the key, and the MFE (whose iif PIM answers for)
// stays.
#[test]
fn igmp_release_under_a_routing_owner_keeps_the_key_and_its_mfes() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register_with(PIM, 0, callbacks(&[Callback::LocalLeave]));
    let igmp = h.register_with(IGMP, 0, Callbacks::all());
    h.take(pim, key(1));
    h.take(igmp, key(1));
    h.take(pim, key(2));
    let g = star_g("239.1.1.1");
    h.join(igmp, g, key(1));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.drain();
    h.release(igmp, key(1));
    assert_eq!(
        h.drain(),
        [notify(
            pim,
            Notification::LocalLeave {
                scope: g,
                iface: key(1)
            }
        )]
    );
    assert_eq!(h.mgm.owners(key(1)).routing, Some(pim));
    assert_eq!(h.mgm.mfe_count(), 1);
}

// Given an installed MFE and a protocol handling creation alerts,
// When a new membership adds its interface to the existing MFE,
// Then no creation alert is raised (only new MFEs get them): just the AddMfe update.
#[test]
fn new_outgoing_interfaces_of_existing_mfes_raise_no_creation_alert() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register_with(PIM, 0, callbacks(&[Callback::CreationAlert]));
    h.take(pim, key(1));
    h.take(pim, key(2));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.drain();
    h.join(pim, star_g("239.1.1.1"), key(2));
    assert_eq!(
        h.drain(),
        [Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 0, &[1]))]
    );
}

// Given an MFE waiting for PIM's creation-alert answer,
// When PIM (owning nothing any more) deregisters,
// Then the query is gone and the MFE installs with the defaults at its deadline.
#[test]
fn deregister_leaves_pending_mfes_to_their_deadline() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let st = h.register_with(ProtocolId::STATIC, 0, Callbacks::NONE);
    let pim = h.register_with(PIM, 0, callbacks(&[Callback::CreationAlert]));
    h.take(st, key(1));
    h.take(pim, key(2));
    h.join(pim, star_g("239.1.1.1"), key(2));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let q = match h.notes().as_slice() {
        [(_, Notification::CreationAlert { query, .. })] => *query,
        other => panic!("{other:?}"),
    };
    // PIM hands eth2 to nobody: the MFE keeps no outgoing interface of PIM.
    h.release(pim, key(2));
    h.drain();
    h.mgm.deregister_protocol(pim).unwrap();
    assert_eq!(
        err(h.mgm.answer_creation_alert(h.now, pim, q, &[])),
        ErrorCode::InvalidParameter
    );
    assert!(h.drain().is_empty());
    h.advance(Config::default().callback_deadline);
    assert_eq!(h.kernel(), [add_mfe("10.0.0.1", "239.1.1.1", 0, &[])]);
}

// Given absurd timer settings (Duration::MAX) and a prune answer of u32::MAX seconds,
// When flows are created and answered,
// Then nothing panics: the deadline is capped and far-away expiries mean "not aged".
#[test]
fn extreme_timer_values_do_not_panic() {
    let config = Config {
        callback_deadline: Duration::MAX,
        mfe_timeout: Duration::MAX,
        ..Config::default()
    };
    let mut h = Harness::with_config(config);
    assert_eq!(
        h.mgm.config().callback_deadline,
        mgm_core::MAX_CALLBACK_DEADLINE
    );
    h.link_up(1);
    let pim = h.register(PIM);
    h.take(pim, key(1));
    h.packet("10.0.0.1", "239.1.1.1", 0, None);
    let q = rpf_query(&h.notes());
    h.advance(mgm_core::MAX_CALLBACK_DEADLINE);
    assert!(h
        .drain()
        .iter()
        .any(|a| matches!(a, Action::Kernel(KernelOp::AddMfe { .. }))));
    let _ = h.mgm.answer_rpf(h.now, pim, q, None, None);
    let info = h
        .mgm
        .mfe(h.now, Family::Ipv4, ip("10.0.0.1"), ip("239.1.1.1"))
        .unwrap();
    assert_eq!(info.timeout_secs, u32::MAX);
}

// Given a creation alert to PIM and a prune alert to PIM,
// When DVMRP answers them, or PIM answers the prune alert as a creation alert,
// Then InvalidParameter and the queries stay answerable by PIM.
#[test]
fn answers_from_the_wrong_protocol_are_invalid_parameter() {
    let mut h = Harness::new();
    h.link_up(1);
    h.link_up(2);
    let pim = h.register_with(
        PIM,
        0,
        callbacks(&[Callback::CreationAlert, Callback::PruneAlert]),
    );
    let dvmrp = h.register(DVMRP);
    h.take(pim, key(1));
    h.take(pim, key(2));
    h.join(pim, star_g("239.1.1.1"), key(2));
    h.drain();
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    let ca = match h.notes().as_slice() {
        [(_, Notification::CreationAlert { query, .. })] => *query,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(h.mgm.answer_creation_alert(h.now, dvmrp, ca, &[])),
        ErrorCode::InvalidParameter
    );
    h.mgm
        .answer_creation_alert(h.now, pim, ca, &[key(2)])
        .unwrap();
    let out = h.drain();
    assert_eq!(
        out[0],
        Action::Kernel(add_mfe("10.0.0.1", "239.1.1.1", 0, &[]))
    );
    let pa = match &out[1] {
        Action::Notify {
            notification: Notification::PruneAlert { query: Some(q), .. },
            ..
        } => *q,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        err(h.mgm.answer_prune_alert(h.now, dvmrp, pa, 5)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(
        err(h.mgm.answer_creation_alert(h.now, pim, pa, &[])),
        ErrorCode::InvalidParameter
    );
    h.mgm.answer_prune_alert(h.now, pim, pa, 5).unwrap();
    assert_eq!(h.mgm.poll_timeout(), Some(h.now + Duration::from_secs(5)));
}

// Given eth1 with fd00:1::1/64 and then the address removed,
// When PIM takes (eth1, fd00:1::7) before and after,
// Then the first take succeeds (on-link) and the second, after release, is InvalidParameter.
#[test]
fn removed_addresses_no_longer_validate_next_hops() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    let (addr, len) = (ip("fd00:1::1"), 64);
    h.mgm.handle_link(
        h.now,
        LinkEvent::AddressAdded {
            ifindex: IfIndex(1),
            addr,
            prefix_len: len,
        },
    );
    let nbma = InterfaceKey {
        ifindex: IfIndex(1),
        next_hop: ip("fd00:1::7"),
    };
    h.take(pim, nbma);
    assert_eq!(
        h.kernel(),
        [KernelOp::AddVif {
            family: Family::Ipv6,
            vif: VifIndex(0),
            ifindex: IfIndex(1)
        }]
    );
    h.release(pim, nbma);
    h.mgm.handle_link(
        h.now,
        LinkEvent::AddressRemoved {
            ifindex: IfIndex(1),
            addr,
            prefix_len: len,
        },
    );
    assert_eq!(
        err(h.mgm.take_interface_ownership(h.now, pim, nbma)),
        ErrorCode::InvalidParameter
    );
    assert_eq!(h.mgm.interface(IfIndex(1)).unwrap().addresses, vec![]);
}

// Given a core with an IPv4 MFE,
// When MFEs of one family are listed after a cursor of the other family (or a mixed one),
// Then the answer is an empty page with nothing more, not a panic (the range would run
// backwards).
#[test]
fn mfes_after_a_cursor_of_the_other_family_is_empty() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    h.take(pim, key(1));
    h.packet("10.0.0.1", "239.1.1.1", 0, Some(1));
    h.drain();
    assert_eq!(h.mgm.mfe_count(), 1);
    for (family, cursor) in [
        (Family::Ipv4, (ip("fd00::1"), ip("ff3e::1"))),
        (Family::Ipv4, (ip("10.0.0.1"), ip("ff3e::1"))),
        (Family::Ipv6, (ip("10.0.0.1"), ip("239.1.1.1"))),
    ] {
        let (page, more) = h.mgm.mfes_after(h.now, family, Some(cursor), 10);
        assert!(page.is_empty() && !more, "{family} after {cursor:?}");
    }
}

// Given a protocol that opens group enumerations and never ends them,
// When it has MAX_ENUMERATIONS open,
// Then the next start is NotEnoughMemory (each is a snapshot of every scope: unbounded ones
// would exhaust memory); another protocol is not affected, and ending one frees a slot.
#[test]
fn open_group_enumerations_are_bounded_per_protocol() {
    let mut h = Harness::new();
    let a = h.register(PIM);
    let b = h.register(DVMRP);
    let open: Vec<_> = (0..mgm_core::MAX_ENUMERATIONS)
        .map(|_| {
            h.mgm
                .group_enumeration_start(a, EnumKind::AllSources)
                .unwrap()
        })
        .collect();
    assert_eq!(
        err(h.mgm.group_enumeration_start(a, EnumKind::AllSources)),
        ErrorCode::NotEnoughMemory
    );
    h.mgm
        .group_enumeration_start(b, EnumKind::AnySource)
        .unwrap();
    h.mgm.group_enumeration_end(a, open[0]).unwrap();
    h.mgm
        .group_enumeration_start(a, EnumKind::AnySource)
        .unwrap();
}
