//! Ready-made topologies of namespaces joined by veths.

use std::net::IpAddr;
use std::sync::mpsc;

use crate::{member_until_dropped, Netns, NO_DAD, NO_RP_FILTER};

/// Sender / router / receiver: `left` eth0 — r0 `router` r1 — eth0 `right`. IPv4
/// 10.1.0.0/24 left, 10.2.0.0/24 right; IPv6 fd00:1::/64, fd00:2::/64 (no DAD). Reverse path
/// filtering is off everywhere, IPv6 forwarding on in the router, and `left` and `right` route
/// 224.0.0.0/4 out of eth0. The router's multicast routing is left to the test.
pub struct Topology {
    pub left: Netns,
    pub router: Netns,
    pub right: Netns,
}

impl Topology {
    /// Namespaces `<tag>-l`, `<tag>-r` and `<tag>-c`.
    pub fn new(tag: &str) -> Topology {
        let left = Netns::new(&format!("{tag}-l"));
        let router = Netns::new(&format!("{tag}-r"));
        let right = Netns::new(&format!("{tag}-c"));
        for ns in [&left, &router, &right] {
            ns.sysctl(&NO_RP_FILTER);
            ns.sysctl(&NO_DAD);
        }
        router.sysctl(&["net.ipv6.conf.all.forwarding=1"]);
        left.veth_to("eth0", &router, "r0");
        right.veth_to("eth0", &router, "r1");
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

/// One LAN: a router namespace with `r0` (10.9.0.1/24) and a host namespace with `h0`
/// (10.9.0.2/24) on one veth; no DAD in either, and the host's unsolicited IGMP / MLD reports
/// repeat after 100 ms.
pub struct Lan {
    pub router: Netns,
    pub host: Netns,
}

impl Lan {
    /// Namespaces `<tag>-r` and `<tag>-h`.
    pub fn new(tag: &str) -> Lan {
        let router = Netns::new(&format!("{tag}-r"));
        let host = Netns::new(&format!("{tag}-h"));
        router.sysctl(&NO_DAD);
        host.sysctl(&NO_DAD);
        router.veth_to("r0", &host, "h0");
        router.ip("addr add 10.9.0.1/24 dev r0");
        host.ip("addr add 10.9.0.2/24 dev h0");
        host.sysctl(&[
            "net.ipv4.conf.h0.igmpv2_unsolicited_report_interval=100",
            "net.ipv4.conf.h0.igmpv3_unsolicited_report_interval=100",
            "net.ipv6.conf.h0.mldv1_unsolicited_report_interval=100",
            "net.ipv6.conf.h0.mldv2_unsolicited_report_interval=100",
        ]);
        Lan { router, host }
    }

    /// The host joins `group` on h0 (port 5000) and stays a member until the returned sender
    /// is dropped.
    pub fn host_joins(&self, group: IpAddr) -> mpsc::Sender<()> {
        member_until_dropped(&self.host, group, 5000, self.host.ifindex("h0"))
    }
}
