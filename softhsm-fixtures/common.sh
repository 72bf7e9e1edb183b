# shellcheck shell=bash
# Sourced by make-tokens.sh and make-tpm-keys.sh: what both need before
# they build anything. Expects HERE (this directory), DIR (their output)
# and PKI_ARG (the PKI's directory) to be set.

# fixture_pki NAME: makes sure the PKI in PKI_ARG is complete (make-pki.sh
# is idempotent and cheap then), and sources its testvars. NAME is the
# calling script's, for messages.
fixture_pki() {
	mkdir -p "$PKI_ARG"
	PKI_ARG=$(cd "$PKI_ARG" && pwd)
	if [ "$PKI_ARG" = "$DIR" ]; then
		echo "$1: DIR and PKI_DIR must differ (both write testvars)" >&2
		exit 2
	fi
	if [ ! -f "$PKI_ARG/testvars" ] ||
		[ "$(tail -n 1 "$PKI_ARG/testvars")" != "PKI_COMPLETE=yes" ]; then
		bash "$HERE/make-pki.sh" "$PKI_ARG" >&2
	fi
	# shellcheck disable=SC1091
	. "$PKI_ARG/testvars"
}

# fixture_complete MARKER: DIR/testvars ends with MARKER=yes, every absolute
# path it names exists, and the CA certificates copied into DIR are still
# the PKI's (a rebuilt PKI would leave certificates chaining to a CA that no
# longer exists).
fixture_complete() {
	local line value
	[ -f "$DIR/testvars" ] || return 1
	[ "$(tail -n 1 "$DIR/testvars")" = "$1=yes" ] || return 1
	while IFS= read -r line; do
		value=${line#*=}
		value=${value#\'}
		value=${value%\'}
		case $value in
		/*) [ -e "$value" ] || return 1 ;;
		esac
	done <"$DIR/testvars"
	cmp -s "$DIR/inter-ca.crt" "$INTER_CA_CRT" || return 1
	cmp -s "$DIR/root-ca.crt" "$ROOT_CA_CRT" || return 1
	return 0
}

# fixture_issue NAME PUB CN SERIAL: NAME.crt (and .crt.der), a client
# certificate for the bare public key PUB from the PKI's intermediate, valid
# NOT_BEFORE..NOT_AFTER, with the profile of make-pki.sh's leaves. certtool,
# because `openssl x509 -req` in 3.0 cannot backdate and `openssl ca` needs
# a CSR signed by the key (a token key without CKA_SIGN cannot make one).
# Uses the caller's run, OPENSSL and work/ directory.
fixture_issue() {
	local name=$1 pub=$2 cn=$3 serial=$4
	cat >"work/$name.cfg" <<EOF
dn = "O=rasign tests,CN=$cn"
serial = 0x$serial
activation_date = "$NOT_BEFORE"
expiration_date = "$NOT_AFTER"
signing_key
tls_www_client
EOF
	TZ=UTC run certtool --generate-certificate --no-text \
		--load-pubkey "$pub" --load-ca-certificate "$INTER_CA_CRT" \
		--load-ca-privkey "$INTER_CA_KEY" --template "work/$name.cfg" \
		--outfile "$name.crt"
	run "$OPENSSL" x509 -in "$name.crt" -outform DER -out "$name.crt.der"
}
