# shellcheck shell=bash
# Network-namespace topologies for mgmd's demo and end-to-end tests. Source it, then call
# `topo_router` (sender | router | receiver), run things with `in_snd/in_rtr/in_rcv CMD...`,
# start the daemon with `start_mgmd`, and let the EXIT trap tear everything down, even on failure.
#
#   sender ns                router ns (mgmd)                  receiver ns
#   eth0 10.1.1.2/24 ---- $VL 10.1.1.1/24   $VR 10.1.2.1/24 ---- eth0 10.1.2.2/24
#        fd00:1:1::2/64       fd00:1:1::1/64  fd00:1:2::1/64         fd00:1:2::2/64
#
# Every namespace name carries this shell's PID and a random tag, so parallel runs never collide;
# veth names inside the router carry the tag too.

set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TAG=$(printf '%04x' $((RANDOM % 65536)))
PFX="mgm$$-$TAG"
SND="$PFX-snd"
RTR="$PFX-rtr"
RCV="$PFX-rcv"
VL="vl$TAG"
VR="vr$TAG"
WORK=$(mktemp -d "/tmp/mgmd-e2e.XXXXXX")
SOCK="$WORK/mgmd.sock"
MGMD_PID=""
CREATED_NS=()
BG_PIDS=()
RECV_PIDS=()
LAST_RECV=""
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
MGMD=${MGMD:-$TARGET_DIR/debug/mgmd}
MGMCTL=${MGMCTL:-$TARGET_DIR/debug/mgmctl}
MCAST="python3 $ROOT/scripts/mcast.py"

log() { printf '[%s] %s\n' "$(date +%T)" "$*"; }
fail() { log "FAIL: $*"; [ -f "$WORK/mgmd.log" ] && { echo "--- mgmd log (tail)"; tail -n 40 "$WORK/mgmd.log"; }; exit 99; }
skip() { log "SKIP: $*"; exit 77; }

require_root() {
    if [ "$(id -u)" -ne 0 ]; then
        [ "${CI:-}" = "true" ] && fail "must run as root under CI"
        skip "needs root (network namespaces)"
    fi
    command -v ip >/dev/null || fail "iproute2 missing (run scripts/setup.sh)"
}

teardown() {
    local rc=$?
    set +e
    for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null; done
    if [ -n "$MGMD_PID" ] && kill -0 "$MGMD_PID" 2>/dev/null; then
        kill -TERM "$MGMD_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$MGMD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$MGMD_PID" 2>/dev/null
    fi
    for ns in "${CREATED_NS[@]}"; do
        # Kill anything still running inside, then delete the namespace (and its veths).
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -rf "$WORK"
    exit $rc
}
trap teardown EXIT
trap 'exit 130' INT TERM

add_ns() {
    ip netns add "$1" || fail "cannot create namespace $1"
    CREATED_NS+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
}

in_snd() { ip netns exec "$SND" "$@"; }
in_rtr() { ip netns exec "$RTR" "$@"; }
in_rcv() { ip netns exec "$RCV" "$@"; }

# veth between namespace $1 (name $2) and namespace $3 (name $4)
add_link() {
    ip -n "$1" link add name "$2" type veth peer name "$4" netns "$3" || fail "veth $2/$4"
    ip -n "$1" link set "$2" up
    ip -n "$3" link set "$4" up
}

topo_router() {
    require_root
    add_ns "$SND"; add_ns "$RTR"; add_ns "$RCV"
    add_link "$SND" eth0 "$RTR" "$VL"
    add_link "$RTR" "$VR" "$RCV" eth0
    ip -n "$SND" addr add 10.1.1.2/24 dev eth0
    ip -n "$SND" addr add fd00:1:1::2/64 dev eth0 nodad
    ip -n "$RTR" addr add 10.1.1.1/24 dev "$VL"
    ip -n "$RTR" addr add fd00:1:1::1/64 dev "$VL" nodad
    ip -n "$RTR" addr add 10.1.2.1/24 dev "$VR"
    ip -n "$RTR" addr add fd00:1:2::1/64 dev "$VR" nodad
    ip -n "$RCV" addr add 10.1.2.2/24 dev eth0
    ip -n "$RCV" addr add fd00:1:2::2/64 dev eth0 nodad
    ip -n "$SND" route add default via 10.1.1.1
    ip -n "$SND" -6 route add default via fd00:1:1::1
    ip -n "$RCV" route add default via 10.1.2.1
    ip -n "$RCV" -6 route add default via fd00:1:2::1
    # The sender's multicast leaves through eth0.
    ip -n "$SND" route add 224.0.0.0/4 dev eth0
    ip -n "$SND" -6 route add ff00::/8 dev eth0 table local 2>/dev/null || true
    in_rtr sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
        net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
        "net.ipv4.conf.$VL.rp_filter=0" "net.ipv4.conf.$VR.rp_filter=0"
}

build() {
    if [ ! -x "$MGMD" ] || [ ! -x "$MGMCTL" ] || [ -z "${MGMD_PREBUILT:-}" ]; then
        (cd "$ROOT" && cargo build -q -p agent --bins) || fail "cargo build failed"
    fi
}

mgmctl() { in_rtr "$MGMCTL" --socket "$SOCK" "$@"; }

# start_mgmd [extra mgmd args...]; config in $WORK/mgmd.toml if the caller wrote one
start_mgmd() {
    local cfg=()
    [ -f "$WORK/mgmd.toml" ] && cfg=(--config "$WORK/mgmd.toml")
    ip netns exec "$RTR" env RUST_LOG="${RUST_LOG:-info}" "$MGMD" --socket "$SOCK" "${cfg[@]}" "$@" \
        >"$WORK/mgmd.log" 2>&1 &
    MGMD_PID=$!
    for _ in $(seq 100); do
        if mgmctl show stats >/dev/null 2>&1; then return 0; fi
        kill -0 "$MGMD_PID" 2>/dev/null || fail "mgmd exited at start"
        sleep 0.1
    done
    fail "mgmd did not answer on $SOCK"
}

# recv_count NS GROUP PORT DURATION [extra recv args] -> prints the number received
# (run it in the background with & and collect with wait / the output file)
start_recv() { # start_recv OUTFILE NS GROUP PORT DURATION [args...]
    local out=$1 ns=$2; shift 2
    ip netns exec "$ns" $MCAST recv "$@" >"$out" 2>&1 &
    LAST_RECV=$!
    RECV_PIDS+=("$LAST_RECV")
    BG_PIDS+=("$LAST_RECV")
    for _ in $(seq 50); do grep -q joined "$out" 2>/dev/null && return 0; sleep 0.05; done
    fail "receiver did not start: $(cat "$out")"
}
# wait for every receiver started since the last call
wait_recv() { for p in "${RECV_PIDS[@]}"; do wait "$p" 2>/dev/null; done; RECV_PIDS=(); }
# client_cmd LINE: send a command to the example client on fd 3, wait for its response line
client_cmd() {
    local before n
    before=$(grep -c '"response"' "$WORK/client.out")
    echo "$1" >&3
    for _ in $(seq 50); do
        n=$(grep -c '"response"' "$WORK/client.out")
        [ "$n" -gt "$before" ] && break
        sleep 0.1
    done
    [ "$n" -gt "$before" ] || fail "client did not answer '$1': $(tail -n 3 "$WORK/client.out")"
    grep '"response"' "$WORK/client.out" | tail -n 1 | grep -q '"ok"' ||
        fail "'$1' failed: $(grep '"response"' "$WORK/client.out" | tail -n 1)"
}
received() { sed -n 's/^received \([0-9]*\).*/\1/p' "$1"; }

wait_for() { # wait_for SECONDS CMD... : poll until CMD succeeds
    local t=$1; shift
    local n=$((t * 10))
    for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
