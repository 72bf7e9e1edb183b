#!/bin/bash
# checksec-style checks of the built binary: what the Makefile's hardening
# flags promise must be visible in the ELF file, read with readelf.
#   PIE (type DYN, FLAGS_1 PIE)      -fPIE -pie
#   BIND_NOW and GNU_RELRO           -Wl,-z,relro,-z,now (full RELRO)
#   a GNU_STACK without E            -Wl,-z,noexecstack
#   __stack_chk_fail imported        -fstack-protector-strong
#   __*_chk functions imported       -D_FORTIFY_SOURCE (absent from ASan
#                                    builds, whose interceptors check instead)
#
# Run from the repo root: bash hsm-tests/test-hardening.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool readelf
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"

readelf -hW "$RASIGN" >"$TESTDIR/header" 2>&1 || bail_out "readelf -h failed"
readelf -dW "$RASIGN" >"$TESTDIR/dynamic" 2>&1 || bail_out "readelf -d failed"
readelf -lW "$RASIGN" >"$TESTDIR/segments" 2>&1 || bail_out "readelf -l failed"
readelf --dyn-syms -W "$RASIGN" >"$TESTDIR/dynsyms" 2>&1 ||
	bail_out "readelf --dyn-syms failed"

t_pie() {
	grep -Eq '^ *Type: *DYN' "$TESTDIR/header" ||
		fail "ELF type is not DYN: $(grep Type: "$TESTDIR/header")"
	grep -Eq 'FLAGS_1.*PIE' "$TESTDIR/dynamic" ||
		fail "no PIE in FLAGS_1: a shared object, not a PIE executable"
}

t_bind_now() {
	grep -Eq '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|FLAGS_1.*NOW' \
		"$TESTDIR/dynamic" || fail "no BIND_NOW: RELRO is only partial"
}

t_relro() {
	grep -Eq '^ *GNU_RELRO ' "$TESTDIR/segments" || fail "no GNU_RELRO segment"
}

t_nx_stack() {
	local flags
	flags=$(awk '$1 == "GNU_STACK" { print $7 }' "$TESTDIR/segments")
	[ -n "$flags" ] || fail "no GNU_STACK segment: the stack may be executable"
	case $flags in *E*) fail "GNU_STACK is executable ($flags)" ;; esac
}

t_stack_protector() {
	grep -q ' __stack_chk_fail' "$TESTDIR/dynsyms" ||
		fail "__stack_chk_fail is not imported: no stack protector"
}

# The ASan build leaves _FORTIFY_SOURCE out on purpose (its interceptors
# check the same calls): there it must be absent, so a build that merely
# lost the flag is not mistaken for one.
t_fortify() {
	if grep -q ' __asan_init' "$TESTDIR/dynsyms" ||
		readelf -sW "$RASIGN" | grep -q ' __asan_init'; then
		echo "ASan build: no _FORTIFY_SOURCE"
		if grep -Eq ' __(memcpy|snprintf|vsnprintf|sprintf)_chk@' \
			"$TESTDIR/dynsyms"; then
			fail "an ASan build with _FORTIFY_SOURCE"
		fi
		return 0
	fi
	grep -Eq ' __[a-z]+_chk@' "$TESTDIR/dynsyms" ||
		fail "no __*_chk function imported: not built with _FORTIFY_SOURCE"
}

run_test "PIE executable (ELF type DYN, FLAGS_1 PIE)" t_pie
run_test "BIND_NOW (full RELRO)" t_bind_now
run_test "GNU_RELRO segment" t_relro
run_test "non-executable GNU_STACK" t_nx_stack
run_test "stack protector (__stack_chk_fail)" t_stack_protector
run_test "_FORTIFY_SOURCE (__*_chk functions)" t_fortify
