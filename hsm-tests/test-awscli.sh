#!/bin/bash
# rasign with the real AWS CLI v2: credential_process in a profile,
# `credential-process --output env` and `exec`, against the local
# CreateSession endpoint (build/ra-endpoint), which records the AccessKeyId
# it issued. The CLI is always /usr/bin/aws, Debian's awscli v2: the `aws`
# first on PATH may be another (v1, a pyenv shim) without
# `configure export-credentials`.
#
# Run from the repo root: bash hsm-tests/test-awscli.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

AWS=/usr/bin/aws

require_tool openssl setsid timeout "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"
[ -x "$AWS" ] || skip_all "missing tool: $AWS (Debian package awscli, v2)"
case $("$AWS" --version 2>&1) in
aws-cli/2.*) ;;
*) skip_all "$AWS is not the AWS CLI v2: $("$AWS" --version 2>&1 | head -n 1)" ;;
esac

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# The CLI reads only our files, never the caller's credentials or IMDS.
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
	AWS_SECURITY_TOKEN AWS_CREDENTIAL_EXPIRATION AWS_CONTAINER_CREDENTIALS_FULL_URI \
	AWS_CONTAINER_CREDENTIALS_RELATIVE_URI AWS_WEB_IDENTITY_TOKEN_FILE
mkdir -p "$TESTDIR/aws"
export AWS_CONFIG_FILE=$TESTDIR/aws/config
export AWS_SHARED_CREDENTIALS_FILE=$TESTDIR/aws/credentials
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
# The "other" profile's keys live in the credentials file, which update
# rewrites: they must survive it.
printf '[other]\naws_access_key_id = AKIAOTHEROTHEROTHER1\naws_secret_access_key = other-secret-key\n' \
	>"$AWS_SHARED_CREDENTIALS_FILE"

# The absolute path: the CLI runs credential_process from its own cwd.
RASIGN_ABS=$(cd "$(dirname "$RASIGN")" && pwd)/$(basename "$RASIGN")
CRED_ARGS=(--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8"
	--intermediates "$INTERMEDIATES" --trust-anchor-arn "$TA_ARN"
	--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" --endpoint "$EP_URL")
CAPTURE=$TESTDIR/aws/captured.json
# Profiles: "rasign" runs rasign itself; "capture" also keeps what rasign
# printed, to compare the secrets; "other" has static keys of its own.
cat >"$AWS_CONFIG_FILE" <<EOF
[profile rasign]
credential_process = $CHECKER $RASIGN_ABS credential-process ${CRED_ARGS[*]}
[profile capture]
credential_process = /bin/sh -c '"\$0" "\$@" >$CAPTURE && cat $CAPTURE' $RASIGN_ABS credential-process ${CRED_ARGS[*]}
[profile other]
region = us-west-2
EOF

# run_aws ARGS...: /usr/bin/aws as run_rasign runs rasign (RC, OUT, ERR).
run_aws() {
	OUT=$T/stdout
	ERR=$T/stderr
	REC_BEFORE=$(rec_count)
	echo "\$ aws $*"
	setsid -w timeout -k 5 "$RUN_TIMEOUT" "$AWS" "$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
}

rasign_exec() {
	run_rasign exec "${CRED_ARGS[@]}" "$@"
}

# issued_key: the AccessKeyId of the one request this run made.
issued_key() {
	assert_requests 1
	$CHECK get "$T/new.jsonl" -1 access_key_id || fail "no access_key_id recorded"
}

# same_instant A B: two RFC 3339 times name the same second (the CLI
# rewrites "Z" as "+00:00").
same_instant() {
	$PY -c 'import sys, datetime as d
a, b = (d.datetime.fromisoformat(x.replace("Z", "+00:00")) for x in sys.argv[1:])
sys.exit(a != b)' "$1" "$2" || fail "expiration $1 is not $2"
}

# ---------------------------------------------------------------- credential_process

t_profile_direct() {
	local key
	run_aws configure export-credentials --profile rasign --format process
	assert_exit 0
	key=$(issued_key) || fail "$key"
	assert_json_field "$OUT" AccessKeyId "$key"
	assert_json_field "$OUT" Version 1
}

t_profile_captured() {
	local f
	run_aws configure export-credentials --profile capture --format process
	assert_exit 0
	assert_json_field "$OUT" AccessKeyId "$(issued_key)"
	for f in AccessKeyId SecretAccessKey SessionToken; do
		assert_json_field "$OUT" "$f" "$($CHECK field "$CAPTURE" "$f")"
	done
	same_instant "$($CHECK field "$OUT" Expiration)" \
		"$($CHECK field "$CAPTURE" Expiration)"
}

# ---------------------------------------------------------------- --output env

t_output_env() {
	local key
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --output env
	assert_exit 0
	key=$(issued_key) || fail "$key"
	[ "$(wc -l <"$OUT")" -eq 4 ] || fail "want 4 lines, got: $(cat "$OUT")"
	[ -z "$(tail -c 1 "$OUT")" ] || fail "the last line has no newline"
	grep -Evq "^export AWS_(ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN|CREDENTIAL_EXPIRATION)='[^']+'\$" \
		"$OUT" && fail "a line is not export NAME='VALUE': $(cat "$OUT")"
	# eval in a plain POSIX sh, then hand the result to the real CLI.
	sh -c 'eval "$(cat "$1")" && exec "$2" configure export-credentials --format process' \
		sh "$OUT" "$AWS" >"$T/cli.json" </dev/null || fail "sh/aws failed"
	assert_json_field "$T/cli.json" AccessKeyId "$key"
	sh -c 'eval "$(cat "$1")" && printf "%s\n" "$AWS_SECRET_ACCESS_KEY" \
		"$AWS_SESSION_TOKEN" "$AWS_CREDENTIAL_EXPIRATION"' sh "$OUT" >"$T/vals"
	assert_json_field "$T/cli.json" SecretAccessKey "$(sed -n 1p "$T/vals")"
	assert_json_field "$T/cli.json" SessionToken "$(sed -n 2p "$T/vals")"
	same_instant "$($CHECK field "$T/cli.json" Expiration)" "$(sed -n 3p "$T/vals")"
}

t_output_json() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --output json
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_output_bad() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --output yaml
	assert_failure 2 'output'
	assert_no_request
}

# ---------------------------------------------------------------- exec

t_exec_cli() {
	rasign_exec -- "$AWS" configure export-credentials --format process
	assert_exit 0
	assert_json_field "$OUT" AccessKeyId "$(issued_key)"
}

# AWS_PROFILE is passed on, yet the CLI takes the environment credentials.
t_exec_profile_kept() {
	AWS_PROFILE=other rasign_exec -- "$AWS" configure export-credentials --format process
	assert_exit 0
	assert_json_field "$OUT" AccessKeyId "$(issued_key)"
	AWS_PROFILE=other run_rasign exec "${CRED_ARGS[@]}" -- /usr/bin/env
	grep -qx 'AWS_PROFILE=other' "$OUT" || fail "AWS_PROFILE was not passed on"
}

# Stale credentials in our environment are replaced, not duplicated.
t_exec_env() {
	local v
	AWS_SESSION_TOKEN=stale AWS_SECURITY_TOKEN=stale AWS_REGION=eu-west-3 \
		rasign_exec -- /usr/bin/env
	assert_exit 0
	assert_requests 1
	for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN \
		AWS_CREDENTIAL_EXPIRATION; do
		[ "$(grep -c "^$v=" "$OUT")" -eq 1 ] || fail "$v is not set exactly once"
	done
	grep -q '=stale$' "$OUT" && fail "a stale token reached the command"
	grep -q '^AWS_SECURITY_TOKEN=' "$OUT" && fail "AWS_SECURITY_TOKEN was kept"
	grep -qx 'AWS_REGION=eu-west-3' "$OUT" || fail "AWS_REGION was not passed on"
	grep -qx "AWS_ACCESS_KEY_ID=$($CHECK get "$T/new.jsonl" -1 access_key_id)" "$OUT" ||
		fail "AWS_ACCESS_KEY_ID is not the issued key"
	true
}

# getopt stops at the command: its own flags are not rasign's.
t_exec_args() {
	rasign_exec "$@" sh -c 'printf "%s|" "$@"' sh --debug -x 'a b' --
	assert_exit 0
	[ "$(cat "$OUT")" = "--debug|-x|a b|--|" ] || fail "argv was $(cat "$OUT")"
}

t_exec_status() {
	rasign_exec -- sh -c 'exit 7'
	assert_exit 7
	rasign_exec -- sh -c 'kill -TERM $$'
	assert_exit 143
}

t_exec_missing() {
	rasign_exec -- "$T/no-such-command" arg
	assert_failure 127 'no-such-command.*No such file'
}

t_exec_no_command() {
	rasign_exec --
	assert_failure 2 'needs a command'
	assert_no_request
}

t_exec_preflight() {
	run_rasign exec --certificate "$LEAF_EC_P256_CRT" --private-key "$WRONG_KEY" \
		--intermediates "$INTERMEDIATES" --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
		-- sh -c ': >"$1"' sh "$T/marker"
	assert_failure 3 'does not match'
	assert_no_request
	[ ! -e "$T/marker" ] || fail "the command ran after a pre-flight failure"
}

t_exec_rejected() {
	set_faults "status 403"
	rasign_exec -- sh -c ': >"$1"' sh "$T/marker"
	assert_failure 7 'AccessDenied'
	[ ! -e "$T/marker" ] || fail "the command ran without credentials"
}

# ---------------------------------------------------------------- the run

run_test "aws CLI: credential_process profile gets the issued key" t_profile_direct
run_test "aws CLI: credential_process secrets are rasign's" t_profile_captured
run_test "--output env evals in sh and feeds the aws CLI" t_output_env
run_test "--output json is the credential_process JSON" t_output_json
run_test "--output yaml is refused" t_output_bad
# ---------------------------------------------------------------- update

# The file `update` writes is what the CLI then reads (issue: proven with
# real clients). Another profile in the same file must stay usable.
t_update_file() {
	local key
	run_rasign update --once --profile ra-updated "${CRED_ARGS[@]}"
	assert_exit 0
	key=$(issued_key) || fail "$key"
	run_aws configure export-credentials --profile ra-updated --format process
	assert_exit 0
	assert_json_field "$OUT" AccessKeyId "$key"
	run_aws configure export-credentials --profile other --format process
	assert_exit 0
	assert_json_field "$OUT" AccessKeyId AKIAOTHEROTHEROTHER1
}

run_test "update: the aws CLI reads the profile update wrote" t_update_file
run_test "exec: the aws CLI sees the issued key" t_exec_cli
run_test "exec: AWS_PROFILE kept, environment credentials win" t_exec_profile_kept
run_test "exec: the command's environment" t_exec_env
run_test "exec: COMMAND after --" t_exec_args --
run_test "exec: COMMAND without --" t_exec_args
run_test "exec: exit status and signal pass through" t_exec_status
run_test "exec: missing command exits 127" t_exec_missing
run_test "exec: no command exits 2" t_exec_no_command
run_test "exec: pre-flight failure runs nothing" t_exec_preflight
run_test "exec: rejected by the service runs nothing" t_exec_rejected
