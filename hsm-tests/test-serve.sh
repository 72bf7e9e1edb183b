#!/bin/bash
# End-to-end tests of `rasign serve`: the local IMDSv2 and ECS credential
# endpoints, read by the real AWS CLI and by raw HTTP (curl), against the
# local CreateSession endpoint (build/ra-endpoint), which records every
# request it verified.
#
# Every serve listens on --port 0; its port is read from its start-up lines
# on stderr. Each one is stopped by the test that started it (an EXIT trap in
# the test's subshell) and, whatever happens, by the cleanup hook below.
#
# Run from the repo root: bash hsm-tests/test-serve.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl timeout curl base64 "$PY"
# The AWS CLI v2 of Debian's awscli package, explicitly: not whatever `aws`
# comes first on PATH.
AWS_CLI=/usr/bin/aws
[ -x "$AWS_CLI" ] || skip_all "missing tool: $AWS_CLI (Debian package awscli)"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

ROLE_NAME=${ROLE_ARN##*/}
SERVE_PIDS_FILE=$TESTDIR/serve-pids
: >"$SERVE_PIDS_FILE"

# Stops every serve (and fake endpoint) a test may have left running.
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
		wait "$pid" 2>/dev/null
	done
	: >"$SERVE_PIDS_FILE"
}
on_cleanup stop_tracked

# ------------------------------------------------------------ python helper

HELPER=$TESTDIR/serve_helper.py
cat >"$HELPER" <<'PYEOF'
"""Checks for test-serve.sh that need JSON, threads or a TLS server."""
import datetime
import http.client
import http.server
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

IMDS_KEYS = ["AccessKeyId", "SecretAccessKey", "Token", "Code", "Type",
             "Expiration", "LastUpdated"]
ECS_KEYS = ["AccessKeyId", "SecretAccessKey", "Token", "Expiration"]
ZULU = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def parse_zulu(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def check_doc(raw, kind):
    """The credentials document, byte-exact shape; returns it or raises."""
    keys = IMDS_KEYS if kind == "imds" else ECS_KEYS
    text = raw.decode("utf-8")
    if not text.endswith("}\n") or text.endswith("\n\n"):
        raise ValueError("body does not end in exactly one newline: %r" % text[-40:])
    pairs = json.loads(text, object_pairs_hook=lambda p: p)
    got = [k for k, _ in pairs]
    if got != keys:
        raise ValueError("keys %s, want %s" % (got, keys))
    d = dict(pairs)
    if text != json.dumps(d, separators=(",", ":")) + "\n":
        raise ValueError("not compact JSON: %r" % text[:200])
    for k in keys:
        if not isinstance(d[k], str) or not d[k]:
            raise ValueError("%s is empty or not a string" % k)
    if not d["AccessKeyId"].startswith("ASIA"):
        raise ValueError("AccessKeyId %r" % d["AccessKeyId"])
    if not ZULU.fullmatch(d["Expiration"]):
        raise ValueError("Expiration %r is not YYYY-MM-DDTHH:MM:SSZ" % d["Expiration"])
    if parse_zulu(d["Expiration"]) <= time.time() - 1:
        raise ValueError("Expiration %s is in the past, with a 200" % d["Expiration"])
    if kind == "imds":
        if d["Code"] != "Success" or d["Type"] != "AWS-HMAC":
            raise ValueError("Code %r Type %r" % (d["Code"], d["Type"]))
        if not RFC3339.fullmatch(d["LastUpdated"]):
            raise ValueError("LastUpdated %r is not RFC 3339" % d["LastUpdated"])
    return d


def cmd_doc(path, kind, field="AccessKeyId"):
    """check a document file; print one of its fields."""
    try:
        d = check_doc(open(path, "rb").read(), kind)
    except (ValueError, UnicodeDecodeError) as e:
        print("%s document: %s" % (kind, e), file=sys.stderr)
        return 1
    print(d[field])
    return 0


def cmd_aws_export(path):
    """AWS CLI `configure export-credentials --format process` output."""
    d = json.load(open(path))
    if d.get("Version") != 1:
        print("Version %r" % d.get("Version"), file=sys.stderr)
        return 1
    print(d["AccessKeyId"], d["SecretAccessKey"], d["SessionToken"])
    return 0


def get(port, method, path, headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, headers=headers)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def cmd_hammer(port, role, ecs_token, threads, n):
    """THREADS clients, N credential GETs each, half IMDS, half ECS: every
    answer 200 and the same credentials."""
    port, threads, n = int(port), int(threads), int(n)
    want = {}
    errors = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def client(i):
        try:
            headers, kind = {"Authorization": ecs_token}, "ecs"
            path = "/ecs/credentials"
            if i % 2 == 0:
                st, tok = get(port, "PUT", "/latest/api/token",
                              {"X-aws-ec2-metadata-token-ttl-seconds": "600"})
                if st != 200:
                    raise ValueError("token PUT answered %d" % st)
                headers = {"X-aws-ec2-metadata-token": tok.decode()}
                kind = "imds"
                path = "/latest/meta-data/iam/security-credentials/" + role
            start.wait()
            for _ in range(n):
                st, body = get(port, "GET", path, headers)
                if st != 200:
                    raise ValueError("%s GET answered %d: %r" % (kind, st, body[:100]))
                d = check_doc(body, kind)
                key = tuple(d[k] for k in ECS_KEYS)
                with lock:
                    want.setdefault("creds", key)
                    if want["creds"] != key:
                        raise ValueError("inconsistent credentials: %s vs %s"
                                         % (key[0], want["creds"][0]))
        except Exception as e:  # noqa: BLE001 - reported, then counted
            with lock:
                errors.append("client %d: %s" % (i, e))

    ts = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for e in errors:
        print(e, file=sys.stderr)
    if errors:
        return 1
    print(want["creds"][0])
    return 0


def cmd_free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def cmd_fake_endpoint(cert, key, port_file, count_file, expires_in):
    """A CreateSession stand-in whose first answer holds credentials that
    expire in EXPIRES_IN seconds, and every later one is a 500. (ra-endpoint
    cannot issue credentials shorter than the service's 900 s minimum.)"""
    count = [0]
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            with lock:
                count[0] += 1
                k = count[0]
                with open(count_file + ".tmp", "w") as f:
                    f.write("%d\n" % k)
                os.rename(count_file + ".tmp", count_file)
            if k == 1:
                exp = time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                    time.gmtime(time.time() + float(expires_in)))
                body = json.dumps({"credentialSet": [{"credentials": {
                    "accessKeyId": "ASIAFAKESHORTLIVED01",
                    "expiration": exp,
                    "secretAccessKey": "S" * 40,
                    "sessionToken": "T" * 200}}],
                    "subjectArn": "arn:aws:rolesanywhere:us-east-1:"
                                  "123456789012:subject/fake"}).encode()
                status = 201
            else:
                body = b'{"message":"injected failure"}'
                status = 500
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    with open(port_file + ".tmp", "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(port_file + ".tmp", port_file)
    srv.serve_forever()
    return 0


if __name__ == "__main__":
    cmds = {"doc": cmd_doc, "aws-export": cmd_aws_export, "hammer": cmd_hammer,
            "free-port": cmd_free_port, "fake-endpoint": cmd_fake_endpoint}
    sys.exit(cmds[sys.argv[1]](*sys.argv[2:]))
PYEOF
HELP="$PY $HELPER"

# ------------------------------------------------------------ helpers

# start_serve [serve args]: rasign serve on a free port against EP (unless
# the args name another --endpoint), with the ec-p256 leaf unless they name
# another certificate. Waits for its start-up lines; sets SERVE_PID,
# SERVE_PORT, SERVE_URL, SERVE_ERR, ECS_TOKEN, SERVE_AKID (the key id of the
# CreateSession it made at start) and SERVE_T0 (when it was started).
start_serve() {
	local a cert=1 endpoint=1 _
	for a in "$@"; do
		case $a in
		--certificate|--certificate=*) cert= ;;
		--endpoint|--endpoint=*) endpoint= ;;
		esac
	done
	SERVE_ERR=$T/serve.err
	REC_BEFORE=$(rec_count)
	SERVE_T0=$(date +%s.%N)
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	$CHECKER "$RASIGN" serve --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
		${endpoint:+--endpoint "$EP_URL"} \
		${cert:+--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" --intermediates "$INTERMEDIATES"} \
		--port 0 "$@" </dev/null >"$T/serve.out" 2>"$SERVE_ERR" &
	SERVE_PID=$!
	echo "$SERVE_PID" >>"$SERVE_PIDS_FILE"
	# In a test's subshell: stop it on every way out of the test.
	[ "$BASH_SUBSHELL" -gt 0 ] && trap stop_serve EXIT
	for _ in $(seq 200); do
		grep -Eq "^${STAMP_RE}export AWS_CONTAINER_AUTHORIZATION_TOKEN" "$SERVE_ERR" && break
		kill -0 "$SERVE_PID" 2>/dev/null ||
			fail "serve exited at start: $(cat "$SERVE_ERR")"
		sleep 0.05
	done
	SERVE_PORT=$(unstamp "$SERVE_ERR" | sed -n 's/^Local server started on port: \([0-9]*\)$/\1/p')
	[ "${SERVE_PORT:-0}" -gt 0 ] ||
		fail "no 'Local server started on port: N' line: $(cat "$SERVE_ERR")"
	SERVE_URL=http://127.0.0.1:$SERVE_PORT
	ECS_TOKEN=$(unstamp "$SERVE_ERR" | sed -n 's/^export AWS_CONTAINER_AUTHORIZATION_TOKEN=//p')
	SERVE_AKID=
	if [ -n "$endpoint" ]; then
		new_records 1
		SERVE_AKID=$($CHECK get "$T/new.jsonl" -1 access_key_id)
	fi
}

# stop_serve: SIGTERM, then SIGKILL after 3 s; sets SERVE_RC.
stop_serve() {
	local _
	[ -n "${SERVE_PID:-}" ] || return 0
	kill -TERM "$SERVE_PID" 2>/dev/null
	for _ in $(seq 30); do
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$SERVE_PID" 2>/dev/null
	wait "$SERVE_PID" 2>/dev/null
	SERVE_RC=$?
	sed -i "/^$SERVE_PID\$/d" "$SERVE_PIDS_FILE"
	SERVE_PID=
}

# req METHOD PATH [curl args]: one request to the current serve. Sets
# HTTP_STATUS; the body is in $T/body, the headers in $T/headers.
req() {
	local m=$1 p=$2
	shift 2
	HTTP_STATUS=$(curl -sS --noproxy '*' -m 10 -X "$m" -o "$T/body" \
		-D "$T/headers" -w '%{http_code}' "$@" "$SERVE_URL$p") ||
		fail "curl $m $p failed"
}

# expect STATUS [BODY]: the last answer, the body byte for byte.
expect() {
	[ "$HTTP_STATUS" = "$1" ] ||
		fail "HTTP $HTTP_STATUS, want $1; body: $(head -c 300 "$T/body")"
	if [ $# -ge 2 ] && ! printf '%s' "$2" | cmp -s - "$T/body"; then
		fail "body '$(head -c 300 "$T/body")', want '$2'"
	fi
	return 0
}

# header NAME: a header of the last answer (name case-insensitive).
header() {
	sed -n "s/^$1: //Ip" "$T/headers" | tr -d '\r'
}

TTL_H=X-aws-ec2-metadata-token-ttl-seconds
TOKEN_H=X-aws-ec2-metadata-token
CREDS_PATH=/latest/meta-data/iam/security-credentials

# imds_token [TTL]: sets TOKEN.
imds_token() {
	if [ $# -gt 0 ]; then
		req PUT /latest/api/token -H "$TTL_H: $1"
	else
		req PUT /latest/api/token
	fi
	expect 200
	TOKEN=$(cat "$T/body")
}

# imds_creds: GET the role's credentials with TOKEN; prints the AccessKeyId
# of a well-formed 200 document (and fails otherwise).
imds_creds() {
	req GET "$CREDS_PATH/$ROLE_NAME" -H "$TOKEN_H: $TOKEN"
	expect 200
	$HELP doc "$T/body" imds || fail "bad IMDS credentials document"
}

ecs_creds() {
	req GET /ecs/credentials -H "Authorization: $ECS_TOKEN"
	expect 200
	$HELP doc "$T/body" ecs || fail "bad ECS credentials document"
}

# x509_b64 CERT: what X-Amz-X509 must carry for CERT.
x509_b64() {
	openssl x509 -in "$1" -outform DER | base64 -w 0
}

# rec_field N PATH: a field of record N (1-based) of the endpoint, e.g.
# headers.x-amz-x509.
rec_field() {
	sed -n "${1}p" "$EP_RECORD" >"$T/rec.json"
	$CHECK get "$T/rec.json" 0 "$2"
}

now() {
	date +%s.%N
}

# elapsed SINCE: seconds (float) from SINCE to now.
elapsed() {
	$PY -c 'import sys; print("%.1f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$1" "$(now)"
}

# ge A B: A >= B, floats.
ge() {
	$PY -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' "$1" "$2"
}

# aws_cli VAR=VALUE...: /usr/bin/aws configure export-credentials with
# nothing of ours but the given variables; the AccessKeyId, secret and
# token it got are in AWS_GOT.
aws_cli() {
	mkdir -p "$T/home"
	: >"$T/empty"
	env -i PATH=/usr/bin:/bin HOME="$T/home" LANG=C.UTF-8 \
		AWS_CONFIG_FILE="$T/empty" AWS_SHARED_CREDENTIALS_FILE="$T/empty" \
		"$@" timeout 60 "$AWS_CLI" configure export-credentials \
		--format process >"$T/aws.out" 2>"$T/aws.err" ||
		fail "aws failed: $(cat "$T/aws.err")"
	AWS_GOT=$($HELP aws-export "$T/aws.out") || fail "aws output: $(cat "$T/aws.out")"
}

# ------------------------------------------------------------ the shared serve

# One serve for the tests that do not change its state; started at the top
# level, so T is a directory of its own.
T=$TESTDIR/shared
mkdir -p "$T"
start_serve
SHARED_PORT=$SERVE_PORT SHARED_URL=$SERVE_URL
SHARED_ERR=$SERVE_ERR SHARED_TOKEN=$ECS_TOKEN SHARED_AKID=$SERVE_AKID
SERVE_PID=

use_shared() {
	SERVE_PORT=$SHARED_PORT SERVE_URL=$SHARED_URL SERVE_ERR=$SHARED_ERR
	ECS_TOKEN=$SHARED_TOKEN SERVE_AKID=$SHARED_AKID
}

# ------------------------------------------------------------ 0. start-up

t_startup_lines() {
	use_shared
	local p=$SERVE_PORT
	unstamp "$SERVE_ERR" >"$T/lines"
	grep -qx "Local server started on port: $p" "$T/lines" || fail "no port line"
	grep -qx "export AWS_EC2_METADATA_SERVICE_ENDPOINT=http://127.0.0.1:$p/" "$T/lines" ||
		fail "no AWS_EC2_METADATA_SERVICE_ENDPOINT line"
	grep -qx "export AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:$p/ecs/credentials" \
		"$T/lines" || fail "no AWS_CONTAINER_CREDENTIALS_FULL_URI line"
	grep -Eqx 'export AWS_CONTAINER_AUTHORIZATION_TOKEN=[0-9a-f]{64}' "$T/lines" ||
		fail "no AWS_CONTAINER_AUTHORIZATION_TOKEN=<64 hex> line"
	[ -z "$SERVE_AKID" ] && fail "the endpoint issued no key id at start"
	return 0
}

# Every line serve writes starts with the time, as Go's log does, and
# today's: a log without times cannot be matched with a failure.
t_stamped_lines() {
	use_shared
	local stamp today
	[ -s "$SERVE_ERR" ] || fail "serve wrote nothing"
	grep -Evq '^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} ' "$SERVE_ERR" &&
		fail "a line without a time stamp: $(grep -Ev '^[0-9]{4}/' "$SERVE_ERR" | head -1)"
	stamp=$(head -1 "$SERVE_ERR" | cut -c1-10)
	today=$(date +%Y/%m/%d)
	[ "$stamp" = "$today" ] || [ "$stamp" = "$(date -d yesterday +%Y/%m/%d)" ] ||
		fail "stamped $stamp, today is $today"
}

# Under systemd (JOURNAL_STREAM names stderr), the journal stamps lines:
# serve does not stamp them twice. A JOURNAL_STREAM that is not stderr's
# (inherited, stderr redirected since) changes nothing.
t_journal_unstamped() {
	: >"$T/serve.err"
	JOURNAL_STREAM=$(stat -c '%d:%i' "$T/serve.err") start_serve
	stop_serve
	grep -q '^Local server started on port: ' "$SERVE_ERR" ||
		fail "stamped although stderr is the journal: $(head -1 "$SERVE_ERR")"
	JOURNAL_STREAM=1:1 start_serve
	stop_serve
	grep -Eq '^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8} Local server started' "$SERVE_ERR" ||
		fail "not stamped with a JOURNAL_STREAM that is not stderr: $(head -1 "$SERVE_ERR")"
}

# ------------------------------------------------------------ 1. the AWS CLI

t_aws_imds() {
	use_shared
	aws_cli AWS_EC2_METADATA_SERVICE_ENDPOINT="$SERVE_URL/"
	# shellcheck disable=SC2086 # three words
	set -- $AWS_GOT
	[ "$1" = "$SERVE_AKID" ] || fail "aws got $1, the endpoint issued $SERVE_AKID"
	# The secret and token are the ones serve hands out too.
	imds_token
	imds_creds >/dev/null
	[ "$($HELP doc "$T/body" imds SecretAccessKey)" = "$2" ] || fail "secret differs"
	[ "$($HELP doc "$T/body" imds Token)" = "$3" ] || fail "token differs"
}

t_aws_ecs() {
	use_shared
	aws_cli AWS_CONTAINER_CREDENTIALS_FULL_URI="$SERVE_URL/ecs/credentials" \
		AWS_CONTAINER_AUTHORIZATION_TOKEN="$ECS_TOKEN"
	# shellcheck disable=SC2086 # three words
	set -- $AWS_GOT
	[ "$1" = "$SERVE_AKID" ] || fail "aws got $1, the endpoint issued $SERVE_AKID"
	ecs_creds >/dev/null
	[ "$($HELP doc "$T/body" ecs SecretAccessKey)" = "$2" ] || fail "secret differs"
	[ "$($HELP doc "$T/body" ecs Token)" = "$3" ] || fail "token differs"
}

# Debian 12's awscli (2.9.19) predates AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE;
# where its botocore lacks it, the client reads the file as SDKs do (curl).
AWS_HAS_TOKEN_FILE=
if grep -rqs AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
	/usr/lib/python3/dist-packages/awscli/botocore/credentials.py; then
	AWS_HAS_TOKEN_FILE=1
fi

t_ecs_token_file() {
	local tok=tokenfromfile-0123456789abcdef got
	printf '%s' "$tok" >"$T/ecs-token"
	chmod 600 "$T/ecs-token"
	start_serve --ecs-token-file "$T/ecs-token"
	unstamp "$SERVE_ERR" >"$T/lines"
	grep -qx "export AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=$T/ecs-token" "$T/lines" ||
		fail "no AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=FILE line: $(cat "$SERVE_ERR")"
	# Older clients ignore _FILE: the banner says so, and what they need.
	grep -qxF "# AWS CLIs and SDKs from before late 2023 ignore AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE; for them: export AWS_CONTAINER_AUTHORIZATION_TOKEN=\"\$(cat $T/ecs-token)\"" \
		"$T/lines" || fail "no note for clients without _TOKEN_FILE: $(cat "$SERVE_ERR")"
	grep -q '^export AWS_CONTAINER_AUTHORIZATION_TOKEN=' "$T/lines" &&
		fail "a generated token is printed although --ecs-token-file is given"
	if [ -n "$AWS_HAS_TOKEN_FILE" ]; then
		aws_cli AWS_CONTAINER_CREDENTIALS_FULL_URI="$SERVE_URL/ecs/credentials" \
			AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE="$T/ecs-token"
		# shellcheck disable=SC2086 # three words
		set -- $AWS_GOT
		got=$1
	else
		req GET /ecs/credentials -H "Authorization: $(cat "$T/ecs-token")"
		expect 200
		got=$($HELP doc "$T/body" ecs) || fail "bad ECS document"
	fi
	[ "$got" = "$SERVE_AKID" ] || fail "got $got, the endpoint issued $SERVE_AKID"
	req GET /ecs/credentials -H "Authorization: ${tok}x"
	expect 401
}

# ------------------------------------------------------------ 2. IMDS details

t_token_put() {
	use_shared
	imds_token
	[ "$(header "$TTL_H")" = 21600 ] || fail "TTL header '$(header "$TTL_H")', want 21600"
	printf '%s' "$TOKEN" | grep -Eqx '[A-Za-z0-9+/]{100}' ||
		fail "token '$TOKEN' is not 100 base64 characters"
	header Content-Type | grep -qi '^text/plain' || fail "Content-Type $(header Content-Type)"
	imds_token 1
	[ "$(header "$TTL_H")" = 1 ] || fail "TTL header '$(header "$TTL_H")', want 1"
	imds_token 21600
	[ "$(header "$TTL_H")" = 21600 ] || fail "TTL header '$(header "$TTL_H")', want 21600"
	local t1=$TOKEN
	imds_token
	[ "$TOKEN" != "$t1" ] || fail "two PUTs gave the same token"
}

t_token_bad_ttl() {
	use_shared
	local ttl
	for ttl in 0 21601 abc -5 1.5 99999999999999999999; do
		req PUT /latest/api/token -H "$TTL_H: $ttl"
		expect 400 "invalid token TTL"
	done
}

t_token_forwarded() {
	use_shared
	req PUT /latest/api/token -H "X-Forwarded-For: 203.0.113.7"
	expect 400 "unable to process requests with X-Forwarded-For header"
}

t_methods() {
	use_shared
	imds_token
	local m
	for m in GET POST DELETE; do
		req "$m" /latest/api/token
		expect 405
	done
	for m in PUT POST DELETE; do
		req "$m" "$CREDS_PATH" -H "$TOKEN_H: $TOKEN"
		expect 405
		req "$m" "$CREDS_PATH/$ROLE_NAME" -H "$TOKEN_H: $TOKEN"
		expect 405
		req "$m" /ecs/credentials -H "Authorization: $ECS_TOKEN"
		expect 405
	done
}

t_role_name() {
	use_shared
	local p ttl
	imds_token 600
	for p in "$CREDS_PATH" "$CREDS_PATH/"; do
		req GET "$p" -H "$TOKEN_H: $TOKEN"
		expect 200 "$ROLE_NAME"
		ttl=$(header "$TTL_H")
		[ -n "$ttl" ] && [ "$ttl" -ge 590 ] && [ "$ttl" -le 600 ] ||
			fail "$p: TTL header '$ttl', want the token's 600 s left"
	done
}

t_creds_imds() {
	use_shared
	local p akid ttl
	imds_token 600
	for p in "$CREDS_PATH/$ROLE_NAME" "$CREDS_PATH/$ROLE_NAME/"; do
		req GET "$p" -H "$TOKEN_H: $TOKEN"
		expect 200
		akid=$($HELP doc "$T/body" imds) || fail "$p: bad document"
		[ "$akid" = "$SERVE_AKID" ] || fail "$p: AccessKeyId $akid, issued $SERVE_AKID"
		ttl=$(header "$TTL_H")
		[ -n "$ttl" ] && [ "$ttl" -ge 590 ] && [ "$ttl" -le 600 ] ||
			fail "$p: TTL header '$ttl' on the credentials, want the token's 600 s left"
		header Content-Type | grep -qi '^text/plain' || fail "Content-Type $(header Content-Type)"
	done
}

t_creds_other_role() {
	use_shared
	local p
	imds_token
	for p in "$CREDS_PATH/other-role" "$CREDS_PATH/${ROLE_NAME}x" \
		"$CREDS_PATH/$ROLE_NAME/extra" "$CREDS_PATH/other-role/" \
		/latest/meta-data/ /; do
		req GET "$p" -H "$TOKEN_H: $TOKEN"
		expect 404
		grep -q '"AccessKeyId"' "$T/body" && fail "$p: credentials in a 404"
	done
	return 0
}

t_no_token() {
	use_shared
	local p
	for p in "$CREDS_PATH" "$CREDS_PATH/$ROLE_NAME"; do
		req GET "$p"
		expect 401 "no token provided"
	done
}

t_bad_token() {
	use_shared
	local p bogus
	bogus=$(head -c 100 /dev/zero | tr '\0' A)
	imds_token
	for p in "$CREDS_PATH" "$CREDS_PATH/$ROLE_NAME"; do
		req GET "$p" -H "$TOKEN_H: $bogus"
		expect 401 "invalid token provided"
		req GET "$p" -H "$TOKEN_H: ${TOKEN%?}"
		expect 401 "invalid token provided"
		req GET "$p" -H "$TOKEN_H: ${TOKEN}A"
		expect 401 "invalid token provided"
		# The ECS token is not an IMDS token.
		req GET "$p" -H "$TOKEN_H: $ECS_TOKEN"
		expect 401 "invalid token provided"
	done
}

t_expired_token() {
	use_shared
	imds_token 1
	req GET "$CREDS_PATH/$ROLE_NAME" -H "$TOKEN_H: $TOKEN"
	expect 200
	sleep 2.1
	req GET "$CREDS_PATH/$ROLE_NAME" -H "$TOKEN_H: $TOKEN"
	expect 401 "invalid token provided"
	req GET "$CREDS_PATH" -H "$TOKEN_H: $TOKEN"
	expect 401 "invalid token provided"
}

# 257 live tokens: every one stays valid (stateless tokens: nothing to evict).
t_token_cap() {
	local first second last urls=() _
	start_serve
	imds_token 300
	first=$TOKEN
	imds_token 21600
	second=$TOKEN
	for _ in $(seq 255); do urls+=("$SERVE_URL/latest/api/token"); done
	curl -sS --noproxy '*' -m 20 -X PUT -H "$TTL_H: 21600" -w '\n' "${urls[@]}" \
		>"$T/tokens" || fail "curl failed"
	[ "$(grep -Ecx '[A-Za-z0-9+/]{100}' "$T/tokens")" -eq 255 ] || fail "255 PUTs did not give 255 tokens"
	last=$(tail -n 1 "$T/tokens")
	for TOKEN in "$first" "$second" "$last" "$(sed -n 100p "$T/tokens")"; do
		req GET "$CREDS_PATH" -H "$TOKEN_H: $TOKEN"
		expect 200 "$ROLE_NAME"
	done
}

t_ecs() {
	use_shared
	local akid
	akid=$(ecs_creds) || fail "$akid"
	[ "$akid" = "$SERVE_AKID" ] || fail "AccessKeyId $akid, issued $SERVE_AKID"
	req GET /ecs/credentials
	expect 401
	req GET /ecs/credentials -H "Authorization: ${ECS_TOKEN%?}0"
	[ "${ECS_TOKEN: -1}" = 0 ] || expect 401
	req GET /ecs/credentials -H "Authorization: ${ECS_TOKEN}0"
	expect 401
	req GET /ecs/credentials -H "Authorization: Bearer $ECS_TOKEN"
	expect 401
	imds_token
	req GET /ecs/credentials -H "Authorization: $TOKEN"
	expect 401
	grep -q '"AccessKeyId"' "$T/body" && fail "credentials in a 401"
	return 0
}

# ------------------------------------------------------------ 3. refresh

t_refresh() {
	local t0 n=0 akid2 served _
	start_serve --session-duration 900 --refresh-before 897
	t0=$SERVE_T0
	for _ in $(seq 100); do
		[ "$(rec_count)" -ge $((REC_BEFORE + 2)) ] && break
		sleep 0.1
	done
	[ "$(rec_count)" -ge $((REC_BEFORE + 2)) ] || fail "no second CreateSession in 10 s"
	n=$(elapsed "$t0")
	ge "$n" 1.5 || fail "the refresh came after $n s, before the 3 s due"
	ge 8 "$n" || fail "the refresh came after $n s, long after the 3 s due"
	[ "$(rec_field $((REC_BEFORE + 2)) status)" = 201 ] || fail "the refresh was not accepted"
	[ "$(rec_field $((REC_BEFORE + 2)) body)" = '{"durationSeconds":900}' ] ||
		fail "refresh body $(rec_field $((REC_BEFORE + 2)) body)"
	akid2=$(rec_field $((REC_BEFORE + 2)) access_key_id)
	[ "$akid2" != "$SERVE_AKID" ] || fail "the endpoint issued the same key id twice"
	imds_token
	for _ in $(seq 50); do
		served=$(imds_creds) || fail "$served"
		[ "$served" != "$SERVE_AKID" ] && break
		sleep 0.2
	done
	[ "$served" != "$SERVE_AKID" ] || fail "serve still hands out $SERVE_AKID"
	# What it hands out now is a key id the endpoint issued in a refresh.
	tail -n +$((REC_BEFORE + 2)) "$EP_RECORD" | grep -q "\"access_key_id\":\"$served\"" ||
		fail "serve hands out $served, which no refresh issued"
	served=$(ecs_creds) || fail "$served"
	[ "$served" != "$SERVE_AKID" ] || fail "the ECS endpoint still hands out $SERVE_AKID"
}

# ------------------------------------------------------------ 4. failed refresh

t_refresh_failure() {
	local t_fail i faults=() served akid _
	start_serve --session-duration 900 --refresh-before 897
	# Every try of the refresh due in ~3 s fails, and the retries after it.
	for i in $(seq 30); do faults+=("status 500"); done
	set_faults "${faults[@]}"
	for _ in $(seq 100); do
		grep -q 'refresh failed' "$SERVE_ERR" && break
		sleep 0.1
	done
	t_fail=$(now)
	grep -q 'refresh failed' "$SERVE_ERR" || fail "no 'refresh failed' line in 10 s: $(cat "$SERVE_ERR")"
	[ "$(grep -c 'refresh failed' "$SERVE_ERR")" -eq 1 ] || fail "more than one 'refresh failed' line"
	grep -Eq 'refresh failed, retrying in 5 s.*500' "$SERVE_ERR" ||
		fail "the line does not give the 5 s backoff and the 500: $(grep 'refresh failed' "$SERVE_ERR")"
	# The failed refresh made its 3 tries, and nothing since: the backoff
	# (counted at once: a loaded machine may take seconds for the GETs).
	[ "$(rec_count)" -eq $((REC_BEFORE + 4)) ] ||
		fail "$(($(rec_count) - REC_BEFORE - 1)) requests after the first, want 3 (500s)"
	# Still the old credentials, valid, with a 200.
	imds_token
	for _ in 1 2 3; do
		served=$(imds_creds) || fail "$served"
		[ "$served" = "$SERVE_AKID" ] || fail "serve hands out $served, want the old $SERVE_AKID"
		served=$(ecs_creds) || fail "$served"
		[ "$served" = "$SERVE_AKID" ] || fail "ECS hands out $served, want the old $SERVE_AKID"
		sleep 0.5
	done
	for i in 2 3 4; do
		[ "$(rec_field $((REC_BEFORE + i)) status)" = 500 ] || fail "request $i was not a 500"
	done
	# The service is back: the retry, ~5 s after the failure, succeeds.
	: >"$EP_FAULTS"
	for _ in $(seq 100); do
		served=$(imds_creds) || fail "$served"
		[ "$served" != "$SERVE_AKID" ] && break
		sleep 0.1
	done
	[ "$served" != "$SERVE_AKID" ] || fail "no new credentials 10 s after the faults were removed"
	i=$(elapsed "$t_fail")
	ge "$i" 3.5 || fail "new credentials $i s after the failure: no 5 s backoff"
	# The last request is the retry that succeeded (on a loaded machine
	# the GETs above may outlast one backoff, so not always the 5th).
	[ "$(rec_field "$(rec_count)" status)" = 201 ] || fail "the last request was not a success"
	akid=$(rec_field "$(rec_count)" access_key_id)
	[ "$served" = "$akid" ] || fail "serve hands out $served, the retry got $akid"
	grep -Eq "^${STAMP_RE}rasign: refresh succeeded after [0-9]+ failed tr(y|ies); the credentials are valid until [0-9-]{10}T[0-9:]{8}Z\$" \
		"$SERVE_ERR" || fail "no line that the refresh recovered: $(cat "$SERVE_ERR")"
	grep -q 'Secret\|"Token"' "$SERVE_ERR" && fail "stderr mentions secrets"
	return 0
}

# ------------------------------------------------------------ 5. rotation

# rotate CERT KEY: replace the files serve reads, each with one rename.
rotate() {
	cp "$1" "$T/cert.new" && cp "$2" "$T/key.new" || fail "cp failed"
	mv -f "$T/key.new" "$T/key.pem" && mv -f "$T/cert.new" "$T/cert.pem" || fail "mv failed"
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

t_rotate_sighup() {
	local served akid
	cp "$LEAF_EC_P256_CRT" "$T/cert.pem"
	cp "$LEAF_EC_P256_P8" "$T/key.pem"
	start_serve --certificate "$T/cert.pem" --private-key "$T/key.pem" \
		--intermediates "$INTERMEDIATES"
	[ "$(rec_field $((REC_BEFORE + 1)) headers.x-amz-x509)" = "$(x509_b64 "$LEAF_EC_P256_CRT")" ] ||
		fail "the first CreateSession does not carry the ec-p256 leaf"
	rotate "$LEAF_RSA2048_CRT" "$LEAF_RSA2048_P8"
	kill -HUP "$SERVE_PID"
	wait_record 2
	[ "$(rec_field $((REC_BEFORE + 2)) headers.x-amz-x509)" = "$(x509_b64 "$LEAF_RSA2048_CRT")" ] ||
		fail "after SIGHUP, x-amz-x509 is not the new (rsa2048) certificate"
	rec_field $((REC_BEFORE + 2)) headers.authorization | grep -q '^AWS4-X509-RSA-SHA256 ' ||
		fail "after SIGHUP, not signed with the new RSA key"
	[ "$(rec_field $((REC_BEFORE + 2)) status)" = 201 ] || fail "the refresh was refused"
	akid=$(rec_field $((REC_BEFORE + 2)) access_key_id)
	imds_token
	sleep 0.2
	served=$(imds_creds) || fail "$served"
	[ "$served" = "$akid" ] || fail "serve hands out $served, the SIGHUP refresh got $akid"
	grep -Eq "^${STAMP_RE}rasign: SIGHUP: reading the certificate and key again\$" "$SERVE_ERR" ||
		fail "no line for the SIGHUP: $(cat "$SERVE_ERR")"
	grep -Eq "^${STAMP_RE}rasign: now using the certificate with serial $($CHECK serial "$LEAF_RSA2048_CRT"), valid until [0-9-]{10}T[0-9:]{8}Z\$" \
		"$SERVE_ERR" || fail "no line naming the new certificate: $(cat "$SERVE_ERR")"

	# A broken replacement: the previous identity keeps serving.
	printf 'this is not a certificate\n' >"$T/cert.new"
	mv -f "$T/cert.new" "$T/cert.pem"
	kill -HUP "$SERVE_PID"
	wait_record 3
	[ "$(rec_field $((REC_BEFORE + 3)) headers.x-amz-x509)" = "$(x509_b64 "$LEAF_RSA2048_CRT")" ] ||
		fail "after a broken rotation, x-amz-x509 is not the previous certificate"
	[ "$(rec_field $((REC_BEFORE + 3)) status)" = 201 ] || fail "the refresh was refused"
	grep -q 'warning: .*still using the previous certificate and key' "$SERVE_ERR" ||
		fail "no warning about the broken certificate: $(cat "$SERVE_ERR")"
	akid=$(rec_field $((REC_BEFORE + 3)) access_key_id)
	sleep 0.2
	served=$(imds_creds) || fail "$served"
	[ "$served" = "$akid" ] || fail "serve hands out $served, the last refresh got $akid"
	kill -0 "$SERVE_PID" || fail "serve died"
}

# Without SIGHUP: files changed on disk are read at the next refresh.
t_rotate_on_refresh() {
	local _ n found=
	cp "$LEAF_EC_P256_CRT" "$T/cert.pem"
	cp "$LEAF_EC_P256_P8" "$T/key.pem"
	start_serve --certificate "$T/cert.pem" --private-key "$T/key.pem" \
		--intermediates "$INTERMEDIATES" --session-duration 900 --refresh-before 897
	rotate "$LEAF_EC_P384_CRT" "$LEAF_EC_P384_P8"
	for _ in $(seq 80); do
		n=$(rec_count)
		if [ "$n" -gt $((REC_BEFORE + 1)) ] &&
			[ "$(rec_field "$n" headers.x-amz-x509)" = "$(x509_b64 "$LEAF_EC_P384_CRT")" ]; then
			found=1
			break
		fi
		sleep 0.1
	done
	[ -n "$found" ] || fail "no CreateSession with the rotated certificate in 8 s"
	grep -Eq "^${STAMP_RE}rasign: the (certificate|key) changed on disk: reading the certificate and key again\$" \
		"$SERVE_ERR" || fail "no line for the change on disk: $(cat "$SERVE_ERR")"
	[ "$(rec_field "$n" status)" = 201 ] || fail "the refresh with the new certificate was refused"
}

# ------------------------------------------------------------ 6. expiry

# ra-endpoint cannot issue credentials that expire in seconds (900 s is the
# service's minimum), so a fake CreateSession server does: its first answer
# expires in 5 s and every later one is a 500.
t_expired_503() {
	local d=$T/fake fpid fport _ st seen200=0 t0
	mkdir -p "$d"
	$PY "$HELPER" fake-endpoint "$TLS_CERT" "$TLS_KEY" "$d/port" "$d/count" 5 \
		>"$d/log" 2>&1 </dev/null &
	fpid=$!
	echo "$fpid" >>"$SERVE_PIDS_FILE"
	for _ in $(seq 100); do
		[ -s "$d/port" ] && break
		sleep 0.05
	done
	fport=$(cat "$d/port" 2>/dev/null)
	[ -n "$fport" ] || fail "the fake endpoint did not start: $(cat "$d/log")"
	t0=$(now)
	start_serve --endpoint "https://127.0.0.1:$fport"
	imds_token
	# 200 with the short-lived credentials until they expire, then 503.
	for _ in $(seq 100); do
		req GET "$CREDS_PATH/$ROLE_NAME" -H "$TOKEN_H: $TOKEN"
		st=$HTTP_STATUS
		if [ "$st" = 200 ]; then
			seen200=1
			[ "$($HELP doc "$T/body" imds)" = ASIAFAKESHORTLIVED01 ] ||
				fail "a 200 without the valid credentials: $(cat "$T/body")"
		fi
		[ "$st" = 503 ] && break
		[ "$st" = 200 ] || fail "HTTP $st: $(cat "$T/body")"
		sleep 0.1
	done
	[ "$seen200" = 1 ] || fail "never a 200 while the credentials were valid"
	expect 503
	grep -q '"AccessKeyId"' "$T/body" && fail "credentials in the 503"
	ge "$(elapsed "$t0")" 3.5 || fail "503 before the credentials expired"
	req GET "$CREDS_PATH/$ROLE_NAME/" -H "$TOKEN_H: $TOKEN"
	expect 503
	req GET /ecs/credentials -H "Authorization: $ECS_TOKEN"
	expect 503
	grep -q '"AccessKeyId"' "$T/body" && fail "credentials in the ECS 503"
	grep -q 'refresh failed' "$SERVE_ERR" || fail "no 'refresh failed' line"
	kill -0 "$SERVE_PID" || fail "serve died"
	kill "$fpid"
	wait "$fpid" 2>/dev/null
	sed -i "/^$fpid\$/d" "$SERVE_PIDS_FILE"
	return 0
}

# ------------------------------------------------------------ 7. concurrency

t_concurrency() {
	use_shared
	local akid
	akid=$($HELP hammer "$SERVE_PORT" "$ROLE_NAME" "$ECS_TOKEN" 8 50) ||
		fail "concurrent clients failed"
	[ "$akid" = "$SERVE_AKID" ] || fail "AccessKeyId $akid, issued $SERVE_AKID"
}

# The shared serve's log never holds the secrets it served.
t_no_secret_in_log() {
	use_shared
	local s
	imds_token
	imds_creds >/dev/null
	for s in "$($HELP doc "$T/body" imds SecretAccessKey)" "$($HELP doc "$T/body" imds Token)"; do
		grep -qF -- "$s" "$SERVE_ERR" && fail "serve's stderr holds a secret"
	done
	return 0
}

# ------------------------------------------------------------ 8. signals

t_signal() {
	local sig=$1 t0 _
	start_serve
	t0=$(now)
	kill -"$sig" "$SERVE_PID"
	for _ in $(seq 40); do
		kill -0 "$SERVE_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$SERVE_PID" 2>/dev/null && fail "still running 2 s after SIG$sig"
	ge 2 "$(elapsed "$t0")" || fail "took $(elapsed "$t0") s to exit"
	stop_serve
	[ "$SERVE_RC" -eq 0 ] || fail "exit status $SERVE_RC after SIG$sig, want 0"
	curl -s --noproxy '*' -m 2 -o /dev/null "$SERVE_URL/latest/api/token" -X PUT
	[ $? -eq 7 ] || fail "the port still accepts connections"
	return 0
}

# ------------------------------------------------------------ 9. failures

# run_serve_fail ARGS: serve on a known free port (to probe it afterwards),
# with a short timeout should it wrongly start serving.
run_serve_fail() {
	PORT=$($HELP free-port)
	RUN_TIMEOUT=15 run_rasign serve --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
		--endpoint "$EP_URL" --port "$PORT" "$@"
}

assert_not_listening() {
	curl -s --noproxy '*' -m 2 -o /dev/null "http://127.0.0.1:$1/latest/api/token" -X PUT
	[ $? -eq 7 ] || fail "something listens on port $1"
	return 0
}

t_fail_wrong_key() {
	run_serve_fail --certificate "$LEAF_EC_P256_CRT" --private-key "$WRONG_KEY" \
		--intermediates "$INTERMEDIATES"
	assert_failure 3 'does not match'
	assert_no_request
	assert_not_listening "$PORT"
}

t_fail_403() {
	set_faults "status 403"
	run_serve_fail --certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES"
	assert_failure 7 'AccessDenied'
	assert_requests 1
	assert_not_listening "$PORT"
}

t_fail_port_in_use() {
	use_shared
	RUN_TIMEOUT=15 run_rasign serve --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
		--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --port "$SERVE_PORT"
	assert_failure 2 "$SERVE_PORT"
	assert_stderr_matches "port $SERVE_PORT on 127.0.0.1 is in use.*choose another port with --port"
	# No CreateSession is spent on a serve that cannot listen.
	assert_no_request
}

t_fail_usage() {
	RUN_TIMEOUT=15 run_rasign serve --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
		--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8" \
		--intermediates "$INTERMEDIATES" --port 0 "$1" "$2"
	assert_failure 2 "$1"
	[ -z "${3:-}" ] || assert_stderr_matches "$3"
	assert_no_request
}

# ------------------------------------------------------------ the run

run_test "start-up lines on stderr" t_startup_lines
run_test "every line stamped with the time, as Go's log" t_stamped_lines
run_test "stderr is the journal (JOURNAL_STREAM): no stamps" t_journal_unstamped
run_test "aws CLI v2 through AWS_EC2_METADATA_SERVICE_ENDPOINT" t_aws_imds
run_test "aws CLI v2 through AWS_CONTAINER_CREDENTIALS_FULL_URI + _TOKEN" t_aws_ecs
if [ -n "$AWS_HAS_TOKEN_FILE" ]; then
	run_test "aws CLI through --ecs-token-file / _TOKEN_FILE" t_ecs_token_file
else
	run_test "--ecs-token-file (curl: $AWS_CLI lacks _TOKEN_FILE)" t_ecs_token_file
fi
run_test "IMDS token PUT: 100 characters, TTL header" t_token_put
run_test "IMDS token TTL 0, 21601, abc, -5, 1.5, 2^66: 400" t_token_bad_ttl
run_test "IMDS token with X-Forwarded-For: 400" t_token_forwarded
run_test "wrong methods: 405" t_methods
run_test "role name, with and without a trailing slash" t_role_name
run_test "IMDS credentials document and TTL header" t_creds_imds
run_test "another role or path: 404" t_creds_other_role
run_test "no token: 401 no token provided" t_no_token
run_test "unknown token: 401 invalid token provided" t_bad_token
run_test "expired token: 401 invalid token provided" t_expired_token
run_test "257 live tokens: none is evicted" t_token_cap
run_test "ECS endpoint: document, 401 without the token" t_ecs
run_test "background refresh before expiry hands out the new key" t_refresh
run_test "failed refresh keeps serving, retries after 5 s" t_refresh_failure
run_test "SIGHUP reads a rotated certificate; a broken one keeps the old" t_rotate_sighup
run_test "rotated files are read at the next refresh" t_rotate_on_refresh
run_test "expired credentials, refresh failing: 503" t_expired_503
run_test "8 clients x 50 requests: all 200, same credentials" t_concurrency
run_test "serve's log holds no secret" t_no_secret_in_log
run_test "SIGTERM: exit 0 within 2 s, port closed" t_signal TERM
run_test "SIGINT: exit 0 within 2 s, port closed" t_signal INT
run_test "pre-flight failure (wrong key): exit 3, nothing listens" t_fail_wrong_key
run_test "first CreateSession 403: exit 7, nothing listens" t_fail_403
run_test "port in use: exit 2, no CreateSession" t_fail_port_in_use
run_test "--refresh-before -1: exit 2" t_fail_usage --refresh-before -1
run_test "--hop-limit 0: exit 2" t_fail_usage --hop-limit 0
run_test "--bind not-an-address: exit 2" t_fail_usage --bind not-an-address
run_test "--bind 192.0.2.1, not this machine's: exit 2, says so" t_fail_usage --bind 192.0.2.1 \
	'--bind 192.0.2.1 is not an address of this machine' 
