#!/bin/bash
# X.509-SVIDs from the SPIFFE Workload API (--spiffe-endpoint), end to end:
# an independent Workload API server (hsm-tests/spiffe-server.py: grpcio,
# messages generated from the standard's workload.proto) on private unix
# sockets serves SVIDs issued by the test PKI, and the local Roles Anywhere
# endpoint verifies each request's signature and chain.
#
# Run from the repo root: bash hsm-tests/test-spiffe.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout strace "$PY"
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"
"$PY" -c 'import grpc, grpc_tools.protoc' 2>/dev/null ||
	skip_all "python3-grpcio or python3-grpc-tools missing"
# A build without SPIFFE support (WITH_SPIFFE=) says so, with exit 2.
"$RASIGN" credential-process --spiffe-endpoint unix:///nonexistent --timeout 1 \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
	--role-arn "$ROLE_ARN" 2>&1 | grep -q 'built without SPIFFE' &&
	skip_all "$RASIGN was built without SPIFFE support (WITH_SPIFFE=)"

setup_pki
start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# --- two SVIDs issued by the test intermediate -------------------------------
ID1=spiffe://example.org/workload
ID2=spiffe://example.org/second
S=$TESTDIR/svids
mkdir -p "$S"
# svid NAME ID: an EC P-256 leaf with the URI SAN ID, signed by inter-ca;
# NAME.chain.pem is the leaf then the intermediate, as an SVID carries them.
svid() {
	openssl ecparam -name prime256v1 -genkey -noout -out "$S/$1.key" 2>/dev/null &&
		openssl req -new -key "$S/$1.key" -subj "/O=SPIFFE/CN=$1" \
			-out "$S/$1.csr" &&
		printf 'subjectAltName=URI:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
			"$2" >"$S/$1.ext" &&
		openssl x509 -req -in "$S/$1.csr" -CA "$INTER_CA_CRT" \
			-CAkey "$INTER_CA_KEY" -set_serial "0x$(openssl rand -hex 8)" \
			-days 2 -extfile "$S/$1.ext" -out "$S/$1.crt" 2>/dev/null &&
		cat "$S/$1.crt" "$INTER_CA_CRT" >"$S/$1.chain.pem" ||
		bail_out "cannot issue the SVID $1"
}
svid w1 "$ID1"
svid w2 "$ID2"

# start_api NAME [spiffe-server.py args]: a Workload API server on
# $TESTDIR/NAME/api.sock; sets NAME_SOCK and NAME_REC (its call records).
SPIFFE_PIDS=
stop_apis() {
	local p
	for p in $SPIFFE_PIDS; do kill "$p" 2>/dev/null; done
	for p in $SPIFFE_PIDS; do wait "$p" 2>/dev/null; done
	SPIFFE_PIDS=
}
on_cleanup stop_apis
start_api() {
	local name=$1 d=$TESTDIR/$1 _
	shift
	mkdir -p "$d"
	: >"$d/record"
	rm -f "$d/ready"
	"$PY" "$HSM_TESTS/spiffe-server.py" --socket "$d/api.sock" \
		--gen-dir "$d/gen" --record "$d/record" --ready "$d/ready" "$@" \
		>"$d/log" 2>&1 </dev/null &
	API_PID=$!
	SPIFFE_PIDS="$SPIFFE_PIDS $!"
	for _ in $(seq 100); do
		[ -s "$d/ready" ] && break
		sleep 0.1
	done
	[ -s "$d/ready" ] || bail_out "spiffe-server $name did not start: $(tail -n 3 "$d/log")"
	printf -v "${name}_SOCK" '%s' "$d/api.sock"
	printf -v "${name}_REC" '%s' "$d/record"
}
ONE="$ID1,$S/w1.chain.pem,$S/w1.key"
TWO="$ID2,$S/w2.chain.pem,$S/w2.key"
start_api API --svid "$ONE"
start_api API2 --svid "$ONE" --svid "$TWO"
start_api DENY2 --svid "$ONE" --deny 2
start_api NEVER --svid "$ONE" --deny 1000000 --deny-code UNAVAILABLE
start_api BROKEN --svid "$ONE" --deny 1000000 --deny-code INTERNAL
start_api ROT --svid "$ONE" --rotate "$TESTDIR/ROT/rotate"
ROT_PID=$API_PID

# calls REC: how many FetchX509SVID calls the server recorded.
calls() { grep -c '"call"' "$1"; }
# last_call REC KEY: a field of the last recorded call, as JSON.
last_call() {
	"$PY" -c 'import json,sys; print(json.dumps(json.loads(open(sys.argv[1]).readlines()[-1])[sys.argv[2]]))' "$1" "$2"
}

# ------------------------------------------------------------------ tests

t_credentials() {
	local before
	before=$(calls "$API_REC")
	rasign_cp --spiffe-endpoint "unix://$API_SOCK"
	expect_success "$S/w1.crt" ECDSA --chain "$INTER_CA_CRT"
	[ "$(calls "$API_REC")" -eq $((before + 1)) ] || fail "not exactly one FetchX509SVID call"
}

t_spiffe_id() {
	rasign_cp --spiffe-endpoint "unix://$API2_SOCK" --spiffe-id "$ID2"
	expect_success "$S/w2.crt" ECDSA --chain "$INTER_CA_CRT"
	# Without --spiffe-id: the first, as the standard says.
	rasign_cp --spiffe-endpoint "unix://$API2_SOCK"
	expect_success "$S/w1.crt" ECDSA --chain "$INTER_CA_CRT"
	rasign_cp --spiffe-endpoint "unix://$API2_SOCK" --spiffe-id spiffe://example.org/none
	assert_failure 3 "serves no SVID spiffe://example.org/none.*$ID1, $ID2"
	assert_no_request
}

# The server refuses a call without the header (seen here with a client of
# our own), and rasign's call carried it.
t_header() {
	"$PY" - "$API_SOCK" >"$T/raw" 2>&1 <<'EOF'
import sys, grpc
ch = grpc.insecure_channel("unix:" + sys.argv[1])
call = ch.unary_stream("/SpiffeWorkloadAPI/FetchX509SVID",
                       request_serializer=lambda m: m,
                       response_deserializer=lambda b: b)
try:
    for _ in call(b"", timeout=5):
        print("answered")
        break
except grpc.RpcError as e:
    print(e.code().name)
EOF
	grep -qx INVALID_ARGUMENT "$T/raw" || fail "the server did not refuse a call without the header: $(cat "$T/raw")"
	rasign_cp --spiffe-endpoint "unix://$API_SOCK"
	assert_exit 0
	[ "$(last_call "$API_REC" metadata | "$PY" -c 'import json,sys; print(json.load(sys.stdin).get("workload.spiffe.io"))')" = true ] ||
		fail "rasign's call lacked workload.spiffe.io: true: $(last_call "$API_REC" metadata)"
}

t_denied_then_issued() {
	rasign_cp --spiffe-endpoint "unix://$DENY2_SOCK" --timeout 20
	expect_success "$S/w1.crt" ECDSA --chain "$INTER_CA_CRT"
	[ "$(calls "$DENY2_REC")" -eq 3 ] || fail "want 3 calls (2 refused, 1 served): $(cat "$DENY2_REC")"
	[ "$(grep -c '"answer": "PERMISSION_DENIED"' "$DENY2_REC")" -eq 2 ] || fail "the refusals are not recorded"
}

t_never_issued() {
	local start end
	start=$(date +%s)
	rasign_cp --spiffe-endpoint "unix://$NEVER_SOCK" --timeout 2
	end=$(date +%s)
	assert_failure 3 "issued no identity.*Unavailable"
	assert_no_request
	[ "$(calls "$NEVER_REC")" -ge 2 ] || fail "Unavailable was not retried"
	[ $((end - start)) -le 6 ] || fail "took $((end - start)) s with --timeout 2"
}

t_other_status() {
	rasign_cp --spiffe-endpoint "unix://$BROKEN_SOCK" --timeout 10
	assert_failure 5 "SPIFFE Workload API.*failed.*status 13"
	[ "$(calls "$BROKEN_REC")" -eq 1 ] || fail "an Internal status was retried"
}

t_unreachable() {
	rasign_cp --spiffe-endpoint "unix://$TESTDIR/nothing/api.sock" --timeout 1
	assert_failure 5 "cannot reach the SPIFFE Workload API at unix://$TESTDIR/nothing/api.sock: No such file"
	assert_no_request
}

t_env() {
	SPIFFE_ENDPOINT_SOCKET="unix:$API_SOCK" rasign_cp --spiffe-endpoint env
	expect_success "$S/w1.crt" ECDSA --chain "$INTER_CA_CRT"
	SPIFFE_ENDPOINT_SOCKET= rasign_cp --spiffe-endpoint env
	assert_failure 2 "SPIFFE_ENDPOINT_SOCKET is not set"
	rasign_cp --spiffe-endpoint "tcp://127.0.0.1:8081"
	assert_failure 2 "only unix: sockets"
}

t_conflicts() {
	local f before
	before=$(calls "$API_REC")
	for f in "--certificate $S/w1.crt" "--private-key $S/w1.key" \
		"--intermediates $INTER_CA_CRT"; do
		# shellcheck disable=SC2086 # two words: the flag and its value
		rasign_cp --spiffe-endpoint "unix://$API_SOCK" $f
		assert_failure 2 "${f%% *} and --spiffe-endpoint cannot be used together|--spiffe-endpoint and ${f%% *} cannot be used together"
	done
	rasign_cp --certificate "$S/w1.crt" --private-key "$S/w1.key" --spiffe-id "$ID1"
	assert_failure 2 "--spiffe-id .*--spiffe-endpoint"
	assert_no_request
	[ "$(calls "$API_REC")" -eq "$before" ] || fail "the Workload API was called"
}

t_sign_string() {
	run_rasign sign-string --spiffe-endpoint "unix://$API_SOCK"
	assert_exit 0
	check_signature json SHA256 "$S/w1.crt"
}

t_read_certificate_data() {
	run_rasign read-certificate-data --spiffe-endpoint "unix://$API2_SOCK" --spiffe-id "$ID2"
	assert_exit 0
	[ "$($CHECK field "$OUT" certificateData)" = "$(openssl x509 -in "$S/w2.crt" -outform DER | base64 -w0)" ] ||
		{ show_run; fail "not the second SVID's certificate"; }
}

# The key is never written: no file is opened for writing or created by
# rasign or its threads (strace -f), its private HOME and TMPDIR stay
# empty, and --debug does not show the key.
t_nothing_written() {
	local keyhex keyb64
	mkdir -p "$T/home" "$T/tmp"
	RUN_TIMEOUT=60 HOME=$T/home TMPDIR=$T/tmp run_rasign_strace credential-process \
		--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" \
		--spiffe-endpoint "unix://$API_SOCK" --debug
	assert_exit 0
	grep -q '^[0-9]* *\(openat\|open\|creat\)' "$T/trace" ||
		fail "strace recorded no open at all: $(head -c 300 "$T/trace")"
	grep -E 'O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|creat\(|rename|link\(|mknod' "$T/trace" >"$T/writes"
	[ ! -s "$T/writes" ] || fail "rasign opened files for writing: $(head -n 5 "$T/writes")"
	[ -z "$(find "$T/home" "$T/tmp" -mindepth 1 | head -n 1)" ] ||
		fail "files appeared in HOME or TMPDIR: $(find "$T/home" "$T/tmp" -mindepth 1)"
	keyhex=$(openssl pkey -in "$S/w1.key" -outform DER | od -An -tx1 | tr -d ' \n')
	keyb64=$(openssl pkey -in "$S/w1.key" -outform DER | base64 -w0)
	grep -qi -e "${keyhex:40:40}" -e "${keyb64:20:40}" "$ERR" &&
		fail "--debug output holds the key"
	grep -q "SVID $ID1" "$ERR" || { show_run; fail "--debug does not name the SVID"; }
}
# run_rasign_strace ARGS...: run_rasign under strace -f, trace in $T/trace.
run_rasign_strace() {
	OUT=$T/stdout
	ERR=$T/stderr
	REC_BEFORE=$(rec_count)
	# LeakSanitizer cannot run under ptrace (an ASan build would exit 1);
	# the other tests run it.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	setsid -w timeout -k 5 "$RUN_TIMEOUT" strace -f -qq -o "$T/trace" \
		-e trace=open,openat,creat,rename,renameat,renameat2,link,linkat,mknod,mknodat \
		"$RASIGN" "$@" </dev/null >"$OUT" 2>"$ERR"
	RC=$?
}

# ------------------------------------------------------------ serve

x509_b64() { openssl x509 -in "$1" -outform DER | base64 -w0; }
# rec_leaf N: the x-amz-x509 of the endpoint's record N.
rec_leaf() { $CHECK get "$EP_RECORD" $(($1 - 1)) headers.x-amz-x509; }
# wait_leaf CERT SECONDS: until a record after REC_BEFORE+1 carries CERT.
wait_leaf() {
	local want n _ i
	want=$(x509_b64 "$1")
	for _ in $(seq $(($2 * 10))); do
		n=$(rec_count)
		for ((i = REC_BEFORE + 2; i <= n; i++)); do
			[ "$(rec_leaf "$i")" = "$want" ] && { LEAF_AT=$i; return 0; }
		done
		sleep 0.1
	done
	return 1
}

# serve keeps one stream open: a rotation pushed on it is used at the next
# refresh (not at once: the credentials are still valid), and a restarted
# agent is reconnected to, the credentials served all along.
# SPIFFE_SERVE_DEBUG=1: serve runs with --debug (its log is in $T/serve.err).
t_serve_rotation() {
	local n _ calls0
	NEWPID= SPID=
	: >"$TESTDIR/ROT/rotate"
	REC_BEFORE=$(rec_count)
	"$RASIGN" serve --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --endpoint "$EP_URL" --port 0 \
		--spiffe-endpoint "unix://$ROT_SOCK" --session-duration 900 \
		--refresh-before 892 ${SPIFFE_SERVE_DEBUG:+--debug} </dev/null >"$T/serve.out" 2>"$T/serve.err" &
	SPID=$!
	trap 'kill $SPID $NEWPID 2>/dev/null' EXIT
	for _ in $(seq 100); do
		grep -q 'AWS_CONTAINER_AUTHORIZATION_TOKEN' "$T/serve.err" && break
		kill -0 "$SPID" 2>/dev/null || fail "serve exited: $(cat "$T/serve.err")"
		sleep 0.1
	done
	new_records 1
	[ "$NEW_COUNT" -ge 1 ] || fail "no CreateSession at start"
	[ "$(rec_leaf $((REC_BEFORE + 1)))" = "$(x509_b64 "$S/w1.crt")" ] ||
		fail "the first CreateSession is not signed with the first SVID"
	sleep 0.5
	calls0=$(calls "$ROT_REC")
	# Rotation: pushed on the open stream; no CreateSession for it alone.
	n=$(rec_count)
	printf '%s\n' "$TWO" >"$TESTDIR/ROT/rotate.new"
	mv "$TESTDIR/ROT/rotate.new" "$TESTDIR/ROT/rotate"
	sleep 1
	[ "$(rec_count)" -le $((n + 0)) ] || [ "$(rec_leaf "$(rec_count)")" != "$(x509_b64 "$S/w2.crt")" ] ||
		fail "a CreateSession with the new SVID came before the refresh was due"
	wait_leaf "$S/w2.crt" 20 || fail "no CreateSession with the rotated SVID in 20 s ($(($(rec_count) - REC_BEFORE)) in all); agent: $(cat "$ROT_REC"); serve: $(cat "$T/serve.err")"
	grep -q 'the SPIFFE Workload API sent a new SVID' "$T/serve.err" ||
		fail "no line for the new SVID: $(cat "$T/serve.err")"
	[ "$(calls "$ROT_REC")" -eq "$calls0" ] ||
		fail "serve called FetchX509SVID again ($calls0 -> $(calls "$ROT_REC")): the stream was not kept"
	# The agent restarts, serving the first SVID again.
	kill "$ROT_PID"
	wait "$ROT_PID" 2>/dev/null
	sleep 1
	kill -0 "$SPID" || fail "serve died with the agent"
	REC_BEFORE=$(rec_count)
	start_api ROT --svid "$ONE"
	NEWPID=$API_PID
	wait_leaf "$S/w1.crt" 15 ||
		fail "no CreateSession with the restarted agent's SVID in 15 s: $(cat "$T/serve.err")"
	grep -q 'stream at unix://.* broke' "$T/serve.err" ||
		fail "no line for the broken stream: $(cat "$T/serve.err")"
	kill -0 "$SPID" || fail "serve died"
	kill "$SPID"
	wait "$SPID"
	[ $? -eq 0 ] || fail "serve did not stop cleanly: $(tail -n 3 "$T/serve.err")"
}

run_test "credential-process with an SVID: signature and chain verified" t_credentials
run_test "--spiffe-id picks the second SVID; the first by default" t_spiffe_id
run_test "the workload.spiffe.io header is sent (the server refuses otherwise)" t_header
run_test "PermissionDenied twice, then the SVID within --timeout" t_denied_then_issued
run_test "Unavailable until --timeout: exit 3, one line" t_never_issued
run_test "another gRPC status: exit 5 at once, one line" t_other_status
run_test "an unreachable socket: exit 5, one line" t_unreachable
run_test "--spiffe-endpoint env reads SPIFFE_ENDPOINT_SOCKET" t_env
run_test "--certificate, --private-key, --intermediates refused with it" t_conflicts
run_test "sign-string with an SVID's key" t_sign_string
run_test "read-certificate-data shows the chosen SVID's leaf" t_read_certificate_data
run_test "serve: rotation on the open stream, used at the next refresh; agent restart" t_serve_rotation
run_test "nothing written: no file opened for writing, HOME and TMPDIR empty" t_nothing_written
