//! `mgmctl`: show and change mgmd's state over its IPC socket.

use std::path::PathBuf;
use std::process::ExitCode;

use agent::client::{Client, ClientError};
use agent::config::DEFAULT_SOCKET;
use clap::{Parser, Subcommand};
use serde_json::{json, Value};

/// Control the multicast group manager daemon.
#[derive(Parser, Debug)]
#[command(name = "mgmctl", version)]
struct Args {
    /// mgmd's IPC socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,
    /// Print the raw JSON result instead of tables.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show state: interfaces, protocols, owners, groups, mfe, stats, static, igmp, mld.
    Show {
        /// What to show.
        #[arg(value_parser = ["interfaces", "protocols", "owners", "groups", "mfe", "stats", "static", "igmp", "mld"])]
        what: String,
    },
    /// Compare mgmd's state with the kernel's tables; exit 1 on any difference.
    Verify,
    /// Static routes: `static add|del --from IF [--source S] --group G --to IF...` or the
    /// smcroute form `static add from IF [source S] group G to IF...`.
    Static {
        /// add or del.
        #[arg(value_parser = ["add", "del"])]
        action: String,
        /// The route.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
        route: Vec<String>,
    },
    /// Run (enable) or stop (disable) the built-in IGMP / MLD router side on an interface.
    Igmp {
        /// enable or disable.
        #[arg(value_parser = ["enable", "disable"])]
        action: String,
        /// Interface name.
        ifname: String,
        /// Only this family (ipv4 = IGMP, ipv6 = MLD); default both.
        #[arg(long)]
        family: Option<String>,
        /// IGMP version of the queries (1-3).
        #[arg(long)]
        igmp_version: Option<u8>,
        /// MLD version of the queries (1-2).
        #[arg(long)]
        mld_version: Option<u8>,
        /// Query interval in seconds.
        #[arg(long)]
        query_interval: Option<u64>,
        /// Last member query interval in milliseconds.
        #[arg(long)]
        last_member_query_interval_ms: Option<u64>,
        /// Track hosts and stop forwarding at once when the last one leaves.
        #[arg(long)]
        explicit_tracking: bool,
    },
    /// Send one raw JSON request and print the response.
    Raw {
        /// The request, e.g. '{"op": "ping"}' (an "id" is added when missing).
        request: String,
    },
}

fn main() -> ExitCode {
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mgmctl: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("mgmctl: {e}");
            ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, ClientError> {
    // Check a static route's words before connecting.
    if let Command::Static { action, route } = &args.command {
        if let Err(e) = parse_static(route, action == "add") {
            eprintln!("mgmctl: {e}");
            return Ok(ExitCode::from(1));
        }
    }
    let mut client = Client::connect(&args.socket).await?;
    match args.command {
        Command::Show { what } => {
            let result = client.request(&format!("show_{what}"), Value::Null).await?;
            if args.json {
                println!("{}", pretty(&result));
            } else {
                print!("{}", render(&what, &result));
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let result = client.request("verify", Value::Null).await?;
            let clean = result
                .get("clean")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            for note in result["notes"].as_array().into_iter().flatten() {
                eprintln!("note: {}", note.as_str().unwrap_or_default());
            }
            if args.json {
                println!("{}", pretty(&result));
            } else if clean {
                println!("clean");
            } else {
                println!("differences between mgmd and the kernel:");
                for d in result["differences"].as_array().into_iter().flatten() {
                    println!("  {}", d.as_str().unwrap_or_default());
                }
            }
            Ok(if clean {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Static { action, route } => {
            let fields = match parse_static(&route, action == "add") {
                Ok(fields) => fields,
                Err(e) => {
                    eprintln!("mgmctl: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let result = client.request(&format!("static_{action}"), fields).await?;
            if args.json {
                println!("{}", pretty(&result));
            } else if let Some(state) = result.get("state").and_then(Value::as_str) {
                println!("{state}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Igmp {
            action,
            ifname,
            family,
            igmp_version,
            mld_version,
            query_interval,
            last_member_query_interval_ms,
            explicit_tracking,
        } => {
            let mut fields = json!({"ifname": ifname});
            if action == "enable" {
                fields["explicit_tracking"] = json!(explicit_tracking);
                for (key, value) in [
                    ("family", family.map(Value::from)),
                    ("igmp_version", igmp_version.map(Value::from)),
                    ("mld_version", mld_version.map(Value::from)),
                    ("query_interval", query_interval.map(Value::from)),
                    (
                        "last_member_query_interval_ms",
                        last_member_query_interval_ms.map(Value::from),
                    ),
                ] {
                    if let Some(value) = value {
                        fields[key] = value;
                    }
                }
            }
            let result = client.request(&format!("igmp_{action}"), fields).await?;
            if args.json {
                println!("{}", pretty(&result));
            } else {
                for i in items(&result, "interfaces") {
                    match i["reason"].as_str() {
                        Some(reason) => println!(
                            "{} {}: {} ({reason})",
                            text(&i["ifname"]),
                            text(&i["family"]),
                            text(&i["state"])
                        ),
                        None => println!(
                            "{} {}: {}",
                            text(&i["ifname"]),
                            text(&i["family"]),
                            text(&i["state"])
                        ),
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Raw { request } => {
            let mut value: Value = match serde_json::from_str(&request) {
                Ok(v) => v,
                Err(e) => {
                    eprintln!("mgmctl: the request is not JSON: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            if let Some(object) = value.as_object_mut() {
                object.entry("id").or_insert(json!(1));
            }
            let response = client.raw(&value.to_string()).await?;
            println!("{}", pretty(&response));
            Ok(if response.get("error").is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string())
}

/// `from IF [source S] group G to IF...`, with or without leading dashes.
fn parse_static(words: &[String], need_to: bool) -> Result<Value, String> {
    let mut from = None;
    let mut source = None;
    let mut group = None;
    let mut to = Vec::new();
    let mut key: Option<&str> = None;
    for word in words {
        let bare = word.trim_start_matches('-');
        let is_key = matches!(bare, "from" | "source" | "group" | "to");
        if is_key && (word.starts_with("--") || key != Some("to") || to.is_empty()) {
            // `to` consumes values until the next keyword.
            key = Some(match bare {
                "from" => "from",
                "source" => "source",
                "group" => "group",
                _ => "to",
            });
            continue;
        }
        match key {
            Some("from") if from.is_none() => from = Some(word.clone()),
            Some("source") if source.is_none() => source = Some(word.clone()),
            Some("group") if group.is_none() => group = Some(word.clone()),
            Some("to") => to.push(word.clone()),
            _ => return Err(format!("unexpected {word:?} in the route")),
        }
    }
    let from = from.ok_or("missing `from IFNAME`")?;
    let group = group.ok_or("missing `group GROUP`")?;
    if need_to && to.is_empty() {
        return Err("missing `to IFNAME...`".into());
    }
    let mut fields = json!({"from": from, "group": group});
    if let Some(source) = source {
        fields["source"] = json!(source);
    }
    if !to.is_empty() {
        fields["to"] = json!(to);
    }
    Ok(fields)
}

// ===== tables =====

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".to_string(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn iface(v: &Value) -> String {
    let name = v.get("ifname").map(text).unwrap_or_default();
    let name = if name == "-" {
        format!("if{}", text(&v["ifindex"]))
    } else {
        name
    };
    match v.get("next_hop").and_then(Value::as_str) {
        Some(hop) if hop != "0.0.0.0" && hop != "::" => format!("{name}/{hop}"),
        _ => name,
    }
}

/// `eth0/v4`, `eth0/v6`, or `eth0/fe80::1` for a next-hop key.
fn iface_family(v: &Value) -> String {
    let name = iface(v);
    if name.contains('/') {
        return name;
    }
    match v.get("next_hop").and_then(Value::as_str) {
        Some(hop) if hop.contains(':') => format!("{name}/v6"),
        _ => format!("{name}/v4"),
    }
}

fn protocol(v: &Value) -> String {
    if v.is_null() {
        return "-".into();
    }
    format!("{} (#{})", text(&v["protocol_id"]), text(&v["handle"]))
}

fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(cell.len());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<String>| {
        let last = cells.len().saturating_sub(1);
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == last {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(header.iter().map(|h| h.to_string()).collect());
    for row in rows {
        line(row);
    }
    out
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn render(what: &str, v: &Value) -> String {
    match what {
        "interfaces" => table(
            &[
                "IFINDEX",
                "NAME",
                "STATE",
                "MULTICAST",
                "VIF",
                "MIF",
                "ADDRESSES",
            ],
            items(v, "interfaces")
                .map(|i| {
                    vec![
                        text(&i["ifindex"]),
                        text(&i["ifname"]),
                        if i["up"] == json!(true) { "up" } else { "down" }.into(),
                        if i["multicast"] == json!(true) {
                            "yes"
                        } else {
                            "no"
                        }
                        .into(),
                        text(&i["vif_v4"]),
                        text(&i["vif_v6"]),
                        items(i, "addresses")
                            .map(text)
                            .collect::<Vec<_>>()
                            .join(" "),
                    ]
                })
                .collect(),
        ),
        "protocols" => table(
            &[
                "HANDLE",
                "PROTOCOL",
                "COMPONENT",
                "CLIENT",
                "INTERFACES",
                "CALLBACKS",
            ],
            items(v, "protocols")
                .map(|p| {
                    vec![
                        text(&p["handle"]),
                        text(&p["protocol_id"]),
                        text(&p["component_id"]),
                        text(&p["client"]),
                        items(p, "interfaces")
                            .map(iface_family)
                            .collect::<Vec<_>>()
                            .join(","),
                        items(p, "callbacks")
                            .map(text)
                            .collect::<Vec<_>>()
                            .join(","),
                    ]
                })
                .collect(),
        ),
        "owners" => table(
            &["INTERFACE", "FAMILY", "VIF", "ROUTING", "IGMP"],
            items(v, "owners")
                .map(|o| {
                    vec![
                        iface(o),
                        text(&o["family"]),
                        text(&o["vif"]),
                        protocol(&o["routing"]),
                        protocol(&o["igmp"]),
                    ]
                })
                .collect(),
        ),
        "groups" => table(
            &["SOURCE", "GROUP", "FAMILY", "INTERFACE", "PROTOCOL"],
            items(v, "groups")
                .map(|g| {
                    vec![
                        if g["source"].is_null() {
                            "*".into()
                        } else {
                            text(&g["source"])
                        },
                        if g["group"].is_null() {
                            "*".into()
                        } else {
                            text(&g["group"])
                        },
                        text(&g["family"]),
                        iface(&g["iface"]),
                        protocol(&g["protocol"]),
                    ]
                })
                .collect(),
        ),
        "mfe" => table(
            &[
                "SOURCE", "GROUP", "IIF", "OIFS", "PACKETS", "BYTES", "UPTIME", "EXPIRES", "STATE",
            ],
            items(v, "mfes")
                .map(|m| {
                    let oifs: Vec<String> = items(m, "oifs").map(iface).collect();
                    vec![
                        text(&m["source"]),
                        text(&m["group"]),
                        iface(&m["iif"]),
                        if oifs.is_empty() {
                            "(none)".into()
                        } else {
                            oifs.join(",")
                        },
                        text(&m["stats"]["packets"]),
                        text(&m["stats"]["bytes"]),
                        format!("{}s", text(&m["uptime"])),
                        if m["expires"].is_null() {
                            "-".into()
                        } else {
                            format!("{}s", text(&m["expires"]))
                        },
                        if m["installed"] == json!(true) {
                            "installed"
                        } else {
                            "pending"
                        }
                        .into(),
                    ]
                })
                .collect(),
        ),
        "static" => table(
            &["FROM", "SOURCE", "GROUP", "TO", "ORIGIN", "STATE"],
            items(v, "routes")
                .map(|r| {
                    let state = match r["reason"].as_str() {
                        Some(reason) => format!("{} ({reason})", text(&r["state"])),
                        None => text(&r["state"]),
                    };
                    vec![
                        text(&r["from"]),
                        if r["source"].is_null() {
                            "*".into()
                        } else {
                            text(&r["source"])
                        },
                        text(&r["group"]),
                        items(r, "to").map(text).collect::<Vec<_>>().join(","),
                        text(&r["origin"]),
                        state,
                    ]
                })
                .collect(),
        ),
        "stats" => {
            let mut out = String::new();
            if let Some(map) = v.get("stats").and_then(Value::as_object) {
                let width = map.keys().map(String::len).max().unwrap_or(0);
                for (k, val) in map {
                    out.push_str(&format!("{k:<width$}  {}\n", text(val)));
                }
            }
            out
        }
        _ => {
            let list: Vec<&Value> = items(v, "interfaces").collect();
            if list.is_empty() {
                return format!("no {what} interfaces\n");
            }
            let mut out = table(
                &["INTERFACE", "STATE", "VERSION", "QUERIER", "GROUPS"],
                list.iter()
                    .map(|i| {
                        let state = match i["reason"].as_str() {
                            Some(reason) => format!("pending ({reason})"),
                            None if i["is_querier"] == json!(true) => "querier".into(),
                            None => "non-querier".into(),
                        };
                        vec![
                            text(&i["ifname"]),
                            state,
                            text(&i["version"]),
                            text(&i["querier"]),
                            items(i, "groups").count().to_string(),
                        ]
                    })
                    .collect(),
            );
            let rows: Vec<Vec<String>> = list
                .iter()
                .flat_map(|i| {
                    items(i, "groups").map(move |g| {
                        let sources: Vec<String> =
                            items(g, "sources").map(|s| text(&s["source"])).collect();
                        vec![
                            text(&i["ifname"]),
                            text(&g["group"]),
                            text(&g["mode"]),
                            match g["filter_timer_ms"].as_u64() {
                                Some(ms) => format!("{:.1}s", ms as f64 / 1000.0),
                                None => "-".into(),
                            },
                            if sources.is_empty() {
                                "-".into()
                            } else {
                                sources.join(",")
                            },
                        ]
                    })
                })
                .collect();
            if !rows.is_empty() {
                out.push('\n');
                out.push_str(&table(
                    &["INTERFACE", "GROUP", "MODE", "TIMER", "SOURCES"],
                    rows,
                ));
            }
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn static_both_syntaxes() {
        let a = parse_static(
            &words("--from eth0 --source 10.0.0.1 --group 239.1.1.1 --to eth1 eth2"),
            true,
        );
        let b = parse_static(
            &words("from eth0 source 10.0.0.1 group 239.1.1.1 to eth1 eth2"),
            true,
        );
        let expected = json!({"from": "eth0", "source": "10.0.0.1", "group": "239.1.1.1",
            "to": ["eth1", "eth2"]});
        assert_eq!(a.unwrap(), expected);
        assert_eq!(b.unwrap(), expected);
        let c = parse_static(
            &words("--from eth0 --group 239.1.1.1 --to eth1 --to eth2"),
            true,
        );
        assert_eq!(c.unwrap()["to"], json!(["eth1", "eth2"]));
        assert!(parse_static(&words("from eth0 group 239.1.1.1"), true).is_err());
        assert!(parse_static(&words("from eth0 group 239.1.1.1"), false).is_ok());
        assert!(parse_static(&words("eth0 group 239.1.1.1 to eth1"), true).is_err());
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], vec![vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }
}
