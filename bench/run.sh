#!/bin/sh
# Run the benchmarks; results go to stdout (copy them into docs/benchmarks.md
# with the command line).  BUILD selects the build dir (default build);
# VERITEE_VECTORS the vectors folder for bench_verify (default ../shared/vectors).
# bench_tpm starts swtpm on 127.0.0.1 and needs swtpm and tpm2-tools
# (scripts/install-deps.sh tpm); it is skipped, saying so, without swtpm.
set -eu
cd "$(dirname "$0")/.."
B=${BUILD:-build}
"$B/bench/bench_kbs" "$PWD/$B/veritee" "${BENCH_SECONDS:-10}" ${BENCH_LEVELS:-1 4 32}
"$B/bench/bench_verify" "${VERITEE_VECTORS:-$PWD/../shared/vectors}" "${BENCH_SECONDS:-10}"
"$B/bench/bench_nvidia" "${VERITEE_VECTORS:-$PWD/../shared/vectors}" "${BENCH_SECONDS:-10}"
"$B/bench/bench_jose" 3
"$B/bench/bench_ratls" "${BENCH_SECONDS:-10}" || true # prints whether the 0.5 target was met
if command -v swtpm >/dev/null 2>&1 && command -v tpm2_quote >/dev/null 2>&1; then
	"$B/bench/bench_tpm" "${BENCH_TPM_SECONDS:-5}"
else
	echo "bench_tpm: skipped (needs swtpm and tpm2-tools: scripts/install-deps.sh tpm)"
fi
