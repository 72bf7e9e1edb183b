#!/bin/bash
# PKCS#11 mistakes and renewals (issue 11): a token key of another type than
# its certificate's, a renewed certificate written next to the old one with
# the same CKA_ID and label (as a YubiKey renewal leaves it), and what
# read-certificate-data says about dates, missing tokens and modules that
# fail to initialise. The tokens are SoftHSMv2 tokens built here, in the
# private directory, from the test PKI (softhsm-fixtures/make-pki.sh); they
# are used through p11-kit's registered modules, as a user would.
#
# Run from the repo root: bash hsm-tests/test-pkcs11-mistakes.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout "$PY" softhsm2-util pkcs11-tool \
	certtool
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki

P11_MODULE=
for m in /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
	/usr/lib/softhsm/libsofthsm2.so /usr/lib64/softhsm/libsofthsm2.so \
	/usr/local/lib/softhsm/libsofthsm2.so; do
	[ -e "$m" ] && { P11_MODULE=$m; break; }
done
[ -n "$P11_MODULE" ] || skip_all "libsofthsm2.so not found"
USER_PIN=1234

# --------------------------------------------------------------- the tokens

TOK=$TESTDIR/mistakes
mkdir -p "$TOK/tokens"
cat >"$TOK/softhsm2.conf" <<EOF
directories.tokendir = $TOK/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$TOK/softhsm2.conf

fixture() { # fixture CMD...: run it, bail out (with its output) on failure
	"$@" >>"$TOK/log" 2>&1 || bail_out "fixture step failed: $* ($(tail -n 3 "$TOK/log"))"
}
p11() { # p11 TOKEN ARGS...: pkcs11-tool logged in on TOKEN
	local t=$1
	shift
	fixture pkcs11-tool --module "$P11_MODULE" --token-label "$t" --login \
		--pin "$USER_PIN" "$@"
}
put_cert() { # put_cert TOKEN ID LABEL DER
	p11 "$1" --write-object "$4" --type cert --id "$2" --label "$3"
}
keygen() { # keygen TOKEN ID LABEL TYPE [options]
	local t=$1 id=$2 label=$3 type=$4
	shift 4
	p11 "$t" --keypairgen --key-type "$type" --id "$id" --label "$label" \
		--sensitive "$@"
}
# issue NAME PUBKEY CN SERIALHEX NOTBEFORE NOTAFTER: NAME.crt(.der) in $TOK
# for the bare public key, from the PKI's intermediate (certtool: the key is
# on the token, so there is no CSR).
issue() {
	cat >"$TOK/$1.cfg" <<EOF
dn = "O=rasign tests,CN=$3"
serial = 0x$4
activation_date = "$5"
expiration_date = "$6"
signing_key
tls_www_client
EOF
	TZ=UTC fixture certtool --generate-certificate --no-text \
		--load-pubkey "$2" --load-ca-certificate "$INTER_CA_CRT" \
		--load-ca-privkey "$INTER_CA_KEY" --template "$TOK/$1.cfg" \
		--outfile "$TOK/$1.crt"
	fixture openssl x509 -in "$TOK/$1.crt" -outform DER -out "$TOK/$1.crt.der"
}
pubkey() { # pubkey TOKEN ID OUT.pem: the public-key object, as PEM
	p11 "$1" --read-object --type pubkey --id "$2" -o "$3.der"
	fixture openssl pkey -pubin -inform DER -in "$3.der" -out "$3"
}

# mistake-type: keys whose certificate (same CKA_ID and label) is for a key
# of another type or curve.
#   01 "k1"  EC P-256, always-authenticate, no public-key object;
#            certificate: an RSA-2048 one (the PKI's leaf-rsa2048)
#   02 "k2"  EC P-256 with its public-key object; certificate RSA-2048
#   03 "k3"  EC P-384, always-authenticate, no public-key object;
#            certificate: an EC P-256 one (the PKI's leaf-ec-p256)
#   04 "k4"  RSA-2048, always-authenticate, no public-key object;
#            certificate: an EC P-256 one
#   05 "k5"  RSA-2048, always-authenticate, no public-key object;
#            certificate: another RSA-2048 key's (the PKI's leaf-rsa2048)
fixture softhsm2-util --init-token --free --label mistake-type \
	--so-pin 12345678 --pin "$USER_PIN"
keygen mistake-type 01 k1 EC:prime256v1 --always-auth
p11 mistake-type --delete-object --type pubkey --id 01
put_cert mistake-type 01 k1 "$LEAF_RSA2048_CRT_DER"
keygen mistake-type 02 k2 EC:prime256v1
put_cert mistake-type 02 k2 "$LEAF_RSA2048_CRT_DER"
keygen mistake-type 03 k3 EC:secp384r1 --always-auth
p11 mistake-type --delete-object --type pubkey --id 03
put_cert mistake-type 03 k3 "$LEAF_EC_P256_CRT_DER"
keygen mistake-type 04 k4 rsa:2048 --always-auth
p11 mistake-type --delete-object --type pubkey --id 04
put_cert mistake-type 04 k4 "$LEAF_EC_P256_CRT_DER"
keygen mistake-type 05 k5 rsa:2048 --always-auth
p11 mistake-type --delete-object --type pubkey --id 05
put_cert mistake-type 05 k5 "$LEAF_RSA2048_CRT_DER"
type_uri() { # type_uri ID LABEL TYPE
	printf 'pkcs11:token=mistake-type;id=%%%s;object=%s;type=%s' "$1" "$2" "$3"
}

# mistake-renew: one key (id 01, "PIV AUTH key") and two certificates for it
# with the same id and label, as a renewal on a YubiKey leaves them: the old
# one (valid -1 day .. +30 days) and the renewal (-1 hour .. +60 days), same
# subject, other serial.
fixture softhsm2-util --init-token --free --label mistake-renew \
	--so-pin 12345678 --pin "$USER_PIN"
keygen mistake-renew 01 "PIV AUTH key" EC:prime256v1
pubkey mistake-renew 01 "$TOK/renew.pub.pem"
issue renew-old "$TOK/renew.pub.pem" "token mistake-renew" 3101 \
	"$(date -u -d '-1 day' '+%Y-%m-%d %H:%M:%S')" \
	"$(date -u -d '+30 days' '+%Y-%m-%d %H:%M:%S')"
issue renew-new "$TOK/renew.pub.pem" "token mistake-renew" 3102 \
	"$(date -u -d '-1 hour' '+%Y-%m-%d %H:%M:%S')" \
	"$(date -u -d '+60 days' '+%Y-%m-%d %H:%M:%S')"
# The renewal first, so that the first found is not the one wanted by luck
# in both directions (the tests choose each one).
put_cert mistake-renew 01 "X.509 Certificate for PIV Authentication" "$TOK/renew-new.crt.der"
put_cert mistake-renew 01 "X.509 Certificate for PIV Authentication" "$TOK/renew-old.crt.der"
RENEW_URI="pkcs11:token=mistake-renew;id=%01;object=X.509%20Certificate%20for%20PIV%20Authentication;type=cert"
RENEW_SUBJECT="CN=token mistake-renew,O=rasign tests"

start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# ------------------------------------------------- a key of the wrong type

# t_wrong_type ID LABEL KEYTYPE CERTTYPE CMD [ARGS]: refused with exit 3
# before any signature or context login, the message naming both types.
t_wrong_type() {
	local id=$1 label=$2 kt=$3 ct=$4 cmd=$5
	shift 5
	case $cmd in
	cp) rasign_cp --certificate "$(type_uri "$id" "$label" cert)" \
		--pkcs11-pin "pass:$USER_PIN" --intermediates "$INTERMEDIATES" "$@" ;;
	sign) run_rasign sign-string --certificate "$(type_uri "$id" "$label" cert)" \
		--pkcs11-pin "pass:$USER_PIN" "$@" ;;
	esac
	assert_failure 3 "$kt.*$ct"
	assert_no_request
}

# A certificate file beside a key URI: the same check.
t_wrong_type_hybrid() {
	rasign_cp --certificate "$LEAF_RSA2048_CRT" \
		--private-key "$(type_uri 01 k1 private)" --pkcs11-pin "pass:$USER_PIN" \
		--reuse-pin --intermediates "$INTERMEDIATES"
	assert_failure 3 'EC.*RSA'
	assert_no_request
}

# Refused before the context login: pkcs11-spy logs every call; no C_SignInit
# and no C_Login as CKU_CONTEXT_SPECIFIC reach the token.
t_wrong_type_no_signature() {
	local spy
	spy=$(pkg-config --variable=p11_module_path p11-kit-1 2>/dev/null)/pkcs11-spy.so
	[ -e "$spy" ] || skip "no pkcs11-spy.so (opensc-pkcs11)"
	PKCS11SPY=$P11_MODULE PKCS11SPY_OUTPUT=$T/spy.log run_rasign sign-string \
		--certificate "$(type_uri 01 k1 cert)" --pkcs11-lib "$spy" \
		--pkcs11-pin "pass:$USER_PIN" --reuse-pin
	assert_failure 3 'EC.*RSA'
	[ -s "$T/spy.log" ] || fail "pkcs11-spy wrote no log"
	! grep -q '^[0-9]*: C_SignInit$' "$T/spy.log" || fail "a signature was started"
	! grep -q 'CKU_CONTEXT_SPECIFIC' "$T/spy.log" || fail "a context login was made"
}

# ------------------------------------------------- a renewed certificate

serial_of() { # the serial of a certificate file, in hex as openssl prints it
	openssl x509 -in "$1" -noout -serial | sed 's/^serial=//'
}

# t_renew_selector WHICH: --cert-selector by serial picks that certificate,
# and it is the one sent (no "2 certificates match").
t_renew_selector() {
	rasign_cp --cert-selector "Key=x509Serial,Value=$(serial_of "$TOK/renew-$1.crt")" \
		--pkcs11-pin "pass:$USER_PIN" --intermediates "$INTERMEDIATES"
	expect_success "$TOK/renew-$1.crt" ECDSA --chain "$INTER_CA_CRT"
}

# By subject both match: --use-latest-expiring-certificate takes the one that
# expires last, as the Go helper's cert store does.
t_renew_latest() {
	rasign_cp --cert-selector "Key=x509Subject,Value=$RENEW_SUBJECT" \
		--use-latest-expiring-certificate --pkcs11-pin "pass:$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	expect_success "$TOK/renew-new.crt" ECDSA --chain "$INTER_CA_CRT"
}

# sign-string with the selector: the selected certificate's key signs.
t_renew_sign_string() {
	run_rasign sign-string --cert-selector "Key=x509Serial,Value=$(serial_of "$TOK/renew-old.crt")" \
		--pkcs11-pin "pass:$USER_PIN" --format text
	assert_exit 0
	check_signature text SHA256 "$TOK/renew-old.crt"
}

# The URI alone cannot tell them apart: the message says how to choose.
t_renew_uri_ambiguous() {
	rasign_cp --certificate "$RENEW_URI" --pkcs11-pin "pass:$USER_PIN" \
		--intermediates "$INTERMEDIATES"
	assert_failure 2 '2 certificates match.*--cert-selector.*x509Serial'
	assert_no_request
}

# ------------------------------------------------- read-certificate-data

# Every certificate shows its validity after the lines the Go helper prints,
# which stay as they are: Not Before / Not After in RFC 3339 UTC.
t_rcd_dates() {
	local c nb na block
	run_rasign read-certificate-data --certificate "pkcs11:token=mistake-renew"
	assert_exit 0
	[ "$(wc -l <"$OUT")" -eq 17 ] || { show_run; fail "want 1 + 2 x 8 lines"; }
	for c in old new; do
		nb=$(date -u -d "$(openssl x509 -in "$TOK/renew-$c.crt" -noout -startdate | sed 's/^notBefore=//')" '+%Y-%m-%dT%H:%M:%SZ')
		na=$(date -u -d "$(openssl x509 -in "$TOK/renew-$c.crt" -noout -enddate | sed 's/^notAfter=//')" '+%Y-%m-%dT%H:%M:%SZ')
		block=$(grep -A7 "^Serial Number: $(serial_of "$TOK/renew-$c.crt" | sed 's/^0*//')\$" "$OUT") ||
			{ show_run; fail "no entry for renew-$c"; }
		printf '%s\n' "$block" | sed -n 2p | grep -q '^URI: pkcs11:' ||
			fail "the URI does not follow the serial: $block"
		printf '%s\n' "$block" | sed -n 3p | grep -qxF "Not Before: $nb" ||
			fail "renew-$c: no 'Not Before: $nb' after the URI: $block"
		printf '%s\n' "$block" | sed -n 4p | grep -qxF "Not After: $na" ||
			fail "renew-$c: no 'Not After: $na': $block"
		[ -z "$(printf '%s\n' "$block" | sed -n 5p)" ] ||
			fail "renew-$c: the entry does not end with an empty line: $block"
	done
}

# A token that does not exist: said so, with credential-process's exit code.
t_rcd_no_token() {
	local cp_rc
	rasign_cp --certificate "pkcs11:token=nope;type=cert" --pkcs11-pin "pass:$USER_PIN"
	cp_rc=$RC
	run_rasign read-certificate-data --certificate "pkcs11:token=nope"
	assert_failure "$cp_rc" 'no token matches pkcs11:token=nope'
}

# A module whose C_Initialize fails (SoftHSM without its configuration),
# registered with p11-kit: --debug names it and why; the error names its path.
t_rcd_module_init_fails() {
	SOFTHSM2_CONF=$T/missing.conf run_rasign read-certificate-data \
		--certificate "pkcs11:token=mistake-renew" --debug
	[ "$RC" -eq 5 ] || { show_run; fail "exit $RC, want 5"; }
	[ ! -s "$OUT" ] || { show_run; fail "stdout is not empty"; }
	grep -q "debug.*softhsm2.*$P11_MODULE.*C_Initialize" "$ERR" ||
		{ show_run; fail "--debug does not name the module that failed to initialise"; }
	SOFTHSM2_CONF=$T/missing.conf run_rasign read-certificate-data \
		--certificate "pkcs11:token=mistake-renew"
	assert_failure 5 "no token matches.*$P11_MODULE.*initiali[sz]e"
}

# --pkcs11-lib naming a file that is not a shared library, a library that
# is not a PKCS#11 module, and a module whose C_Initialize fails: exit 5,
# each error names the path and says which it is.
t_rcd_not_a_module() {
	local lib
	printf 'not a library\n' >"$T/fake.so"
	run_rasign read-certificate-data --certificate "pkcs11:" --pkcs11-lib "$T/fake.so"
	assert_failure 5 "cannot load the PKCS#11 module $T/fake.so"
	for lib in /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1 \
		/usr/lib64/libz.so.1 /usr/lib/libz.so.1 ""; do
		[ -e "$lib" ] && break
	done
	[ -n "$lib" ] || skip "no libz.so.1 to use as a library that is not a module"
	run_rasign read-certificate-data --certificate "pkcs11:" --pkcs11-lib "$lib"
	assert_failure 5 "PKCS#11 module $lib: it is not a PKCS#11 module"
	SOFTHSM2_CONF=$T/missing.conf run_rasign read-certificate-data \
		--certificate "pkcs11:" --pkcs11-lib "$P11_MODULE"
	assert_failure 5 "cannot initiali[sz]e the PKCS#11 module $P11_MODULE: C_Initialize returned"
}

# ---------------------------------------------------------------- the run

run_test "EC key, RSA certificate, --reuse-pin, no public key: sign-string" \
	t_wrong_type 01 k1 EC RSA sign --reuse-pin
run_test "EC key, RSA certificate, --reuse-pin, no public key: credential-process" \
	t_wrong_type 01 k1 EC RSA cp --reuse-pin
run_test "EC key, RSA certificate, context PIN, no public key" \
	t_wrong_type 01 k1 EC RSA cp --pkcs11-context-pin "pass:$USER_PIN"
run_test "EC key, RSA certificate, public-key object on the token" \
	t_wrong_type 02 k2 EC RSA cp
run_test "EC P-384 key, EC P-256 certificate, --reuse-pin" \
	t_wrong_type 03 k3 'P-384' 'P-256' sign --reuse-pin
run_test "RSA key, EC certificate, --reuse-pin" \
	t_wrong_type 04 k4 RSA EC cp --reuse-pin
run_test "RSA key, another RSA key's certificate, --reuse-pin" \
	t_wrong_type 05 k5 RSA-2048 'moduli differ' sign --reuse-pin
run_test "EC key URI, RSA certificate file" t_wrong_type_hybrid
run_test "wrong key type: refused before any signature" t_wrong_type_no_signature

run_test "renewal: --cert-selector picks the renewed certificate" t_renew_selector new
run_test "renewal: --cert-selector picks the old certificate" t_renew_selector old
run_test "renewal: --use-latest-expiring-certificate" t_renew_latest
run_test "renewal: sign-string with --cert-selector" t_renew_sign_string
run_test "renewal: the URI alone says how to choose" t_renew_uri_ambiguous

run_test "read-certificate-data shows the validity dates" t_rcd_dates
run_test "read-certificate-data: no such token, exit as credential-process" t_rcd_no_token
run_test "read-certificate-data: a module failing C_Initialize is named" t_rcd_module_init_fails
run_test "--pkcs11-lib: not a library, not a module, C_Initialize fails" t_rcd_not_a_module
