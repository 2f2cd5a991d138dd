//! rtnetlink lookups and the interface monitor against the real kernel, in namespaces.

use std::net::IpAddr;
use std::time::Duration;

use mgm_core::{IfIndex, LinkEvent, Route};
use netlink::link::{monitor, monitor_with_rcvbuf, Rtnl};
use testns::{root_or_skip, Netns};
use tokio::sync::mpsc::Receiver;
use tokio::time::timeout;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Wait (5 s at most) for an event matching `pred`, skipping others.
async fn expect(
    rx: &mut Receiver<LinkEvent>,
    what: &str,
    pred: impl Fn(&LinkEvent) -> bool,
) -> LinkEvent {
    let wait = async {
        loop {
            match rx.recv().await {
                Some(event) if pred(&event) => return event,
                Some(_) => {}
                None => panic!("monitor ended while waiting for {what}"),
            }
        }
    };
    timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| panic!("no {what} within 5 s"))
}

fn is_link<'a>(name: &'a str) -> impl Fn(&LinkEvent) -> bool + 'a {
    move |e| matches!(e, LinkEvent::Link(info) if info.name == name)
}

#[test]
fn monitor_sees_dump_then_create_down_rename_delete() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("mon");
    ns.veth_pair("pre0", "pre1");
    ns.ip("addr add 10.4.0.1/24 dev pre0");
    let pre0 = ns.ifindex("pre0");
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
        let task = tokio::spawn(monitor(tx));
        // The dump: the interface created before start, with its state and address.
        expect(&mut rx, "lo in dump", |e| matches!(e, LinkEvent::Link(i) if i.loopback)).await;
        let LinkEvent::Link(info) = expect(&mut rx, "pre0 in dump", is_link("pre0")).await else {
            unreachable!()
        };
        assert_eq!(info.ifindex, IfIndex(pre0));
        assert!(info.up && info.multicast && !info.loopback && !info.point_to_point);
        assert_eq!(info.mtu, 1500);
        let added = expect(&mut rx, "pre0 address", |e| {
            matches!(e, LinkEvent::AddressAdded { addr, .. } if *addr == ip("10.4.0.1"))
        })
        .await;
        assert_eq!(
            added,
            LinkEvent::AddressAdded { ifindex: IfIndex(pre0), addr: ip("10.4.0.1"), prefix_len: 24 }
        );

        // Changes after start.
        let ip_cmd = |args: &str| testns::ip(&name, args);
        ip_cmd("link add name new0 type veth peer name new1");
        let LinkEvent::Link(new0) = expect(&mut rx, "new0 created", is_link("new0")).await else {
            unreachable!()
        };
        assert!(!new0.up);
        ip_cmd("link set new1 up");
        ip_cmd("link set new0 up");
        expect(&mut rx, "new0 up", |e| matches!(e, LinkEvent::Link(i) if i.name == "new0" && i.up))
            .await;
        ip_cmd("link set new0 down");
        expect(&mut rx, "new0 down", |e| {
            matches!(e, LinkEvent::Link(i) if i.name == "new0" && !i.up)
        })
        .await;
        ip_cmd("link set new0 name ren0");
        let LinkEvent::Link(renamed) = expect(&mut rx, "rename", is_link("ren0")).await else {
            unreachable!()
        };
        assert_eq!(renamed.ifindex, new0.ifindex, "a rename keeps the ifindex");
        ip_cmd("addr add 10.5.0.1/24 dev ren0");
        expect(&mut rx, "address added", |e| {
            *e == LinkEvent::AddressAdded {
                ifindex: new0.ifindex,
                addr: ip("10.5.0.1"),
                prefix_len: 24,
            }
        })
        .await;
        ip_cmd("-6 addr add fd00:5::1/64 dev ren0 nodad");
        expect(&mut rx, "IPv6 address added", |e| {
            matches!(e, LinkEvent::AddressAdded { addr, prefix_len: 64, .. } if *addr == ip("fd00:5::1"))
        })
        .await;
        ip_cmd("addr del 10.5.0.1/24 dev ren0");
        expect(&mut rx, "address removed", |e| {
            matches!(e, LinkEvent::AddressRemoved { addr, .. } if *addr == ip("10.5.0.1"))
        })
        .await;
        ip_cmd("neigh add 10.4.0.9 lladdr 02:00:00:00:00:09 dev pre0 nud permanent");
        expect(&mut rx, "neighbour added", |e| {
            *e == LinkEvent::NeighbourAdded { ifindex: IfIndex(pre0), addr: ip("10.4.0.9") }
        })
        .await;
        ip_cmd("neigh del 10.4.0.9 dev pre0");
        expect(&mut rx, "neighbour removed", |e| {
            *e == LinkEvent::NeighbourRemoved { ifindex: IfIndex(pre0), addr: ip("10.4.0.9") }
        })
        .await;
        ip_cmd("link del ren0");
        expect(&mut rx, "ren0 removed", |e| *e == LinkEvent::Removed { ifindex: new0.ifindex })
            .await;
        // A new interface may get another ifindex; it is announced as a new link.
        ip_cmd("link add name ren0 type veth peer name ren1");
        let LinkEvent::Link(again) = expect(&mut rx, "ren0 again", is_link("ren0")).await else {
            unreachable!()
        };
        assert_ne!(again.ifindex, new0.ifindex);

        // Dropping the receiver ends the monitor cleanly.
        drop(rx);
        ip_cmd("link set ren0 up");
        let result = timeout(Duration::from_secs(5), task).await.expect("monitor ends").unwrap();
        assert!(result.is_ok(), "{result:?}");
    });
}

#[test]
fn route_to_neighbours_and_links() {
    if !root_or_skip() {
        return;
    }
    let router = Netns::new("rt");
    let peer = Netns::new("rtp");
    router.veth_to("r0", &peer, "eth0");
    router.sysctl(&[
        "net.ipv6.conf.all.accept_dad=0",
        "net.ipv6.conf.r0.accept_dad=0",
    ]);
    router.ip("addr add 10.1.0.1/24 dev r0");
    router.ip("-6 addr add fd00:1::1/64 dev r0 nodad");
    router.ip("route add 10.9.0.0/24 via 10.1.0.2 proto static");
    router.ip("-6 route add fd00:9::/64 via fd00:1::2");
    router.ip("neigh add 10.1.0.2 lladdr 02:00:00:00:00:02 dev r0 nud permanent");
    router.ip("-6 neigh add fd00:1::2 lladdr 02:00:00:00:00:02 dev r0 nud permanent");
    router.ip("neigh add 10.1.0.66 dev r0 nud failed");
    let r0 = router.ifindex("r0");
    router.block_on(move || async move {
        let rtnl = Rtnl::new().unwrap();
        // A source behind a gateway: the interface and the gateway toward it.
        assert_eq!(
            rtnl.route_to(ip("10.9.0.5")).await.unwrap(),
            Some(Route {
                ifindex: IfIndex(r0),
                gateway: Some(ip("10.1.0.2")),
                prefix: ip("10.9.0.0"),
                prefix_len: 24,
                protocol: 4, // RTPROT_STATIC
            })
        );
        // On-link.
        let onlink = rtnl.route_to(ip("10.1.0.7")).await.unwrap().unwrap();
        assert_eq!((onlink.ifindex, onlink.gateway), (IfIndex(r0), None));
        assert_eq!((onlink.prefix, onlink.prefix_len), (ip("10.1.0.0"), 24));
        // No route (the namespace has no default route).
        assert_eq!(rtnl.route_to(ip("10.77.0.1")).await.unwrap(), None);
        // IPv6.
        let v6 = rtnl.route_to(ip("fd00:9::5")).await.unwrap().unwrap();
        assert_eq!(v6.ifindex, IfIndex(r0));
        assert_eq!(v6.gateway, Some(ip("fd00:1::2")));
        assert_eq!((v6.prefix, v6.prefix_len), (ip("fd00:9::"), 64));
        assert_eq!(rtnl.route_to(ip("fd00:77::1")).await.unwrap(), None);

        let mut neighbours = rtnl.neighbours(IfIndex(r0)).await.unwrap();
        neighbours.sort();
        assert_eq!(neighbours, vec![ip("10.1.0.2"), ip("fd00:1::2")]);
        assert!(rtnl.neighbours(IfIndex(1)).await.unwrap().is_empty());

        let links = rtnl.links().await.unwrap();
        let link = links.iter().find(|l| l.name == "r0").expect("r0");
        assert_eq!(link.ifindex, IfIndex(r0));
        assert!(link.up && link.multicast);
        assert!(links.iter().any(|l| l.name == "lo" && l.loopback));
    });
}

#[test]
fn monitor_overrun_triggers_a_full_resync() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("overrun");
    let name = ns.name.clone();
    ns.block_on(move || async move {
        let (tx, mut rx) = tokio::sync::mpsc::channel(1);
        let task = tokio::spawn(monitor_with_rcvbuf(tx, 1)); // the kernel's minimum buffer
        expect(
            &mut rx,
            "lo in dump",
            |e| matches!(e, LinkEvent::Link(i) if i.loopback),
        )
        .await;
        // While the monitor is stuck on the full channel (and this thread blocks in `ip`), the
        // kernel queues far more notifications than a minimal buffer holds.
        // 40 pairs created, the first 20 deleted again.
        let mut batch: Vec<String> = (0..40)
            .map(|i| format!("link add name ov{i} type veth peer name ow{i}"))
            .collect();
        batch.extend((0..20).map(|i| format!("link del ov{i}")));
        testns::ip_batch(&name, &batch);
        expect(&mut rx, "ResyncBegin", |e| *e == LinkEvent::ResyncBegin).await;
        // The resync dump announces every interface, then ends.
        let mut seen = std::collections::BTreeSet::new();
        let wait = async {
            loop {
                match rx.recv().await.expect("monitor alive") {
                    LinkEvent::ResyncEnd => break,
                    LinkEvent::Link(info) => {
                        seen.insert(info.name);
                    }
                    _ => {}
                }
            }
        };
        timeout(Duration::from_secs(10), wait)
            .await
            .expect("ResyncEnd");
        for i in 20..40 {
            assert!(
                seen.contains(&format!("ov{i}")),
                "ov{i} missing from the resync"
            );
        }
        for i in 0..20 {
            assert!(
                !seen.contains(&format!("ov{i}")),
                "deleted ov{i} in the resync"
            );
        }
        assert!(seen.contains("lo"));
        // Notifications queued before the overrun are dropped, not replayed after the dump.
        let stale = async {
            loop {
                match rx.recv().await {
                    Some(LinkEvent::Link(info)) if info.name.starts_with('o') => return info,
                    Some(_) => {}
                    None => std::future::pending().await,
                }
            }
        };
        if let Ok(info) = timeout(Duration::from_millis(500), stale).await {
            panic!("stale notification after the resync: {info:?}");
        }
        drop(rx);
        task.abort();
    });
}
