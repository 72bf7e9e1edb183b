#!/bin/bash
# The documents do what they say: README's private trial runs as written
# (against the local endpoint), the man page opens with "Getting started",
# and the ~/.aws/config line it shows is one rasign accepts.
#
# Run from the repo root: bash hsm-tests/test-docs.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool sed awk openssl "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

# The indented block under README's heading $1, unindented.
readme_block() {
	awk -v h="$1" '
		$0 == "## " h { inside = 1; next }
		inside && /^## / { exit }
		inside && /^    / { sub(/^    /, ""); print; code = 1; next }
		inside && code && /^$/ { print }
		inside && code && /^[^ ]/ { exit }
	' README.md
}

# README's trial, with its fixed port and /tmp/pki made private to the test
# and the build step left to make check: the endpoint answers, and the
# credentials come out as credential_process JSON.
t_readme_trial() {
	local port script
	port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	readme_block "A private trial, without an AWS account" >"$T/block"
	grep -q 'build/ra-endpoint' "$T/block" || fail "no trial block in README: $(cat "$T/block")"
	{
		echo 'set -e'
		sed -e '/^make /d' -e "s#/tmp/pki#$T/pki#g" -e "s#8443#$port#g" \
			-e "s#build/rasign#$RASIGN#g" -e "s#build/ra-endpoint#$RA_ENDPOINT#g" \
			-e 's#--port '"$port"' &#--port '"$port"' 2>"$T/ep.log" \& echo $! >"$T/ep.pid"; sleep 1#' \
			"$T/block"
	} >"$T/trial.sh"
	OUT=$T/stdout ERR=$T/stderr
	T=$T timeout 60 bash "$T/trial.sh" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
	kill "$(cat "$T/ep.pid" 2>/dev/null)" 2>/dev/null
	[ "$RC" = 0 ] || { show_run; cat "$T/trial.sh" "$T/ep.log"; fail "the trial exited $RC"; }
	[ "$($CHECK field "$OUT" Version)" = 1 ] || { show_run; fail "not credential_process JSON"; }
	$CHECK field "$OUT" AccessKeyId | grep -Eq '^ASIA[A-Z0-9]{16}$' ||
		{ show_run; fail "no AccessKeyId"; }
}

# Getting started comes before the reference of the first subcommand.
t_man_getting_started() {
	local gs cp
	gs=$(grep -n '^\.Ss Getting started$' man/rasign.1 | cut -d: -f1)
	cp=$(grep -n '^\.Ss credential-process$' man/rasign.1 | cut -d: -f1)
	[ -n "$gs" ] || fail "no 'Getting started' in rasign(1)"
	[ "$gs" -lt "$cp" ] || fail "'Getting started' comes after the reference"
}

# The config line of Getting started parses: every flag in it is known to
# credential-process, which then names the first placeholder left in it
# (exit 2) rather than sending it to the network.
t_man_config_line() {
	local line
	line=$(awk '/^\.Ss Getting started$/ { g = 1 } g && /^credential_process = / { p = 1 }
		p && /^\.Ed$/ { exit } p { print }' man/rasign.1 |
		sed 's/^credential_process = rasign //' | tr '\n' ' ')
	[ -n "$line" ] || fail "no credential_process line in Getting started"
	# shellcheck disable=SC2086 # the line's words
	run_rasign $line
	assert_failure 2 'TA_ID.*placeholder'
}

run_test "README's private trial runs as written" t_readme_trial
run_test "rasign(1) opens with Getting started" t_man_getting_started
run_test "Getting started's config line: every flag known" t_man_config_line
