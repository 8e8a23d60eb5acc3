#!/bin/sh
# The manual pages of veritee(1) and of each command, veritee-CMD(1), made
# with help2man from the program's own --help: the help text is the only
# copy.  The commands and their one-line summaries come from `veritee
# --help` ("commands:"), so a new command gets its page with no change here.
# man/veritee.h2m and man/veritee-CMD.h2m (optional) add sections --help
# does not have (examples, files, environment); man/common.h2m goes into
# every page (exit status).
#
# Usage: scripts/man.sh VERITEE OUTDIR VERSION
set -eu
if [ $# -ne 3 ]; then
	echo "usage: $0 VERITEE OUTDIR VERSION" >&2
	exit 2
fi
bin=$1 out=$2 version=$3
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
src=$(cd "$(dirname "$0")/.." && pwd)/man
if ! command -v help2man >/dev/null 2>&1; then
	echo "$0: help2man is missing (apt-get install help2man, or make deps)" >&2
	exit 1
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# help2man's view of veritee.  It reads the synopsis from "Usage:" and "or:"
# lines and a list item from one line with a gap of two spaces; the program
# writes "usage:", indents its other forms and wraps long lines.  This
# wrapper only respells and joins those lines, the words are the program's.
mkdir "$tmp/bin"
cat >"$tmp/bin/veritee" <<EOF
#!/bin/sh
"$bin" "\$@" | awk '
function flush() { if (held != "") print held (mode == "cmds" ? "\n" : ""); held = "" }
function join(s) { sub(/^ +/, "", s); held = held (mode == "cmds" && substr(held, 3) !~ /   */ ? "   " : " ") s }
NR == 1 && sub(/^usage:/, "Usage:") { held = \$0; mode = "usage"; next }
mode == "usage" && /^ +veritee / { flush(); s = \$0; sub(/^ +/, "  or: ", s); held = s; next }
(mode == "usage" || mode == "cmds") && /^          +[^ ]/ { join(\$0); next }
/^commands:/ { flush(); print; mode = "cmds"; next }
mode == "cmds" && /^  [a-z]/ { flush(); held = \$0; next }
{ flush(); mode = ""; print }
END { flush() }'
EOF
chmod +x "$tmp/bin/veritee"

# "name<TAB>summary" for each command: after the name, a synopsis, then the
# summary after a gap of two or more spaces.
"$tmp/bin/veritee" --help | awk '
	/^commands:/ { on = 1; next }
	on && /^$/ { next }
	on && !/^  [a-z]/ { on = 0 }
	on {
		line = substr($0, 3); name = line; sub(/ .*/, "", name)
		n = split(substr(line, length(name) + 1), part, /   */); sum = ""
		for (i = 2; i <= n; i++) sum = sum (sum == "" ? "" : " ") part[i]
		if (name != "help" && !seen[name]++) print name "\t" sum  # the first line names it
	}
' >"$tmp/commands"
if [ ! -s "$tmp/commands" ]; then
	echo "$0: found no commands in \`$bin --help\`" >&2
	exit 1
fi

# SEE ALSO of veritee(1): every command's page.
{
	echo "[SEE ALSO]"
	cut -f1 "$tmp/commands" | sed 's/.*/.BR veritee-& (1),/' | sed '$ s/,$//'
	echo ".PP"
	echo "docs/ in the source tree (installed under /usr/share/doc/veritee by the Debian package)"
} >"$tmp/seealso.h2m"
# A command's page points to veritee(1), unless its own include has a SEE ALSO.
printf '[SEE ALSO]\n.BR veritee (1)\n' >"$tmp/seealso-cmd.h2m"

inc() { # the include options of page $1: common, its own when present, SEE ALSO
	echo "--include=$src/common.h2m"
	if [ -f "$src/$1.h2m" ]; then echo "--include=$src/$1.h2m"; fi
	if [ "$1" != veritee ] && ! grep -qs '^\[SEE ALSO\]' "$src/$1.h2m"; then
		echo "--include=$tmp/seealso-cmd.h2m"
	fi
}

h2m() {
	SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(stat -c %Y "$bin")} \
		help2man --no-info --section=1 --manual="veritee manual" --source="veritee $version" "$@"
}

# shellcheck disable=SC2046
h2m --name="attestation verifier and key broker for confidential computing" \
	$(inc veritee) --include="$tmp/seealso.h2m" --output="$out/veritee.1" "$tmp/bin/veritee"
n=1
while IFS='	' read -r cmd summary; do
	[ -n "$summary" ] || summary="the veritee $cmd command"
	# shellcheck disable=SC2046
	h2m --name="$summary" --help-option="$cmd --help" --version-string="veritee-$cmd $version" \
		$(inc "veritee-$cmd") --output="$out/veritee-$cmd.1" "$tmp/bin/veritee"
	n=$((n + 1))
done <"$tmp/commands"
echo "$n manual pages in $out"
