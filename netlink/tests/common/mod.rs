//! Network-namespace harness for the kernel tests: every test builds its own uniquely named
//! namespaces (`mgmt-<pid>-<n>-<tag>`), deleted on drop even when the test fails, and runs
//! code inside them on dedicated threads that `setns` into them.

#![allow(dead_code)]

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// Whether kernel tests can run: root. Not root is a skip, except under `CI=true`, where it is
/// a failure.
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

/// A named network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("spawn");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

impl Netns {
    /// Create `mgmt-<pid>-<n>-<tag>` with `lo` up.
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("mgmt-{}-{n}-{tag}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name };
        ns.ip("link set lo up");
        ns
    }

    /// `ip -n NS <args>`, asserting success.
    pub fn ip(&self, args: &str) {
        run(Command::new("ip")
            .arg("-n")
            .arg(&self.name)
            .args(args.split_whitespace()));
    }

    /// `ip netns exec NS sh -c CMD`, asserting success; returns stdout.
    pub fn sh(&self, cmd: &str) -> String {
        let out = run(Command::new("ip").args(["netns", "exec", &self.name, "sh", "-c", cmd]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `sysctl -qw` settings inside the namespace.
    pub fn sysctl(&self, settings: &[&str]) {
        for s in settings {
            self.sh(&format!("sysctl -qw {s}"));
        }
    }

    /// The ifindex of `ifname` inside the namespace.
    pub fn ifindex(&self, ifname: &str) -> u32 {
        self.sh(&format!("cat /sys/class/net/{ifname}/ifindex"))
            .trim()
            .parse()
            .expect("ifindex")
    }

    /// Run `f` on a new thread inside the namespace.
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

    /// Run the future made by `f` on a current-thread tokio runtime on a thread inside the
    /// namespace, and wait for it (panics propagate).
    pub fn block_on<T, Fut>(&self, f: impl FnOnce() -> Fut + Send + 'static) -> T
    where
        T: Send + 'static,
        Fut: Future<Output = T>,
    {
        let handle = self.spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(f())
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A veth pair `a_if` in `a` and `b_if` in `b`, both up.
pub fn veth(a: &Netns, a_if: &str, b: &Netns, b_if: &str) {
    a.ip(&format!(
        "link add name {a_if} type veth peer name {b_if} netns {}",
        b.name
    ));
    a.ip(&format!("link set {a_if} up"));
    b.ip(&format!("link set {b_if} up"));
}

/// Sender / router / receiver, as in the style guide: `left` eth0 — r0 `router` r1 — eth0
/// `right`. IPv4 10.1.0.0/24 left, 10.2.0.0/24 right; IPv6 fd00:1::/64, fd00:2::/64 (no DAD).
pub struct Topology {
    pub left: Netns,
    pub router: Netns,
    pub right: Netns,
}

impl Topology {
    pub fn new(tag: &str) -> Topology {
        let left = Netns::new(&format!("{tag}-l"));
        let router = Netns::new(&format!("{tag}-r"));
        let right = Netns::new(&format!("{tag}-c"));
        for ns in [&left, &router, &right] {
            ns.sysctl(&[
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ]);
        }
        router.sysctl(&["net.ipv6.conf.all.forwarding=1"]);
        veth(&left, "eth0", &router, "r0");
        veth(&right, "eth0", &router, "r1");
        left.ip("addr add 10.1.0.2/24 dev eth0");
        left.ip("-6 addr add fd00:1::2/64 dev eth0 nodad");
        left.ip("route add 224.0.0.0/4 dev eth0");
        router.ip("addr add 10.1.0.1/24 dev r0");
        router.ip("addr add 10.2.0.1/24 dev r1");
        router.ip("-6 addr add fd00:1::1/64 dev r0 nodad");
        router.ip("-6 addr add fd00:2::1/64 dev r1 nodad");
        right.ip("addr add 10.2.0.2/24 dev eth0");
        right.ip("-6 addr add fd00:2::2/64 dev eth0 nodad");
        right.ip("route add 224.0.0.0/4 dev eth0");
        router.sysctl(&[
            "net.ipv4.conf.r0.rp_filter=0",
            "net.ipv4.conf.r1.rp_filter=0",
        ]);
        Topology {
            left,
            router,
            right,
        }
    }
}

/// Send `count` UDP datagrams to `group:port` from inside `ns` (TTL / hop limit 8, out of
/// `eth0`).
pub fn send_udp(ns: &Netns, group: IpAddr, port: u16, count: usize) {
    let ifindex = ns.ifindex("eth0");
    ns.spawn(move || {
        let socket = match group {
            IpAddr::V4(_) => {
                let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
                s.set_multicast_ttl_v4(8).expect("ttl");
                s
            }
            IpAddr::V6(_) => {
                let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).expect("udp6");
                s.set_multicast_hops_v6(8).expect("hops");
                s.set_multicast_if_v6(ifindex).expect("mcast if");
                s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
                    .expect("bind");
                s.into()
            }
        };
        for i in 0..count {
            socket
                .send_to(&[i as u8; 100], (group, port))
                .expect("send");
        }
    })
    .join()
    .expect("sender");
}

/// A receiver in `ns` that joined `group` on `eth0`; collects datagrams on `port`.
pub struct Receiver {
    socket: UdpSocket,
}

impl Receiver {
    pub fn join(ns: &Netns, group: IpAddr, port: u16) -> Receiver {
        let ifindex = ns.ifindex("eth0");
        let socket = ns
            .spawn(move || {
                let domain = if group.is_ipv4() {
                    Domain::IPV4
                } else {
                    Domain::IPV6
                };
                let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).expect("udp");
                s.set_reuse_address(true).expect("reuse");
                match group {
                    IpAddr::V4(g) => {
                        s.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)).into())
                            .expect("bind");
                        s.join_multicast_v4(&g, &Ipv4Addr::new(10, 2, 0, 2))
                            .expect("join");
                    }
                    IpAddr::V6(g) => {
                        s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())
                            .expect("bind");
                        s.join_multicast_v6(&g, ifindex).expect("join");
                    }
                }
                let s: UdpSocket = s.into();
                s.set_read_timeout(Some(Duration::from_millis(200)))
                    .expect("timeout");
                s
            })
            .join()
            .expect("receiver");
        Receiver { socket }
    }

    /// Read until `want` datagrams arrived or `timeout` passed; returns how many arrived.
    pub fn count(&self, want: usize, timeout: Duration) -> usize {
        let deadline = Instant::now() + timeout;
        let mut got = 0;
        let mut buf = [0u8; 2048];
        while got < want && Instant::now() < deadline {
            if self.socket.recv(&mut buf).is_ok() {
                got += 1;
            }
        }
        got
    }

    /// Drain whatever is queued now, waiting `quiet` for stragglers.
    pub fn drain(&self, quiet: Duration) -> usize {
        self.count(usize::MAX, quiet)
    }
}

/// `/proc/net/<file>` of a namespace.
pub fn proc_net(ns: &Netns, file: &str) -> String {
    ns.sh(&format!("cat /proc/net/{file}"))
}

/// Hex form of an IPv4 address in `/proc/net/ip_mr_cache` (the `__be32` printed with `%08X`
/// on a little-endian host).
pub fn proc_hex(addr: Ipv4Addr) -> String {
    format!("{:08X}", u32::from_ne_bytes(addr.octets()))
}
