# wotgw - Web of Things security gateway.
#
#   make deps      install every Debian package (and the npm test tools)
#   make demo      deps, build, then run wotgw on the example config (tools/demo.sh)
#   make           build wotgw and wotgw-passwd
#   make check     unit tests (plain and ASan+UBSan), fuzz regression,
#                  integration tests against the real daemon, lint
#   make install   DESTDIR=... PREFIX=/usr
#   make fuzz      libFuzzer targets (clang) in build-fuzz/
#   make format    clang-format the tree

PREFIX     ?= /usr
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= /lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
PLUGINDIR  ?= $(PREFIX)/lib/wotgw
DESTDIR    ?=
BUILDDIR   ?= build
SAN        ?= 0

CC         ?= cc
PKG_CONFIG ?= pkg-config
PKGS       := libsystemd jansson openssl libcrypt libmicrohttpd gnutls libcurl libcoap-3-gnutls \
              libmosquitto

PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)

WARN     := -Wall -Wextra -Werror -Wformat=2 -Wshadow -Wvla -Wstrict-prototypes \
            -Wmissing-prototypes -Wno-unused-parameter
ifeq ($(SAN),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
            -fno-sanitize-recover=undefined
SANLD    := -fsanitize=address,undefined
else
OPT      := -O2 -g -D_FORTIFY_SOURCE=3
SANLD    :=
endif
HARDEN   := -fstack-protector-strong -fPIE -fstack-clash-protection
CFLAGS_ALL  = -std=gnu17 $(OPT) $(WARN) $(HARDEN) -Isrc $(PKG_CFLAGS) $(CFLAGS) \
              -DSYSCONFDIR='"$(SYSCONFDIR)"'
LDFLAGS_ALL = -pie -Wl,-z,relro,-z,now $(SANLD) $(LDFLAGS)

PROG_SRCS := src/main.c src/wotgw-passwd.c
# The mosquitto broker plugin (src/mosquitto/): a shared object built from
# position-independent copies of the same library objects.
PLUGIN_SRCS := $(sort $(wildcard src/mosquitto/*.c))
LIB_SRCS  := $(filter-out $(PROG_SRCS) $(PLUGIN_SRCS),$(sort $(shell find src -name '*.c')))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILDDIR)/%.o)
LIB       := $(BUILDDIR)/libwotgw.a

UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILDDIR)/tests/%)
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_REGR := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILDDIR)/fuzz-regress/%)

BINS := $(BUILDDIR)/wotgw $(BUILDDIR)/wotgw-passwd
# The simulated nosec device of the demo, the tests and the benchmarks.
SIM_SRCS := $(sort $(wildcard tests/sim/*.c))
SIM      := $(if $(SIM_SRCS),$(BUILDDIR)/wotgw-simdev)
PLUGIN   := $(if $(PLUGIN_SRCS),$(BUILDDIR)/wotgw_mosquitto.so)
# An OSCORE client for the tests (no packaged one exists on Debian 12).
OSCORE_CLIENT := $(BUILDDIR)/wotgw-oscore-client
PIC_OBJS := $(PLUGIN_SRCS:%.c=$(BUILDDIR)/pic/%.o) $(LIB_SRCS:%.c=$(BUILDDIR)/pic/%.o)

.PHONY: all clean check unit unit-asan fuzz-regress integration lint deps install \
        uninstall format format-check fuzz bench bench-mqtt bench-coaps bench-oscore bench-cose demo

all: $(BINS) $(SIM) $(PLUGIN) $(OSCORE_CLIENT)

$(BUILDDIR)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

$(BUILDDIR)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(filter-out -fPIE,$(CFLAGS_ALL)) -fPIC -MMD -MP -c -o $@ $<

$(BUILDDIR)/wotgw_mosquitto.so: $(PIC_OBJS) src/mosquitto/exports.map
	$(CC) -shared -o $@ $(PIC_OBJS) -Wl,--version-script=src/mosquitto/exports.map \
	  -Wl,-z,relro,-z,now $(SANLD) $(LDFLAGS) $(PKG_LIBS)

$(LIB): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILDDIR)/wotgw: $(BUILDDIR)/src/main.o $(LIB)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(PKG_LIBS)

$(BUILDDIR)/wotgw-passwd: $(BUILDDIR)/src/wotgw-passwd.o $(LIB)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(PKG_LIBS)

$(BUILDDIR)/wotgw-simdev: $(SIM_SRCS:%.c=$(BUILDDIR)/%.o) $(LIB)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(PKG_LIBS)

$(OSCORE_CLIENT): $(BUILDDIR)/tests/tools/oscore-client.o $(LIB)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(PKG_LIBS)

$(BUILDDIR)/tests/%: $(BUILDDIR)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(PKG_LIBS) $(shell $(PKG_CONFIG) --libs cmocka)

$(BUILDDIR)/fuzz-regress/%: $(BUILDDIR)/tests/fuzz/%.o $(BUILDDIR)/tests/fuzz/standalone.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDFLAGS_ALL) $(PKG_LIBS)

$(BUILDDIR)/tests/fuzz/standalone.o: tests/fuzz/standalone.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

-include $(shell find $(BUILDDIR) -name '*.d' 2>/dev/null)

# ---- tests -----------------------------------------------------------------
# Every runner prints its own results; tests/run-check.sh adds them up and
# ends with one "check: N passed, N failed" line.
unit: $(UNIT_BINS) $(BINS) $(SIM) $(PLUGIN)
	@tests/run-unit.sh $(BUILDDIR) $(UNIT_BINS)

fuzz-regress: $(FUZZ_REGR)
	@tests/run-fuzz-regress.sh $(FUZZ_REGR)

check:
	@tests/run-check.sh

integration: $(BINS) $(SIM) $(PLUGIN)
	@tests/run-integration.sh $(BUILDDIR)

lint:
	@tests/lint.sh

# ---- fuzzing (clang, libFuzzer) -------------------------------------------
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)
fuzz:
	$(MAKE) CC=clang BUILDDIR=build-fuzz SAN=1 \
	  CFLAGS="-fsanitize=fuzzer-no-link -Wno-error=unused-command-line-argument" \
	  build-fuzz/libwotgw.a
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  echo "  FUZZ $$n"; \
	  clang -std=gnu17 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc $(PKG_CFLAGS) \
	    -o build-fuzz/$$n $$f build-fuzz/libwotgw.a $(PKG_LIBS) || exit 1; done

# ---- benchmarks (not part of check) ----------------------------------------
bench: all
	tests/bench/run.sh
bench-mqtt: all
	tests/bench/mqtt.sh
bench-coaps: all
	tests/bench/coaps.sh
bench-oscore: all
	tests/bench/oscore.sh
bench-cose: all
	tests/bench/cose.sh

# ---- the demo (README's first command) ------------------------------------------
# A sub-make after deps: pkg-config flags are read when make starts.
demo:
	@tools/deps.sh
	@$(MAKE) -s -j2 all
	@tools/demo.sh

# ---- dependencies -------------------------------------------------------------
deps:
	@tools/deps.sh

# ---- install -------------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
	  $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BUILDDIR)/wotgw $(BUILDDIR)/wotgw-passwd $(DESTDIR)$(SBINDIR)/
	install -m 0644 systemd/wotgw.service systemd/wotgw-mqtt.service $(DESTDIR)$(UNITDIR)/
	install -d $(DESTDIR)$(PLUGINDIR)
	install -m 0644 $(BUILDDIR)/wotgw_mosquitto.so $(DESTDIR)$(PLUGINDIR)/
	install -m 0644 systemd/wotgw.sysusers $(DESTDIR)$(SYSUSERSDIR)/wotgw.conf
	install -m 0644 man/wotgw.8 man/wotgw-passwd.8 $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 man/wotgw.conf.5 $(DESTDIR)$(MANDIR)/man5/
	@# the group through which the daemon (a DynamicUser) reads /etc/wotgw
	@if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
	  systemd-sysusers $(SYSUSERSDIR)/wotgw.conf; fi
	install -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/wotgw $(DESTDIR)$(SYSCONFDIR)/wotgw/things
	@# never overwrite an installer's files
	@for f in wotgw.conf mosquitto/wotgw.conf:mosquitto.conf \
	    things/lamp.td.json things/thermometer.td.json; do \
	  src=$${f%%:*}; dst=$${f#*:}; \
	  if [ -e $(DESTDIR)$(SYSCONFDIR)/wotgw/$$dst ]; then \
	    echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/wotgw/$$dst"; \
	  else install -m 0640 conf/$$src $(DESTDIR)$(SYSCONFDIR)/wotgw/$$dst; fi; done
	@if [ -z "$(DESTDIR)" ] && getent group wotgw >/dev/null; then \
	  chgrp wotgw $(SYSCONFDIR)/wotgw $(SYSCONFDIR)/wotgw/things $(SYSCONFDIR)/wotgw/wotgw.conf \
	    $(SYSCONFDIR)/wotgw/mosquitto.conf $(SYSCONFDIR)/wotgw/things/*.td.json; fi

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/wotgw $(DESTDIR)$(SBINDIR)/wotgw-passwd \
	  $(DESTDIR)$(UNITDIR)/wotgw.service $(DESTDIR)$(UNITDIR)/wotgw-mqtt.service \
	  $(DESTDIR)$(PLUGINDIR)/wotgw_mosquitto.so $(DESTDIR)$(MANDIR)/man8/wotgw.8 \
	  $(DESTDIR)$(MANDIR)/man8/wotgw-passwd.8 $(DESTDIR)$(MANDIR)/man5/wotgw.conf.5 \
	  $(DESTDIR)$(SYSUSERSDIR)/wotgw.conf
	@echo "left $(DESTDIR)$(SYSCONFDIR)/wotgw and the group wotgw in place"

format:
	clang-format -i $$(find src tests -name '*.[ch]')

format-check:
	clang-format --dry-run --Werror $$(find src tests -name '*.[ch]')

clean:
	rm -rf build build-asan build-fuzz
