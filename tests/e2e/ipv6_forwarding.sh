#!/usr/bin/env bash
# IPv6: a static (*,G) route and an IPC client's (*,G) membership forward real IPv6 multicast
# sender -> router -> receiver through MIFs and IPv6 MFC entries.
source "$(dirname "$0")/../../scripts/netns.sh"
topo_router
build
cat >"$WORK/mgmd.toml" <<TOML
[[static]]
from = "$VL"
group = "ff1e::1:2"
to = ["$VR"]
TOML
start_mgmd

start_recv "$WORK/r1" "$RCV" ff1e::1:2 5101 --duration 3 --iface eth0
in_snd $MCAST send ff1e::1:2 5101 --count 20 --interval 0.1 --iface eth0 >/dev/null
wait_recv
n=$(received "$WORK/r1"); log "static IPv6 (*,G): $n of 20"
[ "${n:-0}" -ge 18 ] || fail "IPv6 static forwarding: ${n:-none}"
mgmctl verify || fail "verify not clean (static IPv6)"

CLIENT="python3 $ROOT/examples/python/mgm_client.py"
mkfifo "$WORK/ctl"
exec 3<>"$WORK/ctl"
# The static protocol owns both interfaces, so the client uses a second pair: release the static
# route first.
mgmctl static del --from "$VL" --group ff1e::1:2 --to "$VR" || fail "static del"
ip netns exec "$RTR" $CLIENT --socket "$SOCK" --own "$VL" --own "$VR" --join "$VR,ff1e::1:3" \
    <"$WORK/ctl" >"$WORK/client.out" 2>&1 &
BG_PIDS+=($!)
wait_for 10 grep -q '"ready"' "$WORK/client.out" || fail "client not ready: $(cat "$WORK/client.out")"
start_recv "$WORK/r2" "$RCV" ff1e::1:3 5102 --duration 3 --iface eth0
in_snd $MCAST send ff1e::1:3 5102 --count 20 --interval 0.1 --iface eth0 >/dev/null
wait_recv
n=$(received "$WORK/r2"); log "client IPv6 (*,G): $n of 20"
[ "${n:-0}" -ge 18 ] || fail "IPv6 client forwarding: ${n:-none}"
in_rtr ip -6 mroute show | grep -q ff1e::1:3 || fail "no IPv6 MFC entry: $(in_rtr ip -6 mroute show)"
mgmctl verify || fail "verify not clean (client IPv6)"
log "PASS"
