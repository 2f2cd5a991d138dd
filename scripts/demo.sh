#!/usr/bin/env bash
# The demo (README's first command; fresh machine, as root): installs what is missing, builds,
# creates a sender / router / receiver topology in network namespaces, starts mgmd in the
# router, makes it forward a group (a static (*,G) route from mgmd.toml, then a membership added
# by an external IPC client), shows the packets received and `mgmctl show mfe`, and tears
# everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/netns.sh
set +e
topo_router
log "building mgmd and mgmctl"
build
cat >"$WORK/mgmd.toml" <<TOML
log_level = "info"
[[static]]
from = "$VL"
group = "239.1.1.1"
to = ["$VR"]
TOML
log "topology: sender ns $SND (eth0 10.1.1.2) -> router ns $RTR ($VL | $VR) -> receiver ns $RCV (eth0 10.1.2.2)"
start_mgmd
log "mgmd is running in $RTR (socket $SOCK); static route 239.1.1.1 from $VL to $VR"

log "1. static (*,G): the receiver joins 239.1.1.1, the sender sends 20 packets"
start_recv "$WORK/r1" "$RCV" 239.1.1.1 5001 --duration 3 --iface eth0
in_snd $MCAST send 239.1.1.1 5001 --count 20 --interval 0.1 --iface eth0
wait_recv
log "receiver: $(tail -n 1 "$WORK/r1")"

log "2. an external protocol (examples/python/mgm_client.py) owns nothing yet; it takes the"
log "   static route's place: static del, then the client owns $VL and $VR and joins 239.9.9.9"
"$MGMCTL" --socket "$SOCK" static del --from "$VL" --group 239.1.1.1 --to "$VR"
mkfifo "$WORK/ctl"; exec 3<>"$WORK/ctl"
in_rtr python3 examples/python/mgm_client.py --socket "$SOCK" --own "$VL" --own "$VR" \
    --join "$VR,239.9.9.9" <"$WORK/ctl" >"$WORK/client.out" 2>&1 &
BG_PIDS+=($!)
wait_for 10 grep -q '"ready"' "$WORK/client.out"
start_recv "$WORK/r2" "$RCV" 239.9.9.9 5009 --duration 3 --iface eth0
in_snd $MCAST send 239.9.9.9 5009 --count 20 --interval 0.1 --iface eth0
wait_recv
log "receiver: $(tail -n 1 "$WORK/r2")"
log "events the client received:"
grep '"event"' "$WORK/client.out" | head -n 5

echo; log "mgmctl show owners"; mgmctl show owners
echo; log "mgmctl show mfe"; mgmctl show mfe
echo; log "kernel view (ip mroute show)"; in_rtr ip mroute show
echo; log "mgmctl verify"; mgmctl verify
echo; log "tearing down"
