#!/bin/bash
# End-to-end tests of rasign with keys on PKCS#11 tokens: SoftHSMv2 tokens
# built by softhsm-fixtures/make-tokens.sh (rasign-main with four key types,
# one token per real-world quirk), used through p11-kit's registered modules
# and through --pkcs11-lib, against the local CreateSession endpoint
# (build/ra-endpoint), which verifies every request as AWS would and records
# what it saw. Also sign-string, read-certificate-data and --cert-selector on
# the tokens.
#
# Run from the repo root: bash hsm-tests/test-pkcs11.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout "$PY" softhsm2-util pkcs11-tool p11tool \
	certtool pkg-config
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki
# The tokens are built fresh for every run, in the private directory.
setup_tokens

# p11-kit's module directory: p11-kit-trust (a module with no key, to show
# that --pkcs11-lib loads exactly the module named) and OpenSC's pkcs11-spy
# (logs every PKCS#11 call its wrapped module sees).
P11_MODULE_DIR=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null)
TRUST_MODULE=$P11_MODULE_DIR/p11-kit-trust.so
SPY_MODULE=$P11_MODULE_DIR/pkcs11-spy.so

start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# Names as Go's pkix.Name.String() prints them (what --cert-selector and
# read-certificate-data use): CN before O whatever the certificate's order.
INTER_ISSUER="CN=rasign test intermediate CA,O=rasign tests"

# go_name RFC2253: reorders a comma-free RFC 2253 name the way Go does.
go_name() {
	"$PY" -c '
import sys
order = ["SERIALNUMBER", "CN", "OU", "O", "POSTALCODE", "STREET", "L", "ST", "C"]
parts = sys.argv[1].split(",")
print(",".join(sorted(parts, key=lambda p: order.index(p.split("=")[0]))))
' "$1"
}

# kt_var TYPE: the testvars infix of a rasign-main key type (ec-p256 -> EC_P256).
kt_var() {
	echo "$1" | tr a-z- A-Z_
}

kt_alg() {
	case $1 in rsa*) echo RSA ;; *) echo ECDSA ;; esac
}

# token_flags LABEL: the "token flags" line pkcs11-tool prints for a token.
token_flags() {
	pkcs11-tool --module "$P11_MODULE" --list-token-slots 2>/dev/null |
		awk -v t="$1" '/token label/ { sub(/^[^:]*: */, ""); on = ($0 == t) }
			on && /token flags/ { sub(/^[^:]*: */, ""); print; exit }'
}

# ---------------------------------------------------------------- success

# t_main TYPE MODULES PIN: certificate and key on rasign-main, named by the
# certificate's URI alone. MODULES: p11kit (every module registered with
# p11-kit) or lib (--pkcs11-lib). PIN: where the user PIN comes from.
t_main() {
	local kt=$1 mods=$2 src=$3 v crt uri
	v=MAIN_$(kt_var "$kt")
	crt=${v}_CRT uri=${v}_CRT_URI
	set -- --intermediates "$INTERMEDIATES"
	[ "$mods" = lib ] && set -- "$@" --pkcs11-lib "$P11_MODULE"
	printf '%s\n' "$USER_PIN" >"$T/pin"
	case $src in
	pin-value) rasign_cp --certificate "${!uri}?pin-value=$USER_PIN" "$@" ;;
	pin-source) rasign_cp --certificate "${!uri}?pin-source=$T/pin" "$@" ;;
	pass) rasign_cp --certificate "${!uri}" --pkcs11-pin "pass:$USER_PIN" "$@" ;;
	env) RASIGN_TEST_PIN=$USER_PIN rasign_cp --certificate "${!uri}" \
		--pkcs11-pin env:RASIGN_TEST_PIN "$@" ;;
	file) rasign_cp --certificate "${!uri}" --pkcs11-pin "file:$T/pin" "$@" ;;
	fd) rasign_cp --certificate "${!uri}" --pkcs11-pin fd:3 "$@" 3<"$T/pin" ;;
	literal) rasign_cp --certificate "${!uri}" --pkcs11-pin "$USER_PIN" "$@" ;;
	esac
	expect_success "${!crt}" "$(kt_alg "$kt")" --chain "$INTER_CA_CRT"
}

# The URI names its module: RFC 7512 module-path= / module-name= (query).
t_uri_module() {
	rasign_cp --certificate "$MAIN_EC_P256_CRT_URI?$1&pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$MAIN_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_both_uris() {
	rasign_cp --certificate "$MAIN_RSA3072_CRT_URI" \
		--private-key "$MAIN_RSA3072_KEY_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$MAIN_RSA3072_CRT" RSA --chain "$INTER_CA_CRT"
}

t_hybrid() {
	rasign_cp --certificate "$MAIN_EC_P256_CRT" \
		--private-key "$MAIN_EC_P256_KEY_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$MAIN_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# ---------------------------------------------------------------- quirks

# quirk-nopub: no public-key object; rasign can only prove the match by a
# test signature.
t_nopub() {
	rasign_cp --certificate "$NOPUB_CRT_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$NOPUB_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# quirk-label: the URI's object= is the certificate's label, which no key
# has; the key is found by the certificate's CKA_ID.
t_label() {
	rasign_cp --certificate "$LABEL_CRT_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$LABEL_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# quirk-attest: by id alone, two certificates match; the PIV attestation
# one (a different key) must be skipped, not reported as ambiguous.
t_attest() {
	rasign_cp --certificate "pkcs11:token=$ATTEST_TOKEN;id=%$ATTEST_ID;type=cert?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$ATTEST_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# t_alwaysauth ARGS: CKA_ALWAYS_AUTHENTICATE with a context PIN.
t_alwaysauth() {
	rasign_cp --certificate "$ALWAYSAUTH_CRT_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES" "$@"
	expect_success "$ALWAYSAUTH_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_alwaysauth_no_context_pin() {
	rasign_cp --certificate "$ALWAYSAUTH_CRT_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 4 'needs its PIN for every signature'
	assert_no_request
}

t_alwaysauth_wrong_context_pin() {
	rasign_cp --certificate "$ALWAYSAUTH_CRT_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES" --pkcs11-context-pin pass:9999
	assert_failure 4 'PIN incorrect'
	assert_no_request
}

# quirk-chain: no --intermediates; the chain is walked up on the token from
# the leaf: exactly the intermediate, not the self-signed root.
t_chain_on_token() {
	rasign_cp --certificate "$CHAIN_CRT_URI?pin-value=$USER_PIN"
	expect_success "$CHAIN_CRT" ECDSA --chain "$TOKENS_INTER_CA_CRT"
}

# ---------------------------------------------------------------- failures

t_mismatch_file() {
	rasign_cp --certificate "$MISMATCH_CRT" \
		--private-key "$MISMATCH_KEY_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'does not match'
	assert_no_request
}

t_mismatch_uri() {
	rasign_cp --certificate "$MISMATCH_CRT_URI" \
		--private-key "$MISMATCH_KEY_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'does not match'
	assert_no_request
}

# A key with no public-key object: the mismatch shows in the test signature.
t_mismatch_nopub() {
	rasign_cp --certificate "$MAIN_EC_P256_CRT" \
		--private-key "$NOPUB_KEY_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'does not match'
	assert_no_request
}

# The wrong PIN, through p11-kit's modules: the message, and the token's
# state. SoftHSM keeps no retry counter (it never locks a PIN): a failed
# C_Login sets CKF_USER_PIN_COUNT_LOW, which pkcs11-tool shows as "user PIN
# count low", and a successful one clears it. The number of C_Login calls is
# counted in t_wrong_pin_spy.
t_wrong_pin() {
	local flags
	flags=$(token_flags "$MAIN_TOKEN")
	case $flags in
	'') fail "pkcs11-tool shows no flags for $MAIN_TOKEN" ;;
	*"count low"*) fail "precondition: $MAIN_TOKEN already shows a failed login: $flags" ;;
	esac
	rasign_cp --certificate "$MAIN_EC_P256_CRT_URI?pin-value=9999" \
		--intermediates "$INTERMEDIATES"
	assert_failure 4 'PIN incorrect'
	assert_no_request
	flags=$(token_flags "$MAIN_TOKEN")
	case $flags in
	*"user PIN count low"*) ;;
	*) fail "after a wrong PIN, $MAIN_TOKEN flags lack 'user PIN count low': $flags" ;;
	esac
	case $flags in
	*locked*) fail "one wrong PIN locked $MAIN_TOKEN: $flags" ;;
	esac
	# The right PIN still works, and the token forgets the failure.
	rasign_cp --certificate "$MAIN_EC_P256_CRT_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$MAIN_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
	flags=$(token_flags "$MAIN_TOKEN")
	case $flags in
	*"count low"*) fail "after a good PIN, $MAIN_TOKEN still shows a failed login: $flags" ;;
	esac
}

# t_wrong_pin_spy ARGS: through OpenSC's pkcs11-spy wrapping SoftHSM, which
# logs every call: exactly one C_Login reaches the token, and it is refused
# with CKR_PIN_INCORRECT. ARGS: how the wrong PIN is given (a wrong
# pin-value beside a right --pkcs11-pin must not fall back to the latter).
t_wrong_pin_spy() {
	local logins
	[ -e "$SPY_MODULE" ] || skip "no pkcs11-spy.so in $P11_MODULE_DIR (opensc-pkcs11)"
	PKCS11SPY=$P11_MODULE PKCS11SPY_OUTPUT=$T/spy.log rasign_cp \
		--pkcs11-lib "$SPY_MODULE" --intermediates "$INTERMEDIATES" "$@"
	assert_failure 4 'PIN incorrect'
	assert_no_request
	[ -s "$T/spy.log" ] || fail "pkcs11-spy wrote no log"
	logins=$(awk '/^[0-9]+: C_Login$/ { n++; want = 1 }
		want && /^Returned:/ { print n ": " $0; want = 0 }' "$T/spy.log")
	echo "C_Login calls: $logins"
	[ "$(printf '%s\n' "$logins" | grep -c .)" = 1 ] ||
		fail "want exactly one C_Login, saw: $logins"
	case $logins in
	*CKR_PIN_INCORRECT*) ;;
	*) fail "the C_Login did not return CKR_PIN_INCORRECT: $logins" ;;
	esac
}

# t_ambiguous URI REGEX COUNT [rasign args]: exit 2, and the message names
# every candidate by its full URI (token=, id=, object=, type=).
t_ambiguous() {
	local uri=$1 re=$2 count=$3 n
	shift 3
	rasign_cp --certificate "$uri" --intermediates "$INTERMEDIATES" "$@"
	assert_failure 2 "$re"
	n=$(grep -o 'pkcs11:[^ ,]*' "$ERR" |
		grep -c 'token=[^;]*;id=%[0-9a-f]*;object=[^;]*;type=[a-z]*$') || true
	[ "$n" = "$count" ] ||
		{ show_run; fail "the message lists $n complete candidate URIs, want $count"; }
	assert_no_request
}

t_ambiguous_main_certs() {
	local id
	t_ambiguous "pkcs11:token=$MAIN_TOKEN;type=cert?pin-value=$USER_PIN" \
		'4 certificates match' 4
	for id in 01 02 03 04; do
		grep -q "token=$MAIN_TOKEN;id=%$id;" "$ERR" ||
			fail "the message does not list the certificate with id $id"
	done
}

t_ambiguous_main_keys() {
	local n
	rasign_cp --certificate "$MAIN_EC_P256_CRT" \
		--private-key "pkcs11:token=$MAIN_TOKEN;type=private?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 2 '4 private keys match'
	n=$(grep -o 'pkcs11:[^ ,]*' "$ERR" |
		grep -c "token=$MAIN_TOKEN;id=%0[1-4];object=[^;]*;type=private$") || true
	[ "$n" = 4 ] || { show_run; fail "the message lists $n key URIs, want 4"; }
	assert_no_request
}

# Every certificate of every token (the attestation certificate skipped):
# 12 candidates, each of which the message must name.
t_ambiguous_all_certs() {
	t_ambiguous "pkcs11:type=cert?pin-value=$USER_PIN" \
		'12 certificates match' 12
}

# The key URI names no token, so every token matches it (the seven, and
# SoftHSM's empty slot): rasign must not pick one to log in to. Exit 2, and
# each candidate token is named by its pkcs11: URI.
t_ambiguous_tokens() {
	local t
	rasign_cp --certificate "$MAIN_EC_P256_CRT" \
		--private-key "pkcs11:object=ec-p256;type=private?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 2 'tokens match'
	for t in "$MAIN_TOKEN" "$NOPUB_TOKEN" "$LABEL_TOKEN" "$ATTEST_TOKEN" \
		"$ALWAYSAUTH_TOKEN" "$CHAIN_TOKEN" "$NOSIGN_TOKEN"; do
		grep -Eq "pkcs11:[^ ,]*token=$t([; ,]|$)" "$ERR" ||
			{ show_run; fail "the message does not name token $t by its pkcs11: URI"; }
	done
	assert_no_request
}

t_no_such_cert() {
	rasign_cp --certificate "pkcs11:token=$MAIN_TOKEN;object=nothing;type=cert?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'no certificate on the token matches'
	assert_no_request
}

t_no_such_key() {
	rasign_cp --certificate "$MAIN_EC_P256_CRT" \
		--private-key "pkcs11:token=$MAIN_TOKEN;object=nothing;type=private?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'no private key on the token matches'
	assert_no_request
}

t_missing_module() {
	rasign_cp --certificate "$MAIN_EC_P256_CRT_URI?pin-value=$USER_PIN" \
		--pkcs11-lib /nonexistent.so --intermediates "$INTERMEDIATES"
	assert_failure 5 'cannot load the PKCS#11 module /nonexistent.so'
	assert_no_request
}

t_missing_module_uri() {
	rasign_cp --certificate "$MAIN_EC_P256_CRT_URI?module-path=/nonexistent.so&pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 5 'cannot load the PKCS#11 module /nonexistent.so'
	assert_no_request
}

# --pkcs11-lib loads exactly that module: p11-kit-trust has no such token,
# though SoftHSM, which has, is registered with p11-kit.
t_lib_is_exclusive() {
	[ -e "$TRUST_MODULE" ] || skip "no $TRUST_MODULE"
	rasign_cp --certificate "$MAIN_EC_P256_CRT_URI?pin-value=$USER_PIN" \
		--pkcs11-lib "$TRUST_MODULE" --intermediates "$INTERMEDIATES"
	assert_failure 5 'no token matches'
	assert_no_request
}

# t_no_token URI (with its PIN)
t_no_token() {
	rasign_cp --certificate "$1" --intermediates "$INTERMEDIATES"
	assert_failure 5 'no token matches'
	assert_no_request
}

t_nosign() {
	rasign_cp --certificate "$NOSIGN_CRT_URI?pin-value=$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'CKA_SIGN'
	assert_no_request
}

# No PIN anywhere and no terminal (run_rasign uses setsid, so /dev/tty
# cannot be opened): a clean PIN error, not a hang.
t_missing_pin() {
	rasign_cp --certificate "$MAIN_EC_P256_CRT_URI" --intermediates "$INTERMEDIATES"
	assert_failure 4 'needs a PIN'
	assert_no_request
}

# has_socket PID: the process has a socket open.
has_socket() {
	local fd
	for fd in "/proc/$1/fd/"*; do
		case $(readlink "$fd" 2>/dev/null) in socket:*) return 0 ;; esac
	done
	return 1
}

# t_secret_not_in_argv SECRET-PATTERN RASIGN-ARGS: while rasign waits for a
# slow endpoint, /proc/PID/cmdline (what ps shows) no longer holds the PIN.
# rasign is started directly, not through run_rasign: its setsid -w/timeout
# (and a $CHECKER such as valgrind, whose argv is not the program's) would
# stand between $! and rasign.
t_secret_not_in_argv() {
	local pat=$1 pid exe cmdline
	shift
	set_faults "delay 1500"
	OUT=$T/stdout ERR=$T/stderr
	REC_BEFORE=$(rec_count)
	echo "\$ rasign $*"
	setsid "$RASIGN" credential-process --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
		--endpoint "$EP_URL" --intermediates "$INTERMEDIATES" "$@" \
		</dev/null >"$OUT" 2>"$ERR" &
	pid=$!
	argv_fail() {
		kill "$pid" 2>/dev/null
		wait "$pid"
		fail "$@"
	}
	# Once the pid runs rasign (setsid execs it: a background job of a
	# script leads no process group) and holds a socket, rasign is past its
	# options and is talking to the endpoint, which holds the answer 1.5 s.
	for _ in $(seq 150); do
		exe=$(readlink "/proc/$pid/exe" 2>/dev/null)
		[ "$exe" -ef "$RASIGN" ] && has_socket "$pid" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.02
	done
	[ "$exe" -ef "$RASIGN" ] || argv_fail "pid $pid runs ${exe:-nothing}, not $RASIGN"
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)
	kill -0 "$pid" 2>/dev/null || argv_fail "rasign ended before its cmdline was read"
	echo "cmdline: $cmdline"
	case $cmdline in
	*"$MAIN_EC_P256_CRT_URI"*) ;;
	*) argv_fail "the cmdline read is not this run's" ;;
	esac
	case $cmdline in
	*"$pat"*) argv_fail "/proc/$pid/cmdline still shows $pat" ;;
	esac
	for _ in $(seq $((RUN_TIMEOUT * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && argv_fail "rasign did not finish in $RUN_TIMEOUT s"
	wait "$pid"
	RC=$?
	expect_success "$MAIN_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# ------------------------------------------------------ read-certificate-data

# The listing of rasign-main: the header, then exactly its four
# certificates, each as 7 lines (the Go helper's 5, then Not Before and
# Not After) and a blank one, numbered 1) to 4), with what openssl says of
# the certificate files make-tokens.sh stored.
t_rcd_main() {
	local kt v crt id fp subj iss serial block n
	run_rasign read-certificate-data --certificate "$MAIN_TOKEN_URI"
	assert_exit 0
	[ "$(head -n 1 "$OUT")" = "Matching identities" ] ||
		{ show_run; fail "the first line is not 'Matching identities'"; }
	[ "$(wc -l <"$OUT")" -eq 33 ] || { show_run; fail "want 1 + 4 x 8 lines"; }
	[ -z "$(tail -c 2 "$OUT" | tr -d '\n')" ] || fail "stdout does not end in a blank line"
	n=$(grep -c '^[1-4]) Hex Fingerprint: [0-9a-f]\{40\}$' "$OUT")
	[ "$n" = 4 ] || { show_run; fail "$n numbered fingerprint lines, want 4"; }
	for kt in rsa2048 rsa3072 ec-p256 ec-p384; do
		v=MAIN_$(kt_var "$kt")
		crt=${v}_CRT id=${v}_ID
		fp=$(openssl x509 -in "${!crt}" -noout -fingerprint -sha1 |
			sed 's/^.*=//; s/://g' | tr A-F a-f)
		subj=$(go_name "$(openssl x509 -in "${!crt}" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')")
		iss=$(go_name "$(openssl x509 -in "${!crt}" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')")
		serial=$(openssl x509 -in "${!crt}" -noout -serial | sed 's/^serial=0*//')
		block=$(grep -A4 "^[1-4]) Hex Fingerprint: $fp\$" "$OUT") ||
			{ show_run; fail "$kt: no entry with fingerprint $fp"; }
		printf '%s\n' "$block" | sed -n 2p | grep -qxF "Subject: $subj" ||
			fail "$kt: subject is not '$subj': $block"
		printf '%s\n' "$block" | sed -n 3p | grep -qxF "Issuer: $iss" ||
			fail "$kt: issuer is not '$iss': $block"
		printf '%s\n' "$block" | sed -n 4p | grep -qxF "Serial Number: $serial" ||
			fail "$kt: serial is not $serial: $block"
		printf '%s\n' "$block" | sed -n 5p |
			grep -Eq "^URI: pkcs11:.*token=$MAIN_TOKEN;id=%${!id};object=$kt;type=cert\$" ||
			fail "$kt: URI lacks token=$MAIN_TOKEN and id=%${!id}: $block"
	done
}

# Each listed URI, with the PIN appended, is usable as it stands.
t_rcd_uris_work() {
	local uri id kt v n=0
	run_rasign read-certificate-data --certificate "$MAIN_TOKEN_URI"
	assert_exit 0
	sed -n 's/^URI: //p' "$OUT" >"$T/uris"
	[ "$(wc -l <"$T/uris")" -eq 4 ] || { show_run; fail "want 4 URIs"; }
	while IFS= read -r uri; do
		id=$(printf '%s\n' "$uri" | sed -n 's/.*;id=%\([0-9a-f]*\);.*/\1/p')
		case $id in
		01) kt=rsa2048 ;; 02) kt=rsa3072 ;; 03) kt=ec-p256 ;; 04) kt=ec-p384 ;;
		*) fail "unexpected id in $uri" ;;
		esac
		v=MAIN_$(kt_var "$kt")_CRT
		rasign_cp --certificate "$uri?pin-value=$USER_PIN" --intermediates "$INTERMEDIATES"
		expect_success "${!v}" "$(kt_alg "$kt")" --chain "$INTER_CA_CRT"
		n=$((n + 1))
	done <"$T/uris"
	[ "$n" = 4 ] || fail "$n URIs tried"
}

t_rcd_none() {
	run_rasign read-certificate-data --certificate "pkcs11:token=$MAIN_TOKEN;object=nothing"
	assert_exit 0
	printf 'No matching identities\n' >"$T/want"
	cmp -s "$OUT" "$T/want" ||
		{ show_run; fail "stdout is not exactly 'No matching identities\\n'"; }
}

# Certificates are public objects: listing them logs in nowhere, even when
# a PIN is at hand (the spy log shows every call).
t_rcd_no_login() {
	[ -e "$SPY_MODULE" ] || skip "no pkcs11-spy.so in $P11_MODULE_DIR (opensc-pkcs11)"
	PKCS11SPY=$P11_MODULE PKCS11SPY_OUTPUT=$T/spy.log run_rasign \
		read-certificate-data --certificate "$MAIN_TOKEN_URI" \
		--pkcs11-lib "$SPY_MODULE" --pkcs11-pin "pass:$USER_PIN"
	assert_exit 0
	[ "$(grep -c '^[1-4]) Hex Fingerprint' "$OUT")" = 4 ] || { show_run; fail "want 4 entries"; }
	[ -s "$T/spy.log" ] || fail "pkcs11-spy wrote no log"
	! grep -q '^[0-9]*: C_Login$' "$T/spy.log" || fail "read-certificate-data logged in"
}

# ---------------------------------------------------------------- sign-string

# t_sign_string TYPE FORMAT DIGEST
t_sign_string() {
	local v crt uri
	v=MAIN_$(kt_var "$1")
	crt=${v}_CRT uri=${v}_CRT_URI
	run_rasign sign-string --certificate "${!uri}" --pkcs11-pin "$USER_PIN" \
		--format "$2" --digest "$3"
	assert_exit 0
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
	check_signature "$2" "$3" "${!crt}"
}

# Defaults: --format json, --digest SHA256.
t_sign_string_defaults() {
	run_rasign sign-string --certificate "$MAIN_EC_P256_CRT_URI?pin-value=$USER_PIN"
	assert_exit 0
	check_signature json SHA256 "$MAIN_EC_P256_CRT"
}

# A key with no public-key object: the public key comes from the certificate.
t_sign_string_nopub() {
	run_rasign sign-string --certificate "$NOPUB_CRT_URI" --pkcs11-pin "$USER_PIN" \
		--format bin --digest SHA384
	assert_exit 0
	check_signature bin SHA384 "$NOPUB_CRT"
}

t_sign_string_alwaysauth() {
	run_rasign sign-string --certificate "$ALWAYSAUTH_CRT_URI" \
		--pkcs11-pin "$USER_PIN" --reuse-pin --format text
	assert_exit 0
	check_signature text SHA256 "$ALWAYSAUTH_CRT"
}

t_sign_string_wrong_pin() {
	run_rasign sign-string --certificate "$MAIN_RSA2048_CRT_URI" --pkcs11-pin pass:9999
	assert_failure 4 'PIN incorrect'
}

# --------------------------------------------------------------- cert-selector

# The subject as read-certificate-data prints it (t_rcd_main checks that).
t_selector_subject() {
	rasign_cp --cert-selector "Key=x509Subject,Value=CN=token rasign-main ec-p384,O=rasign tests" \
		--pkcs11-pin "pass:$USER_PIN" --intermediates "$INTERMEDIATES"
	expect_success "$MAIN_EC_P384_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_selector_serial_json() {
	local hex
	hex=$(openssl x509 -in "$MAIN_RSA3072_CRT" -noout -serial | sed 's/^serial=//')
	printf '[{"Key":"x509Serial","Value":"%s"}]\n' "$hex" >"$T/selector.json"
	rasign_cp --cert-selector "file://$T/selector.json" \
		--pkcs11-pin "pass:$USER_PIN" --intermediates "$INTERMEDIATES"
	expect_success "$MAIN_RSA3072_CRT" RSA --chain "$INTER_CA_CRT"
}

t_selector_ambiguous() {
	rasign_cp --cert-selector "Key=x509Issuer,Value=$INTER_ISSUER" \
		--pkcs11-pin "pass:$USER_PIN" --intermediates "$INTERMEDIATES"
	assert_failure 2 'certificates match'
	assert_no_request
}

t_selector_none() {
	rasign_cp --cert-selector "Key=x509Subject,Value=CN=nobody,O=rasign tests" \
		--pkcs11-pin "pass:$USER_PIN" --intermediates "$INTERMEDIATES"
	assert_failure 3 'no certificate'
	assert_no_request
}

# All the token certificates expire in the same second, so "the latest" is
# made unique: a renewal of quirk-label's certificate, valid 60 days, is put
# on that token (id 01, its own label). The issuer matches 12 certificates;
# the renewal must be chosen, and its key found by CKA_ID.
t_selector_latest() {
	local nb na
	openssl x509 -in "$LABEL_CRT" -noout -pubkey >"$T/label.pub.pem" ||
		fail "cannot read $LABEL_CRT"
	nb=$(date -u -d '-1 day' '+%Y-%m-%d %H:%M:%S')
	na=$(date -u -d '+60 days' '+%Y-%m-%d %H:%M:%S')
	cat >"$T/renewed.cfg" <<EOF
dn = "CN=token quirk-label my key renewed,O=rasign tests"
serial = 0x3021
activation_date = "$nb"
expiration_date = "$na"
signing_key
tls_www_client
EOF
	TZ=UTC certtool --generate-certificate --no-text \
		--load-pubkey "$T/label.pub.pem" --load-ca-certificate "$INTER_CA_CRT" \
		--load-ca-privkey "$INTER_CA_KEY" --template "$T/renewed.cfg" \
		--outfile "$T/renewed.crt" >"$T/fixture.log" 2>&1 &&
		openssl x509 -in "$T/renewed.crt" -outform DER -out "$T/renewed.der" &&
		pkcs11-tool --module "$P11_MODULE" --token-label "$LABEL_TOKEN" \
			--login --pin "$USER_PIN" --write-object "$T/renewed.der" \
			--type cert --id "$LABEL_ID" --label "my cert renewed" \
			>>"$T/fixture.log" 2>&1 ||
		{ cat "$T/fixture.log"; fail "cannot put the renewed certificate on $LABEL_TOKEN"; }
	rasign_cp --cert-selector "Key=x509Issuer,Value=$INTER_ISSUER" \
		--use-latest-expiring-certificate --pkcs11-pin "pass:$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$T/renewed.crt" ECDSA --chain "$INTER_CA_CRT"
}

# ---------------------------------------------------------------- afterwards

# After everything: every private key on rasign-main is still sensitive and
# never extractable.
t_keys_still_sensitive() {
	local listing n good
	listing=$(pkcs11-tool --module "$P11_MODULE" --login --pin "$USER_PIN" \
		--token-label "$MAIN_TOKEN" --list-objects --type privkey 2>&1) ||
		{ echo "$listing"; fail "pkcs11-tool cannot list $MAIN_TOKEN's keys"; }
	echo "$listing"
	n=$(printf '%s\n' "$listing" | grep -c 'Private Key Object') || true
	good=$(printf '%s\n' "$listing" | grep '^ *Access:' | grep -w 'sensitive' |
		grep -c 'never extractable') || true
	[ "$n" = 4 ] || fail "$n private keys on $MAIN_TOKEN, want 4"
	[ "$good" = 4 ] || fail "only $good of 4 keys are sensitive and never extractable"
}

# ---------------------------------------------------------------- the run

for kt in rsa2048 rsa3072 ec-p256 ec-p384; do
	run_test "$kt on the token, p11-kit modules, pin-value" t_main "$kt" p11kit pin-value
	run_test "$kt on the token, --pkcs11-lib, pin-value" t_main "$kt" lib pin-value
	run_test "$kt on the token, PIN from --pkcs11-pin file:" t_main "$kt" p11kit file
	run_test "$kt on the token, PIN from --pkcs11-pin env:" t_main "$kt" p11kit env
	run_test "$kt on the token, PIN from the URI's pin-source" t_main "$kt" p11kit pin-source
done
run_test "ec-p256, --pkcs11-lib, PIN from --pkcs11-pin pass:" t_main ec-p256 lib pass
run_test "rsa2048, PIN from --pkcs11-pin fd:" t_main rsa2048 p11kit fd
run_test "ec-p384, PIN from a literal --pkcs11-pin" t_main ec-p384 p11kit literal
run_test "URI module-path= names the module" t_uri_module "module-path=$P11_MODULE"
run_test "URI module-name= names the module" t_uri_module module-name=softhsm2
run_test "certificate URI and key URI" t_both_uris
run_test "hybrid: certificate file, key on the token" t_hybrid

run_test "quirk-nopub: key without a public-key object" t_nopub
run_test "quirk-label: key found by the certificate's CKA_ID" t_label
run_test "quirk-attest: the PIV attestation certificate is skipped" t_attest
run_test "quirk-alwaysauth with --reuse-pin" t_alwaysauth --reuse-pin
run_test "quirk-alwaysauth with --pkcs11-context-pin" t_alwaysauth --pkcs11-context-pin "pass:$USER_PIN"
run_test "quirk-alwaysauth without a context PIN" t_alwaysauth_no_context_pin
run_test "quirk-alwaysauth with a wrong context PIN" t_alwaysauth_wrong_context_pin
run_test "quirk-chain: the intermediate found on the token" t_chain_on_token

run_test "mismatch: certificate file, another token key" t_mismatch_file
run_test "mismatch: certificate URI, another key URI" t_mismatch_uri
run_test "mismatch: key without a public-key object" t_mismatch_nopub
run_test "wrong PIN: exit 4, token flags one failure" t_wrong_pin
run_test "wrong pin-value: exactly one C_Login (pkcs11-spy)" t_wrong_pin_spy \
	--certificate "$MAIN_EC_P256_CRT_URI?pin-value=9999"
run_test "wrong pin-value beside a right --pkcs11-pin: not retried" t_wrong_pin_spy \
	--certificate "$MAIN_EC_P256_CRT_URI?pin-value=9999" --pkcs11-pin "pass:$USER_PIN"
run_test "ambiguous URI: 4 certificates on rasign-main" t_ambiguous_main_certs
run_test "ambiguous URI: 4 private keys on rasign-main" t_ambiguous_main_keys
run_test "ambiguous URI: 12 certificates on all tokens, all listed" t_ambiguous_all_certs
run_test "ambiguous URI: several tokens, each named" t_ambiguous_tokens
run_test "no certificate matches" t_no_such_cert
run_test "no private key matches" t_no_such_key
run_test "missing module (--pkcs11-lib)" t_missing_module
run_test "missing module (URI module-path=)" t_missing_module_uri
run_test "--pkcs11-lib loads only that module" t_lib_is_exclusive
run_test "no token matches token=nope" t_no_token \
	"pkcs11:token=nope;type=cert?pin-value=$USER_PIN"
run_test "no token matches module-name=nope" t_no_token \
	"$MAIN_EC_P256_CRT_URI?module-name=nope&pin-value=$USER_PIN"
run_test "key with CKA_SIGN false" t_nosign
run_test "missing PIN without a terminal" t_missing_pin
run_test "pin-value is not in /proc/PID/cmdline" t_secret_not_in_argv \
	"pin-value=$USER_PIN" --certificate "$MAIN_EC_P256_CRT_URI?pin-value=$USER_PIN"
run_test "--pkcs11-pin pass: is not in /proc/PID/cmdline" t_secret_not_in_argv \
	"pass:$USER_PIN" --certificate "$MAIN_EC_P256_CRT_URI" --pkcs11-pin "pass:$USER_PIN"

run_test "read-certificate-data lists rasign-main's 4 certificates" t_rcd_main
run_test "read-certificate-data URIs work for credential-process" t_rcd_uris_work
run_test "read-certificate-data: no matching identities" t_rcd_none
run_test "read-certificate-data does not log in" t_rcd_no_login

# Every key type with every digest; the formats rotate so that each key type
# and each digest meets all three.
k=0
for kt in rsa2048 rsa3072 ec-p256 ec-p384; do
	d=0
	for md in SHA256 SHA384 SHA512; do
		set -- text json bin
		shift $(((k + d) % 3))
		run_test "sign-string $kt --digest $md --format $1" t_sign_string "$kt" "$1" "$md"
		d=$((d + 1))
	done
	k=$((k + 1))
done
run_test "sign-string defaults: json, SHA256" t_sign_string_defaults
run_test "sign-string, key without a public-key object" t_sign_string_nopub
run_test "sign-string, CKA_ALWAYS_AUTHENTICATE with --reuse-pin" t_sign_string_alwaysauth
run_test "sign-string, wrong PIN" t_sign_string_wrong_pin

run_test "--cert-selector by subject" t_selector_subject
run_test "--cert-selector by serial, file:// JSON" t_selector_serial_json
run_test "--cert-selector matching several certificates" t_selector_ambiguous
run_test "--cert-selector matching nothing" t_selector_none
run_test "--cert-selector with --use-latest-expiring-certificate" t_selector_latest

# One signer, many signatures; the token's sessions closed under it (as an
# unplugged token or restarted daemon would) and it must reopen by itself.
# hsm-tests/unit/p11_reopen.c drives the backend directly for that.
t_reopen_after_lost_session() {
	local tool=${P11_REOPEN:-build/unit/p11_reopen}
	[ -x "$tool" ] || { skip "$tool not built"; return; }
	if ! "$tool" "$P11_MODULE" "$MAIN_EC_P256_KEY_URI" "$USER_PIN" \
		>"$T/reopen.out" 2>&1; then
		cat "$T/reopen.out"
		fail "the signer did not survive losing its session"
	fi
	grep -q '^ok - signs again after the session was lost' "$T/reopen.out" ||
		fail "p11_reopen did not report the signature after reopening"
}

run_test "signer reopens after its token session is lost" t_reopen_after_lost_session
run_test "rasign-main's keys are still sensitive, never extractable" t_keys_still_sensitive
