#!/bin/bash
# What rasign does when nobody is watching: serve and update under systemd
# for weeks, through token reopens, TPM restarts, SIGHUP reloads and laptop
# suspends, must never lock a device by itself (issue "Never lock a token").
#
#   - secrets are read once: an fd: PIN or password survives a reopen and a
#     SIGHUP (pkcs11-spy's C_Login lines, the TPM's lockout counter);
#   - a wrong PIN or password is offered once and ends serve/update with
#     exit 4, which the units' RestartPreventExitStatus= keeps systemd from
#     restarting (a loop that follows the units' own policy);
#   - a token that reports CKF_USER_PIN_FINAL_TRY or CKF_USER_PIN_LOCKED is
#     not logged in to without a person at the prompt (p11_flags.so, a
#     module in front of SoftHSM that adds those flags);
#   - a reload with a wrong new PIN keeps the working identity and never
#     offers the refused PIN again;
#   - after a suspend (SIGSTOP past the expiry) the first request gets fresh
#     credentials, not a 503; credentials that arrive expired are retried
#     with backoff, not every second.
#
# Run from the repo root: bash hsm-tests/test-unattended.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout script "$PY" softhsm2-util pkcs11-tool \
	pkg-config swtpm tpm2_getcap tpm2_dictionarylockout curl
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"
P11_REOPEN=${P11_REOPEN:-build/unit/p11_reopen}
TPM_REOPEN=${TPM_REOPEN:-build/unit/tpm_reopen}
P11_FLAGS=${P11_FLAGS:-build/unit/p11_flags.so}
for t in "$P11_REOPEN" "$TPM_REOPEN" "$P11_FLAGS"; do
	[ -e "$t" ] || skip_all "$t not built"
done
P11_FLAGS=$(cd "$(dirname "$P11_FLAGS")" && pwd)/$(basename "$P11_FLAGS")
unset TSS2_LOG

setup_pki
setup_tokens
setup_tpm
export TPM2TOOLS_TCTI=$TCTI
unset TPM2OPENSSL_TCTI TPM_DEVICE
# A wrong password must show in the counter: no self-healing during a test.
tpm2_dictionarylockout -s -n 1000 -t 600 -l 1 >/dev/null 2>&1 &&
	tpm2_dictionarylockout -c >/dev/null 2>&1 ||
	bail_out "cannot set the TPM's dictionary-attack parameters"

P11_MODULE_DIR=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null)
SPY_MODULE=$P11_MODULE_DIR/pkcs11-spy.so
[ -e "$SPY_MODULE" ] || skip_all "no pkcs11-spy.so in $P11_MODULE_DIR (opensc)"

start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

ARNS=(--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN"
	--role-arn "$ROLE_ARN" --endpoint "$EP_URL")
P11_ID=(--certificate "$MAIN_EC_P256_CRT_URI" --intermediates "$INTERMEDIATES"
	--pkcs11-lib "$SPY_MODULE")
TPM_ID=(--certificate "$TPM_EC_P256_PW_CRT" --private-key "$TPM_EC_P256_PW_KEY"
	--intermediates "$INTERMEDIATES" --tpm-tcti "$TCTI")

# logins FILE: one line per C_Login in a pkcs11-spy log: "LEN RV".
logins() {
	awk '/^[0-9]+: C_Login$/ { on = 1; len = "?" }
		on && /pPin\[ulPinLen\]/ { len = $NF }
		on && /^Returned:/ { print len, $3; on = 0 }' "$1"
}

# serve_bg ARGS...: starts serve with the spy's log in $T/spy.log; waits
# until it serves (SERVE_PORT, ECS_TOKEN) or exits (SERVE_RC).
serve_bg() {
	SERVE_ERR=$T/serve.err SERVE_RC=
	# ASan builds: pkcs11-spy's own leaks are suppressed by name
	# (hsm-tests/lsan.supp), which needs whole stacks through libcrypto,
	# built without frame pointers: the slow unwinder.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}fast_unwind_on_malloc=0 \
		PKCS11SPY=$P11_MODULE PKCS11SPY_OUTPUT=$T/spy.log \
		"$RASIGN" serve "${ARNS[@]}" --port 0 "$@" >"$T/serve.out" \
		2>"$SERVE_ERR" &
	SERVE_PID=$!
	trap 'kill -KILL $SERVE_PID 2>/dev/null' EXIT
	for _ in $(seq 200); do
		grep -Eq "^${STAMP_RE}export AWS_CONTAINER_AUTHORIZATION_TOKEN" "$SERVE_ERR" && break
		if ! kill -0 "$SERVE_PID" 2>/dev/null; then
			wait "$SERVE_PID"
			SERVE_RC=$?
			return 0
		fi
		sleep 0.05
	done
	SERVE_PORT=$(unstamp "$SERVE_ERR" | sed -n 's/^Local server started on port: \([0-9]*\)$/\1/p')
	ECS_TOKEN=$(unstamp "$SERVE_ERR" | sed -n 's/^export AWS_CONTAINER_AUTHORIZATION_TOKEN=//p')
	[ -n "$SERVE_PORT" ] || fail "serve did not start: $(cat "$SERVE_ERR")"
}

# ecs_akid: the AccessKeyId serve hands out now (ECS form), or fails.
ecs_akid() {
	curl -sS --noproxy '*' -m 10 -o "$T/ecs.json" -w '%{http_code}' \
		-H "Authorization: $ECS_TOKEN" \
		"http://127.0.0.1:$SERVE_PORT/ecs/credentials" >"$T/ecs.code" ||
		{ echo "curl failed"; return 1; }
	[ "$(cat "$T/ecs.code")" = 200 ] ||
		{ echo "HTTP $(cat "$T/ecs.code"): $(cat "$T/ecs.json")"; return 1; }
	$CHECK field "$T/ecs.json" AccessKeyId
}

# wait_records N: until the endpoint recorded N requests (10 s at most).
wait_records() {
	for _ in $(seq 100); do
		[ "$(rec_count)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# rec_field N FIELD: a field of the endpoint's Nth record.
rec_field() {
	sed -n "${1}p" "$EP_RECORD" >"$T/rec.json"
	$CHECK get "$T/rec.json" 0 "$2"
}

stop_serve() {
	kill -TERM "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID"
	SERVE_RC=$?
}

# ------------------------------------------------------------ secrets read once

# p11_reopen takes its PIN from fd:3, as rasign resolves it: the three
# logins (start, after the lost session, after the token came back) all
# send the 4-byte PIN and succeed. Before, the reopen read fd:3 again and
# sent an empty PIN.
t_p11_reopen_fd() {
	PKCS11SPY=$P11_MODULE PKCS11SPY_OUTPUT=$T/spy.log \
		"$P11_REOPEN" "$SPY_MODULE" "$MAIN_EC_P256_KEY_URI" fd:3 \
		3<<<"$USER_PIN" >"$T/reopen.out" 2>&1 ||
		{ cat "$T/reopen.out"; fail "p11_reopen failed"; }
	logins "$T/spy.log" >"$T/logins"
	echo "C_Login (len rv): $(tr '\n' ';' <"$T/logins")"
	[ "$(wc -l <"$T/logins")" = 3 ] || fail "want 3 C_Login, saw $(wc -l <"$T/logins")"
	grep -qv "^${#USER_PIN} CKR_OK$" "$T/logins" && fail "a C_Login sent another PIN or failed"
	return 0
}

# tpm_reopen across a swtpm restart, its password from fd:3: the key is
# reloaded with the same password, and the lockout counter stays at 0.
t_tpm_reopen_fd() {
	local fifo=$T/go pid after
	tpm2_dictionarylockout -c >/dev/null 2>&1 || fail "cannot clear the lockout counter"
	mkfifo "$fifo"
	"$TPM_REOPEN" "$TCTI" "$TPM_EC_P256_PW_KEY" fd:3 <"$fifo" \
		3<<<"$TPM_EC_P256_PW_PASSWORD" >"$T/reopen.out" 2>&1 &
	pid=$!
	exec 8>"$fifo"
	for _ in $(seq 50); do grep -q '^ready' "$T/reopen.out" && break; sleep 0.1; done
	grep -q '^ok - first signature' "$T/reopen.out" ||
		{ exec 8>&-; wait "$pid"; cat "$T/reopen.out"; fail "no first signature"; }
	swtpm_stop "$TPM_STATE" >"$T/swtpm.log" 2>&1 &&
		swtpm_start "$TPM_STATE" >>"$T/swtpm.log" 2>&1 ||
		{ cat "$T/swtpm.log"; fail "cannot restart swtpm"; }
	tpm2_dictionarylockout -s -n 1000 -t 600 -l 1 >/dev/null 2>&1
	echo go >&8
	exec 8>&-
	wait "$pid" || { cat "$T/reopen.out"; fail "the signer did not survive the restart with its fd: password"; }
	after=$(lockout_counter) || fail "no lockout counter"
	[ "$after" = 0 ] || fail "the lockout counter is $after after the restart, want 0"
}

# serve --pkcs11-pin fd:3, then SIGHUP: the reload logs in with the PIN
# read at the start (two logins, both the right length, both OK), and serve
# goes on serving the new credentials.
t_serve_sighup_fd_pin() {
	local before akid
	serve_bg "${P11_ID[@]}" --pkcs11-pin fd:3 3<<<"$USER_PIN"
	[ -z "$SERVE_RC" ] || fail "serve exited $SERVE_RC: $(cat "$SERVE_ERR")"
	before=$(rec_count)
	kill -HUP "$SERVE_PID"
	wait_records $((before + 1)) || fail "no CreateSession after SIGHUP: $(cat "$SERVE_ERR")"
	sleep 0.3
	kill -0 "$SERVE_PID" 2>/dev/null || fail "serve died after SIGHUP: $(cat "$SERVE_ERR")"
	akid=$(ecs_akid) || fail "$akid"
	logins "$T/spy.log" >"$T/logins"
	echo "C_Login (len rv): $(tr '\n' ';' <"$T/logins")"
	[ "$(wc -l <"$T/logins")" = 2 ] || fail "want 2 C_Login, saw $(wc -l <"$T/logins")"
	# The old session is open during the reload: the token may say so.
	grep -Eqv "^${#USER_PIN} CKR_(OK|USER_ALREADY_LOGGED_IN)$" "$T/logins" &&
		fail "a C_Login sent another PIN or failed"
	stop_serve
	[ "$SERVE_RC" = 0 ] || fail "serve exited $SERVE_RC on SIGTERM"
}

# serve --tpm-key-password fd:3, then SIGHUP: the reloaded key gets the
# password read at the start; the lockout counter does not move.
t_serve_sighup_fd_tpm() {
	local before after
	tpm2_dictionarylockout -c >/dev/null 2>&1 || fail "cannot clear the lockout counter"
	serve_bg "${TPM_ID[@]}" --tpm-key-password fd:3 3<<<"$TPM_EC_P256_PW_PASSWORD"
	[ -z "$SERVE_RC" ] || fail "serve exited $SERVE_RC: $(cat "$SERVE_ERR")"
	before=$(rec_count)
	kill -HUP "$SERVE_PID"
	wait_records $((before + 1)) || fail "no CreateSession after SIGHUP: $(cat "$SERVE_ERR")"
	sleep 0.3
	kill -0 "$SERVE_PID" 2>/dev/null || fail "serve died after SIGHUP: $(cat "$SERVE_ERR")"
	[ "$(rec_field "$(rec_count)" status)" = 201 ] || fail "the request after SIGHUP was refused"
	after=$(lockout_counter) || fail "no lockout counter"
	[ "$after" = 0 ] || fail "the lockout counter is $after after SIGHUP, want 0"
	stop_serve
}

# ------------------------------------------------------- never restart into a lockout

# unit_prevented UNIT CODE: does the unit's RestartPreventExitStatus= hold CODE?
unit_prevented() {
	sed -n 's/^RestartPreventExitStatus=//p' "contrib/$1" | tr ' ' '\n' |
		grep -qx "$2"
}

# restart_loop UNIT CMD...: runs CMD the way systemd would with the unit's
# Restart=on-failure and RestartPreventExitStatus= (no delay, at most 4
# starts); sets STARTS and LAST_RC.
restart_loop() {
	local unit=$1
	shift
	grep -qx 'Restart=on-failure' "contrib/$unit" || fail "$unit: no Restart=on-failure"
	STARTS=0
	while [ "$STARTS" -lt 4 ]; do
		STARTS=$((STARTS + 1))
		timeout 30 "$@" >"$T/loop.out" 2>"$T/loop.err" </dev/null
		LAST_RC=$?
		[ "$LAST_RC" = 0 ] && break
		unit_prevented "$unit" "$LAST_RC" && break
	done
	echo "$unit: $STARTS start(s), last exit $LAST_RC: $(head -c 300 "$T/loop.err")"
}

# t_wrong_pin_loop UNIT SUBCOMMAND [args]: a wrong PIN from a file under the
# unit's restart policy: one start, exit 4, one C_Login on the token.
t_wrong_pin_loop() {
	local unit=$1
	shift
	printf '9999\n' >"$T/pin"
	PKCS11SPY=$P11_MODULE PKCS11SPY_OUTPUT=$T/spy.log restart_loop "$unit" \
		"$RASIGN" "$@" "${ARNS[@]}" "${P11_ID[@]}" --pkcs11-pin "file:$T/pin"
	[ "$LAST_RC" = 4 ] || fail "exit $LAST_RC, want 4"
	[ "$STARTS" = 1 ] || fail "$STARTS starts, want 1"
	grep -q 'PIN' "$T/loop.err" || fail "the message does not name the PIN"
	logins "$T/spy.log" >"$T/logins"
	echo "C_Login (len rv): $(tr '\n' ';' <"$T/logins")"
	[ "$(wc -l <"$T/logins")" = 1 ] || fail "want 1 C_Login, saw $(wc -l <"$T/logins")"
	grep -q "^4 CKR_PIN_INCORRECT$" "$T/logins" || fail "the one C_Login was not the wrong PIN"
}

# t_wrong_tpm_loop UNIT SUBCOMMAND [args]: a wrong TPM key password under the
# unit's policy: one start, exit 4, the lockout counter up by exactly one.
t_wrong_tpm_loop() {
	local unit=$1 before after
	shift
	tpm2_dictionarylockout -c >/dev/null 2>&1 || fail "cannot clear the lockout counter"
	before=$(lockout_counter) || fail "no lockout counter"
	restart_loop "$unit" "$RASIGN" "$@" "${ARNS[@]}" "${TPM_ID[@]}" \
		--tpm-key-password pass:wrong
	after=$(lockout_counter) || fail "no lockout counter"
	echo "lockout counter: $before before, $after after"
	[ "$LAST_RC" = 4 ] || fail "exit $LAST_RC, want 4"
	[ "$STARTS" = 1 ] || fail "$STARTS starts, want 1"
	[ "$after" = $((before + 1)) ] || fail "the counter went from $before to $after, want +1"
	tpm2_dictionarylockout -c >/dev/null 2>&1
}

# ------------------------------------------------------------ a token's last try

# flagged ARGS...: credential-process through p11_flags.so (in front of
# SoftHSM) with the token flags in $T/flags; its C_Login lines in $T/flags.log.
flagged() {
	P11_FLAGS_MODULE=$P11_MODULE P11_FLAGS_FILE=$T/flags \
		P11_FLAGS_LOG=$T/flags.log run_rasign credential-process \
		"${ARNS[@]}" --certificate "$MAIN_EC_P256_CRT_URI" \
		--intermediates "$INTERMEDIATES" --pkcs11-lib "$P11_FLAGS" "$@"
}

flag_logins() {
	[ -e "$T/flags.log" ] && grep -c '^C_Login' "$T/flags.log" || echo 0
}

t_final_try_refused() {
	printf '0x%x\n' $((0x00020000)) >"$T/flags"	# CKF_USER_PIN_FINAL_TRY
	flagged --pkcs11-pin "pass:$USER_PIN"
	assert_failure 4 'one try left'
	assert_no_request
	[ "$(flag_logins)" = 0 ] || fail "$(flag_logins) C_Login on a token at its final try"
}

t_locked_refused() {
	printf '0x%x\n' $((0x00020000 | 0x00040000)) >"$T/flags"	# + LOCKED
	flagged --pkcs11-pin "pass:$USER_PIN"
	assert_failure 4 'locked'
	assert_no_request
	[ "$(flag_logins)" = 0 ] || fail "$(flag_logins) C_Login on a locked token"
}

# The same token at its final try, with a person typing the PIN at the
# prompt (a pseudo-terminal): warned, one login, credentials.
t_final_try_person() {
	printf '0x%x\n' $((0x00020000)) >"$T/flags"
	{ sleep 1; printf '%s\r' "$USER_PIN"; sleep 3; } |
		P11_FLAGS_MODULE=$P11_MODULE P11_FLAGS_FILE=$T/flags \
		P11_FLAGS_LOG=$T/flags.log script -qefc "$(printf '%q ' "$RASIGN" \
		credential-process "${ARNS[@]}" --certificate "$MAIN_EC_P256_CRT_URI" \
		--intermediates "$INTERMEDIATES" --pkcs11-lib "$P11_FLAGS")" \
		/dev/null >"$T/tty.out" 2>&1
	grep -q 'one try left' "$T/tty.out" || { cat "$T/tty.out"; fail "no warning before the prompt"; }
	grep -q '"AccessKeyId"' "$T/tty.out" || { cat "$T/tty.out"; fail "no credentials"; }
	[ "$(flag_logins)" = 1 ] || fail "$(flag_logins) C_Login, want 1"
}

# ------------------------------------------------------------ reloads

# A reload that brings a wrong password (the file was changed) keeps the
# working identity (the TPM counts that one try); a second SIGHUP with the
# same file does not offer it again (the counter stays); the right password
# back in the file is taken. (A PKCS#11 token that is logged in already
# answers CKR_USER_ALREADY_LOGGED_IN to a reload's login without checking
# the PIN, so the TPM shows the rule.)
t_reload_wrong_password() {
	local c1 c2 c3 before
	tpm2_dictionarylockout -c >/dev/null 2>&1 || fail "cannot clear the lockout counter"
	printf '%s\n' "$TPM_EC_P256_PW_PASSWORD" >"$T/pw"
	serve_bg "${TPM_ID[@]}" --tpm-key-password "file:$T/pw"
	[ -z "$SERVE_RC" ] || fail "serve exited $SERVE_RC: $(cat "$SERVE_ERR")"
	printf 'wrong\n' >"$T/pw"
	kill -HUP "$SERVE_PID"
	for _ in $(seq 100); do grep -q 'still using the previous' "$SERVE_ERR" && break; sleep 0.1; done
	grep -q 'still using the previous' "$SERVE_ERR" || fail "no 'still using the previous' line: $(cat "$SERVE_ERR")"
	kill -0 "$SERVE_PID" 2>/dev/null || fail "serve died on a wrong password at reload"
	c1=$(lockout_counter) || fail "no lockout counter"
	[ "$c1" = 1 ] || fail "the lockout counter is $c1 after the failed reload, want 1"
	before=$(rec_count)
	kill -HUP "$SERVE_PID"
	for _ in $(seq 100); do [ "$(grep -c 'still using the previous' "$SERVE_ERR")" -ge 2 ] && break; sleep 0.1; done
	grep -q 'refused.*already' "$SERVE_ERR" || fail "no 'refused already' line: $(cat "$SERVE_ERR")"
	wait_records $((before + 1)) || fail "no CreateSession with the old identity"
	[ "$(rec_field "$(rec_count)" status)" = 201 ] || fail "the old identity's request was refused"
	c2=$(lockout_counter) || fail "no lockout counter"
	[ "$c2" = 1 ] || fail "the refused password was offered again: counter $c2"
	printf '%s\n' "$TPM_EC_P256_PW_PASSWORD" >"$T/pw"
	before=$(rec_count)
	kill -HUP "$SERVE_PID"
	wait_records $((before + 1)) || fail "no CreateSession after the file was fixed"
	sleep 0.3
	[ "$(grep -c 'still using the previous' "$SERVE_ERR")" = 2 ] ||
		fail "the right password was not taken: $(cat "$SERVE_ERR")"
	c3=$(lockout_counter) || fail "no lockout counter"
	[ "$c3" = 1 ] || fail "the counter is $c3 after the right password, want 1"
	kill -0 "$SERVE_PID" 2>/dev/null || fail "serve died"
	stop_serve
	tpm2_dictionarylockout -c >/dev/null 2>&1
}

# ------------------------------------------------------------ suspend and clocks

# Suspend, as the process sees it: serve is stopped (SIGSTOP) while the
# credentials it holds expire; a client's request arrives meanwhile; on
# resume (SIGCONT) that first request gets fresh credentials, not a 503,
# even though the refresh is slow (1 s).
t_resume_first_request() {
	local akid0 code cpid
	# 8 s granted (served, with a warning), then a slow refresh.
	set_faults "grant 8" "delay 1000"
	serve_bg --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	[ -z "$SERVE_RC" ] || fail "serve exited $SERVE_RC: $(cat "$SERVE_ERR")"
	akid0=$(ecs_akid) || fail "$akid0"
	kill -STOP "$SERVE_PID"
	sleep 9
	# The request waits in the listen queue until serve runs again.
	curl -sS --noproxy '*' -m 20 -o "$T/resume.json" -w '%{http_code}' \
		-H "Authorization: $ECS_TOKEN" \
		"http://127.0.0.1:$SERVE_PORT/ecs/credentials" >"$T/resume.code" 2>&1 &
	cpid=$!
	sleep 1
	kill -CONT "$SERVE_PID"
	wait "$cpid"
	code=$(cat "$T/resume.code")
	[ "$code" = 200 ] || fail "the first request after resume got $code: $(cat "$T/resume.json")"
	[ "$($CHECK field "$T/resume.json" AccessKeyId)" != "$akid0" ] ||
		fail "the first request after resume got the expired credentials"
	stop_serve
	: >"$EP_FAULTS"
}

# The service sends credentials that expired already (or the clock is far
# off): serve says so and retries with backoff (5 s, 10 s, ...), not every
# second; update refuses --refresh-before >= --session-duration.
t_expired_on_arrival() {
	local before n
	set_faults "ok" "grant -30" "grant -30" "grant -30" "grant -30" "grant -30" \
		"grant -30" "grant -30" "grant -30" "grant -30" "grant -30"
	serve_bg --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --session-duration 900 --refresh-before 898
	[ -z "$SERVE_RC" ] || fail "serve exited $SERVE_RC: $(cat "$SERVE_ERR")"
	before=$(rec_count)
	sleep 9
	n=$(($(rec_count) - before))
	echo "CreateSession calls in 9 s after the first: $n"
	[ "$n" -ge 1 ] || fail "no refresh at all"
	[ "$n" -le 3 ] || fail "$n CreateSession calls in 9 s: no backoff"
	grep -q "clock" "$SERVE_ERR" || fail "the log does not point at the clock: $(cat "$SERVE_ERR")"
	stop_serve
	: >"$EP_FAULTS"
}

t_update_refresh_before_range() {
	run_rasign update "${ARNS[@]}" --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_P8" --session-duration 900 --refresh-before 900
	assert_failure 2 'refresh-before.*less than --session-duration'
	assert_no_request
}

run_test "fd: PIN: every PKCS#11 reopen logs in with it, once each" t_p11_reopen_fd
run_test "fd: password: the TPM key reloads after a restart, counter 0" t_tpm_reopen_fd
run_test "serve --pkcs11-pin fd:3 + SIGHUP: the same PIN, serving on" t_serve_sighup_fd_pin
run_test "serve --tpm-key-password fd:3 + SIGHUP: counter 0, serving on" t_serve_sighup_fd_tpm
run_test "serve, wrong PIN, the unit's restart policy: 1 start, 1 C_Login, exit 4" \
	t_wrong_pin_loop rasign-serve.service serve --port 0
run_test "update, wrong PIN, the unit's restart policy: 1 start, 1 C_Login, exit 4" \
	t_wrong_pin_loop rasign-update.service update
run_test "serve, wrong TPM password, the unit's policy: counter +1, exit 4" \
	t_wrong_tpm_loop rasign-serve.service serve --port 0
run_test "update, wrong TPM password, the unit's policy: counter +1, exit 4" \
	t_wrong_tpm_loop rasign-update.service update
run_test "CKF_USER_PIN_FINAL_TRY: refused without a login" t_final_try_refused
run_test "CKF_USER_PIN_LOCKED: refused without a login" t_locked_refused
run_test "final try with a person at the prompt: warned, one login" t_final_try_person
run_test "reload with a wrong password: old identity kept, never offered again" \
	t_reload_wrong_password
run_test "after a suspend, the first request gets fresh credentials" t_resume_first_request
run_test "credentials that arrive expired: backoff and a clock hint" t_expired_on_arrival
run_test "update --refresh-before >= --session-duration: exit 2" t_update_refresh_before_range
