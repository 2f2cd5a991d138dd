//! IGMP as an MGM client next to a routing protocol, with mgm-core's real `Mgm` (no kernel):
//! a routing protocol takes ownership of an interface where IGMP runs; IGMP gets Disable,
//! then Enable, re-adds its memberships, and the owner gets Local Join / Local Leave.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use igmp::packet::igmp::IgmpMessage;
use igmp::packet::{GroupRecord, RecordType};
use igmp::{Config, Interfaces, Output};
use mgm_core::{
    Action, Callbacks, ComponentId, Family, IfIndex, InterfaceKey, LinkEvent, LinkInfo,
    MembershipFlags, Mgm, Notification, ProtocolHandle, ProtocolId, SourceGroup,
};

const R0: IfIndex = IfIndex(2);

/// The glue an agent runs after every MGM call: kernel ops are dropped (no kernel here),
/// Disable-IGMP is applied at once, Enable-IGMP after the call returned (queued), and the
/// notifications for other protocols are returned.
struct Glue {
    mgm: Mgm,
    igmp: Interfaces,
    me: ProtocolHandle,
}

impl Glue {
    fn new(now: Instant) -> Glue {
        let mut mgm = Mgm::new(mgm_core::Config::default());
        mgm.handle_link(
            now,
            LinkEvent::Link(LinkInfo {
                ifindex: R0,
                name: "r0".into(),
                up: true,
                multicast: true,
                point_to_point: false,
                loopback: false,
                mtu: 1500,
            }),
        );
        let me = mgm
            .register_protocol(ProtocolId::IGMP, ComponentId(0), Callbacks::all())
            .expect("register IGMP");
        mgm.take_interface_ownership(now, me, InterfaceKey::link(R0, Family::Ipv4))
            .expect("IGMP takes r0");
        let mut igmp = Interfaces::new();
        let own = IpAddr::V4(Ipv4Addr::new(10, 9, 0, 1));
        igmp.start(Family::Ipv4, R0, own, Config::igmp(), now);
        let mut glue = Glue { mgm, igmp, me };
        glue.pump(now);
        glue
    }

    /// Drain MGM and IGMP until both are quiet; returns notifications for other protocols.
    fn pump(&mut self, now: Instant) -> Vec<(ProtocolHandle, Notification)> {
        let mut others = Vec::new();
        loop {
            let mut enable = Vec::new();
            while let Some(action) = self.mgm.poll_action() {
                if let Action::Notify {
                    protocol,
                    notification,
                } = action
                {
                    match notification {
                        Notification::DisableIgmp { iface } if protocol == self.me => {
                            self.igmp.disable(iface)
                        }
                        Notification::EnableIgmp { iface } if protocol == self.me => {
                            enable.push(iface)
                        }
                        n if protocol != self.me => others.push((protocol, n)),
                        _ => {}
                    }
                }
            }
            for iface in enable {
                self.igmp.enable(iface);
            }
            let mut busy = false;
            while let Some(out) = self.igmp.poll_output() {
                let key = out.key();
                let flags = MembershipFlags::JOIN_STATE;
                match out.output {
                    Output::Join(sg) => {
                        busy = true;
                        self.mgm
                            .add_group_membership(now, self.me, sg, key, flags, None)
                            .unwrap();
                    }
                    Output::Leave(sg) => {
                        busy = true;
                        self.mgm
                            .delete_group_membership(now, self.me, sg, key, flags, None)
                            .unwrap();
                    }
                    Output::Send { .. } => {}
                }
            }
            if !busy {
                return others;
            }
        }
    }

    fn igmp_memberships(&self) -> Vec<SourceGroup> {
        let mut v: Vec<SourceGroup> = self
            .mgm
            .memberships()
            .into_iter()
            .filter(|m| m.protocol == self.me)
            .map(|m| m.scope)
            .collect();
        v.sort();
        v
    }
}

fn report(kind: RecordType, group: &str, sources: &[&str]) -> Vec<u8> {
    IgmpMessage::V3Report {
        records: vec![GroupRecord {
            kind,
            group: group.parse().unwrap(),
            sources: sources.iter().map(|s| s.parse().unwrap()).collect(),
        }],
    }
    .encode()
}

#[test]
fn routing_owner_takes_igmp_interface_disable_enable_then_local_join_and_leave() {
    let now = Instant::now();
    let mut glue = Glue::new(now);
    let host: IpAddr = "10.9.0.2".parse().unwrap();
    let dst: IpAddr = "224.0.0.22".parse().unwrap();
    let star_g = SourceGroup::star_g("239.1.1.1".parse().unwrap()).unwrap();
    let sg = SourceGroup::sg("10.5.0.5".parse().unwrap(), "232.1.1.1".parse().unwrap()).unwrap();

    glue.igmp.handle_packet(
        now,
        R0,
        host,
        dst,
        &report(RecordType::ToExclude, "239.1.1.1", &[]),
    );
    glue.igmp.handle_packet(
        now,
        R0,
        host,
        dst,
        &report(RecordType::AllowNew, "232.1.1.1", &["10.5.0.5"]),
    );
    assert_eq!(glue.pump(now), []);
    assert_eq!(glue.igmp_memberships(), [star_g, sg]);

    // A routing protocol takes r0: Disable-IGMP, MGM drops IGMP's memberships, Enable-IGMP;
    // IGMP re-adds them all and each becomes a Local Join for the new owner.
    let pim = glue
        .mgm
        .register_protocol(ProtocolId::PIM_SM, ComponentId(0), Callbacks::all())
        .expect("register PIM");
    let key = InterfaceKey::link(R0, Family::Ipv4);
    glue.mgm
        .take_interface_ownership(now, pim, key)
        .expect("PIM takes r0");
    let notes = glue.pump(now);
    let local_joins: Vec<SourceGroup> = notes
        .iter()
        .filter_map(|(p, n)| match n {
            Notification::LocalJoin { scope, iface } if *p == pim && *iface == key => Some(*scope),
            _ => None,
        })
        .collect();
    assert_eq!(local_joins.len(), 2, "{notes:?}");
    assert!(
        local_joins.contains(&star_g) && local_joins.contains(&sg),
        "{notes:?}"
    );
    assert_eq!(
        glue.igmp_memberships(),
        [star_g, sg],
        "IGMP re-added its memberships"
    );
    assert_eq!(glue.mgm.owners(key).routing, Some(pim));
    assert_eq!(glue.mgm.owners(key).igmp, Some(glue.me));

    // The host leaves the ASM group: with the routing owner in place, a Local Leave.
    glue.igmp.handle_packet(
        now,
        R0,
        host,
        dst,
        &report(RecordType::ToInclude, "239.1.1.1", &[]),
    );
    assert_eq!(glue.pump(now), []);
    let later = now + Duration::from_secs(3);
    glue.igmp.handle_timeout(later);
    let notes = glue.pump(later);
    assert!(
        notes.iter().any(|(p, n)| *p == pim
            && matches!(n, Notification::LocalLeave { scope, .. } if *scope == star_g)),
        "{notes:?}"
    );
    assert_eq!(glue.igmp_memberships(), [sg]);

    // The owner releases r0: Disable / Enable again, the (S,G) survives.
    glue.mgm
        .release_interface_ownership(now, pim, key)
        .expect("release");
    glue.pump(later);
    assert_eq!(glue.igmp_memberships(), [sg]);
    assert_eq!(glue.mgm.owners(key).routing, None);
}
