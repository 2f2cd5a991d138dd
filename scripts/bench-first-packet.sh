#!/usr/bin/env bash
# First-packet latency of a new flow through the whole upcall path, mgmd against smcroute, in
# one run on the same topology (scripts/netns.sh): N static (*,G) routes from the sender side to
# the receiver side; the sender sends one packet to each group (a new (S,G): the kernel queues
# it, upcalls NOCACHE, the daemon installs the MFC entry, the kernel forwards the queued packet),
# then a second round once every entry exists (the kernel-only baseline). The receiver stamps
# arrival; latency = arrival - send time (one host clock).
#   scripts/bench-first-packet.sh [N]     (as root; installs smcroute from Debian if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200}
command -v smcrouted >/dev/null || { apt-get update -qq; apt-get install -y -qq smcroute >/dev/null; }
cargo build -q --release -p agent --bins
export MGMD_PREBUILT=1
TARGET=${CARGO_TARGET_DIR:-target}
MGMD=$TARGET/release/mgmd MGMCTL=$TARGET/release/mgmctl
export MGMD MGMCTL
source scripts/netns.sh
set +e
topo_router
in_rcv sysctl -qw net.ipv4.igmp_max_memberships=$((N + 10))
groups=()
for i in $(seq 1 "$N"); do groups+=("239.10.$((i / 250)).$((i % 250 + 1))"); done

cat >"$WORK/lat.py" <<'PY'
import socket, struct, sys, time, statistics
mode, port, groups = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
if mode == "send":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 8)
    for rnd in (0, 1):
        for g in groups:
            s.sendto(struct.pack("!BQ", rnd, time.time_ns()), (g, port))
            time.sleep(0.01)
        time.sleep(0.5)
else:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.bind(("0.0.0.0", port))
    idx = socket.if_nametoindex("eth0")
    for g in groups:
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                     struct.pack("4s4si", socket.inet_aton(g), b"\0" * 4, idx))
    print("joined", flush=True)
    lat = {0: [], 1: []}
    s.settimeout(3.0)
    try:
        while True:
            data, _ = s.recvfrom(64)
            now = time.time_ns()
            rnd, sent = struct.unpack("!BQ", data[:9])
            lat[rnd].append((now - sent) / 1000)
    except socket.timeout:
        pass
    for rnd, name in ((0, "first"), (1, "installed")):
        v = sorted(lat[rnd])
        if v:
            print(f"{name}: n={len(v)} median={statistics.median(v):.1f}us p90={v[int(len(v)*0.9)-1]:.1f}us")
        else:
            print(f"{name}: n=0")
PY

measure() { # measure LABEL PORT
    ip netns exec "$RCV" python3 "$WORK/lat.py" recv "$2" "${groups[@]}" >"$WORK/lat-$1" 2>&1 &
    local r=$!
    wait_for 10 grep -q joined "$WORK/lat-$1" || fail "receiver did not start"
    sleep 0.5
    in_snd python3 "$WORK/lat.py" send "$2" "${groups[@]}"
    wait "$r"
    sed "s/^/$1 /" "$WORK/lat-$1"
}

# --- mgmd
{ echo 'log_level = "warn"'; for g in "${groups[@]}"; do
    printf '[[static]]\nfrom = "%s"\ngroup = "%s"\nto = ["%s"]\n' "$VL" "$g" "$VR"; done; } >"$WORK/mgmd.toml"
start_mgmd
measure mgmd 9001
kill -TERM "$MGMD_PID"; wait "$MGMD_PID" 2>/dev/null; MGMD_PID=""
rm -f "$WORK/mgmd.toml"

# --- smcroute 
{ echo "phyint $VL enable"; echo "phyint $VR enable"
  for g in "${groups[@]}"; do echo "mroute from $VL group $g to $VR"; done; } >"$WORK/smcroute.conf"
ip netns exec "$RTR" smcrouted -n -N -l err -f "$WORK/smcroute.conf" -u "$WORK/smc.sock" \
    -P "$WORK/smc.pid" -i "smcbench$$" >"$WORK/smc.log" 2>&1 &
SMC=$!; BG_PIDS+=("$SMC")
wait_for 10 test -S "$WORK/smc.sock" || fail "smcrouted did not start: $(cat "$WORK/smc.log")"
sleep 1
measure smcroute 9002
kill -TERM "$SMC"; wait "$SMC" 2>/dev/null
