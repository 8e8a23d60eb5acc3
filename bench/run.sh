#!/bin/sh
# Run the benchmarks; results go to stdout (copy them into docs/benchmarks.md
# with the command line).  BUILD selects the build dir (default build).
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
"$B/bench/bench_kbs" "$PWD/$B/veritee" "${BENCH_SECONDS:-10}" ${BENCH_LEVELS:-1 4 32}
