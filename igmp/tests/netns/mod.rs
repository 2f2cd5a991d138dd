//! Namespace harness for the kernel tests: uniquely named namespaces (`mgmt-<pid>-<n>-igmp-*`)
//! deleted on drop even when a test fails, code run inside them on threads that `setns`, and
//! a router/host LAN over one veth pair.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Command, Output as ProcessOutput};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;

pub fn should_run() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "kernel tests need root under CI=true"
    );
    eprintln!("skipped: kernel tests need root");
    false
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn run(cmd: &mut Command) -> ProcessOutput {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A uniquely named network namespace, deleted on drop (also when the test fails).
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("mgmt-{}-{n}-igmp-{tag}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip("link set lo up");
        ns.sysctl(&[
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
        ]);
        ns
    }

    pub fn ip(&self, args: &str) -> String {
        let out = run(Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args.split_whitespace()));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn sysctl(&self, settings: &[&str]) {
        for s in settings {
            run(Command::new("ip").args(["netns", "exec", &self.name, "sysctl", "-qw", s]));
        }
    }

    pub fn ifindex(&self, ifname: &str) -> u32 {
        let out = run(Command::new("ip").args([
            "netns",
            "exec",
            &self.name,
            "cat",
            &format!("/sys/class/net/{ifname}/ifindex"),
        ]));
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("ifindex")
    }

    pub fn link_local(&self, ifname: &str) -> Ipv6Addr {
        let out = self.ip(&format!("-6 -o addr show dev {ifname} scope link"));
        let field = out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .expect("fe80::");
        field.split('/').next().unwrap().parse().expect("address")
    }

    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let file = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Router namespace with `r0`, host namespace with `h0`, a veth between.
pub struct Lan {
    pub router: Netns,
    pub host: Netns,
}

impl Lan {
    pub fn new(tag: &str) -> Lan {
        let router = Netns::new(&format!("{tag}-r"));
        let host = Netns::new(&format!("{tag}-h"));
        router.ip(&format!(
            "link add name r0 type veth peer name h0 netns {}",
            host.name
        ));
        router.ip("addr add 10.9.0.1/24 dev r0");
        host.ip("addr add 10.9.0.2/24 dev h0");
        router.ip("link set r0 up");
        host.ip("link set h0 up");
        host.sysctl(&[
            "net.ipv4.conf.h0.igmpv2_unsolicited_report_interval=100",
            "net.ipv4.conf.h0.igmpv3_unsolicited_report_interval=100",
            "net.ipv6.conf.h0.mldv1_unsolicited_report_interval=100",
            "net.ipv6.conf.h0.mldv2_unsolicited_report_interval=100",
        ]);
        Lan { router, host }
    }

    /// A host process that joins `group` on h0 and stays joined until the sender is dropped.
    pub fn host_joins(&self, group: IpAddr) -> mpsc::Sender<()> {
        let ifindex = self.host.ifindex("h0");
        let (stop, stopped) = mpsc::channel::<()>();
        let (ready, is_ready) = mpsc::channel();
        self.host.spawn(move || {
            let socket = match group {
                IpAddr::V4(g) => {
                    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 5000)).expect("bind");
                    s.join_multicast_v4(&g, &Ipv4Addr::new(10, 9, 0, 2))
                        .expect("join");
                    s
                }
                IpAddr::V6(g) => {
                    let s = UdpSocket::bind(SocketAddr::from((Ipv6Addr::UNSPECIFIED, 5000)))
                        .expect("bind");
                    s.join_multicast_v6(&g, ifindex).expect("join");
                    s
                }
            };
            ready.send(()).unwrap();
            let _ = stopped.recv();
            drop(socket);
        });
        is_ready.recv().expect("host joined");
        stop
    }
}
