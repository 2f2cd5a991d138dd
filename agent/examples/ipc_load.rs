//! Measure mgmd's IPC: request round trips and membership throughput, one request at a time
//! and in batches. Run it next to a running mgmd (same namespace):
//!
//! ```text
//! cargo run --release -p agent --example ipc_load -- SOCKET IFNAME [COUNT]
//! ```

use std::time::Instant;

use agent::client::{Client, ClientError};
use serde_json::{json, Value};

fn group(i: usize) -> String {
    format!("239.{}.{}.{}", (i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(socket), Some(ifname)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: ipc_load SOCKET IFNAME [COUNT]");
        std::process::exit(2);
    };
    let count: usize = args.get(3).and_then(|c| c.parse().ok()).unwrap_or(10_000);
    let mut c = Client::connect(socket).await?;
    c.request(
        "register_protocol",
        json!({"protocol_id": 99, "component_id": 1}),
    )
    .await?;
    c.request(
        "take_interface_ownership",
        json!({"ifname": ifname, "family": "ipv4"}),
    )
    .await?;

    let start = Instant::now();
    for _ in 0..count {
        c.request("ping", Value::Null).await?;
    }
    let ping = start.elapsed();
    println!(
        "ping: {count} round trips in {:.3} s = {:.1} us each",
        ping.as_secs_f64(),
        ping.as_secs_f64() * 1e6 / count as f64
    );

    let start = Instant::now();
    for i in 0..count {
        c.request(
            "add_group_membership",
            json!({"ifname": ifname, "group": group(i)}),
        )
        .await?;
    }
    let add = start.elapsed();
    let start = Instant::now();
    for i in 0..count {
        c.request(
            "delete_group_membership",
            json!({"ifname": ifname, "group": group(i)}),
        )
        .await?;
    }
    let del = start.elapsed();
    println!(
        "memberships one by one: add {:.0}/s, delete {:.0}/s",
        count as f64 / add.as_secs_f64(),
        count as f64 / del.as_secs_f64()
    );

    let batch = 1000;
    let start = Instant::now();
    for chunk in (0..count).collect::<Vec<_>>().chunks(batch) {
        let requests: Vec<Value> = chunk
            .iter()
            .map(|i| json!({"op": "add_group_membership", "ifname": ifname, "group": group(*i)}))
            .collect();
        c.request("batch", json!({"requests": requests})).await?;
    }
    let add = start.elapsed();
    println!(
        "memberships in batches of {batch}: add {:.0}/s",
        count as f64 / add.as_secs_f64()
    );
    Ok(())
}
