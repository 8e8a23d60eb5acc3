#!/bin/sh
# Install the Debian 12 packages veritee needs to build, test and run the
# demo, but only those that are missing.  Uses sudo when not root.
# Usage: scripts/install-deps.sh [build|test|tpm|soak]
#   tpm: only what `veritee demo --tee tpm` needs on top of build (swtpm).
#   soak: what `make soak` needs on top of test (gnuplot, for its plot).
set -eu
want=${1:-build}
case $want in build | test | tpm | soak) ;; *) echo "usage: $0 [build|test|tpm|soak]" >&2; exit 2 ;; esac

# Build: compiler, OpenSSL 3, jansson, libcbor (CBOR/COSE evidence), libmicrohttpd, libcurl (OpenSSL
# flavour), SQLite, tpm2-tss (ESAPI, marshalling), pkg-config, libgfshare (Shamir K-of-N of sealed-file
# keys), libarchive (sealed directories as tar streams) and xmlsec1 (NVIDIA RIM XML signatures);
# libsystemd (sd_notify of `veritee serve`) and help2man (the man pages, from --help); libpq
# (PostgreSQL client: replicas sharing a database).
pkgs="gcc make pkg-config libssl-dev libjansson-dev libcbor-dev libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev libtss2-dev libgfshare-dev libarchive-dev libxmlsec1-dev libsystemd-dev help2man libpq-dev"
if [ "$want" = tpm ]; then
	# A software TPM 2.0 the demo starts on loopback, its setup tools, and
	# tpm2-tools (to look at the TPM by hand: tpm2_pcrread -T swtpm:...).
	pkgs="swtpm swtpm-tools tpm2-tools"
fi
if [ "$want" = test ]; then
	# Tests: cmocka; Debian's python3 with jwcrypto and cryptography as
	# independent JOSE oracles; clang + compiler-rt for libFuzzer and the
	# sanitizer build; openssl for fixtures; ovmf (Debian's SEV-capable
	# firmware) for launch-measurement known answers; swtpm and tpm2-tools
	# (a software TPM the tests start on loopback, and an independent quote
	# checker); nodejs/npm for the DCAP differential test.
	pkgs="$pkgs libcmocka-dev python3 python3-jwcrypto python3-cryptography clang libclang-rt-14-dev openssl ovmf"
	pkgs="$pkgs swtpm swtpm-tools tpm2-tools"
	# bash-completion and zsh run the shell completion, man-db renders the
	# man pages; debhelper and dpkg-dev build the Debian package (debian/).
	pkgs="$pkgs bash-completion zsh man-db debhelper dpkg-dev"
	# The replica tests start their own PostgreSQL (initdb in a temporary
	# directory, tests/pg-server.sh) and HAProxy in front of the replicas.
	pkgs="$pkgs postgresql-15 haproxy"
	# Broker keys in an HSM (tests/integration/test_pkcs11.py): SoftHSM 2
	# as the token, OpenSC's pkcs11-tool to make its keys, and libp11's
	# OpenSSL engine, which the broker loads at run time (docs/broker.md).
	pkgs="$pkgs softhsm2 opensc libengine-pkcs11-openssl"
	# Debian's Chromium, headless, loads the broker's web console
	# (tests/integration/test_console.py): DOM after its script ran, and a
	# screenshot.  No npm, no browser driver.
	pkgs="$pkgs chromium"
fi
if [ "$want" = soak ]; then
	pkgs="postgresql-15 haproxy gnuplot-nox"
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# Node.js may come from elsewhere (e.g. NodeSource, which bundles npm and
# conflicts with Debian's npm package): install by command, not by package.
if [ "$want" = test ]; then
	command -v node >/dev/null 2>&1 || missing="$missing nodejs"
	command -v npm >/dev/null 2>&1 || missing="$missing npm"
fi
[ -z "$missing" ] && exit 0

echo "veritee: installing missing Debian packages:$missing" >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "veritee: need root or sudo to install:$missing" >&2; exit 1
	fi
fi
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
