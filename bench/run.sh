#!/bin/sh
# Run the benchmarks; results go to stdout (copy them into docs/benchmarks.md
# with the command line).  BUILD selects the build dir (default build);
# VERITEE_VECTORS the vectors folder for bench_verify (default ../shared/vectors).
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
"$B/bench/bench_kbs" "$PWD/$B/veritee" "${BENCH_SECONDS:-10}" ${BENCH_LEVELS:-1 4 32}
"$B/bench/bench_verify" "${VERITEE_VECTORS:-$PWD/../shared/vectors}" "${BENCH_SECONDS:-10}"
