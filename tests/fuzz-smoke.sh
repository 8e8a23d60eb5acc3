#!/bin/bash
# Run each libFuzzer target briefly from its seed corpus (fuzz/corpus/<name>/,
# plus the shared vectors fuzz/shared-seeds.txt names for it).
# Prints a TAP line per target; a crash, leak or sanitizer report fails it.
set -u
# 12 s each: with 28 targets the smoke stays near five and a half minutes of `make test`;
# longer campaigns: FUZZ_SECONDS=600 tests/fuzz-smoke.sh build-fuzz/fuzz_NAME
secs=${FUZZ_SECONDS:-12}
n=0 bad=0
for bin in "$@"; do
	name=$(basename "$bin")
	n=$((n + 1))
	corpus=$(mktemp -d /tmp/veritee-fuzz-XXXXXX)
	seeds=fuzz/corpus/$name
	[ -d "$seeds" ] && cp -r "$seeds"/. "$corpus"/
	# and the shared real vectors named for it (fuzz/shared-seeds.txt), read in place
	vec=${VERITEE_VECTORS:-../shared/vectors}
	if [ -d "$vec" ]; then
		while read -r target glob; do
			[ "$target" = "$name" ] || continue
			for f in "$vec"/$glob; do [ -f "$f" ] && cp "$f" "$corpus"/; done
		done < <(grep -v '^#' fuzz/shared-seeds.txt)
	fi
	if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$corpus/" "$corpus" >"$corpus.log" 2>&1; then
		echo "ok $n - fuzz $name ($(grep -oE 'Done [0-9]+ runs' "$corpus.log" | head -1))"
	else
		bad=$((bad + 1))
		echo "not ok $n - fuzz $name"
		grep -E 'ERROR|SUMMARY|crash-|leak-' "$corpus.log" | head -10 | sed 's/^/# /'
	fi
	rm -rf "$corpus"
done
echo "1..$n"
[ "$bad" -eq 0 ]
