#!/usr/bin/env bash
# Static (*,G) route from mgmd.toml and (S,G) route from mgmctl forward real traffic
# sender -> router -> receiver; an unrouted group is not forwarded; `static del` stops it;
# `mgmctl verify` is clean throughout. Topology: scripts/netns.sh (topo_router).
source "$(dirname "$0")/../../scripts/netns.sh"
topo_router
build
cat >"$WORK/mgmd.toml" <<TOML
log_level = "debug"
[[static]]
from = "$VL"
group = "239.1.1.1"
to = ["$VR"]
TOML
start_mgmd

log "(*,G) from the config file"
start_recv "$WORK/r1" "$RCV" 239.1.1.1 5001 --duration 3 --iface eth0
in_snd $MCAST send 239.1.1.1 5001 --count 20 --interval 0.1 --iface eth0 >/dev/null
wait_recv
n=$(received "$WORK/r1"); log "received $n of 20 on 239.1.1.1"
[ "${n:-0}" -ge 18 ] || fail "static (*,G): expected >= 18 packets, got ${n:-none}"
mgmctl show mfe | grep -q 239.1.1.1 || fail "show mfe lacks 239.1.1.1: $(mgmctl show mfe)"
mgmctl verify || fail "verify not clean after (*,G) forwarding"

log "(S,G) from mgmctl static add"
mgmctl static add --from "$VL" --source 10.1.1.2 --group 239.2.2.2 --to "$VR" || fail "static add"
start_recv "$WORK/r2" "$RCV" 239.2.2.2 5002 --duration 3 --iface eth0
start_recv "$WORK/r3" "$RCV" 239.3.3.3 5003 --duration 3 --iface eth0
in_snd $MCAST send 239.2.2.2 5002 --count 20 --interval 0.1 --iface eth0 >/dev/null &
in_snd $MCAST send 239.3.3.3 5003 --count 20 --interval 0.1 --iface eth0 >/dev/null
wait_recv
n=$(received "$WORK/r2"); log "received $n of 20 on 239.2.2.2 (S,G)"
[ "${n:-0}" -ge 18 ] || fail "static (S,G): expected >= 18 packets, got ${n:-none}"
n=$(received "$WORK/r3"); log "received $n of 20 on unrouted 239.3.3.3"
[ "${n:-1}" -eq 0 ] || fail "unrouted group was forwarded ($n packets)"
mgmctl verify || fail "verify not clean"

log "static del stops forwarding"
mgmctl static del --from "$VL" --source 10.1.1.2 --group 239.2.2.2 --to "$VR" || fail "static del"
start_recv "$WORK/r4" "$RCV" 239.2.2.2 5002 --duration 2 --iface eth0
in_snd $MCAST send 239.2.2.2 5002 --count 10 --interval 0.1 --iface eth0 >/dev/null
wait_recv
n=$(received "$WORK/r4"); log "received $n after static del"
[ "${n:-1}" -eq 0 ] || fail "traffic still forwarded after static del ($n)"
mgmctl verify || fail "verify not clean after static del"
log "PASS"
