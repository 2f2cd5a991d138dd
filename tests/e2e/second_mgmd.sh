#!/usr/bin/env bash
# A second mgmd in the same namespace refuses to start with a clear message and exit code 69,
# and the first keeps working.
source "$(dirname "$0")/../../scripts/netns.sh"
topo_router
build
start_mgmd
set +e
in_rtr "$MGMD" --socket "$WORK/second.sock" >"$WORK/second.log" 2>&1
rc=$?
set -e
log "second mgmd exited $rc: $(tail -n 3 "$WORK/second.log")"
[ "$rc" -eq 69 ] || fail "expected exit code 69, got $rc"
grep -qi "already owns" "$WORK/second.log" || fail "message does not say the table is owned"
log "same socket path: refused while the first answers"
set +e
in_rtr "$MGMD" --socket "$SOCK" --table 100 >"$WORK/third.log" 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a second mgmd on the live socket started"
mgmctl show stats >/dev/null || fail "first mgmd stopped answering"
log "PASS"
