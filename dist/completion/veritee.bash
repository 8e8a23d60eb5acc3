# bash completion for veritee                              -*- shell-script -*-
#
# Everything offered is read from the program's own --help when completing:
# the commands ("commands:" of `veritee --help`), the TEE names ("TEEs:"),
# each command's options (every --flag its --help shows), the words that may
# follow a command (forms of its "usage:" lines, its own "commands:"), and
# what an option takes (the word after it: FILE, DIR, PEM, TEE, a|b|c ...).
# So it follows the installed version and never needs an update.

# The help text of `veritee [CMD] --help` (the program as typed, so that
# ./build/veritee completes its own options).
_veritee_help()
{
	"$1" ${2:+"$2"} --help 2>/dev/null
}

_veritee_commands()
{
	_veritee_help "$1" | awk '
		/^commands:/ { on = 1; next }
		on && /^[ \t]*$/ { on = 0 }
		on && /^  [a-z]/ { print $1; if ($2 == "|") print $3 }'
}

_veritee_tees()
{
	local tees
	tees=$(_veritee_help "$1" | sed -n 's/^TEEs: *\([^ ]*\).*/\1/p')
	[[ -n $tees ]] || tees=$(_veritee_help "$1" verify | sed -n 's/^\([a-z][a-z0-9-]*\)\( (INSECURE)\)\{0,1\}: .*/\1/p')
	printf '%s\n' ${tees//,/ }
}

# The word that follows option $2 in help text $1: a placeholder (FILE,
# TEE[:OPT=V,...]) or choices (sim|tpm); "" for a flag.
_veritee_metavar()
{
	grep -oE -- "$2[ =]([A-Z][^] ,]*|[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)+)" <<<"$1" 2>/dev/null |
		head -n1 | cut -c$((${#2} + 2))-
}

_veritee()
{
	local cur prev words cword split
	_init_completion -s || return

	local prog=${words[0]} cmd="" i
	for ((i = 1; i < cword; i++)); do
		if [[ ${words[i]} != -* ]]; then
			cmd=${words[i]}
			break
		fi
	done
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W '--help --version' -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$(_veritee_commands "$prog")" -- "$cur"))
		fi
		return
	fi

	local help
	help=$(_veritee_help "$prog" "$cmd")

	# The argument of an option, by the word its --help shows after it.
	if [[ $prev == -* ]]; then
		local mv
		mv=$(_veritee_metavar "$help" "$prev")
		if [[ -n $mv ]]; then
			case $mv in
			TEE | TEE\[*)
				COMPREPLY=($(compgen -W "$(_veritee_tees "$prog")" -- "$cur")) ;;
			DIR)
				_filedir -d ;;
			*FILE* | *DIR* | PEM | KEY | KEYFILE | LOG | LIB | PATH | CORIM | OVMF*)
				_filedir ;;
			*\|*)
				COMPREPLY=($(compgen -W "${mv//|/ }" -- "$cur")) ;;
			*)
				COMPREPLY=() ;;
			esac
			return
		fi
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "--help $(grep -oE -- '(^|[[ (,])--[a-z0-9][a-z0-9-]*' <<<"$help" |
			sed 's/^[[ (,]//' | sort -u)" -- "$cur"))
		return
	fi

	# Positional words after the command: count those before this one,
	# skipping options and the values they take.
	local npos=0 w
	for ((i = i + 1; i < cword; i++)); do
		w=${words[i]}
		if [[ $w == --*=* ]]; then
			continue
		elif [[ $w == -* ]]; then
			[[ -n $(_veritee_metavar "$help" "$w") ]] && ((i++))
		else
			((npos++))
		fi
	done
	if [[ $cmd == verify && $npos -eq 0 ]]; then
		COMPREPLY=($(compgen -W "$(_veritee_tees "$prog")" -- "$cur"))
		return
	fi
	if ((npos == 0)); then
		# Words a usage line puts right after the command (corim show,
		# admin keygen) and the command's own "commands:".
		local subs
		subs=$(awk -v c="$cmd" '
			/^(usage:| +veritee )/ { for (k = 1; k < NF; k++) if ($k == "veritee" && $(k + 1) == c) {
				n = split($(k + 2), alt, "|")
				for (j = 1; j <= n; j++) if (alt[j] ~ /^[a-z][a-z-]*$/) print alt[j] } }
			/^commands:/ { on = 1; next }
			on && /^[ \t]*$/ { on = 0 }
			on && /^  [a-z]/ { print $1 }' <<<"$help")
		if [[ -n $subs ]]; then
			COMPREPLY=($(compgen -W "$subs" -- "$cur"))
			return
		fi
	fi
	_filedir
} &&
	complete -F _veritee veritee

# ex: filetype=sh
