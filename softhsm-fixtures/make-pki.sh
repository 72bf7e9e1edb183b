#!/bin/bash
# make-pki.sh DIR: build a throw-away test PKI for rasign's tests in DIR.
#
# Everything is made with the openssl command line only. The result is
# described by DIR/testvars (shell-sourceable VAR=path lines), written last
# and atomically, so a testvars file that exists and ends with PKI_COMPLETE=yes
# means the directory is usable; a second run then does nothing.
#
# Layout of the PKI (all CAs EC P-256, all signatures SHA-256):
#   root-ca            trust anchor for client certificates (ROOT_CA_CRT)
#     inter-ca         pathlen 0; issues the leaves, so tests need --intermediates
#   untrusted-ca       an unrelated root the endpoint does not trust
#   tls-ca             issues the endpoint's TLS server certificate (TLS_CA);
#                      kept apart from root-ca so that trusting the server
#                      (AWS_CA_BUNDLE) never doubles as a client trust anchor
#   tls-untrusted      self-signed server certificate for the "server not
#                      trusted" test
# Leaves are valid from now-1day to now+30days. openssl x509 -req in 3.0 cannot
# backdate notBefore, so every certificate is issued with `openssl ca`, which
# takes -startdate/-enddate; that also gives us the expired and not-yet-valid
# leaves without faketime.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 DIR" >&2
	exit 2
fi
DIR=$1
OPENSSL=${OPENSSL:-openssl}
PASSWORD=test-password

# Keys and certificates here are secrets of a throw-away PKI, but keep them
# private anyway: other users on the machine have no business reading them.
umask 077
mkdir -p "$DIR"
chmod 0700 "$DIR"
DIR=$(cd "$DIR" && pwd)

# Two test scripts run by `make -j check` may build the same directory at
# once; serialize them (flock is in util-linux, present on every Debian).
if command -v flock >/dev/null 2>&1 && [ -z "${MAKE_PKI_LOCKED:-}" ]; then
	exec 9>"$DIR/.lock"
	flock 9
	export MAKE_PKI_LOCKED=1
fi

# complete: testvars ends with the marker and every file it names exists.
complete() {
	local line path
	[ -f "$DIR/testvars" ] || return 1
	[ "$(tail -n 1 "$DIR/testvars")" = "PKI_COMPLETE=yes" ] || return 1
	while IFS= read -r line; do
		path=${line#*=}
		case $path in
		/*) [ -e "$path" ] || return 1 ;;
		esac
	done <"$DIR/testvars"
	return 0
}
if complete; then
	exit 0
fi

cd "$DIR"
rm -f testvars testvars.tmp

# --- dates -------------------------------------------------------------------
# openssl ca accepts YYYYMMDDHHMMSSZ (GeneralizedTime form) in 3.0.
when() { date -u -d "$1" +%Y%m%d%H%M%SZ; }
NOW_M1D=$(when '-1 day')
NOW_M2D=$(when '-2 days')
NOW_M30D=$(when '-30 days')
NOW_P10D=$(when '+10 days')
NOW_P30D=$(when '+30 days')
NOW_P40D=$(when '+40 days')
NOW_P10Y=$(when '+3650 days')

# --- keys --------------------------------------------------------------------
# Generated once: an existing key file is reused, so an interrupted run does
# not pay for RSA-4096 again. RSA keys are generated in parallel because
# 3072/4096-bit prime search dominates the run time.
genrsa() { # genrsa NAME BITS -> NAME.p8.pem
	[ -s "$1.p8.pem" ] && return 0
	"$OPENSSL" genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" \
		-out "$1.p8.pem.tmp"
	mv "$1.p8.pem.tmp" "$1.p8.pem"
}
genec() { # genec NAME CURVE -> NAME.trad.pem (EC PARAMETERS + EC PRIVATE KEY)
	[ -s "$1.trad.pem" ] && return 0
	# ecparam -genkey writes the EC PARAMETERS block before the key, the
	# form many real key files have and which parsers must skip.
	"$OPENSSL" ecparam -name "$2" -genkey -out "$1.trad.pem.tmp"
	mv "$1.trad.pem.tmp" "$1.trad.pem"
}

# The RSA jobs run in the background while the EC keys and the CAs are made;
# they are joined (and their status checked) before the RSA leaves are issued.
RSA_PIDS=
genrsa leaf-rsa4096 4096 & RSA_PIDS="$RSA_PIDS $!"
genrsa leaf-rsa3072 3072 & RSA_PIDS="$RSA_PIDS $!"
genrsa leaf-rsa2048 2048 & RSA_PIDS="$RSA_PIDS $!"
genrsa leaf-rsa1024 1024 & RSA_PIDS="$RSA_PIDS $!"

for n in root-ca inter-ca untrusted-ca tls-ca tls-server tls-untrusted \
	leaf-ec-p256 leaf-root-ec-p256 leaf-bigserial-ec-p256 \
	leaf-expired leaf-notyet leaf-untrusted wrong-key; do
	genec "$n" prime256v1
done
genec leaf-ec-p384 secp384r1
if [ ! -s leaf-ed25519.p8.pem ]; then
	"$OPENSSL" genpkey -algorithm ED25519 -out leaf-ed25519.p8.pem
fi

# Derive the other unencrypted formats from the one generated file.
for n in root-ca inter-ca untrusted-ca tls-ca tls-server tls-untrusted \
	leaf-ec-p256 leaf-root-ec-p256 leaf-bigserial-ec-p256 \
	leaf-expired leaf-notyet leaf-untrusted wrong-key leaf-ec-p384; do
	"$OPENSSL" pkcs8 -topk8 -nocrypt -in "$n.trad.pem" -out "$n.p8.pem"
done
for n in leaf-ec-p256 leaf-ec-p384; do
	"$OPENSSL" pkcs8 -topk8 -nocrypt -in "$n.p8.pem" -outform DER -out "$n.p8.der"
done

# --- openssl ca configuration ------------------------------------------------
rm -rf ca
mkdir -p ca/new
: >ca/index.txt
cat >ca/openssl.cnf <<EOF
# Minimal openssl ca configuration; only used by make-pki.sh.
[ ca ]
default_ca = testca

[ testca ]
dir            = $DIR/ca
database       = \$dir/index.txt
new_certs_dir  = \$dir/new
serial         = \$dir/serial
default_md     = sha256
policy         = policy_any
# Several certificates share a subject (re-runs, expired twins); allow it.
unique_subject = no
copy_extensions = none
email_in_dn    = no

[ policy_any ]
commonName       = supplied
organizationName = optional

[ req ]
distinguished_name = req_dn
prompt             = no
[ req_dn ]
CN = unused

[ ext_root ]
basicConstraints       = critical,CA:TRUE
keyUsage               = critical,keyCertSign,cRLSign
subjectKeyIdentifier   = hash

[ ext_inter ]
basicConstraints       = critical,CA:TRUE,pathlen:0
keyUsage               = critical,keyCertSign,cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_leaf ]
basicConstraints       = critical,CA:FALSE
keyUsage               = critical,digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_server ]
basicConstraints       = critical,CA:FALSE
keyUsage               = critical,digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF

# issue NAME KEYFILE SUBJECT-CN ISSUER|self EXT SERIALHEX START END
# writes NAME.crt (PEM) and NAME.crt.der.
issue() {
	local name=$1 key=$2 cn=$3 issuer=$4 ext=$5 serial=$6 start=$7 end=$8
	local signer
	"$OPENSSL" req -new -config ca/openssl.cnf -key "$key" \
		-subj "/O=rasign tests/CN=$cn" -out "ca/$name.csr"
	# openssl ca takes the serial from the serial file; set it per
	# certificate so every serial is the one chosen here.
	echo "$serial" >ca/serial
	if [ "$issuer" = self ]; then
		signer="-selfsign -keyfile $key"
	else
		signer="-cert $issuer.crt -keyfile $issuer.p8.pem"
	fi
	# shellcheck disable=SC2086 # $signer is a list of words
	"$OPENSSL" ca -batch -notext -config ca/openssl.cnf $signer \
		-extensions "$ext" -startdate "$start" -enddate "$end" \
		-in "ca/$name.csr" -out "$name.crt" 2>ca/last.log ||
		{ cat ca/last.log >&2; return 1; }
	"$OPENSSL" x509 -in "$name.crt" -outform DER -out "$name.crt.der"
}

# A positive 160-bit serial (first nibble 1..7: top bit clear, no leading
# zero byte): longer than 64 bits, so it cannot travel through a uint64.
BIG=$("$OPENSSL" rand -hex 20 | tr a-f A-F)
BIGSERIAL=5${BIG#?}

issue root-ca root-ca.p8.pem "rasign test root CA" self ext_root 01 "$NOW_M2D" "$NOW_P10Y"
issue inter-ca inter-ca.p8.pem "rasign test intermediate CA" root-ca ext_inter 02 "$NOW_M2D" "$NOW_P10Y"
issue untrusted-ca untrusted-ca.p8.pem "rasign untrusted root CA" self ext_root 03 "$NOW_M2D" "$NOW_P10Y"
issue tls-ca tls-ca.p8.pem "rasign test TLS CA" self ext_root 04 "$NOW_M2D" "$NOW_P10Y"
issue tls-server tls-server.p8.pem "localhost" tls-ca ext_server 05 "$NOW_M1D" "$NOW_P30D"

issue leaf-ec-p256 leaf-ec-p256.p8.pem "leaf ec-p256" inter-ca ext_leaf 1004 "$NOW_M1D" "$NOW_P30D"
issue leaf-ec-p384 leaf-ec-p384.p8.pem "leaf ec-p384" inter-ca ext_leaf 1005 "$NOW_M1D" "$NOW_P30D"
issue leaf-root-ec-p256 leaf-root-ec-p256.p8.pem "leaf from root ec-p256" root-ca ext_leaf 1006 "$NOW_M1D" "$NOW_P30D"
issue leaf-bigserial-ec-p256 leaf-bigserial-ec-p256.p8.pem "leaf big serial ec-p256" inter-ca ext_leaf "$BIGSERIAL" "$NOW_M1D" "$NOW_P30D"

# Failure material.
issue leaf-expired leaf-expired.p8.pem "leaf expired" inter-ca ext_leaf 2001 "$NOW_M30D" "$NOW_M1D"
issue leaf-notyet leaf-notyet.p8.pem "leaf not yet valid" inter-ca ext_leaf 2002 "$NOW_P10D" "$NOW_P40D"
issue leaf-untrusted leaf-untrusted.p8.pem "leaf untrusted" untrusted-ca ext_leaf 2003 "$NOW_M1D" "$NOW_P30D"
issue leaf-ed25519 leaf-ed25519.p8.pem "leaf ed25519" inter-ca ext_leaf 2005 "$NOW_M1D" "$NOW_P30D"

# Now the RSA keys are needed.
for p in $RSA_PIDS; do wait "$p"; done
for n in leaf-rsa2048 leaf-rsa3072 leaf-rsa4096 leaf-rsa1024; do
	"$OPENSSL" pkey -in "$n.p8.pem" -traditional -out "$n.trad.pem"
done
for n in leaf-rsa2048 leaf-rsa3072 leaf-rsa4096; do
	"$OPENSSL" pkcs8 -topk8 -nocrypt -in "$n.p8.pem" -outform DER -out "$n.p8.der"
done
issue leaf-rsa2048 leaf-rsa2048.p8.pem "leaf rsa2048" inter-ca ext_leaf 1001 "$NOW_M1D" "$NOW_P30D"
issue leaf-rsa3072 leaf-rsa3072.p8.pem "leaf rsa3072" inter-ca ext_leaf 1002 "$NOW_M1D" "$NOW_P30D"
issue leaf-rsa4096 leaf-rsa4096.p8.pem "leaf rsa4096" inter-ca ext_leaf 1003 "$NOW_M1D" "$NOW_P30D"
issue leaf-rsa1024 leaf-rsa1024.p8.pem "leaf rsa1024" inter-ca ext_leaf 2004 "$NOW_M1D" "$NOW_P30D"

# Self-signed TLS server certificate nobody trusts.
"$OPENSSL" req -x509 -new -key tls-untrusted.p8.pem -subj "/O=rasign tests/CN=localhost" \
	-days 30 -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-addext "extendedKeyUsage=serverAuth" -out tls-untrusted.crt

# --- bundles and encrypted forms --------------------------------------------
cat inter-ca.crt >intermediates.pem
cat inter-ca.crt root-ca.crt >chain-inter-root.pem
cat leaf-ec-p256.p8.pem leaf-ec-p256.crt >leaf-ec-p256.combo.pem
printf '%s' "$PASSWORD" >password.txt

for n in leaf-ec-p256 leaf-rsa2048; do
	P="-topk8 -in $n.p8.pem -passout pass:$PASSWORD"
	# shellcheck disable=SC2086
	{
		"$OPENSSL" pkcs8 $P -v2 aes-128-cbc -v2prf hmacWithSHA256 -out "$n.enc-aes128.pem"
		"$OPENSSL" pkcs8 $P -v2 aes-192-cbc -v2prf hmacWithSHA384 -out "$n.enc-aes192.pem"
		"$OPENSSL" pkcs8 $P -v2 aes-256-cbc -v2prf hmacWithSHA512 -out "$n.enc-aes256.pem"
		"$OPENSSL" pkcs8 $P -scrypt -out "$n.enc-scrypt.pem"
		"$OPENSSL" pkcs8 $P -v2 aes-256-cbc -v2prf hmacWithSHA256 -outform DER -out "$n.enc-aes256.der"
	}
done

# PKCS#12: leaf + key + intermediate + root.
P12="-export -inkey leaf-ec-p256.p8.pem -in leaf-ec-p256.crt -certfile chain-inter-root.pem -name leaf-ec-p256"
# shellcheck disable=SC2086
{
	"$OPENSSL" pkcs12 $P12 -passout pass: -out leaf-ec-p256.nopass.p12
	"$OPENSSL" pkcs12 $P12 -passout "pass:$PASSWORD" -out leaf-ec-p256.pass.p12
	# The form the Go helper's x/crypto/pkcs12 can read (spec §4.6).
	"$OPENSSL" pkcs12 $P12 -passout pass: -macalg SHA1 \
		-certpbe pbeWithSHA1And3-KeyTripleDES-CBC \
		-keypbe pbeWithSHA1And3-KeyTripleDES-CBC -out leaf-ec-p256.legacy.p12
}

# --- testvars ----------------------------------------------------------------
# var NAME FILE: one VAR=path line. Paths are absolute and contain no
# characters that need quoting (DIR is checked below).
case $DIR in
*[!A-Za-z0-9/._+-]*)
	echo "make-pki.sh: directory name needs quoting: $DIR" >&2
	exit 1
	;;
esac
{
	echo "# Generated by softhsm-fixtures/make-pki.sh; sourced by the tests."
	echo "PKI_DIR=$DIR"
	echo "PASSWORD=$PASSWORD"
	echo "PASSWORD_FILE=$DIR/password.txt"
	echo "ROOT_CA_CRT=$DIR/root-ca.crt"
	echo "ROOT_CA_KEY=$DIR/root-ca.p8.pem"
	echo "INTER_CA_CRT=$DIR/inter-ca.crt"
	echo "INTER_CA_KEY=$DIR/inter-ca.p8.pem"
	echo "INTERMEDIATES=$DIR/intermediates.pem"
	echo "UNTRUSTED_CA_CRT=$DIR/untrusted-ca.crt"
	echo "UNTRUSTED_CA_KEY=$DIR/untrusted-ca.p8.pem"
	echo "TLS_CA=$DIR/tls-ca.crt"
	echo "TLS_CERT=$DIR/tls-server.crt"
	echo "TLS_KEY=$DIR/tls-server.p8.pem"
	echo "TLS_UNTRUSTED_CERT=$DIR/tls-untrusted.crt"
	echo "TLS_UNTRUSTED_KEY=$DIR/tls-untrusted.p8.pem"
	for n in rsa2048 rsa3072 rsa4096 ec-p256 ec-p384; do
		v=LEAF_$(echo "$n" | tr a-z- A-Z_)
		echo "${v}_CRT=$DIR/leaf-$n.crt"
		echo "${v}_CRT_DER=$DIR/leaf-$n.crt.der"
		echo "${v}_P8=$DIR/leaf-$n.p8.pem"
		echo "${v}_TRAD=$DIR/leaf-$n.trad.pem"
		echo "${v}_P8_DER=$DIR/leaf-$n.p8.der"
	done
	for n in rsa2048 ec-p256; do
		v=LEAF_$(echo "$n" | tr a-z- A-Z_)
		echo "${v}_ENC_AES128=$DIR/leaf-$n.enc-aes128.pem"
		echo "${v}_ENC_AES192=$DIR/leaf-$n.enc-aes192.pem"
		echo "${v}_ENC_AES256=$DIR/leaf-$n.enc-aes256.pem"
		echo "${v}_ENC_SCRYPT=$DIR/leaf-$n.enc-scrypt.pem"
		echo "${v}_ENC_DER=$DIR/leaf-$n.enc-aes256.der"
	done
	echo "LEAF_ROOT_EC_P256_CRT=$DIR/leaf-root-ec-p256.crt"
	echo "LEAF_ROOT_EC_P256_P8=$DIR/leaf-root-ec-p256.p8.pem"
	echo "LEAF_BIGSERIAL_CRT=$DIR/leaf-bigserial-ec-p256.crt"
	echo "LEAF_BIGSERIAL_P8=$DIR/leaf-bigserial-ec-p256.p8.pem"
	echo "P12_NOPASS=$DIR/leaf-ec-p256.nopass.p12"
	echo "P12_PASS=$DIR/leaf-ec-p256.pass.p12"
	echo "P12_LEGACY=$DIR/leaf-ec-p256.legacy.p12"
	echo "COMBO_EC_P256=$DIR/leaf-ec-p256.combo.pem"
	echo "LEAF_EXPIRED_CRT=$DIR/leaf-expired.crt"
	echo "LEAF_EXPIRED_P8=$DIR/leaf-expired.p8.pem"
	echo "LEAF_NOTYET_CRT=$DIR/leaf-notyet.crt"
	echo "LEAF_NOTYET_P8=$DIR/leaf-notyet.p8.pem"
	echo "LEAF_UNTRUSTED_CRT=$DIR/leaf-untrusted.crt"
	echo "LEAF_UNTRUSTED_P8=$DIR/leaf-untrusted.p8.pem"
	echo "WRONG_KEY=$DIR/wrong-key.p8.pem"
	echo "LEAF_RSA1024_CRT=$DIR/leaf-rsa1024.crt"
	echo "LEAF_RSA1024_P8=$DIR/leaf-rsa1024.p8.pem"
	echo "LEAF_ED25519_CRT=$DIR/leaf-ed25519.crt"
	echo "LEAF_ED25519_P8=$DIR/leaf-ed25519.p8.pem"
	echo "PKI_COMPLETE=yes"
} >testvars.tmp
mv testvars.tmp testvars
