#!/bin/bash
# make-tokens.sh DIR PKI_DIR: build SoftHSMv2 tokens for rasign's PKCS#11 tests.
#
# The tokens live in a private token store, DIR/tokens, named by
# DIR/softhsm2.conf (export SOFTHSM2_CONF to use it). Every private key is
# generated on the token, sensitive and never extractable, and gets a
# certificate issued by the test PKI's intermediate CA (make-pki.sh PKI_DIR,
# built first if needed). The result is described by DIR/testvars
# (shell-sourceable VAR='value' lines), written last and atomically, so a
# testvars file that ends with TOKENS_COMPLETE=yes means the tokens are usable;
# a second run then does nothing.
#
# Tokens (user PIN 1234, SO PIN 12345678 on all):
#   rasign-main       rsa2048 (id 01), rsa3072 (02), ec-p256 (03), ec-p384 (04);
#                     key, public key and certificate share id and label.
#                     Mismatch tests pair one key's certificate with another key.
#   quirk-nopub       ec-p256 "k" whose public-key object is deleted, so the
#                     public key is only in the certificate
#   quirk-label       key "my key", its certificate "my cert" (same id 01): a
#                     backend must find the key through the certificate's CKA_ID
#   quirk-attest      key "sig" + its certificate, plus a second certificate
#                     with the same id 01 for another key, labelled like a
#                     YubiKey's PIV attestation certificate
#   quirk-alwaysauth  key "aa" with CKA_ALWAYS_AUTHENTICATE
#   quirk-chain       key "leaf" + certificate, intermediate (id 02) and root
#                     (id 03) certificates on the token too
#   quirk-nosign      key "nosign" with CKA_SIGN false
#
# Certificates are made with certtool (gnutls-bin), not `openssl ca` as in
# make-pki.sh: the key never leaves the token, so there is no key to sign a
# CSR with for the CKA_SIGN=false key (and a CSR through the pkcs11 engine
# costs an engine load per key). certtool issues a certificate for a bare
# public key (--load-pubkey) and, unlike `openssl x509 -req/-new` in 3.0, takes
# explicit dates, so the leaves have the same profile as make-pki.sh's: valid
# now-1day..now+30days, CA:FALSE, digitalSignature, clientAuth, SKI/AKI.
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 DIR PKI_DIR" >&2
	exit 2
fi
DIR=$1
PKI_ARG=$2
HERE=$(cd "$(dirname "$0")" && pwd)
OPENSSL=${OPENSSL:-openssl}
USER_PIN=1234
SO_PIN=12345678

for t in softhsm2-util pkcs11-tool p11tool certtool "$OPENSSL"; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "make-tokens.sh: missing tool: $t" >&2
		exit 1
	}
done

# Token store and PINs are throw-away, but keep them private anyway.
umask 077
mkdir -p "$DIR"
chmod 0700 "$DIR"
DIR=$(cd "$DIR" && pwd)

# testvars values are single-quoted and the paths unquoted in commands below:
# refuse directory names that would need more than that.
case $DIR in
*[!A-Za-z0-9/._+-]*)
	echo "make-tokens.sh: directory name needs quoting: $DIR" >&2
	exit 1
	;;
esac

# Two test scripts run by `make -j check` may build the same directory at
# once; serialize them. (fd 8: make-pki.sh takes fd 9 for its own lock.)
if command -v flock >/dev/null 2>&1; then
	exec 8>"$DIR/.lock"
	flock 8
fi

# --- the PKI -----------------------------------------------------------------
# shellcheck source=softhsm-fixtures/common.sh
. "$HERE/common.sh"
fixture_pki make-tokens.sh

# --- idempotence -------------------------------------------------------------
# complete: testvars ends with the marker, every absolute path it names exists,
# and the CA certificates copied here are still the PKI's (a rebuilt PKI would
# leave the token certificates chaining to a CA that no longer exists).
complete() {
	fixture_complete TOKENS_COMPLETE
}
if complete; then
	exit 0
fi

# Start from nothing: a half-built token cannot be resumed.
cd "$DIR"
rm -f testvars testvars.tmp
rm -rf tokens work
mkdir tokens work
rm -f ./*.crt ./*.crt.der ./*.p8.pem

# --- SoftHSM -----------------------------------------------------------------
# The module: Debian puts it in libsofthsm2 (pulled in by softhsm2).
P11_MODULE=${P11_MODULE:-}
if [ -z "$P11_MODULE" ]; then
	for m in /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so \
		/usr/lib/softhsm/libsofthsm2.so /usr/lib64/softhsm/libsofthsm2.so \
		/usr/local/lib/softhsm/libsofthsm2.so; do
		if [ -e "$m" ]; then
			P11_MODULE=$m
			break
		fi
	done
fi
if [ -z "$P11_MODULE" ]; then
	P11_MODULE=$(dpkg -L libsofthsm2 softhsm2 2>/dev/null |
		grep '/libsofthsm2\.so$' | head -n 1) || true
fi
if [ -z "$P11_MODULE" ] || [ ! -e "$P11_MODULE" ]; then
	echo "make-tokens.sh: libsofthsm2.so not found (apt-get install softhsm2)" >&2
	exit 1
fi

# ERROR only: SoftHSM logs to syslog otherwise, at INFO for every session.
cat >softhsm2.conf <<EOF
# Private SoftHSMv2 token store for rasign's tests (make-tokens.sh).
directories.tokendir = $DIR/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
EOF
export SOFTHSM2_CONF=$DIR/softhsm2.conf

# Tool output goes to work/log and is shown only when a step fails.
LOG=$DIR/work/log
: >"$LOG"
run() {
	echo "+ $*" >>"$LOG"
	"$@" >>"$LOG" 2>&1 || {
		echo "make-tokens.sh: failed: $*" >&2
		tail -n 20 "$LOG" >&2
		exit 1
	}
}
p11() { # p11 TOKEN ARGS...: pkcs11-tool logged in as the user on TOKEN
	local token=$1
	shift
	run pkcs11-tool --module "$P11_MODULE" --token-label "$token" \
		--login --pin "$USER_PIN" "$@"
}

# --- certificates ------------------------------------------------------------
# The dates are fixed once, like make-pki.sh's. certtool reads template dates
# in local time; TZ=UTC makes these UTC.
NOT_BEFORE=$(date -u -d '-1 day' '+%Y-%m-%d %H:%M:%S')
NOT_AFTER=$(date -u -d '+30 days' '+%Y-%m-%d %H:%M:%S')

# issue NAME PUBKEY.pem CN SERIALHEX: NAME.crt (PEM) and NAME.crt.der, issued
# by the intermediate CA with make-pki.sh's leaf profile. The subject is
# written "O=...,CN=..." (RFC 4514, last RDN first) to get CN first, then O:
# the order `openssl ca` gives make-pki.sh's leaves.
issue() {
	fixture_issue "$@"
}

# pubkey TOKEN ID OUT.pem: the public-key object of key ID, as PEM, read from
# the token, so the certificate is for the key made there. p11tool, not
# `pkcs11-tool --read-object --type pubkey`: opensc 0.23 fails on P-384 there
# ("cannot create EVP_PKEY"), though it reads P-256 and RSA.
pubkey() {
	GNUTLS_PIN=$USER_PIN run p11tool --provider "$P11_MODULE" --login \
		--export-pubkey "$(uri "$1" "$2" "" public)" \
		--outfile "$3"
	run "$OPENSSL" pkey -pubin -in "$3" -noout
}

# put_cert TOKEN ID LABEL NAME: store NAME.crt.der on TOKEN. Certificates are
# public objects (no --private), as on real tokens: readable before login.
put_cert() {
	p11 "$1" --write-object "$4.crt.der" --type cert --id "$2" --label "$3"
}

# keygen TOKEN ID LABEL TYPE [pkcs11-tool options]: a key pair on the token.
# --sensitive sets CKA_SENSITIVE; pkcs11-tool 0.23 leaves CKA_EXTRACTABLE
# false unless --extractable is given, and SoftHSM then records
# CKA_ALWAYS_SENSITIVE and CKA_NEVER_EXTRACTABLE; check_keys verifies it.
keygen() {
	local token=$1 id=$2 label=$3 type=$4
	shift 4
	p11 "$token" --keypairgen --key-type "$type" --id "$id" \
		--label "$label" --sensitive "$@"
}

# token LABEL: initialize a fresh token (SoftHSM always offers a free slot).
token() {
	run softhsm2-util --init-token --free --label "$1" \
		--so-pin "$SO_PIN" --pin "$USER_PIN"
}

# uri TOKEN ID OBJECT-LABEL TYPE: an RFC 7512 URI; labels percent-encoded
# (everything but unreserved characters), the id as %XX bytes; no object=
# for an empty OBJECT-LABEL.
pct() {
	local s=$1 out="" c i
	for ((i = 0; i < ${#s}; i++)); do
		c=${s:i:1}
		case $c in
		[A-Za-z0-9._~-]) out=$out$c ;;
		*) out=$out$(printf '%%%02X' "'$c") ;;
		esac
	done
	printf '%s' "$out"
}
uri() {
	printf 'pkcs11:token=%s;id=%%%s;%stype=%s' "$(pct "$1")" "$2" \
		"${3:+object=$(pct "$3");}" "$4"
}

# Serials 3001.. under the intermediate: make-pki.sh uses 01..05, 1001..1006,
# 2001..2005 and one random 160-bit serial, so these never collide.
# CA copies: stored on quirk-chain, and compared by complete() above.
cp "$INTER_CA_CRT" inter-ca.crt
cp "$ROOT_CA_CRT" root-ca.crt
"$OPENSSL" x509 -in inter-ca.crt -outform DER -out inter-ca.crt.der
"$OPENSSL" x509 -in root-ca.crt -outform DER -out root-ca.crt.der

# The tokens, each independent of the others. The RSA-3072 key generation
# dominates (0.3-2 s of prime search), so rasign-main is built in the
# background while the quirk tokens are made. To keep the two SoftHSM
# processes from ever reading a token store the other is writing,
# rasign-main is built in a token store of its own (work/main-tokens) and
# moved into tokens/ afterwards: SoftHSM keeps no paths inside a token.
build_main() {
	local conf=$DIR/work/main.conf
	mkdir "$DIR/work/main-tokens"
	sed "s#^directories.tokendir = .*#directories.tokendir = $DIR/work/main-tokens#" \
		softhsm2.conf >"$conf"
	LOG=$DIR/work/main.log
	: >"$LOG"
	export SOFTHSM2_CONF=$conf
	token rasign-main
	keygen rasign-main 02 rsa3072 rsa:3072
	keygen rasign-main 01 rsa2048 rsa:2048
	keygen rasign-main 03 ec-p256 EC:prime256v1
	keygen rasign-main 04 ec-p384 EC:secp384r1
	set -- 01 rsa2048 3001 02 rsa3072 3002 03 ec-p256 3003 04 ec-p384 3004
	while [ $# -gt 0 ]; do
		pubkey rasign-main "$1" "work/main-$2.pub.pem"
		issue "main-$2" "work/main-$2.pub.pem" "token rasign-main $2" "$3"
		put_cert rasign-main "$1" "$2" "main-$2"
		shift 3
	done
	mv "$DIR"/work/main-tokens/* "$DIR/tokens/"
}
build_main &
MAIN_PID=$!

# quirk-nopub: the public key is read for the certificate, then deleted.
token quirk-nopub
keygen quirk-nopub 01 k EC:prime256v1
pubkey quirk-nopub 01 work/nopub.pub.pem
issue nopub work/nopub.pub.pem "token quirk-nopub k" 3011
put_cert quirk-nopub 01 k nopub
p11 quirk-nopub --delete-object --type pubkey --id 01

# quirk-label: key and certificate labels differ; only CKA_ID links them.
token quirk-label
keygen quirk-label 01 "my key" EC:prime256v1
pubkey quirk-label 01 work/label.pub.pem
issue label work/label.pub.pem "token quirk-label my key" 3012
put_cert quirk-label 01 "my cert" label

# quirk-attest: as on a YubiKey's PIV slot 9c, where the attestation
# certificate shares the slot's id. The second certificate is for a fresh
# software key, so choosing it instead of the real one fails visibly.
token quirk-attest
keygen quirk-attest 01 sig EC:prime256v1
pubkey quirk-attest 01 work/attest.pub.pem
issue attest work/attest.pub.pem "token quirk-attest sig" 3013
put_cert quirk-attest 01 "Certificate for Digital Signature" attest
run "$OPENSSL" genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out attest-other.p8.pem
run "$OPENSSL" pkey -in attest-other.p8.pem -pubout -out work/attest-other.pub.pem
issue attest-other work/attest-other.pub.pem "PIV Attestation 9c" 3014
put_cert quirk-attest 01 "X.509 Certificate for PIV Attestation 9c" attest-other

# quirk-alwaysauth: CKA_ALWAYS_AUTHENTICATE (p11tool's
# --mark-always-authenticate does not set it; pkcs11-tool's --always-auth does).
token quirk-alwaysauth
keygen quirk-alwaysauth 01 aa EC:prime256v1 --always-auth
pubkey quirk-alwaysauth 01 work/alwaysauth.pub.pem
issue alwaysauth work/alwaysauth.pub.pem "token quirk-alwaysauth aa" 3015
put_cert quirk-alwaysauth 01 aa alwaysauth

# quirk-chain: the issuing chain is on the token as well.
token quirk-chain
keygen quirk-chain 01 leaf EC:prime256v1
pubkey quirk-chain 01 work/chain.pub.pem
issue chain work/chain.pub.pem "token quirk-chain leaf" 3016
put_cert quirk-chain 01 leaf chain
put_cert quirk-chain 02 intermediate inter-ca
put_cert quirk-chain 03 root root-ca

# quirk-nosign: CKA_SIGN false. pkcs11-tool cannot make that: its --usage-*
# options only add attributes, and SoftHSM's default for an absent CKA_SIGN is
# true. p11tool --generate-privkey with --mark-decrypt and no --mark-sign
# writes CKA_SIGN false (it also sets CKA_SENSITIVE; extractable stays false).
token quirk-nosign
GNUTLS_PIN=$USER_PIN run p11tool --provider "$P11_MODULE" --login \
	--generate-privkey=ECDSA --curve=SECP256R1 --mark-decrypt \
	--label nosign --id=01 --outfile work/nosign.p11tool.pub.pem \
	"pkcs11:token=quirk-nosign"
pubkey quirk-nosign 01 work/nosign.pub.pem
issue nosign work/nosign.pub.pem "token quirk-nosign nosign" 3017
put_cert quirk-nosign 01 nosign nosign

# (A failure there was reported by run, in the background job.)
wait "$MAIN_PID" || {
	echo "make-tokens.sh: building rasign-main failed" >&2
	exit 1
}

# --- checks ------------------------------------------------------------------
# Every check reads the final token store through $SOFTHSM2_CONF.
fail() {
	echo "make-tokens.sh: check failed: $*" >&2
	exit 1
}
ALL_TOKENS="rasign-main quirk-nopub quirk-label quirk-attest quirk-alwaysauth quirk-chain quirk-nosign"

# objects TOKEN [TYPE]: pkcs11-tool's listing, logged in (private keys are
# CKA_PRIVATE).
objects() {
	pkcs11-tool --module "$P11_MODULE" --token-label "$1" --login \
		--pin "$USER_PIN" --list-objects ${2:+--type "$2"} 2>>"$LOG"
}

# Every private key: sensitive, always sensitive, never extractable, local
# (generated on the token).
for t in $ALL_TOKENS; do
	n=$(objects "$t" privkey | grep -c 'Private Key Object') || true
	[ "$n" -ge 1 ] || fail "$t: no private key"
	good=$(objects "$t" privkey | grep '^ *Access:' |
		grep 'sensitive' | grep 'always sensitive' |
		grep 'never extractable' | grep -c 'local') || true
	[ "$good" = "$n" ] ||
		fail "$t: a private key is not sensitive/never extractable/local"
done

# Token specifics.
[ "$(objects rasign-main privkey | grep -c 'Private Key Object')" = 4 ] ||
	fail "rasign-main: want 4 private keys"
[ "$(objects rasign-main cert | grep -c 'Certificate Object')" = 4 ] ||
	fail "rasign-main: want 4 certificates"
[ "$(objects quirk-nopub pubkey | grep -c 'Public Key Object')" = 0 ] ||
	fail "quirk-nopub: public key still there"
[ "$(objects quirk-attest cert | grep -c '^ *ID: *01$')" = 2 ] ||
	fail "quirk-attest: want 2 certificates with id 01"
[ "$(objects quirk-chain cert | grep -c 'Certificate Object')" = 3 ] ||
	fail "quirk-chain: want 3 certificates"
objects quirk-alwaysauth privkey | grep -q 'always authenticate' ||
	fail "quirk-alwaysauth: CKA_ALWAYS_AUTHENTICATE not set"
usage=$(objects quirk-nosign privkey | grep '^ *Usage:') || true
case $usage in
*sign*) fail "quirk-nosign: private key can sign ($usage)" ;;
esac

# The certificates verify against the PKI as client certificates.
for c in main-rsa2048 main-rsa3072 main-ec-p256 main-ec-p384 nopub label \
	attest attest-other alwaysauth chain nosign; do
	run "$OPENSSL" verify -CAfile root-ca.crt -untrusted inter-ca.crt \
		-purpose sslclient "$c.crt"
done

# p11tool finds the tokens through p11-kit's registered modules (softhsm2
# registers itself system-wide): 4 keys, 4 public keys, 4 certificates.
n=$(GNUTLS_PIN=$USER_PIN p11tool --login --list-all "pkcs11:token=rasign-main" \
	2>>"$LOG" | grep -c '^[[:space:]]*URL: pkcs11:') || true
[ "$n" = 12 ] || fail "p11tool --list-all pkcs11:token=rasign-main: $n objects, want 12"

# Signing with the token keys verifies against their certificates: EC with
# CKM_ECDSA over a SHA-256 hash (SoftHSM has no CKM_ECDSA_SHA256), RSA with
# CKM_SHA256_RSA_PKCS; the refused signature on quirk-nosign.
printf 'rasign make-tokens check\n' >work/data
"$OPENSSL" dgst -sha256 -binary -out work/data.sha256 work/data
sign_check() { # sign_check TOKEN ID CERT MECH INPUT
	p11 "$1" --sign --id "$2" -m "$4" --signature-format openssl \
		-i "$5" -o "work/sig-$1-$2"
	run "$OPENSSL" x509 -in "$3" -pubkey -noout -out "work/sigpub-$1-$2.pem"
	run "$OPENSSL" dgst -sha256 -verify "work/sigpub-$1-$2.pem" \
		-signature "work/sig-$1-$2" work/data
}
sign_check rasign-main 03 main-ec-p256.crt ECDSA work/data.sha256
sign_check rasign-main 04 main-ec-p384.crt ECDSA work/data.sha256
sign_check rasign-main 01 main-rsa2048.crt SHA256-RSA-PKCS work/data
sign_check rasign-main 02 main-rsa3072.crt SHA256-RSA-PKCS work/data
sign_check quirk-nopub 01 nopub.crt ECDSA work/data.sha256
if pkcs11-tool --module "$P11_MODULE" --token-label quirk-nosign --login \
	--pin "$USER_PIN" --sign --id 01 -m ECDSA -i work/data.sha256 \
	-o work/sig-nosign >>"$LOG" 2>&1; then
	fail "quirk-nosign: signing succeeded"
fi

# --- testvars ----------------------------------------------------------------
# Values are single-quoted: URIs hold ';' and labels spaces. No value has a
# single quote.
var() {
	case $2 in
	*"'"*) fail "value with a quote: $1" ;;
	esac
	printf "%s='%s'\n" "$1" "$2"
}
# keyvars PREFIX TOKEN ID KEY-LABEL CERT-LABEL NAME: the variables of one key
# and its certificate.
keyvars() {
	local p=$1 t=$2 id=$3 kl=$4 cl=$5 name=$6
	var "${p}_ID" "$id"
	if [ "$kl" = "$cl" ]; then
		var "${p}_LABEL" "$kl"
	else
		var "${p}_KEY_LABEL" "$kl"
		var "${p}_CRT_LABEL" "$cl"
	fi
	var "${p}_CRT" "$DIR/$name.crt"
	var "${p}_CRT_DER" "$DIR/$name.crt.der"
	var "${p}_KEY_URI" "$(uri "$t" "$id" "$kl" private)"
	var "${p}_CRT_URI" "$(uri "$t" "$id" "$cl" cert)"
}
{
	echo "# Generated by softhsm-fixtures/make-tokens.sh; sourced by the tests."
	echo "# export SOFTHSM2_CONF before using the tokens; URIs carry no PIN."
	var TOKENS_DIR "$DIR"
	var SOFTHSM2_CONF "$DIR/softhsm2.conf"
	var P11_MODULE "$P11_MODULE"
	var USER_PIN "$USER_PIN"
	var SO_PIN "$SO_PIN"
	var TOKENS_INTER_CA_CRT "$DIR/inter-ca.crt"
	var TOKENS_ROOT_CA_CRT "$DIR/root-ca.crt"

	var MAIN_TOKEN rasign-main
	var MAIN_TOKEN_URI "pkcs11:token=rasign-main"
	keyvars MAIN_RSA2048 rasign-main 01 rsa2048 rsa2048 main-rsa2048
	keyvars MAIN_RSA3072 rasign-main 02 rsa3072 rsa3072 main-rsa3072
	keyvars MAIN_EC_P256 rasign-main 03 ec-p256 ec-p256 main-ec-p256
	keyvars MAIN_EC_P384 rasign-main 04 ec-p384 ec-p384 main-ec-p384
	# A certificate and a key of different key pairs on the same token.
	var MISMATCH_CRT "$DIR/main-ec-p256.crt"
	var MISMATCH_CRT_URI "$(uri rasign-main 03 ec-p256 cert)"
	var MISMATCH_KEY_URI "$(uri rasign-main 04 ec-p384 private)"

	var NOPUB_TOKEN quirk-nopub
	keyvars NOPUB quirk-nopub 01 k k nopub

	var LABEL_TOKEN quirk-label
	keyvars LABEL quirk-label 01 "my key" "my cert" label

	var ATTEST_TOKEN quirk-attest
	keyvars ATTEST quirk-attest 01 sig "Certificate for Digital Signature" attest
	var ATTEST_OTHER_LABEL "X.509 Certificate for PIV Attestation 9c"
	var ATTEST_OTHER_CRT "$DIR/attest-other.crt"
	var ATTEST_OTHER_P8 "$DIR/attest-other.p8.pem"
	var ATTEST_OTHER_CRT_URI "$(uri quirk-attest 01 "X.509 Certificate for PIV Attestation 9c" cert)"

	var ALWAYSAUTH_TOKEN quirk-alwaysauth
	keyvars ALWAYSAUTH quirk-alwaysauth 01 aa aa alwaysauth

	var CHAIN_TOKEN quirk-chain
	keyvars CHAIN quirk-chain 01 leaf leaf chain
	var CHAIN_INTER_ID 02
	var CHAIN_INTER_CRT_URI "$(uri quirk-chain 02 intermediate cert)"
	var CHAIN_ROOT_ID 03
	var CHAIN_ROOT_CRT_URI "$(uri quirk-chain 03 root cert)"

	var NOSIGN_TOKEN quirk-nosign
	keyvars NOSIGN quirk-nosign 01 nosign nosign nosign
	echo "TOKENS_COMPLETE=yes"
} >testvars.tmp
mv testvars.tmp testvars

echo "make-tokens.sh: 7 tokens in $DIR/tokens (SOFTHSM2_CONF=$SOFTHSM2_CONF):" \
	"$ALL_TOKENS; private keys sensitive + never extractable;" \
	"p11tool sees $n objects on rasign-main; ECDSA P-256/P-384 and" \
	"RSA-2048/3072 token signatures verify; quirk-nosign refuses to sign" >&2
