#!/bin/bash
# Hostile input and process hardening (issues 10 and 12), end to end:
# - a service answer full of terminal escapes reaches stderr escaped;
# - no PIN stays in /proc/PID/cmdline, however many pin-value a URI has,
#   and no flag's value (a misplaced password) is echoed in an error;
# - every subcommand starts with fds 0-2 open, no core file, and (holding
#   secrets) not dumpable; exec's command gets the user's core limit back
#   and no TSS2_LOG that rasign set for itself.
# Real components: the local endpoint (its "hostile" and "delay" faults),
# SoftHSM tokens (make-tokens.sh), a swtpm TPM (make-tpm-keys.sh).
#
# Run from the repo root: bash hsm-tests/test-hostile-input.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout "$PY" softhsm2-util pkcs11-tool p11tool \
	certtool swtpm tpm2_createprimary setpriv
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"
# A TSS2_LOG of the caller's would spoil the TSS2_LOG checks.
unset TSS2_LOG

setup_pki
setup_tokens
setup_tpm
unset TPM2TOOLS_TCTI TPM_DEVICE
# For a run as nobody: the private directory is closed to other users.
NOBODY_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rasign-nobody.XXXXXX") || exit 1
chmod 0755 "$NOBODY_DIR"
on_cleanup rm -rf "$NOBODY_DIR"

start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

FILE_KEY=(--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8"
	--intermediates "$INTERMEDIATES")
CRED_ARGS=(--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN"
	--role-arn "$ROLE_ARN" --endpoint "$EP_URL")

# ---------------------------------------------------------------- helpers

# assert_stderr_clean: no byte a terminal acts on reached stderr: nothing
# below 0x20 but the newlines ending lines, no DEL, no C1 control (U+0080-
# U+009F as UTF-8), no bidi override, and all of it well-formed UTF-8.
assert_stderr_clean() {
	$PY - "$ERR" <<'EOF' || { show_run; fail "stderr carries terminal controls"; }
import re, sys
data = open(sys.argv[1], "rb").read()
bad = [(i, b) for i, b in enumerate(data) if (b < 0x20 and b != 0x0a) or b == 0x7f]
if bad:
    sys.exit("control bytes at %s" % bad[:8])
text = data.decode("utf-8")  # raises on malformed UTF-8
if re.search("[\u0080-\u009f\u202a-\u202e\u2066-\u2069]", text):
    sys.exit("C1 control or bidi override in stderr")
if not data.endswith(b"\n"):
    sys.exit("no final newline")
EOF
}

# start_blocked ARGS...: rasign credential-process in the background, held
# by a delay fault until it has connected (so its argv is parsed and it is
# set up); BG_PID is rasign itself. Its output goes to $T/bg.*.
start_blocked() {
	local _
	set_faults "delay 4000"
	"$RASIGN" credential-process "${CRED_ARGS[@]}" "$@" \
		>"$T/bg.out" 2>"$T/bg.err" &
	BG_PID=$!
	wait_connected
}

# wait_connected: until BG_PID has a socket open (up to 15 s).
wait_connected() {
	local _
	for _ in $(seq 150); do
		ls -l "/proc/$BG_PID/fd" 2>/dev/null | grep -q 'socket:' && return 0
		kill -0 "$BG_PID" 2>/dev/null ||
			{ cat "$T/bg.err"; fail "rasign exited before connecting"; }
		sleep 0.1
	done
	kill "$BG_PID" 2>/dev/null
	fail "rasign never connected to the endpoint"
}

stop_blocked() {
	kill "$BG_PID" 2>/dev/null
	wait "$BG_PID" 2>/dev/null
}

# ---------------------------------------------------------------- escapes

# The "hostile" fault: a 403 whose __type and message carry ESC sequences,
# BEL, CR, BS, VT, FF, DEL, a C1 CSI and a bidi override, and UTF-8 text.
t_hostile_answer() {
	set_faults hostile
	rasign_cp "${FILE_KEY[@]}"
	assert_failure 7 'HTTP 403'
	assert_stderr_clean
	# Escaped, so still there to read; the UTF-8 text intact.
	grep -qF 'Access\x1b[31mDenied' "$ERR" || { show_run; fail "__type not shown escaped"; }
	grep -qF 'café' "$ERR" || { show_run; fail "UTF-8 text was not kept"; }
	grep -qF '日本' "$ERR" || { show_run; fail "UTF-8 text was not kept"; }
}

# --debug prints the whole answer body: every line must be as clean.
t_hostile_answer_debug() {
	set_faults hostile
	rasign_cp "${FILE_KEY[@]}" --debug
	assert_exit 7
	assert_stderr_clean
	grep -q '^rasign: debug: answer: ' "$ERR" || { show_run; fail "no answer in --debug"; }
}

# A certificate on a token whose subject and label carry escapes: the
# listing on stdout shows them escaped (the URI percent-encodes the label).
t_token_names() {
	local esc
	esc=$(printf 'evil\033[2J\033]0;t\007name')
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/evil.key" -out "$T/evil.der" -outform DER -days 1 \
		-utf8 -subj "/CN=$esc/O=café" >"$T/req.log" 2>&1 ||
		{ cat "$T/req.log"; fail "openssl req failed"; }
	pkcs11-tool --module "$P11_MODULE" --token-label "$MAIN_TOKEN" --login \
		--pin "$USER_PIN" --write-object "$T/evil.der" --type cert \
		--id 7e --label "$esc" >"$T/write.log" 2>&1 ||
		{ cat "$T/write.log"; fail "cannot write the certificate"; }
	run_rasign read-certificate-data --certificate "pkcs11:token=$MAIN_TOKEN;id=%7e"
	assert_exit 0
	cat "$OUT"
	ERR=$OUT assert_stderr_clean
	grep -qF 'Subject: CN=evil\x1b[2J\x1b]0\;t\x07name' "$OUT" ||
		fail "the subject is not shown escaped"
	grep -qF 'O=café' "$OUT" || fail "the subject's UTF-8 was not kept"
}

# ---------------------------------------------------------------- secrets

# t_flag_value FIRST_WORDS...: the value of a misspelt or misplaced flag
# is not echoed; the flag is named.
t_flag_value() {
	local want=$1
	shift
	run_rasign "$@"
	assert_failure 2 "$want"
	if grep -q 'SECRET-9c1e' "$ERR"; then
		show_run
		fail "the flag's value is echoed"
	fi
}

# Two pin-value in the certificate's URI, two in the key's: none may stay
# in /proc/PID/cmdline, and the first of the key's is the one used (the
# other is a wrong PIN, which would fail the login).
t_cmdline_no_pin() {
	local crt=$MAIN_EC_P256_CRT_URI key=$MAIN_EC_P256_KEY_URI
	start_blocked --intermediates "$INTERMEDIATES" \
		--certificate "$crt?pin-value=decoy-c3a1&pin-value=decoy-c3a2" \
		--private-key "$key?pin-value=$USER_PIN&pin-value=decoy-k4b2"
	tr '\0' '\n' <"/proc/$BG_PID/cmdline" >"$T/cmdline"
	wait "$BG_PID"
	RC=$?
	echo "cmdline:"; cat "$T/cmdline"
	if grep -q 'pin-value\|decoy-' "$T/cmdline"; then
		fail "a pin-value is left in /proc/PID/cmdline"
	fi
	# The PIN itself (it is also a substring of the account ID in the ARNs).
	sed -e "s|$TA_ARN||; s|$PROFILE_ARN||; s|$ROLE_ARN||" "$T/cmdline" |
		grep -q "$USER_PIN" && fail "the PIN is left in /proc/PID/cmdline"
	grep -qx "$crt" "$T/cmdline" || fail "the certificate's URI was mangled"
	grep -qx "$key" "$T/cmdline" || fail "the key's URI was mangled"
	[ "$RC" -eq 0 ] || { cat "$T/bg.err"; fail "exit $RC: the first PIN was not the one used"; }
	if grep -q "decoy-\|$USER_PIN" "$T/bg.err"; then
		fail "a PIN reached stderr"
	fi
}

# The same for serve, which keeps running with the token open.
t_serve_cmdline_no_pin() {
	local _
	"$RASIGN" serve "${CRED_ARGS[@]}" --port 0 --intermediates "$INTERMEDIATES" \
		--certificate "$MAIN_EC_P256_CRT_URI?pin-value=$USER_PIN&pin-value=decoy-s5d3" \
		>"$T/bg.out" 2>"$T/bg.err" &
	BG_PID=$!
	for _ in $(seq 150); do
		grep -q 'Local server started' "$T/bg.err" && break
		kill -0 "$BG_PID" 2>/dev/null || { cat "$T/bg.err"; fail "serve exited"; }
		sleep 0.1
	done
	tr '\0' '\n' <"/proc/$BG_PID/cmdline" >"$T/cmdline"
	stop_blocked
	cat "$T/cmdline"
	grep -q 'pin-value\|decoy-' "$T/cmdline" && fail "a pin-value is left in serve's cmdline"
	grep -q 'Local server started' "$T/bg.err" || { cat "$T/bg.err"; fail "serve did not start"; }
	true
}

# ---------------------------------------------------------------- hardening

# Started with 0, 1 and 2 closed, rasign runs on /dev/null, so that no
# file or socket of its own becomes its stdout.
t_closed_fds() {
	local fd
	set_faults "delay 4000"
	"$RASIGN" credential-process "${CRED_ARGS[@]}" "${FILE_KEY[@]}" \
		<&- >&- 2>&- &
	BG_PID=$!
	wait_connected
	for fd in 0 1 2; do
		[ "$(readlink "/proc/$BG_PID/fd/$fd")" = /dev/null ] || {
			ls -l "/proc/$BG_PID/fd"; stop_blocked
			fail "fd $fd is not /dev/null"; }
	done
	wait "$BG_PID"
	[ $? -eq 0 ] || fail "credential-process failed with 0-2 closed"
}

# No core file (soft limit 0, hard limit kept), whatever the caller allows.
t_core_limit() {
	local hard
	ulimit -S -c 2048 || skip "cannot raise the core limit"
	start_blocked "${FILE_KEY[@]}"
	grep '^Max core file size' "/proc/$BG_PID/limits" >"$T/limits"
	stop_blocked
	cat "$T/limits"
	[ "$(awk '{ print $5 }' "$T/limits")" = 0 ] || fail "the soft core limit is not 0"
	# The hard limit stays: exec could not raise it again for its command.
	hard=$(ulimit -H -c)
	[ "$hard" = unlimited ] || hard=$((hard * 1024))
	[ "$(awk '{ print $6 }' "$T/limits")" = "$hard" ] ||
		fail "the hard core limit changed (want $hard)"
}

# Not dumpable: /proc/PID/ then belongs to root, not to the user running
# rasign (so that user's other processes cannot read its memory or
# ptrace it). Seen from root by running rasign as nobody.
t_nondumpable() {
	local d=$NOBODY_DIR owner
	[ "$(id -u)" = 0 ] || skip "needs root to run rasign as another user"
	cp "$LEAF_EC_P256_CRT" "$LEAF_EC_P256_P8" "$TLS_CA" "$INTERMEDIATES" "$d/" &&
		chmod 0644 "$d"/*
	set_faults "delay 4000"
	AWS_CA_BUNDLE=$d/$(basename "$TLS_CA") HOME=$d \
		setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$RASIGN" credential-process "${CRED_ARGS[@]}" \
		--certificate "$d/$(basename "$LEAF_EC_P256_CRT")" \
		--private-key "$d/$(basename "$LEAF_EC_P256_P8")" \
		--intermediates "$d/$(basename "$INTERMEDIATES")" \
		>"$T/bg.out" 2>"$T/bg.err" &
	BG_PID=$!
	wait_connected
	[ "$(awk '/^Uid:/ { print $2 }' "/proc/$BG_PID/status")" = 65534 ] ||
		{ stop_blocked; fail "rasign does not run as nobody"; }
	owner=$(stat -c %u "/proc/$BG_PID/fd")
	stop_blocked
	[ "$owner" = 0 ] || fail "/proc/PID/fd belongs to uid $owner: rasign is dumpable"
}

# exec: the command gets the caller's core limit back, and rasign's own
# TSS2_LOG (set to quiet tpm2-tss) is not in its environment; a TSS2_LOG
# the caller set is passed on.
t_exec_core_limit() {
	ulimit -S -c 4096 || skip "cannot raise the core limit"
	# ASan lowers the limit itself before main() unless told not to.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0 \
		run_rasign exec "${CRED_ARGS[@]}" "${FILE_KEY[@]}" -- bash -c 'ulimit -S -c'
	assert_exit 0
	[ "$(cat "$OUT")" = 4096 ] || { show_run; fail "the command's core limit is $(cat "$OUT")"; }
}

tpm_exec() {
	run_rasign exec "${CRED_ARGS[@]}" --tpm-tcti "$TCTI" \
		--certificate "$TPM_EC_P256_CRT" --private-key "$TPM_EC_P256_KEY" \
		--intermediates "$INTERMEDIATES" "$@" -- /usr/bin/env
}

t_exec_no_tss2_log() {
	tpm_exec "$@"
	assert_exit 0
	grep -q '^AWS_SESSION_TOKEN=' "$OUT" || { show_run; fail "no credentials in the environment"; }
	if grep '^TSS2_LOG' "$OUT"; then
		fail "the command inherited rasign's TSS2_LOG"
	fi
	true
}

t_exec_user_tss2_log() {
	TSS2_LOG=all+none tpm_exec
	assert_exit 0
	grep -qx 'TSS2_LOG=all+none' "$OUT" || { show_run; fail "the caller's TSS2_LOG was not passed on"; }
}

# --------------------------------------------------------------- the run

run_test "a hostile service message reaches stderr escaped" t_hostile_answer
run_test "--debug: a hostile answer body reaches stderr escaped" t_hostile_answer_debug
run_test "read-certificate-data: a token's names are shown escaped" t_token_names
run_test "misspelt --pkcs8-pass=VALUE: value not echoed, flag suggested" \
	t_flag_value 'did you mean --pkcs8-password' credential-process \
	"${FILE_KEY[@]}" --pkcs8-pass=pass:SECRET-9c1e
run_test "misspelt --pkcs11-pn VALUE: value not echoed" \
	t_flag_value 'did you mean --pkcs11-pin' credential-process \
	--pkcs11-pn SECRET-9c1e
run_test "value after a flag that takes none: not echoed" \
	t_flag_value 'after --reuse-pin' credential-process --reuse-pin SECRET-9c1e
run_test "bad --timeout=VALUE: value not echoed" \
	t_flag_value '--timeout needs a whole number' credential-process \
	--timeout=SECRET-9c1e
run_test "an option before the subcommand: value not echoed" \
	t_flag_value 'unknown command "--pkcs11-pin"' --pkcs11-pin=SECRET-9c1e \
	credential-process
run_test "-xVALUE: value not echoed" t_flag_value 'unknown flag -x' \
	sign-string -xSECRET-9c1e
run_test "no pin-value in /proc/PID/cmdline; the first PIN is used" t_cmdline_no_pin
run_test "serve: no pin-value in /proc/PID/cmdline" t_serve_cmdline_no_pin
run_test "fds 0-2 closed: rasign runs on /dev/null" t_closed_fds
run_test "no core file: soft RLIMIT_CORE 0" t_core_limit
run_test "not dumpable while it holds secrets" t_nondumpable
run_test "exec: the command gets the caller's core limit" t_exec_core_limit
run_test "exec with a TPM key: no TSS2_LOG of rasign's in the command" t_exec_no_tss2_log
run_test "exec --debug with a TPM key: no TSS2_LOG either" t_exec_no_tss2_log --debug
run_test "exec: a TSS2_LOG the caller set is passed on" t_exec_user_tss2_log
