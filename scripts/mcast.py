#!/usr/bin/env python3
"""Multicast test traffic for mgmd's demo and end-to-end tests (standard library only).

  mcast.py send GROUP PORT [--count N] [--interval S] [--ttl T] [--iface IF] [--tag TEXT] [--bind ADDR]
  mcast.py recv GROUP PORT [--duration S] [--iface IF] [--source S] [--expect-tag TEXT]

`recv` joins GROUP (source-specific with --source) on IF, counts datagrams for --duration
seconds and prints `received N` (and the senders seen) on its last line.
"""
import argparse
import ipaddress
import socket
import struct
import sys
import time


def ifindex(name):
    return socket.if_nametoindex(name) if name else 0


def send(args):
    group = ipaddress.ip_address(args.group)
    if group.version == 4:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, args.ttl)
        if args.iface:
            mreqn = struct.pack("4s4si", b"\0" * 4, b"\0" * 4, ifindex(args.iface))
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, args.ttl)
        if args.iface:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex(args.iface))
    if args.bind:
        s.bind((args.bind, 0))
    for i in range(args.count):
        s.sendto(f"{args.tag} {i}".encode(), (args.group, args.port))
        time.sleep(args.interval)
    print(f"sent {args.count}")


def recv(args):
    group = ipaddress.ip_address(args.group)
    idx = ifindex(args.iface)
    if group.version == 4:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((args.group, args.port))
        if args.source:
            # struct ip_mreq_source { imr_multiaddr, imr_interface, imr_sourceaddr } (Linux order)
            local = b"\0" * 4
            if args.iface:
                local = socket.inet_aton(addr_of(args.iface))
            mreq = socket.inet_aton(args.group) + local + socket.inet_aton(args.source)
            s.setsockopt(socket.IPPROTO_IP, 39, mreq)  # IP_ADD_SOURCE_MEMBERSHIP
        else:
            mreqn = struct.pack("4s4si", socket.inet_aton(args.group), b"\0" * 4, idx)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("::", args.port))
        if args.source:
            # struct group_source_req { u32 gsr_interface; pad; sockaddr_storage group; sockaddr_storage source }
            def ss(addr):
                sa = struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", 0, 0)
                sa += socket.inet_pton(socket.AF_INET6, addr) + struct.pack("=I", 0)
                return sa + b"\0" * (128 - len(sa))
            gsr = struct.pack("=I", idx) + b"\0" * 4 + ss(args.group) + ss(args.source)
            s.setsockopt(socket.IPPROTO_IPV6, 46, gsr)  # MCAST_JOIN_SOURCE_GROUP
        else:
            mreq = socket.inet_pton(socket.AF_INET6, args.group) + struct.pack("=I", idx)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    print("joined", flush=True)
    deadline = time.time() + args.duration
    count = 0
    senders = set()
    while True:
        left = deadline - time.time()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, peer = s.recvfrom(2048)
        except socket.timeout:
            break
        if args.expect_tag and not data.startswith(args.expect_tag.encode()):
            continue
        count += 1
        senders.add(peer[0])
    print(f"received {count} from {' '.join(sorted(senders)) or '-'}", flush=True)


def addr_of(iface):
    import fcntl
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", iface.encode()[:15]))  # SIOCGIFADDR
    return socket.inet_ntoa(packed[20:24])


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    ps = sub.add_parser("send")
    ps.add_argument("group")
    ps.add_argument("port", type=int)
    ps.add_argument("--count", type=int, default=10)
    ps.add_argument("--interval", type=float, default=0.1)
    ps.add_argument("--ttl", type=int, default=8)
    ps.add_argument("--iface")
    ps.add_argument("--tag", default="mgmd-test")
    ps.add_argument("--bind", help="source address to send from")
    pr = sub.add_parser("recv")
    pr.add_argument("group")
    pr.add_argument("port", type=int)
    pr.add_argument("--duration", type=float, default=3.0)
    pr.add_argument("--iface")
    pr.add_argument("--source")
    pr.add_argument("--expect-tag")
    args = p.parse_args()
    send(args) if args.cmd == "send" else recv(args)


if __name__ == "__main__":
    sys.exit(main())
