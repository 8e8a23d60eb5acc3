# veritee — build, test, demo.  Plain GNU make; `make help` lists targets.
#
#   make demo   install missing Debian packages, build, run the end-to-end demo
#   make demo-tpm  the same with a software TPM 2.0 (installs swtpm when missing)
#   make test   install missing packages, build with -Werror, run every test
#               (unit, integration, JOSE interop, ASan+UBSan build, TSan
#               build of the broker's concurrency tests, fuzz smoke)
#   make tsan   only the TSan build and run of the broker's concurrency tests

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
VERSION := 0.1.0
SOVERSION := 0

# Three libraries, each with its own dependencies (docs/decisions.md,
# "Libraries"):
#   libveritee-verifier  verify, appraise, issue tokens; no network, no server
#                        (tss2-mu/tss2-rc only marshal TPM structures)
#   libveritee-attester  evidence producers (TPM through ESAPI), the KBS
#                        client and the libcurl transport of the collateral
#                        fetches (vt_curl_http_get), sealed files (src/seal:
#                        libgfshare, libarchive); needs the verifier library
#   libveritee-broker    the KBS server (libmicrohttpd, SQLite, libpq); needs both
VERIFIER_PKGS := openssl jansson libcbor tss2-mu tss2-rc xmlsec1-openssl
ATTESTER_PKGS := tss2-esys tss2-tctildr libcurl libarchive
# libgfshare (Shamir K-of-N for sealed files) ships no pkg-config file on Debian.
ATTESTER_EXTRA_LIBS := -lgfshare
BROKER_PKGS   := libmicrohttpd sqlite3 libpq
# The veritee program alone: sd_notify for `veritee serve` under systemd.
CLI_PKGS      := libsystemd
PKGS    := $(VERIFIER_PKGS) $(ATTESTER_PKGS) $(BROKER_PKGS) $(CLI_PKGS)

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
VERIFIER_PKG_LIBS := $(shell pkg-config --libs $(VERIFIER_PKGS) 2>/dev/null)
ATTESTER_PKG_LIBS := $(shell pkg-config --libs $(ATTESTER_PKGS) 2>/dev/null) $(ATTESTER_EXTRA_LIBS)
BROKER_PKG_LIBS   := $(shell pkg-config --libs $(BROKER_PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes -Wmissing-prototypes
# -Werror only where we control the compiler: `make test` (and so CI) sets
# WERROR=1.  A plain `make` / `make demo` must not break on a newer
# compiler's new warning.
WERROR  ?= 0
WERROR_FLAG := $(if $(filter 1,$(WERROR)),-Werror)
CFLAGS  ?= -O2 -g

# Hardening.  _FORTIFY_SOURCE=3 needs __builtin_dynamic_object_size (gcc 12,
# clang 9); older compilers get 2.  FORTIFY=0 turns it off: the sanitizer
# builds do, because their runtimes do not intercept glibc's __memcpy_chk
# and friends, so fortified calls would hide accesses from ASan and TSan.
# Fortify needs optimisation: CFLAGS without -O (or ending in -O0) turn it
# off too.
ifeq ($(origin FORTIFY),undefined)
FORTIFY := $(shell printf 'int main(void){char b[4];return (int)__builtin_dynamic_object_size(b,0);}' | \
	$(CC) -x c -o /dev/null - >/dev/null 2>&1 && echo 3 || echo 2)
endif
OPT_LEVEL := $(lastword $(filter -O%,$(CFLAGS) $(EXTRA_CFLAGS)))
FORTIFY_FLAG := $(strip $(if $(filter 0,$(FORTIFY))$(filter-out -O1 -O2 -O3 -Os -Og -Oz -Ofast -O,$(or $(OPT_LEVEL),-O0)),,\
	-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=$(FORTIFY)))
HARDEN_CFLAGS  := $(FORTIFY_FLAG) -fstack-protector-strong
HARDEN_LDFLAGS := -Wl,-z,relro -Wl,-z,now
# Library objects are position-independent for the shared library;
# executables (CLI, tests, tools, benchmarks) are PIE.
PIC     := -fPIC
EXE_PIE := -fPIE -pie

BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -fvisibility=hidden $(WARN) $(HARDEN_CFLAGS) -Iinclude -Isrc $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
ALL_CFLAGS  = $(BASE_CFLAGS) $(WERROR_FLAG)
LDLIBS  := $(PKG_LIBS) $(ATTESTER_EXTRA_LIBS) -lpthread $(EXTRA_LDFLAGS)
# A shared library must name every library it uses (-z defs: an undefined
# symbol fails the link instead of being resolved by whatever the program
# happens to load).  Not with sanitizers, whose runtimes a shared library
# may leave to the executable.
ZDEFS   := $(if $(findstring -fsanitize,$(CFLAGS) $(EXTRA_CFLAGS) $(EXTRA_LDFLAGS)),,-Wl,-z,defs)
# Each compile also writes make rules for the headers it read (-MMD), with
# an empty rule per header (-MP) so a deleted header does not stop the build.
DEPFLAGS = -MMD -MP

LIB_SRC  := $(sort $(shell find src -name '*.c' ! -path 'src/cli/*'))
# src/ratls: parsing, verification and the OpenSSL hook are the verifier's;
# making a certificate from an attester (src/ratls/attest.c) the attester's.
VERIFIER_SRC := $(sort $(shell find src/util src/crypto src/fetch src/evidence src/measure src/policy src/token src/kbs src/ratls -name '*.c' ! -path src/ratls/attest.c))
ATTESTER_SRC := $(sort $(shell find src/attester src/client src/net src/seal -name '*.c') src/ratls/attest.c)
BROKER_SRC   := $(sort $(shell find src/broker -name '*.c'))
ifneq ($(filter-out $(VERIFIER_SRC) $(ATTESTER_SRC) $(BROKER_SRC),$(LIB_SRC)),)
$(error $(filter-out $(VERIFIER_SRC) $(ATTESTER_SRC) $(BROKER_SRC),$(LIB_SRC)): in no library (Makefile: VERIFIER_SRC, ATTESTER_SRC, BROKER_SRC))
endif
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
VERIFIER_OBJ := $(VERIFIER_SRC:%.c=$(BUILD)/obj/%.o)
ATTESTER_OBJ := $(ATTESTER_SRC:%.c=$(BUILD)/obj/%.o)
# The web console's static files, embedded by the assembler (.incbin in
# src/broker/console/assets.S): rebuilt when one of them changes.
CONSOLE_ASM  := src/broker/console/assets.S
CONSOLE_FILES := $(wildcard src/broker/console/*.html src/broker/console/*.js src/broker/console/*.css)
BROKER_OBJ   := $(BROKER_SRC:%.c=$(BUILD)/obj/%.o) $(CONSOLE_ASM:%.S=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
# Shared-object stand-ins for vendor libraries the code dlopens (NVML).
FAKE_SRC := $(sort $(wildcard tests/fakes/*.c))
FAKE_SO  := $(FAKE_SRC:tests/fakes/%.c=$(BUILD)/tools/lib%.so)
TOOL_BIN += $(FAKE_SO)

.PHONY: all deps test-deps demo demo-tpm test unit tsan tsan-build fuzz fuzz-smoke bench bench-cluster soak man install uninstall clean help FORCE

LIBS_NAMES := verifier attester broker
LIBS_A  := $(LIBS_NAMES:%=$(BUILD)/libveritee-%.a)
LIBS_SO := $(LIBS_NAMES:%=$(BUILD)/libveritee-%.so)
LIBS_PC := $(LIBS_NAMES:%=$(BUILD)/veritee-%.pc) $(LIBS_NAMES:%=$(BUILD)/veritee-%-uninstalled.pc)
# Programs link the static archives, users first (symbols resolve left to right).
ALL_A   := $(BUILD)/libveritee-broker.a $(BUILD)/libveritee-attester.a $(BUILD)/libveritee-verifier.a

all: $(BUILD)/veritee $(LIBS_A) $(LIBS_SO) $(LIBS_PC)

help:
	@echo "make demo | make demo-tpm | make test | make all | make unit | make tsan | make fuzz-smoke | make bench | make man | make install PREFIX=..."

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

# V=1 shows full compiler command lines.
Q := $(if $(V),,@)

# Objects record the flags they were built with (without -Werror, so that
# `make` and `make test` share build/): changing CFLAGS rebuilds them.
$(BUILD)/.flags: FORCE
	@mkdir -p $(dir $@)
	@echo '$(BASE_CFLAGS) $(HARDEN_LDFLAGS) $(LDLIBS)' | cmp -s - $@ 2>/dev/null || \
		echo '$(BASE_CFLAGS) $(HARDEN_LDFLAGS) $(LDLIBS)' > $@

$(BUILD)/obj/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(PIC) $(DEPFLAGS) -c -o $@ $<

$(BUILD)/obj/%.o: %.S $(BUILD)/.flags
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $@")
	$(Q)$(CC) $(ALL_CFLAGS) $(PIC) $(DEPFLAGS) -c -o $@ $<

$(CONSOLE_ASM:%.S=$(BUILD)/obj/%.o): $(CONSOLE_FILES)

# The CLI's objects go into an executable only ("private": not inherited
# by their prerequisites, $(BUILD)/.flags among them).
$(CLI_OBJ): private PIC := -fPIE

$(BUILD)/libveritee-verifier.a: $(VERIFIER_OBJ)
$(BUILD)/libveritee-attester.a: $(ATTESTER_OBJ)
$(BUILD)/libveritee-broker.a: $(BROKER_OBJ)
$(LIBS_A):
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# Each shared library names the ones it needs by soname (DT_NEEDED
# libveritee-verifier.so.$(SOVERSION) ...); the build directory also gets
# the soname links, so programs built against it run with LD_LIBRARY_PATH.
SO_LINK = $(CC) -shared -Wl,-soname,$(notdir $@).$(SOVERSION) $(HARDEN_LDFLAGS) $(ZDEFS) -o $@
$(BUILD)/libveritee-verifier.so: $(VERIFIER_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(SO_LINK) $(VERIFIER_OBJ) $(VERIFIER_PKG_LIBS) -lpthread $(EXTRA_LDFLAGS)
	$(Q)ln -sf $(notdir $@) $@.$(SOVERSION)

$(BUILD)/libveritee-attester.so: $(ATTESTER_OBJ) $(BUILD)/libveritee-verifier.so
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(SO_LINK) $(ATTESTER_OBJ) $(BUILD)/libveritee-verifier.so $(ATTESTER_PKG_LIBS) $(VERIFIER_PKG_LIBS) -lpthread $(EXTRA_LDFLAGS)
	$(Q)ln -sf $(notdir $@) $@.$(SOVERSION)

$(BUILD)/libveritee-broker.so: $(BROKER_OBJ) $(BUILD)/libveritee-attester.so $(BUILD)/libveritee-verifier.so
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(SO_LINK) $(BROKER_OBJ) $(BUILD)/libveritee-attester.so $(BUILD)/libveritee-verifier.so $(BROKER_PKG_LIBS) $(VERIFIER_PKG_LIBS) -lpthread $(EXTRA_LDFLAGS)
	$(Q)ln -sf $(notdir $@) $@.$(SOVERSION)

$(BUILD)/veritee: $(CLI_OBJ) $(ALL_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -pie $(HARDEN_LDFLAGS) -o $@ $(CLI_OBJ) $(ALL_A) $(LDLIBS)

# pkg-config files: veritee-<lib>.pc name PREFIX (regenerated when PREFIX
# changes, so `make && make install PREFIX=/opt/x` installs files naming
# /opt/x); veritee-<lib>-uninstalled.pc name this build and source tree
# (pkg-config prefers them when PKG_CONFIG_PATH=$(BUILD)).
$(BUILD)/.prefix: FORCE
	@mkdir -p $(dir $@)
	@echo '$(PREFIX)' | cmp -s - $@ 2>/dev/null || echo '$(PREFIX)' > $@

$(BUILD)/veritee-%.pc: pkgconfig/veritee-%.pc.in $(BUILD)/.prefix
	@mkdir -p $(dir $@)
	@sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$${prefix}/lib|g' -e 's|@INCLUDEDIR@|$${prefix}/include|g' \
		-e 's|@VERSION@|$(VERSION)|g' $< > $@

$(BUILD)/veritee-%-uninstalled.pc: pkgconfig/veritee-%.pc.in
	@mkdir -p $(dir $@)
	@sed -e 's|@PREFIX@|$(CURDIR)|g' -e 's|@LIBDIR@|$(abspath $(BUILD))|g' -e 's|@INCLUDEDIR@|$(CURDIR)/include|g' \
		-e 's|@VERSION@|$(VERSION)|g' $< > $@

# Tests, tools and benchmarks are one .c file each, compiled and linked in
# one step; their dependency files go under obj/ like the objects'.
EXE_CC = $(CC) $(ALL_CFLAGS) $(EXE_PIE) $(HARDEN_LDFLAGS) $(DEPFLAGS) -MT $@ -MF $(BUILD)/obj/$(<:.c=.d)

$(BUILD)/tests/%: tests/unit/%.c $(ALL_A)
	@mkdir -p $(dir $@) $(dir $(BUILD)/obj/$<)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(EXE_CC) -Itests/unit -o $@ $< $(ALL_A) $(LDLIBS) -lcmocka

# The JOSE tool needs nothing but the verifier library.
$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libveritee-verifier.a
	@mkdir -p $(dir $@) $(dir $(BUILD)/obj/$<)
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(EXE_CC) -o $@ $< $(BUILD)/libveritee-verifier.a $(VERIFIER_PKG_LIBS) -lpthread $(EXTRA_LDFLAGS)

$(BUILD)/tools/lib%.so: tests/fakes/%.c
	@mkdir -p $(dir $@) $(dir $(BUILD)/obj/$<)
	@$(if $(Q),echo "  FAKE    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -fvisibility=default -fPIC -shared $(DEPFLAGS) -MT $@ -MF $(BUILD)/obj/$(<:.c=.d) -o $@ $< $(EXTRA_LDFLAGS)

$(BUILD)/bench/%: bench/%.c $(ALL_A)
	@mkdir -p $(dir $@) $(dir $(BUILD)/obj/$<)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(EXE_CC) -o $@ $< $(ALL_A) $(LDLIBS)

-include $(patsubst %.c,$(BUILD)/obj/%.d,$(LIB_SRC) $(CLI_SRC) $(TEST_SRC) $(TOOL_SRC) $(BENCH_SRC)) $(CONSOLE_ASM:%.S=$(BUILD)/obj/%.d)

FORCE:

demo: deps
	@$(MAKE) --no-print-directory -s all >/dev/null
	@$(BUILD)/veritee demo

# The demo with a software TPM 2.0 (swtpm, installed when missing).
demo-tpm: deps
	@scripts/install-deps.sh tpm
	@$(MAKE) --no-print-directory -s all >/dev/null
	@$(BUILD)/veritee demo --tee tpm

# Everything a clean machine needs to trust a change.  Builds with -Werror
# (TEST_WERROR=0 to see warnings without failing).
TEST_WERROR ?= 1
ASAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
# bench_cluster is the load generator of tests/integration/test_cluster.py.
test: test-deps
	@$(MAKE) --no-print-directory WERROR=$(TEST_WERROR) all $(TEST_BIN) $(TOOL_BIN) $(BUILD)/bench/bench_cluster
	@$(MAKE) --no-print-directory WERROR=$(TEST_WERROR) BUILD=build-asan CC=gcc FORTIFY=0 \
		CFLAGS="$(ASAN_CFLAGS)" EXTRA_LDFLAGS="-fsanitize=address,undefined" \
		build-asan/veritee build-asan/bench/bench_cluster $(LIBS_NAMES:%=build-asan/libveritee-%.so) \
		$(LIBS_NAMES:%=build-asan/veritee-%-uninstalled.pc) \
		$(TEST_SRC:tests/unit/%.c=build-asan/tests/%) $(TOOL_SRC:tests/tools/%.c=build-asan/tools/%) \
		$(FAKE_SRC:tests/fakes/%.c=build-asan/tools/lib%.so)
	@$(MAKE) --no-print-directory WERROR=$(TEST_WERROR) tsan-build
	@$(MAKE) --no-print-directory WERROR=$(TEST_WERROR) fuzz
	@tests/run-all.sh

unit:
	@$(MAKE) --no-print-directory WERROR=$(TEST_WERROR) all $(TEST_BIN) $(TOOL_BIN)
	@BUILDS=$(BUILD) tests/run-all.sh unit

# ------------------------------------------------------- ThreadSanitizer
# Only the tests that exercise the broker from several threads are built
# with TSan (with the library they link), into build-tsan/; run-all.sh runs
# them with halt_on_error=1, so a data race fails the run.
TSAN_TESTS  := test_broker_threads
TSAN_BIN    := $(TSAN_TESTS:%=build-tsan/tests/%)
TSAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=thread

tsan-build:
	@$(MAKE) --no-print-directory BUILD=build-tsan CC=gcc FORTIFY=0 \
		CFLAGS="$(TSAN_CFLAGS)" EXTRA_LDFLAGS="-fsanitize=thread" $(TSAN_BIN)

tsan: test-deps
	@$(MAKE) --no-print-directory WERROR=$(TEST_WERROR) tsan-build
	@BUILDS= TSAN_BUILDS=build-tsan tests/run-all.sh unit

# ---------------------------------------------------------------- fuzzing
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o) $(CONSOLE_ASM:%.S=build-fuzz/obj/%.o)
# No _FORTIFY_SOURCE here: ASan does not see inside glibc's __*_chk calls.
FUZZ_CFLAGS = -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -Iinclude -Isrc $(PKG_CFLAGS) $(WARN) $(WERROR_FLAG)

build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)clang $(FUZZ_CFLAGS) $(DEPFLAGS) -c -o $@ $<

build-fuzz/obj/%.o: %.S
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AS      $@")
	$(Q)clang $(FUZZ_CFLAGS) $(DEPFLAGS) -c -o $@ $<

$(CONSOLE_ASM:%.S=build-fuzz/obj/%.o): $(CONSOLE_FILES)

build-fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@) build-fuzz/obj/fuzz
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) $(DEPFLAGS) -MT $@ -MF build-fuzz/obj/$(<:.c=.d) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

-include $(patsubst %.c,build-fuzz/obj/%.d,$(LIB_SRC) $(FUZZ_SRC))

# The fuzz objects are only reached through pattern rules: keep them.
.SECONDARY: $(FUZZ_LIB_OBJ)

fuzz: $(FUZZ_BIN)

# Each target runs briefly from its seed corpus; any crash fails the run.
fuzz-smoke: fuzz
	@tests/fuzz-smoke.sh $(FUZZ_BIN)

bench: all $(BENCH_BIN)
	@bench/run.sh

# Replicas on PostgreSQL behind HAProxy (bench/cluster_bench.py; installs
# postgresql-15 and haproxy when missing): load at 1..256 clients with 1 and 3
# replicas and SQLite, then 10,000 concurrent sessions.
bench-cluster: all $(BUILD)/bench/bench_cluster
	@scripts/install-deps.sh soak
	@BUILD=$(BUILD) bench/cluster_bench.py load
	@BUILD=$(BUILD) bench/cluster_bench.py sessions

# One hour at a steady load on three replicas: RSS, descriptors, database
# connections and p99 each minute, plotted into docs/soak.png.  Not part of
# `make test`.  SOAK_MINUTES=N for a shorter run.
SOAK_MINUTES ?= 60
soak: all $(BUILD)/bench/bench_cluster
	@scripts/install-deps.sh soak
	@BUILD=$(BUILD) bench/cluster_bench.py soak --minutes $(SOAK_MINUTES) --png docs/soak.png

# ------------------------------------------------ man pages, completion, unit
# Man pages made by help2man from the program's own --help (scripts/man.sh;
# man/*.h2m add examples, files, exit status), the bash and zsh completion
# (dist/completion: they read --help when completing) and the systemd unit
# (dist/systemd).  Debian 12 keeps units in /lib/systemd/system (debian/rules).
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system

man: $(BUILD)/man/.stamp

$(BUILD)/man/.stamp: $(BUILD)/veritee scripts/man.sh $(wildcard man/*.h2m)
	@rm -rf $(BUILD)/man
	@$(if $(Q),echo "  MAN     $(BUILD)/man")
	$(Q)scripts/man.sh $(BUILD)/veritee $(BUILD)/man $(VERSION) >/dev/null
	@touch $@

$(BUILD)/veritee-serve.service: dist/systemd/veritee-serve.service.in $(BUILD)/.prefix
	@sed -e 's|@BINDIR@|$(PREFIX)/bin|g' $< > $@

# The libraries as lib<name>.so.$(SOVERSION) (the soname) with the
# lib<name>.so development link, the static archives, every header, and the
# pkg-config files with this PREFIX (see $(BUILD)/.prefix above).
install: all man $(BUILD)/veritee-serve.service
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/veritee
	install -m 0755 $(BUILD)/veritee $(DESTDIR)$(PREFIX)/bin/veritee
	for l in $(LIBS_NAMES); do \
		install -m 0644 $(BUILD)/libveritee-$$l.a $(DESTDIR)$(PREFIX)/lib/libveritee-$$l.a && \
		install -m 0755 $(BUILD)/libveritee-$$l.so $(DESTDIR)$(PREFIX)/lib/libveritee-$$l.so.$(SOVERSION) && \
		ln -sf libveritee-$$l.so.$(SOVERSION) $(DESTDIR)$(PREFIX)/lib/libveritee-$$l.so && \
		install -m 0644 $(BUILD)/veritee-$$l.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/veritee-$$l.pc || exit 1; \
	done
	install -m 0644 include/veritee/*.h $(DESTDIR)$(PREFIX)/include/veritee/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/vendor-completions $(DESTDIR)$(SYSTEMDUNITDIR)
	install -m 0644 $(BUILD)/man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 0644 dist/completion/veritee.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/veritee
	install -m 0644 dist/completion/_veritee $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_veritee
	install -m 0644 $(BUILD)/veritee-serve.service $(DESTDIR)$(SYSTEMDUNITDIR)/veritee-serve.service

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/veritee $(DESTDIR)$(PREFIX)/lib/libveritee.* $(DESTDIR)$(PREFIX)/lib/libveritee-*
	rm -f $(DESTDIR)$(PREFIX)/lib/pkgconfig/veritee.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/veritee-*.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/veritee
	rm -f $(DESTDIR)$(PREFIX)/share/man/man1/veritee.1 $(DESTDIR)$(PREFIX)/share/man/man1/veritee-*.1
	rm -f $(DESTDIR)$(PREFIX)/share/bash-completion/completions/veritee $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions/_veritee
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/veritee-serve.service

clean:
	rm -rf build build-asan build-tsan build-fuzz
