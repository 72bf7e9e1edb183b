#!/bin/bash
# End-to-end tests of `rasign update` with a key in a file, against the
# local CreateSession endpoint: what lands in the shared credentials file
# (byte for byte), its modes, what a failure leaves behind, concurrent
# writers, and the long-running mode's sleep and clean stop.
#
# Run from the repo root: bash hsm-tests/test-update.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout stat cmp "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# The file checks, in Python: regular expressions over bytes are clearer
# there than in sh. Placeholders @A@ @S@ @T@ in a template stand for the
# values this run wrote; everything else must match byte for byte.
CF="$PY $TESTDIR/cf.py"
cat >"$TESTDIR/cf.py" <<'EOF'
import json, re, sys

def records(path):
    out = []
    for line in open(path, encoding="utf-8"):
        if line.strip():
            out.append(json.loads(line))
    return out

def session_akids(path):
    """roleSessionName -> access key id, over the successful requests."""
    m = {}
    for r in records(path):
        if r.get("status") in (200, 201) and r.get("access_key_id"):
            m[json.loads(r["body"]).get("roleSessionName", "")] = r["access_key_id"]
    return m

VAL = {b"@A@": rb"(ASIA[A-Z2-7]{16})", b"@S@": rb"([A-Za-z0-9+/]{40})",
       b"@T@": rb"([A-Za-z0-9+/]{100,})"}

def gen(orig, expect, target, last, no_final_nl):
    """50 other profiles, comments, a CR LF line, a line over 64 KiB;
    the target profile in the middle or last, with keys of its own."""
    o, e = [], []
    def both(s):
        o.append(s); e.append(s)
    both(b"# shared credentials, generated for test-update.sh\n; a semicolon comment\n\n")
    tgt_o = (b"[%s]\n# target comment\naws_access_key_id = AKIAOLDTARGET\n"
             b"aws_secret_access_key = oldsecret\nextra_key = keep me\n"
             b"aws_session_token = oldtoken\nregion = eu-west-1" % target)
    tgt_e = (b"[%s]\n# target comment\naws_access_key_id = @A@\n"
             b"aws_secret_access_key = @S@\nextra_key = keep me\n"
             b"aws_session_token = @T@\nregion = eu-west-1" % target)
    for i in range(50):
        if i == 25 and not last:
            o.append(tgt_o + b"\n\n"); e.append(tgt_e + b"\n\n")
        both(b"# profile %d\n[other-%02d]\naws_access_key_id = AKIAOTHER%02d\n"
             b"aws_secret_access_key = secret%02d\n" % (i, i, i, i))
        if i == 7:
            both(b"note = crlf line\r\n")
        if i == 13:
            both(b"long = " + b"x" * 70000 + b"\n")
        both(b"\n")
    if last:
        o.append(tgt_o); e.append(tgt_e)
        if not no_final_nl:
            o.append(b"\n"); e.append(b"\n")
    open(orig, "wb").write(b"".join(o))
    open(expect, "wb").write(b"".join(e))

def match(path, template):
    data = open(path, "rb").read()
    rx = re.escape(open(template, "rb").read())
    for k, v in VAL.items():
        rx = rx.replace(re.escape(k), v)
    m = re.fullmatch(rx, data, re.S)
    if not m:
        sys.exit("%s does not match %s byte for byte" % (path, template))
    return m

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(args[0], args[1], args[2].encode(), args[3] == "last", args[4] == "nonl")
    elif cmd == "check":          # FILE TEMPLATE AKID
        m = match(args[0], args[1])
        if m.group(1).decode() != args[2]:
            sys.exit("aws_access_key_id %s, want %s" % (m.group(1).decode(), args[2]))
    elif cmd == "concurrent":     # FILE ORIG RECORDS N
        data, orig = open(args[0], "rb").read(), open(args[1], "rb").read()
        if not data.startswith(orig):
            sys.exit("the other profiles were not kept byte for byte")
        want = session_akids(args[2])
        rest, seen = data[len(orig):], set()
        block = re.compile(rb"\[p(\d)\]\naws_access_key_id = (ASIA[A-Z2-7]{16})\n"
                           rb"aws_secret_access_key = [A-Za-z0-9+/]{40}\n"
                           rb"aws_session_token = [A-Za-z0-9+/]{100,}\n\n")
        while rest:
            m = block.match(rest)
            if not m:
                sys.exit("unexpected bytes after the old profiles: %r" % rest[:80])
            n, akid = m.group(1).decode(), m.group(2).decode()
            if n in seen:
                sys.exit("profile p%s written twice" % n)
            seen.add(n)
            if want.get("s" + n) != akid:
                sys.exit("p%s holds %s, but its process got %s" % (n, akid, want.get("s" + n)))
            rest = rest[m.end():]
        if len(seen) != int(args[3]):
            sys.exit("%d profiles written, want %s" % (len(seen), args[3]))
    else:
        sys.exit("cf.py: unknown command " + cmd)

main()
EOF

# The options every run needs; a test adds --profile, --once and the rest.
UPD_ARGS=(--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN"
	--role-arn "$ROLE_ARN" --certificate "$LEAF_EC_P256_CRT"
	--private-key "$LEAF_EC_P256_P8" --intermediates "$INTERMEDIATES")

rasign_update() {
	run_rasign update "${UPD_ARGS[@]}" --endpoint "$EP_URL" "$@"
}

# The access key id the endpoint issued in this run (last request).
issued_akid() {
	new_records 1
	$CHECK get "$T/new.jsonl" -1 access_key_id
}

# A successful --once prints nothing, as the Go helper.
assert_quiet_success() {
	assert_exit 0
	assert_stdout_empty
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
}

mode_of() {
	stat -c %a "$1"
}

# ---------------------------------------------------------------- tests

t_help() {
	run_rasign update --help
	assert_exit 0
	grep -q -- '--profile NAME' "$OUT" && grep -q -- '--once' "$OUT" ||
		{ show_run; fail "usage lacks --profile or --once"; }
}

t_once_only_for_update() {
	run_rasign credential-process "${UPD_ARGS[@]}" --endpoint "$EP_URL" --once
	assert_failure 2 'unknown flag --once'
	assert_no_request
}

# A missing directory is created 0700 (Go: 0600, unusable), the file 0600.
t_new_file() {
	local f=$T/aws/sub/credentials akid
	export AWS_SHARED_CREDENTIALS_FILE=$f
	umask 022
	rasign_update --once
	assert_quiet_success
	akid=$(issued_akid)
	printf '[default]\naws_access_key_id = @A@\naws_secret_access_key = @S@\naws_session_token = @T@\n\n' \
		>"$T/expect"
	$CF check "$f" "$T/expect" "$akid" || fail "file content"
	[ "$(mode_of "$f")" = 600 ] || fail "file mode $(mode_of "$f"), want 600"
	[ "$(mode_of "$T/aws")" = 700 ] || fail "dir mode $(mode_of "$T/aws"), want 700"
	[ "$(mode_of "$T/aws/sub")" = 700 ] || fail "dir mode $(mode_of "$T/aws/sub"), want 700"
	[ "$(ls -A "$T/aws/sub")" = credentials ] || fail "left behind: $(ls -A "$T/aws/sub")"
}

t_home_default() {
	local akid
	unset AWS_SHARED_CREDENTIALS_FILE
	export HOME=$T/home
	rasign_update --once --profile "my profile"
	assert_quiet_success
	akid=$(issued_akid)
	printf '[my profile]\naws_access_key_id = @A@\naws_secret_access_key = @S@\naws_session_token = @T@\n\n' \
		>"$T/expect"
	$CF check "$HOME/.aws/credentials" "$T/expect" "$akid" || fail "file content"
}

# Go bug: $HOME was required even with AWS_SHARED_CREDENTIALS_FILE set.
t_no_home() {
	local akid
	export AWS_SHARED_CREDENTIALS_FILE=$T/creds
	unset HOME
	rasign_update --once --profile p
	assert_quiet_success
	akid=$(issued_akid)
	printf '[p]\naws_access_key_id = @A@\naws_secret_access_key = @S@\naws_session_token = @T@\n\n' \
		>"$T/expect"
	$CF check "$T/creds" "$T/expect" "$akid" || fail "file content"
}

# t_preserve POSITION FINAL: 50 other profiles and the comments kept byte
# for byte; the target in the middle or last (Go bug: last line lost),
# with or without a final newline; its own other keys kept in place.
t_preserve() {
	local akid
	export AWS_SHARED_CREDENTIALS_FILE=$T/creds
	$CF gen "$T/creds" "$T/expect" default "$1" "$2" || fail "gen"
	chmod 600 "$T/creds"
	rasign_update --once
	assert_quiet_success
	akid=$(issued_akid)
	$CF check "$T/creds" "$T/expect" "$akid" || fail "file content"
	[ "$(mode_of "$T/creds")" = 600 ] || fail "file mode $(mode_of "$T/creds")"
}

# t_failure CODE REGEX [update args]: the file is left byte-identical.
t_failure() {
	local code=$1 re=$2
	shift 2
	export AWS_SHARED_CREDENTIALS_FILE=$T/creds
	$CF gen "$T/creds" "$T/expect" default mid nl || fail "gen"
	cp -p "$T/creds" "$T/before"
	run_rasign update --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" --once "$@"
	assert_failure "$code" "$re"
	cmp "$T/before" "$T/creds" || fail "the file changed"
	[ -z "$(find "$T" -name '.creds.*')" ] || fail "temporary file left behind"
}

t_fail_403() {
	set_faults "status 403"
	t_failure 7 'AccessDenied' --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$LEAF_EC_P256_P8" --intermediates "$INTERMEDIATES"
	assert_requests 1
}

t_fail_wrong_key() {
	t_failure 3 'does not match' --certificate "$LEAF_EC_P256_CRT" \
		--private-key "$WRONG_KEY" --intermediates "$INTERMEDIATES"
	assert_no_request
}

# /dev/null (lib.sh's setting) is never replaced by a regular file.
t_refuse_dev_null() {
	export AWS_SHARED_CREDENTIALS_FILE=/dev/null
	rasign_update --once
	assert_failure 1 'not a regular file'
	[ -c /dev/null ] || fail "/dev/null is no longer a device"
}

# 8 writers at once, each its own profile, among 50 others: nothing lost.
t_concurrent() {
	local i pids= pid rc=0
	export AWS_SHARED_CREDENTIALS_FILE=$T/creds
	$CF gen "$T/creds" "$T/expect" default mid nl || fail "gen"
	cp "$T/creds" "$T/orig"
	REC_BEFORE=$(rec_count)
	for i in 1 2 3 4 5 6 7 8; do
		# shellcheck disable=SC2086 # CHECKER is a command prefix
		setsid -w timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" update \
			"${UPD_ARGS[@]}" --endpoint "$EP_URL" --once --profile "p$i" \
			--role-session-name "s$i" </dev/null >"$T/out$i" 2>"$T/err$i" &
		pids="$pids $!"
	done
	for pid in $pids; do
		wait "$pid" || rc=$?
	done
	[ "$rc" -eq 0 ] || { cat "$T"/err*; fail "a writer failed ($rc)"; }
	new_records 8
	[ "$NEW_COUNT" -eq 8 ] || fail "$NEW_COUNT requests, want 8"
	$CF concurrent "$T/creds" "$T/orig" "$T/new.jsonl" 8 || fail "file content"
}

# Without --once: one write, one request, then asleep until 5 minutes
# before expiry (900 s sessions: 600 s); SIGTERM ends it with status 0.
t_daemon() {
	local f=$T/creds pid rc now when want _
	export AWS_SHARED_CREDENTIALS_FILE=$f
	REC_BEFORE=$(rec_count)
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" update "${UPD_ARGS[@]}" \
		--endpoint "$EP_URL" --session-duration 900 --profile d \
		</dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	for _ in $(seq 100); do
		[ -s "$f" ] && break
		sleep 0.1
	done
	[ -s "$f" ] || { kill "$pid"; cat "$T/err"; fail "no file written"; }
	now=$(date -u +%s)
	sleep 2
	new_records 1
	[ "$NEW_COUNT" -eq 1 ] || { kill "$pid"; fail "$NEW_COUNT requests in 2 s, want 1"; }
	kill -0 "$pid" 2>/dev/null || fail "update exited: $(cat "$T/err")"
	grep -q '^\[d\]$' "$f" || fail "profile d not written"
	# The Go helper's line: a Go log stamp, then Go's time.String().
	grep -Eq '^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} Credentials will be refreshed at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} \+0000 UTC$' \
		"$T/err" || { kill "$pid"; cat "$T/err"; fail "no 'Credentials will be refreshed at' line"; }
	when=$(sed -n 's/.* refreshed at \(.*\) +0000 UTC$/\1/p' "$T/err")
	when=$(date -u -d "$when" +%s)
	# The automatic lead for 900 s is 3/4 of it, 675 s (schedule.h).
	want=$((now + 900 - 675))
	[ $((when - want)) -le 10 ] && [ $((want - when)) -le 10 ] ||
		{ kill "$pid"; fail "refresh at $when, want about $want"; }
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM, want 0"
	[ ! -s "$T/out" ] || fail "stdout not empty"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "stderr: $(cat "$T/err")"
}

# A failed refresh in the long-running mode: one line, the file untouched,
# a retry 5 s later (not a tight loop), and SIGINT while asleep ends it.
t_daemon_retry() {
	local f=$T/creds pid rc _
	export AWS_SHARED_CREDENTIALS_FILE=$f
	$CF gen "$f" "$T/expect" x mid nl || fail "gen"
	cp -p "$f" "$T/before"
	set_faults "status 403"
	REC_BEFORE=$(rec_count)
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" update "${UPD_ARGS[@]}" \
		--endpoint "$EP_URL" --session-duration 900 --profile r \
		</dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	sleep 3
	new_records 1
	[ "$NEW_COUNT" -eq 1 ] || { kill "$pid"; fail "$NEW_COUNT requests in 3 s, want 1"; }
	cmp "$T/before" "$f" || { kill "$pid"; fail "the file changed after a failure"; }
	grep -Eq "^${STAMP_RE}rasign: warning: refresh failed, retrying in 5 s: .*AccessDenied" "$T/err" ||
		{ kill "$pid"; cat "$T/err"; fail "no retry line"; }
	for _ in $(seq 80); do
		grep -q '^\[r\]$' "$f" && break
		sleep 0.1
	done
	grep -q '^\[r\]$' "$f" || { kill "$pid"; cat "$T/err"; fail "no retry after 5 s"; }
	new_records 2
	[ "$NEW_COUNT" -eq 2 ] || { kill "$pid"; fail "$NEW_COUNT requests, want 2"; }
	kill -INT "$pid"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || fail "exit status $rc after SIGINT, want 0"
	# The failure, the recovery, the next refresh: stamped, nothing else.
	grep -Eq "^${STAMP_RE}rasign: refresh succeeded after 1 failed try; the credentials are valid until " \
		"$T/err" || fail "no recovery line: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" -eq 3 ] || fail "stderr: $(cat "$T/err")"
}

# SIGHUP: the certificate and key are read again and the profile renewed
# at once (one more request); afterwards update sleeps again instead of
# spinning (its wake-up pipe is emptied): it uses almost no CPU.
t_daemon_sighup() {
	local f=$T/creds pid rc t0 t1 _
	export AWS_SHARED_CREDENTIALS_FILE=$f
	REC_BEFORE=$(rec_count)
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" update "${UPD_ARGS[@]}" \
		--endpoint "$EP_URL" --session-duration 900 --profile h \
		</dev/null >"$T/out" 2>"$T/err" &
	pid=$!
	for _ in $(seq 100); do
		[ -s "$f" ] && break
		sleep 0.1
	done
	[ -s "$f" ] || { kill "$pid"; cat "$T/err"; fail "no file written"; }
	kill -HUP "$pid"
	sleep 1
	new_records 2
	[ "$NEW_COUNT" -eq 2 ] || { kill "$pid"; fail "$NEW_COUNT requests after SIGHUP, want 2"; }
	# utime + stime, in clock ticks (100 a second), over 2 s of sleep.
	t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	sleep 2
	t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
	[ $((t1 - t0)) -le 20 ] || { kill "$pid"; fail "update used $((t1 - t0)) ticks in 2 s after SIGHUP: spinning"; }
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	[ "$rc" -eq 0 ] || fail "exit status $rc after SIGTERM, want 0"
}

# A credentials file that is a symbolic link owned by someone else (as root
# runs update for a user who pointed ~/.aws/credentials at /etc/passwd) is
# not followed: exit 1, the target untouched.
t_foreign_symlink() {
	local f=$T/creds target=$T/victim
	[ "$(id -u)" = 0 ] || { skip "needs root to make a link owned by another user"; return; }
	printf 'precious\n' >"$target"
	cp -p "$target" "$T/victim.before"
	ln -s "$target" "$f"
	chown -h nobody "$f"
	export AWS_SHARED_CREDENTIALS_FILE=$f
	run_rasign update --once "${UPD_ARGS[@]}" --endpoint "$EP_URL" --profile s
	assert_failure 1 'symbolic link that is not yours'
	cmp "$target" "$T/victim.before" || fail "the link's target was changed"
}

# ---------------------------------------------------------------- the run

run_test "update --help prints usage to stdout" t_help
run_test "--once is update's alone" t_once_only_for_update
run_test "--once: new file 0600 in new directories 0700" t_new_file
run_test "--once: \$HOME/.aws/credentials by default" t_home_default
run_test "--once: AWS_SHARED_CREDENTIALS_FILE without HOME" t_no_home
run_test "50 other profiles kept, target in the middle" t_preserve mid nl
run_test "50 other profiles kept, target last" t_preserve last nl
run_test "50 other profiles kept, target last, no final newline" t_preserve last nonl
run_test "403: exit 7, file byte-identical" t_fail_403
run_test "wrong key: exit 3, file byte-identical" t_fail_wrong_key
run_test "/dev/null is refused" t_refuse_dev_null
run_test "8 concurrent writers lose nothing" t_concurrent
run_test "long-running: one request, sleeps, SIGTERM exits 0" t_daemon
run_test "long-running: failed refresh retried in 5 s, SIGINT exits 0" t_daemon_retry
run_test "long-running: SIGHUP renews at once and does not spin" t_daemon_sighup
run_test "a symbolic link that is not ours is not followed" t_foreign_symlink
