# llmroute - top-level Makefile.
#
#   make            library (.so/.a), plugins, CLI, mock upstream
#   make check      deps, build, whole test suite, then the same suite built
#                   with clang + ASan/UBSan
#   make demo       offline demo against the mock upstream
#   make bench      benchmarks (see README)
#   make valgrind   integration tests under valgrind
#   make soak       the gateway soak, 20000 requests with faults
#   make fuzz       every libFuzzer target for FUZZ_SECONDS (default 10)
#                   each, clang + ASan/UBSan, into build/fuzz (see
#                   docs/reliability.md)
#   make install PREFIX=DIR [DESTDIR=...], make uninstall, make clean
#
# Wings: core/ sees include/ and core/; plugins/ and cli/ see include/ only.

PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
CC       ?= cc
SAN      ?=
B        := $(BUILD)

PKGS      := libcurl libcjson inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
# SQLite is the sqlite store plugin's alone (and tests that read its file).
SQLITE_CFLAGS := $(shell pkg-config --cflags sqlite3 2>/dev/null)
SQLITE_LIBS   := $(shell pkg-config --libs sqlite3 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN   := -Wall -Wextra -Werror -Wformat=2 -Wmissing-prototypes \
          -Wstrict-prototypes -Wshadow -Wno-unused-parameter
OPT    ?= -O2 -g
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE $(WARN) $(OPT) -fPIC \
          -fvisibility=hidden -pthread
ifeq ($(SAN),1)
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
            -fno-omit-frame-pointer
PLUGIN_LDFLAGS :=
else
SANFLAGS :=
PLUGIN_LDFLAGS := -Wl,--no-undefined
endif
CFLAGS_ALL := $(CFLAGS_BASE) $(SANFLAGS) $(CFLAGS)
# Tests build paths with snprintf into fixed buffers on purpose; gcc's
# truncation warning is noise there (clang has no such option).
TEST_NOWARN := $(shell $(CC) -Werror -Wno-format-truncation -E -x c /dev/null >/dev/null 2>&1 && echo -Wno-format-truncation)

CORE_SRC   := $(sort $(wildcard core/*.c))
CORE_OBJ   := $(CORE_SRC:%.c=$(B)/obj/%.o)
PLUGIN_SRC := $(sort $(wildcard plugins/*.c))
# plugins/provider_openai.c -> build/plugins/openai.so (policy_, store_ too)
plugin_so   = $(B)/plugins/$(patsubst store_%,%,$(patsubst provider_%,%,$(patsubst policy_%,%,$(basename $(notdir $(1)))))).so
# Libraries a plugin needs beyond cJSON, by source file.
plugin_libs = $(if $(filter plugins/store_sqlite.c,$(1)),$(SQLITE_CFLAGS) $(SQLITE_LIBS))
PLUGIN_SO  := $(foreach p,$(PLUGIN_SRC),$(call plugin_so,$(p)))
CLI_SRC    := $(sort $(wildcard cli/*.c))
CLI_OBJ    := $(CLI_SRC:%.c=$(B)/obj/%.o)
MOCK_LIB_SRC := $(filter-out tests/mock/mock_main.c,$(sort $(wildcard tests/mock/*.c)))
MOCK_LIB_OBJ := $(MOCK_LIB_SRC:%.c=$(B)/obj/%.o)
SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
SUPPORT_OBJ := $(SUPPORT_SRC:%.c=$(B)/obj/%.o)
UNIT_SRC   := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)
FIXTURE_SRC := $(sort $(wildcard tests/plugins/*.c))
FIXTURE_SO := $(FIXTURE_SRC:tests/plugins/%.c=$(B)/tests/plugins/%.so)
# fuzz/fuzz_NAME.c: one libFuzzer target each.  Built two ways: with
# libFuzzer (make fuzz, clang only) and with fuzz/replay_main.c in the
# normal test build, which replays the regression inputs and seeds.
FUZZ_SRC   := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_NAMES := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
FUZZ_BIN   := $(FUZZ_NAMES:%=$(B)/fuzzers/fuzz_%)
FUZZ_REPLAY := $(FUZZ_NAMES:%=$(B)/fuzz-replay/fuzz_%)
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 10
FUZZ_SEED ?=
BENCH_SRC  := $(sort $(wildcard bench/*.c))
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(B)/bench/%)

LIB_SO := $(B)/libllmroute.so
LIB_A  := $(B)/libllmroute.a
CLI    := $(B)/llmroute
MOCK   := $(B)/mock-upstream

.PHONY: all lib plugins cli tests check test test-run deps demo bench \
        valgrind soak install uninstall clean headers-check \
        exports-check install-check fuzz fuzzers fuzz-replay FORCE
.SUFFIXES:
# Keep object files make would otherwise delete as intermediates.
.SECONDARY:

all: lib plugins cli $(MOCK)
lib: $(LIB_SO) $(LIB_A)
plugins: $(PLUGIN_SO)
cli: $(CLI)
tests: all $(UNIT_BIN) $(FIXTURE_SO) $(FUZZ_REPLAY)

$(B)/obj/core/%.o: core/%.c $(wildcard core/*.h) $(wildcard include/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude -Icore $(PKG_CFLAGS) \
	  -DLR_DEFAULT_PLUGIN_DIR=\"$(PREFIX)/lib/llmroute/plugins\" -c $< -o $@

# The default plugin dir is compiled in (router_load.c), so a change of
# PREFIX (make; make install PREFIX=/opt/x) must rebuild that object: the
# stamp changes only when PREFIX does.
$(B)/obj/core/router_load.o: $(B)/prefix.stamp
$(B)/prefix.stamp: FORCE
	@mkdir -p $(@D)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@
FORCE:

$(B)/obj/cli/%.o: cli/%.c $(wildcard cli/*.h) include/llmroute.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude -c $< -o $@

$(B)/obj/tests/%.o: tests/%.c $(wildcard tests/*/*.h) $(wildcard core/*.h) $(wildcard include/*.h) $(wildcard plugins/*.h) $(wildcard cli/*.c)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Wno-missing-prototypes $(TEST_NOWARN) -Iinclude -Icore -Itests -Itests/support -Itests/mock $(PKG_CFLAGS) $(SQLITE_CFLAGS) -c $< -o $@

$(LIB_SO): $(CORE_OBJ) core/llmroute.map
	$(CC) $(CFLAGS_ALL) -shared -o $@ $(CORE_OBJ) \
	  -Wl,--version-script=core/llmroute.map -Wl,-soname,libllmroute.so.0 \
	  $(PKG_LIBS) -ldl -pthread

$(LIB_A): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $(CORE_OBJ)

define plugin_rule
$(call plugin_so,$(1)): $(1) include/llmroute_plugin.h $(wildcard plugins/*.h)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_ALL) -Iinclude $$(shell pkg-config --cflags libcjson) \
	  -shared $(PLUGIN_LDFLAGS) -o $$@ $$< $$(shell pkg-config --libs libcjson) \
	  $(call plugin_libs,$(1)) -lm
	@chmod go-w $$@ $$(@D)
endef
$(foreach p,$(PLUGIN_SRC),$(eval $(call plugin_rule,$(p))))

# No -lm for the library and the CLI: neither calls libm, and a process
# that does not map it is 0.3 MiB smaller (idle RSS; bench/README.md).
$(CLI): $(CLI_OBJ) $(LIB_A)
	$(CC) $(CFLAGS_ALL) -o $@ $(CLI_OBJ) $(LIB_A) $(PKG_LIBS) $(MHD_LIBS) -ldl -pthread

$(MOCK): $(B)/obj/tests/mock/mock_main.o $(MOCK_LIB_OBJ) $(LIB_A)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LIB_A) $(PKG_LIBS) $(MHD_LIBS) -ldl -lm -pthread

$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(SUPPORT_OBJ) $(MOCK_LIB_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(SUPPORT_OBJ) $(MOCK_LIB_OBJ) $(LIB_A) \
	  $(PKG_LIBS) $(MHD_LIBS) $(CMOCKA_LIBS) $(SQLITE_LIBS) -ldl -lm -pthread

# Fuzz targets see what tests see, plus cli/ for the gateway's parser.
$(B)/obj/fuzz/%.o: fuzz/%.c $(wildcard fuzz/*.h) $(wildcard core/*.h) $(wildcard include/*.h) $(wildcard cli/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) $(TEST_NOWARN) -Iinclude -Icore -Itests -Icli $(PKG_CFLAGS) -c $< -o $@

# A provider linked into a fuzz target rather than dlopen'ed.
$(B)/obj/plugins/%.o: plugins/%.c include/llmroute_plugin.h $(wildcard plugins/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude $(shell pkg-config --cflags libcjson) -c $< -o $@

# fuzz_build links all three, so each entry point is renamed.
$(B)/obj/fuzz-entry/provider_%.o: plugins/provider_%.c include/llmroute_plugin.h $(wildcard plugins/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude $(shell pkg-config --cflags libcjson) \
	  -Dlr_plugin_entry=fuzz_entry_$* -c $< -o $@

FUZZ_FIXTURE := $(B)/obj/tests/support/fake_host.o \
                $(B)/obj/tests/support/provider_fixture.o
FUZZ_DRIVE := $(B)/obj/fuzz/provider_drive.o $(FUZZ_FIXTURE)
fuzz_extra = $(if $(filter openai anthropic gemini,$(1)),\
  $(B)/obj/plugins/provider_$(1).o $(FUZZ_DRIVE))$(if \
  $(filter serve_request,$(1)),$(B)/obj/cli/serve_request.o \
  $(B)/obj/cli/serve_response.o $(B)/obj/cli/serve_json.o \
  $(B)/obj/cli/sampling.o)$(if $(filter build,$(1)),\
  $(foreach p,openai anthropic gemini,$(B)/obj/fuzz-entry/provider_$(p).o) \
  $(FUZZ_FIXTURE) $(B)/obj/tests/support/comma_locale.o)
define fuzz_rule
$(B)/fuzz-replay/fuzz_$(1): $(B)/obj/fuzz/fuzz_$(1).o $(B)/obj/fuzz/replay_main.o $(call fuzz_extra,$(1)) $(LIB_A)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_ALL) -o $$@ $$^ $$(PKG_LIBS) -ldl -lm -pthread
$(B)/fuzzers/fuzz_$(1): $(B)/obj/fuzz/fuzz_$(1).o $(call fuzz_extra,$(1)) $(LIB_A)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS_ALL) -fsanitize=fuzzer -o $$@ $$^ $$(PKG_LIBS) -ldl -lm -pthread
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_rule,$(n))))

# Test fixture plugins: deliberately good and bad shared objects.
# The core refuses plugins other users could replace (plugin_load.c):
# whatever the umask, built plugins and their folders are go-w.
$(B)/tests/plugins/%.so: tests/plugins/%.c include/llmroute_plugin.h $(wildcard tests/plugins/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude -shared -o $@ $<
	@chmod go-w $@ $(@D)

# The idle RSS floor links libcurl and libmicrohttpd alone (bench/README.md).
$(B)/bench/rss_floor: bench/rss_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $< $(shell pkg-config --cflags --libs libcurl) \
	  $(MHD_LIBS)

# The relay floor links nothing but libc: it is the hop without a gateway.
$(B)/bench/relay_floor: bench/relay_floor.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -o $@ $<

$(B)/bench/%: bench/%.c $(MOCK_LIB_OBJ) $(LIB_A)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS_ALL) -Iinclude -Itests -o $@ $< $(MOCK_LIB_OBJ) $(LIB_A) \
	  $(PKG_LIBS) $(MHD_LIBS) -ldl -lm -pthread

deps:
	@sh scripts/setup-deps.sh

# The whole suite with the default compiler, then again with clang and
# ASan+UBSan (so both compilers' warnings are errors too).
check: deps
	$(MAKE) test
	$(MAKE) BUILD=build/asan SAN=1 CC=clang OPT="-O1 -g" test
	@echo "check: all passes green"

test: tests headers-check exports-check install-check
	@sh scripts/run-tests.sh $(B)
	@sh scripts/fuzz.sh replay $(B) $(FUZZ_NAMES)

# libFuzzer needs clang; coverage instrumentation goes into every object
# (fuzzer-no-link), the fuzzer's main only into the targets.
fuzz: deps
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang SAN=1 OPT="-O1 -g" \
	  CFLAGS="-fsanitize=fuzzer-no-link" fuzzers
	@FUZZ_SEED=$(FUZZ_SEED) sh scripts/fuzz.sh run $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzzers: $(FUZZ_BIN)

fuzz-replay: $(FUZZ_REPLAY)
	@sh scripts/fuzz.sh replay $(B) $(FUZZ_NAMES)

headers-check:
	@sh scripts/check-headers.sh

exports-check: all
	@sh scripts/check-exports.sh $(B)

# make install into a temporary PREFIX (from its own build dir, $(B)/install),
# then build and run a program against it with pkg-config.
install-check:
	@MAKE="$(MAKE)" CC="$(CC)" SANFLAGS="$(SANFLAGS)" \
	  sh tests/install_test.sh $(B)

demo: deps all
	@sh scripts/demo.sh $(B)

bench: deps all $(BENCH_BIN)
	@sh scripts/bench.sh $(B)

# The gateway soak at full length (make check runs a 3000-request cut).
soak: deps tests
	LLMROUTE_TEST_BUILD=$(B) SOAK_REQUESTS=20000 $(B)/tests/test_soak

valgrind: deps tests
	@sh scripts/run-tests.sh $(B) valgrind

install: all
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib \
	  $(DESTDIR)$(PREFIX)/lib/llmroute/plugins $(DESTDIR)$(PREFIX)/bin \
	  $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 644 include/llmroute.h include/llmroute_plugin.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/libllmroute.so.0
	ln -sf libllmroute.so.0 $(DESTDIR)$(PREFIX)/lib/libllmroute.so
	install -m 644 $(LIB_A) $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(PLUGIN_SO) $(DESTDIR)$(PREFIX)/lib/llmroute/plugins/
	install -m 755 $(CLI) $(DESTDIR)$(PREFIX)/bin/
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(shell sed -n 's/^#define LR_VERSION "\(.*\)"/\1/p' include/llmroute.h)|' \
	  llmroute.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/llmroute.pc

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/include/llmroute.h $(DESTDIR)$(PREFIX)/include/llmroute_plugin.h
	rm -f $(DESTDIR)$(PREFIX)/lib/libllmroute.so $(DESTDIR)$(PREFIX)/lib/libllmroute.so.0 $(DESTDIR)$(PREFIX)/lib/libllmroute.a
	rm -rf $(DESTDIR)$(PREFIX)/lib/llmroute
	rm -f $(DESTDIR)$(PREFIX)/bin/llmroute $(DESTDIR)$(PREFIX)/lib/pkgconfig/llmroute.pc

clean:
	rm -rf build
