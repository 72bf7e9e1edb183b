#!/bin/bash
# The build respects the machine: `make deps` installs only what is missing
# and, when it cannot install (not root), prints the packages and the
# command instead of failing in apt; a plain `make` with a library missing
# stops at once with one line naming its Debian package.
#
# Run from the repo root: bash hsm-tests/test-build.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool make setpriv pkg-config dpkg-query
ROOT=$(pwd)

# make ARGS in a copy of the Makefile (deps needs nothing else), without
# the MAKEFLAGS of a make check that runs this.
mk() {
	env -u MAKEFLAGS -u MAKELEVEL -u MFLAGS make --no-print-directory "$@"
}

# A library pkg-config cannot find: one line that names the Debian package,
# before any compiler runs (nothing is built).
t_missing_library() {
	cat >"$T/pkg-config" <<'EOF'
#!/bin/sh
for a; do [ "$a" = jansson ] && exit 1; done
exec pkg-config "$@"
EOF
	chmod +x "$T/pkg-config"
	mk -C "$ROOT" BUILD="$T/build" PKG_CONFIG="$T/pkg-config" "$T/build/rasign" \
		>"$T/out" 2>"$T/err"
	local rc=$?
	cat "$T/err"
	[ "$rc" != 0 ] || fail "make succeeded without jansson"
	grep -qx 'make: library jansson is missing: install the Debian package libjansson-dev (make deps does, as root)' \
		"$T/err" || fail "no line naming libjansson-dev"
	[ "$(grep -c 'error:' "$T/err")" = 0 ] || fail "the compiler ran: $(grep -m1 'error:' "$T/err")"
	[ ! -e "$T/build/obj" ] || fail "objects were built"
}

# Not root, a package missing: the list and the command, exit non-zero,
# and apt-get is not run.
t_deps_not_root() {
	mkdir -p "$T/tree"
	cp "$ROOT/Makefile" "$T/tree/"
	chmod 755 "$TESTDIR" "$T" "$T/tree"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory -C "$T/tree" deps \
		DEB_PKGS="make zz-no-such-package" >"$T/out" 2>&1
	local rc=$?
	cat "$T/out"
	[ "$rc" != 0 ] || fail "make deps succeeded with a package missing"
	grep -qx 'install them as root: apt-get install -y --no-install-recommends zz-no-such-package' \
		"$T/out" || fail "no command to run"
	grep -q 'Permission denied\|are you root\|E: ' "$T/out" && fail "apt-get was run"
	return 0
}

# Everything there: make deps says nothing and does nothing, as any user.
t_deps_nothing_missing() {
	mkdir -p "$T/tree"
	cp "$ROOT/Makefile" "$T/tree/"
	chmod 755 "$TESTDIR" "$T" "$T/tree"
	setpriv --reuid=nobody --regid=nogroup --clear-groups \
		env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory -C "$T/tree" deps \
		DEB_PKGS="make dpkg" >"$T/out" 2>&1 || fail "make deps failed: $(cat "$T/out")"
	[ ! -s "$T/out" ] || fail "make deps printed: $(cat "$T/out")"
}

run_test "a library missing: one line naming its Debian package, nothing compiled" t_missing_library
run_test "make deps, not root, a package missing: the command to run, no apt-get" t_deps_not_root
run_test "make deps with nothing missing: silent, as any user" t_deps_nothing_missing
