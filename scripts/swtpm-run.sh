#!/bin/bash
# Start or stop a software TPM 2.0 (swtpm) on 127.0.0.1 for the TPM attester.
#
#   scripts/swtpm-run.sh start DIR PORT   TPM state in DIR, TPM commands on PORT,
#                                         control channel on PORT+1; prints the
#                                         TCTI string, e.g.
#                                         swtpm:host=127.0.0.1,port=2321
#   scripts/swtpm-run.sh stop DIR         stop the swtpm started with DIR
#                                         (PORT may be given and is ignored)
#
# Use it as  export VERITEE_TPM_TCTI=$(scripts/swtpm-run.sh start /tmp/tpm 2321)
# The TPM state (and so the EK and the persistent AK) survives a stop/start
# with the same DIR; remove DIR for a factory-fresh TPM.  Only the process
# recorded in DIR/swtpm.pid is ever signalled.
set -eu

usage() {
	echo "usage: $0 start DIR PORT | stop DIR [PORT]" >&2
	exit 2
}

[ $# -ge 2 ] || usage
cmd=$1 dir=$2 port=${3:-}
pidfile="$dir/swtpm.pid"

running_pid() {
	# The pid in DIR/swtpm.pid if that process is still a swtpm.
	[ -f "$pidfile" ] || return 1
	local pid
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	[ "$(cat "/proc/$pid/comm" 2>/dev/null)" = swtpm ] || return 1
	echo "$pid"
}

accepts() {
	# Does 127.0.0.1:$1 accept a TCP connection?
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

case $cmd in
start)
	[ -n "$port" ] || usage
	case $port in '' | *[!0-9]*) echo "$0: PORT must be a number" >&2; exit 2 ;; esac
	if [ "$port" -lt 1 ] || [ "$port" -gt 65534 ]; then
		echo "$0: PORT must be 1..65534 (PORT+1 is the control channel)" >&2
		exit 2
	fi
	command -v swtpm >/dev/null || { echo "$0: swtpm is not installed (apt-get install swtpm swtpm-tools)" >&2; exit 1; }
	if pid=$(running_pid); then
		echo "$0: swtpm already running for $dir (pid $pid)" >&2
		exit 1
	fi
	for p in "$port" $((port + 1)); do
		if accepts "$p"; then
			echo "$0: 127.0.0.1:$p is already in use" >&2
			exit 1
		fi
	done
	mkdir -p "$dir"
	chmod 700 "$dir"
	rm -f "$pidfile"
	swtpm socket --tpm2 \
		--server "type=tcp,port=$port,bindaddr=127.0.0.1" \
		--ctrl "type=tcp,port=$((port + 1)),bindaddr=127.0.0.1" \
		--tpmstate "dir=$dir" \
		--flags not-need-init,startup-clear \
		--pid "file=$pidfile" \
		--log "file=$dir/swtpm.log" \
		--daemon
	for _ in $(seq 100); do
		if accepts "$port"; then
			echo "swtpm:host=127.0.0.1,port=$port"
			exit 0
		fi
		sleep 0.05
	done
	echo "$0: swtpm did not start listening on 127.0.0.1:$port (see $dir/swtpm.log)" >&2
	if pid=$(running_pid); then kill -TERM "$pid"; fi
	exit 1
	;;
stop)
	if ! pid=$(running_pid); then
		rm -f "$pidfile"
		exit 0
	fi
	kill -TERM "$pid"
	for _ in $(seq 100); do
		[ -d "/proc/$pid" ] || break
		sleep 0.05
	done
	if [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = swtpm ]; then
		kill -KILL "$pid"
	fi
	rm -f "$pidfile"
	;;
*)
	usage
	;;
esac
