# rasign: plain make, pkg-config for every library.
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
PKG_CONFIG ?= pkg-config
SANITIZE ?=
# A prefix for every rasign run of the tests: make check CHECKER=valgrind
CHECKER ?=
# FUZZ=1: the library built with clang for libFuzzer (see `make fuzz`).
FUZZ ?=
BUILD ?= $(if $(FUZZ),build-fuzz,$(if $(SANITIZE),build-asan,build))

WITH_PKCS11 ?= 1
WITH_TPM2 ?= 1
# libsystemd: serve's socket activation and serve/update's sd_notify.
WITH_SYSTEMD ?= 1
# The SPIFFE Workload API (--spiffe-endpoint): the gRPC C core and protobuf-c.
WITH_SPIFFE ?= 1
LIBS_TPM2 = tss2-esys tss2-tctildr tss2-mu tss2-rc
LIBS_CORE = libcrypto libssl libcurl jansson libmicrohttpd $(if $(WITH_PKCS11),p11-kit-1) \
	$(if $(WITH_TPM2),$(LIBS_TPM2)) $(if $(WITH_SYSTEMD),libsystemd) \
	$(if $(WITH_SPIFFE),libprotobuf-c)
# Headers only: src/spiffe.c loads libgrpc with dlopen (see there why).
LIBS_HDR = $(if $(WITH_SPIFFE),grpc)
# The name to dlopen: the SONAME of the libgrpc.so the linker would take.
GRPC_SONAME := $(if $(WITH_SPIFFE),$(shell objdump -p "$$($(CC) -print-file-name=libgrpc.so)" 2>/dev/null | sed -n 's/^ *SONAME *//p'))
LIBS_ENDPOINT = libmicrohttpd libcrypto libssl jansson

# Debian packages: what `make deps` installs when missing.
DEB_BUILD = build-essential pkg-config libssl-dev libcurl4-openssl-dev \
	libjansson-dev libmicrohttpd-dev libcmocka-dev libp11-kit-dev libtss2-dev \
	libsystemd-dev libgrpc-dev libprotobuf-c-dev protobuf-c-compiler \
	libprotobuf-dev
DEB_TEST = openssl ca-certificates mandoc python3 util-linux bsdutils procps curl awscli systemd \
	valgrind zsh fish python3-grpcio python3-grpc-tools python3-protobuf strace \
	p11-kit softhsm2 opensc gnutls-bin libengine-pkcs11-openssl \
	swtpm swtpm-tools tpm2-tools tpm2-openssl
# libFuzzer comes with clang's runtime libraries (`make fuzz`).
DEB_FUZZ = clang libclang-rt-14-dev
DEB_PKGS = $(DEB_BUILD) $(DEB_TEST) $(DEB_FUZZ)
# Only for `make bench` (installed by bench-deps, not by deps).
DEB_BENCH = hyperfine wrk time curl

CFLAGS ?= -O2 -g
WARN = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2
DEFS = -std=c11 -D_GNU_SOURCE -DOPENSSL_API_COMPAT=30000 -DOPENSSL_NO_DEPRECATED
ifneq ($(FUZZ),)
CC = clang
# clang's -Wformat=2 also flags vsnprintf(fmt, ap) in err.c's printf-like
# helper, which gcc accepts; its callers are format-checked already.
WARN += -Wno-format-nonliteral
CFLAGS = -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
	-fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=fuzzer,address,undefined
else ifneq ($(SANITIZE),)
CFLAGS += -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# Hardening, on by default (HARDEN= turns it off). Each flag the compiler
# might lack is probed once, with the CFLAGS in force: _FORTIFY_SOURCE
# works only when optimising (level 3 needs gcc 12 or clang 9 and glibc
# 2.34), and is left out of the ASan build, whose interceptors replace the
# checked functions. clang 14 gates -ftrivial-auto-var-init=zero behind a
# flag its authors call "for benchmarking only": we take it only where the
# compiler accepts it plainly (gcc 12, clang 16).
HARDEN ?= 1
HASH := \#
# probe FLAGS: FLAGS when $(CC) compiles and links a program with them.
probe = $(shell printf '%s\n' '$(HASH)include <stdio.h>' \
	'int main(void) { char b[8]; snprintf(b, sizeof(b), "x"); return b[0]; }' | \
	$(CC) -Werror $(CFLAGS) $(1) -x c - -o /dev/null >/dev/null 2>&1 && \
	echo '$(1)')
# fortify N: -D_FORTIFY_SOURCE=N when glibc really uses level N.
fortify = $(shell printf '%s\n' '$(HASH)include <stdio.h>' \
	'$(HASH)if __USE_FORTIFY_LEVEL < $(1)' '$(HASH)error' '$(HASH)endif' \
	'int main(void) { return 0; }' | $(CC) -Werror $(CFLAGS) \
	-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=$(1) -x c - -o /dev/null \
	>/dev/null 2>&1 && echo '-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=$(1)')
ifneq ($(HARDEN),)
HARDEN_FORTIFY := $(if $(SANITIZE),,$(or $(call fortify,3),$(call fortify,2)))
HARDEN_CFLAGS := -fPIE -fstack-protector-strong $(HARDEN_FORTIFY) \
	$(call probe,-fstack-clash-protection) $(call probe,-fcf-protection) \
	$(call probe,-ftrivial-auto-var-init=zero)
HARDEN_LDFLAGS := -pie -Wl,-z,relro,-z,now -Wl,-z,noexecstack
endif
ALL_CFLAGS = $(DEFS) $(WARN) -Isrc -Iproviders $(if $(WITH_PKCS11),-DWITH_PKCS11) \
	$(if $(WITH_TPM2),-DWITH_TPM2) $(if $(WITH_SYSTEMD),-DWITH_SYSTEMD) \
	$(if $(WITH_SPIFFE),-DWITH_SPIFFE -I$(GEN) \
	$(if $(GRPC_SONAME),-DGRPC_SONAME='"$(GRPC_SONAME)"')) $(HARDEN_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(HARDEN_LDFLAGS) $(LDFLAGS)

SRC = src/main.c src/options.c src/sigv4x509.c src/session.c src/http.c \
	src/x509.c src/creds.c src/secret.c src/err.c src/log.c \
	src/files.c src/keyauth.c src/arn.c src/identity.c src/endpoint.c src/selector.c src/source.c src/schedule.c src/refresher.c src/serve.c src/systemd.c src/cache.c \
	src/credfile.c \
	src/cmd_credential_process.c src/cmd_version.c \
	src/cmd_sign_string.c src/cmd_read_certificate_data.c \
	src/cmd_serve.c src/cmd_update.c src/cmd_exec.c src/cmd_completion.c \
	providers/registry.c providers/auth.c providers/file.c \
	$(if $(WITH_PKCS11),providers/pkcs11.c providers/p11find.c providers/p11uri.c) \
	$(if $(WITH_TPM2),providers/tpm2.c providers/tpm2key.c) \
	$(if $(WITH_SPIFFE),src/spiffe.c,src/spiffe_none.c)
# The tool minus main(): what the unit tests link against.
LIBSRC = $(filter-out src/main.c src/cmd_%.c,$(SRC))
# C for the Workload API's messages, generated by protoc-c from the
# standard's workload.proto (and the struct.proto it imports, from
# libprotobuf-dev) at build time.
GEN = $(BUILD)/gen
PROTO_INCLUDE ?= $(shell $(PKG_CONFIG) --variable=includedir protobuf 2>/dev/null || echo /usr/include)
GEN_SRC = $(if $(WITH_SPIFFE),$(GEN)/workload.pb-c.c $(GEN)/google/protobuf/struct.pb-c.c)
GEN_OBJ = $(GEN_SRC:%.c=%.o)
OBJ = $(SRC:%.c=$(BUILD)/obj/%.o) $(GEN_OBJ)
LIBOBJ = $(LIBSRC:%.c=$(BUILD)/obj/%.o) $(GEN_OBJ)

UNIT_TESTS = $(BUILD)/unit/test_sigv4 $(BUILD)/unit/test_parse $(BUILD)/unit/test_credfile \
	$(BUILD)/unit/test_schedule $(BUILD)/unit/test_files $(BUILD)/unit/test_proxy
# One fuzz target per hsm-tests/fuzz/fuzz_NAME.c, each with its seed corpus
# in hsm-tests/fuzz/corpus/NAME/ and an optional dictionary NAME.dict.
FUZZ_NAMES = $(patsubst hsm-tests/fuzz/fuzz_%.c,%,$(wildcard hsm-tests/fuzz/fuzz_*.c))
# The same targets as plain programs (driver.c for main), for make check.
FUZZ_DRIVERS = $(FUZZ_NAMES:%=$(BUILD)/fuzz/%)
# Helpers that the shell tests run against real tokens.
TEST_TOOLS = $(if $(WITH_PKCS11),$(BUILD)/unit/p11_reopen $(BUILD)/unit/p11_flags.so) \
	$(if $(WITH_TPM2),$(BUILD)/unit/tpm_reopen)
ENDPOINT_SRC = $(wildcard hsm-tests/endpoint/*.c)

.PHONY: all check check-unit check-e2e demo deps install install-units uninstall lint clean deb deb-check

all: $(BUILD)/rasign

$(BUILD)/obj/%.o: %.c $(wildcard src/*.h providers/*.h) Makefile | check-libs
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $$($(PKG_CONFIG) --cflags $(LIBS_CORE) $(LIBS_HDR) | \
		sed 's/-I/-isystem /g') -c -o $@ $<

$(GEN)/workload.pb-c.c $(GEN)/workload.pb-c.h: proto/spiffe/workload/workload.proto
	@mkdir -p $(GEN)
	protoc-c -Iproto/spiffe/workload -I$(PROTO_INCLUDE) --c_out=$(GEN) $<

$(GEN)/google/protobuf/struct.pb-c.c $(GEN)/google/protobuf/struct.pb-c.h:
	@mkdir -p $(GEN)
	protoc-c -I$(PROTO_INCLUDE) --c_out=$(GEN) google/protobuf/struct.proto

# Generated code is not ours to fix: built without -Werror and our warnings.
$(GEN)/%.pb-c.o: $(GEN)/%.pb-c.c $(GEN)/workload.pb-c.h \
		$(GEN)/google/protobuf/struct.pb-c.h | check-libs
	$(CC) $(DEFS) -I$(GEN) $(HARDEN_CFLAGS) $(CFLAGS) \
		$$($(PKG_CONFIG) --cflags libprotobuf-c) -c -o $@ $<

$(BUILD)/obj/src/spiffe.o: $(GEN)/workload.pb-c.h $(GEN)/google/protobuf/struct.pb-c.h

$(BUILD)/rasign: $(OBJ)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) -o $@ $(OBJ) $$($(PKG_CONFIG) --libs $(LIBS_CORE))

$(BUILD)/ra-endpoint: $(ENDPOINT_SRC) $(wildcard hsm-tests/endpoint/*.h)
	@mkdir -p $(BUILD)
	$(CC) $(DEFS) $(WARN) $(CFLAGS) $(LDFLAGS) \
		$$($(PKG_CONFIG) --cflags $(LIBS_ENDPOINT)) -o $@ $(ENDPOINT_SRC) \
		$$($(PKG_CONFIG) --libs $(LIBS_ENDPOINT)) -lpthread

$(BUILD)/unit/%: hsm-tests/unit/%.c $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) \
		$$($(PKG_CONFIG) --cflags cmocka $(LIBS_CORE)) -o $@ \
		$< $(LIBOBJ) $$($(PKG_CONFIG) --libs cmocka $(LIBS_CORE)) -ldl

# A PKCS#11 module in front of SoftHSM that adds token flags (lockout tests).
$(BUILD)/unit/p11_flags.so: hsm-tests/unit/p11_flags.c
	@mkdir -p $(dir $@)
	$(CC) $(DEFS) $(WARN) $(CFLAGS) $(LDFLAGS) -shared -fPIC \
		$$($(PKG_CONFIG) --cflags p11-kit-1) -o $@ $< -ldl

$(BUILD)/fuzz/%: hsm-tests/fuzz/fuzz_%.c hsm-tests/fuzz/driver.c \
		$(wildcard hsm-tests/fuzz/*.h) $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ihsm-tests/fuzz $(LDFLAGS) \
		$$($(PKG_CONFIG) --cflags $(LIBS_CORE) | sed 's/-I/-isystem /g') \
		-o $@ $< hsm-tests/fuzz/driver.c $(LIBOBJ) \
		$$($(PKG_CONFIG) --libs $(LIBS_CORE))

# The same tool without the optional backends, in a build directory of its
# own, for the tests of what such a build says about pkcs11: URIs and TPM keys.
NOBACKENDS = $(BUILD)-nobackends
$(NOBACKENDS)/rasign: $(SRC) $(wildcard src/*.h providers/*.h) Makefile
	$(MAKE) --no-print-directory BUILD=$(NOBACKENDS) WITH_PKCS11= WITH_TPM2= \
		$(NOBACKENDS)/rasign

# The tests: unit tests, then end to end against the local endpoint.
check: deps $(BUILD)/rasign $(BUILD)/ra-endpoint $(UNIT_TESTS) $(TEST_TOOLS) \
		$(FUZZ_DRIVERS) $(NOBACKENDS)/rasign lint
	RASIGN=$(BUILD)/rasign RA_ENDPOINT=$(BUILD)/ra-endpoint \
		RASIGN_NOBACKENDS=$(NOBACKENDS)/rasign \
		P11_REOPEN=$(BUILD)/unit/p11_reopen P11_FLAGS=$(BUILD)/unit/p11_flags.so \
		FUZZ_DRIVERS=$(BUILD)/fuzz TPM_REOPEN=$(BUILD)/unit/tpm_reopen \
		UNIT_TESTS="$(UNIT_TESTS)" CHECKER="$(CHECKER)" bash hsm-tests/run-all.sh

# The main job end to end: credentials from the embedded local endpoint.
demo: deps $(BUILD)/rasign $(BUILD)/ra-endpoint
	RASIGN=$(BUILD)/rasign RA_ENDPOINT=$(BUILD)/ra-endpoint \
		bash hsm-tests/demo.sh

# The benchmark suite: one table (and build/bench.csv) of medians beside the
# floor measured in the same run. Not a test, and never part of check.
# bench/floor needs WITH_PKCS11 and WITH_TPM2 (it times both backends).
.PHONY: bench bench-deps
BENCH_TOOLS = $(BUILD)/bench/floor $(BUILD)/bench/noop

bench: deps bench-deps $(BUILD)/rasign $(BUILD)/ra-endpoint $(BENCH_TOOLS)
	RASIGN=$(BUILD)/rasign RA_ENDPOINT=$(BUILD)/ra-endpoint \
		FLOOR=$(BUILD)/bench/floor NOOP=$(BUILD)/bench/noop \
		BENCH_CSV=$(BUILD)/bench.csv bash bench/run.sh

$(BUILD)/bench/floor: bench/floor.c $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS) $$($(PKG_CONFIG) --cflags $(LIBS_CORE) | \
		sed 's/-I/-isystem /g') -o $@ bench/floor.c $(LIBOBJ) \
		$$($(PKG_CONFIG) --libs $(LIBS_CORE))

$(BUILD)/bench/noop: bench/noop.c
	@mkdir -p $(dir $@)
	$(CC) $(DEFS) $(WARN) $(CFLAGS) $(LDFLAGS) -o $@ bench/noop.c

# Fuzzing: every target built with libFuzzer, ASan and UBSan (clang), the
# library's objects in build-fuzz/, then each run for FUZZ_SECONDS on a copy
# of its corpus. Fails on the first crash and says where the input is.
.PHONY: fuzz fuzz-build
FUZZ_SECONDS ?= 60
FUZZ_BINS = $(FUZZ_NAMES:%=$(BUILD)/libfuzzer/%)

fuzz: deps
	$(MAKE) FUZZ=1 fuzz-build
	FUZZ_BIN=build-fuzz/libfuzzer FUZZ_WORK=build-fuzz/work \
		FUZZ_SECONDS=$(FUZZ_SECONDS) bash hsm-tests/fuzz/run.sh $(FUZZ_NAMES)

fuzz-build: $(FUZZ_BINS)

$(BUILD)/libfuzzer/%: hsm-tests/fuzz/fuzz_%.c \
		$(wildcard hsm-tests/fuzz/*.h) $(LIBOBJ)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Ihsm-tests/fuzz $(LDFLAGS) \
		$$($(PKG_CONFIG) --cflags $(LIBS_CORE) | sed 's/-I/-isystem /g') \
		-o $@ $< $(LIBOBJ) $$($(PKG_CONFIG) --libs $(LIBS_CORE))

bench-deps:
	@$(call install_missing,$(DEB_BENCH))

# Installs the Debian packages that are missing; does nothing otherwise.
# Not root, or no apt: prints the list and the command, and stops.
install_missing = have=" $$(dpkg-query -W -f='$${Package}=$${db:Status-Status} ' \
		$(1) 2>/dev/null) "; \
	missing=$$(for p in $(1); do case "$$have" in *" $$p=installed "*) ;; \
		*) echo $$p ;; esac; done); \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "rasign needs these Debian packages, which are missing:" $$missing; \
		echo "install them as root: apt-get install -y --no-install-recommends" $$missing; \
		echo "(on another system, install their equivalents; see README.md)"; \
		exit 1; \
	else \
		echo "installing:" $$missing; \
		apt-get update && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y --no-install-recommends $$missing; \
	fi

# Before any compiler runs: each library pkg-config must find, with the
# Debian package that has it, so a missing one is one line, not a cascade.
PC_DEB = libcrypto:libssl-dev libssl:libssl-dev libcurl:libcurl4-openssl-dev \
	jansson:libjansson-dev libmicrohttpd:libmicrohttpd-dev \
	p11-kit-1:libp11-kit-dev tss2-esys:libtss2-dev tss2-tctildr:libtss2-dev \
	tss2-mu:libtss2-dev tss2-rc:libtss2-dev libsystemd:libsystemd-dev \
	cmocka:libcmocka-dev grpc:libgrpc-dev libprotobuf-c:libprotobuf-c-dev
.PHONY: check-libs
check-libs:
	@command -v $(PKG_CONFIG) >/dev/null || { echo "make: $(PKG_CONFIG) is \
	missing (Debian package pkg-config): run make deps as root" >&2; exit 1; }; \
	for pair in $(PC_DEB); do \
		mod=$${pair%%:*}; deb=$${pair#*:}; \
		case " $(LIBS_CORE) $(LIBS_HDR) $(LIBS_ENDPOINT) " in *" $$mod "*) ;; *) continue ;; esac; \
		$(PKG_CONFIG) --exists $$mod || { echo "make: library $$mod is \
	missing: install the Debian package $$deb (make deps does, as root)" >&2; \
		exit 1; }; \
	done

deps:
	@$(call install_missing,$(DEB_PKGS))

lint:
	mandoc -Tlint -Wwarning man/rasign.1

# Where each shell looks (bash-completion loads by command name; zsh's
# Debian fpath has vendor-completions for /usr, site-functions otherwise).
BASHCOMPDIR = $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR = $(PREFIX)/share/zsh/$(if $(filter /usr,$(PREFIX)),vendor-completions,site-functions)
FISHCOMPDIR = $(PREFIX)/share/fish/vendor_completions.d
UNITS = rasign-serve.service rasign-serve.socket rasign-update.service
UNITDIR = $(PREFIX)/lib/systemd/user

# aws_signing_helper is a plain link, not update-alternatives: no Debian
# package ships that name, and the Go helper installed by hand goes to
# /usr/local/bin, which comes first on PATH and wins without any switch.
install: $(BUILD)/rasign
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/rasign $(DESTDIR)$(PREFIX)/bin/rasign
	ln -sf rasign $(DESTDIR)$(PREFIX)/bin/aws_signing_helper
	install -m 0644 man/rasign.1 $(DESTDIR)$(PREFIX)/share/man/man1/rasign.1
	ln -sf rasign.1 $(DESTDIR)$(PREFIX)/share/man/man1/aws_signing_helper.1
	install -d $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) \
		$(DESTDIR)$(FISHCOMPDIR)
	$(BUILD)/rasign completion bash >$(DESTDIR)$(BASHCOMPDIR)/rasign
	ln -sf rasign $(DESTDIR)$(BASHCOMPDIR)/aws_signing_helper
	$(BUILD)/rasign completion zsh >$(DESTDIR)$(ZSHCOMPDIR)/_rasign
	$(BUILD)/rasign completion fish >$(DESTDIR)$(FISHCOMPDIR)/rasign.fish
	ln -sf rasign.fish $(DESTDIR)$(FISHCOMPDIR)/aws_signing_helper.fish
	chmod 0644 $(DESTDIR)$(BASHCOMPDIR)/rasign $(DESTDIR)$(ZSHCOMPDIR)/_rasign \
		$(DESTDIR)$(FISHCOMPDIR)/rasign.fish

# The systemd user units, naming the installed binary; not enabled (their
# ARNs are placeholders: `systemctl --user edit --full rasign-serve`).
install-units:
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(PREFIX)/share/doc/rasign
	for u in $(UNITS); do \
		sed 's#/usr/local/bin/rasign#$(PREFIX)/bin/rasign#' contrib/$$u \
			>$(DESTDIR)$(UNITDIR)/$$u && chmod 0644 $(DESTDIR)$(UNITDIR)/$$u; \
	done
	install -m 0644 contrib/README.md \
		$(DESTDIR)$(PREFIX)/share/doc/rasign/README.systemd.md

uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/rasign \
		$(DESTDIR)$(PREFIX)/bin/aws_signing_helper \
		$(DESTDIR)$(PREFIX)/share/man/man1/rasign.1 \
		$(DESTDIR)$(PREFIX)/share/man/man1/aws_signing_helper.1 \
		$(DESTDIR)$(BASHCOMPDIR)/rasign $(DESTDIR)$(BASHCOMPDIR)/aws_signing_helper \
		$(DESTDIR)$(ZSHCOMPDIR)/_rasign $(DESTDIR)$(FISHCOMPDIR)/rasign.fish \
		$(DESTDIR)$(FISHCOMPDIR)/aws_signing_helper.fish \
		$(addprefix $(DESTDIR)$(UNITDIR)/,$(UNITS)) \
		$(DESTDIR)$(PREFIX)/share/doc/rasign/README.systemd.md

# The Debian package, built from a copy of the tree in build/deb (so that
# dpkg-buildpackage's output lands there, not beside the source).
DEB_VERSION = $(shell sed -n 's/.*RASIGN_VERSION "\(.*\)"/\1/p' src/version.h)
deb:
	@$(call install_missing,debhelper dpkg-dev lintian)
	rm -rf build/deb && mkdir -p build/deb/rasign-$(DEB_VERSION)
	tar --exclude='./build*' --exclude=./.git -cf - . | \
		tar -C build/deb/rasign-$(DEB_VERSION) -xf -
	cd build/deb/rasign-$(DEB_VERSION) && dpkg-buildpackage -us -uc -b
	@ls build/deb/*.deb

# CI, as root: the package installs, its /usr/bin/rasign gets credentials
# from the local endpoint with a file, a SoftHSM and a swtpm key (the
# demo), lintian finds nothing, and it purges.
deb-check: deb $(BUILD)/ra-endpoint
	lintian --allow-root --fail-on error,warning \
		build/deb/rasign_$(DEB_VERSION)_*.changes
	apt-get install -y ./build/deb/rasign_$(DEB_VERSION)_*.deb
	test "$$(readlink /usr/bin/aws_signing_helper)" = rasign
	bash -c '. /usr/share/bash-completion/completions/rasign && \
		complete -p rasign aws_signing_helper'
	test -s /usr/share/zsh/vendor-completions/_rasign
	test -s /usr/share/fish/vendor_completions.d/rasign.fish
	man -w aws_signing_helper >/dev/null
	RASIGN=/usr/bin/rasign RA_ENDPOINT=$(BUILD)/ra-endpoint \
		bash hsm-tests/demo.sh
	apt-get purge -y rasign
	test ! -e /usr/bin/rasign

clean:
	rm -rf build build-asan build-fuzz build-nobackends build-asan-nobackends

.PHONY: print-harden
print-harden:
	@echo 'HARDEN_CFLAGS=$(HARDEN_CFLAGS)'
	@echo 'HARDEN_LDFLAGS=$(HARDEN_LDFLAGS)'
