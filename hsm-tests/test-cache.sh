#!/bin/bash
# End-to-end tests of `rasign credential-process --cache`: the per-user
# credential cache, against the local CreateSession endpoint
# (build/ra-endpoint), whose record tells how many CreateSession calls were
# made. Its credentials last durationSeconds (3600 s unless asked).
#
# Every test gets its own XDG_RUNTIME_DIR inside the private test directory,
# so the cache starts cold and nothing outside is touched.
#
# Run from the repo root: bash hsm-tests/test-cache.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout stat cmp "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

# A second role the endpoint accepts: a different role, a different entry.
ROLE_ARN2=arn:aws:iam::123456789012:role/rasign-test-2

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY" --role-arn "$ROLE_ARN2"
use_endpoint EP

# ---------------------------------------------------------------- helpers

# fresh_cache: a cold cache for this test; CACHE is the directory rasign uses.
fresh_cache() {
	export XDG_RUNTIME_DIR=$T/xdg
	mkdir -p "$XDG_RUNTIME_DIR"
	chmod 0700 "$XDG_RUNTIME_DIR"
	CACHE=$XDG_RUNTIME_DIR/rasign
}

# cp_cache ARGS...: the cached credential-process with the ec-p256 leaf.
cp_cache() {
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --cache "$@"
}

# entries [DIR]: the cache entries (named by a hex SHA-256), one a line;
# neither the lock files nor the temporary files of a write.
entries() {
	local d=${1:-$CACHE}
	[ -d "$d" ] || return 0
	find "$d" -mindepth 1 -maxdepth 1 -printf '%f\n' |
		grep -E '^[0-9a-f]{64}$' | sort
}

# assert_entries N [DIR]
assert_entries() {
	local n
	n=$(entries "${2:-}" | wc -l | tr -d ' ')
	[ "$n" -eq "$1" ] || { ls -la "${2:-$CACHE}" 2>&1; fail "$n cache entries, want $1"; }
}

# the_entry: the path of the only entry.
the_entry() {
	assert_entries 1
	echo "$CACHE/$(entries)"
}

# assert_mode PATH MODE: a regular file or directory (not a symlink), MODE in octal.
assert_mode() {
	local m
	[ ! -L "$1" ] || fail "$1 is a symlink"
	m=$(stat -c %a "$1") || fail "no $1"
	[ "$m" = "$2" ] || fail "$1 has mode $m, want $2"
}

# assert_stderr_empty: a cache hit or a clean miss says nothing.
assert_stderr_empty() {
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
}

# assert_same_output FILE: stdout is byte-identical to FILE.
assert_same_output() {
	cmp -s "$OUT" "$1" || { show_run; fail "stdout differs from $1: $(head -c 300 "$1")"; }
}

# assert_new_output FILE: stdout carries another AccessKeyId than FILE.
assert_new_output() {
	[ "$($CHECK field "$OUT" AccessKeyId)" != "$($CHECK field "$1" AccessKeyId)" ] ||
		fail "the AccessKeyId did not change"
}

# expect_hit FILE: exit 0, no request, nothing on stderr, stdout equals FILE.
expect_hit() {
	assert_exit 0
	assert_requests 0
	assert_stderr_empty
	assert_same_output "$1"
}

# expect_fresh CERT [expect_success options]: one request (as recorded when
# rasign exited; the tests that count exactly use assert_requests), its
# credentials on stdout, nothing on stderr.
expect_fresh() {
	expect_success "$1" ECDSA --chain "$INTER_CA_CRT" "${@:2}"
	assert_stderr_empty
}

# assert_entry_is_output: the entry holds the credentials just printed.
assert_entry_is_output() {
	local e
	e=$(the_entry) || fail "$e"
	[ "$($CHECK field "$e" AccessKeyId)" = "$($CHECK field "$OUT" AccessKeyId)" ] ||
		fail "the cache entry does not hold the AccessKeyId just printed"
}

# ---------------------------------------------------------------- hits and misses

# 20 calls at once on a cold cache: the lock lets one fetch, the others wait
# and read what it wrote.
t_concurrent_cold() {
	local i pids=() rc bad=0
	fresh_cache
	REC_BEFORE=$(rec_count)
	for i in $(seq 20); do
		# shellcheck disable=SC2086 # CHECKER is a command prefix
		setsid -w timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" credential-process \
			--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
			--role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
			--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
			--intermediates "$INTERMEDIATES" --cache \
			</dev/null >"$T/out.$i" 2>"$T/err.$i" &
		pids+=($!)
	done
	for i in $(seq 20); do
		wait "${pids[i - 1]}"
		rc=$?
		if [ "$rc" -ne 0 ] || [ -s "$T/err.$i" ]; then
			echo "call $i: exit status $rc, stderr: $(head -c 300 "$T/err.$i")"
			bad=1
		fi
	done
	[ "$bad" -eq 0 ] || fail "not every concurrent call succeeded quietly"
	assert_requests 1
	for i in $(seq 2 20); do
		cmp -s "$T/out.1" "$T/out.$i" ||
			fail "call $i printed other credentials than call 1: $(head -c 100 "$T/out.$i")"
	done
	OUT=$T/out.1 ERR=$T/err.1 RC=0
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
	assert_entry_is_output
}

t_second_call_hits() {
	fresh_cache
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	cp "$OUT" "$T/first"
	cp_cache
	expect_hit "$T/first"
	assert_mode "$(the_entry)" 600
	assert_mode "$CACHE" 700
	assert_entry_is_output
	# And again with --output env: the same credentials, in the other form.
	cp_cache --output env
	assert_exit 0
	assert_requests 0
	grep -qx "export AWS_ACCESS_KEY_ID='$($CHECK field "$T/first" AccessKeyId)'" "$OUT" ||
		{ show_run; fail "--output env does not print the cached AccessKeyId"; }
}

# A directory of ours that others can read is made private.
t_dir_made_private() {
	fresh_cache
	mkdir -m 0755 "$CACHE"
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	assert_mode "$CACHE" 700
	assert_mode "$(the_entry)" 600
}

# ---------------------------------------------------------------- refresh

# A window longer than the 3600 s lifetime: every call refreshes, and the
# entry is replaced each time.
t_window_beyond_lifetime() {
	local i
	fresh_cache
	cp_cache --cache-refresh-window 3601
	expect_fresh "$LEAF_EC_P256_CRT"
	for i in 2 3; do
		cp "$OUT" "$T/prev"
		cp_cache --cache-refresh-window 3601
		expect_fresh "$LEAF_EC_P256_CRT"
		assert_new_output "$T/prev"
		assert_entry_is_output
		assert_mode "$(the_entry)" 600
	done
}

# 900-s credentials always lie inside the default 900-s window: each call
# refreshes. With a window well below 900 s, the second call is a hit.
t_short_session_default_window() {
	fresh_cache
	cp_cache --session-duration 900
	expect_fresh "$LEAF_EC_P256_CRT" --body '{"durationSeconds":900}'
	cp "$OUT" "$T/prev"
	cp_cache --session-duration 900
	expect_fresh "$LEAF_EC_P256_CRT" --body '{"durationSeconds":900}'
	assert_new_output "$T/prev"
	assert_entry_is_output
}

t_short_session_small_window() {
	fresh_cache
	cp_cache --session-duration 900 --cache-refresh-window 890
	expect_fresh "$LEAF_EC_P256_CRT" --body '{"durationSeconds":900}'
	cp "$OUT" "$T/first"
	cp_cache --session-duration 900 --cache-refresh-window 890
	expect_hit "$T/first"
	# The window is not part of the entry's name: window 0 reads it too.
	cp_cache --session-duration 900 --cache-refresh-window 0
	expect_hit "$T/first"
	assert_entries 1
}

# ---------------------------------------------------------------- isolation

# t_isolated KIND: a call that differs from the base call in KIND gets its
# own entry (one request), the base entry is still served afterwards, and
# so is the new one.
t_isolated() {
	local args=() checks=() role=$ROLE_ARN
	local cert=$LEAF_EC_P256_CRT key=$LEAF_EC_P256_P8
	fresh_cache
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	cp "$OUT" "$T/base"
	case $1 in
	certificate) cert=$LEAF_EC_P384_CRT key=$LEAF_EC_P384_P8 ;;
	role)
		role=$ROLE_ARN2
		checks=(--role-arn "$ROLE_ARN2")
		;;
	duration)
		# 900-s credentials need a window below 900 s to be served.
		args=(--session-duration 900 --cache-refresh-window 600)
		checks=(--body '{"durationSeconds":900}')
		;;
	session-name)
		args=(--role-session-name cache-test)
		checks=(--body '{"durationSeconds":3600,"roleSessionName":"cache-test"}')
		;;
	esac
	# rasign_cp fixes --role-arn, so the other call is spelt out.
	set -- credential-process --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$role" --endpoint "$EP_URL" \
		--certificate "$cert" --private-key "$key" \
		--intermediates "$INTERMEDIATES" --cache "${args[@]}"
	run_rasign "$@"
	expect_fresh "$cert" "${checks[@]}"
	assert_new_output "$T/base"
	cp "$OUT" "$T/other"
	assert_entries 2
	cp_cache
	expect_hit "$T/base"
	run_rasign "$@"
	expect_hit "$T/other"
	assert_entries 2
}

# The entry's name covers the certificate's fingerprint, not only its path:
# a new certificate in the same file is a new entry.
# The same reference, env:CERT, with another certificate behind it (two CI
# jobs on one runner, say): never the other certificate's credentials.
t_same_env_new_certificate() {
	fresh_cache
	CERT=$(cat "$LEAF_EC_P256_CRT") KEY=$(cat "$LEAF_EC_P256_P8") \
		rasign_cp --certificate env:CERT --private-key env:KEY \
		--intermediates "$INTERMEDIATES" --cache
	expect_fresh "$LEAF_EC_P256_CRT"
	cp "$OUT" "$T/old"
	CERT=$(cat "$LEAF_EC_P384_CRT") KEY=$(cat "$LEAF_EC_P384_P8") \
		rasign_cp --certificate env:CERT --private-key env:KEY \
		--intermediates "$INTERMEDIATES" --cache
	expect_fresh "$LEAF_EC_P384_CRT"
	assert_new_output "$T/old"
	assert_entries 2
	# And the first certificate again is a hit on its own entry.
	CERT=$(cat "$LEAF_EC_P256_CRT") KEY=$(cat "$LEAF_EC_P256_P8") \
		rasign_cp --certificate env:CERT --private-key env:KEY \
		--intermediates "$INTERMEDIATES" --cache
	expect_hit "$T/old"
}

# An fd: is read once, by the fetch; the entry could not be named by it.
t_cache_fd_refused() {
	fresh_cache
	rasign_cp --certificate fd:3 --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --cache 3<"$LEAF_EC_P256_CRT"
	assert_failure 2 '--cache needs a certificate it can read on every call'
	assert_no_request
	assert_entries 0
}

t_same_path_new_certificate() {
	fresh_cache
	cp "$LEAF_EC_P256_CRT" "$T/leaf.crt"
	cp "$LEAF_EC_P256_P8" "$T/leaf.key"
	rasign_cp --certificate "$T/leaf.crt" --private-key "$T/leaf.key" \
		--intermediates "$INTERMEDIATES" --cache
	expect_fresh "$LEAF_EC_P256_CRT"
	cp "$OUT" "$T/old"
	cp "$LEAF_EC_P384_CRT" "$T/leaf.crt"
	cp "$LEAF_EC_P384_P8" "$T/leaf.key"
	rasign_cp --certificate "$T/leaf.crt" --private-key "$T/leaf.key" \
		--intermediates "$INTERMEDIATES" --cache
	expect_fresh "$LEAF_EC_P384_CRT"
	assert_new_output "$T/old"
	assert_entries 2
}

# ---------------------------------------------------------------- untrusted entries

# t_bad_entry KIND: an entry rasign must not trust is ignored with one
# warning, replaced by fresh credentials, and private again.
t_bad_entry() {
	local e
	fresh_cache
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	cp "$OUT" "$T/old"
	e=$(the_entry) || fail "$e"
	case $1 in
	group-readable) chmod 0644 "$e" ;;
	world-readable) chmod 0604 "$e" ;;
	corrupt)
		printf '\000\377garbage{"AccessKeyId":\n\001' >"$e"
		chmod 0600 "$e"
		;;
	symlink)
		# It points at valid credentials, which must not be read through it.
		cp -p "$e" "$T/target"
		ln -sf "$T/target" "$e"
		;;
	foreign-owned)
		[ "$(id -u)" -eq 0 ] || skip "needs root to chown the entry"
		chown 65534 "$e"
		;;
	esac
	cp_cache
	assert_exit 0
	assert_stderr_one_line
	assert_stderr_matches 'warning: ignoring the cache entry'
	grep -q "$(basename "$e")" "$ERR" || { show_run; fail "the warning does not name the entry"; }
	new_records 1
	$CHECK success --stdout "$OUT" --records "$T/new.jsonl" --cert "$LEAF_EC_P256_CRT" \
		--alg ECDSA --host "127.0.0.1:$EP_PORT" --body "$DEFAULT_BODY" \
		--requests=1 --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --chain "$INTER_CA_CRT" ||
		{ show_run; fail "request or output check failed"; }
	assert_requests 1
	assert_new_output "$T/old"
	assert_mode "$e" 600
	[ "$(stat -c %u "$e")" -eq "$(id -u)" ] || fail "the new entry is not ours"
	assert_entry_is_output
	if [ "$1" = symlink ]; then
		cmp -s "$T/target" "$T/old" || fail "the symlink's target was changed"
	fi
	# And the replacement is trusted: the next call is a quiet hit.
	cp "$OUT" "$T/new"
	cp_cache
	expect_hit "$T/new"
}

# A cache directory that is not ours: no cache, one warning, still works.
t_foreign_dir() {
	[ "$(id -u)" -eq 0 ] || skip "needs root to chown the directory"
	fresh_cache
	mkdir -m 0700 "$CACHE"
	chown 65534 "$CACHE"
	cp_cache
	assert_exit 0
	assert_stderr_one_line
	assert_stderr_matches 'warning: not caching'
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
	assert_requests 1
	[ -z "$(ls -A "$CACHE")" ] || fail "something was written to the foreign directory"
	[ "$(stat -c '%u %a' "$CACHE")" = "65534 700" ] || fail "the foreign directory was changed"
	cp_cache
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
	assert_requests 1
}

# A cache path that cannot be a directory: no cache, one warning, still works.
t_unusable_dir() {
	fresh_cache
	echo 'not a directory' >"$CACHE"
	cp_cache
	assert_exit 0
	assert_stderr_one_line
	assert_stderr_matches 'warning: not caching'
	expect_success "$LEAF_EC_P256_CRT" ECDSA --chain "$INTER_CA_CRT"
	assert_requests 1
	[ "$(cat "$CACHE")" = 'not a directory' ] || fail "the file in the way was changed"
}

# ---------------------------------------------------------------- where

t_home_fallback() {
	unset XDG_RUNTIME_DIR
	export HOME=$T/home
	mkdir -p "$HOME"
	CACHE=$HOME/.cache/rasign
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	cp "$OUT" "$T/first"
	assert_mode "$CACHE" 700
	assert_mode "$(the_entry)" 600
	assert_entry_is_output
	cp_cache
	expect_hit "$T/first"
}

# XDG_RUNTIME_DIR must be an absolute path; a relative one means HOME.
t_relative_xdg() {
	export HOME=$T/home
	mkdir -p "$HOME" "$T/rel"
	cd "$T" || fail "cd $T"
	export XDG_RUNTIME_DIR=rel
	CACHE=$HOME/.cache/rasign
	# run_rasign runs the binary by a relative path from the repo root.
	RASIGN=$(cd "$OLDPWD" && realpath "$RASIGN")
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	assert_entries 1
	[ -z "$(ls -A "$T/rel")" ] || fail "something was written under the relative XDG_RUNTIME_DIR"
}

# ---------------------------------------------------------------- usage

t_bad_window() {
	fresh_cache
	cp_cache --cache-refresh-window "$1"
	assert_failure 2 'cache-refresh-window'
	assert_no_request
	assert_entries 0
}

t_window_max() {
	fresh_cache
	cp_cache --cache-refresh-window 43200
	expect_fresh "$LEAF_EC_P256_CRT"
	assert_entries 1
}

t_no_cache_no_write() {
	fresh_cache
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	expect_fresh "$LEAF_EC_P256_CRT"
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	expect_fresh "$LEAF_EC_P256_CRT"
	[ -z "$(ls -A "$XDG_RUNTIME_DIR")" ] ||
		fail "without --cache, $XDG_RUNTIME_DIR holds: $(ls -A "$XDG_RUNTIME_DIR")"
}

# A warm entry is not read without --cache: a plain call always fetches.
t_no_cache_ignores_entry() {
	fresh_cache
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	cp "$OUT" "$T/cached"
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	expect_fresh "$LEAF_EC_P256_CRT"
	assert_new_output "$T/cached"
	# ...and does not replace the entry either.
	[ "$($CHECK field "$(the_entry)" AccessKeyId)" = "$($CHECK field "$T/cached" AccessKeyId)" ] ||
		fail "a call without --cache replaced the entry"
}

# ---------------------------------------------------------------- failures

t_preflight_failure() {
	fresh_cache
	rasign_cp --certificate "$LEAF_EC_P256_CRT" --private-key "$WRONG_KEY" \
		--intermediates "$INTERMEDIATES" --cache
	assert_failure 3 'does not match'
	assert_no_request
	assert_entries 0
}

t_endpoint_403() {
	fresh_cache
	set_faults "status 403"
	cp_cache
	assert_failure 7 'AccessDenied'
	assert_requests 1
	assert_entries 0
	# The failure was not cached: the next call fetches and caches.
	cp_cache
	expect_fresh "$LEAF_EC_P256_CRT"
	assert_entries 1
}

# ---------------------------------------------------------------- the run

run_test "20 concurrent calls on a cold cache make one request" t_concurrent_cold
run_test "a second call is a hit; entry 0600, directory 0700" t_second_call_hits
run_test "an existing cache directory of ours is made 0700" t_dir_made_private
run_test "window 3601 > lifetime 3600: every call refreshes" t_window_beyond_lifetime
run_test "900-s session, default 900-s window: every call refreshes" t_short_session_default_window
run_test "900-s session, 890-s window: the second call hits" t_short_session_small_window
run_test "another certificate has its own entry" t_isolated certificate
run_test "another --role-arn has its own entry" t_isolated role
run_test "another --session-duration has its own entry" t_isolated duration
run_test "another --role-session-name has its own entry" t_isolated session-name
run_test "a new certificate in the same file is a new entry" t_same_path_new_certificate
run_test "a new certificate in the same env: variable is a new entry" t_same_env_new_certificate
run_test "--cache with --certificate fd:: exit 2, no request" t_cache_fd_refused
run_test "a group-readable entry is replaced" t_bad_entry group-readable
run_test "a world-readable entry is replaced" t_bad_entry world-readable
run_test "a corrupt entry is replaced" t_bad_entry corrupt
run_test "a symlink entry is replaced, its target untouched" t_bad_entry symlink
run_test "a foreign-owned entry is replaced" t_bad_entry foreign-owned
run_test "a foreign-owned cache directory: no cache, a warning" t_foreign_dir
run_test "a file in the cache directory's place: no cache, a warning" t_unusable_dir
run_test "without XDG_RUNTIME_DIR the cache is in HOME/.cache/rasign" t_home_fallback
run_test "a relative XDG_RUNTIME_DIR is not used" t_relative_xdg
run_test "--cache-refresh-window -1 is refused" t_bad_window -1
run_test "--cache-refresh-window 43201 is refused" t_bad_window 43201
run_test "--cache-refresh-window 43200 is accepted" t_window_max
run_test "without --cache nothing is written" t_no_cache_no_write
run_test "without --cache a warm entry is neither read nor replaced" t_no_cache_ignores_entry
run_test "pre-flight failure on a cold cache: exit 3, no request, no entry" t_preflight_failure
run_test "endpoint 403 on a cold cache: exit 7, no entry" t_endpoint_403
