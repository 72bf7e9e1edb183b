#!/usr/bin/env bash
# make demo: the main job end to end. Builds a throw-away PKI, starts the
# local Roles Anywhere endpoint (it verifies signatures and chains as AWS
# does), and gets credentials from it with rasign credential-process.
set -eu
cd "$(dirname "$0")/.."
RASIGN=${RASIGN:-build/rasign}
RA_ENDPOINT=${RA_ENDPOINT:-build/ra-endpoint}

work=$(mktemp -d /tmp/rasign-demo.XXXXXX)
pid=
tpm_started=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	[ -n "$tpm_started" ] && swtpm_stop "$TPM_STATE" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

TA=arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
PR=arn:aws:rolesanywhere:us-east-1:123456789012:profile/5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f
RO=arn:aws:iam::123456789012:role/rasign-demo

echo "== building a test PKI in $work/pki"
bash softhsm-fixtures/make-pki.sh "$work/pki" >/dev/null
. "$work/pki/testvars"

echo "== starting the local Roles Anywhere endpoint"
"$RA_ENDPOINT" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY" \
	--trust-anchor "$ROOT_CA_CRT" --region us-east-1 \
	--trust-anchor-arn "$TA" --profile-arn "$PR" --role-arn "$RO" \
	--port 0 --port-file "$work/port" --record "$work/record" \
	2>"$work/endpoint.log" &
pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || { cat "$work/endpoint.log" >&2; exit 1; }
url=https://127.0.0.1:$(cat "$work/port")
echo "   listening on $url"

run() {	# label, then rasign's certificate/key options
	local label=$1 out
	shift
	echo "== credential-process with $label"
	out=$(AWS_CA_BUNDLE=$TLS_CA "$RASIGN" credential-process "$@" \
		--intermediates "$INTERMEDIATES" --trust-anchor-arn "$TA" \
		--profile-arn "$PR" --role-arn "$RO" --endpoint "$url")
	printf '%s\n' "$out"
}

run "an EC P-256 key file" \
	--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8"
run "an RSA-2048 key file" \
	--certificate "$LEAF_RSA2048_CRT" --private-key "$LEAF_RSA2048_P8"
run "an encrypted PKCS#8 key (password from a file)" \
	--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_ENC_AES256" \
	--pkcs8-password "file:$PASSWORD_FILE"

echo "== SoftHSM tokens with keys generated on the token ($work/tokens)"
bash softhsm-fixtures/make-tokens.sh "$work/tokens" "$work/pki" 2>/dev/null >&2
. "$work/tokens/testvars"
export SOFTHSM2_CONF
run "an EC P-256 key in a PKCS#11 token (through p11-kit)" \
	--certificate "$MAIN_EC_P256_CRT_URI" --pkcs11-pin "pass:$USER_PIN"
run "an RSA-2048 key in a PKCS#11 token (--pkcs11-lib)" \
	--certificate "$MAIN_RSA2048_CRT_URI" --pkcs11-pin "pass:$USER_PIN" \
	--pkcs11-lib "$P11_MODULE"

echo "== a software TPM (swtpm) with keys made by tpm2-openssl ($work/tpm)"
bash softhsm-fixtures/make-tpm-keys.sh "$work/tpm" "$work/pki" 2>/dev/null >&2
. "$work/tpm/testvars"
. softhsm-fixtures/swtpm.sh
swtpm_start "$TPM_STATE" >/dev/null
tpm_started=1
run "an EC P-256 key in the TPM" --tpm-tcti "$TPM_TCTI" \
	--certificate "$TPM_EC_P256_CRT" --private-key "$TPM_EC_P256_KEY"
run "a persistent RSA-2048 TPM key (handle:)" --tpm-tcti "$TPM_TCTI" \
	--certificate "$TPM_HANDLE_RSA2048_CRT" \
	--private-key "$TPM_HANDLE_RSA2048_KEY" --no-tpm-key-password

echo "== a certificate from a CA the trust anchor does not know is refused"
if AWS_CA_BUNDLE=$TLS_CA "$RASIGN" credential-process \
	--certificate "$LEAF_UNTRUSTED_CRT" --private-key "$LEAF_UNTRUSTED_P8" \
	--trust-anchor-arn "$TA" --profile-arn "$PR" --role-arn "$RO" \
	--endpoint "$url"; then
	echo "demo: the endpoint accepted an untrusted certificate" >&2
	exit 1
fi

echo "== the endpoint verified $(wc -l <"$work/record") requests"
