//! Scenario tests over the pure core: one per function, callback and error code of the MGM
//! checklist (spec section 6), plus our documented choices (docs/mgm-semantics.md).

mod common;

use std::time::Duration;

use common::*;
use mgm_core::{
    Action, Callbacks, ComponentId, Config, ErrorCode, Family, IfIndex, InterfaceKey, KernelOp,
    LinkEvent, Notification, ProtocolId, VifIndex,
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

// Given PIM and IGMP co-owning eth1, IGMP with a membership there,
// When PIM releases eth1,
// Then DisableIgmp, IGMP's membership dropped, ownership change, EnableIgmp; the VIF stays.
#[test]
fn routing_release_on_igmp_interface_runs_the_handshake() {
    let mut h = Harness::new();
    h.link_up(1);
    let pim = h.register(PIM);
    let igmp = h.register(IGMP);
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
    assert_eq!(h.mgm.owners(key(1)).igmp, Some(igmp));
    assert_eq!(h.mgm.protocol_on_interface(key(1)).unwrap().0, IGMP);
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
