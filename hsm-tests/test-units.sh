#!/bin/bash
# The systemd units in contrib/ as systemd reads them: systemd-analyze
# verify (user mode) finds nothing to say, and neither unit restarts into a
# lockout: RestartPreventExitStatus= holds the usage (2), certificate/key
# (3) and password/PIN (4) exit codes of rasign(1).
#
# Run from the repo root: bash hsm-tests/test-units.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool systemd-analyze sed
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
RASIGN_ABS=$(cd "$(dirname "$RASIGN")" && pwd)/$(basename "$RASIGN")

# verify UNIT: systemd-analyze verify of a copy whose ExecStart= names the
# binary under test; no output, exit 0.
t_verify() {
	local unit=$1 out rc
	mkdir -p "$T/units" "$T/xdg"
	chmod 700 "$T/xdg"
	# All of them: a .socket is verified with the .service it starts.
	for f in contrib/*.service contrib/*.socket; do
		sed "s#/usr/local/bin/rasign#$RASIGN_ABS#" "$f" >"$T/units/${f#contrib/}"
	done
	out=$(XDG_RUNTIME_DIR=$T/xdg systemd-analyze --user verify --man=no \
		"$T/units/$unit" 2>&1)
	rc=$?
	echo "$out"
	[ "$rc" = 0 ] || fail "systemd-analyze verify exited $rc"
	[ -z "$out" ] || fail "systemd-analyze verify complained"
}

t_no_restart_into_lockout() {
	local unit=$1 codes c
	codes=$(sed -n 's/^RestartPreventExitStatus=//p' "contrib/$unit")
	echo "$unit: RestartPreventExitStatus=$codes"
	for c in 2 3 4; do
		printf '%s\n' $codes | grep -qx "$c" ||
			fail "$unit restarts after exit $c"
	done
	# The codes mean what the man page says they mean.
	for c in 2 3 4; do
		grep -A2 "^\.It $c\$" man/rasign.1 | grep -qi \
			"$(case $c in 2) echo usage ;; 3) echo certificate ;; 4) echo password ;; esac)" ||
			fail "rasign(1) does not give exit $c its meaning"
	done
}

# systemd-analyze security of a system copy (user mode has no offline
# check; %h becomes /root): sandboxed to an exposure of 2.5 at most (the
# units of 0.1 scored 7.9).
t_exposure() {
	local unit=$1 out
	mkdir -p "$T/sys"
	sed -e "s#/usr/local/bin/rasign#$RASIGN_ABS#" -e 's#%h#/root#g' \
		"contrib/$unit" >"$T/sys/$unit"
	out=$(cd "$T/sys" && systemd-analyze security --offline=yes --no-pager \
		--threshold=25 "$unit" 2>&1)
	local rc=$?
	echo "$out" | tail -1
	[ "$rc" = 0 ] || fail "exposure above 2.5: $(echo "$out" | grep '✗' | head -5)"
}

for u in rasign-serve.service rasign-update.service; do
	run_test "$u: systemd-analyze verify is silent" t_verify "$u"
	run_test "$u: systemd-analyze security exposure at most 2.5" t_exposure "$u"
	run_test "$u: never restarted after exit 2, 3 or 4" t_no_restart_into_lockout "$u"
done
run_test "rasign-serve.socket: systemd-analyze verify is silent" t_verify rasign-serve.socket
