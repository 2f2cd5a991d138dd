#!/usr/bin/env bash
# An external client (examples/python/mgm_client.py) takes ownership of the in and out
# interfaces over the IPC and adds a (*,G) membership on the out side: traffic flows. It deletes
# the membership: traffic stops. It is killed: its ownerships, memberships and kernel entries are
# gone and `mgmctl verify` is clean.
source "$(dirname "$0")/../../scripts/netns.sh"
topo_router
build
start_mgmd
CLIENT="python3 $ROOT/examples/python/mgm_client.py"

mkfifo "$WORK/ctl"
exec 3<>"$WORK/ctl"
ip netns exec "$RTR" $CLIENT --socket "$SOCK" --own "$VL" --own "$VR" --join "$VR,239.1.1.1" \
    <"$WORK/ctl" >"$WORK/client.out" 2>&1 &
CLIENT_PID=$!
BG_PIDS+=("$CLIENT_PID")
wait_for 10 grep -q '"ready"' "$WORK/client.out" || fail "client not ready: $(cat "$WORK/client.out")"
mgmctl show owners | grep -q "$VR" || fail "owners lack $VR: $(mgmctl show owners)"

send_and_count() { # send_and_count GROUP PORT -> number received
    start_recv "$WORK/rx" "$RCV" "$1" "$2" --duration 2.5 --iface eth0
    in_snd $MCAST send "$1" "$2" --count 15 --interval 0.1 --iface eth0 >/dev/null
    wait_recv
    received "$WORK/rx"
}

n=$(send_and_count 239.1.1.1 6001); log "with the membership: $n of 15"
[ "${n:-0}" -ge 13 ] || fail "expected forwarding with the (*,G) membership, got ${n:-none}"
mgmctl verify || fail "verify not clean while forwarding"

client_cmd "leave $VR 239.1.1.1"
n=$(send_and_count 239.1.1.1 6001); log "after delete: $n"
[ "${n:-1}" -eq 0 ] || fail "traffic still flows after delete_group_membership ($n)"

client_cmd "join $VR 239.1.1.1"
n=$(send_and_count 239.1.1.1 6001); log "after re-join: $n"
[ "${n:-0}" -ge 13 ] || fail "no forwarding after re-join (${n:-none})"

log "kill -9 the client"
kill -KILL "$CLIENT_PID"
wait "$CLIENT_PID" 2>/dev/null
wait_for 5 sh -c "! '$MGMCTL' --socket '$SOCK' show owners 2>/dev/null | grep -q '$VR'" ||
    fail "ownership survived the client: $(mgmctl show owners)"
protos=$(mgmctl --json show protocols)
echo "$protos" | grep -q '"protocol_id": *21' && fail "client still registered: $protos"
[ -z "$(in_rtr ip mroute show | grep 239.1.1.1)" ] || fail "kernel MFC entry left: $(in_rtr ip mroute show)"
vifs=$(in_rtr tail -n +2 /proc/net/ip_mr_vif | wc -l)
[ "$vifs" -eq 0 ] || fail "kernel VIFs left: $(in_rtr cat /proc/net/ip_mr_vif)"
mgmctl verify || fail "verify not clean after client death"
log "PASS"
