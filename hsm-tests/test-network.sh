#!/bin/bash
# The network as the Go helper meets it: proxies chosen by the rules of
# Go's httpproxy package (loopback never proxied, the upper-case variable
# wins, NO_PROXY forms), the trust store (SSL_CERT_FILE, SSL_CERT_DIR,
# AWS_CA_BUNDLE, --ca-bundle), and what is said about timeouts and retries.
# A real CONNECT proxy (a small Python one, below) records what it was
# asked and forwards every tunnel to the local endpoint.
#
# Run from the repo root: bash hsm-tests/test-network.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout script "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"

setup_pki
# A name that is not loopback and that no resolver knows (RFC 6761): a
# request for it arrives only through the proxy. Its TLS certificate is
# self-signed, trusted with AWS_CA_BUNDLE, as the Go helper could (so that
# the proxy tests fail on older rasign for their own reason).
NAME=ra.proxy.invalid
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$TESTDIR/named.key" -out "$TESTDIR/named.crt" -days 2 \
	-subj "/CN=$NAME" -addext "subjectAltName=DNS:$NAME" \
	>"$TESTDIR/named.log" 2>&1 || bail_out "cannot make the named certificate"
NAMED_CA=$TESTDIR/named.crt

# EP: on loopback with the test PKI's TLS certificate. EPN: the certificate
# for $NAME. EPS: only for the slow tests, whose delays must hold up nobody.
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
start_endpoint EPN "$NAMED_CA" "$TESTDIR/named.key"
start_endpoint EPS "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# ---------------------------------------------------------------- the proxy

# An HTTP proxy: "CONNECT host:port" is recorded (with whether a
# Proxy-Authorization header came) and tunnelled to 127.0.0.1:port whatever
# the host; a plain request ("POST http://...") is recorded and answered 403.
cat >"$TESTDIR/proxy.py" <<'EOF'
import socket, sys, threading

port_file, record = sys.argv[1], sys.argv[2]
lock = threading.Lock()

def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def handle(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d:
            c.close()
            return
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    auth = any(l.lower().startswith("proxy-authorization:") for l in lines[1:])
    with lock, open(record, "a") as f:
        f.write("%s%s\n" % (lines[0], " [auth]" if auth else ""))
    method, target = lines[0].split(" ")[:2]
    if method != "CONNECT":
        c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 2\r\nConnection: close\r\n\r\n{}")
        c.close()
        return
    port = int(target.rsplit(":", 1)[1])
    try:
        u = socket.create_connection(("127.0.0.1", port))
    except OSError:
        c.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        c.close()
        return
    c.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
    if rest:
        u.sendall(rest)
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
    pipe(c, u)

s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0))
s.listen(16)
with open(port_file + ".tmp", "w") as f:
    f.write("%d\n" % s.getsockname()[1])
import os
os.rename(port_file + ".tmp", port_file)
while True:
    c, _ = s.accept()
    threading.Thread(target=handle, args=(c,), daemon=True).start()
EOF
PROXY_RECORD=$TESTDIR/proxy.record
: >"$PROXY_RECORD"
"$PY" "$TESTDIR/proxy.py" "$TESTDIR/proxy.port" "$PROXY_RECORD" \
	>"$TESTDIR/proxy.log" 2>&1 </dev/null &
PROXY_PID=$!
stop_proxy() {
	kill "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
}
on_cleanup stop_proxy
for _ in $(seq 100); do
	[ -s "$TESTDIR/proxy.port" ] && break
	sleep 0.1
done
[ -s "$TESTDIR/proxy.port" ] || bail_out "the proxy did not start: $(cat "$TESTDIR/proxy.log")"
PROXY=http://127.0.0.1:$(cat "$TESTDIR/proxy.port")
# A port nothing listens on: a proxy there fails every request sent to it.
DEAD_PROXY=http://127.0.0.1:1

# No proxy variable from lib.sh or the caller: each test sets its own.
unset NO_PROXY no_proxy HTTPS_PROXY https_proxy HTTP_PROXY http_proxy REQUEST_METHOD

CERT=(--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8"
	--intermediates "$INTERMEDIATES")

proxy_count() { wc -l <"$PROXY_RECORD" | tr -d ' '; }

# run_env [-u VAR] [VAR=VALUE...] -- ARGS...: credential-process with the given
# environment; remembers how many requests the proxy saw before.
run_env() {
	local envs=()
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		envs+=("$1")
		shift
	done
	shift
	PROXY_BEFORE=$(proxy_count)
	OUT=$T/stdout ERR=$T/stderr
	REC_BEFORE=$(rec_count)
	echo "\$ ${envs[*]} rasign credential-process $*"
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	env "${envs[@]}" setsid -w timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" \
		credential-process --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" "${CERT[@]}" \
		"$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
}

# proxy_saw LINE: the proxy was asked exactly once in this run, for LINE.
proxy_saw() {
	local got
	sleep 0.1
	got=$(tail -n +$((PROXY_BEFORE + 1)) "$PROXY_RECORD")
	[ "$got" = "$1" ] || { show_run; fail "the proxy saw '$got', want '$1'"; }
}

proxy_saw_nothing() {
	sleep 0.1
	[ "$(proxy_count)" -eq "$PROXY_BEFORE" ] || {
		show_run
		fail "the proxy was asked: $(tail -n +$((PROXY_BEFORE + 1)) "$PROXY_RECORD")"
	}
}

expect_creds() {
	assert_exit 0
	grep -q '"AccessKeyId"' "$OUT" || { show_run; fail "no credentials"; }
	assert_requests 1
}

# ---------------------------------------------------------------- proxies

# Go never proxies localhost or a loopback address; libcurl does unless
# NO_PROXY says so. (The proxy would forward it, so only its record shows.)
t_loopback_not_proxied() {
	local host=$1
	shift
	run_env "HTTPS_PROXY=$PROXY" "https_proxy=$PROXY" -- \
		--endpoint "https://$host:$EP_PORT" "$@"
	expect_creds
	proxy_saw_nothing
}

# A name that is not loopback goes through the proxy, with its name (the
# proxy resolves it) and the TLS certificate checked end to end.
t_name_proxied() {
	use_endpoint EPN
	run_env "$@" "AWS_CA_BUNDLE=$NAMED_CA" -- --endpoint "https://$NAME:$EP_PORT"
	expect_creds
	proxy_saw "CONNECT $NAME:$EP_PORT HTTP/1.1"
}

# Go reads HTTPS_PROXY before https_proxy (libcurl the other way round):
# the lower-case one here names a dead proxy.
t_upper_case_wins() {
	use_endpoint EPN
	run_env "HTTPS_PROXY=$PROXY" "https_proxy=$DEAD_PROXY" \
		"AWS_CA_BUNDLE=$NAMED_CA" -- --endpoint "https://$NAME:$EP_PORT"
	expect_creds
	proxy_saw "CONNECT $NAME:$EP_PORT HTTP/1.1"
}

# NO_PROXY=VALUE sends $NAME direct, where no resolver knows it.
t_no_proxy_direct() {
	use_endpoint EPN
	local v=${1//PORT/$EP_PORT}
	shift
	run_env "HTTPS_PROXY=$PROXY" "NO_PROXY=$v" "$@" \
		"AWS_CA_BUNDLE=$NAMED_CA" -- --endpoint "https://$NAME:$EP_PORT" --timeout 10
	assert_failure 6 "cannot reach https://$NAME:$EP_PORT/sessions"
	proxy_saw_nothing
}

# NO_PROXY=VALUE does not cover $NAME: proxied.
t_no_proxy_proxied() {
	use_endpoint EPN
	local v=${1//PORT/$EP_PORT}
	shift
	run_env "HTTPS_PROXY=$PROXY" "NO_PROXY=$v" "$@" \
		"AWS_CA_BUNDLE=$NAMED_CA" -- --endpoint "https://$NAME:$EP_PORT"
	expect_creds
	proxy_saw "CONNECT $NAME:$EP_PORT HTTP/1.1"
}

# Go takes no fallback from HTTPS_PROXY to HTTP_PROXY (nor ALL_PROXY).
t_http_proxy_not_for_https() {
	use_endpoint EPN
	run_env "HTTP_PROXY=$PROXY" "ALL_PROXY=$PROXY" \
		"AWS_CA_BUNDLE=$NAMED_CA" -- --endpoint "https://$NAME:$EP_PORT" --timeout 10
	assert_failure 6 "cannot reach https://$NAME:$EP_PORT/sessions"
	proxy_saw_nothing
}

# The proxy's user and password reach the proxy, never stderr.
t_proxy_password_not_logged() {
	use_endpoint EPN
	run_env "HTTPS_PROXY=http://proxyuser:pr0xy-s3cret@${PROXY#http://}" -- \
		--endpoint "https://$NAME:$EP_PORT" --ca-bundle "$NAMED_CA" --debug
	expect_creds
	proxy_saw "CONNECT $NAME:$EP_PORT HTTP/1.1 [auth]"
	grep -q 'debug: proxy http://127.0.0.1:' "$ERR" ||
		{ show_run; fail "--debug does not name the proxy"; }
	! grep -q 'pr0xy-s3cret\|proxyuser' "$ERR" ||
		{ show_run; fail "the proxy credentials are on stderr"; }
}

# An http:// endpoint goes through HTTP_PROXY (the proxy answers 403 itself).
t_http_proxy() {
	run_env "HTTP_PROXY=$PROXY" -- --endpoint "http://$NAME:$EPN_PORT"
	assert_exit 7
	proxy_saw "POST http://$NAME:$EPN_PORT/sessions?$($PY -c '
import sys, urllib.parse
q = sorted([("profileArn", sys.argv[1]), ("roleArn", sys.argv[2]), ("trustAnchorArn", sys.argv[3])])
print(urllib.parse.urlencode(q, safe="", quote_via=urllib.parse.quote))' \
		"$PROFILE_ARN" "$ROLE_ARN" "$TA_ARN") HTTP/1.1"
}

# Under CGI (REQUEST_METHOD set) a client can set HTTP_PROXY with a
# "Proxy:" header: Go refuses to use it, and so does rasign.
t_http_proxy_cgi() {
	run_env "HTTP_PROXY=$PROXY" REQUEST_METHOD=GET -- \
		--endpoint "http://$NAME:$EPN_PORT"
	assert_failure 2 'refusing to use HTTP_PROXY.*REQUEST_METHOD'
	proxy_saw_nothing
}

# ------------------------------------------------------------ trust store

# Without AWS_CA_BUNDLE, SSL_CERT_FILE names the roots, as in Go.
t_ssl_cert_file() {
	run_env -u AWS_CA_BUNDLE "SSL_CERT_FILE=$TLS_CA" -- --endpoint "$EP_URL"
	expect_creds
}

# SSL_CERT_DIR is a colon-separated list of directories whose every file is
# read (not only OpenSSL's hashed names).
t_ssl_cert_dir() {
	mkdir -p "$T/empty" "$T/certs"
	cp "$TLS_CA" "$T/certs/my-ca.pem"
	run_env -u AWS_CA_BUNDLE "SSL_CERT_DIR=$T/missing:$T/empty:$T/certs" -- \
		--endpoint "$EP_URL"
	expect_creds
}

# The roots come from SSL_CERT_* only: a CA elsewhere is not trusted.
t_ssl_cert_file_replaces() {
	run_env -u AWS_CA_BUNDLE "SSL_CERT_FILE=$NAMED_CA" "SSL_CERT_DIR=$T" -- \
		--endpoint "$EP_URL"
	assert_failure 6 'TLS certificate .* not trusted'
	assert_no_request
}

# AWS_CA_BUNDLE is the whole store (the Go SDK puts it in a new pool): the
# roots of SSL_CERT_FILE no longer count.
t_aws_ca_bundle_replaces() {
	run_env "AWS_CA_BUNDLE=$NAMED_CA" "SSL_CERT_FILE=$TLS_CA" -- --endpoint "$EP_URL"
	assert_failure 6 'TLS certificate .* not trusted'
	assert_no_request
}

# --ca-bundle wins over AWS_CA_BUNDLE, both ways round.
t_ca_bundle_flag_wins() {
	run_env "AWS_CA_BUNDLE=$NAMED_CA" -- --endpoint "$EP_URL" --ca-bundle "$TLS_CA"
	expect_creds
	run_env "AWS_CA_BUNDLE=$TLS_CA" -- --endpoint "$EP_URL" --ca-bundle "$NAMED_CA"
	assert_failure 6 'TLS certificate .* not trusted'
}

# A missing file gets its own line naming where it came from, exit 2.
t_missing_file() {
	local p=$T/no-such.pem
	case $1 in
	env) run_env "AWS_CA_BUNDLE=$p" -- --endpoint "$EP_URL" ;;
	flag) run_env -- --endpoint "$EP_URL" --ca-bundle "$p" ;;
	ssl) run_env -u AWS_CA_BUNDLE "SSL_CERT_FILE=$p" -- --endpoint "$EP_URL" ;;
	esac
	assert_failure 2 "$2 $p: No such file"
	assert_no_request
}

t_not_pem() {
	printf 'not a certificate\n' >"$T/junk.pem"
	run_env "AWS_CA_BUNDLE=$T/junk.pem" -- --endpoint "$EP_URL"
	assert_failure 2 "$T/junk.pem holds no PEM certificate"
}

# ------------------------------------------------------- timeouts, retries

# Two quick 503s, then no answer: the message says how long it waited in
# all (the whole --timeout) and how many tries, not the last try's share.
t_timeout_message() {
	local start end
	use_endpoint EPS
	set_faults "status 503" "status 503" "delay 8000"
	start=$(date +%s)
	run_env -- --endpoint "$EP_URL" --timeout 3
	end=$(date +%s)
	assert_failure 6 'timed out: no answer in (2\.9|3\.[0-9]) s, 3 tries in all'
	[ $((end - start)) -lt 7 ] || fail "took $((end - start)) s with --timeout 3"
}

t_timeout_one_try() {
	use_endpoint EPS
	set_faults "delay 8000"
	run_env -- --endpoint "$EP_URL" --timeout 2
	assert_failure 6 'timed out: no answer in (1\.9|2\.[0-9]) s, 1 try in all'
}

# At a terminal, a retry is announced once, with its reason; credentials
# follow. Without a terminal nothing is said.
t_retry_notice_tty() {
	set_faults "status 503" "status 503" ok
	REC_BEFORE=$(rec_count)
	script -qefc "$(printf '%q ' "$RASIGN" credential-process \
		--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" "${CERT[@]}" --endpoint "$EP_URL")" \
		/dev/null >"$T/tty.out" 2>&1 </dev/null
	cat "$T/tty.out"
	grep -q '"AccessKeyId"' "$T/tty.out" || fail "no credentials"
	[ "$(grep -c 'retrying' "$T/tty.out")" = 1 ] || fail "not exactly one retry notice"
	grep -q '^rasign: warning: retrying (up to 3 tries in 30 s): CreateSession failed with HTTP 503' \
		"$T/tty.out" || fail "the notice does not say why"
	assert_requests 3
}

t_retry_quiet_without_tty() {
	set_faults "status 503" ok
	run_env -- --endpoint "$EP_URL"
	expect_creds_n 2
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
}

expect_creds_n() {
	assert_exit 0
	grep -q '"AccessKeyId"' "$OUT" || { show_run; fail "no credentials"; }
	assert_requests "$1"
}

run_test "127.0.0.1 is never proxied" t_loopback_not_proxied 127.0.0.1
run_test "localhost is never proxied" t_loopback_not_proxied localhost
run_test "loopback not proxied with --with-proxy either" t_loopback_not_proxied 127.0.0.1 --with-proxy
run_test "a name goes through HTTPS_PROXY" t_name_proxied "HTTPS_PROXY=$PROXY"
run_test "a name goes through https_proxy" t_name_proxied "https_proxy=$PROXY"
run_test "HTTPS_PROXY wins over https_proxy" t_upper_case_wins
run_test "HTTP_PROXY is not used for https" t_http_proxy_not_for_https
run_test "NO_PROXY=* goes direct" t_no_proxy_direct "*"
run_test "NO_PROXY=domain covers subdomains" t_no_proxy_direct "proxy.invalid"
run_test "NO_PROXY=the host itself" t_no_proxy_direct "example.com, RA.Proxy.Invalid "
run_test "NO_PROXY=.domain" t_no_proxy_direct ".proxy.invalid"
run_test "NO_PROXY=*.domain" t_no_proxy_direct "*.proxy.invalid"
run_test "NO_PROXY=host:port" t_no_proxy_direct "$NAME:PORT"
run_test "no_proxy alone" t_no_proxy_direct "" "no_proxy=$NAME"
run_test "NO_PROXY=.host is subdomains only" t_no_proxy_proxied ".$NAME"
run_test "NO_PROXY=suffix is no match" t_no_proxy_proxied "a.proxy.invalid"
run_test "NO_PROXY=host:other-port is no match" t_no_proxy_proxied "$NAME:1"
run_test "NO_PROXY=an address is no match for a name" t_no_proxy_proxied "127.0.0.1,10.0.0.0/8"
run_test "NO_PROXY wins over no_proxy" t_no_proxy_proxied "example.com" "no_proxy=$NAME"
run_test "proxy credentials never on stderr, even with --debug" t_proxy_password_not_logged
run_test "an http endpoint goes through HTTP_PROXY" t_http_proxy
run_test "HTTP_PROXY refused under CGI" t_http_proxy_cgi
run_test "SSL_CERT_FILE names the roots" t_ssl_cert_file
run_test "SSL_CERT_DIR lists directories" t_ssl_cert_dir
run_test "SSL_CERT_FILE and SSL_CERT_DIR replace the defaults" t_ssl_cert_file_replaces
run_test "AWS_CA_BUNDLE replaces the roots" t_aws_ca_bundle_replaces
run_test "--ca-bundle wins over AWS_CA_BUNDLE" t_ca_bundle_flag_wins
run_test "missing AWS_CA_BUNDLE file" t_missing_file env "the AWS_CA_BUNDLE file"
run_test "missing --ca-bundle file" t_missing_file flag "the --ca-bundle file"
run_test "missing SSL_CERT_FILE" t_missing_file ssl "the SSL_CERT_FILE file"
run_test "a bundle with no certificate" t_not_pem
run_test "timeout after retries: total time and tries" t_timeout_message
run_test "timeout of one try" t_timeout_one_try
run_test "retry announced once at a terminal" t_retry_notice_tty
run_test "retry silent without a terminal" t_retry_quiet_without_tty
