#!/bin/bash
# End-to-end tests of `rasign credential-process` with keys in files, against
# the local CreateSession endpoint (build/ra-endpoint), which verifies every
# request as AWS would and records what it saw.
#
# Run from the repo root: bash hsm-tests/test-file-keys.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki
# EP: the endpoint most tests use. EP2 presents a self-signed TLS certificate
# nobody trusts. EP3 is only for the timeout test: its handler sleeps for
# seconds, which must not hold up the other tests.
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
start_endpoint EP2 "$TLS_UNTRUSTED_CERT" "$TLS_UNTRUSTED_KEY"
start_endpoint EP3 "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# ---------------------------------------------------------------- the CLI

t_version() {
	run_rasign version
	assert_exit 0
	# The first line is the version; the second lists the backends.
	if ! head -n 1 "$OUT" | grep -q '[0-9]'; then
		show_run
		fail "version output does not start with a line with a number"
	fi
}

# t_help WORD [SUBCOMMAND]: usage goes to stdout, exit 0, and mentions WORD.
t_help() {
	local word=$1
	shift
	run_rasign "$@" --help
	assert_exit 0
	grep -q -- "$word" "$OUT" || { show_run; fail "usage on stdout does not mention $word"; }
}

t_unknown_flag() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--no-such-flag
	assert_failure 2 'no-such-flag|unknown|unrecognized'
	assert_no_request
}

# ---------------------------------------------------------------- success

# t_file_key TYPE CERTFILE KEYFILE: a leaf of the intermediate, with
# --intermediates, so the exact chain header is the intermediate.
t_file_key() {
	local alg=ECDSA pem
	case $1 in rsa*) alg=RSA ;; esac
	rasign_cp --certificate "$2" --private-key "$3" --intermediates "$INTERMEDIATES"
	# check.py reads the leaf from the PEM certificate.
	pem=${2%.der}
	expect_success "$pem" "$alg" --chain "$INTER_CA_CRT"
}

t_root_leaf_no_intermediates() {
	rasign_cp --certificate "$LEAF_ROOT_EC_P256_CRT" --private-key "$LEAF_ROOT_EC_P256_P8"
	expect_success "$LEAF_ROOT_EC_P256_CRT" ECDSA --no-chain
}

t_big_serial() {
	local hex dec
	# Independently of check.py: openssl prints the serial in hex.
	hex=$(openssl x509 -in "$LEAF_BIGSERIAL_CRT" -noout -serial | sed 's/^serial=//')
	dec=$($PY -c "import sys; print(int(sys.argv[1], 16))" "$hex")
	[ "${#dec}" -gt 20 ] || fail "fixture serial $hex is not longer than 64 bits"
	rasign_cp --certificate "$LEAF_BIGSERIAL_CRT" --private-key "$LEAF_BIGSERIAL_P8" \
		--intermediates "$INTERMEDIATES"
	expect_success "$LEAF_BIGSERIAL_CRT" ECDSA --serial "$dec"
	grep -q "Credential=$dec/" "$T/new.jsonl" ||
		fail "the recorded Authorization does not carry Credential=$dec/"
}

# t_encrypted TYPE KEYFILE SOURCE: an encrypted PKCS#8 key with the password
# given through one of the sources.
t_encrypted() {
	local crt alg=ECDSA
	case $1 in rsa2048) crt=$LEAF_RSA2048_CRT alg=RSA ;; *) crt=$LEAF_EC_P256_CRT ;; esac
	set -- "$crt" "$2" "$3"
	case $3 in
	pass) rasign_cp --certificate "$1" --private-key "$2" --intermediates "$INTERMEDIATES" \
		--pkcs8-password "pass:$PASSWORD" ;;
	env) RASIGN_TEST_PW=$PASSWORD rasign_cp --certificate "$1" --private-key "$2" \
		--intermediates "$INTERMEDIATES" --pkcs8-password env:RASIGN_TEST_PW ;;
	file) rasign_cp --certificate "$1" --private-key "$2" --intermediates "$INTERMEDIATES" \
		--pkcs8-password "file:$PASSWORD_FILE" ;;
	fd) rasign_cp --certificate "$1" --private-key "$2" --intermediates "$INTERMEDIATES" \
		--pkcs8-password fd:3 3<"$PASSWORD_FILE" ;;
	literal) rasign_cp --certificate "$1" --private-key "$2" --intermediates "$INTERMEDIATES" \
		--pkcs8-password "$PASSWORD" ;;
	esac
	expect_success "$1" "$alg" --chain "$INTER_CA_CRT"
}

# t_p12 FILE [rasign args]: the PKCS#12 carries the intermediate, which must
# travel in X-Amz-X509-Chain.
t_p12() {
	local f=$1
	shift
	rasign_cp --certificate "$f" "$@"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain-contains "$INTER_CA_CRT"
}

t_combined_pem() {
	rasign_cp --certificate "$COMBO_EC_P256" --intermediates "$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_role_session_name() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --role-session-name rasign-test-session
	expect_success "$LEAF_EC_P256_CRT" ECDSA \
		--body '{"durationSeconds":3600,"roleSessionName":"rasign-test-session"}'
}

t_session_duration_900() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --session-duration 900
	expect_success "$LEAF_EC_P256_CRT" ECDSA --body '{"durationSeconds":900}'
}

t_explicit_region() {
	rasign_cp --certificate "$LEAF_RSA2048_CRT" --private-key "$LEAF_RSA2048_P8" \
		--intermediates "$INTERMEDIATES" --region us-east-1
	expect_success "$LEAF_RSA2048_CRT" RSA --region us-east-1
}

t_equals_syntax() {
	run_rasign credential-process --certificate="$LEAF_EC_P384_CRT" \
		--private-key="$LEAF_EC_P384_P8" --intermediates="$INTERMEDIATES" \
		--trust-anchor-arn="$TA_ARN" --profile-arn="$PROFILE_ARN" \
		--role-arn="$ROLE_ARN" --endpoint="$EP_URL" --session-duration=900 \
		--role-session-name=eq-syntax --region=us-east-1 --timeout=30
	expect_success "$LEAF_EC_P384_CRT" ECDSA \
		--body '{"durationSeconds":900,"roleSessionName":"eq-syntax"}'
}

t_debug() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --debug
	expect_success "$LEAF_EC_P256_CRT" ECDSA
	$CHECK debug --stdout "$OUT" --stderr "$ERR" --records "$T/new.jsonl" ||
		fail "--debug output is wrong"
}

# --debug must not print the PKCS#8 password either (STYLE.md, Secrets).
t_debug_no_password() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_ENC_AES256" \
		--intermediates "$INTERMEDIATES" --pkcs8-password "pass:$PASSWORD" --debug
	expect_success "$LEAF_EC_P256_CRT" ECDSA
	if grep -q -- "$PASSWORD" "$ERR"; then
		fail "--debug output contains the PKCS#8 password"
	fi
}

# ---------------------------------------------------------------- failures

t_wrong_key() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$WRONG_KEY" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'does not match'
	assert_no_request
}

t_expired() {
	rasign_cp --certificate "$LEAF_EXPIRED_CRT" --private-key "$LEAF_EXPIRED_P8" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'expired'
	assert_no_request
}

t_not_yet_valid() {
	rasign_cp --certificate "$LEAF_NOTYET_CRT" --private-key "$LEAF_NOTYET_P8" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'not yet valid'
	assert_no_request
}

t_untrusted_ca() {
	rasign_cp --certificate "$LEAF_UNTRUSTED_CRT" --private-key "$LEAF_UNTRUSTED_P8"
	assert_failure 7 'Untrusted signing certificate'
	assert_requests 1
}

t_unsupported_key() {
	rasign_cp --certificate "$1" --private-key "$2" --intermediates "$INTERMEDIATES"
	assert_failure 3 'unsupported'
	assert_no_request
}

t_wrong_password() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_ENC_AES256" \
		--intermediates "$INTERMEDIATES" --pkcs8-password pass:wrong-password
	assert_failure 4 'password'
	assert_no_request
}

# No --pkcs8-password and no terminal (run_rasign uses setsid, so /dev/tty
# cannot be opened): a clean password error, not a hang.
t_missing_password() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_ENC_AES128" \
		--intermediates "$INTERMEDIATES"
	assert_failure 4 'password'
	assert_no_request
}

t_missing_key_file() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$T/missing-key.pem" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'missing-key|no such file|not found'
	assert_no_request
}

t_garbage_cert() {
	printf 'this is not a certificate\n' >"$T/garbage.pem"
	rasign_cp --certificate "$T/garbage.pem" --private-key "$LEAF_EC_P256_P8"
	assert_failure 3 'certificate|garbage'
	assert_no_request
}

# The endpoint answers with a fault; ARGS are the fault lines.
t_fault_403() {
	set_faults "status 403"
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	assert_failure 7 'AccessDenied'
	# 4xx other than 429 is final: no retry.
	assert_requests 1
}

t_fault_500_then_ok() {
	set_faults "status 500" ok
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --requests=2
}

t_fault_429_thrice() {
	set_faults "status 429" "status 429" "status 429" ok
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	assert_failure 6 '429'
	assert_requests 3
}

t_fault_bad_answer() {
	set_faults "$1"
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	assert_failure 6 "$2"
}

t_fault_drop_then_ok() {
	set_faults drop ok
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --requests=2
}

# Every try (rasign may retry a timeout) meets a 5 s delay; --timeout 1 must
# end the run long before the 3 x 5 s the server would take.
t_timeout() {
	local start end
	use_endpoint EP3
	set_faults "delay 5000" "delay 5000" "delay 5000"
	start=$(date +%s)
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --timeout 1
	end=$(date +%s)
	assert_failure 6 'tim(ed )?out'
	[ $((end - start)) -lt 12 ] || fail "took $((end - start)) s with --timeout 1"
}

t_tls_untrusted() {
	use_endpoint EP2
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	assert_failure 6 'certificate|TLS|SSL'
	assert_no_request
}

t_tls_untrusted_no_verify() {
	use_endpoint EP2
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --no-verify-ssl
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_bad_arn() {
	run_rasign credential-process --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_P8" --intermediates "$INTERMEDIATES" \
		--trust-anchor-arn not-an-arn --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL"
	assert_failure 2 'arn'
	assert_no_request
}

t_region_mismatch() {
	run_rasign credential-process --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_P8" --intermediates "$INTERMEDIATES" \
		--trust-anchor-arn "$TA_ARN" \
		--profile-arn "${PROFILE_ARN/us-east-1/us-west-2}" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL"
	assert_failure 2 'region'
	assert_no_request
}

t_duration() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --session-duration "$1"
	assert_failure 2 "$2"
	assert_no_request
}

# ---------------------------------------------------------------- the run

run_test "version prints a version line" t_version
run_test "--help prints usage to stdout" t_help credential-process
run_test "credential-process --help prints usage to stdout" t_help --certificate credential-process
run_test "unknown flag exits 2" t_unknown_flag

for kt in rsa2048 rsa3072 rsa4096 ec-p256 ec-p384; do
	v=LEAF_$(echo "$kt" | tr a-z- A-Z_)
	crt=${v}_CRT crt_der=${v}_CRT_DER p8=${v}_P8 trad=${v}_TRAD p8_der=${v}_P8_DER
	run_test "$kt key PKCS#8 PEM" t_file_key "$kt" "${!crt}" "${!p8}"
	run_test "$kt key traditional PEM" t_file_key "$kt" "${!crt}" "${!trad}"
	run_test "$kt key PKCS#8 DER" t_file_key "$kt" "${!crt}" "${!p8_der}"
	run_test "$kt certificate DER" t_file_key "$kt" "${!crt_der}" "${!p8}"
done
run_test "leaf of the root without --intermediates" t_root_leaf_no_intermediates
# Ctrl-C at the password prompt: rasign dies of SIGINT and the terminal it
# leaves has echo on again (the slave is kept open here to look at it
# after: the shell, or the AWS CLI, would otherwise go on typing blind).
t_prompt_ctrl_c_echo() {
	local how
	how=$("$PY" - "$RASIGN" sign-string --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_ENC_AES256" <<'PYEOF'
import fcntl, os, select, signal, sys, termios, time
master, slave = os.openpty()
pid = os.fork()
if pid == 0:
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(master)
    os.execv(sys.argv[1], sys.argv[1:])
seen = b""
end = time.time() + 30
while not seen.rstrip().endswith(b":"):
    r, _, _ = select.select([master], [], [], 0.1)
    if r:
        seen += os.read(master, 4096)
    if time.time() > end:
        os.kill(pid, signal.SIGKILL)
        sys.exit("no prompt: %r" % seen)
time.sleep(0.2)
echo_during = termios.tcgetattr(slave)[3] & termios.ECHO
os.write(master, b"\x03")
_, st = os.waitpid(pid, 0)
echo_after = termios.tcgetattr(slave)[3] & termios.ECHO
print("signal %d" % os.WTERMSIG(st) if os.WIFSIGNALED(st) else
      "exit %d" % os.WEXITSTATUS(st),
      "echo-during=%d" % bool(echo_during), "echo-after=%d" % bool(echo_after))
PYEOF
	) || fail "$how"
	echo "$how"
	case $how in
	"signal 2 "*) ;;
	*) fail "rasign did not die of SIGINT: $how" ;;
	esac
	case $how in *echo-during=0*) ;; *) fail "echo was on during the prompt: $how" ;; esac
	case $how in *echo-after=1*) ;; *) fail "echo left off after Ctrl-C: $how" ;; esac
}

run_test "serial longer than 64 bits goes out in decimal" t_big_serial
run_test "Ctrl-C at the password prompt: SIGINT, echo on again" t_prompt_ctrl_c_echo

for kt in ec-p256 rsa2048; do
	v=LEAF_$(echo "$kt" | tr a-z- A-Z_)
	for enc in AES128 AES192 AES256 SCRYPT DER; do
		key=${v}_ENC_$enc
		for src in pass env file fd literal; do
			run_test "$kt encrypted PKCS#8 $enc, password from $src" \
				t_encrypted "$kt" "${!key}" "$src"
		done
	done
done

run_test "PKCS#12 without password" t_p12 "$P12_NOPASS"
run_test "PKCS#12 with password (AES-256)" t_p12 "$P12_PASS" --pkcs8-password "pass:$PASSWORD"
run_test "PKCS#12 legacy 3DES/SHA1, empty password" t_p12 "$P12_LEGACY"
run_test "combined key+certificate PEM" t_combined_pem
run_test "--role-session-name goes in the body" t_role_session_name
run_test "--session-duration 900 goes in the body" t_session_duration_900
run_test "--region given explicitly" t_explicit_region
run_test "--flag=value syntax" t_equals_syntax
run_test "--debug shows the canonical request, not the secrets" t_debug
run_test "--debug does not show the PKCS#8 password" t_debug_no_password

run_test "key does not match the certificate" t_wrong_key
run_test "expired certificate" t_expired
run_test "certificate not yet valid" t_not_yet_valid
run_test "certificate from an untrusted CA" t_untrusted_ca
run_test "RSA-1024 key is unsupported" t_unsupported_key "$LEAF_RSA1024_CRT" "$LEAF_RSA1024_P8"
run_test "Ed25519 key is unsupported" t_unsupported_key "$LEAF_ED25519_CRT" "$LEAF_ED25519_P8"
run_test "wrong PKCS#8 password" t_wrong_password
run_test "missing PKCS#8 password without a terminal" t_missing_password
run_test "missing key file" t_missing_key_file
run_test "garbage certificate file" t_garbage_cert
run_test "endpoint 403 is final (1 request)" t_fault_403
run_test "500 then ok succeeds (2 requests)" t_fault_500_then_ok
run_test "429 three times gives up (3 requests)" t_fault_429_thrice
run_test "malformed JSON answer" t_fault_bad_answer malformed 'malformed|invalid'
run_test "empty credentialSet" t_fault_bad_answer empty-set 'credential|empty|malformed|invalid'
run_test "credentials missing a field" t_fault_bad_answer missing-field 'missing|field|credential|malformed|invalid'
run_test "dropped connection then ok succeeds" t_fault_drop_then_ok
run_test "untrusted TLS server certificate" t_tls_untrusted
run_test "untrusted TLS server with --no-verify-ssl" t_tls_untrusted_no_verify
run_test "malformed trust anchor ARN" t_bad_arn
run_test "trust anchor and profile regions differ" t_region_mismatch
run_test "session duration 100 is refused" t_duration 100 '900'
run_test "session duration 50000 is refused" t_duration 50000 '43200|900|duration'
run_test "timeout with a slow endpoint" t_timeout
