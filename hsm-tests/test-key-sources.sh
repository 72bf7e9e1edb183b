#!/bin/bash
# The certificate, key and intermediates given as sources (env:VAR, fd:N,
# file:PATH) instead of paths, so that a CI runner never writes a key to
# disk; and the common mistakes with key and certificate files, each named
# by its own message. Against the local CreateSession endpoint.
#
# Run from the repo root: bash hsm-tests/test-key-sources.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

SERVE_PIDS_FILE=$TESTDIR/serve-pids
: >"$SERVE_PIDS_FILE"
stop_tracked() {
	local pid _
	# shellcheck disable=SC2013 # one number a line
	for pid in $(cat "$SERVE_PIDS_FILE" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null
		for _ in $(seq 20); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
	done
	: >"$SERVE_PIDS_FILE"
}
on_cleanup stop_tracked

# ---------------------------------------------------------------- sources

t_env_all() {
	RASIGN_CERT=$(cat "$LEAF_EC_P256_CRT") RASIGN_KEY=$(cat "$LEAF_EC_P256_P8") \
	RASIGN_CHAIN=$(cat "$INTERMEDIATES") \
		rasign_cp --certificate env:RASIGN_CERT --private-key env:RASIGN_KEY \
		--intermediates env:RASIGN_CHAIN
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
}

t_fd_all() {
	rasign_cp --certificate fd:4 --private-key fd:3 --intermediates fd:5 \
		3<"$LEAF_RSA2048_P8" 4<"$LEAF_RSA2048_CRT" 5<"$INTERMEDIATES"
	expect_success "$LEAF_RSA2048_CRT" RSA --chain "$INTER_CA_CRT"
}

# A pipe, not a file: nothing to stat or seek.
t_fd_pipe() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key fd:3 \
		--intermediates "$INTERMEDIATES" 3< <(cat "$LEAF_EC_P256_P8")
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_fd_der() {
	rasign_cp --certificate fd:4 --private-key fd:3 --intermediates "$INTERMEDIATES" \
		3<"$LEAF_EC_P384_P8_DER" 4<"$LEAF_EC_P384_CRT_DER"
	expect_success "$LEAF_EC_P384_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_file_prefix() {
	rasign_cp --certificate "file:$LEAF_EC_P256_CRT" --private-key "file:$LEAF_EC_P256_P8" \
		--intermediates "file:$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# PKCS#12 is binary: fd: (no environment variable can hold a NUL byte).
t_p12_fd() {
	rasign_cp --certificate fd:3 3<"$P12_NOPASS"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain-contains "$INTER_CA_CRT"
}

t_combo_env() {
	RASIGN_COMBO=$(cat "$COMBO_EC_P256") \
		rasign_cp --certificate env:RASIGN_COMBO --intermediates "$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# One fd given to both flags (a key+certificate PEM) is read once.
t_same_fd_both() {
	rasign_cp --certificate fd:3 --private-key fd:3 --intermediates "$INTERMEDIATES" \
		3<"$COMBO_EC_P256"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

t_encrypted_env() {
	RASIGN_KEY=$(cat "$LEAF_EC_P256_ENC_AES256") RASIGN_PW=$PASSWORD \
		rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key env:RASIGN_KEY \
		--pkcs8-password env:RASIGN_PW --intermediates "$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# A file whose name starts with "env:" is still reachable as ./env:NAME.
t_dot_slash() {
	cp "$LEAF_EC_P256_P8" "$T/env:key.pem"
	RASIGN=$(cd "$(dirname "$RASIGN")" && pwd)/$(basename "$RASIGN")
	(cd "$T" && rasign_cp --certificate "$LEAF_EC_P256_CRT" \
		--private-key ./env:key.pem --intermediates "$INTERMEDIATES"
	 expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT") ||
		exit 1
}

t_env_unset() {
	unset RASIGN_NO_SUCH_KEY
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key env:RASIGN_NO_SUCH_KEY
	assert_failure 3 'RASIGN_NO_SUCH_KEY.*not set'
	assert_stderr_matches '--private-key env:'
	assert_no_request
}

t_env_empty() {
	RASIGN_EMPTY_CERT='' rasign_cp --certificate env:RASIGN_EMPTY_CERT \
		--private-key "$LEAF_EC_P256_P8"
	assert_failure 3 '--certificate env:RASIGN_EMPTY_CERT.*empty'
	assert_no_request
}

t_fd_closed() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key fd:7 7<&-
	assert_failure 3 '--private-key fd:7.*descriptor 7 is not open'
	assert_no_request
}

t_fd_malformed() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key fd:three
	assert_failure 2 'fd:three.*not a file descriptor'
	assert_no_request
}

# exec: the command sees the credentials, not the key's variable nor its fd.
t_exec_no_key() {
	RASIGN_KEY=$(cat "$LEAF_EC_P256_P8") run_rasign exec \
		--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
		--certificate fd:3 --private-key env:RASIGN_KEY \
		--intermediates "$INTERMEDIATES" -- \
		sh -c 'env; if [ -e /dev/fd/3 ]; then echo FD3_OPEN; fi' 3<"$LEAF_EC_P256_CRT"
	assert_exit 0
	grep -q '^AWS_ACCESS_KEY_ID=' "$OUT" || { show_run; fail "the command got no credentials"; }
	if grep -q 'RASIGN_KEY\|PRIVATE KEY' "$OUT"; then
		show_run
		fail "the command's environment holds the key's variable"
	fi
	if grep -q FD3_OPEN "$OUT"; then
		show_run
		fail "the command inherited the certificate's fd 3"
	fi
}

# ---------------------------------------------------------------- serve

# start_serve ARGS: rasign serve on port 0 against EP; waits for its start
# (its last start-up line, with or without a time stamp).
start_serve() {
	local _
	SERVE_ERR=$T/serve.err
	REC_BEFORE=$(rec_count)
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	$CHECKER "$RASIGN" serve --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
		--endpoint "$EP_URL" --port 0 "$@" </dev/null >"$T/serve.out" 2>"$SERVE_ERR" &
	SERVE_PID=$!
	echo "$SERVE_PID" >>"$SERVE_PIDS_FILE"
	for _ in $(seq 200); do
		grep -q 'export AWS_CONTAINER_AUTHORIZATION_TOKEN=' "$SERVE_ERR" && return 0
		kill -0 "$SERVE_PID" 2>/dev/null || fail "serve exited at start: $(cat "$SERVE_ERR")"
		sleep 0.05
	done
	fail "serve did not start: $(cat "$SERVE_ERR")"
}

# wait_record N: until the endpoint has N records since REC_BEFORE (5 s).
wait_record() {
	local _
	for _ in $(seq 50); do
		[ "$(rec_count)" -ge $((REC_BEFORE + $1)) ] && return 0
		sleep 0.1
	done
	fail "the endpoint has $(($(rec_count) - REC_BEFORE)) requests, want $1"
}

rec_field() {
	sed -n "${1}p" "$EP_RECORD" >"$T/rec.json"
	$CHECK get "$T/rec.json" 0 "$2"
}

x509_b64() {
	openssl x509 -in "$1" -outform DER | base64 -w 0
}

# SIGHUP: file: sources are read again (a rotated certificate and key).
t_serve_file_reload() {
	cp "$LEAF_EC_P256_CRT" "$T/cert.pem"
	cp "$LEAF_EC_P256_P8" "$T/key.pem"
	start_serve --certificate "file:$T/cert.pem" --private-key "file:$T/key.pem" \
		--intermediates "file:$INTERMEDIATES"
	wait_record 1
	cp "$LEAF_RSA2048_P8" "$T/key.new" && cp "$LEAF_RSA2048_CRT" "$T/cert.new" &&
		mv -f "$T/key.new" "$T/key.pem" && mv -f "$T/cert.new" "$T/cert.pem" ||
		fail "cannot rotate the files"
	kill -HUP "$SERVE_PID"
	wait_record 2
	[ "$(rec_field $((REC_BEFORE + 2)) headers.x-amz-x509)" = "$(x509_b64 "$LEAF_RSA2048_CRT")" ] ||
		fail "after SIGHUP, x-amz-x509 is not the new certificate: $(cat "$SERVE_ERR")"
	[ "$(rec_field $((REC_BEFORE + 2)) status)" = 201 ] || fail "the refresh was refused"
}

# SIGHUP: an fd: key cannot be read twice; the first read is kept, so the
# reload succeeds instead of keeping the old identity with a warning.
t_serve_fd_reload() {
	RASIGN_CERT=$(cat "$LEAF_EC_P256_CRT") start_serve \
		--certificate env:RASIGN_CERT --private-key fd:3 \
		--intermediates "$INTERMEDIATES" 3<"$LEAF_EC_P256_P8"
	wait_record 1
	kill -HUP "$SERVE_PID"
	wait_record 2
	sleep 0.2
	[ "$(rec_field $((REC_BEFORE + 2)) status)" = 201 ] || fail "the refresh was refused"
	if grep -qi 'previous\|fd:3' "$SERVE_ERR"; then
		cat "$SERVE_ERR"
		fail "the reload did not reuse the fd: key"
	fi
	kill -0 "$SERVE_PID" 2>/dev/null || fail "serve died: $(cat "$SERVE_ERR")"
}

# ---------------------------------------------------------------- mistakes

t_forgot_private_key() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	assert_failure 2 'holds a certificate but no private key.*--private-key'
	assert_no_request
}

t_forgot_private_key_env() {
	RASIGN_CERT=$(cat "$LEAF_EC_P256_CRT") rasign_cp --certificate env:RASIGN_CERT
	assert_failure 2 'env:RASIGN_CERT holds a certificate but no private key.*--private-key'
	assert_no_request
}

t_swapped() {
	rasign_cp --certificate "$LEAF_EC_P256_P8" --private-key "$LEAF_EC_P256_CRT" \
		--intermediates "$INTERMEDIATES"
	assert_failure 2 'holds a private key, not a certificate.*swapped'
	assert_no_request
}

t_swapped_der() {
	rasign_cp --certificate "$LEAF_RSA2048_P8_DER" --private-key "$LEAF_RSA2048_CRT_DER"
	assert_failure 2 'private key, not a certificate.*swapped'
	assert_no_request
}

t_cert_as_key() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_CRT"
	assert_failure 2 '--private-key .* holds a certificate, not a private key'
	assert_no_request
}

t_tilde() {
	local flag=$1 cert=$LEAF_EC_P256_CRT key=$LEAF_EC_P256_P8
	mkdir -p "$HOME/certs"
	case $flag in
	--certificate) cert='~/certs/leaf.crt' ;;
	--private-key) key='~/certs/leaf.key' ;;
	esac
	rasign_cp --certificate "$cert" --private-key "$key"
	assert_failure 2 "$flag ~/certs/leaf.*expands '~'.*write $HOME/certs/leaf"
	assert_no_request
}

t_p12_twice() {
	rasign_cp --certificate "$P12_NOPASS" --private-key "$P12_NOPASS"
	assert_failure 2 'PKCS#12.*--certificate alone, without --private-key'
	assert_no_request
}

# A .p12 given as --private-key holds the certificate's key: it is used.
t_p12_as_key() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$P12_NOPASS" \
		--intermediates "$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
}

# fullchain.pem: the leaf is used (as by the Go helper), the rest is named
# once on stderr, with where it belongs.
t_fullchain() {
	cat "$LEAF_ROOT_EC_P256_CRT" "$INTER_CA_CRT" "$ROOT_CA_CRT" >"$T/fullchain.pem"
	rasign_cp --certificate "$T/fullchain.pem" --private-key "$LEAF_ROOT_EC_P256_P8"
	expect_success "$LEAF_ROOT_EC_P256_CRT" ECDSA --no-chain
	[ "$(wc -l <"$ERR")" -eq 1 ] || { show_run; fail "want one warning line on stderr"; }
	assert_stderr_matches 'warning.*fullchain.pem holds 2 more certificates.*not sent.*--intermediates'
}

# With the chain given, the extra certificates are only redundant: silent.
t_fullchain_with_intermediates() {
	cat "$LEAF_EC_P256_CRT" "$INTER_CA_CRT" >"$T/fullchain.pem"
	rasign_cp --certificate "$T/fullchain.pem" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
}

# ---------------------------------------------------------------- the run

run_test "certificate, key and intermediates from env:" t_env_all
run_test "certificate, key and intermediates from fd:" t_fd_all
run_test "key from fd: on a pipe" t_fd_pipe
run_test "DER certificate and key from fd:" t_fd_der
run_test "file: prefix on all three" t_file_prefix
run_test "PKCS#12 from fd: as --certificate alone" t_p12_fd
run_test "key+certificate PEM from env: as --certificate alone" t_combo_env
run_test "one fd: given to --certificate and --private-key" t_same_fd_both
run_test "encrypted key from env: with --pkcs8-password env:" t_encrypted_env
run_test "a path starting with env: is written ./env:NAME" t_dot_slash
run_test "unset variable names it, exit 3" t_env_unset
run_test "empty variable names it, exit 3" t_env_empty
run_test "closed fd names it, exit 3" t_fd_closed
run_test "malformed fd: exits 2" t_fd_malformed
run_test "exec: the command sees neither the key variable nor the fd" t_exec_no_key
run_test "serve: file: sources are read again on SIGHUP" t_serve_file_reload
run_test "serve: an fd: key is kept across SIGHUP" t_serve_fd_reload
run_test "forgot --private-key" t_forgot_private_key
run_test "forgot --private-key, certificate from env:" t_forgot_private_key_env
run_test "certificate and key swapped (PEM)" t_swapped
run_test "certificate and key swapped (DER)" t_swapped_der
run_test "certificate given as --private-key" t_cert_as_key
run_test "~ in --certificate is not expanded" t_tilde --certificate
run_test "~ in --private-key is not expanded" t_tilde --private-key
run_test "PKCS#12 as --certificate and --private-key" t_p12_twice
run_test "PKCS#12 as --private-key with a certificate file" t_p12_as_key
run_test "fullchain.pem as --certificate: one warning" t_fullchain
run_test "fullchain.pem with --intermediates: no warning" t_fullchain_with_intermediates
