//! Register with mgmd, optionally take interfaces and add (*,G) memberships, then print every
//! callback event as one JSON line.
//!
//! ```text
//! cargo run -p agent --example watch_events -- [--socket PATH] [--own IFNAME]... [--join IFNAME:GROUP]...
//! ```
//!
//! It registers as protocol 21 (PIM-SM) component 7 and handles every callback; it answers no
//! RPF / creation alert, so mgmd applies the defaults after the deadline.

use agent::client::{Client, ClientError};
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let mut socket = agent::config::DEFAULT_SOCKET.to_string();
    let mut own = Vec::new();
    let mut join = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args.next().unwrap_or_default();
        match arg.as_str() {
            "--socket" => socket = value,
            "--own" => own.push(value),
            "--join" => join.push(value),
            other => {
                eprintln!("unknown argument {other}");
                std::process::exit(2);
            }
        }
    }
    let mut client = Client::connect(&socket).await?;
    let hello = client
        .request("hello", json!({"version": 1, "client": "watch_events"}))
        .await?;
    eprintln!("connected to {}", hello["server"]);
    let callbacks = [
        "rpf",
        "creation_alert",
        "join_alert",
        "prune_alert",
        "local_join",
        "local_leave",
        "disable_igmp",
        "enable_igmp",
        "wrong_if",
        "interface_deleted",
    ];
    let registered = client
        .request(
            "register_protocol",
            json!({"protocol_id": 21, "component_id": 7, "callbacks": callbacks}),
        )
        .await?;
    eprintln!("registered, handle {}", registered["handle"]);
    for ifname in &own {
        let keys = client
            .request("take_interface_ownership", json!({"ifname": ifname}))
            .await?;
        eprintln!("own {ifname}: {}", keys["keys"]);
    }
    for spec in &join {
        // IFNAME:GROUP, where GROUP may itself contain ':' (IPv6).
        let Some((ifname, group)) = spec.split_once(':') else {
            eprintln!("--join wants IFNAME:GROUP, got {spec}");
            std::process::exit(2);
        };
        client
            .request(
                "add_group_membership",
                json!({"ifname": ifname, "group": group}),
            )
            .await?;
        eprintln!("joined {group} on {ifname}");
    }
    while let Some(event) = client.next_event().await? {
        println!("{event}");
        if event["event"] == "shutdown" {
            break;
        }
    }
    Ok(())
}
