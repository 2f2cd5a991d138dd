//! What one counter poll costs the core task with N installed MFEs (default 100 000), before
//! and after moving the kernel reads off it:
//!
//! - before: the core pages through every MFE (`Mgm::mfes_after`), asks the kernel for each
//!   installed one (`SIOCGETSGCNT`) and feeds `Mgm::handle_counters`;
//! - after: a poller thread reads every entry with one rtnetlink MFC dump (timed separately:
//!   it runs on its own thread) and the core only feeds `Mgm::handle_counters` from the dump's
//!   entries.
//!
//! Needs root: it runs in a throwaway network namespace (deleted at exit) with one veth pair.
//!
//! Run: `cargo run --release -p agent --example counter_poll -- [N]`

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use mgm_core::{
    Action, Callbacks, ComponentId, Config, Family, IfIndex, InterfaceKey, KernelOp, LinkEvent,
    LinkInfo, MembershipFlags, Mgm, ProtocolId, Route, SourceGroup, VifIndex,
};
use netlink::mrt::MrtSocket;

/// The namespace, deleted on drop.
struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn ip(ns: &str, args: &str) -> anyhow::Result<()> {
    let ok = Command::new("ip")
        .args(["-n", ns])
        .args(args.split_whitespace())
        .status()?
        .success();
    anyhow::ensure!(ok, "ip -n {ns} {args} failed");
    Ok(())
}

fn ifindex(ns: &str, name: &str) -> anyhow::Result<u32> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "cat"])
        .arg(format!("/sys/class/net/{name}/ifindex"))
        .output()?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn link(ifindex: u32, name: &str) -> LinkEvent {
    LinkEvent::Link(LinkInfo {
        ifindex: IfIndex(ifindex),
        name: name.into(),
        up: true,
        multicast: true,
        point_to_point: false,
        loopback: false,
        mtu: 1500,
    })
}

/// Apply the core's kernel operations to the socket.
fn apply(mgm: &mut Mgm, sock: &MrtSocket) -> anyhow::Result<()> {
    while let Some(action) = mgm.poll_action() {
        match action {
            Action::Kernel(KernelOp::AddVif { vif, ifindex, .. }) => sock.add_vif(vif, ifindex)?,
            Action::Kernel(KernelOp::AddMfe {
                source,
                group,
                iif,
                oifs,
                ..
            }) => sock.add_mfc(source, group, iif, oifs)?,
            _ => {}
        }
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 100_000,
    };
    anyhow::ensure!(nix::unistd::geteuid().is_root(), "needs root");
    let ns = Netns(format!("mgmx-{}-counters", std::process::id()));
    anyhow::ensure!(Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()?
        .success());
    ip(&ns.0, "link add name v0 type veth peer name v1")?;
    ip(&ns.0, "link set v0 up")?;
    ip(&ns.0, "link set v1 up")?;
    let (v0, v1) = (ifindex(&ns.0, "v0")?, ifindex(&ns.0, "v1")?);
    let file = std::fs::File::open(format!("/run/netns/{}", ns.0))?;
    nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)?;

    // N installed MFEs: (10.x.y.z, 239.0.g) with traffic arriving on v0, receivers on v1.
    let now = Instant::now();
    let sock = MrtSocket::open(Family::Ipv4, None)?;
    let mut mgm = Mgm::new(Config {
        max_mfes: n.max(Config::default().max_mfes),
        ..Config::default()
    });
    mgm.handle_link(now, link(v0, "v0"));
    mgm.handle_link(now, link(v1, "v1"));
    let p = mgm.register_protocol(ProtocolId::STATIC, ComponentId(0), Callbacks::NONE)?;
    for i in [v0, v1] {
        mgm.take_interface_ownership(now, p, InterfaceKey::link(IfIndex(i), Family::Ipv4))?;
    }
    mgm.add_group_membership(
        now,
        p,
        SourceGroup::star_star(Family::Ipv4),
        InterfaceKey::link(IfIndex(v1), Family::Ipv4),
        MembershipFlags::JOIN_STATE,
        None,
    )?;
    let route = Route {
        ifindex: IfIndex(v0),
        gateway: None,
        prefix: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 0)),
        prefix_len: 8,
        protocol: 2,
    };
    let index = |i: usize| u32::try_from(i).unwrap_or(u32::MAX);
    for i in 0..n {
        let source = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + index(i)));
        let group = IpAddr::V4(Ipv4Addr::from(0xef00_0000 + index(i / 10)));
        mgm.handle_new_packet(
            now,
            Family::Ipv4,
            source,
            group,
            VifIndex(0),
            Some(route.clone()),
        );
        apply(&mut mgm, &sock)?;
    }
    anyhow::ensure!(mgm.mfe_count() == n, "{} MFEs", mgm.mfe_count());

    // Before: every MFE read on the core task.
    let mut before = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let now = Instant::now();
        let mut after = None;
        let mut read = 0;
        loop {
            let (page, more) = mgm.mfes_after(now, Family::Ipv4, after, 1024);
            after = page.last().map(|m| (m.source, m.group));
            for mfe in page.into_iter().filter(|m| m.installed) {
                let counters = sock.sg_counters(mfe.source, mfe.group)?;
                mgm.handle_counters(now, Family::Ipv4, mfe.source, mfe.group, counters);
                read += 1;
            }
            if !more || after.is_none() {
                break;
            }
        }
        anyhow::ensure!(read == n, "{read} counters read");
        before.push(start.elapsed());
    }

    // After: one dump off the core; the core only applies the entries.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rtnl = runtime.block_on(async { netlink::link::Rtnl::new() })?;
    let table = sock.table();
    let (mut dumps, mut applied) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let start = Instant::now();
        let entries = runtime.block_on(netlink::dump::mfc_dump(&rtnl, Family::Ipv4, table))?;
        dumps.push(start.elapsed());
        anyhow::ensure!(entries.len() == n, "{} entries dumped", entries.len());
        // What the poller sends in (built on its thread).
        let entries: Vec<_> = entries
            .into_iter()
            .filter(|e| e.resolved)
            .map(|e| (e.family, e.source, e.group, e.counters))
            .collect();
        let start = Instant::now();
        let now = Instant::now();
        for (family, source, group, counters) in entries {
            mgm.handle_counters(now, family, source, group, counters);
        }
        applied.push(start.elapsed());
    }
    sock.close()?;

    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (b, d, a) = (
        median(&mut before),
        median(&mut dumps),
        median(&mut applied),
    );
    println!("{n} installed MFEs, median of 3 polls:");
    println!(
        "  before: core task busy {:.1} ms (paging + SIOCGETSGCNT each)",
        ms(b)
    );
    println!(
        "  after:  core task busy {:.1} ms (handle_counters from the dump); dump on the poller thread {:.1} ms",
        ms(a),
        ms(d)
    );
    println!(
        "  core-task time ratio before/after: {:.1}",
        b.as_secs_f64() / a.as_secs_f64().max(1e-9)
    );
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
