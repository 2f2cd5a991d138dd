//! The network-namespace harness of mgmd's kernel tests (a dev-only crate, never published).
//!
//! Every test builds its own uniquely named namespaces (`mgmt-<pid>-<n>-<tag>`, see
//! [`Netns`]), which are deleted when the guard is dropped, also when the test panics. Code
//! runs inside a namespace on a dedicated thread that `setns`-ed into it ([`Netns::spawn`],
//! [`Netns::spawn_async`], [`in_netns`], [`on_thread_in`]): the test's own thread never leaves
//! the host namespace, and the host's interfaces and multicast routing tables are never
//! touched. (Read `/sys/class/net` through [`Netns::ifindex`] or `ip netns exec`, not from such
//! a thread: sysfs shows the namespace of whoever mounted it.)
//!
//! Kernel tests start with [`root_or_skip`]: without root they are skipped, except under
//! `CI=true`, where they fail.
//!
//! ```no_run
//! if !testns::root_or_skip() {
//!     return;
//! }
//! let a = testns::Netns::new("demo-a");
//! let b = testns::Netns::new("demo-b");
//! a.veth_to("a0", &b, "b0");
//! a.ip("addr add 10.7.0.1/24 dev a0");
//! // 10.7.0.1 exists only inside `a`: binding to it works on a thread there.
//! let bound = a.block_on(|| async { tokio::net::UdpSocket::bind("10.7.0.1:0").await.is_ok() });
//! assert!(bound);
//! // `a` and `b` are deleted here, and on any panic above.
//! ```

use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use socket2::{Domain, InterfaceIndexOrAddress, Protocol, Socket, Type};

mod topology;

pub use topology::{Lan, Topology};

/// Whether kernel tests can run: they need root. Not root is a skip (`false`, with a note on
/// stderr), except under `CI=true`, where it is a failure (a panic).
pub fn root_or_skip() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert_ne!(
        std::env::var("CI").as_deref(),
        Ok("true"),
        "kernel tests need root under CI=true"
    );
    eprintln!("skipped: kernel tests need root (network namespaces)");
    false
}

/// Sysctl settings that turn IPv6 duplicate address detection off (addresses usable at once).
pub const NO_DAD: [&str; 2] = [
    "net.ipv6.conf.all.accept_dad=0",
    "net.ipv6.conf.default.accept_dad=0",
];

/// Sysctl settings that turn reverse path filtering off for all and new interfaces.
pub const NO_RP_FILTER: [&str; 2] = [
    "net.ipv4.conf.all.rp_filter=0",
    "net.ipv4.conf.default.rp_filter=0",
];

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A uniquely named network namespace (`mgmt-<pid>-<n>-<tag>`), deleted on drop: also when the
/// test fails, since the guard is dropped while the panic unwinds.
#[derive(Debug)]
pub struct Netns {
    /// The name, as `ip netns` knows it (`/run/netns/<name>`).
    pub name: String,
}

impl Netns {
    /// A new namespace with `lo` up.
    pub fn new(tag: &str) -> Netns {
        let ns = Netns::bare(tag);
        ns.ip("link set lo up");
        ns
    }

    /// A new namespace exactly as `ip netns add` makes it (`lo` down).
    pub fn bare(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("mgmt-{}-{n}-{tag}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]));
        Netns { name }
    }

    /// `ip -n NS <args>` (split at white space), asserting success; returns stdout.
    pub fn ip(&self, args: &str) -> String {
        ip(&self.name, args)
    }

    /// `ip -n NS -batch -`: the lines in one call, asserting success.
    pub fn ip_batch(&self, lines: &[String]) {
        ip_batch(&self.name, lines);
    }

    /// `ip netns exec NS <argv>`, asserting success; returns stdout.
    pub fn exec(&self, argv: &[&str]) -> String {
        exec(&self.name, argv)
    }

    /// `sh -c CMD` inside the namespace, asserting success; returns stdout.
    pub fn sh(&self, cmd: &str) -> String {
        self.exec(&["sh", "-c", cmd])
    }

    /// `sysctl -qw` of the settings (`key=value`) inside the namespace, asserting success.
    pub fn sysctl(&self, settings: &[&str]) {
        sysctl(&self.name, settings);
    }

    /// The ifindex of `ifname` inside the namespace.
    pub fn ifindex(&self, ifname: &str) -> u32 {
        self.exec(&["cat", &format!("/sys/class/net/{ifname}/ifindex")])
            .trim()
            .parse()
            .expect("ifindex")
    }

    /// The first IPv6 link-local address of `ifname` (use [`NO_DAD`] so that it is usable).
    pub fn link_local(&self, ifname: &str) -> Ipv6Addr {
        let out = self.ip(&format!("-6 -o addr show dev {ifname} scope link"));
        let field = out
            .split_whitespace()
            .skip_while(|w| *w != "inet6")
            .nth(1)
            .expect("fe80:: address");
        field
            .split('/')
            .next()
            .and_then(|a| a.parse().ok())
            .expect("address")
    }

    /// A veth pair: `ifname` here, `peer_ifname` in `peer`, both up.
    pub fn veth_to(&self, ifname: &str, peer: &Netns, peer_ifname: &str) {
        self.ip(&format!(
            "link add name {ifname} type veth peer name {peer_ifname} netns {}",
            peer.name
        ));
        self.ip(&format!("link set {ifname} up"));
        peer.ip(&format!("link set {peer_ifname} up"));
    }

    /// A veth pair with both ends, `a` and `b`, in this namespace, both up ([`veth_pair`]).
    pub fn veth_pair(&self, a: &str, b: &str) {
        veth_pair(&self.name, a, b);
    }

    /// The text of `/proc/net/<file>` of the namespace.
    pub fn proc_net(&self, file: &str) -> String {
        self.exec(&["cat", &format!("/proc/net/{file}")])
    }

    /// Run `f` on a new thread inside the namespace.
    pub fn spawn<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> JoinHandle<T> {
        spawn_in(&self.name, f)
    }

    /// Run the future made by `f` on a current-thread tokio runtime, on a new thread inside the
    /// namespace (the future itself need not be `Send`).
    pub fn spawn_async<T, Fut>(&self, f: impl FnOnce() -> Fut + Send + 'static) -> JoinHandle<T>
    where
        T: Send + 'static,
        Fut: Future<Output = T>,
    {
        self.spawn(move || runtime().block_on(f()))
    }

    /// [`Netns::spawn_async`] and wait for it; a panic in it propagates.
    pub fn block_on<T, Fut>(&self, f: impl FnOnce() -> Fut + Send + 'static) -> T
    where
        T: Send + 'static,
        Fut: Future<Output = T>,
    {
        join(self.spawn_async(f))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Run `body` inside a fresh [`Netns::bare`] namespace, on a thread with a current-thread
/// tokio runtime; `body` gets the namespace's name. The namespace is deleted afterwards, and a
/// panic of `body` is then re-raised here.
pub fn in_netns<F, Fut>(tag: &str, body: F)
where
    F: FnOnce(String) -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    let ns = Netns::bare(tag);
    let name = ns.name.clone();
    let result = spawn_in(&ns.name, move || runtime().block_on(body(name))).join();
    drop(ns);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

/// Wait for a thread and return its result; its panic is re-raised in the caller.
pub fn join<T>(handle: JoinHandle<T>) -> T {
    match handle.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Run `f` on a new thread inside the namespace named `ns`.
pub fn spawn_in<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// Start `f` now on a new thread inside the namespace named `ns`; the returned future yields
/// its result without blocking the runtime it is awaited on (panics if `f` panicked).
pub fn on_thread_in<T, F>(ns: &str, f: F) -> impl Future<Output = T> + Send + 'static
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let (tx, rx) = tokio::sync::oneshot::channel();
    spawn_in(ns, move || {
        let _ = tx.send(f());
    });
    async move { rx.await.expect("thread result") }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
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

/// `ip -n NS <args>` (split at white space), asserting success; returns stdout.
pub fn ip(ns: &str, args: &str) -> String {
    let out = run(Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args.split_whitespace()));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -n NS -batch -` with `lines` on stdin, asserting success.
pub fn ip_batch(ns: &str, lines: &[String]) {
    let mut child = Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ip runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(lines.join("\n").as_bytes()).expect("write");
    drop(stdin);
    let out = child.wait_with_output().expect("ip waits");
    assert!(
        out.status.success(),
        "ip -n {ns} -batch {lines:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `ip netns exec NS <argv>`, asserting success; returns stdout.
pub fn exec(ns: &str, argv: &[&str]) -> String {
    let out = run(Command::new("ip").args(["netns", "exec", ns]).args(argv));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `sysctl -qw <settings>` (`key=value`) inside the namespace `ns`, asserting success.
pub fn sysctl(ns: &str, settings: &[&str]) {
    let mut argv = vec!["sysctl", "-qw"];
    argv.extend_from_slice(settings);
    exec(ns, &argv);
}

/// A veth pair `a` / `b`, both ends in namespace `ns`, both up.
pub fn veth_pair(ns: &str, a: &str, b: &str) {
    ip_batch(
        ns,
        &[
            format!("link add name {a} type veth peer name {b}"),
            format!("link set {a} up"),
            format!("link set {b} up"),
        ],
    );
}

/// A UDP socket (of the current thread's namespace) for sending to the multicast `group`: TTL
/// / hop limit 8; IPv6 out of `ifindex` (IPv4 follows the route to `group`).
pub fn multicast_sender(group: IpAddr, ifindex: u32) -> UdpSocket {
    match group {
        IpAddr::V4(_) => {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind");
            s.set_multicast_ttl_v4(8).expect("ttl");
            s
        }
        IpAddr::V6(_) => {
            let s = Socket::new(Domain::IPV6, Type::DGRAM, Some(Protocol::UDP)).expect("udp6");
            s.set_multicast_hops_v6(8).expect("hops");
            s.set_multicast_if_v6(ifindex).expect("multicast if");
            s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)).into())
                .expect("bind");
            s.into()
        }
    }
}

/// A UDP socket (of the current thread's namespace) bound to `port` on the wildcard address
/// (`SO_REUSEADDR`) that joined `group` on interface `ifindex`; reads time out after 100 ms.
/// The membership ends when it is dropped.
pub fn multicast_receiver(group: IpAddr, port: u16, ifindex: u32) -> UdpSocket {
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
            s.join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))
                .expect("join");
        }
        IpAddr::V6(g) => {
            s.bind(&SocketAddr::from((Ipv6Addr::UNSPECIFIED, port)).into())
                .expect("bind");
            s.join_multicast_v6(&g, ifindex).expect("join");
        }
    }
    let s: UdpSocket = s.into();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("read timeout");
    s
}

/// Read from `socket` (which has a read timeout) until `want` datagrams arrived or `timeout`
/// passed; returns how many arrived.
pub fn count_received(socket: &UdpSocket, want: usize, timeout: Duration) -> usize {
    let deadline = Instant::now() + timeout;
    let mut got = 0;
    let mut buf = [0u8; 2048];
    while got < want && Instant::now() < deadline {
        if socket.recv(&mut buf).is_ok() {
            got += 1;
        }
    }
    got
}

/// Send `count` datagrams of 100 bytes to `group:port` from inside `ns`, out of `ifname`
/// ([`multicast_sender`]); returns when all are sent.
pub fn send_udp(ns: &Netns, ifname: &str, group: IpAddr, port: u16, count: usize) {
    let ifindex = ns.ifindex(ifname);
    join(ns.spawn(move || {
        let socket = multicast_sender(group, ifindex);
        for i in 0..count {
            socket
                .send_to(&[i as u8; 100], (group, port))
                .expect("send");
        }
    }));
}

/// A multicast receiver inside a namespace ([`multicast_receiver`]): a member of its group
/// until dropped.
pub struct Receiver {
    socket: UdpSocket,
}

impl Receiver {
    /// Join `group` on `ifname` of `ns`, receiving on `port`.
    pub fn join(ns: &Netns, ifname: &str, group: IpAddr, port: u16) -> Receiver {
        let ifindex = ns.ifindex(ifname);
        let socket = join(ns.spawn(move || multicast_receiver(group, port, ifindex)));
        Receiver { socket }
    }

    /// Read until `want` datagrams arrived or `timeout` passed; returns how many arrived.
    pub fn count(&self, want: usize, timeout: Duration) -> usize {
        count_received(&self.socket, want, timeout)
    }

    /// Drain whatever is queued now, waiting `quiet` for stragglers.
    pub fn drain(&self, quiet: Duration) -> usize {
        self.count(usize::MAX, quiet)
    }
}

/// A member of `group` on `ifindex` (port `port`) inside `ns` until the returned sender is
/// dropped; returns once the join is done.
pub fn member_until_dropped(
    ns: &Netns,
    group: IpAddr,
    port: u16,
    ifindex: u32,
) -> mpsc::Sender<()> {
    let (stop, stopped) = mpsc::channel::<()>();
    let (ready, is_ready) = mpsc::channel();
    ns.spawn(move || {
        let socket = multicast_receiver(group, port, ifindex);
        let _ = ready.send(());
        let _ = stopped.recv();
        drop(socket);
    });
    is_ready.recv().expect("member joined");
    stop
}
