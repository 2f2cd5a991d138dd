//! The harness itself: namespaces are isolated, deleted on drop and on panic, code runs inside
//! them, and multicast crosses a veth between two of them. Root only (see `root_or_skip`).

use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use testns::{in_netns, root_or_skip, send_udp, Netns, Receiver, NO_DAD};

fn exists(name: &str) -> bool {
    Path::new("/run/netns").join(name).exists()
}

fn own_netns() -> std::path::PathBuf {
    std::fs::read_link("/proc/thread-self/ns/net").expect("ns link")
}

// Given a namespace guard,
// When it is dropped normally, or while a panic in code run inside it unwinds,
// Then the namespace is gone, and the panic reaches the test.
#[test]
fn guard_deletes_the_namespace_on_drop_and_on_panic() {
    if !root_or_skip() {
        return;
    }
    let ns = Netns::new("guard");
    let name = ns.name.clone();
    assert!(name.starts_with(&format!("mgmt-{}-", std::process::id())));
    assert!(name.ends_with("-guard"));
    assert!(exists(&name));
    drop(ns);
    assert!(!exists(&name));

    let seen = Arc::new(Mutex::new(String::new()));
    let inner = seen.clone();
    let result = std::panic::catch_unwind(move || {
        let ns = Netns::new("panic");
        *inner.lock().unwrap() = ns.name.clone();
        ns.block_on(|| async { panic!("inside") })
    });
    let payload = result.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"inside"));
    let name = seen.lock().unwrap().clone();
    assert!(!name.is_empty());
    assert!(!exists(&name), "{name} left behind");

    let seen = Arc::new(Mutex::new(String::new()));
    let inner = seen.clone();
    let result = std::panic::catch_unwind(move || {
        in_netns("body", move |name| async move {
            *inner.lock().unwrap() = name;
            panic!("in body");
        })
    });
    assert!(result.is_err());
    let name = seen.lock().unwrap().clone();
    assert!(name.ends_with("-body"), "{name}");
    assert!(!exists(&name), "{name} left behind");
}

// Given two namespaces joined by a veth,
// When code runs on their threads,
// Then it sees its own namespace (not the test's), its end of the veth, and lo as made.
#[test]
fn code_runs_inside_its_namespace() {
    if !root_or_skip() {
        return;
    }
    let a = Netns::new("in-a");
    let b = Netns::bare("in-b");
    a.veth_to("tna0", &b, "tnb0");
    let host = own_netns();
    let inside_a = a.spawn(own_netns).join().expect("thread a");
    let inside_b = b.block_on(|| async { own_netns() });
    assert_ne!(inside_a, host);
    assert_ne!(inside_b, host);
    assert_ne!(inside_a, inside_b);

    let index = a.ifindex("tna0");
    // (Not through /sys, which shows the namespace of whoever mounted it.)
    let seen = a.spawn(|| nix::net::if_::if_nametoindex("tna0").ok());
    assert_eq!(seen.join().expect("thread"), Some(index));
    let seen = b.spawn(|| nix::net::if_::if_nametoindex("tna0").ok());
    assert_eq!(seen.join().expect("thread"), None);
    assert!(a.ip("-o link show lo").contains("UP"), "Netns::new: lo up");
    assert!(
        !b.ip("-o link show lo").contains(",UP"),
        "Netns::bare: lo down"
    );
    assert!(b.ip("-o link show tnb0").contains(",UP"));

    b.veth_pair("tnc0", "tnc1");
    assert!(b.ip("-o link show tnc1").contains(",UP"));
    b.sysctl(&["net.ipv4.ip_forward=1"]);
    assert_eq!(b.sh("sysctl -n net.ipv4.ip_forward").trim(), "1");
    assert_eq!(a.sh("sysctl -n net.ipv4.ip_forward").trim(), "0");
}

fn multicast(group: IpAddr) {
    let a = Netns::new("mc-a");
    let b = Netns::new("mc-b");
    for ns in [&a, &b] {
        ns.sysctl(&NO_DAD);
    }
    a.veth_to("eth0", &b, "eth0");
    a.ip("addr add 10.77.0.1/24 dev eth0");
    b.ip("addr add 10.77.0.2/24 dev eth0");
    a.ip("route add 224.0.0.0/4 dev eth0");
    a.ip("-6 addr add fd00:77::1/64 dev eth0 nodad");
    b.ip("-6 addr add fd00:77::2/64 dev eth0 nodad");
    let receiver = Receiver::join(&b, "eth0", group, 5077);
    send_udp(&a, "eth0", group, 5077, 5);
    assert_eq!(receiver.count(5, Duration::from_secs(3)), 5);
    assert_eq!(receiver.drain(Duration::from_millis(100)), 0);
}

// Given a receiver that joined a group on the far end of a veth,
// When the near end sends five datagrams to the group,
// Then all five arrive, and no more.
#[test]
fn multicast_crosses_a_veth_ipv4() {
    if !root_or_skip() {
        return;
    }
    multicast("239.77.0.1".parse().unwrap());
}

#[test]
fn multicast_crosses_a_veth_ipv6() {
    if !root_or_skip() {
        return;
    }
    multicast("ff0e::77:1".parse().unwrap());
}
