#!/bin/bash
# End-to-end tests of rasign with TPM 2.0 keys: a private swtpm built by
# softhsm-fixtures/make-tpm-keys.sh (TSS2 PRIVATE KEY files made by
# tpm2-openssl and tpm2-tools, persistent handles, a key under a
# password-protected persistent parent, a corrupt and a foreign key), used
# through the swtpm TCTI against the local CreateSession endpoint
# (build/ra-endpoint), which verifies every request as AWS would and records
# what it saw. Also the TCTI selection, the dictionary-attack counter on a
# wrong password, that nothing stays loaded in the TPM's three object slots,
# a TPM restart, sign-string and read-certificate-data.
#
# Run from the repo root: bash hsm-tests/test-tpm.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout base64 "$PY" swtpm tpm2_getcap \
	tpm2_createprimary tpm2_flushcontext tpm2_dictionarylockout \
	tpm2_shutdown tpm2_encodeobject tpm2_changeauth certtool perl
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

# tpm2-tss logs through TSS2_LOG; rasign silences it unless the caller set
# it, and a caller's setting would add lines to every stderr checked here.
unset TSS2_LOG

setup_pki
# The TPM is built fresh for every run, in the private directory: tests feed
# its dictionary-attack counter and restart it.
setup_tpm
# For the tpm2-tools called here. rasign is run without it unless a test
# is about it (tpm_cp, tpm_sign).
export TPM2TOOLS_TCTI=$TCTI
unset TPM2OPENSSL_TCTI TPM_DEVICE

start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# ---------------------------------------------------------------- helpers

# without_tcti_env COMMAND...: COMMAND (a shell function) with neither
# TPM2TOOLS_TCTI nor TPM_DEVICE in the environment, so that only what the
# command line says can lead rasign to the TPM.
without_tcti_env() {
	local had=${TPM2TOOLS_TCTI-} rc
	unset TPM2TOOLS_TCTI TPM_DEVICE
	"$@"
	rc=$?
	[ -z "$had" ] || export TPM2TOOLS_TCTI=$had
	return $rc
}

# tpm_cp ARGS...: credential-process with --tpm-tcti (and the intermediate).
tpm_cp() {
	without_tcti_env rasign_cp --tpm-tcti "$TCTI" \
		--intermediates "$INTERMEDIATES" "$@"
}

# tpm_sign ARGS...: sign-string with --tpm-tcti.
tpm_sign() {
	without_tcti_env run_rasign sign-string --tpm-tcti "$TCTI" "$@"
}

# tpm_success CERT ALG: expect_success, and nothing on stderr (tpm2-tss's
# own log lines must not leak).
tpm_success() {
	expect_success "$1" "$2" --chain "$INTER_CA_CRT"
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
}

# clear_lockout: the counter back to 0 (lockoutAuth is empty).
clear_lockout() {
	tpm2_dictionarylockout -c >"$T/dalock.log" 2>&1 ||
		{ cat "$T/dalock.log"; fail "tpm2_dictionarylockout -c failed"; }
}

# usec: microseconds since the epoch.
usec() {
	echo "${EPOCHREALTIME//[!0-9]/}"
}

# kt_alg PREFIX: the SigV4-X509 algorithm of a testvars key.
kt_alg() {
	case $1 in *RSA*) echo RSA ;; *) echo ECDSA ;; esac
}

# transient_and_sessions: what tpm2_getcap lists of transient objects and
# loaded and saved sessions (nothing, when nobody holds anything).
transient_and_sessions() {
	local c out
	for c in handles-transient handles-loaded-session handles-saved-session; do
		out=$(tpm2_getcap "$c" 2>&1) || { echo "tpm2_getcap $c failed: $out"; continue; }
		[ -z "$out" ] || echo "$c: $(echo "$out" | tr '\n' ' ')"
	done
}

assert_tpm_empty() {
	local left
	left=$(transient_and_sessions)
	[ -z "$left" ] || fail "left in the TPM: $left"
}

# ---------------------------------------------------------------- success

# t_cp PREFIX [rasign args]: the key and certificate PREFIX_KEY/PREFIX_CRT
# of make-tpm-keys.sh's testvars, through --tpm-tcti.
t_cp() {
	local p=$1 key crt
	shift
	key=${p}_KEY crt=${p}_CRT
	tpm_cp --private-key "${!key}" --certificate "${!crt}" "$@"
	tpm_success "${!crt}" "$(kt_alg "$p")"
}

# t_cp_password PREFIX SOURCE: a key with a password, from each source.
t_cp_password() {
	local p=$1 src=$2 key crt pw
	key=${p}_KEY crt=${p}_CRT pw=${p}_PASSWORD
	set -- --private-key "${!key}" --certificate "${!crt}"
	printf '%s\n' "${!pw}" >"$T/pw"
	case $src in
	pass) tpm_cp "$@" --tpm-key-password "pass:${!pw}" ;;
	env) RASIGN_TEST_PW=${!pw} tpm_cp "$@" --tpm-key-password env:RASIGN_TEST_PW ;;
	file) tpm_cp "$@" --tpm-key-password "file:$T/pw" ;;
	fd) tpm_cp "$@" --tpm-key-password fd:3 3<"$T/pw" ;;
	literal) tpm_cp "$@" --tpm-key-password "${!pw}" ;;
	esac
	tpm_success "${!crt}" "$(kt_alg "$p")"
}

# t_cp_der PREFIX [rasign args]: the TSS2 PRIVATE KEY file as DER (the PEM
# body, base64-decoded).
t_cp_der() {
	local p=$1 key crt
	shift
	key=${p}_KEY crt=${p}_CRT
	sed '/^-----/d' "${!key}" | base64 -d >"$T/key.der" ||
		fail "cannot decode ${!key}"
	openssl asn1parse -inform DER -in "$T/key.der" 2>/dev/null |
		grep -q ':2\.23\.133\.10\.1\.3$' ||
		fail "$T/key.der is not a DER TSS2 PRIVATE KEY"
	! grep -q -- '-----BEGIN' "$T/key.der" || fail "$T/key.der is still PEM"
	tpm_cp --private-key "$T/key.der" --certificate "${!crt}" "$@"
	tpm_success "${!crt}" "$(kt_alg "$p")"
}

# A handle: outside 0x81000000-0x81ffffff is a usage error (exit 2), which
# needs no TPM to see: with a TCTI that leads nowhere it is still exit 2,
# not reported as an unreachable TPM.
t_handle_usage_without_tpm() {
	without_tcti_env rasign_cp --tpm-tcti "swtpm:path=$T/nothing" \
		--private-key handle:0x80000001 --certificate "$TPM_EC_P256_CRT" \
		--no-tpm-key-password --intermediates "$INTERMEDIATES"
	assert_failure 2 'not a persistent TPM handle'
	assert_no_request
}

# t_cp_der_cert PREFIX: the certificate file in DER (PREFIX_CRT_DER).
t_cp_der_cert() {
	local key=${1}_KEY crt=${1}_CRT_DER
	tpm_cp --private-key "${!key}" --certificate "${!crt}"
	tpm_success "${!crt}" "$(kt_alg "$1")"
}

# handle: takes the number without 0x too.
t_cp_handle_no_0x() {
	tpm_cp --private-key "handle:${TPM_HANDLE_RSA2048_HANDLE#0x}" \
		--certificate "$TPM_HANDLE_RSA2048_CRT" --no-tpm-key-password
	tpm_success "$TPM_HANDLE_RSA2048_CRT" RSA
}

# ---------------------------------------------------------------- TCTI

# Only TPM2TOOLS_TCTI leads to the TPM.
t_tcti_env() {
	unset TPM_DEVICE
	TPM2TOOLS_TCTI=$TCTI rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	tpm_success "$TPM_EC_P256_CRT" ECDSA
}

# Only TPM_DEVICE, naming swtpm's socket (the Go helper's variable).
t_tcti_device() {
	unset TPM2TOOLS_TCTI
	[ -S "$TPM_STATE/sock" ] || fail "no socket $TPM_STATE/sock"
	TPM_DEVICE=$TPM_STATE/sock rasign_cp --private-key "$TPM_RSA2048_KEY" \
		--certificate "$TPM_RSA2048_CRT" --intermediates "$INTERMEDIATES"
	tpm_success "$TPM_RSA2048_CRT" RSA
}

# --tpm-tcti before TPM2TOOLS_TCTI, which before TPM_DEVICE: the one that
# wins is right, the others lead nowhere.
t_tcti_flag_wins() {
	TPM2TOOLS_TCTI="swtpm:path=$T/nothing" TPM_DEVICE=$T/nothing \
		rasign_cp --tpm-tcti "$TCTI" --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	tpm_success "$TPM_EC_P256_CRT" ECDSA
}

t_tcti_env_wins() {
	TPM2TOOLS_TCTI=$TCTI TPM_DEVICE=$T/nothing \
		rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	tpm_success "$TPM_EC_P256_CRT" ECDSA
}

# Nothing says where the TPM is, and this machine has none: exit 5, naming
# what was tried. (A machine with a TPM would use it: no test there.)
t_no_tpm() {
	[ ! -e /dev/tpmrm0 ] || skip "this machine has /dev/tpmrm0"
	unset TPM2TOOLS_TCTI TPM_DEVICE
	rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	assert_failure 5 'no TPM reachable: tried device:/dev/tpmrm0 and tabrmd'
	assert_no_request
}

# t_tcti_unreachable WANT-IN-MESSAGE [rasign args]: a TCTI that names no TPM.
t_tcti_unreachable() {
	local want=$1
	shift
	without_tcti_env rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES" "$@"
	assert_failure 5 "cannot reach the TPM through TCTI \"$want\""
	assert_no_request
}

t_tcti_env_unreachable() {
	unset TPM_DEVICE
	TPM2TOOLS_TCTI="swtpm:path=$T/nothing" rasign_cp \
		--private-key "$TPM_EC_P256_KEY" --certificate "$TPM_EC_P256_CRT" \
		--intermediates "$INTERMEDIATES"
	assert_failure 5 "cannot reach the TPM through TCTI \"swtpm:path=$T/nothing\""
	assert_no_request
}

t_tpm_device_not_socket() {
	unset TPM2TOOLS_TCTI
	TPM_DEVICE=$T/nothing rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	assert_failure 5 "cannot reach the TPM through TCTI \"device:$T/nothing\""
	assert_no_request
}

# ---------------------------------------------------------------- failures

# t_da_failure PHRASE [rasign args]: a wrong password is refused with exit 4
# and counted ONCE by the TPM's dictionary-attack protection: rasign must
# never retry an authorization (each retry is another strike towards
# lockout).
#
# How TPM2_PT_LOCKOUT_COUNTER (failedTries) moves, in the TPM reference code
# that libtpms/swtpm runs (DA.c): at the start of every command,
# DASelfHeal() lowers it by floor((now - selfHealTimer) / recoveryTime)
# (never below 0) and advances selfHealTimer by as many periods; an
# authorization failure on a DA-protected object adds 1 and sets
# selfHealTimer = now (DARegisterFailure()). recoveryTime is 1 s here.
# So, reading it before (B) and after (A) the run:
#   - between the "before" read and the failing command, self-healing may
#     lower it: by d <= min(B, ceil(elapsed seconds)) -- decay in that
#     direction is possible only if B > 0;
#   - after the failure the timer starts afresh: nothing heals within 1 s.
#     If the two reads are less than 1 s apart, A = B + 1 - d exactly.
# B is made 0 first (tpm2_dictionarylockout -c; lockoutAuth is empty), so
# no decay can come before the failure and the check is exact: A = 1.
# A retry would show as 2. A host so slow (a CHECKER such as valgrind) that
# the reads are e >= 1 s apart may see up to floor(e) periods healed after
# the failure: then 1 - floor(e) <= A <= 1 (a retry could hide only there).
t_da_failure() {
	local phrase=$1 before after t0 t1 el
	shift
	clear_lockout
	t0=$(usec)
	before=$(lockout_counter) || fail "cannot read the lockout counter"
	tpm_cp "$@"
	after=$(lockout_counter) || fail "cannot read the lockout counter"
	t1=$(usec)
	el=$(((t1 - t0) / 1000000))
	echo "lockout counter: $before before, $after after, $(((t1 - t0) / 1000)) ms apart"
	assert_failure 4 "$phrase"
	assert_no_request
	[ "$before" = 0 ] || fail "the lockout counter is $before after a clear, want 0"
	if [ "$el" = 0 ]; then
		[ "$after" = 1 ] ||
			fail "the lockout counter went from 0 to $after: want exactly 1 (one authorization, not retried)"
	elif [ "$after" -gt 1 ] || [ "$after" -lt $((1 - el)) ]; then
		fail "the lockout counter went from 0 to $after in ${el}s: want 1 (at least $((1 - el)) after healing)"
	fi
}

# The long-running update with a wrong TPM key password: it must stop with
# exit 4 after the one failed authorization, not retry on its backoff
# schedule until the TPM locks out (each retry would count).
t_update_wrong_password() {
	local after
	clear_lockout
	export AWS_SHARED_CREDENTIALS_FILE=$T/credentials
	without_tcti_env run_rasign update --tpm-tcti "$TCTI" \
		--intermediates "$INTERMEDIATES" --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
		--endpoint "$EP_URL" --private-key "$TPM_EC_P256_PW_KEY" \
		--certificate "$TPM_EC_P256_PW_CRT" --tpm-key-password pass:wrong
	after=$(lockout_counter) || fail "cannot read the lockout counter"
	unset AWS_SHARED_CREDENTIALS_FILE
	assert_failure 4 'wrong password.*lock'
	[ "$after" = 1 ] || fail "the lockout counter is $after: update retried the wrong password"
	[ ! -e "$T/credentials" ] || fail "a credentials file was written"
}

# t_no_password_no_auth PHRASE [rasign args]: a missing password is refused
# (exit 4) before any authorization reaches the TPM: the counter stays 0
# (nothing, not even an empty password, was tried).
t_no_password_no_auth() {
	local phrase=$1 after
	shift
	clear_lockout
	tpm_cp "$@"
	after=$(lockout_counter) || fail "cannot read the lockout counter"
	assert_failure 4 "$phrase"
	assert_no_request
	[ "$after" = 0 ] ||
		fail "the lockout counter is $after after a missing password: an authorization was tried"
}

# t_fail CODE PHRASE [rasign args]: a pre-flight failure with --tpm-tcti.
t_fail() {
	local code=$1 phrase=$2
	shift 2
	tpm_cp "$@"
	assert_failure "$code" "$phrase"
	assert_no_request
}

# Whatever failed, nothing is left loaded in the TPM.
t_failures_leave_nothing() {
	assert_tpm_empty
}

# A key file whose emptyAuth says it has no password: --tpm-key-password is
# ignored (rasign(1), TPM passwords), so no authorization fails.
t_empty_auth_ignores_password() {
	local after
	clear_lockout
	tpm_cp --private-key "$TPM_EC_P256_KEY" --certificate "$TPM_EC_P256_CRT" \
		--tpm-key-password pass:not-this-one
	tpm_success "$TPM_EC_P256_CRT" ECDSA
	after=$(lockout_counter) || fail "cannot read the lockout counter"
	[ "$after" = 0 ] || fail "the lockout counter is $after: a password was tried"
}

# A key file under the endorsement hierarchy (tpm-ec-p256.pem with its parent
# INTEGER 0x40000001 rewritten to 0x4000000B): refused, exit 3.
t_parent_not_owner() {
	sed '/^-----/d' "$TPM_EC_P256_KEY" | base64 -d >"$T/key.der" ||
		fail "cannot decode $TPM_EC_P256_KEY"
	$PY - "$T/key.der" "$T/endorsement.der" <<'EOF' || fail "cannot rewrite the parent"
import sys
d = open(sys.argv[1], "rb").read()
old, new = bytes.fromhex("020440000001"), bytes.fromhex("02044000000b")
if d.count(old) != 1:
    sys.exit("parent INTEGER 0x40000001 not found exactly once")
open(sys.argv[2], "wb").write(d.replace(old, new))
EOF
	tpm_cp --private-key "$T/endorsement.der" --certificate "$TPM_EC_P256_CRT"
	assert_failure 3 'neither the owner hierarchy nor a persistent'
	assert_no_request
}

# The TPM is in dictionary-attack lockout (maxTries 1, no healing for 60 s,
# one wrong password): the right password is refused too, exit 4, with a
# message that says to wait or reset. tpm_da_restore (at the top level)
# puts make-tpm-keys.sh's settings back, whatever happened here.
# One try left before lockout (maxTries 1): rasign does not spend it on a
# password from a source; nothing is counted, and the TPM stays usable.
t_final_try() {
	local after
	tpm2_dictionarylockout -s -n 1 -t 60 -l 1 >"$T/dalock.log" 2>&1 ||
		{ cat "$T/dalock.log"; fail "cannot set the dictionary-attack parameters"; }
	clear_lockout
	tpm_cp --private-key "$TPM_EC_P256_PW_KEY" --certificate "$TPM_EC_P256_PW_CRT" \
		--tpm-key-password pass:wrong
	assert_failure 4 'one try left.*typed at its prompt'
	assert_no_request
	after=$(lockout_counter) || fail "cannot read the lockout counter"
	[ "$after" = 0 ] || fail "the lockout counter is $after: a try was spent"
	tpm2_getcap properties-variable | sed -n '/^TPM2_PT_PERMANENT:/,/^TPM2_PT_STARTUP/p' |
		grep -Eq '^ *inLockout: *0$' || fail "the TPM went into lockout"
}

t_in_lockout() {
	tpm2_dictionarylockout -s -n 1 -t 60 -l 1 >"$T/dalock.log" 2>&1 ||
		{ cat "$T/dalock.log"; fail "cannot set the dictionary-attack parameters"; }
	clear_lockout
	# Somebody else spends the one try (tpm2-tools, a wrong password).
	echo data | tpm2_sign -c "$TPM_HANDLE_EC_P256_PW_HANDLE" -p wrong -g sha256 \
		-o "$T/sig" >"$T/sign.log" 2>&1 && fail "tpm2_sign took a wrong password"
	tpm2_getcap properties-variable | sed -n '/^TPM2_PT_PERMANENT:/,/^TPM2_PT_STARTUP/p' |
		grep -Eq '^ *inLockout: *1$' || fail "the TPM is not in lockout after maxTries failures"
	tpm_cp --private-key "$TPM_EC_P256_PW_KEY" --certificate "$TPM_EC_P256_PW_CRT" \
		--tpm-key-password "pass:$TPM_EC_P256_PW_PASSWORD"
	assert_failure 4 'lockout.*(wait|tpm2_dictionarylockout -c)'
	assert_no_request
	tpm_cp --private-key "$TPM_HANDLE_EC_P256_PW_KEY" \
		--certificate "$TPM_HANDLE_EC_P256_PW_CRT" \
		--tpm-key-password "pass:$TPM_HANDLE_EC_P256_PW_PASSWORD"
	assert_failure 4 'lockout'
	assert_no_request
}

tpm_da_restore() {
	{ tpm2_dictionarylockout -s -n "$TPM_MAX_AUTH_FAIL" \
		-t "$TPM_LOCKOUT_INTERVAL" -l 1 && tpm2_dictionarylockout -c; } \
		>/dev/null 2>&1 ||
		bail_out "cannot restore the TPM's dictionary-attack settings"
}

# The owner hierarchy has a password: the SRK that key files (parent
# 0x40000001) are loaded under is created with --tpm-parent-password; without
# it, or with a wrong one, exit 4. tpm_owner_restore (top level) removes the
# password again.
OWNER_PW=owner-pw
t_owner_password() {
	tpm2_changeauth -c o "$OWNER_PW" >"$T/changeauth.log" 2>&1 ||
		{ cat "$T/changeauth.log"; fail "cannot set the owner password"; }
	t_cp TPM_EC_P256 --tpm-parent-password "pass:$OWNER_PW"
	RASIGN_TEST_OWNER_PW=$OWNER_PW t_cp TPM_RSA2048 \
		--tpm-parent-password env:RASIGN_TEST_OWNER_PW
	tpm_cp --private-key "$TPM_EC_P256_KEY" --certificate "$TPM_EC_P256_CRT"
	assert_failure 4 'owner.*wrong password'
	assert_no_request
	tpm_cp --private-key "$TPM_EC_P256_KEY" --certificate "$TPM_EC_P256_CRT" \
		--tpm-parent-password pass:wrong
	assert_failure 4 'owner.*wrong password.*lock'
	assert_no_request
	# A persistent key needs no owner.
	t_cp TPM_HANDLE_EC_P256 --no-tpm-key-password
}

tpm_owner_restore() {
	tpm2_changeauth -c o -p "$OWNER_PW" >/dev/null 2>&1
	tpm2_getcap properties-variable | grep -Eq '^ *ownerAuthSet: *0$' ||
		bail_out "cannot remove the owner password again"
}

# ---------------------------------------------------------------- the TPM's slots

# Many signatures, every key kind: 20 sign-string and 4 credential-process
# runs; afterwards no transient object and no session is left, and the three
# object slots of a TPM without a resource manager are all free: three
# primaries can be created at once. Then a key still loads.
t_no_leftovers() {
	local i k
	local -a keys=(
		"--private-key $TPM_EC_P256_KEY"
		"--private-key $TPM_RSA2048_KEY"
		"--private-key $TPM_EC_P256_PW_KEY --tpm-key-password pass:$TPM_EC_P256_PW_PASSWORD"
		"--private-key $TPM_TOOLS_EC_P256_KEY"
		"--private-key $TPM_HANDLE_EC_P256_KEY --no-tpm-key-password"
		"--private-key $TPM_HANDLE_EC_P256_PW_KEY --tpm-key-password pass:$TPM_HANDLE_EC_P256_PW_PASSWORD"
		"--private-key $TPM_PARENTPW_EC_P256_KEY --tpm-parent-password pass:$PARENT_PASSWORD"
	)
	assert_tpm_empty
	for i in $(seq 0 19); do
		k=${keys[i % ${#keys[@]}]}
		# shellcheck disable=SC2086 # k is words without blanks inside
		tpm_sign $k --format bin
		assert_exit 0
		[ -s "$OUT" ] || fail "run $i: no signature"
	done
	t_cp TPM_EC_P256
	t_cp TPM_RSA3072
	t_cp TPM_HANDLE_RSA2048 --no-tpm-key-password
	t_cp TPM_PARENTPW_EC_P256 --tpm-parent-password "pass:$PARENT_PASSWORD"
	assert_tpm_empty
	for i in 1 2 3; do
		tpm2_createprimary -C o -G ecc256 -c "$T/primary$i.ctx" -Q \
			>"$T/primary.log" 2>&1 ||
			{ cat "$T/primary.log"; tpm2_flushcontext -t >/dev/null 2>&1;
			  fail "object slot $i of 3 is not free"; }
	done
	[ "$(tpm2_getcap handles-transient | grep -c 0x80)" = 3 ] ||
		{ tpm2_flushcontext -t >/dev/null 2>&1; fail "want 3 transient objects loaded"; }
	tpm2_flushcontext -t >"$T/flush.log" 2>&1 ||
		{ cat "$T/flush.log"; fail "tpm2_flushcontext -t failed"; }
	assert_tpm_empty
	t_cp TPM_EC_P384
	assert_tpm_empty
}

# The TPM restarts (orderly) between two runs: the SRK is recreated from the
# same seed, so key files still load, and the persistent keys and the
# persistent parent are still there.
t_restart() {
	local pers
	t_cp TPM_EC_P256
	swtpm_stop "$TPM_STATE" >"$T/swtpm.log" 2>&1 || { cat "$T/swtpm.log"; fail "swtpm_stop failed"; }
	[ ! -S "$TPM_STATE/sock" ] || fail "the socket is still there after swtpm_stop"
	swtpm_start "$TPM_STATE" >>"$T/swtpm.log" 2>&1 ||
		{ cat "$T/swtpm.log"; fail "swtpm does not start again"; }
	[ "$TPM_TCTI" = "$TCTI" ] || fail "swtpm came back on $TPM_TCTI, not $TCTI"
	export TPM2TOOLS_TCTI=$TCTI
	pers=$(tpm2_getcap handles-persistent | tr -d ' -' | tr '\n' ' ')
	[ "$pers" = "0x81000001 0x81000101 0x81000102 0x81000103 " ] ||
		fail "persistent handles after the restart: $pers"
	t_cp TPM_EC_P256
	t_cp TPM_RSA2048
	t_cp TPM_HANDLE_EC_P256 --no-tpm-key-password
	t_cp TPM_HANDLE_EC_P256_PW --tpm-key-password "pass:$TPM_HANDLE_EC_P256_PW_PASSWORD"
	t_cp TPM_PARENTPW_EC_P256 --tpm-parent-password "pass:$PARENT_PASSWORD"
	assert_tpm_empty
}

# One signer in one process across a TPM restart (as serve and update
# need): hsm-tests/unit/tpm_reopen.c signs, waits while we restart swtpm,
# then signs again and must reconnect and reload its key by itself.
t_signer_survives_restart() {
	local tool=${TPM_REOPEN:-build/unit/tpm_reopen} fifo=$T/go pid
	[ -x "$tool" ] || { skip "$tool not built"; return; }
	mkfifo "$fifo"
	"$tool" "$TCTI" "$TPM_EC_P256_KEY" <"$fifo" >"$T/reopen.out" 2>&1 &
	pid=$!
	exec 8>"$fifo"
	for _ in $(seq 50); do grep -q '^ready' "$T/reopen.out" && break; sleep 0.1; done
	grep -q '^ok - first signature' "$T/reopen.out" ||
		{ exec 8>&-; wait "$pid"; cat "$T/reopen.out"; fail "no first signature"; }
	swtpm_stop "$TPM_STATE" >"$T/swtpm.log" 2>&1 &&
		swtpm_start "$TPM_STATE" >>"$T/swtpm.log" 2>&1 ||
		{ cat "$T/swtpm.log"; fail "cannot restart swtpm"; }
	export TPM2TOOLS_TCTI=$TCTI
	echo go >&8
	exec 8>&-
	wait "$pid" || { cat "$T/reopen.out"; fail "the signer did not survive the TPM restart"; }
	[ "$(grep -c '^ok - signature [0-9] after the TPM restarted' "$T/reopen.out")" = 3 ] ||
		{ cat "$T/reopen.out"; fail "not 3 signatures after the restart"; }
	assert_tpm_empty
}

# The swtpm must be up for the next test even if t_restart failed halfway
# (the test ran in a subshell; the pid file tells).
tpm_ensure_running() {
	_swtpm_pid "$TPM_STATE" >/dev/null && return 0
	swtpm_start "$TPM_STATE" >>"$TESTDIR/swtpm-start.log" 2>&1 ||
		bail_out "swtpm is gone and does not start again"
	export TPM2TOOLS_TCTI=$TCTI
	unset TPM2OPENSSL_TCTI
}

# ---------------------------------------------------------------- sign-string

# t_sign_string PREFIX FORMAT DIGEST [rasign args]: with --certificate.
t_sign_string() {
	local p=$1 fmt=$2 md=$3 key crt
	shift 3
	key=${p}_KEY crt=${p}_CRT
	tpm_sign --private-key "${!key}" --certificate "${!crt}" \
		--format "$fmt" --digest "$md" "$@"
	assert_exit 0
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
	check_signature "$fmt" "$md" "${!crt}"
}

# t_sign_string_nocert PREFIX FORMAT DIGEST [rasign args]: no --certificate:
# the public key in the fixed string is the TPM's; the signature must still
# verify with the certificate that make-tpm-keys.sh issued for that key.
t_sign_string_nocert() {
	local p=$1 fmt=$2 md=$3 key crt
	shift 3
	key=${p}_KEY crt=${p}_CRT
	tpm_sign --private-key "${!key}" --format "$fmt" --digest "$md" "$@"
	assert_exit 0
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
	check_signature "$fmt" "$md" "${!crt}"
}

t_sign_string_wrong_password() {
	tpm_sign --private-key "$TPM_EC_P256_PW_KEY" --tpm-key-password pass:wrong
	assert_failure 4 'wrong password.*lock'
}

# ------------------------------------------------------ read-certificate-data

# t_rcd PREFIX KEYTYPE: the JSON for a certificate file: key type, the
# certificate's DER in base64, the decimal serial, the algorithms.
t_rcd() {
	local crt=${1}_CRT kt=$2 serial b64 algs
	run_rasign read-certificate-data --certificate "${!crt}"
	assert_exit 0
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
	serial=$($CHECK serial "${!crt}") || fail "cannot read the serial of ${!crt}"
	case $serial in '' | *[!0-9]*) fail "serial '$serial' is not decimal" ;; esac
	b64=$(openssl x509 -in "${!crt}" -outform DER | base64 -w0)
	assert_json_field "$OUT" keyType "$kt"
	assert_json_field "$OUT" serialNumber "$serial"
	assert_json_field "$OUT" certificateData "$b64"
	algs=$($CHECK field "$OUT" supportedAlgorithms) || fail "no supportedAlgorithms"
	[ "$algs" = "[\"${kt}SHA256\",\"${kt}SHA384\",\"${kt}SHA512\"]" ] ||
		fail "supportedAlgorithms is $algs"
}

# ---------------------------------------------------------------- the run

run_test "tpm2-openssl EC P-256" t_cp TPM_EC_P256
run_test "tpm2-openssl EC P-384" t_cp TPM_EC_P384
run_test "tpm2-openssl RSA-2048" t_cp TPM_RSA2048
run_test "tpm2-openssl RSA-3072" t_cp TPM_RSA3072
for src in pass env file fd literal; do
	run_test "tpm2-openssl EC P-256 with password, --tpm-key-password $src" \
		t_cp_password TPM_EC_P256_PW "$src"
done
run_test "tpm2-tools EC P-256" t_cp TPM_TOOLS_EC_P256
run_test "tpm2-tools EC P-256 with password" t_cp_password TPM_TOOLS_EC_P256_PW pass
run_test "persistent handle EC P-256, --no-tpm-key-password" \
	t_cp TPM_HANDLE_EC_P256 --no-tpm-key-password
run_test "persistent handle RSA-2048, --no-tpm-key-password" \
	t_cp TPM_HANDLE_RSA2048 --no-tpm-key-password
run_test "persistent handle EC P-256 with password" \
	t_cp_password TPM_HANDLE_EC_P256_PW pass
run_test "key under a password-protected persistent parent" \
	t_cp TPM_PARENTPW_EC_P256 --tpm-parent-password "pass:$PARENT_PASSWORD"
run_test "key file as DER" t_cp_der TPM_EC_P256
run_test "certificate as DER" t_cp_der_cert TPM_EC_P384
run_test "key file with password as DER" t_cp_der TPM_EC_P256_PW \
	--tpm-key-password "pass:$TPM_EC_P256_PW_PASSWORD"

run_test "TCTI from TPM2TOOLS_TCTI alone" t_tcti_env
run_test "TCTI from TPM_DEVICE (a socket) alone" t_tcti_device
run_test "--tpm-tcti wins over TPM2TOOLS_TCTI and TPM_DEVICE" t_tcti_flag_wins
run_test "TPM2TOOLS_TCTI wins over TPM_DEVICE" t_tcti_env_wins
run_test "no TCTI anywhere, no TPM: exit 5" t_no_tpm
run_test "--tpm-tcti naming no TPM: exit 5" t_tcti_unreachable \
	"swtpm:path=$TESTDIR/nothing" --tpm-tcti "swtpm:path=$TESTDIR/nothing"
run_test "TPM2TOOLS_TCTI naming no TPM: exit 5" t_tcti_env_unreachable
run_test "TPM_DEVICE naming no device: exit 5" t_tpm_device_not_socket

run_test "wrong key password: exit 4, counted once by the TPM" t_da_failure \
	'wrong password.*lock' --private-key "$TPM_EC_P256_PW_KEY" \
	--certificate "$TPM_EC_P256_PW_CRT" --tpm-key-password pass:wrong
run_test "wrong password of a persistent key: exit 4, counted once" t_da_failure \
	'wrong password.*lock' --private-key "$TPM_HANDLE_EC_P256_PW_KEY" \
	--certificate "$TPM_HANDLE_EC_P256_PW_CRT" --tpm-key-password pass:wrong
run_test "update (long-running), wrong key password: exit 4, no retry" \
	t_update_wrong_password
run_test "wrong parent password: exit 4, counted once" t_da_failure \
	'wrong password.*lock' --private-key "$TPM_PARENTPW_EC_P256_KEY" \
	--certificate "$TPM_PARENTPW_EC_P256_CRT" --tpm-parent-password pass:wrong
run_test "missing key password without a terminal: exit 4, nothing tried" \
	t_no_password_no_auth 'needs a password' --private-key "$TPM_EC_P256_PW_KEY" \
	--certificate "$TPM_EC_P256_PW_CRT"
run_test "missing password of a persistent key without a terminal: exit 4" \
	t_no_password_no_auth 'needs a password' \
	--private-key "$TPM_HANDLE_EC_P256_PW_KEY" --certificate "$TPM_HANDLE_EC_P256_PW_CRT"
run_test "corrupt key file: exit 3" t_fail 3 'refuses to load|corrupt' \
	--private-key "$TPM_CORRUPT_KEY" --certificate "$TPM_CORRUPT_CRT"
run_test "key from another TPM: exit 3" t_fail 3 'refuses to load|another TPM' \
	--private-key "$TPM_FOREIGN_KEY" --certificate "$TPM_FOREIGN_CRT"
run_test "TPM key with another key's certificate: exit 3" t_fail 3 'does not match' \
	--private-key "$TPM_EC_P256_KEY" --certificate "$TPM_TOOLS_EC_P256_CRT"
run_test "persistent key with another key's certificate: exit 3" t_fail 3 'does not match' \
	--private-key "$TPM_HANDLE_EC_P256_KEY" --certificate "$TPM_EC_P256_CRT" \
	--no-tpm-key-password
run_test "TPM key file without --certificate: exit 2" t_fail 2 \
	'no certificate: give --certificate' --private-key "$TPM_EC_P256_KEY"
run_test "persistent key without --certificate: exit 2" t_fail 2 \
	'no certificate: give --certificate' --private-key "$TPM_HANDLE_EC_P256_KEY" \
	--no-tpm-key-password
run_test "--no-tpm-key-password is ignored for a key file with a password" \
	t_no_password_no_auth 'needs a password' --private-key "$TPM_EC_P256_PW_KEY" \
	--certificate "$TPM_EC_P256_PW_CRT" --no-tpm-key-password
run_test "--tpm-key-password is ignored for a key file without one" \
	t_empty_auth_ignores_password
run_test "handle: without 0x" t_cp_handle_no_0x
run_test "handle: that is not persistent: exit 2" t_fail 2 'not a persistent TPM handle' \
	--private-key handle:0x80000001 --certificate "$TPM_EC_P256_CRT" --no-tpm-key-password
# The handle is a usage error, which needs no TPM to see (rasign(1), EXIT
# STATUS 2): it must not be reported as an unreachable TPM instead.
run_test "handle: that is not persistent, no TPM reachable: exit 2" \
	t_handle_usage_without_tpm
run_test "no key at a persistent handle: exit 5" t_fail 5 'no key at TPM handle 0x81000199' \
	--private-key handle:0x81000199 --certificate "$TPM_EC_P256_CRT" --no-tpm-key-password
run_test "key file under the endorsement hierarchy: exit 3" t_parent_not_owner
run_test "the failures left nothing loaded in the TPM" t_failures_leave_nothing
run_test "one try left before lockout: not spent on a source, exit 4" t_final_try
tpm_da_restore
run_test "TPM in dictionary-attack lockout: exit 4" t_in_lockout
tpm_da_restore
run_test "owner hierarchy password from --tpm-parent-password" t_owner_password
tpm_owner_restore

run_test "24 runs leave no transient object or session; 3 slots free" t_no_leftovers

# sign-string: EC P-256 and RSA-2048 with every digest and format; the other
# keys with one each.
for p in TPM_EC_P256 TPM_RSA2048; do
	for md in SHA256 SHA384 SHA512; do
		for fmt in text json bin; do
			run_test "sign-string $p --digest $md --format $fmt" \
				t_sign_string "$p" "$fmt" "$md"
		done
	done
done
run_test "sign-string TPM_EC_P384 --digest SHA384" t_sign_string TPM_EC_P384 json SHA384
run_test "sign-string TPM_RSA3072 --digest SHA512" t_sign_string TPM_RSA3072 bin SHA512
run_test "sign-string key with password" t_sign_string TPM_EC_P256_PW text SHA256 \
	--tpm-key-password "pass:$TPM_EC_P256_PW_PASSWORD"
run_test "sign-string persistent RSA-2048" t_sign_string TPM_HANDLE_RSA2048 json SHA256 \
	--no-tpm-key-password
run_test "sign-string without --certificate, EC P-256" \
	t_sign_string_nocert TPM_EC_P256 json SHA256
run_test "sign-string without --certificate, EC P-384" \
	t_sign_string_nocert TPM_EC_P384 text SHA512
run_test "sign-string without --certificate, RSA-2048" \
	t_sign_string_nocert TPM_RSA2048 bin SHA384
run_test "sign-string without --certificate, persistent RSA-2048" \
	t_sign_string_nocert TPM_HANDLE_RSA2048 text SHA256 --no-tpm-key-password
run_test "sign-string without --certificate, parent with password" \
	t_sign_string_nocert TPM_PARENTPW_EC_P256 json SHA256 \
	--tpm-parent-password "pass:$PARENT_PASSWORD"
run_test "sign-string, wrong key password" t_sign_string_wrong_password

run_test "read-certificate-data, TPM EC P-256 certificate" t_rcd TPM_EC_P256 EC
run_test "read-certificate-data, TPM RSA-2048 certificate" t_rcd TPM_RSA2048 RSA

run_test "swtpm restarted between two runs" t_restart
run_test "one signer survives a TPM restart (reconnects, reloads)" t_signer_survives_restart
tpm_ensure_running
run_test "after the restart, nothing left loaded" t_failures_leave_nothing
