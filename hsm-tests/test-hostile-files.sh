#!/bin/bash
# Hostile files (issue 10), against the local CreateSession endpoint:
#  - every file rasign reads, given as a FIFO, is refused at once with a
#    one-line message naming it, instead of hanging rasign (and, for a cache
#    entry, every other caller waiting on the entry's lock);
#  - `update` run by root for a user (HOME is the user's) follows no link of
#    the user's on the way to the credentials file, and what it creates there
#    belongs to the user. These run as root with a real unprivileged user,
#    made here and removed on exit.
#
# Run from the repo root: bash hsm-tests/test-hostile-files.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout mkfifo stat "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

# A hang is the failure these tests look for: 10 s is plenty for a refusal.
RUN_TIMEOUT=10

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

SOFTHSM_LIB=/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so

# A throwaway user for the root-writes-for-a-user tests.
HOSTILE_USER=
if [ "$(id -u)" -eq 0 ] && command -v useradd >/dev/null 2>&1; then
	HOSTILE_USER=rasign-t$$
	if useradd -M -N -d /nonexistent -s /usr/sbin/nologin "$HOSTILE_USER" \
		>"$TESTDIR/useradd.log" 2>&1; then
		on_cleanup userdel "$HOSTILE_USER"
	else
		HOSTILE_USER=
	fi
fi

# ---------------------------------------------------------------- helpers

# assert_fifo_refused CODE WHAT: a prompt failure (not killed by the
# timeout) with exit CODE, one line naming the FIFO $T/fifo as such.
assert_fifo_refused() {
	[ "$RC" -ne 124 ] && [ "$RC" -ne 137 ] ||
		{ show_run; fail "rasign hung on the FIFO (killed after $RUN_TIMEOUT s)"; }
	assert_failure "$1" "$2 $T/fifo is a FIFO, not a regular file"
}

# t_fifo_cp CODE WHAT ARGS...: credential-process with $T/fifo somewhere in
# ARGS is refused before any request.
t_fifo_cp() {
	local code=$1 what=$2
	shift 2
	mkfifo "$T/fifo"
	rasign_cp "$@"
	assert_fifo_refused "$code" "$what"
	assert_no_request
}

# ---------------------------------------------------------------- FIFOs

t_fifo_certificate() {
	t_fifo_cp 3 'certificate file' --certificate "$T/fifo" \
		--private-key "$LEAF_EC_P256_P8"
}

# The key is read twice: by the TPM backend's check for a TSS2 key file,
# and by the file backend. Neither may open the FIFO blocking.
t_fifo_private_key() {
	t_fifo_cp 3 'private key file' --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$T/fifo"
}

t_fifo_intermediates() {
	t_fifo_cp 3 'intermediates file' --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_P8" --intermediates "$T/fifo"
}

# A PKCS#12 bundle is given as the certificate; it is the key file too.
t_fifo_p12() {
	t_fifo_cp 3 '(certificate|private key) file' --certificate "$T/fifo" \
		--pkcs8-password pass:
}

t_fifo_pkcs8_password() {
	t_fifo_cp 4 '--pkcs8-password source' \
		--certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_ENC_AES256" \
		--pkcs8-password "file:$T/fifo"
}

# An empty token: with no certificate to find before login, rasign logs in
# with the PIN from --pkcs11-pin, which it reads then.
t_fifo_pkcs11_pin() {
	[ -f "$SOFTHSM_LIB" ] || skip "no $SOFTHSM_LIB"
	command -v softhsm2-util >/dev/null || skip "no softhsm2-util"
	mkdir -p "$T/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\n' \
		"$T/tokens" >"$T/softhsm2.conf"
	export SOFTHSM2_CONF=$T/softhsm2.conf
	softhsm2-util --init-token --free --label hostile --so-pin 12345678 \
		--pin 1234 >"$T/init.log" 2>&1 || fail "cannot make a token: $(cat "$T/init.log")"
	t_fifo_cp 4 '--pkcs11-pin source' --certificate "pkcs11:token=hostile" \
		--pkcs11-lib "$SOFTHSM_LIB" --pkcs11-pin "file:$T/fifo"
}

# libcurl opens AWS_CA_BUNDLE itself: it is checked first.
t_fifo_ca_bundle() {
	mkfifo "$T/fifo"
	AWS_CA_BUNDLE=$T/fifo rasign_cp --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_P8"
	assert_fifo_refused 2 'AWS_CA_BUNDLE file'
	assert_no_request
}

t_fifo_ecs_token_file() {
	mkfifo "$T/fifo"
	run_rasign serve --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
		--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--port 0 --ecs-token-file "$T/fifo"
	assert_fifo_refused 4 '--ecs-token-file source'
}

t_fifo_credentials_file() {
	mkfifo "$T/fifo"
	export AWS_SHARED_CREDENTIALS_FILE=$T/fifo
	run_rasign update --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" --once \
		--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	assert_fifo_refused 1 'credentials file'
	[ -p "$T/fifo" ] || fail "the FIFO was replaced"
}

# A FIFO in place of a cache entry: the first caller opens it while it
# holds the entry's lock; were that open to block, every caller with the
# same options would wait on the lock behind it. Both must get credentials
# at once, the first with a warning naming the entry, and the FIFO is
# replaced by a real entry.
t_fifo_cache_entry() {
	local args e pid rc
	export XDG_RUNTIME_DIR=$T/xdg
	mkdir -m 0700 "$XDG_RUNTIME_DIR"
	args=(--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8"
		--intermediates "$INTERMEDIATES" --cache)
	rasign_cp "${args[@]}"
	assert_exit 0
	e=$(find "$XDG_RUNTIME_DIR/rasign" -regex '.*/[0-9a-f]*' -name '????????????????????????????????????????????????????????????????')
	[ -f "$e" ] || fail "no cache entry after the first call"
	rm -f "$e"
	mkfifo -m 0600 "$e"
	# The first caller, in the background, as a crowd would start.
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	setsid -w timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" credential-process \
		--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" "${args[@]}" \
		</dev/null >"$T/first.out" 2>"$T/first.err" &
	pid=$!
	sleep 0.5
	# The second: not blocked behind the first.
	RUN_TIMEOUT=5 rasign_cp "${args[@]}"
	wait "$pid"
	rc=$?
	[ "$RC" -ne 124 ] && [ "$RC" -ne 137 ] ||
		{ show_run; fail "the second caller was blocked (killed after 5 s)"; }
	assert_exit 0
	[ "$rc" -eq 0 ] || { cat "$T/first.err"; fail "the first caller exited $rc"; }
	grep -Eq "warning: ignoring the cache entry: .*$(basename "$e") is a FIFO, not a regular file" \
		"$T/first.err" "$ERR" ||
		{ cat "$T/first.err" "$ERR"; fail "no warning naming the FIFO entry"; }
	[ -f "$e" ] && [ ! -p "$e" ] || fail "the FIFO entry was not replaced"
}

# ---------------------------------------------------------------- root for a user

UPD_ARGS=(--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN"
	--role-arn "$ROLE_ARN" --certificate "$LEAF_EC_P256_CRT"
	--private-key "$LEAF_EC_P256_P8" --intermediates "$INTERMEDIATES" --once)

# user_home: HOME, the throwaway user's, for root's update.
user_home() {
	[ -n "$HOSTILE_USER" ] || skip "needs root and useradd"
	unset AWS_SHARED_CREDENTIALS_FILE
	export HOME=$T/home
	mkdir -m 0755 "$HOME"
	chown "$HOSTILE_USER:" "$HOME"
}

# The user points ~/.aws at a directory of root's: root must not write
# there (only the last component was checked before).
t_user_dir_link() {
	user_home
	mkdir -m 0755 "$T/rootdir"
	ln -s "$T/rootdir" "$HOME/.aws"
	chown -h "$HOSTILE_USER" "$HOME/.aws"
	run_rasign update "${UPD_ARGS[@]}" --endpoint "$EP_URL"
	assert_failure 1 "$HOME/.aws is a symbolic link that is not yours"
	[ -z "$(ls -A "$T/rootdir")" ] || fail "written through the link: $(ls -A "$T/rootdir")"
	[ "$(stat -c %U "$T/rootdir")" = root ] || fail "the directory changed owner"
}

# The same link one level up (~/.config/aws, with ~/.config the link).
t_user_dir_link_deeper() {
	user_home
	mkdir -m 0755 "$T/rootdir"
	ln -s "$T/rootdir" "$HOME/conf"
	chown -h "$HOSTILE_USER" "$HOME/conf"
	export AWS_SHARED_CREDENTIALS_FILE=$HOME/conf/aws/credentials
	run_rasign update "${UPD_ARGS[@]}" --endpoint "$EP_URL"
	assert_failure 1 "$HOME/conf is a symbolic link that is not yours"
	[ -z "$(ls -A "$T/rootdir")" ] || fail "written through the link: $(ls -A "$T/rootdir")"
}

# A link of root's own is followed (as /home -> /data/home would be).
t_root_dir_link() {
	user_home
	mkdir -m 0700 "$T/rootdir"
	ln -s "$T/rootdir" "$HOME/.aws"
	run_rasign update "${UPD_ARGS[@]}" --endpoint "$EP_URL"
	assert_exit 0
	grep -q '^\[default\]' "$T/rootdir/credentials" || fail "not written through root's link"
}

# A missing ~/.aws made by root in the user's HOME is the user's.
t_new_dir_is_users() {
	user_home
	umask 022
	run_rasign update "${UPD_ARGS[@]}" --endpoint "$EP_URL"
	assert_exit 0
	[ "$(stat -c '%U %a' "$HOME/.aws")" = "$HOSTILE_USER 700" ] ||
		fail "~/.aws is $(stat -c '%U %a' "$HOME/.aws"), want $HOSTILE_USER 700"
	[ "$(stat -c '%U %a' "$HOME/.aws/credentials")" = "$HOSTILE_USER 600" ] ||
		fail "the file is $(stat -c '%U %a' "$HOME/.aws/credentials"), want $HOSTILE_USER 600"
	grep -q '^\[default\]' "$HOME/.aws/credentials" || fail "no profile written"
	[ "$(ls -A "$HOME/.aws")" = credentials ] || fail "left behind: $(ls -A "$HOME/.aws")"
}

# ---------------------------------------------------------------- the run

run_test "a FIFO as --certificate: exit 3 at once" t_fifo_certificate
run_test "a FIFO as --private-key: exit 3 at once" t_fifo_private_key
run_test "a FIFO as --intermediates: exit 3 at once" t_fifo_intermediates
run_test "a FIFO as a PKCS#12 certificate: exit 3 at once" t_fifo_p12
run_test "a FIFO as --pkcs8-password file: exit 4 at once" t_fifo_pkcs8_password
run_test "a FIFO as --pkcs11-pin file: exit 4 at once" t_fifo_pkcs11_pin
run_test "a FIFO as AWS_CA_BUNDLE: exit 2 at once" t_fifo_ca_bundle
run_test "a FIFO as --ecs-token-file: exit 4 at once" t_fifo_ecs_token_file
run_test "a FIFO as the credentials file: exit 1 at once" t_fifo_credentials_file
run_test "a FIFO as a cache entry blocks no caller" t_fifo_cache_entry
run_test "root's update: the user's ~/.aws link to root's dir is refused" t_user_dir_link
run_test "root's update: a user's link higher up is refused" t_user_dir_link_deeper
run_test "root's update: root's own ~/.aws link is followed" t_root_dir_link
run_test "root's update: a new ~/.aws and file belong to the user" t_new_dir_is_users
