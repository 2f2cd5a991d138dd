#!/usr/bin/env bash
# The whole test suite, as CI runs it: set-up, format check, clippy with -D warnings, every
# Rust test (the kernel-facing ones run in their own network namespaces and need root; under
# CI=true they must run), then the end-to-end shell tests in tests/e2e.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo test"
cargo test --workspace --locked 2>&1 | tee target/test.log
echo "== end-to-end tests"
pass=0; fail=0; skip=0
for t in tests/e2e/*.sh; do
    [ -e "$t" ] || continue
    echo "-- $t"
    set +e
    bash "$t"
    rc=$?
    set -e
    case $rc in
        0) pass=$((pass + 1)) ;;
        77) skip=$((skip + 1)); echo "skipped: $t" ;;
        *) fail=$((fail + 1)); echo "FAILED: $t (exit $rc)" ;;
    esac
done
echo "e2e: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
