#!/bin/bash
# Runs every test and prints one closing line "N passed, N failed, N skipped".
#   tests/run-all.sh            unit tests (normal + sanitizer builds, and the
#                               TSan build of the broker's concurrency tests),
#                               integration, interop, fuzz smoke
#   tests/run-all.sh unit       unit tests of $BUILDS (and $TSAN_BUILDS) only
# Unit tests are cmocka programs run with TAP output; integration and interop
# tests are scripts that print TAP lines ("ok N - name", "not ok N - name",
# "ok N - name # SKIP reason").
set -u
cd "$(dirname "$0")/.."
mode=${1:-all}
BUILDS=${BUILDS-"build build-asan"}
# ThreadSanitizer builds hold only the tests built for them (Makefile: TSAN_TESTS).
if [ "$mode" = all ]; then TSAN_BUILDS=${TSAN_BUILDS-build-tsan}; else TSAN_BUILDS=${TSAN_BUILDS-}; fi
export VERITEE_VECTORS=${VERITEE_VECTORS:-$(cd .. && pwd)/shared/vectors}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A data race or lock-order inversion ends the program with a report (exit
# 66).  tests/tsan.supp covers only libraries not built with TSan.
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp}
export CMOCKA_MESSAGE_OUTPUT=TAP

pass=0 fail=0 skip=0
failed_names=()
log=$(mktemp -d /tmp/veritee-testlog-XXXXXX)

# Count TAP lines of one program's output; a non-zero exit with no
# "not ok" line counts as one failure (a crash must not pass silently).
run_tap() {
	local name=$1; shift
	local out="$log/$(echo "$name" | tr '/ ' '__').log"
	"$@" >"$out" 2>&1
	local rc=$?
	local p f s
	# cmocka 1.1 prints a skip as "not ok N # SKIP name"; TAP writers print "ok N - name # SKIP".
	local sok snot
	sok=$(grep -cE '^ok [0-9]+.*# (SKIP|skip)' "$out")
	snot=$(grep -cE '^not ok [0-9]+.*# (SKIP|skip)' "$out")
	s=$((sok + snot))
	p=$(grep -cE '^ok [0-9]+' "$out"); p=$((p - sok))
	f=$(grep -cE '^not ok [0-9]+' "$out"); f=$((f - snot))
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
	if [ "$p" -eq 0 ] && [ "$f" -eq 0 ] && [ "$s" -eq 0 ]; then f=1; echo "  (no test ran)" >>"$out"; fi
	pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + s))
	if [ "$f" -gt 0 ]; then
		failed_names+=("$name")
		printf '%-50s FAIL (%d passed, %d failed)\n' "$name" "$p" "$f"
		grep -E '^not ok|# SKIP|ERROR|error|Assert|runtime error|Sanitizer' "$out" | head -30 | sed 's/^/    /'
		tail -5 "$out" | sed 's/^/    | /'
	else
		printf '%-50s ok (%d passed%s)\n' "$name" "$p" "$([ "$s" -gt 0 ] && echo ", $s skipped")"
		grep -E '# SKIP' "$out" | sort -u | head -5 | sed 's/^/    /'
	fi
}

# gcc 12's TSan runtime cannot map its shadow memory under some kernels' ASLR
# layouts ("FATAL: ThreadSanitizer: unexpected memory mapping"); then the
# program runs again with address randomisation off.
tsan_run() {
	local first
	first=$(mktemp /tmp/veritee-tsan-XXXXXX)
	"$@" >"$first" 2>&1
	local rc=$?
	if [ "$rc" -ne 0 ] && grep -q 'unexpected memory mapping' "$first" && setarch "$(uname -m)" -R true 2>/dev/null; then
		echo "# TSan could not start with ASLR on; running again under setarch -R"
		setarch "$(uname -m)" -R "$@"
		rc=$?
	else
		cat "$first"
	fi
	rm -f "$first"
	return "$rc"
}

for b in $BUILDS; do
	for t in "$b"/tests/test_*; do
		[ -x "$t" ] || continue
		run_tap "unit[$b] $(basename "$t")" "$t"
	done
done
for b in $TSAN_BUILDS; do
	for t in "$b"/tests/test_*; do
		[ -x "$t" ] || continue
		run_tap "unit[$b] $(basename "$t")" tsan_run "$t"
	done
done

if [ "$mode" = all ]; then
	for t in tests/integration/test_*.py tests/interop/test_*.py; do
		[ -f "$t" ] || continue
		for b in $BUILDS; do
			VERITEE_BIN="$PWD/$b/veritee" run_tap "$(basename "$(dirname "$t")")[$b] $(basename "$t")" /usr/bin/python3 "$t"
		done
	done
	if ls build-fuzz/fuzz_* >/dev/null 2>&1; then
		run_tap "fuzz-smoke" tests/fuzz-smoke.sh build-fuzz/fuzz_*
	fi
fi

echo
if [ ${#failed_names[@]} -gt 0 ]; then
	echo "failed: ${failed_names[*]}"
	echo "logs: $log"
fi
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
