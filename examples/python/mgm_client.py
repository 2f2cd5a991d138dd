#!/usr/bin/env python3
"""A minimal mgmd client in pure Python (standard library only).

It speaks the IPC of docs/PROTOCOL.md: registers a protocol, takes ownership of interfaces, adds
memberships and prints every callback event it receives, one JSON object per line on stdout.

    mgm_client.py --socket /run/mgmd/mgmd.sock --own eth1 --own eth2 --join eth2,239.1.1.1

While it runs it also reads commands on stdin, one per line:

    join IFNAME GROUP [SOURCE]      add a JOIN_STATE membership
    leave IFNAME GROUP [SOURCE]     delete it
    own IFNAME / release IFNAME     take / release ownership (both families)
    raw {"op": ...}                 send any request (the handle is added when missing)
    quit                            deregister cleanly and exit

Responses are printed as {"response": ...}; events as they arrive ({"event": ...}). RPF and
creation alerts are answered at once with MGM's defaults ({"answered": ...}).
"""
import argparse
import json
import os
import select
import socket
import sys


class MgmClient:
    """Newline-delimited JSON over a Unix stream socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1
        self.handle = None
        self.pending_events = []

    def _read_line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("mgmd closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, op, **fields):
        """Send one request and wait for its response; events seen meanwhile are queued."""
        rid = self.next_id
        self.next_id += 1
        if self.handle is not None and "handle" not in fields and op not in ("hello",):
            fields["handle"] = self.handle
        msg = dict(fields, id=rid, op=op)
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            m = self._read_line()
            if m.get("id") == rid:
                return m
            if "event" in m:
                self.pending_events.append(m)

    def check(self, op, **fields):
        r = self.request(op, **fields)
        if "error" in r:
            raise RuntimeError(f"{op} failed: {r['error']['code']}: {r['error']['message']}")
        return r["ok"]

    def events(self):
        """Events already received, then any that are readable now without blocking."""
        out, self.pending_events = self.pending_events, []
        while True:
            if b"\n" in self.buf:
                out.append(self._read_line())
                continue
            r, _, _ = select.select([self.sock], [], [], 0)
            if not r:
                return out
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("mgmd closed the connection")
            self.buf += chunk


def membership_fields(spec):
    """IFNAME GROUP [SOURCE] -> request fields."""
    ifname, group, *rest = spec
    fields = {"ifname": ifname, "group": group}
    if rest:
        fields["source"] = rest[0]
    return fields


def emit(obj):
    print(json.dumps(obj), flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", default="/run/mgmd/mgmd.sock")
    p.add_argument("--protocol-id", type=int, default=21, help="21 = PIM-SM (routprot.h style)")
    p.add_argument("--component-id", type=int, default=1)
    p.add_argument("--callbacks", default="join_alert,prune_alert,local_join,local_leave,wrong_if,interface_deleted,creation_alert,rpf",
                   help="comma-separated events this client handles")
    p.add_argument("--own", action="append", default=[], help="interface to take ownership of")
    p.add_argument("--join", action="append", default=[], help="IFNAME,GROUP[,SOURCE] membership to add")
    args = p.parse_args()

    c = MgmClient(args.socket)
    emit({"response": c.check("hello", version=1, client="mgm_client.py")})
    callbacks = [x for x in args.callbacks.split(",") if x]
    c.handle = c.check("register_protocol", protocol_id=args.protocol_id,
                       component_id=args.component_id, callbacks=callbacks)["handle"]
    emit({"registered": c.handle})
    for ifname in args.own:
        emit({"response": c.check("take_interface_ownership", ifname=ifname)})
    for spec in args.join:
        emit({"response": c.check("add_group_membership", **membership_fields(spec.split(",", 2)))})
    emit({"ready": True})

    def handle(ev):
        emit(ev)
        # Answer the answerable callbacks at once (keeping MGM's defaults), so that a new flow
        # does not wait for the deadline. A real protocol would decide here.
        if ev.get("event") == "rpf":
            r = c.request("answer_rpf", query=ev["query"])
            emit({"answered": ev["query"], "result": r})
        elif ev.get("event") == "creation_alert":
            r = c.request("answer_creation_alert", query=ev["query"], disabled=[])
            emit({"answered": ev["query"], "result": r})

    stdin_open = True
    while True:
        for ev in c.events():
            handle(ev)
        fds = [c.sock] + ([sys.stdin] if stdin_open else [])
        r, _, _ = select.select(fds, [], [], 1.0)
        if sys.stdin in r:
            line = sys.stdin.readline()
            if not line:
                stdin_open = False
                continue
            words = line.split()
            if not words:
                continue
            cmd, rest = words[0], words[1:]
            try:
                if cmd == "join":
                    resp = c.request("add_group_membership", **membership_fields(rest))
                elif cmd == "leave":
                    resp = c.request("delete_group_membership", **membership_fields(rest))
                elif cmd == "own":
                    resp = c.request("take_interface_ownership", ifname=rest[0])
                elif cmd == "release":
                    resp = c.request("release_interface_ownership", ifname=rest[0])
                elif cmd == "raw":
                    req = json.loads(line.split(None, 1)[1])
                    op = req.pop("op")
                    req.pop("id", None)
                    resp = c.request(op, **req)
                elif cmd == "quit":
                    for ifname in args.own:
                        c.request("release_interface_ownership", ifname=ifname)
                    emit({"response": c.request("deregister_protocol")})
                    return 0
                else:
                    resp = {"error": {"code": "UnknownCommand", "message": cmd}}
            except (IndexError, ValueError) as e:
                resp = {"error": {"code": "BadCommand", "message": str(e)}}
            emit({"response": resp})
        if c.sock in r:
            for ev in c.events():
                handle(ev)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (ConnectionError, RuntimeError) as e:
        print(f"mgm_client: {e}", file=sys.stderr)
        sys.exit(1)
