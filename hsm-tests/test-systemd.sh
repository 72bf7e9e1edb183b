#!/bin/bash
# serve and update as systemd services, without systemd as init: the
# sd_notify protocol read from a NOTIFY_SOCKET this test listens on, and
# socket activation through systemd-socket-activate, both against the local
# endpoint (and the AWS CLI for the activated serve).
#
# Run from the repo root: bash hsm-tests/test-systemd.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool systemd-socket-activate curl timeout "$PY"
AWS_CLI=/usr/bin/aws
[ -x "$AWS_CLI" ] || skip_all "missing tool: $AWS_CLI (Debian package awscli)"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

PIDS_FILE=$TESTDIR/pids
: >"$PIDS_FILE"
stop_all() {
	local pid
	# shellcheck disable=SC2013 # one number a line
	for pid in $(cat "$PIDS_FILE" 2>/dev/null); do
		kill -TERM "$pid" 2>/dev/null
		sleep 0.2
		kill -9 "$pid" 2>/dev/null
	done
	: >"$PIDS_FILE"
}
on_cleanup stop_all

# The notify socket: every datagram as one JSON line, with the number of
# CreateSession requests the endpoint had recorded when it arrived and, if
# given, whether the credentials file held the profile then.
LISTENER=$TESTDIR/notify.py
cat >"$LISTENER" <<'PYEOF'
import json, os, socket, sys, time
path, log, record, credfile = sys.argv[1:5]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
open(log + ".up", "w").close()
def count(p):
    try:
        with open(p) as f:
            return sum(1 for _ in f)
    except OSError:
        return 0
while True:
    data = s.recv(4096).decode()
    ready_file = False
    if credfile != "-":
        try:
            ready_file = "[default]" in open(credfile).read()
        except OSError:
            pass
    with open(log, "a") as f:
        f.write(json.dumps({"msg": data, "records": count(record),
                            "file": ready_file, "t": time.time()}) + "\n")
PYEOF

# start_listener [CREDFILE]: NOTIFY at $T/notify, messages in $T/notify.log.
start_listener() {
	local _
	rm -f "$T/notify" "$T/notify.log" "$T/notify.log.up"
	"$PY" "$LISTENER" "$T/notify" "$T/notify.log" "$EP_RECORD" "${1:--}" &
	echo $! >>"$PIDS_FILE"
	for _ in $(seq 50); do
		[ -e "$T/notify.log.up" ] && return 0
		sleep 0.1
	done
	fail "the notify listener did not start"
}

# msg_index REGEX: the line number (1-based) of the first message matching.
msg_index() {
	grep -n -E "$1" "$T/notify.log" 2>/dev/null | head -1 | cut -d: -f1
}

wait_msg() {
	local _
	for _ in $(seq 100); do
		[ -n "$(msg_index "$1")" ] && return 0
		sleep 0.1
	done
	fail "no notify message /$1/ in 10 s: $(cat "$T/notify.log" 2>/dev/null)"
}

cred_args() {
	echo --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
		--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
}

# READY=1 only once the first credentials are in hand: the endpoint has
# recorded the CreateSession before the message, and a GET at once gets them.
t_serve_notify() {
	local port line
	start_listener
	# shellcheck disable=SC2046 # the words of cred_args
	NOTIFY_SOCKET=$T/notify "$RASIGN" serve $(cred_args) --port 0 \
		</dev/null >/dev/null 2>"$T/serve.err" &
	local pid=$!
	echo "$pid" >>"$PIDS_FILE"
	wait_msg '"READY=1'
	line=$(sed -n "$(msg_index '"READY=1')p" "$T/notify.log")
	echo "$line"
	[ "$("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["records"])' "$line")" -ge 1 ] ||
		fail "READY=1 came before any CreateSession"
	echo "$line" | grep -Eq 'STATUS=credentials valid until [0-9-]{10}T[0-9:]{8}Z, next refresh at [0-9-]{10}T' ||
		fail "no STATUS with the expiry: $line"
	port=$(unstamp "$T/serve.err" | sed -n 's/^Local server started on port: \([0-9]*\)$/\1/p')
	curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
		"http://127.0.0.1:$port/latest/api/token" >"$T/tok" || fail "no IMDS token"
	curl -sf -H "X-aws-ec2-metadata-token: $(cat "$T/tok")" \
		"http://127.0.0.1:$port/latest/meta-data/iam/security-credentials/${ROLE_ARN##*/}" \
		>"$T/creds" || fail "no credentials right after READY=1"
	grep -q '"AccessKeyId"' "$T/creds" || fail "not a credentials document: $(cat "$T/creds")"

	# SIGHUP: RELOADING=1 (with MONOTONIC_USEC), then READY=1 again.
	kill -HUP "$pid"
	wait_msg 'RELOADING=1'
	msg_index 'RELOADING=1' >/dev/null
	grep 'RELOADING=1' "$T/notify.log" | grep -q 'MONOTONIC_USEC=[0-9]' ||
		fail "RELOADING=1 without MONOTONIC_USEC"
	local _ n
	for _ in $(seq 100); do
		n=$(grep -c '"READY=1' "$T/notify.log")
		[ "$n" -ge 2 ] && break
		sleep 0.1
	done
	[ "$n" -ge 2 ] || fail "no READY=1 after the reload: $(cat "$T/notify.log")"
	[ "$(grep -n '"READY=1' "$T/notify.log" | tail -1 | cut -d: -f1)" -gt "$(msg_index 'RELOADING=1')" ] ||
		fail "READY=1 does not follow RELOADING=1"

	# SIGTERM: STOPPING=1, exit 0.
	kill -TERM "$pid"
	wait "$pid"
	[ $? = 0 ] || fail "serve exited non-zero on SIGTERM"
	wait_msg 'STOPPING=1'
}

# No credentials at the start: never READY=1, and the documented exit.
t_serve_not_ready_on_failure() {
	start_listener
	set_faults "status 403" "status 403" "status 403"
	# shellcheck disable=SC2046 # the words of cred_args
	NOTIFY_SOCKET=$T/notify timeout 30 "$RASIGN" serve $(cred_args) --port 0 \
		</dev/null >/dev/null 2>"$T/serve.err"
	local rc=$?
	set_faults
	[ "$rc" = 7 ] || fail "exit $rc, want 7: $(cat "$T/serve.err")"
	sleep 0.3
	grep -q 'READY=1' "$T/notify.log" 2>/dev/null && fail "READY=1 without credentials"
	return 0
}

# update: READY=1 only once the profile is in the credentials file.
t_update_notify() {
	start_listener "$T/credentials"
	# shellcheck disable=SC2046 # the words of cred_args
	NOTIFY_SOCKET=$T/notify AWS_SHARED_CREDENTIALS_FILE=$T/credentials \
		"$RASIGN" update $(cred_args) </dev/null >/dev/null 2>"$T/update.err" &
	local pid=$!
	echo "$pid" >>"$PIDS_FILE"
	wait_msg '"READY=1'
	sed -n "$(msg_index '"READY=1')p" "$T/notify.log" | grep -q '"file": true' ||
		fail "READY=1 before the credentials file held the profile: $(cat "$T/notify.log")"
	kill -TERM "$pid"
	wait "$pid"
	wait_msg 'STOPPING=1'
}

# update retries a failed start itself: READY=1 still comes (a unit's start
# must not time out while the network is down), with a STATUS that says so.
t_update_failing_start() {
	start_listener "$T/credentials"
	set_faults "status 500" "status 500" "status 500"
	# shellcheck disable=SC2046 # the words of cred_args
	NOTIFY_SOCKET=$T/notify AWS_SHARED_CREDENTIALS_FILE=$T/credentials \
		"$RASIGN" update $(cred_args) </dev/null >/dev/null 2>"$T/update.err" &
	local pid=$!
	echo "$pid" >>"$PIDS_FILE"
	wait_msg 'STATUS=refresh failed, next try at [0-9-]{10}T'
	set_faults
	[ -n "$(msg_index '"READY=1')" ] || fail "no READY=1: $(cat "$T/notify.log")"
	grep -q 'refresh failed, retrying in 5 s' "$T/update.err" ||
		fail "no 'refresh failed' line: $(cat "$T/update.err")"
	kill -TERM "$pid"
	wait "$pid"
}

free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Socket activation: systemd-socket-activate listens, starts serve at the
# first connection and hands it the socket; the AWS CLI then gets the
# credentials through both the IMDS and the ECS paths.
t_socket_activation() {
	local port tok _ got
	port=$(free_port)
	# shellcheck disable=SC2046 # the words of cred_args
	systemd-socket-activate -E AWS_CA_BUNDLE -l "127.0.0.1:$port" "$RASIGN" serve $(cred_args) \
		</dev/null >/dev/null 2>"$T/act.err" &
	local pid=$!
	echo "$pid" >>"$PIDS_FILE"
	sleep 0.3
	# The first connection starts serve; it waits in the backlog meanwhile.
	curl -s --max-time 20 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \
		"http://127.0.0.1:$port/latest/api/token" >"$T/tok" ||
		fail "no answer on the activated socket: $(cat "$T/act.err")"
	[ "$(wc -c <"$T/tok")" -eq 100 ] || fail "not an IMDS token: $(cat "$T/tok")"
	# The lines come once the first credentials are in (tokens need none).
	for _ in $(seq 100); do
		grep -q 'AUTHORIZATION_TOKEN=' "$T/act.err" && break
		sleep 0.1
	done
	unstamp "$T/act.err" | grep -qx "Local server started on port: $port" ||
		fail "the start-up lines do not name the activated port: $(cat "$T/act.err")"
	tok=$(unstamp "$T/act.err" | sed -n 's/^export AWS_CONTAINER_AUTHORIZATION_TOKEN=//p')
	[ -n "$tok" ] || fail "no ECS token line"
	mkdir -p "$T/home"
	: >"$T/empty"
	for how in imds ecs; do
		if [ "$how" = imds ]; then
			set -- AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$port/"
		else
			set -- AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$port/ecs/credentials" \
				AWS_CONTAINER_AUTHORIZATION_TOKEN="$tok"
		fi
		env -i PATH=/usr/bin:/bin HOME="$T/home" LANG=C.UTF-8 \
			AWS_CONFIG_FILE="$T/empty" AWS_SHARED_CREDENTIALS_FILE="$T/empty" \
			"$@" timeout 60 "$AWS_CLI" configure export-credentials \
			--format process >"$T/aws.out" 2>"$T/aws.err" ||
			fail "aws ($how) failed: $(cat "$T/aws.err")"
		got=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["AccessKeyId"])' "$T/aws.out")
		[ "$got" = "$($CHECK get "$EP_RECORD" -1 access_key_id)" ] ||
			fail "aws ($how) got $got, not what the endpoint issued"
	done
	kill -TERM "$pid"
	wait "$pid"
	[ $? = 0 ] || fail "serve exited non-zero on SIGTERM: $(cat "$T/act.err")"
}

# Sockets serve cannot use: one line, exit 2, and nothing left listening.
t_activation_refused() {
	local want=$1 port port2
	shift
	port=$(free_port)
	port2=$(free_port)
	local listen=(-l "127.0.0.1:$port")
	case $want in
	two) listen+=(-l "127.0.0.1:$port2") ;;
	unix) listen=(-l "$T/serve.sock") ;;
	esac
	# shellcheck disable=SC2046 # the words of cred_args
	systemd-socket-activate "${listen[@]}" "$RASIGN" serve $(cred_args) \
		</dev/null >"$T/act.out" 2>"$T/act.err" &
	local pid=$!
	echo "$pid" >>"$PIDS_FILE"
	sleep 0.3
	if [ "$want" = unix ]; then
		curl -s --max-time 10 --unix-socket "$T/serve.sock" http://x/ >/dev/null
	else
		curl -s --max-time 10 "http://127.0.0.1:$port/" >/dev/null
	fi
	timeout 10 tail --pid="$pid" -f /dev/null
	wait "$pid"
	local rc=$?
	[ "$rc" = 2 ] || fail "exit $rc, want 2: $(cat "$T/act.err")"
	[ ! -s "$T/act.out" ] || fail "stdout is not empty"
	case $want in
	two) grep -q 'systemd passed 2 sockets, serve takes one' "$T/act.err" ;;
	unix) grep -q 'not a listening TCP socket' "$T/act.err" ;;
	esac || fail "not the expected line: $(cat "$T/act.err")"
	# systemd-socket-activate's own lines aside, one line.
	grep -Ev '^(Listening on|Communication attempt|Execing) ' "$T/act.err" >"$T/ours"
	[ "$(wc -l <"$T/ours")" = 1 ] || fail "not one line: $(cat "$T/ours")"
}

run_test "serve: READY=1 only after the first credentials; RELOADING/READY on SIGHUP; STOPPING" t_serve_notify
run_test "serve: no READY=1 when the first CreateSession fails (exit 7)" t_serve_not_ready_on_failure
run_test "update: READY=1 only once the profile is written" t_update_notify
run_test "update: a failed start is READY=1 with a failing STATUS" t_update_failing_start
run_test "socket-activated serve answers the AWS CLI (IMDS and ECS)" t_socket_activation
run_test "two sockets passed: exit 2, one line" t_activation_refused two
run_test "a unix socket passed: exit 2, one line" t_activation_refused unix
