#!/usr/bin/env bash
# Criterion benchmarks of every crate, with short measurement times (shared 2-core machines are
# noisy: compare ratios within one run, not absolute times across runs).
#   scripts/bench.sh            all benches
#   scripts/bench.sh mgm-core   one crate (mgm-core | netlink | igmp)
# The netlink benches need root: they program a real MRT table in a throwaway namespace, which
# is also the baseline (the raw kernel syscall) for the core's per-operation cost.
set -euo pipefail
cd "$(dirname "$0")/.."
crates=("${@:-mgm-core netlink igmp}")
for c in ${crates[*]}; do
  # Each crate's criterion targets (the [[bench]] names in its Cargo.toml).
  for b in $(sed -n '/^\[\[bench\]\]/,/^name/s/^name *= *"\(.*\)"/\1/p' "$c/Cargo.toml"); do
    echo "== cargo bench -p $c --bench $b"
    cargo bench -q -p "$c" --bench "$b" -- --warm-up-time 1 --measurement-time 3 2>&1 |
        grep -vE '^ *(Compiling|Finished|Running|Downloaded|Downloading|Benchmarking|Gnuplot|Found|Warning|thrpt:)|outlier|change:|Performance|No change|Change within|^ *[0-9]+ \(|^ *$' || true
  done
done
