# veritee — build, test, demo.  Plain GNU make; `make help` lists targets.
#
#   make demo   install missing Debian packages, build, run the end-to-end demo
#   make demo-tpm  the same with a software TPM 2.0 (installs swtpm when missing)
#   make test   install missing packages, build, run every test (unit,
#               integration, JOSE interop, sanitizer build, fuzz smoke)

PREFIX  ?= /usr/local
BUILD   ?= build
CC      ?= cc
PKGS    := openssl jansson libmicrohttpd libcurl sqlite3 tss2-esys tss2-mu tss2-tctildr tss2-rc
VERSION := 0.1.0

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN    := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wvla -Wstrict-prototypes -Wmissing-prototypes
CFLAGS  ?= -O2 -g
ALL_CFLAGS := -std=c17 -D_GNU_SOURCE -fPIC -fvisibility=hidden $(WARN) -Iinclude -Isrc $(PKG_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lpthread $(EXTRA_LDFLAGS)

LIB_SRC  := $(sort $(shell find src -name '*.c' ! -path 'src/cli/*'))
CLI_SRC  := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
BENCH_SRC := $(sort $(wildcard bench/*.c))
TOOL_SRC := $(sort $(wildcard tests/tools/*.c))

LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ  := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
TOOL_BIN := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all deps test-deps demo demo-tpm test unit check-build asan fuzz fuzz-smoke bench install uninstall clean help

all: $(BUILD)/veritee $(BUILD)/libveritee.a $(BUILD)/libveritee.so $(BUILD)/veritee.pc

help:
	@echo "make demo | make demo-tpm | make test | make all | make asan | make fuzz-smoke | make bench | make install PREFIX=..."

deps:
	@scripts/install-deps.sh build

test-deps:
	@scripts/install-deps.sh test

# V=1 shows full compiler command lines.
Q := $(if $(V),,@)

$(BUILD)/obj/%.o: %.c $(wildcard include/veritee/*.h) $(shell find src -name '*.h')
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libveritee.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/libveritee.so: $(LIB_OBJ)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libveritee.so.0 -o $@ $^ $(LDLIBS)

$(BUILD)/veritee: $(CLI_OBJ) $(BUILD)/libveritee.a
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libveritee.a $(LDLIBS)

$(BUILD)/veritee.pc: veritee.pc.in
	@mkdir -p $(dir $@)
	@sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' $< > $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libveritee.a tests/unit/testutil.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libveritee.a $(LDLIBS) -lcmocka

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libveritee.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TOOL    $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libveritee.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libveritee.a
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  BENCH   $@")
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libveritee.a $(LDLIBS)

demo: deps
	@$(MAKE) --no-print-directory -s all >/dev/null
	@$(BUILD)/veritee demo

# The demo with a software TPM 2.0 (swtpm, installed when missing).
demo-tpm: deps
	@scripts/install-deps.sh tpm
	@$(MAKE) --no-print-directory -s all >/dev/null
	@$(BUILD)/veritee demo --tee tpm

# Everything a clean machine needs to trust a change.
test: test-deps
	@$(MAKE) --no-print-directory all $(TEST_BIN) $(TOOL_BIN)
	@$(MAKE) --no-print-directory BUILD=build-asan CC=gcc \
		CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" \
		build-asan/veritee $(TEST_SRC:tests/unit/%.c=build-asan/tests/%) $(TOOL_SRC:tests/tools/%.c=build-asan/tools/%)
	@$(MAKE) --no-print-directory fuzz
	@tests/run-all.sh

unit: all $(TEST_BIN) $(TOOL_BIN)
	@BUILDS=$(BUILD) tests/run-all.sh unit

# ---------------------------------------------------------------- fuzzing
FUZZ_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=build-fuzz/obj/%.o)
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer-no-link,address,undefined -Iinclude -Isrc $(PKG_CFLAGS) $(WARN)

build-fuzz/obj/%.o: %.c $(wildcard include/veritee/*.h) $(shell find src -name '*.h')
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)clang $(FUZZ_CFLAGS) -c -o $@ $<

build-fuzz/%: fuzz/%.c $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

# The fuzz objects are only reached through pattern rules: keep them.
.SECONDARY: $(FUZZ_LIB_OBJ)

fuzz: $(FUZZ_BIN)

# Each target runs briefly from its seed corpus; any crash fails the run.
fuzz-smoke: fuzz
	@tests/fuzz-smoke.sh $(FUZZ_BIN)

bench: all $(BENCH_BIN)
	@bench/run.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/veritee
	install -m 0755 $(BUILD)/veritee $(DESTDIR)$(PREFIX)/bin/veritee
	install -m 0644 $(BUILD)/libveritee.a $(DESTDIR)$(PREFIX)/lib/libveritee.a
	install -m 0755 $(BUILD)/libveritee.so $(DESTDIR)$(PREFIX)/lib/libveritee.so.0
	ln -sf libveritee.so.0 $(DESTDIR)$(PREFIX)/lib/libveritee.so
	install -m 0644 include/veritee/*.h $(DESTDIR)$(PREFIX)/include/veritee/
	install -m 0644 $(BUILD)/veritee.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/veritee.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/veritee $(DESTDIR)$(PREFIX)/lib/libveritee.* $(DESTDIR)$(PREFIX)/lib/pkgconfig/veritee.pc
	rm -rf $(DESTDIR)$(PREFIX)/include/veritee

clean:
	rm -rf build build-asan build-fuzz
