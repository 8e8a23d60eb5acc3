#!/bin/zsh -f
# Drive the zsh completion (dist/completion/_veritee) as a user would: for
# each LINE an interactive zsh on a pseudo-terminal (zsh/zpty) loads
# compinit with DIR/site in $fpath, LINE is typed and TAB pressed.  compadd
# is wrapped to print the matches it is given (after matching); the
# completion hooks mark the start and end and exit the shell.  Prints
# "RESULT<TAB>LINE<TAB>match match ..." per LINE.  The approach is the one
# of zsh-capture-completion.
#
# Usage: completion_zsh.zsh DIR LINE...   (DIR/site/_veritee, DIR/bin/veritee)
zmodload zsh/zpty || exit 3
dir=$1
shift
init=$dir/init.zsh
cat >$init <<EOF
PROMPT=
RPROMPT=
PATH=$dir/bin:\$PATH
fpath=($dir/site \$fpath)
autoload -Uz compinit
compinit -u -D
bindkey '^M' undefined
bindkey '^J' undefined
bindkey '^I' complete-word
EOF
cat >>$init <<'EOF'
_vt_mark() { print -r -- $'\n<<MARK>>' }
compprefuncs=(_vt_mark)
comppostfuncs=(_vt_mark exit)
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
compadd() {
	# an internal call (-O, -A, -D): pass it on
	if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
		builtin compadd "$@"
		return $?
	fi
	local -a __hits
	builtin compadd -A __hits "$@"
	if (( $#__hits )); then
		print -r -- "<<M>>${(j: :)__hits}"
	fi
	builtin compadd "$@"
}
print -r -- '<<READY>>'
EOF

for line in "$@"; do
	zpty z zsh -f -i
	zpty -w z "source ${(q)init}"
	ready=0
	for i in {1..50}; do
		zpty -r z out || break
		if [[ $out == *'<<READY>>'* ]]; then
			ready=1
			break
		fi
	done
	if (( ! ready )); then
		print -r -- "NOTREADY"$'\t'"$line"
		zpty -d z
		continue
	fi
	zpty -n -w z "$line"$'\t'
	words=()
	marks=0
	while zpty -r z out; do
		out=${out//$'\r'/}
		if [[ $out == *'<<MARK>>'* ]]; then
			(( ++marks >= 2 )) && break
		elif [[ $out == '<<M>>'* ]]; then
			words+=(${(s: :)${out#<<M>>}})
		fi
	done
	print -r -- "RESULT"$'\t'"$line"$'\t'"${(j: :)${(ou)words}}"
	zpty -d z 2>/dev/null
done
