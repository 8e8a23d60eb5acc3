#!/bin/sh
# A throwaway PostgreSQL server for tests and benchmarks: Debian's
# postgresql-15, a fresh cluster (initdb) in a temporary directory, listening
# on 127.0.0.1 only, on a port chosen here, no Unix socket outside that
# directory.  As root it runs as the `postgres` user (PostgreSQL refuses root).
#
#   tests/pg-server.sh start          prints two lines: the directory, the URI
#                                     postgresql://veritee@127.0.0.1:PORT/veritee
#   tests/pg-server.sh stop DIR       stops it (fast) and removes DIR
#   tests/pg-server.sh restart DIR    pg_ctl restart -m fast (same port)
#   tests/pg-server.sh halt DIR       stops it, keeps DIR (then: start-again DIR)
#   tests/pg-server.sh start-again DIR
#   tests/pg-server.sh psql DIR SQL...  runs each SQL (one transaction each) as the superuser
#
# PG_OPTS adds server settings ("-c name=value ..."); exit status 77 when the
# PostgreSQL server binaries are missing (scripts/install-deps.sh test
# installs them).
set -eu
PG_BIN=${PG_BIN:-}
if [ -z "$PG_BIN" ]; then
	for d in /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
		[ -x "$d/initdb" ] && PG_BIN=$d && break
	done
fi
if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
	echo "pg-server: PostgreSQL server binaries not found (apt-get install postgresql-15)" >&2
	exit 77
fi

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ctl_start() { # DIR
	as_pg "$PG_BIN/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 30 start >/dev/null
}

case ${1:-} in
start)
	dir=$(mktemp -d /tmp/veritee-pg-XXXXXX)
	chmod 0755 "$dir"
	[ "$(id -u)" = 0 ] && chown postgres: "$dir"
	as_pg "$PG_BIN/initdb" -D "$dir/data" -U veritee --auth=trust -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 || {
		cat "$dir/initdb.log" >&2; rm -rf "$dir"; exit 1; }
	for attempt in 1 2 3 4 5; do
		port=$(free_port)
		cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 128MB
logging_collector = off
CONF
		for o in ${PG_OPTS:-}; do
			case $o in -c) ;; *) echo "$o" | sed 's/=/ = /' >>"$dir/data/postgresql.conf" ;; esac
		done
		if ctl_start "$dir"; then
			as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U veritee veritee
			echo "$port" >"$dir/port"
			echo "$dir"
			echo "postgresql://veritee@127.0.0.1:$port/veritee"
			exit 0
		fi
		sed -i '/^port = /d' "$dir/data/postgresql.conf"
	done
	cat "$dir/server.log" >&2
	rm -rf "$dir"
	exit 1
	;;
stop)
	dir=$2
	case $dir in /tmp/veritee-pg-*) ;; *) echo "pg-server: not a pg-server directory: $dir" >&2; exit 2 ;; esac
	[ -f "$dir/data/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
	rm -rf "$dir"
	;;
halt)
	as_pg "$PG_BIN/pg_ctl" -D "$2/data" -m fast -w -t 30 stop >/dev/null
	;;
start-again)
	ctl_start "$2"
	;;
restart)
	as_pg "$PG_BIN/pg_ctl" -D "$2/data" -l "$2/server.log" -m fast -w -t 30 restart >/dev/null
	;;
psql) # each SQL argument is its own -c (ALTER SYSTEM cannot share a transaction)
	dir=$2
	shift 2
	for q in "$@"; do
		as_pg "$PG_BIN/psql" -X -q -A -t -h 127.0.0.1 -p "$(cat "$dir/port")" -U veritee -d veritee -v ON_ERROR_STOP=1 -c "$q"
	done
	;;
*)
	echo "usage: $0 start | stop DIR | restart DIR | halt DIR | start-again DIR | psql DIR SQL" >&2
	exit 2
	;;
esac
