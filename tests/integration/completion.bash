#!/bin/bash
# The bash completion (dist/completion/veritee.bash) through bash-completion's
# own machinery: bash_completion is sourced, the file is installed where its
# loader looks (BASH_COMPLETION_USER_DIR/completions/veritee) and loaded
# by name, then the completion function runs on command lines as bash
# would call it.  TAP output.  VERITEE_BIN names the program (its --help is
# what the completion reads).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${VERITEE_BIN:-$root/build/veritee}
bc=/usr/share/bash-completion/bash_completion
n=0 failed=0

if [ ! -r "$bc" ]; then
	echo "ok 1 - bash completion # SKIP bash-completion is not installed (apt-get install bash-completion)"
	echo "1..1"
	exit 0
fi

T=$(mktemp -d /tmp/veritee-completion-XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/completions" "$T/bin" "$T/cwd/sub"
cp "$root/dist/completion/veritee.bash" "$T/completions/veritee"
ln -s "$bin" "$T/bin/veritee"
PATH=$T/bin:$PATH
export BASH_COMPLETION_USER_DIR=$T
touch "$T/cwd/kbs.json" "$T/cwd/ev.json"
cd "$T/cwd" || exit 1

# shellcheck disable=SC1090
source "$bc"
__load_completion veritee || { echo "not ok 1 - bash-completion loads the veritee completion"; echo "1..1"; exit 1; }
fn=$(complete -p veritee 2>/dev/null | sed -n 's/.*-F \([^ ]*\) .*/\1/p')

# The completions of LINE (the cursor at its end), one a line, sorted.
complete_line()
{
	local line=$1
	COMP_LINE=$line
	COMP_POINT=${#line}
	read -ra COMP_WORDS <<<"$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$fn" veritee "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort -u
}

result() { # name, then 0 (pass) or a message
	n=$((n + 1))
	if [ "$2" = 0 ]; then
		echo "ok $n - $1"
	else
		failed=$((failed + 1))
		echo "not ok $n - $1"
		printf '%s\n' "$2" | sed 's/^/#   /'
	fi
}

# LINE completes to exactly WANT (words, any order).
expect() {
	local name=$1 line=$2 want got
	want=$(printf '%s\n' $3 | sort -u)
	got=$(complete_line "$line")
	if [ "$got" = "$want" ]; then result "$name" 0; else
		result "$name" "'$line<TAB>': got [$(echo $got)], want [$(echo $want)]"
	fi
}

# LINE's completions include each of WANT.
expect_has() {
	local name=$1 line=$2 w got missing=""
	got=$(complete_line "$line")
	for w in $3; do grep -qx -- "$w" <<<"$got" || missing="$missing $w"; done
	if [ -z "$missing" ]; then result "$name" 0; else
		result "$name" "'$line<TAB>': lacks$missing; got [$(echo $got)]"
	fi
}

result "bash-completion's loader registers a function for veritee" "$([ -n "$fn" ] && echo 0 || echo "complete -p veritee: $(complete -p veritee 2>&1)")"

tees=$("$bin" --help | sed -n 's/^TEEs: *\([^ ]*\).*/\1/p' | tr , ' ')
commands=$("$bin" --help | awk '/^commands:/ { on = 1; next } on && /^$/ { on = 0 } on && /^  [a-z]/ { print $1; if ($2 == "|") print $3 }')
[ -n "$tees" ] || tees="(none found in --help)"

expect "veritee ver<TAB>: verify, version" "veritee ver" "verify version"
expect "veritee <TAB>: every command of --help" "veritee " "$commands"
expect "veritee verify <TAB>: the TEE names of --help" "veritee verify " "$tees"
expect_has "veritee verify <TAB> includes sim, snp, tdx, tpm" "veritee verify " "sim snp tdx tpm"
expect "veritee serve --con<TAB>: --config" "veritee serve --con" "--config"
expect "veritee serve --config <TAB>: files" "veritee serve --config " "kbs.json ev.json sub"
expect_has "veritee serve --<TAB>: the options of serve --help" "veritee serve --" "--config --listen --print-port --check-config --help"
expect "veritee get-resource URL R --tee <TAB>: TEE names" "veritee get-resource http://x kbs:///a/b/c --tee " "$tees"
expect "veritee demo --tee <TAB>: the choices of its --help" "veritee demo --tee " "sim tpm"
expect "veritee seal --local <TAB>: tpm snp sim" "veritee seal --in f --local " "tpm snp sim"
expect "veritee verify sim --ro<TAB>: --root" "veritee verify sim --ro" "--root"
expect "veritee verify sim <TAB>: evidence files" "veritee verify sim " "kbs.json ev.json sub"
expect "veritee verify sim ev.json --nonce <TAB>: nothing (hex)" "veritee verify sim ev.json --nonce " ""
expect "veritee corim <TAB>: show" "veritee corim " "show"
expect "veritee measure <TAB>: snp (its usage line)" "veritee measure " "snp"
if grep -qx ratls <<<"$commands"; then
	expect "veritee ratls <TAB>: the forms of its usage line (cert|connect|serve)" "veritee ratls " "cert connect serve"
fi
expect_has "veritee admin --url U --key K <TAB>: its commands" "veritee admin --url http://x --key k.pem " "keygen set-resource get-reference-value"
expect "veritee admin keygen --force <TAB>: files" "veritee admin keygen --force " "kbs.json ev.json sub"
expect "veritee --<TAB>: --help --version" "veritee --" "--help --version"

echo "1..$n"
[ "$failed" -eq 0 ]
