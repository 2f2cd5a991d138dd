#!/usr/bin/env bash
# The built-in IGMP/MLD router side with the Linux host stack as the real peer: a receiver's
# IP_ADD_MEMBERSHIP (IGMPv3 and, with force_igmp_version, IGMPv2) makes mgmd forward the group,
# and its leave stops forwarding within the last-member query time; an SSM source join forwards
# only that source; an IGMPv1 receiver killed without a leave expires after the group membership
# interval; MLDv2 and MLDv1 the same over IPv6.
source "$(dirname "$0")/../../scripts/netns.sh"
topo_router
build
# Short timers: query interval 2 s, response 1 s, robustness 2 -> group membership interval
# 2*2+1 = 5 s; last member query interval 200 ms x 2 = 0.4 s.
cat >"$WORK/mgmd.toml" <<TOML
log_level = "debug"
[[igmp]]
interface = "$VL"
[[igmp]]
interface = "$VR"
query_interval = 2
query_response_interval_ms = 1000
last_member_query_interval_ms = 200
robustness = 2
TOML
start_mgmd
in_snd ip addr add 10.1.1.3/24 dev eth0
wait_for 5 sh -c "'$MGMCTL' --socket '$SOCK' show igmp | grep -q '$VR'" || fail "IGMP not running: $(mgmctl show igmp)"

has_group() { "$MGMCTL" --socket "$SOCK" --json show groups | grep -q "\"$1\""; }
oifs_of() { in_rtr ip mroute show | grep "($1,$2)" | sed 's/.*Oifs: *\([^ ]*\).*/\1/'; }

join_forward_leave() { # join_forward_leave LABEL GROUP PORT
    local label=$1 group=$2 port=$3
    start_recv "$WORK/rx-$label" "$RCV" "$group" "$port" --duration 2.5 --iface eth0
    wait_for 5 has_group "$group" || fail "$label: no membership for $group: $(mgmctl show groups)"
    in_snd $MCAST send "$group" "$port" --count 15 --interval 0.1 --iface eth0 >/dev/null
    wait_recv
    local n
    n=$(received "$WORK/rx-$label"); log "$label: forwarded $n of 15"
    [ "${n:-0}" -ge 13 ] || fail "$label: expected forwarding, got ${n:-none}"
    # The receiver's socket closed: the host left. Gone within the last-member query time.
    local t0=$(date +%s%N)
    wait_for 3 sh -c "! '$MGMCTL' --socket '$SOCK' --json show groups | grep -q '\"$group\"'" ||
        fail "$label: membership survived the leave: $(mgmctl show groups)"
    local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    log "$label: membership gone ${ms} ms after the leave was due"
    [ "$ms" -le 1500 ] || fail "$label: leave took $ms ms (LMQT 400 ms)"
}

join_forward_leave igmpv3 239.7.7.1 8001
in_rcv sysctl -qw net.ipv4.conf.eth0.force_igmp_version=2
join_forward_leave igmpv2 239.7.7.2 8002
in_rcv sysctl -qw net.ipv4.conf.eth0.force_igmp_version=0

log "SSM: a source-specific join forwards only that source"
start_recv "$WORK/rx-ssm" "$RCV" 232.1.1.1 8003 --duration 3 --iface eth0 --source 10.1.1.2
wait_for 5 has_group 232.1.1.1 || fail "no SSM membership: $(mgmctl show groups)"
in_snd $MCAST send 232.1.1.1 8003 --count 15 --interval 0.1 --iface eth0 --bind 10.1.1.2 >/dev/null &
in_snd $MCAST send 232.1.1.1 8003 --count 15 --interval 0.1 --iface eth0 --bind 10.1.1.3 >/dev/null
wait_recv
n=$(received "$WORK/rx-ssm"); log "SSM: received $n of 15 from 10.1.1.2"
[ "${n:-0}" -ge 13 ] || fail "SSM source not forwarded (${n:-none})"
log "kernel: $(in_rtr ip mroute show | grep 232.1.1.1 | tr -s ' ')"
[ "$(oifs_of 10.1.1.2 232.1.1.1)" = "$VR" ] || fail "(10.1.1.2,232.1.1.1) not forwarded to $VR"
[ -z "$(oifs_of 10.1.1.3 232.1.1.1 | grep "$VR")" ] || fail "the other source was forwarded"
mgmctl --json show groups | grep -q '"source": *null[^}]*232.1.1.1' && fail "an any-source (*,G) for an SSM group"

log "IGMPv1 receiver killed without a leave: expires after the group membership interval (5 s)"
in_rcv sysctl -qw net.ipv4.conf.eth0.force_igmp_version=1
ip netns exec "$RCV" $MCAST recv 239.7.7.9 8009 --duration 60 --iface eth0 >"$WORK/rx-v1" 2>&1 &
V1=$!; BG_PIDS+=("$V1")
wait_for 5 has_group 239.7.7.9 || fail "no v1 membership: $(mgmctl show groups)"
sleep 1
kill -KILL "$V1"; t0=$(date +%s%N)
sleep 1.5
has_group 239.7.7.9 || fail "v1 membership gone at once (IGMPv1 has no leave)"
wait_for 10 sh -c "! '$MGMCTL' --socket '$SOCK' --json show groups | grep -q '\"239.7.7.9\"'" ||
    fail "v1 membership never expired"
ms=$(( ($(date +%s%N) - t0) / 1000000 )); log "v1 membership expired ${ms} ms after the host went silent"
[ "$ms" -ge 2500 ] && [ "$ms" -le 8000 ] || fail "expiry after $ms ms, expected about 5000"
in_rcv sysctl -qw net.ipv4.conf.eth0.force_igmp_version=0

join_forward_leave mldv2 ff1e::7:1 8011
in_rcv sysctl -qw net.ipv6.conf.eth0.force_mld_version=1
join_forward_leave mldv1 ff1e::7:2 8012
mgmctl show mld >/dev/null || fail "show mld"
mgmctl verify || fail "verify not clean"
log "PASS"
