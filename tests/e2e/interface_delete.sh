#!/usr/bin/env bash
# A receiver interface is deleted while forwarding: the MFE loses that outgoing interface, the
# owning client gets an interface_deleted event, and `mgmctl verify` is clean.
source "$(dirname "$0")/../../scripts/netns.sh"
topo_router
build
start_mgmd
CLIENT="python3 $ROOT/examples/python/mgm_client.py"
mkfifo "$WORK/ctl"
exec 3<>"$WORK/ctl"
ip netns exec "$RTR" $CLIENT --socket "$SOCK" --own "$VL" --own "$VR" --join "$VR,239.5.5.5" \
    <"$WORK/ctl" >"$WORK/client.out" 2>&1 &
BG_PIDS+=($!)
wait_for 10 grep -q '"ready"' "$WORK/client.out" || fail "client not ready: $(cat "$WORK/client.out")"

start_recv "$WORK/rx" "$RCV" 239.5.5.5 7001 --duration 2.5 --iface eth0
in_snd $MCAST send 239.5.5.5 7001 --count 15 --interval 0.1 --iface eth0 >/dev/null
wait_recv
n=$(received "$WORK/rx"); log "forwarded $n of 15 before the deletion"
[ "${n:-0}" -ge 13 ] || fail "no forwarding before deletion"
mgmctl show mfe | grep -q 239.5.5.5 || fail "no MFE for 239.5.5.5"

log "delete $VR while the flow is active"
in_snd $MCAST send 239.5.5.5 7001 --count 30 --interval 0.1 --iface eth0 >/dev/null &
BG_PIDS+=($!)
sleep 1
ip -n "$RTR" link del "$VR"
wait_for 5 grep -q '"interface_deleted"' "$WORK/client.out" ||
    fail "client was not told: $(cat "$WORK/client.out")"
wait_for 5 sh -c "! '$MGMCTL' --socket '$SOCK' show owners | grep -q '$VR'" ||
    fail "ownership of the deleted interface remains: $(mgmctl show owners)"
mfe=$(mgmctl --json show mfe)
echo "$mfe" | grep -q "$VR" && fail "deleted interface still in an MFE: $mfe"
wait_recv
mgmctl verify || fail "verify not clean after interface deletion"
log "PASS"
