#!/bin/bash
# The command line itself: version and help, flags spelt wrong or missing,
# ARNs and regions refused before any request, a build without the PKCS#11
# and TPM backends, and every subcommand's --help against the option table
# in src/options.c.
#
# Run from the repo root: bash hsm-tests/test-cli.sh
#   RASIGN_NOBACKENDS  rasign built with WITH_PKCS11= WITH_TPM2= (make check
#                      builds build-nobackends/rasign for it)
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"
RASIGN_NOBACKENDS=${RASIGN_NOBACKENDS:-}

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

COMMANDS="credential-process serve update exec sign-string read-certificate-data version"
FILE_KEY=(--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8")
UUID_TA=${TA_ARN##*/}
UUID_PR=${PROFILE_ARN##*/}

# ------------------------------------------------------------ version, help

t_version_lines() {
	run_rasign version
	assert_exit 0
	[ "$(wc -l <"$OUT")" -eq 2 ] || { show_run; fail "want two lines"; }
	# The first line stays the bare version: scripts compare it.
	head -n 1 "$OUT" | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' ||
		{ show_run; fail "first line is not the bare version"; }
	sed -n 2p "$OUT" | grep -qx 'backends: pkcs11 tpm2 file' ||
		{ show_run; fail "second line does not list the backends built in"; }
	run_rasign --version
	assert_exit 0
	head -n 1 "$OUT" | grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' || fail "--version differs"
}

t_version_help() {
	run_rasign version --help
	assert_exit 0
	grep -q '^usage: rasign version' "$OUT" || { show_run; fail "not version's usage"; }
	grep -Eqx '[0-9]+\.[0-9]+\.[0-9]+' "$OUT" && { show_run; fail "printed the version"; }
	[ ! -s "$ERR" ] || { show_run; fail "stderr not empty"; }
}

t_version_usage_error() {
	run_rasign "$@"
	assert_failure 2 "$EXPECT"
}

# rasign help COMMAND prints exactly what COMMAND --help prints.
t_help_command() {
	local c
	for c in $COMMANDS; do
		run_rasign "$c" --help
		assert_exit 0
		cp "$OUT" "$T/want"
		run_rasign help "$c"
		assert_exit 0
		[ -s "$OUT" ] && cmp -s "$OUT" "$T/want" ||
			{ show_run; fail "'help $c' differs from '$c --help'"; }
	done
}

t_help_alone() {
	run_rasign --help
	cp "$OUT" "$T/want"
	run_rasign help
	assert_exit 0
	cmp -s "$OUT" "$T/want" || { show_run; fail "'help' differs from '--help'"; }
	grep -q 'rasign help COMMAND' "$OUT" || { show_run; fail "usage does not mention 'help COMMAND'"; }
}

# ---------------------------------------------------------------- flags

t_flag_error() {
	local want=$1
	shift
	run_rasign "$@"
	assert_failure 2 "$want"
	assert_no_request
}

# ---------------------------------------------------------------- ARNs

# t_arn WHAT REGEX: credential-process with one part replaced; exit 2,
# the message naming it, and no request sent.
t_arn() {
	local want=$1
	shift
	run_rasign credential-process "${FILE_KEY[@]}" --endpoint "$EP_URL" "$@"
	assert_failure 2 "$want"
	assert_no_request
}

arn() {	# arn REGION ACCOUNT KIND ID
	echo "arn:aws:rolesanywhere:$1:$2:$3/$4"
}

t_arn_region_ok() {	# a local endpoint with --region keeps working
	rasign_cp "${FILE_KEY[@]}" --intermediates "$INTERMEDIATES" --region us-east-1
	assert_exit 0
	assert_requests 1
}

# ------------------------------------------------- a build without backends

need_nobackends() {
	[ -n "$RASIGN_NOBACKENDS" ] && [ -x "$RASIGN_NOBACKENDS" ] ||
		skip "RASIGN_NOBACKENDS (rasign built with WITH_PKCS11= WITH_TPM2=) not given"
}

# A TSS2 PRIVATE KEY as tpm2-openssl writes it (the TPM blobs are not
# looked at before the TPM is asked), in DER and in PEM.
make_tss2_key() {
	cat >"$T/tss2.cnf" <<'EOF'
asn1 = SEQUENCE:key
[key]
type = OID:2.23.133.10.1.3
empty = EXPLICIT:0,BOOLEAN:true
parent = INTEGER:0x40000001
pub = FORMAT:HEX,OCTETSTRING:0058002300
priv = FORMAT:HEX,OCTETSTRING:00200020
EOF
	openssl asn1parse -genconf "$T/tss2.cnf" -noout -out "$T/tss2.der" ||
		fail "cannot make a TSS2 key"
	{ echo '-----BEGIN TSS2 PRIVATE KEY-----'; base64 -w 64 "$T/tss2.der"
	  echo '-----END TSS2 PRIVATE KEY-----'; } >"$T/tss2.pem"
}

t_nobackends_version() {
	need_nobackends
	RASIGN=$RASIGN_NOBACKENDS run_rasign version
	assert_exit 0
	sed -n 2p "$OUT" | grep -qx 'backends: file' || { show_run; fail "backends line"; }
}

# t_nobackends WHAT ARGS...: exit 2, "built without WHAT support", no request.
t_nobackends() {
	local what=$1
	shift
	need_nobackends
	make_tss2_key
	local args=() a
	for a in "$@"; do args+=("${a//@T@/$T}"); done
	RASIGN=$RASIGN_NOBACKENDS run_rasign "${args[@]}"
	assert_failure 2 "this rasign was built without $what support"
	assert_no_request
}

t_nobackends_file_key() {	# keys in files still work
	need_nobackends
	RASIGN=$RASIGN_NOBACKENDS rasign_cp "${FILE_KEY[@]}" --intermediates "$INTERMEDIATES"
	assert_exit 0
	assert_requests 1
}

# ----------------------------------------------- --help against the table

# table_flags and accepts: lib.sh.

mentions() {	# mentions FILE FLAG
	grep -Eq -- "--$2([^a-z0-9-]|\$)" "$1"
}

t_help_matches_table() {
	local c f flags except bad=0
	flags=$(table_flags)
	[ "$(echo "$flags" | wc -w)" -ge 30 ] || fail "cannot read the option table: $flags"
	run_rasign credential-process --help
	cp "$OUT" "$T/cp-help"
	for c in $COMMANDS; do
		run_rasign "$c" --help
		cp "$OUT" "$T/help"
		# "... those of credential-process except --a, --b and --c;"
		except=$(tr '\n' ' ' <"$T/help" | sed -n 's/.*credential-process except \([^;]*\);.*/\1/p')
		for f in $flags; do
			accepts "$c" "$f" || continue
			# serve, update and exec refer to credential-process for
			# the options they share with it.
			mentions "$T/help" "$f" && continue
			grep -q "of credential-process" "$T/help" &&
				mentions "$T/cp-help" "$f" && continue
			echo "$c --help does not describe --$f"
			bad=1
		done
		# Every flag the help names is taken, or said not to be.
		for f in $(grep -Eo -- '--[a-z][a-z0-9-]*' "$T/help" | sort -u); do
			f=${f#--}
			[ "$f" = help ] && continue
			if [[ " $except " == *" --$f"[\ ,]* ]]; then
				! accepts "$c" "$f" ||
					{ echo "$c --help says it does not take --$f, but it does"; bad=1; }
				continue
			fi
			accepts "$c" "$f" || { echo "$c --help names --$f, which $c refuses"; bad=1; }
		done
	done
	[ $bad -eq 0 ] || fail "--help and the option table disagree"
}

t_serve_help() {
	local f
	run_rasign serve --help
	assert_exit 0
	for f in port bind hop-limit ecs-token-file refresh-before; do
		grep -Eq "^  --$f [A-Z]+ +[a-zA-Z]" "$OUT" ||
			{ show_run; fail "serve --help has no line describing --$f"; }
	done
}

# ---------------------------------------------------------------- the run

run_test "version: the bare version, then the backends built in" t_version_lines
run_test "version --help: version's usage, exit 0" t_version_help
EXPECT='unexpected argument.*version takes none' \
	run_test "version extra: usage error" t_version_usage_error version extra
EXPECT='unknown flag --bogus' \
	run_test "version --bogus: usage error" t_version_usage_error version --bogus
EXPECT='unexpected argument' \
	run_test "--version extra: usage error" t_version_usage_error --version extra
run_test "help COMMAND is COMMAND --help, for every command" t_help_command
run_test "help alone is --help" t_help_alone
EXPECT='unknown command "bogus"' \
	run_test "help bogus: unknown command, exit 2" t_version_usage_error help bogus
EXPECT='help takes one command' \
	run_test "help with two words: usage error" t_version_usage_error help serve update

run_test "-certificate: the word named, --certificate suggested" \
	t_flag_error 'unknown flag -certificate: flags take two dashes, --certificate' \
	credential-process -certificate "$LEAF_EC_P256_CRT"
run_test "-private-key=K: the word named, --private-key suggested" \
	t_flag_error 'unknown flag -private-key: .*--private-key' \
	sign-string -private-key="$LEAF_EC_P256_P8"
run_test "-certficate: the nearest flag suggested" \
	t_flag_error 'unknown flag -certficate; did you mean --certificate' \
	credential-process -certficate "$LEAF_EC_P256_CRT"
run_test "--certficate: the nearest flag suggested" \
	t_flag_error 'unknown flag --certficate; did you mean --certificate' \
	credential-process --certficate "$LEAF_EC_P256_CRT"
run_test "no flags: every missing one in one message" \
	t_flag_error "missing --certificate, --trust-anchor-arn, --profile-arn and --role-arn" \
	credential-process
run_test "only a key: the three ARNs missing in one message" \
	t_flag_error "missing --trust-anchor-arn, --profile-arn and --role-arn" \
	credential-process "${FILE_KEY[@]}" --endpoint "$EP_URL"
run_test "serve: missing flags in one message" \
	t_flag_error "missing --profile-arn and --role-arn" \
	serve "${FILE_KEY[@]}" --trust-anchor-arn "$TA_ARN" --port 0
run_test "update: an empty --role-arn is named" \
	t_flag_error "missing --role-arn \(given empty\)" \
	update "${FILE_KEY[@]}" --trust-anchor-arn "$TA_ARN" \
	--profile-arn "$PROFILE_ARN" --role-arn "" --endpoint "$EP_URL"

run_test "account of 11 digits: exit 2, no request" t_arn \
	'account "12345678901" in --trust-anchor-arn is not 12 digits' \
	--trust-anchor-arn "$(arn us-east-1 12345678901 trust-anchor "$UUID_TA")" \
	--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN"
run_test "account XXXXXXXXXXXX: a placeholder, exit 2" t_arn \
	'account "XXXXXXXXXXXX" in --profile-arn is not 12 digits: it looks like a placeholder' \
	--trust-anchor-arn "$TA_ARN" \
	--profile-arn "$(arn us-east-1 XXXXXXXXXXXX profile "$UUID_PR")" --role-arn "$ROLE_ARN"
run_test "region eu-west1 in the ARNs: exit 2" t_arn \
	'region in --trust-anchor-arn "eu-west1" is not an AWS region' \
	--trust-anchor-arn "$(arn eu-west1 123456789012 trust-anchor "$UUID_TA")" \
	--profile-arn "$(arn eu-west1 123456789012 profile "$UUID_PR")" --role-arn "$ROLE_ARN"
run_test "region REGION left from a template: exit 2" t_arn \
	'"REGION" is not an AWS region.*placeholder' \
	--trust-anchor-arn "$(arn REGION 123456789012 trust-anchor "$UUID_TA")" \
	--profile-arn "$(arn REGION 123456789012 profile "$UUID_PR")" --role-arn "$ROLE_ARN"
run_test "--region eu-west1: exit 2" t_arn '--region "eu-west1" is not an AWS region' \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
	--region eu-west1
run_test "--region other than the ARNs': exit 2" t_arn \
	'--region eu-west-1 is not the region of the trust anchor and profile ARNs, us-east-1' \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
	--region eu-west-1
run_test "trailing space in an ARN: exit 2" t_arn '--role-arn ends with white space' \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN "
run_test "<...> placeholder in an ARN: exit 2" t_arn \
	'--trust-anchor-arn still holds a placeholder "<trust-anchor-id>"' \
	--trust-anchor-arn "$(arn us-east-1 123456789012 trust-anchor '<trust-anchor-id>')" \
	--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN"
run_test "ACCOUNT_ID placeholder in the role ARN: exit 2" t_arn \
	'account "ACCOUNT_ID" in --role-arn' \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
	--role-arn arn:aws:iam::ACCOUNT_ID:role/ROLE
run_test "trust anchor ID not an AWS ID: exit 2" t_arn \
	'trust anchor ID "TRUST_ANCHOR_ID" in --trust-anchor-arn is not an ID as AWS makes them' \
	--trust-anchor-arn "$(arn us-east-1 123456789012 trust-anchor TRUST_ANCHOR_ID)" \
	--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN"
run_test "--endpoint with --region us-east-1 still works" t_arn_region_ok

run_test "no-backends build: version lists only file" t_nobackends_version
run_test "no-backends build: pkcs11: key URI names PKCS#11" t_nobackends PKCS#11 \
	sign-string --private-key 'pkcs11:token=t;object=k'
run_test "no-backends build: pkcs11: certificate URI names PKCS#11" t_nobackends PKCS#11 \
	credential-process --certificate 'pkcs11:token=t;object=k' \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
	--endpoint "$EP_URL"
run_test "no-backends build: read-certificate-data pkcs11: names PKCS#11" t_nobackends \
	PKCS#11 read-certificate-data --certificate 'pkcs11:token=t'
run_test "no-backends build: --cert-selector names PKCS#11" t_nobackends PKCS#11 \
	sign-string --cert-selector Key=x509Subject,Value=CN=x
run_test "no-backends build: TSS2 PEM key file names TPM" t_nobackends TPM \
	sign-string --private-key @T@/tss2.pem --certificate "$LEAF_EC_P256_CRT"
run_test "no-backends build: TSS2 DER key file names TPM" t_nobackends TPM \
	credential-process --private-key @T@/tss2.der --certificate "$LEAF_EC_P256_CRT" \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
	--endpoint "$EP_URL"
run_test "no-backends build: handle: names TPM" t_nobackends TPM \
	sign-string --private-key handle:0x81000001 --certificate "$LEAF_EC_P256_CRT"
run_test "no-backends build: keys in files still work" t_nobackends_file_key

run_test "serve --help: a line for each of its own flags" t_serve_help
run_test "every command's --help agrees with the option table" t_help_matches_table
