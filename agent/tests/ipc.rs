//! mgmd's IPC end to end: `agent::run` inside its own network namespace (`testns::in_netns`:
//! entered with `setns` on a dedicated thread running a current-thread runtime), veths made
//! with `ip -n`, driven through `agent::client::Client`. Root only; skipped without root unless
//! CI=true.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use agent::client::{Client, ClientError};
use agent::Config;
use serde_json::{json, Value};
use testns::{
    in_netns, ip_batch, on_thread_in, root_or_skip, veth_pair, Netns, NO_DAD, NO_RP_FILTER,
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::oneshot;

/// A running mgmd (inside the current namespace).
struct Daemon {
    socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), agent::Error>>,
}

fn socket_path(ns: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{ns}.sock"))
}

fn config(ns: &str) -> Config {
    Config {
        socket: socket_path(ns),
        counter_interval: 1,
        ..Config::default()
    }
}

impl Drop for Daemon {
    /// A test that failed before `stop` leaves no socket file behind.
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

impl Daemon {
    async fn start(config: Config) -> Daemon {
        let socket = config.socket.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(agent::run(config, async {
            let _ = stopped.await;
        }));
        for _ in 0..200 {
            if let Ok(mut c) = Client::connect(&socket).await {
                if c.request("ping", Value::Null).await.is_ok() {
                    return Daemon {
                        socket,
                        stop: Some(stop),
                        task,
                    };
                }
            }
            assert!(
                !task.is_finished(),
                "mgmd stopped at start: {:?}",
                task.await
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("mgmd did not answer on {}", socket.display());
    }

    async fn client(&self) -> Client {
        Client::connect(&self.socket).await.expect("connect")
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = (&mut self.task).await.expect("mgmd task");
        result.expect("mgmd exits cleanly");
        assert!(!self.socket.exists(), "socket file left behind");
    }
}

async fn error_code(client: &mut Client, op: &str, fields: Value) -> String {
    match client.request(op, fields.clone()).await {
        Err(ClientError::Server { code, .. }) => code,
        other => panic!("{op} {fields}: expected an error, got {other:?}"),
    }
}

/// Lines of a /proc/net table of this thread's namespace, header excluded.
fn proc_net(table: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new("/proc/thread-self/net").join(table)).unwrap_or_default();
    text.lines().skip(1).map(str::to_string).collect()
}

async fn register(client: &mut Client, protocol_id: u32, callbacks: Value) -> u64 {
    client
        .request(
            "register_protocol",
            json!({"protocol_id": protocol_id, "callbacks": callbacks}),
        )
        .await
        .expect("register")["handle"]
        .as_u64()
        .expect("handle")
}

async fn wait_until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..250 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

// Given mgmd in a namespace with two veth pairs,
// When a client registers, takes ownership and sends bad requests of every kind,
// Then good requests succeed, each bad one gets its error code, and the connection survives.
#[test]
fn register_own_and_bad_requests() {
    if !root_or_skip() {
        return;
    }
    in_netns("errors", |ns| async move {
        veth_pair(&ns, "a0", "b0");
        veth_pair(&ns, "a1", "b1");
        let daemon = Daemon::start(config(&ns)).await;
        let mut c = daemon.client().await;
        let hello = c
            .request("hello", json!({"version": 1, "client": "test"}))
            .await
            .unwrap();
        assert_eq!(hello["version"], 1);
        assert_eq!(
            error_code(&mut c, "hello", json!({"version": 2})).await,
            "InvalidParameter"
        );

        let h = register(&mut c, 21, json!(["join_alert", "prune_alert"])).await;
        assert_eq!(
            error_code(&mut c, "register_protocol", json!({"protocol_id": 21})).await,
            "AlreadyExists"
        );
        let taken = c
            .request(
                "take_interface_ownership",
                json!({"handle": h, "ifname": "a0"}),
            )
            .await
            .unwrap();
        assert_eq!(
            taken["keys"].as_array().map(Vec::len),
            Some(2),
            "both families: {taken}"
        );
        c.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "a1", "family": "ipv4"}),
        )
        .await
        .unwrap();
        let on = c
            .request("get_protocol_on_interface", json!({"ifname": "a0"}))
            .await
            .unwrap();
        assert_eq!(on["protocol_id"], 21);
        assert_eq!(
            error_code(
                &mut c,
                "take_interface_ownership",
                json!({"handle": h, "ifname": "a0"})
            )
            .await,
            "AlreadyExists"
        );
        c.request(
            "add_group_membership",
            json!({"ifname": "a1", "group": "239.1.1.1"}),
        )
        .await
        .unwrap();
        let groups = c.request("show_groups", Value::Null).await.unwrap();
        assert_eq!(
            groups["groups"].as_array().map(Vec::len),
            Some(1),
            "{groups}"
        );

        // Bad requests.
        assert_eq!(error_code(&mut c, "fly", Value::Null).await, "UnknownOp");
        assert_eq!(
            error_code(
                &mut c,
                "add_group_membership",
                json!({"handle": h + 100, "ifname": "a1", "group": "239.1.1.2"})
            )
            .await,
            "InvalidParameter"
        );
        assert_eq!(
            error_code(
                &mut c,
                "take_interface_ownership",
                json!({"handle": h, "ifname": "nosuch0"})
            )
            .await,
            "InvalidParameter"
        );
        assert_eq!(
            error_code(
                &mut c,
                "take_interface_ownership",
                json!({"handle": h, "ifindex": 9999})
            )
            .await,
            "InvalidParameter"
        );
        assert_eq!(
            error_code(
                &mut c,
                "add_group_membership",
                json!({"ifname": "a1", "source": "10.0.0.0",
                "source_mask": "255.255.255.0", "group": "239.1.1.1"})
            )
            .await,
            "InvalidParameter"
        );
        assert_eq!(
            error_code(
                &mut c,
                "delete_group_membership",
                json!({"ifname": "a1", "group": "239.9.9.9"})
            )
            .await,
            "NotFound"
        );
        assert_eq!(
            error_code(&mut c, "take_interface_ownership", json!({"ifindex": "x"})).await,
            "MalformedRequest"
        );
        let malformed = c.raw("{not json").await.unwrap();
        assert_eq!(malformed["error"]["code"], "MalformedRequest");
        assert_eq!(malformed["id"], Value::Null);
        let no_op = c.raw(r#"{"id": 5}"#).await.unwrap();
        assert_eq!(
            (no_op["id"].clone(), no_op["error"]["code"].clone()),
            (json!(5), json!("MalformedRequest"))
        );

        // Another connection cannot use this handle, nor take the owned interface.
        let mut other = daemon.client().await;
        assert_eq!(
            error_code(
                &mut other,
                "release_interface_ownership",
                json!({"handle": h, "ifname": "a0"})
            )
            .await,
            "InvalidParameter"
        );
        let h2 = register(&mut other, 22, json!([])).await;
        assert_eq!(
            error_code(
                &mut other,
                "take_interface_ownership",
                json!({"handle": h2, "ifname": "a0"})
            )
            .await,
            "AlreadyExists"
        );

        // Nothing of the above changed state; batch applies in order.
        let batch = c
            .request(
                "batch",
                json!({"requests": [
                    {"op": "add_group_membership", "ifname": "a1", "group": "239.2.2.2"},
                    {"op": "nope"},
                    {"op": "add_group_membership", "ifname": "a1", "group": "239.2.2.2"},
                ]}),
            )
            .await
            .unwrap();
        let results = batch["results"].as_array().cloned().unwrap_or_default();
        assert!(results[0].get("ok").is_some(), "{batch}");
        assert_eq!(results[1]["error"]["code"], "UnknownOp");
        let owners = c.request("show_owners", Value::Null).await.unwrap();
        assert_eq!(
            owners["owners"].as_array().map(Vec::len),
            Some(3),
            "{owners}"
        );
        let verify = c.request("verify", Value::Null).await.unwrap();
        assert_eq!(verify["clean"], true, "{verify}");
        assert_eq!(
            proc_net("ip_mr_vif").len(),
            2,
            "{:?}",
            proc_net("ip_mr_vif")
        );

        // A line over 1 MiB: TooLarge, then the connection is closed.
        let mut big = format!(
            "{{\"id\":1,\"op\":\"ping\",\"pad\":\"{}",
            "x".repeat(1 << 20)
        );
        big.push_str("\"}\n");
        let stream = tokio::net::UnixStream::connect(&daemon.socket)
            .await
            .unwrap();
        let (read, mut write) = stream.into_split();
        let _ = write.write_all(big.as_bytes()).await;
        let mut lines = BufReader::new(read).lines();
        let line = lines.next_line().await.unwrap().expect("a reply");
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["error"]["code"], "TooLarge");
        assert!(
            lines.next_line().await.unwrap_or(None).is_none(),
            "connection not closed"
        );

        assert_eq!(c.request("ping", Value::Null).await.unwrap()["pong"], true);
        drop(other);
        drop(c);
        daemon.stop().await;
        assert!(proc_net("ip_mr_vif").is_empty(), "VIFs left after shutdown");
    });
}

// Given a client owning two interfaces with a membership,
// When its connection drops without any cleanup,
// Then mgmd releases everything: no owner, no registration, no VIF, verify clean.
#[test]
fn disconnect_is_forced_cleanup() {
    if !root_or_skip() {
        return;
    }
    in_netns("disconnect", |ns| async move {
        veth_pair(&ns, "a0", "b0");
        let daemon = Daemon::start(config(&ns)).await;
        let mut c = daemon.client().await;
        let h = register(&mut c, 21, json!(["join_alert"])).await;
        for ifname in ["a0", "b0"] {
            c.request(
                "take_interface_ownership",
                json!({"handle": h, "ifname": ifname}),
            )
            .await
            .unwrap();
        }
        c.request(
            "add_group_membership",
            json!({"ifname": "b0", "group": "239.1.1.1"}),
        )
        .await
        .unwrap();
        assert_eq!(proc_net("ip_mr_vif").len(), 2);
        drop(c);

        let mut admin = daemon.client().await;
        wait_until("forced cleanup", || {
            let socket = daemon.socket.clone();
            async move {
                let mut admin = Client::connect(&socket).await.unwrap();
                let owners = admin.request("show_owners", Value::Null).await.unwrap();
                owners["owners"].as_array().is_some_and(Vec::is_empty)
            }
        })
        .await;
        let protocols = admin.request("show_protocols", Value::Null).await.unwrap();
        let ids: Vec<&Value> = protocols["protocols"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| &p["protocol_id"])
            .collect();
        assert!(!ids.contains(&&json!(21)), "still registered: {protocols}");
        let groups = admin.request("show_groups", Value::Null).await.unwrap();
        assert_eq!(groups["groups"], json!([]));
        assert!(
            proc_net("ip_mr_vif").is_empty(),
            "{:?}",
            proc_net("ip_mr_vif")
        );
        assert_eq!(
            admin.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );
        drop(admin);
        daemon.stop().await;
    });
}

// Given 33 multicast-capable interfaces,
// When one client takes them one by one,
// Then the first 32 get VIFs, the 33rd answers NotEnoughMemory and nothing else changes.
#[test]
fn thirty_third_interface_is_not_enough_memory() {
    if !root_or_skip() {
        return;
    }
    in_netns("vifs", |ns| async move {
        let mut lines = Vec::new();
        for i in 0..33 {
            lines.push(format!("link add name x{i} type veth peer name y{i}"));
            lines.push(format!("link set x{i} up"));
        }
        ip_batch(&ns, &lines);
        let daemon = Daemon::start(config(&ns)).await;
        let mut c = daemon.client().await;
        let h = register(&mut c, 21, json!([])).await;
        for i in 0..32 {
            c.request(
                "take_interface_ownership",
                json!({"handle": h, "ifname": format!("x{i}")}),
            )
            .await
            .unwrap_or_else(|e| panic!("x{i}: {e}"));
        }
        let before = c.request("show_owners", Value::Null).await.unwrap();
        assert_eq!(proc_net("ip_mr_vif").len(), 32);
        assert_eq!(
            error_code(
                &mut c,
                "take_interface_ownership",
                json!({"handle": h, "ifname": "x32"})
            )
            .await,
            "NotEnoughMemory"
        );
        assert_eq!(
            error_code(
                &mut c,
                "take_interface_ownership",
                json!({"handle": h, "ifname": "x32", "family": "ipv6"})
            )
            .await,
            "NotEnoughMemory"
        );
        let after = c.request("show_owners", Value::Null).await.unwrap();
        assert_eq!(before, after, "ownership changed");
        assert_eq!(proc_net("ip_mr_vif").len(), 32);
        assert_eq!(
            c.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );
        // Releasing one frees a VIF for the 33rd.
        c.request(
            "release_interface_ownership",
            json!({"handle": h, "ifname": "x0"}),
        )
        .await
        .unwrap();
        c.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "x32"}),
        )
        .await
        .unwrap();
        drop(c);
        daemon.stop().await;
    });
}

// Given a running mgmd,
// When a second one starts on the same socket, or on another socket in the same namespace,
// Then both refuse with exit code 69; after a stop, a stale socket file is replaced.
#[test]
fn second_instance_refused_and_stale_socket_replaced() {
    if !root_or_skip() {
        return;
    }
    in_netns("second", |ns| async move {
        let daemon = Daemon::start(config(&ns)).await;
        let same = agent::run(config(&ns), async {}).await.unwrap_err();
        assert!(matches!(same, agent::Error::SocketInUse(_)), "{same}");
        assert_eq!(same.exit_code(), 69);
        let other_socket = Config {
            socket: socket_path(&format!("{ns}-2")),
            ..config(&ns)
        };
        let other = agent::run(other_socket, async {}).await.unwrap_err();
        assert!(other.to_string().contains("already owns"), "{other}");
        assert_eq!(other.exit_code(), 69);
        daemon.stop().await;

        // A socket file left by a crashed mgmd.
        let path = socket_path(&ns);
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let daemon = Daemon::start(config(&ns)).await;
        daemon.stop().await;
    });
}

// Given a static route whose inbound interface does not exist yet,
// When the interface appears,
// Then the route goes from pending to installed, owning both interfaces; a route whose
// interface another protocol owns is pending until that owner releases it; at shutdown a
// connected client gets the shutdown event.
#[test]
fn static_route_waits_for_its_interfaces() {
    if !root_or_skip() {
        return;
    }
    in_netns("static", |ns| async move {
        veth_pair(&ns, "out0", "peer0");
        let daemon = Daemon::start(config(&ns)).await;
        let mut c = daemon.client().await;
        let added = c
            .request(
                "static_add",
                json!({"from": "in0", "group": "239.1.1.1", "to": ["out0"]}),
            )
            .await
            .unwrap();
        assert_eq!(added["state"], "pending");
        let shown = c.request("show_static", Value::Null).await.unwrap();
        assert!(
            shown["routes"][0]["reason"]
                .as_str()
                .unwrap_or("")
                .contains("in0"),
            "{shown}"
        );
        veth_pair(&ns, "in0", "peer1");
        let socket = daemon.socket.clone();
        wait_until("route installed", || {
            let socket = socket.clone();
            async move {
                let mut c = Client::connect(&socket).await.unwrap();
                let shown = c.request("show_static", Value::Null).await.unwrap();
                shown["routes"][0]["state"] == "installed"
            }
        })
        .await;
        assert_eq!(proc_net("ip_mr_vif").len(), 2);
        assert_eq!(
            error_code(
                &mut c,
                "static_add",
                json!({"from": "in0", "group": "239.1.1.1", "to": ["out0"]})
            )
            .await,
            "AlreadyExists"
        );
        c.request("static_del", json!({"from": "in0", "group": "239.1.1.1"}))
            .await
            .unwrap();
        assert!(proc_net("ip_mr_vif").is_empty());
        assert_eq!(
            error_code(
                &mut c,
                "static_del",
                json!({"from": "in0", "group": "239.1.1.1"})
            )
            .await,
            "NotFound"
        );

        // A route whose interface another protocol owns waits until it is released.
        let mut owner = daemon.client().await;
        let h = register(&mut owner, 21, json!([])).await;
        owner
            .request(
                "take_interface_ownership",
                json!({"handle": h, "ifname": "in0"}),
            )
            .await
            .unwrap();
        let added = c
            .request(
                "static_add",
                json!({"from": "in0", "group": "239.1.1.1", "to": ["out0"]}),
            )
            .await
            .unwrap();
        assert_eq!(added["state"], "pending");
        let shown = c.request("show_static", Value::Null).await.unwrap();
        let reason = shown["routes"][0]["reason"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(reason.contains("cannot own in0"), "{shown}");
        owner
            .request(
                "release_interface_ownership",
                json!({"handle": h, "ifname": "in0"}),
            )
            .await
            .unwrap();
        let shown = c.request("show_static", Value::Null).await.unwrap();
        assert_eq!(shown["routes"][0]["state"], "installed", "{shown}");
        drop(owner);

        // Clients still connected at shutdown are told.
        daemon.stop().await;
        let event = c.next_event().await.unwrap();
        assert_eq!(event, Some(json!({"event": "shutdown"})));
        assert_eq!(c.next_event().await.unwrap(), None);
    });
}

// Given a client that handles join alerts but never reads, with an event queue of 2,
// When another client's memberships raise thousands of alerts at once,
// Then mgmd disconnects the slow client and cleans up its registration.
#[test]
fn slow_client_is_disconnected() {
    if !root_or_skip() {
        return;
    }
    in_netns("slow", |ns| async move {
        veth_pair(&ns, "a0", "b0");
        let daemon = Daemon::start(Config {
            event_queue: 2,
            ..config(&ns)
        })
        .await;
        let mut slow = daemon.client().await;
        register(&mut slow, 30, json!(["join_alert"])).await;
        let mut busy = daemon.client().await;
        let h = register(&mut busy, 21, json!([])).await;
        busy.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "a0", "family": "ipv4"}),
        )
        .await
        .unwrap();
        // One batch: the alerts are queued faster than the slow client's task can move them
        // into its socket (and it never reads the socket either).
        let requests: Vec<Value> = (1..=3000)
            .map(|i| {
                json!({"op": "add_group_membership", "ifname": "a0",
                "group": format!("239.0.{}.{}", i / 256, i % 256)})
            })
            .collect();
        busy.request("batch", json!({"requests": requests}))
            .await
            .unwrap();
        let protocols = busy.request("show_protocols", Value::Null).await.unwrap();
        let ids: Vec<&Value> = protocols["protocols"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| &p["protocol_id"])
            .collect();
        assert!(
            !ids.contains(&&json!(30)),
            "slow client still registered: {protocols}"
        );
        let stats = busy.request("show_stats", Value::Null).await.unwrap();
        assert_eq!(stats["stats"]["slow_clients_disconnected"], 1);
        // The slow client finds its connection closed after the queued events.
        let mut events = 0;
        while let Ok(Some(_)) = slow.next_event().await {
            events += 1;
        }
        assert!(
            events < 3000,
            "all {events} events delivered to a slow client"
        );
        drop(busy);
        daemon.stop().await;
    });
}

// Given VIFs and an MFC entry left in the table by a previous run (static entries made through
// a non-owner socket, as mgmd makes them),
// When mgmd starts,
// Then it deletes them (the desired state at start is empty) and verify is clean.
#[test]
fn leftovers_of_a_previous_run_are_reconciled() {
    if !root_or_skip() {
        return;
    }
    in_netns("leftover", |ns| async move {
        use mgm_core::{Family, IfIndex, VifIndex, VifSet};
        veth_pair(&ns, "a0", "b0");
        let index = |name: &str| IfIndex(nix::net::if_::if_nametoindex(name).expect("ifindex"));
        {
            let old = netlink::mrt::MrtSocket::open_static(Family::Ipv4, None).expect("socket");
            old.add_vif(VifIndex(3), index("a0")).expect("add vif 3");
            old.add_vif(VifIndex(5), index("b0")).expect("add vif 5");
            let mut oifs = VifSet::EMPTY;
            oifs.insert(VifIndex(5));
            old.add_mfc(
                "10.9.9.9".parse().unwrap(),
                "239.9.9.9".parse().unwrap(),
                VifIndex(3),
                oifs,
            )
            .expect("add mfc");
        }
        assert_eq!(proc_net("ip_mr_vif").len(), 2);
        assert_eq!(proc_net("ip_mr_cache").len(), 1);
        let daemon = Daemon::start(config(&ns)).await;
        assert!(
            proc_net("ip_mr_vif").is_empty(),
            "{:?}",
            proc_net("ip_mr_vif")
        );
        assert!(
            proc_net("ip_mr_cache").is_empty(),
            "{:?}",
            proc_net("ip_mr_cache")
        );
        let mut c = daemon.client().await;
        assert_eq!(
            c.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );
        drop(c);
        daemon.stop().await;
    });
}

/// Join `group` on eth0 and count datagrams on `port` for `seconds`.
fn receive(group: &str, port: u16, seconds: f64) -> usize {
    let group = group.parse().expect("group");
    let ifindex = nix::net::if_::if_nametoindex("eth0").expect("eth0");
    let socket = testns::multicast_receiver(group, port, ifindex);
    testns::count_received(&socket, usize::MAX, Duration::from_secs_f64(seconds))
}

/// Send `count` datagrams to `group:port`, 50 ms apart, TTL 8.
fn send(group: &str, port: u16, count: usize) {
    use std::net::UdpSocket;
    let socket = UdpSocket::bind("10.1.1.2:0").expect("bind");
    socket.set_multicast_ttl_v4(8).expect("ttl");
    for i in 0..count {
        let _ = socket.send_to(format!("packet {i}").as_bytes(), (group, port));
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sender | router | receiver: `S` eth0 10.1.1.2 -- in0 10.1.1.1 [router] out0 10.1.2.1 --
/// eth0 10.1.2.2 `C`. Returns the two outer namespaces (`lo` up; dropped = deleted).
fn topology(router: &str) -> (Netns, Netns) {
    let sender = Netns::new("snd");
    let receiver = Netns::new("rcv");
    // No IPv6 duplicate address detection: link-local addresses usable at once (MLD needs them).
    for ns in [router, &sender.name, &receiver.name] {
        testns::sysctl(ns, &NO_DAD);
    }
    ip_batch(
        router,
        &[
            format!(
                "link add name in0 type veth peer name eth0 netns {}",
                sender.name
            ),
            format!(
                "link add name out0 type veth peer name eth0 netns {}",
                receiver.name
            ),
            "addr add 10.1.1.1/24 dev in0".into(),
            "addr add 10.1.2.1/24 dev out0".into(),
            "link set in0 up".into(),
            "link set out0 up".into(),
        ],
    );
    for (ns, addr, gw) in [
        (&sender.name, "10.1.1.2/24", "10.1.1.1"),
        (&receiver.name, "10.1.2.2/24", "10.1.2.1"),
    ] {
        ip_batch(
            ns,
            &[
                format!("addr add {addr} dev eth0"),
                "link set eth0 up".into(),
                format!("route add default via {gw}"),
            ],
        );
    }
    ip_batch(&sender.name, &["route add 224.0.0.0/4 dev eth0".into()]);
    testns::sysctl(router, &NO_RP_FILTER);
    testns::sysctl(
        router,
        &[
            "net.ipv4.conf.in0.rp_filter=0",
            "net.ipv4.conf.out0.rp_filter=0",
            "net.ipv4.ip_forward=1",
        ],
    );
    (sender, receiver)
}

// Given an IPC client owning the in and out interfaces with a (*,G) membership on out, that
// handles (and answers) RPF and creation alerts,
// When a sender sends to G,
// Then the client is asked, traffic reaches the receiver, the MFE counts the packets, the flow
// arriving on the outgoing interface raises wrong_if; after the membership is deleted traffic
// stops and verify stays clean.
#[test]
fn client_membership_forwards_traffic() {
    if !root_or_skip() {
        return;
    }
    in_netns("traffic", |ns| async move {
        let (sender, receiver) = topology(&ns);
        let daemon = Daemon::start(config(&ns)).await;
        let mut c = daemon.client().await;
        let h = register(
            &mut c,
            21,
            json!([
                "rpf",
                "creation_alert",
                "join_alert",
                "prune_alert",
                "wrong_if"
            ]),
        )
        .await;
        for ifname in ["in0", "out0"] {
            c.request(
                "take_interface_ownership",
                json!({"handle": h, "ifname": ifname, "family": "ipv4"}),
            )
            .await
            .unwrap();
        }
        c.request(
            "add_group_membership",
            json!({"ifname": "out0", "group": "239.1.1.1"}),
        )
        .await
        .unwrap();

        let rcv = receiver.name.clone();
        let counting = tokio::spawn(on_thread_in(&rcv, || receive("239.1.1.1", 5001, 2.5)));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let snd = sender.name.clone();
        let sending = tokio::spawn(on_thread_in(&snd, || send("239.1.1.1", 5001, 20)));

        // Answer the callbacks of the new flow.
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(3), c.next_event())
                .await
                .expect("callbacks within 3 s")
                .unwrap()
                .expect("an event");
            match event["event"].as_str() {
                Some("rpf") => {
                    assert_eq!(event["source"], "10.1.1.2");
                    assert_eq!(event["iif"]["ifname"], "in0", "{event}");
                    c.request("answer_rpf", json!({"query": event["query"]}))
                        .await
                        .unwrap();
                }
                Some("creation_alert") => {
                    assert_eq!(event["oifs"][0]["iface"]["ifname"], "out0", "{event}");
                    c.request(
                        "answer_creation_alert",
                        json!({"query": event["query"], "disabled": []}),
                    )
                    .await
                    .unwrap();
                }
                _ => continue,
            }
            seen.push(event["event"].clone());
        }
        sending.await.unwrap();
        let received = counting.await.unwrap();
        assert!(received >= 18, "received {received} of 20");

        tokio::time::sleep(Duration::from_millis(1200)).await; // a counter poll
        let mfe = c
            .request(
                "get_mfe_stats",
                json!({"source": "10.1.1.2", "group": "239.1.1.1"}),
            )
            .await
            .unwrap();
        assert_eq!(mfe["mfe"]["installed"], true, "{mfe}");
        assert!(
            mfe["mfe"]["stats"]["packets"].as_u64().unwrap_or(0) >= 18,
            "{mfe}"
        );
        assert_eq!(
            c.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );

        // The same flow arriving on its outgoing interface: a wrong_if callback (MRT_ASSERT).
        ip_batch(
            &rcv,
            &[
                "addr add 10.1.1.2/32 dev eth0".into(),
                "route add 224.0.0.0/4 dev eth0".into(),
            ],
        );
        on_thread_in(&rcv, || {
            let socket = std::net::UdpSocket::bind("10.1.1.2:0").expect("bind");
            socket.set_multicast_ttl_v4(8).expect("ttl");
            for _ in 0..3 {
                let _ = socket.send_to(b"wrong way", ("239.1.1.1", 5001));
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .await;
        let wrong_if = loop {
            let event = tokio::time::timeout(Duration::from_secs(3), c.next_event())
                .await
                .expect("wrong_if within 3 s")
                .unwrap()
                .expect("an event");
            if event["event"] == "wrong_if" {
                break event;
            }
        };
        assert_eq!(wrong_if["iface"]["ifname"], "out0", "{wrong_if}");
        assert_eq!(wrong_if["source"], "10.1.1.2", "{wrong_if}");

        c.request(
            "delete_group_membership",
            json!({"ifname": "out0", "group": "239.1.1.1"}),
        )
        .await
        .unwrap();
        let counting = tokio::spawn(on_thread_in(&rcv, || receive("239.1.1.1", 5001, 1.5)));
        tokio::time::sleep(Duration::from_millis(200)).await;
        on_thread_in(&snd, || send("239.1.1.1", 5001, 10)).await;
        assert_eq!(
            counting.await.unwrap(),
            0,
            "forwarded after the membership was deleted"
        );
        assert_eq!(
            c.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );
        drop(c);
        daemon.stop().await;
    });
}

// Given a client owning a link and a point-to-multipoint key (a neighbour as next hop),
// When the link is deleted,
// Then the client gets interface_deleted for both keys (with the interface's name), its
// ownerships are gone and verify is clean; an unknown next hop was refused before.
#[test]
fn next_hop_keys_and_interface_deletion() {
    if !root_or_skip() {
        return;
    }
    in_netns("nexthop", |ns| async move {
        veth_pair(&ns, "a0", "b0");
        veth_pair(&ns, "c0", "d0");
        ip_batch(
            &ns,
            &["neigh add 10.7.7.7 lladdr 02:00:00:00:00:07 dev a0 nud permanent".into()],
        );
        let daemon = Daemon::start(config(&ns)).await;
        let mut c = daemon.client().await;
        let h = register(&mut c, 21, json!(["interface_deleted"])).await;
        assert_eq!(
            error_code(
                &mut c,
                "take_interface_ownership",
                json!({"handle": h, "ifname": "a0",
                "next_hop": "10.9.9.9"})
            )
            .await,
            "InvalidParameter"
        );
        let taken = c
            .request(
                "take_interface_ownership",
                json!({"handle": h, "ifname": "a0", "next_hop": "10.7.7.7"}),
            )
            .await
            .unwrap();
        assert_eq!(taken["keys"][0]["next_hop"], "10.7.7.7", "{taken}");
        c.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "a0", "family": "ipv4"}),
        )
        .await
        .unwrap();
        c.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "c0", "family": "ipv4"}),
        )
        .await
        .unwrap();
        testns::ip(&ns, "link del a0");
        let mut deleted = Vec::new();
        while deleted.len() < 2 {
            let event = tokio::time::timeout(Duration::from_secs(3), c.next_event())
                .await
                .expect("interface_deleted within 3 s")
                .unwrap()
                .expect("an event");
            assert_eq!(event["event"], "interface_deleted", "{event}");
            assert_eq!(event["iface"]["ifname"], "a0", "{event}");
            deleted.push(
                event["iface"]["next_hop"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            );
        }
        deleted.sort();
        assert_eq!(deleted, ["0.0.0.0", "10.7.7.7"]);
        let owners = c.request("show_owners", Value::Null).await.unwrap();
        assert_eq!(
            owners["owners"].as_array().map(Vec::len),
            Some(1),
            "{owners}"
        );
        assert_eq!(
            c.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );
        drop(c);
        daemon.stop().await;
    });
}

// Given mgmd started from a config file with one static route, plus one route added at run time,
// When the file is rewritten (route replaced) and mgmd gets SIGHUP, and then a broken file
// and SIGHUP again,
// Then the file's routes are replaced (mark and sweep), the run-time route stays, and the
// broken file changes nothing.
#[test]
fn sighup_reloads_static_routes() {
    if !root_or_skip() {
        return;
    }
    in_netns("sighup", |ns| async move {
        veth_pair(&ns, "a0", "b0");
        let file = std::env::temp_dir().join(format!("{ns}.toml"));
        let route = |group: &str| {
            format!("[[static]]\nfrom = \"a0\"\ngroup = \"{group}\"\nto = [\"b0\"]\n")
        };
        std::fs::write(&file, route("239.1.1.1")).unwrap();
        let mut config = agent::config::Config::load(&file, true).unwrap();
        config.socket = socket_path(&ns);
        let daemon = Daemon::start(config).await;
        let mut c = daemon.client().await;
        c.request(
            "static_add",
            json!({"from": "b0", "group": "239.3.3.3", "to": ["a0"]}),
        )
        .await
        .unwrap();
        let groups = |shown: &Value| -> Vec<String> {
            let mut g: Vec<String> = shown["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| r["group"].as_str().unwrap_or_default().to_string())
                .collect();
            g.sort();
            g
        };
        let shown = c.request("show_static", Value::Null).await.unwrap();
        assert_eq!(groups(&shown), ["239.1.1.1", "239.3.3.3"]);

        std::fs::write(&file, route("239.2.2.2")).unwrap();
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
        let socket = daemon.socket.clone();
        wait_until("reload", || {
            let socket = socket.clone();
            async move {
                let mut c = Client::connect(&socket).await.unwrap();
                let shown = c.request("show_static", Value::Null).await.unwrap();
                groups(&shown) == ["239.2.2.2", "239.3.3.3"]
            }
        })
        .await;
        std::fs::write(&file, "this is = not toml [").unwrap();
        nix::sys::signal::raise(nix::sys::signal::Signal::SIGHUP).unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let shown = c.request("show_static", Value::Null).await.unwrap();
        assert_eq!(groups(&shown), ["239.2.2.2", "239.3.3.3"]);
        let _ = std::fs::remove_file(&file);
        drop(c);
        daemon.stop().await;
    });
}

// Given an IPC client owning in0 and out0 for IPv6 with a (*,G) membership for ff1e::1:2 on
// out0,
// When a sender behind in0 sends to the group (hop limit 8),
// Then the packets reach the receiver behind out0 and the IPv6 MFE is installed and verified.
#[test]
fn ipv6_client_membership_forwards_traffic() {
    if !root_or_skip() {
        return;
    }
    in_netns("traffic6", |ns| async move {
        let (sender, receiver) = topology(&ns);
        ip_batch(
            &ns,
            &[
                "addr add fd00:1:1::1/64 dev in0 nodad".into(),
                "addr add fd00:1:2::1/64 dev out0 nodad".into(),
            ],
        );
        ip_batch(
            &sender.name,
            &["addr add fd00:1:1::2/64 dev eth0 nodad".into()],
        );
        ip_batch(
            &receiver.name,
            &["addr add fd00:1:2::2/64 dev eth0 nodad".into()],
        );
        testns::sysctl(&ns, &["net.ipv6.conf.all.forwarding=1"]);
        let daemon = Daemon::start(config(&ns)).await;
        let mut c = daemon.client().await;
        register(&mut c, 21, json!([])).await;
        for ifname in ["in0", "out0"] {
            let taken = c
                .request(
                    "take_interface_ownership",
                    json!({"ifname": ifname, "family": "ipv6"}),
                )
                .await
                .unwrap();
            assert_eq!(taken["keys"][0]["next_hop"], "::", "{taken}");
        }
        c.request(
            "add_group_membership",
            json!({"ifname": "out0", "group": "ff1e::1:2"}),
        )
        .await
        .unwrap();

        let rcv = receiver.name.clone();
        let counting = tokio::spawn(on_thread_in(&rcv, || receive("ff1e::1:2", 5002, 2.5)));
        tokio::time::sleep(Duration::from_millis(200)).await;
        let script = "import socket, time\n\
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 8)\n\
            for i in range(20):\n    s.sendto(b'x', ('ff1e::1:2', 5002)); time.sleep(0.05)\n";
        let snd = sender.name.clone();
        let sent = on_thread_in(&snd, move || {
            Command::new("python3")
                .args(["-c", script])
                .status()
                .map(|s| s.success())
        })
        .await;
        assert!(matches!(sent, Ok(true)), "python3 sender failed: {sent:?}");
        let received = counting.await.unwrap();
        assert!(received >= 18, "received {received} of 20");
        let mfes = c
            .request("get_first_mfe", json!({"family": "ipv6"}))
            .await
            .unwrap();
        assert_eq!(mfes["mfes"][0]["source"], "fd00:1:1::2", "{mfes}");
        assert_eq!(mfes["mfes"][0]["oifs"][0]["ifname"], "out0", "{mfes}");
        assert_eq!(
            c.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );
        drop(c);
        daemon.stop().await;
        assert!(
            proc_net("ip6_mr_vif").is_empty(),
            "{:?}",
            proc_net("ip6_mr_vif")
        );
    });
}

/// Run the mgmctl binary on its own thread (mgmd runs on this test's runtime, so blocking it
/// would deadlock); returns (exit code, stdout, stderr).
fn mgmctl(socket: &Path, args: &[&str]) -> impl Future<Output = (i32, String, String)> + 'static {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mgmctl"));
    command.arg("--socket").arg(socket).args(args);
    let (tx, rx) = oneshot::channel();
    std::thread::spawn(move || {
        let out = command.output().expect("mgmctl runs");
        let _ = tx.send((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    });
    async move { rx.await.expect("mgmctl result") }
}

// Given mgmd with a static route added through mgmctl's smcroute-style syntax,
// When the kernel table is changed behind mgmd's back,
// Then `mgmctl verify` goes from "clean" (exit 0) to listing the differences (exit 1); the
// show tables, --json and raw work, and a missing daemon is a clear error.
#[test]
fn mgmctl_commands_and_verify_differences() {
    if !root_or_skip() {
        return;
    }
    in_netns("mgmctl", |ns| async move {
        veth_pair(&ns, "a0", "b0");
        let daemon = Daemon::start(config(&ns)).await;
        let socket = daemon.socket.clone();
        let (code, out, err) = mgmctl(
            &socket,
            &[
                "static",
                "add",
                "from",
                "a0",
                "group",
                "239.1.1.1",
                "to",
                "b0",
            ],
        )
        .await;
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(out.trim(), "installed");
        let (code, out, _) = mgmctl(&socket, &["show", "static"]).await;
        assert_eq!(code, 0);
        assert!(out.starts_with("FROM"), "{out}");
        assert!(
            out.contains("239.1.1.1") && out.contains("installed"),
            "{out}"
        );
        let (_, out, _) = mgmctl(&socket, &["show", "owners"]).await;
        assert_eq!(out.lines().count(), 3, "{out}");
        let (_, out, _) = mgmctl(&socket, &["--json", "show", "stats"]).await;
        let stats: Value = serde_json::from_str(&out).expect("JSON");
        assert_eq!(stats["stats"]["owned_keys"], 2, "{out}");
        let (code, out, _) = mgmctl(&socket, &["raw", r#"{"op": "ping"}"#]).await;
        assert_eq!(code, 0);
        assert!(out.contains("\"pong\": true"), "{out}");
        let (code, out, _) = mgmctl(&socket, &["raw", r#"{"op": "nope"}"#]).await;
        assert_eq!(code, 1);
        assert!(out.contains("UnknownOp"), "{out}");
        let (code, out, _) = mgmctl(&socket, &["verify"]).await;
        assert_eq!((code, out.trim()), (0, "clean"));

        // Remove a VIF behind mgmd's back (a second non-owner socket, as an operator could).
        let vif = proc_net("ip_mr_vif");
        assert_eq!(vif.len(), 2, "{vif:?}");
        let b0 = mgm_core::IfIndex(nix::net::if_::if_nametoindex("b0").expect("b0"));
        let tamper = netlink::mrt::MrtSocket::open_static(mgm_core::Family::Ipv4, None).unwrap();
        tamper
            .del_vif(mgm_core::VifIndex(1), b0)
            .expect("del vif 1");
        let (code, out, _) = mgmctl(&socket, &["verify"]).await;
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains("VIF 1") && out.contains("missing in the kernel"),
            "{out}"
        );

        let (code, _, err) = mgmctl(Path::new("/nonexistent/mgmd.sock"), &["show", "mfe"]).await;
        assert_eq!(code, 1);
        assert!(
            err.contains("cannot connect to mgmd at /nonexistent/mgmd.sock"),
            "{err}"
        );

        // IGMP: pending without an address, running once the address appears, then disabled.
        let (code, out, err) = mgmctl(&socket, &["igmp", "enable", "a0", "--family", "ipv4"]).await;
        assert_eq!(code, 0, "{out}{err}");
        assert_eq!(out.trim(), "a0 ipv4: pending (a0 has no IPv4 address)");
        testns::ip(&ns, "addr add 10.9.0.1/24 dev a0");
        let s = socket.clone();
        wait_until("IGMP running", || {
            let s = s.clone();
            async move { mgmctl(&s, &["show", "igmp"]).await.1.contains("querier") }
        })
        .await;
        let (_, out, _) = mgmctl(&socket, &["show", "igmp"]).await;
        assert!(
            out.starts_with("INTERFACE") && out.contains("a0") && out.contains("10.9.0.1"),
            "{out}"
        );
        let (code, _, _) = mgmctl(&socket, &["igmp", "disable", "a0"]).await;
        assert_eq!(code, 0);
        let (_, out, _) = mgmctl(&socket, &["show", "igmp"]).await;
        assert_eq!(out.trim(), "no igmp interfaces");
        let (code, _, err) = mgmctl(&socket, &["igmp", "disable", "a0"]).await;
        assert_eq!(code, 1);
        assert!(err.contains("NotFound"), "{err}");
        daemon.stop().await;
    });
}

// Given mgmd on multicast routing table 100 (`--table 100`) with IPv4 and IPv6 static routes,
// When verify runs and mgmd stops,
// Then the routes are installed in table 100 (not the default table), verify is clean (IPv6
// MIFs of a non-default table are a note), and everything is removed at the end.
#[test]
fn non_default_table() {
    if !root_or_skip() {
        return;
    }
    in_netns("table", |ns| async move {
        veth_pair(&ns, "a0", "b0");
        let daemon = Daemon::start(Config {
            table: Some(100),
            ..config(&ns)
        })
        .await;
        let mut c = daemon.client().await;
        for group in ["239.1.1.1", "ff1e::1"] {
            let added = c
                .request(
                    "static_add",
                    json!({"from": "a0", "group": group, "to": ["b0"]}),
                )
                .await
                .unwrap();
            assert_eq!(added["state"], "installed");
        }
        assert!(
            proc_net("ip_mr_vif").is_empty(),
            "VIFs in the default table"
        );
        let stats = c.request("show_stats", Value::Null).await.unwrap();
        assert_eq!(
            (
                stats["stats"]["table"].clone(),
                stats["stats"]["table_v6"].clone()
            ),
            (json!(100), json!(100))
        );
        let verify = c.request("verify", Value::Null).await.unwrap();
        assert_eq!(verify["clean"], true, "{verify}");
        assert_eq!(
            verify["notes"].as_array().map(Vec::len),
            Some(1),
            "{verify}"
        );
        drop(c);
        daemon.stop().await;
    });
}

async fn groups_of(socket: &Path, protocol_id: u32) -> Vec<String> {
    let mut c = Client::connect(socket).await.unwrap();
    let groups = c.request("show_groups", Value::Null).await.unwrap();
    groups["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|g| g["protocol"]["protocol_id"] == protocol_id)
        .map(|g| {
            format!(
                "{}@{}",
                text_of(&g["group"]),
                text_of(&g["iface"]["ifname"])
            )
        })
        .collect()
}

fn text_of(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

// Given mgmd running IGMP (from its config) on the in and out interfaces, last member query
// interval 100 ms, and a receiver host whose kernel speaks IGMPv3 (default) or IGMPv2
// (force_igmp_version),
// When the receiver joins 239.1.1.1 with IP_ADD_MEMBERSHIP and a sender sends,
// Then the host's report becomes an IGMP (*,G) membership, traffic is forwarded, and after the
// host leaves the membership is gone within the last-member query time.
#[test]
fn igmp_host_join_drives_forwarding() {
    igmp_host_join(3, false);
}

#[test]
fn igmpv2_host_join_drives_forwarding() {
    igmp_host_join(2, false);
}

// The same with explicit host tracking and the default 1 s last member query interval: the
// only host's leave ends the membership at once instead of after 2 queries (2 s).
#[test]
fn igmp_explicit_tracking_leave_is_immediate() {
    igmp_host_join(3, true);
}

fn igmp_host_join(version: u8, explicit_tracking: bool) {
    if !root_or_skip() {
        return;
    }
    let tag = format!("igmpv{version}{}", if explicit_tracking { "x" } else { "" });
    in_netns(&tag, move |ns| async move {
        let (sender, receiver) = topology(&ns);
        let force = format!(
            "net.ipv4.conf.eth0.force_igmp_version={}",
            if version == 3 { 0 } else { version }
        );
        testns::sysctl(&receiver.name, &[&force]);
        let mut out0 = agent::config::IgmpInterface::new("out0");
        out0.family = Some(mgm_core::Family::Ipv4);
        out0.explicit_tracking = explicit_tracking;
        if !explicit_tracking {
            out0.last_member_query_interval_ms = Some(100);
        }
        let mut in0 = agent::config::IgmpInterface::new("in0");
        in0.family = Some(mgm_core::Family::Ipv4);
        let daemon = Daemon::start(Config {
            igmp_interfaces: vec![in0, out0],
            ..config(&ns)
        })
        .await;
        let mut c = daemon.client().await;
        let shown = c.request("show_igmp", Value::Null).await.unwrap();
        assert_eq!(
            shown["interfaces"].as_array().map(Vec::len),
            Some(2),
            "{shown}"
        );
        assert_eq!(shown["interfaces"][0]["is_querier"], true, "{shown}");

        let rcv = receiver.name.clone();
        let counting = tokio::spawn(on_thread_in(&rcv, || receive("239.1.1.1", 5001, 2.5)));
        let socket = daemon.socket.clone();
        wait_until("the IGMP membership", || {
            let socket = socket.clone();
            async move { groups_of(&socket, 10).await == ["239.1.1.1@out0"] }
        })
        .await;
        let snd = sender.name.clone();
        on_thread_in(&snd, || send("239.1.1.1", 5001, 20)).await;
        let received = counting.await.unwrap();
        assert!(received >= 18, "received {received} of 20");
        assert_eq!(
            c.request("verify", Value::Null).await.unwrap()["clean"],
            true
        );

        // The receiver's socket is closed: the host leaves; 2 queries 100 ms apart, then gone.
        let left = std::time::Instant::now();
        wait_until("the IGMP leave", || {
            let socket = socket.clone();
            async move { groups_of(&socket, 10).await.is_empty() }
        })
        .await;
        assert!(
            left.elapsed() < Duration::from_millis(if explicit_tracking { 1000 } else { 2000 }),
            "leave took {:?}",
            left.elapsed()
        );
        let shown = c.request("show_igmp", Value::Null).await.unwrap();
        assert!(
            shown["interfaces"][1]["groups"]
                .as_array()
                .is_some_and(Vec::is_empty),
            "{shown}"
        );
        drop(c);
        daemon.stop().await;
    });
}

// Given mgmd running MLD on the in and out interfaces (IPv6 only, last listener query
// interval 100 ms), and a receiver host speaking MLDv2 (default) or MLDv1 (force_mld_version),
// When the receiver joins ff1e::1:2 with IPV6_JOIN_GROUP and a sender sends,
// Then the host's MLD report becomes a (*,G) membership, traffic is forwarded, and after the
// host leaves the membership is gone within the last-listener query time.
#[test]
fn mld_host_join_drives_forwarding() {
    mld_host_join(2);
}

#[test]
fn mldv1_host_join_drives_forwarding() {
    mld_host_join(1);
}

fn mld_host_join(version: u8) {
    if !root_or_skip() {
        return;
    }
    in_netns(&format!("mldv{version}"), move |ns| async move {
        let (sender, receiver) = topology(&ns);
        let force = format!(
            "net.ipv6.conf.eth0.force_mld_version={}",
            if version == 2 { 0 } else { version }
        );
        testns::sysctl(&receiver.name, &[&force]);
        ip_batch(
            &ns,
            &[
                "addr add fd00:1:1::1/64 dev in0".into(),
                "addr add fd00:1:2::1/64 dev out0".into(),
            ],
        );
        ip_batch(&sender.name, &["addr add fd00:1:1::2/64 dev eth0".into()]);
        ip_batch(&receiver.name, &["addr add fd00:1:2::2/64 dev eth0".into()]);
        testns::sysctl(&ns, &["net.ipv6.conf.all.forwarding=1"]);
        let mut settings = Vec::new();
        for name in ["in0", "out0"] {
            let mut s = agent::config::IgmpInterface::new(name);
            s.family = Some(mgm_core::Family::Ipv6);
            s.last_member_query_interval_ms = Some(100);
            settings.push(s);
        }
        let daemon = Daemon::start(Config {
            igmp_interfaces: settings,
            ..config(&ns)
        })
        .await;
        let socket = daemon.socket.clone();
        wait_until("MLD running on both interfaces", || {
            let socket = socket.clone();
            async move {
                let mut c = Client::connect(&socket).await.unwrap();
                let shown = c.request("show_mld", Value::Null).await.unwrap();
                shown["interfaces"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|i| i["state"] == "running")
                    .count()
                    == 2
            }
        })
        .await;

        let rcv = receiver.name.clone();
        let counting = tokio::spawn(on_thread_in(&rcv, || receive("ff1e::1:2", 5002, 2.5)));
        wait_until("the MLD membership", || {
            let socket = socket.clone();
            async move { groups_of(&socket, 10).await == ["ff1e::1:2@out0"] }
        })
        .await;
        let script = "import socket, time\n\
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 8)\n\
            for i in range(20):\n    s.sendto(b'x', ('ff1e::1:2', 5002)); time.sleep(0.05)\n";
        let snd = sender.name.clone();
        let sent = on_thread_in(&snd, move || {
            Command::new("python3")
                .args(["-c", script])
                .status()
                .map(|s| s.success())
        })
        .await;
        assert!(matches!(sent, Ok(true)), "python3 sender failed: {sent:?}");
        let received = counting.await.unwrap();
        assert!(received >= 18, "received {received} of 20");
        let left = std::time::Instant::now();
        wait_until("the MLD leave", || {
            let socket = socket.clone();
            async move { groups_of(&socket, 10).await.is_empty() }
        })
        .await;
        assert!(
            left.elapsed() < Duration::from_secs(2),
            "leave took {:?}",
            left.elapsed()
        );
        daemon.stop().await;
    });
}

// Given IGMP running on out0 with a host's membership for 239.1.1.1,
// When a routing protocol client takes ownership of out0,
// Then IGMP is disabled and re-enabled around the change, re-adds its membership, and the new
// owner gets a local_join for it; when the client goes, IGMP keeps its membership.
#[test]
fn routing_owner_takes_an_igmp_interface() {
    if !root_or_skip() {
        return;
    }
    in_netns("coexist", |ns| async move {
        let (_sender, receiver) = topology(&ns);
        let mut out0 = agent::config::IgmpInterface::new("out0");
        out0.family = Some(mgm_core::Family::Ipv4);
        let daemon = Daemon::start(Config {
            igmp_interfaces: vec![out0],
            ..config(&ns)
        })
        .await;
        let socket = daemon.socket.clone();
        let rcv = receiver.name.clone();
        let receiving = tokio::spawn(on_thread_in(&rcv, || receive("239.1.1.1", 5001, 3.0)));
        wait_until("the IGMP membership", || {
            let socket = socket.clone();
            async move { groups_of(&socket, 10).await == ["239.1.1.1@out0"] }
        })
        .await;

        let mut pim = daemon.client().await;
        let h = register(&mut pim, 21, json!(["local_join", "local_leave"])).await;
        pim.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "out0", "family": "ipv4"}),
        )
        .await
        .unwrap();
        let event = tokio::time::timeout(Duration::from_secs(3), pim.next_event())
            .await
            .expect("local_join within 3 s")
            .unwrap()
            .expect("an event");
        assert_eq!(event["event"], "local_join", "{event}");
        assert_eq!(event["group"], "239.1.1.1", "{event}");
        assert_eq!(event["iface"]["ifname"], "out0", "{event}");
        // IGMP re-added its membership after Enable-IGMP; both own the key.
        assert_eq!(groups_of(&socket, 10).await, ["239.1.1.1@out0"]);
        let owners = pim.request("show_owners", Value::Null).await.unwrap();
        let o = &owners["owners"][0];
        assert_eq!(
            (
                o["routing"]["protocol_id"].clone(),
                o["igmp"]["protocol_id"].clone()
            ),
            (json!(21), json!(10)),
            "{owners}"
        );
        drop(pim);
        let socket2 = socket.clone();
        wait_until("the client's cleanup", || {
            let socket = socket2.clone();
            async move {
                let mut c = Client::connect(&socket).await.unwrap();
                let owners = c.request("show_owners", Value::Null).await.unwrap();
                owners["owners"][0]["routing"].is_null()
            }
        })
        .await;
        assert_eq!(groups_of(&socket, 10).await, ["239.1.1.1@out0"]);
        receiving.await.unwrap();
        daemon.stop().await;
    });
}

// Given IGMPv3 on the router and a receiver that joins 232.1.1.1 for source 10.1.1.2 only
// (IP_ADD_SOURCE_MEMBERSHIP, through python3),
// When the sender sends to the group from 10.1.1.2 and from 10.1.1.3,
// Then the membership is (10.1.1.2, 232.1.1.1) and only that source's packets arrive.
#[test]
fn igmp_ssm_join_forwards_only_its_source() {
    if !root_or_skip() {
        return;
    }
    in_netns("ssm", |ns| async move {
        let (sender, receiver) = topology(&ns);
        ip_batch(&sender.name, &["addr add 10.1.1.3/24 dev eth0".into()]);
        let mut settings = Vec::new();
        for name in ["in0", "out0"] {
            let mut s = agent::config::IgmpInterface::new(name);
            s.family = Some(mgm_core::Family::Ipv4);
            settings.push(s);
        }
        let daemon = Daemon::start(Config {
            igmp_interfaces: settings,
            ..config(&ns)
        })
        .await;
        let socket = daemon.socket.clone();
        // IP_ADD_SOURCE_MEMBERSHIP = 39; struct ip_mreq_source {multiaddr, interface, sourceaddr}.
        let script = "import socket, struct, sys, time\n\
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
            s.bind(('0.0.0.0', 5003))\n\
            m = socket.inet_aton('232.1.1.1') + socket.inet_aton('10.1.2.2') + socket.inet_aton('10.1.1.2')\n\
            s.setsockopt(socket.IPPROTO_IP, 39, m)\n\
            s.settimeout(0.1)\n\
            seen = {}\n\
            end = time.time() + 3.0\n\
            while time.time() < end:\n\
            \x20   try:\n\
            \x20       data, (src, port) = s.recvfrom(100)\n\
            \x20       seen[src] = seen.get(src, 0) + 1\n\
            \x20   except socket.timeout:\n\
            \x20       pass\n\
            print(' '.join('%s=%d' % kv for kv in sorted(seen.items())))\n";
        let rcv = receiver.name.clone();
        let receiving = tokio::spawn(on_thread_in(&rcv, move || {
            Command::new("python3").args(["-c", script]).output()
        }));
        wait_until("the (S,G) membership", || {
            let socket = socket.clone();
            async move {
                let mut c = Client::connect(&socket).await.unwrap();
                let groups = c.request("show_groups", Value::Null).await.unwrap();
                groups["groups"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|g| g["group"] == "232.1.1.1" && g["source"] == "10.1.1.2")
            }
        })
        .await;
        let snd = sender.name.clone();
        on_thread_in(&snd, || {
            use std::net::UdpSocket;
            let a = UdpSocket::bind("10.1.1.2:0").expect("bind a");
            let b = UdpSocket::bind("10.1.1.3:0").expect("bind b");
            for s in [&a, &b] {
                s.set_multicast_ttl_v4(8).expect("ttl");
            }
            for _ in 0..10 {
                let _ = a.send_to(b"a", ("232.1.1.1", 5003));
                let _ = b.send_to(b"b", ("232.1.1.1", 5003));
                std::thread::sleep(Duration::from_millis(50));
            }
        })
        .await;
        let out = receiving.await.unwrap().expect("python3 runs");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let count = |src: &str| -> usize {
            text.split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{src}=")))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        assert!(count("10.1.1.2") >= 8, "{text}");
        assert_eq!(count("10.1.1.3"), 0, "{text}");
        // The router itself does not forward the other source (the host's filter alone would
        // hide it): its MFE is negative.
        let mut c = daemon.client().await;
        let other = c
            .request(
                "get_mfe",
                json!({"source": "10.1.1.3", "group": "232.1.1.1"}),
            )
            .await
            .unwrap();
        assert_eq!(other["mfe"]["oifs"], json!([]), "{other}");
        let wanted = c
            .request(
                "get_mfe",
                json!({"source": "10.1.1.2", "group": "232.1.1.1"}),
            )
            .await
            .unwrap();
        assert_eq!(wanted["mfe"]["oifs"][0]["ifname"], "out0", "{wanted}");
        drop(c);
        daemon.stop().await;
    });
}

// Given IGMP on out0 with short timers (query interval 1 s, response interval 0.5 s,
// robustness 2: group membership interval 2.5 s) and a receiver that joined 239.1.1.1,
// When the receiver vanishes without a leave (its interface goes down while it is joined),
// Then the membership expires after the group membership interval, not at once.
#[test]
fn igmp_membership_expires_without_reports() {
    if !root_or_skip() {
        return;
    }
    in_netns("expiry", |ns| async move {
        let (_sender, receiver) = topology(&ns);
        let mut out0 = agent::config::IgmpInterface::new("out0");
        out0.family = Some(mgm_core::Family::Ipv4);
        out0.query_interval = Some(1);
        out0.query_response_interval_ms = Some(500);
        out0.robustness = Some(2);
        let daemon = Daemon::start(Config {
            igmp_interfaces: vec![out0],
            ..config(&ns)
        })
        .await;
        let socket = daemon.socket.clone();
        let rcv = receiver.name.clone();
        let (joined_tx, joined_rx) = oneshot::channel::<()>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        // A member that stays joined until the end of the test.
        let member = on_thread_in(&rcv, move || {
            let socket = std::net::UdpSocket::bind("0.0.0.0:5004").expect("bind");
            socket
                .join_multicast_v4(&"239.1.1.1".parse().unwrap(), &"10.1.2.2".parse().unwrap())
                .expect("join");
            let _ = joined_tx.send(());
            let _ = done_rx.recv();
        });
        joined_rx.await.unwrap();
        wait_until("the IGMP membership", || {
            let socket = socket.clone();
            async move { groups_of(&socket, 10).await == ["239.1.1.1@out0"] }
        })
        .await;
        // Let a query round pass, then silence the host.
        tokio::time::sleep(Duration::from_millis(1200)).await;
        testns::ip(&receiver.name, "link set eth0 down");
        let silent = std::time::Instant::now();
        wait_until("the membership to expire", || {
            let socket = socket.clone();
            async move { groups_of(&socket, 10).await.is_empty() }
        })
        .await;
        let took = silent.elapsed();
        assert!(
            took >= Duration::from_millis(900),
            "expired after only {took:?}"
        );
        assert!(
            took <= Duration::from_millis(3500),
            "expired after {took:?}"
        );
        let _ = done_tx.send(());
        member.await;
        daemon.stop().await;
    });
}

// Given two mgmd routers on one link (10.5.0.1 and 10.5.0.2) running IGMP with a 1 s query
// interval,
// When both run, and then the lower-addressed one stops,
// Then exactly one (10.5.0.1) is querier, and the other takes over after the other-querier
// present interval.
#[test]
fn two_routers_elect_one_querier() {
    if !root_or_skip() {
        return;
    }
    in_netns("q1", |ns| async move {
        let other = Netns::new("q2");
        ip_batch(
            &ns,
            &[
                format!(
                    "link add name x1 type veth peer name x2 netns {}",
                    other.name
                ),
                "addr add 10.5.0.1/24 dev x1".into(),
                "link set x1 up".into(),
            ],
        );
        ip_batch(
            &other.name,
            &[
                "addr add 10.5.0.2/24 dev x2".into(),
                "link set x2 up".into(),
            ],
        );
        let setting = |name: &str| {
            let mut s = agent::config::IgmpInterface::new(name);
            s.family = Some(mgm_core::Family::Ipv4);
            s.query_interval = Some(1);
            s.query_response_interval_ms = Some(500);
            vec![s]
        };
        let first = Daemon::start(Config {
            igmp_interfaces: setting("x1"),
            ..config(&ns)
        })
        .await;
        // The second router runs on its own thread in its own namespace.
        let second_config = Config {
            igmp_interfaces: setting("x2"),
            ..config(&other.name)
        };
        let second_socket = second_config.socket.clone();
        let (stop_second, second_stopped) = oneshot::channel::<()>();
        let second = on_thread_in(&other.name, move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(agent::run(second_config, async {
                let _ = second_stopped.await;
            }))
        });
        let querier = |socket: PathBuf| async move {
            let Ok(mut c) = Client::connect(&socket).await else {
                return None;
            };
            let shown = c.request("show_igmp", Value::Null).await.ok()?;
            shown["interfaces"][0]["is_querier"].as_bool()
        };
        let (s1, s2) = (first.socket.clone(), second_socket.clone());
        wait_until("one querier", || {
            let (s1, s2) = (s1.clone(), s2.clone());
            async move { querier(s1).await == Some(true) && querier(s2).await == Some(false) }
        })
        .await;
        first.stop().await;
        let stopped = std::time::Instant::now();
        wait_until("the take-over", || {
            let s2 = s2.clone();
            async move { querier(s2).await == Some(true) }
        })
        .await;
        assert!(
            stopped.elapsed() >= Duration::from_millis(500),
            "took over after {:?}",
            stopped.elapsed()
        );
        let _ = stop_second.send(());
        second.await.expect("second mgmd exits cleanly");
        drop(other);
    });
}

// Given IGMPv3 on out0 only (last member query interval 100 ms) and a routing client that
// owns in0, the interface toward the sender 10.1.1.2, with join and prune alerts,
// When a receiver host joins (10.1.1.2, 232.1.1.2) (IP_ADD_SOURCE_MEMBERSHIP) and later drops
// it, before any traffic (no MFE exists),
// Then the client gets the (S,G) join alert (the route toward S names its interface) and,
// after the leave, the (S,G) prune alert.
#[test]
fn igmp_ssm_join_alerts_the_upstream_owner() {
    if !root_or_skip() {
        return;
    }
    in_netns("ssmalert", |ns| async move {
        let (_sender, receiver) = topology(&ns);
        let mut out0 = agent::config::IgmpInterface::new("out0");
        out0.family = Some(mgm_core::Family::Ipv4);
        out0.last_member_query_interval_ms = Some(100);
        let daemon = Daemon::start(Config {
            igmp_interfaces: vec![out0],
            ..config(&ns)
        })
        .await;
        let mut pim = daemon.client().await;
        let h = register(&mut pim, 21, json!(["join_alert", "prune_alert"])).await;
        pim.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "in0", "family": "ipv4"}),
        )
        .await
        .unwrap();
        // IP_ADD_SOURCE_MEMBERSHIP = 39, IP_DROP_SOURCE_MEMBERSHIP = 40.
        let script = "import socket, time\n\
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
            m = socket.inet_aton('232.1.1.2') + socket.inet_aton('10.1.2.2') + socket.inet_aton('10.1.1.2')\n\
            s.setsockopt(socket.IPPROTO_IP, 39, m)\n\
            time.sleep(1.5)\n\
            s.setsockopt(socket.IPPROTO_IP, 40, m)\n\
            time.sleep(1.5)\n";
        let rcv = receiver.name.clone();
        let host = tokio::spawn(on_thread_in(&rcv, move || {
            Command::new("python3").args(["-c", script]).output()
        }));
        let joined = alert_for(&mut pim, "232.1.1.2").await;
        assert_eq!(joined["event"], "join_alert", "{joined}");
        assert_eq!(joined["source"], "10.1.1.2", "{joined}");
        let pruned = alert_for(&mut pim, "232.1.1.2").await;
        assert_eq!(pruned["event"], "prune_alert", "{pruned}");
        assert_eq!(pruned["source"], "10.1.1.2", "{pruned}");
        assert_eq!(pruned["iface"]["ifname"], "out0", "{pruned}");
        let out = host.await.unwrap().expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(pim);
        daemon.stop().await;
    });
}

/// The next event of `client` about `group` (others skipped), within 4 s.
async fn alert_for(client: &mut Client, group: &str) -> Value {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(4), client.next_event())
            .await
            .expect("an alert within 4 s")
            .unwrap()
            .expect("an event");
        if event["group"] == group {
            return event;
        }
    }
}

// Given mgmd with mfe_timeout 3 s and counter_interval 1 s, and a client (no callbacks) owning
// in0 and out0 with a (*,G) membership on out0,
// When a sender sends to G for 7 s and then stops,
// Then the MFE outlives its 3 s timeout while traffic flows (the counter poller's dumps show
// the packets and refresh it: one NOCACHE only), and expires once the traffic has stopped.
#[test]
fn traffic_keeps_an_mfe_alive_through_counter_polls() {
    if !root_or_skip() {
        return;
    }
    in_netns("alive", |ns| async move {
        let (sender, _receiver) = topology(&ns);
        let daemon = Daemon::start(Config {
            mfe_timeout: 3,
            ..config(&ns)
        })
        .await;
        let mut c = daemon.client().await;
        let h = register(&mut c, 21, json!([])).await;
        for ifname in ["in0", "out0"] {
            c.request(
                "take_interface_ownership",
                json!({"handle": h, "ifname": ifname, "family": "ipv4"}),
            )
            .await
            .unwrap();
        }
        c.request(
            "add_group_membership",
            json!({"ifname": "out0", "group": "239.2.2.2"}),
        )
        .await
        .unwrap();
        let snd = sender.name.clone();
        let sending = tokio::spawn(on_thread_in(&snd, || send("239.2.2.2", 5002, 140)));
        let flow = json!({"source": "10.1.1.2", "group": "239.2.2.2"});
        let socket = daemon.socket.clone();
        let exists = move || {
            let (socket, flow) = (socket.clone(), flow.clone());
            async move {
                let mut c = Client::connect(&socket).await.unwrap();
                c.request("get_mfe", flow).await.is_ok()
            }
        };
        wait_until("the MFE", exists.clone()).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(exists().await, "the MFE expired while traffic flowed");
        // Had it expired, the next packet would have re-created it (a second NOCACHE).
        let stats = c.request("show_stats", Value::Null).await.unwrap();
        assert_eq!(stats["stats"]["nocache"], 1, "{stats}");
        assert!(
            stats["stats"]["counter_polls"].as_u64().unwrap_or(0) >= 4,
            "{stats}"
        );
        sending.await.unwrap();
        let stopped = std::time::Instant::now();
        while exists().await {
            assert!(
                stopped.elapsed() < Duration::from_secs(8),
                "the MFE did not expire after the traffic stopped"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        drop(c);
        daemon.stop().await;
    });
}

// The same with MLDv2: MLD on out0 only, a routing client owning in0 (IPv6), a receiver that
// joins (fd00:1:1::2, ff3e::1:5) with MCAST_JOIN_SOURCE_GROUP and later leaves it: the client
// gets the (S,G) join alert and then the prune alert.
#[test]
fn mld_ssm_join_alerts_the_upstream_owner() {
    if !root_or_skip() {
        return;
    }
    in_netns("mldalert", |ns| async move {
        let (_sender, receiver) = topology(&ns);
        ip_batch(
            &ns,
            &[
                "addr add fd00:1:1::1/64 dev in0".into(),
                "addr add fd00:1:2::1/64 dev out0".into(),
            ],
        );
        ip_batch(&receiver.name, &["addr add fd00:1:2::2/64 dev eth0".into()]);
        let mut out0 = agent::config::IgmpInterface::new("out0");
        out0.family = Some(mgm_core::Family::Ipv6);
        out0.last_member_query_interval_ms = Some(100);
        let daemon = Daemon::start(Config {
            igmp_interfaces: vec![out0],
            ..config(&ns)
        })
        .await;
        let socket = daemon.socket.clone();
        wait_until("MLD running on out0", || {
            let socket = socket.clone();
            async move {
                let mut c = Client::connect(&socket).await.unwrap();
                let shown = c.request("show_mld", Value::Null).await.unwrap();
                shown["interfaces"][0]["state"] == "running"
            }
        })
        .await;
        let mut pim = daemon.client().await;
        let h = register(&mut pim, 21, json!(["join_alert", "prune_alert"])).await;
        pim.request(
            "take_interface_ownership",
            json!({"handle": h, "ifname": "in0", "family": "ipv6"}),
        )
        .await
        .unwrap();
        // MCAST_JOIN_SOURCE_GROUP = 46, MCAST_LEAVE_SOURCE_GROUP = 47; struct group_source_req
        // {u32 interface; (pad 4); sockaddr_storage group; sockaddr_storage source}.
        let script = "import socket, struct, time\n\
            def sa(a):\n\
            \x20   b = struct.pack('=HHI', socket.AF_INET6, 0, 0) + socket.inet_pton(socket.AF_INET6, a) + struct.pack('=I', 0)\n\
            \x20   return b + bytes(128 - len(b))\n\
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
            r = struct.pack('=I4x', socket.if_nametoindex('eth0')) + sa('ff3e::1:5') + sa('fd00:1:1::2')\n\
            s.setsockopt(socket.IPPROTO_IPV6, 46, r)\n\
            time.sleep(1.5)\n\
            s.setsockopt(socket.IPPROTO_IPV6, 47, r)\n\
            time.sleep(1.5)\n";
        let rcv = receiver.name.clone();
        let host = tokio::spawn(on_thread_in(&rcv, move || {
            Command::new("python3").args(["-c", script]).output()
        }));
        let joined = alert_for(&mut pim, "ff3e::1:5").await;
        assert_eq!(joined["event"], "join_alert", "{joined}");
        assert_eq!(joined["source"], "fd00:1:1::2", "{joined}");
        let pruned = alert_for(&mut pim, "ff3e::1:5").await;
        assert_eq!(pruned["event"], "prune_alert", "{pruned}");
        assert_eq!(pruned["source"], "fd00:1:1::2", "{pruned}");
        assert_eq!(pruned["iface"]["ifname"], "out0", "{pruned}");
        let out = host.await.unwrap().expect("python3 runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(pim);
        daemon.stop().await;
    });
}
