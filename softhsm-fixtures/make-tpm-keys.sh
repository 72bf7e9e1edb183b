#!/bin/bash
# make-tpm-keys.sh DIR PKI_DIR: build a software TPM with keys for rasign's
# TPM tests.
#
# The TPM is a swtpm whose state lives in DIR/tpm; it is left STOPPED: tests
# source swtpm.sh and run `swtpm_start "$TPM_STATE"` (and swtpm_stop after).
# Every key is generated inside the TPM and gets a certificate issued by the
# test PKI's intermediate CA (make-pki.sh PKI_DIR, built first if needed),
# valid now-1day..now+30days with make-pki.sh's leaf profile. The result is
# described by DIR/testvars (shell-sourceable VAR='value' lines), written last
# and atomically, so a testvars file that ends with TPM_COMPLETE=yes means the
# TPM and the files are usable; a second run then does nothing.
#
# Keys (certificates CN "tpm NAME", serials 4001..):
#   tpm2-openssl (openssl genpkey -provider tpm2), TSS2 PRIVATE KEY files with
#   parent 0x40000001 (the provider recreates the ECC P-256 SRK each time):
#     tpm-ec-p256, tpm-ec-p256-pw (password tpm-key-pw), tpm-rsa2048,
#     tpm-ec-p384, tpm-rsa3072
#   tpm2-tools (tpm2_create under a tpm2_createprimary SRK made from the same
#   template as tpm2-openssl's, then tpm2_encodeobject), parent 0x40000001:
#     tools-ec-p256, tools-ec-p256-pw (password tools-key-pw)
#   persistent (tpm2_evictcontrol), used as handle:0x8100010N:
#     0x81000101 EC P-256, 0x81000102 RSA-2048, 0x81000103 EC P-256 with
#     password handle-pw
#   a persistent storage parent WITH a password (parent-pw) at 0x81000001 and
#     parentpw-ec-p256, a TSS2 key file under it (parent 0x81000001)
#   failure material: tpm-corrupt.pem (tpm-ec-p256 with bytes of its privkey
#     flipped: fails TPM2_Load's integrity check) and tpm-foreign.pem (made by
#     a second swtpm, state in DIR/tpm-other: cannot load on the main TPM)
#
# With the tpm2 provider: handle:0x81000103?pass asks for (-passin) the key
# password of a persistent key; TPM2OPENSSL_PARENT_AUTH carries the parent's.
#
# Dictionary attack: a fresh swtpm locks out after 3 wrong passwords for
# 1000 s. Here maxTries is 1000, recoveryTime 1 s, lockoutRecovery 1 s: a wrong
# password still increments TPM2_PT_LOCKOUT_COUNTER (read it at once: it heals
# by one per second), but tests never lock the TPM out. The SRK is noda (its
# template says so), the keys and the password parent are not.
#
# swtpm without a resource manager has 3 transient object slots: every tool
# call is followed by tpm2_flushcontext -t -s (and -l where sessions leak).
set -eu

if [ $# -ne 2 ]; then
	echo "usage: $0 DIR PKI_DIR" >&2
	exit 2
fi
DIR=$1
PKI_ARG=$2
HERE=$(cd "$(dirname "$0")" && pwd)
OPENSSL=${OPENSSL:-openssl}

KEY_PW='tpm-key-pw'
TOOLS_PW='tools-key-pw'
HANDLE_PW='handle-pw'
PARENT_PW='parent-pw'
PARENT_HANDLE=0x81000001
# tpm2-openssl's SRK: ECC NIST P-256 storage key, AES-128-CFB, unique empty.
SRK_ATTRS='restricted|decrypt|noda|fixedtpm|fixedparent|sensitivedataorigin|userwithauth'
# The password parent: the same, but dictionary-attack protected.
PARENT_ATTRS='restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth'
# What tpm2-openssl gives its keys (0x00040072).
KEY_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'

for t in swtpm tpm2_createprimary tpm2_create tpm2_load tpm2_evictcontrol \
	tpm2_encodeobject tpm2_flushcontext tpm2_dictionarylockout tpm2_getcap \
	tpm2_readpublic tpm2_sign tpm2_shutdown certtool perl timeout "$OPENSSL"; do
	command -v "$t" >/dev/null 2>&1 || {
		echo "make-tpm-keys.sh: missing tool: $t" \
			"(apt-get install swtpm swtpm-tools tpm2-tools tpm2-openssl gnutls-bin)" >&2
		exit 1
	}
done
# TPM state and keys are throw-away, but keep them private anyway.
umask 077
mkdir -p "$DIR"
chmod 0700 "$DIR"
DIR=$(cd "$DIR" && pwd)

# testvars values are single-quoted and the paths unquoted in commands below:
# refuse directory names that would need more than that. The control socket
# DIR/tpm-other/sock.ctrl must fit in sun_path (107 characters).
case $DIR in
*[!A-Za-z0-9/._+-]*)
	echo "make-tpm-keys.sh: directory name needs quoting: $DIR" >&2
	exit 1
	;;
esac
if [ ${#DIR} -gt 85 ]; then
	echo "make-tpm-keys.sh: directory path too long for swtpm's unix sockets: $DIR" >&2
	exit 1
fi

# Two test scripts run by `make -j check` may build the same directory at
# once; serialize them. (fd 7: make-tokens.sh takes 8, make-pki.sh 9.)
if command -v flock >/dev/null 2>&1; then
	exec 7>"$DIR/.lock"
	flock 7
fi

# --- the PKI -----------------------------------------------------------------
# shellcheck source=softhsm-fixtures/common.sh
. "$HERE/common.sh"
fixture_pki make-tpm-keys.sh

# --- idempotence -------------------------------------------------------------
# complete: testvars ends with the marker, every absolute path it names exists,
# the TPM state is there, and the CA certificates copied here are still the
# PKI's (a rebuilt PKI would leave these certificates chaining to a CA that no
# longer exists).
complete() {
	fixture_complete TPM_COMPLETE && [ -s "$DIR/tpm/tpm2-00.permall" ]
}
if complete; then
	exit 0
fi

# shellcheck disable=SC1091
. "$HERE/swtpm.sh"

# Start from nothing. A swtpm left running on these state directories (an
# interrupted run, or a test that did not stop it) is stopped first.
cd "$DIR"
for d in tpm tpm-other; do
	[ -d "$d" ] && swtpm_stop "$d"
done
rm -f testvars testvars.tmp
rm -rf tpm tpm-other work
rm -f ./*.pem ./*.crt ./*.crt.der
mkdir tpm tpm-other work

# Every swtpm started here is stopped on the way out, on failure too.
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	swtpm_stop "$DIR/tpm-other" || true
	swtpm_stop "$DIR/tpm" || true
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# Tool output goes to work/log and is shown only when a step fails.
LOG=$DIR/work/log
: >"$LOG"
run() {
	echo "+ $*" >>"$LOG"
	"$@" >>"$LOG" 2>&1 || {
		echo "make-tpm-keys.sh: failed: $*" >&2
		tail -n 20 "$LOG" >&2
		exit 1
	}
}
fail() {
	echo "make-tpm-keys.sh: check failed: $*" >&2
	exit 1
}
# flush: no transient object or saved session stays (3 object slots).
flush() {
	run tpm2_flushcontext -t -s
}
# tpm TOOL ARGS...: a tpm2-tools call, then flush.
tpm() {
	run "$@"
	flush
}

# --- certificates ------------------------------------------------------------
cp "$INTER_CA_CRT" inter-ca.crt
cp "$ROOT_CA_CRT" root-ca.crt
NOT_BEFORE=$(date -u -d '-1 day' '+%Y-%m-%d %H:%M:%S')
NOT_AFTER=$(date -u -d '+30 days' '+%Y-%m-%d %H:%M:%S')

# issue NAME PUBKEY.pem SERIALHEX: NAME.crt and NAME.crt.der for the public
# key, from the intermediate CA, with make-pki.sh's leaf profile (as in
# make-tokens.sh: certtool takes a bare public key and explicit dates).
issue() {
	fixture_issue "$1" "$2" "tpm $1" "$3"
}

# ossl_pub NAME [openssl options]: NAME.pub.pem, the public key of the
# TSS2 key file NAME.pem, read through the tpm2 provider (which loads the key).
ossl_pub() {
	local name=$1
	shift
	run "$OPENSSL" pkey -provider tpm2 -provider default -in "$name.pem" "$@" \
		-pubout -out "$name.pub.pem"
	flush
}

# ossl_gen NAME SERIAL PASSWORD [genpkey options]: a key made by tpm2-openssl,
# NAME.pem (with the key password PASSWORD unless empty), and its certificate.
ossl_gen() {
	local name=$1 serial=$2 pw=$3
	shift 3
	if [ -n "$pw" ]; then
		run "$OPENSSL" genpkey -provider tpm2 -provider default "$@" \
			-pkeyopt "user-auth:$pw" -out "work/$name.pem.tmp"
	else
		run "$OPENSSL" genpkey -provider tpm2 -provider default "$@" \
			-out "work/$name.pem.tmp"
	fi
	flush
	mv "work/$name.pem.tmp" "$name.pem"
	if [ -n "$pw" ]; then
		ossl_pub "$name" -passin "pass:$pw"
	else
		ossl_pub "$name"
	fi
	issue "$name" "$name.pub.pem" "$serial"
}

# asn1 FILE: the TSS2 key's emptyAuth ("true"/"false"; absent is false) and
# parent ("40000001"), as "EMPTYAUTH PARENT".
asn1() {
	local out empty=false parent
	out=$("$OPENSSL" asn1parse -in "$1") || fail "$1: not DER in PEM"
	echo "$out" | grep -q ':2\.23\.133\.10\.1\.3$' || fail "$1: not a TSS2 PRIVATE KEY"
	case $(echo "$out" | grep -m 1 'prim: BOOLEAN') in
	*":0") empty=false ;;
	*":"?*) empty=true ;;
	esac
	parent=$(echo "$out" | grep -m 1 'prim: INTEGER') || fail "$1: no parent"
	parent=${parent##*:}
	echo "$empty $parent"
}

# encode NAME PARENT HAS-PASSWORD [parent auth options]: NAME.pem from
# work/NAME.pub and work/NAME.priv with tpm2_encodeobject. tpm2-tools 5.4
# writes emptyAuth inverted (-p, "the key has a password", gives
# emptyAuth TRUE): encode as 5.4 needs, read the result back, and encode the
# other way if that was wrong (a fixed tpm2-tools).
# tpm2_encodeobject 5.4 also leaves its HMAC session LOADED (after 3 encodes
# the next tool fails with 0x903, out of memory for session contexts); -s
# flushes only saved sessions, and `tpm2_flushcontext -t -l` together fails
# (0x1C4 on handle 0), so -l is a call of its own.
encodeobject() {
	tpm tpm2_encodeobject "$@"
	run tpm2_flushcontext -l
}
ENCODE_NOTE=
encode() {
	local name=$1 parent=$2 haspw=$3 want got flag other opts
	shift 3
	opts=(-C "$parent" "$@" -u "work/$name.pub" -r "work/$name.priv")
	if [ "$haspw" = yes ]; then
		want=false flag=() other=(-p)
	else
		want=true flag=(-p) other=()
	fi
	encodeobject "${opts[@]}" "${flag[@]}" -o "$name.pem"
	got=$(asn1 "$name.pem")
	if [ "${got%% *}" != "$want" ]; then
		encodeobject "${opts[@]}" "${other[@]}" -o "$name.pem"
		ENCODE_NOTE="tpm2_encodeobject writes emptyAuth as documented"
	else
		ENCODE_NOTE="tpm2_encodeobject -p inverts emptyAuth (worked around)"
	fi
}

# --- the main TPM ------------------------------------------------------------
swtpm_start "$DIR/tpm"
run tpm2_dictionarylockout -c
run tpm2_dictionarylockout -s -n 1000 -t 1 -l 1

# tpm2-openssl keys. Serials 4001..: make-pki.sh uses 01..05, 1001..1006,
# 2001..2005 and one random 160-bit serial, make-tokens.sh 3001..3017.
ossl_gen tpm-ec-p256 4001 "" -algorithm EC -pkeyopt group:P-256
ossl_gen tpm-ec-p256-pw 4002 "$KEY_PW" -algorithm EC -pkeyopt group:P-256
ossl_gen tpm-rsa2048 4003 "" -algorithm RSA -pkeyopt bits:2048
ossl_gen tpm-ec-p384 4004 "" -algorithm EC -pkeyopt group:P-384
ossl_gen tpm-rsa3072 4005 "" -algorithm RSA -pkeyopt bits:3072

# tpm2-tools keys under the SRK. createprimary leaves the primary loaded and
# every tool loads its own copy from the context file: flush after each.
tpm tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb -a "$SRK_ATTRS" \
	-c work/srk.ctx -Q
# tools_create NAME ALG [-p PASSWORD]: work/NAME.pub, work/NAME.priv.
tools_create() {
	local name=$1 alg=$2
	shift 2
	tpm tpm2_create -C work/srk.ctx -G "$alg" -g sha256 -a "$KEY_ATTRS" "$@" \
		-u "work/$name.pub" -r "work/$name.priv" -Q
}
tools_create tools-ec-p256 ecc256
encode tools-ec-p256 work/srk.ctx no
tools_create tools-ec-p256-pw ecc256 -p "$TOOLS_PW"
encode tools-ec-p256-pw work/srk.ctx yes
ossl_pub tools-ec-p256
issue tools-ec-p256 tools-ec-p256.pub.pem 4011
ossl_pub tools-ec-p256-pw -passin "pass:$TOOLS_PW"
issue tools-ec-p256-pw tools-ec-p256-pw.pub.pem 4012

# Persistent keys: created under the SRK, loaded, made persistent (the
# persistent copy no longer needs its parent).
persist() { # persist NAME ALG HANDLE SERIAL [-p PASSWORD]
	local name=$1 alg=$2 handle=$3 serial=$4
	shift 4
	tools_create "$name" "$alg" "$@"
	tpm tpm2_load -C work/srk.ctx -u "work/$name.pub" -r "work/$name.priv" \
		-c "work/$name.ctx" -Q
	tpm tpm2_evictcontrol -C o -c "work/$name.ctx" "$handle"
	tpm tpm2_readpublic -c "$handle" -f pem -o "$name.pub.pem" -Q
	issue "$name" "$name.pub.pem" "$serial"
}
persist handle-ec-p256 ecc256 0x81000101 4021
persist handle-rsa2048 rsa2048 0x81000102 4022
persist handle-ec-p256-pw ecc256 0x81000103 4023 -p "$HANDLE_PW"

# A persistent storage parent with a password, and a key file under it.
tpm tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb -a "$PARENT_ATTRS" \
	-p "$PARENT_PW" -c work/parent.ctx -Q
tpm tpm2_evictcontrol -C o -c work/parent.ctx "$PARENT_HANDLE"
tpm tpm2_create -C "$PARENT_HANDLE" -P "$PARENT_PW" -G ecc256 -g sha256 \
	-a "$KEY_ATTRS" -u work/parentpw-ec-p256.pub -r work/parentpw-ec-p256.priv -Q
encode parentpw-ec-p256 "$PARENT_HANDLE" no -P "$PARENT_PW"
TPM2OPENSSL_PARENT_AUTH=$PARENT_PW ossl_pub parentpw-ec-p256
issue parentpw-ec-p256 parentpw-ec-p256.pub.pem 4031

# The corrupt key: tpm-ec-p256.pem with the last 8 bytes of its privkey (the
# last field of the DER) inverted; its public key and certificate are
# tpm-ec-p256's.
run "$OPENSSL" base64 -d -in tpm-ec-p256.pem -out work/corrupt.der
perl -e 'local $/; my $d = <STDIN>; substr($d, -8) ^= "\xff" x 8; print $d' \
	<work/corrupt.der >work/corrupt.flipped.der
{
	echo "-----BEGIN TSS2 PRIVATE KEY-----"
	"$OPENSSL" base64 -e -in work/corrupt.flipped.der
	echo "-----END TSS2 PRIVATE KEY-----"
} >tpm-corrupt.pem
cmp -s work/corrupt.der work/corrupt.flipped.der && fail "corrupt key unchanged"

# The foreign key, from a second swtpm (its own seeds, so its SRK differs);
# it is checked there before that TPM is stopped.
printf 'rasign make-tpm-keys check\n' >work/data
"$OPENSSL" dgst -sha256 -binary -out work/data.sha256 work/data
(
	swtpm_start "$DIR/tpm-other"
	ossl_gen tpm-foreign 4041 "" -algorithm EC -pkeyopt group:P-256
	run "$OPENSSL" pkeyutl -provider tpm2 -provider default -sign \
		-inkey tpm-foreign.pem -in work/data.sha256 -out work/sig-foreign
	flush
	run "$OPENSSL" pkeyutl -verify -certin -inkey tpm-foreign.crt \
		-in work/data.sha256 -sigfile work/sig-foreign
	swtpm_stop "$DIR/tpm-other"
)

# --- checks ------------------------------------------------------------------
# The TSS2 key files: emptyAuth and parent as intended.
check_asn1() { # check_asn1 FILE EMPTYAUTH PARENT
	local got
	got=$(asn1 "$1")
	[ "$got" = "$2 $3" ] || fail "$1: emptyAuth/parent are '$got', want '$2 $3'"
}
for f in tpm-ec-p256 tpm-rsa2048 tpm-ec-p384 tpm-rsa3072 tools-ec-p256 \
	tpm-foreign tpm-corrupt; do
	check_asn1 "$f.pem" true 40000001
done
check_asn1 tpm-ec-p256-pw.pem false 40000001
check_asn1 tools-ec-p256-pw.pem false 40000001
check_asn1 parentpw-ec-p256.pem true 81000001

# Certificates chain to the PKI's root as client certificates.
for c in tpm-ec-p256 tpm-ec-p256-pw tpm-rsa2048 tpm-ec-p384 tpm-rsa3072 \
	tools-ec-p256 tools-ec-p256-pw handle-ec-p256 handle-rsa2048 \
	handle-ec-p256-pw parentpw-ec-p256 tpm-foreign; do
	run "$OPENSSL" verify -CAfile root-ca.crt -untrusted inter-ca.crt \
		-purpose sslclient "$c.crt"
done

# Signatures by every key verify with its certificate: through the tpm2
# provider for key files and handles, through tpm2_sign for handles.
verify_sig() { # verify_sig CRT SIG
	run "$OPENSSL" pkeyutl -verify -certin -inkey "$1" -in work/data.sha256 \
		-pkeyopt digest:sha256 -sigfile "$2"
}
sign_ossl() { # sign_ossl KEY CRT TAG [openssl options]
	local key=$1 crt=$2 tag=$3
	shift 3
	run "$OPENSSL" pkeyutl -provider tpm2 -provider default -sign \
		-inkey "$key" "$@" -in work/data.sha256 -pkeyopt digest:sha256 \
		-out "work/sig-$tag"
	flush
	verify_sig "$crt" "work/sig-$tag"
}
sign_tools() { # sign_tools HANDLE CRT TAG [-p PASSWORD]
	local handle=$1 crt=$2 tag=$3
	shift 3
	tpm tpm2_sign -c "$handle" "$@" -g sha256 -d -f plain \
		-o "work/sig-$tag" work/data.sha256
	verify_sig "$crt" "work/sig-$tag"
}
sign_ossl tpm-ec-p256.pem tpm-ec-p256.crt ec-p256
sign_ossl tpm-ec-p256-pw.pem tpm-ec-p256-pw.crt ec-p256-pw -passin "pass:$KEY_PW"
sign_ossl tpm-rsa2048.pem tpm-rsa2048.crt rsa2048
sign_ossl tpm-ec-p384.pem tpm-ec-p384.crt ec-p384
sign_ossl tpm-rsa3072.pem tpm-rsa3072.crt rsa3072
sign_ossl tools-ec-p256.pem tools-ec-p256.crt tools-ec-p256
sign_ossl tools-ec-p256-pw.pem tools-ec-p256-pw.crt tools-ec-p256-pw \
	-passin "pass:$TOOLS_PW"
TPM2OPENSSL_PARENT_AUTH=$PARENT_PW sign_ossl parentpw-ec-p256.pem \
	parentpw-ec-p256.crt parentpw
sign_ossl handle:0x81000101 handle-ec-p256.crt h1
sign_ossl handle:0x81000102 handle-rsa2048.crt h2
sign_ossl 'handle:0x81000103?pass' handle-ec-p256-pw.crt h3 \
	-passin "pass:$HANDLE_PW"
sign_tools 0x81000101 handle-ec-p256.crt t1
sign_tools 0x81000102 handle-rsa2048.crt t2
sign_tools 0x81000103 handle-ec-p256-pw.crt t3 -p "$HANDLE_PW"

# Failures that must fail.
must_fail() { # must_fail WHAT COMMAND...: COMMAND fails
	echo "+ (must fail) ${*:2}" >>"$LOG"
	if "${@:2}" >>"$LOG" 2>&1; then
		fail "$1 succeeded"
	fi
	flush
}
nosign() { # nosign KEY [openssl options]: the tpm2 provider cannot sign
	local key=$1
	shift
	"$OPENSSL" pkeyutl -provider tpm2 -provider default -sign -inkey "$key" \
		"$@" -in work/data.sha256 -out work/sig-fail
}
lockout_counter() {
	tpm2_getcap properties-variable 2>>"$LOG" |
		sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *//p'
}
must_fail "signing with the corrupt key" nosign tpm-corrupt.pem
must_fail "signing with the foreign key" nosign tpm-foreign.pem
[ "$(lockout_counter)" = 0x0 ] || fail "lockout counter not 0 before the wrong passwords"
# A wrong key password counts as a dictionary-attack failure; so does a wrong
# or missing parent password (the parent is not noda).
must_fail "signing with a wrong key password" nosign tpm-ec-p256-pw.pem \
	-passin pass:wrong
LC1=$(lockout_counter)
[ "$LC1" = 0x1 ] || fail "lockout counter $LC1 after one wrong password, want 0x1"
must_fail "signing without the parent password" nosign parentpw-ec-p256.pem
LC2=$(lockout_counter)
case $LC2 in
0x1 | 0x2) ;;
*) fail "lockout counter $LC2 after a missing parent password, want 0x2 (or 0x1 healed)" ;;
esac
run tpm2_dictionarylockout -c
[ "$(lockout_counter)" = 0x0 ] || fail "lockout counter not reset"
MAXTRIES=$(tpm2_getcap properties-variable | sed -n 's/^TPM2_PT_MAX_AUTH_FAIL: *//p')
[ "$MAXTRIES" = 0x3E8 ] || fail "max auth fail $MAXTRIES, want 0x3E8"

# Nothing stays loaded; the persistent handles are there after a restart.
[ -z "$(tpm2_getcap handles-transient 2>>"$LOG")" ] || fail "transient objects left loaded"
[ -z "$(tpm2_getcap handles-loaded-session 2>>"$LOG")" ] || fail "sessions left loaded"
swtpm_stop "$DIR/tpm"
swtpm_start "$DIR/tpm"
PERSISTENT=$(tpm2_getcap handles-persistent | tr -d ' -' | tr '\n' ' ')
[ "$PERSISTENT" = "0x81000001 0x81000101 0x81000102 0x81000103 " ] ||
	fail "persistent handles after a restart: $PERSISTENT"
[ "$(lockout_counter)" = 0x0 ] || fail "lockout counter not 0 after a restart"
swtpm_stop "$DIR/tpm"

# --- testvars ----------------------------------------------------------------
# Values are single-quoted (TCTI strings hold ':', handle URIs '?').
var() {
	case $2 in
	*"'"*) fail "value with a quote: $1" ;;
	esac
	printf "%s='%s'\n" "$1" "$2"
}
keyvars() { # keyvars PREFIX NAME KEY [PASSWORD]
	var "${1}_KEY" "$3"
	var "${1}_CRT" "$DIR/$2.crt"
	var "${1}_CRT_DER" "$DIR/$2.crt.der"
	var "${1}_PUB" "$DIR/$2.pub.pem"
	[ $# -lt 4 ] || var "${1}_PASSWORD" "$4"
}
{
	echo "# Generated by softhsm-fixtures/make-tpm-keys.sh; sourced by the tests."
	echo "# The TPM is stopped: . \"\$TPM_SWTPM_SH\"; swtpm_start \"\$TPM_STATE\"."
	var TPM_DIR "$DIR"
	var TPM_STATE "$DIR/tpm"
	var TPM_TCTI "swtpm:path=$DIR/tpm/sock"
	var TPM_SWTPM_SH "$HERE/swtpm.sh"
	var TPM_INTER_CA_CRT "$DIR/inter-ca.crt"
	var TPM_ROOT_CA_CRT "$DIR/root-ca.crt"
	var TPM_MAX_AUTH_FAIL 1000
	var TPM_LOCKOUT_INTERVAL 1
	keyvars TPM_EC_P256 tpm-ec-p256 "$DIR/tpm-ec-p256.pem"
	keyvars TPM_EC_P256_PW tpm-ec-p256-pw "$DIR/tpm-ec-p256-pw.pem" "$KEY_PW"
	keyvars TPM_RSA2048 tpm-rsa2048 "$DIR/tpm-rsa2048.pem"
	keyvars TPM_EC_P384 tpm-ec-p384 "$DIR/tpm-ec-p384.pem"
	keyvars TPM_RSA3072 tpm-rsa3072 "$DIR/tpm-rsa3072.pem"
	keyvars TPM_TOOLS_EC_P256 tools-ec-p256 "$DIR/tools-ec-p256.pem"
	keyvars TPM_TOOLS_EC_P256_PW tools-ec-p256-pw "$DIR/tools-ec-p256-pw.pem" "$TOOLS_PW"
	keyvars TPM_HANDLE_EC_P256 handle-ec-p256 handle:0x81000101
	var TPM_HANDLE_EC_P256_HANDLE 0x81000101
	keyvars TPM_HANDLE_RSA2048 handle-rsa2048 handle:0x81000102
	var TPM_HANDLE_RSA2048_HANDLE 0x81000102
	keyvars TPM_HANDLE_EC_P256_PW handle-ec-p256-pw handle:0x81000103 "$HANDLE_PW"
	var TPM_HANDLE_EC_P256_PW_HANDLE 0x81000103
	keyvars TPM_PARENTPW_EC_P256 parentpw-ec-p256 "$DIR/parentpw-ec-p256.pem"
	var PARENT_HANDLE "$PARENT_HANDLE"
	var PARENT_PASSWORD "$PARENT_PW"
	var TPM_CORRUPT_KEY "$DIR/tpm-corrupt.pem"
	var TPM_CORRUPT_CRT "$DIR/tpm-ec-p256.crt"
	var TPM_FOREIGN_KEY "$DIR/tpm-foreign.pem"
	var TPM_FOREIGN_CRT "$DIR/tpm-foreign.crt"
	var TPM_FOREIGN_STATE "$DIR/tpm-other"
	echo "TPM_COMPLETE=yes"
} >testvars.tmp
mv testvars.tmp testvars

echo "make-tpm-keys.sh: swtpm state $DIR/tpm (stopped): tpm2-openssl keys" \
	"EC P-256 (+password), RSA-2048, EC P-384, RSA-3072; tpm2-tools EC P-256" \
	"(+password; $ENCODE_NOTE); persistent 0x81000101-0x81000103 and parent" \
	"$PARENT_HANDLE (password) with a child key; every signature verifies" \
	"with its certificate; corrupt, foreign, wrong-password keys refused;" \
	"lockout counter counts (max tries 1000)" >&2
