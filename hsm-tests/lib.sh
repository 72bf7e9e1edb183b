# hsm-tests/lib.sh: a tiny TAP-ish harness for rasign's shell tests.
# Sourced (bash) by hsm-tests/test-*.sh, which are run from the repo root.
#
# In the spirit of p11-kit's common/test-init.sh: each test is a shell
# function run in a subshell by run_test, so an assertion that fails simply
# exits that subshell; the harness prints "ok N - name" or "not ok N - name"
# followed by the failure as "# " lines, and at exit the closing line
# "N passed, N failed" (exit 1 if anything failed).
#
# A missing tool skips the whole file with exit 77 (automake's "skip"), except
# under CI=true, where nothing may be skipped and a missing tool is a failure.
#
# Knobs (environment):
#   RASIGN        the binary under test        (default build/rasign)
#   RA_ENDPOINT   the local CreateSession server (default build/ra-endpoint)
#   FIXTURES_DIR  where make-pki.sh builds the PKI (default: inside the
#                 private temp dir; set it to reuse a PKI across runs)
#   CHECKER       a prefix for every rasign run, e.g. "valgrind -q --error-exitcode=99"
#   KEEP_TESTDIR  non-empty: leave the private temp dir behind for debugging
#   RUN_TIMEOUT   seconds before a hung rasign run is killed (default 60)
#   RUN_ONLY      a regular expression: run only the tests it matches

set -u

RASIGN=${RASIGN:-build/rasign}
RA_ENDPOINT=${RA_ENDPOINT:-build/ra-endpoint}
CHECKER=${CHECKER:-}
RUN_TIMEOUT=${RUN_TIMEOUT:-60}
HSM_TESTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Debian's python3 has only the standard library we need and starts 5x
# faster than a pyenv shim; fall back to whatever python3 is on PATH.
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
CHECK="$PY $HSM_TESTS/check.py"

# ARNs the endpoint is configured with (its contract).
TA_ARN=arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
PROFILE_ARN=arn:aws:rolesanywhere:us-east-1:123456789012:profile/5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f
ROLE_ARN=arn:aws:iam::123456789012:role/rasign-test
DEFAULT_BODY='{"durationSeconds":3600}'
# serve and update stamp their lines as Go's log does (rasign(1), serve):
# an ERE for the optional stamp, and a filter that takes it off.
STAMP_RE='([0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} )?'
unstamp() { sed -E 's#^[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} ##' "$@"; }

N_TESTS=0
N_PASS=0
N_FAIL=0
N_SKIP=0
LIB_SKIPPED_ALL=
ENDPOINT_PIDS=

# Everything a run creates lives in one private directory.
TESTDIR=$(mktemp -d "${TMPDIR:-/tmp}/rasign-tests.XXXXXX") || exit 1
chmod 0700 "$TESTDIR"
# Test scripts may call it $TMP too.
# shellcheck disable=SC2034
TMP=$TESTDIR

# rasign must see none of the caller's AWS setup: no profile, no shared config,
# no endpoint override, no proxy (the endpoint is on loopback).
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_REGION AWS_DEFAULT_REGION \
	AWS_ENDPOINT_URL AWS_ENDPOINT_URL_ROLESANYWHERE AWS_USE_FIPS_ENDPOINT \
	AWS_USE_DUALSTACK_ENDPOINT AWS_MAX_ATTEMPTS AWS_RETRY_MODE \
	HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export HOME=$TESTDIR/home
mkdir -p "$HOME"

# on_cleanup FUNCTION [ARGS...]: run FUNCTION ARGS when the script exits,
# on every path (normal end, bail_out, skip_all, INT/HUP/TERM), before the
# endpoints are stopped and the private directory removed. Call it from the
# top level of the script, not from a test (a test runs in a subshell, whose
# registrations are lost). Hooks run last registered first; each runs once.
LIB_CLEANUP_HOOKS=()
on_cleanup() {
	local q
	printf -v q '%q ' "$@"
	LIB_CLEANUP_HOOKS+=("$q")
}

lib_cleanup() {
	local pid i
	for ((i = ${#LIB_CLEANUP_HOOKS[@]} - 1; i >= 0; i--)); do
		eval "${LIB_CLEANUP_HOOKS[i]}" || true
	done
	LIB_CLEANUP_HOOKS=()
	for pid in $ENDPOINT_PIDS; do
		kill "$pid" 2>/dev/null
	done
	for pid in $ENDPOINT_PIDS; do
		# Give it a second to exit cleanly (ASan reports on exit), then force.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	ENDPOINT_PIDS=
	if [ -n "${KEEP_TESTDIR:-}" ]; then
		echo "# test directory kept: $TESTDIR"
	else
		rm -rf "$TESTDIR"
	fi
}

lib_on_exit() {
	local rc=$?
	trap - EXIT
	lib_cleanup
	if [ -n "$LIB_SKIPPED_ALL" ]; then
		exit 77
	fi
	echo "1..$N_TESTS"
	[ "$N_SKIP" -gt 0 ] && echo "# $N_SKIP skipped"
	echo "$N_PASS passed, $N_FAIL failed"
	if [ "$N_FAIL" -gt 0 ] || [ "$rc" -ne 0 ]; then
		exit 1
	fi
	exit 0
}
trap lib_on_exit EXIT
trap 'exit 130' INT HUP TERM

bail_out() {
	echo "Bail out! $*"
	N_FAIL=$((N_FAIL + 1))
	exit 1
}

# skip_all REASON: skip the whole file (exit 77), or fail it under CI.
skip_all() {
	if [ "${CI:-}" = true ]; then
		bail_out "$* (CI=true: nothing may be skipped)"
	fi
	echo "1..0 # SKIP $*"
	LIB_SKIPPED_ALL=1
	exit 77
}

# require_tool NAME...: every NAME must be an executable (path or on PATH).
require_tool() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null 2>&1 || skip_all "missing tool: $t"
	done
}

# setup_pki: build (or reuse) the test PKI and source its testvars.
setup_pki() {
	FIXTURES_DIR=${FIXTURES_DIR:-$TESTDIR/pki}
	bash softhsm-fixtures/make-pki.sh "$FIXTURES_DIR" >"$TESTDIR/make-pki.log" 2>&1 ||
		bail_out "make-pki.sh failed: $(tail -n 3 "$TESTDIR/make-pki.log")"
	# shellcheck disable=SC1091
	. "$FIXTURES_DIR/testvars"
	# The endpoint's TLS certificate is trusted the way a user would do it.
	export AWS_CA_BUNDLE=$TLS_CA
}

# setup_tokens: fresh SoftHSM tokens in the private directory (tests log in
# with wrong PINs and add objects), their testvars sourced, SOFTHSM2_CONF
# exported (softhsm2 registers itself with p11-kit; this names our tokens).
setup_tokens() {
	bash softhsm-fixtures/make-tokens.sh "$TESTDIR/tokens" "$FIXTURES_DIR" \
		>"$TESTDIR/make-tokens.log" 2>&1 ||
		bail_out "make-tokens.sh failed: $(tail -n 3 "$TESTDIR/make-tokens.log")"
	# shellcheck disable=SC1091
	. "$TESTDIR/tokens/testvars"
	export SOFTHSM2_CONF
}

# setup_tpm: fresh TPM keys and a swtpm in the private directory, started
# here and stopped on every way out of the script (also when a test
# restarted it: swtpm.sh finds it by the pid file). Sets TCTI (swtpm_stop
# unsets TPM_TCTI).
setup_tpm() {
	bash softhsm-fixtures/make-tpm-keys.sh "$TESTDIR/tpm" "$FIXTURES_DIR" \
		>"$TESTDIR/make-tpm-keys.log" 2>&1 ||
		bail_out "make-tpm-keys.sh failed: $(tail -n 3 "$TESTDIR/make-tpm-keys.log")"
	# shellcheck disable=SC1091
	. "$TESTDIR/tpm/testvars"
	# shellcheck source=softhsm-fixtures/swtpm.sh
	. "$TPM_SWTPM_SH"
	on_cleanup tpm_cleanup
	swtpm_start "$TPM_STATE" >"$TESTDIR/swtpm-start.log" 2>&1 ||
		bail_out "swtpm does not start: $(tail -n 3 "$TESTDIR/swtpm-start.log")"
	TCTI=$TPM_TCTI
}

tpm_cleanup() {
	swtpm_stop "$TPM_STATE" >/dev/null 2>&1
}

# lockout_counter: TPM2_PT_LOCKOUT_COUNTER (failed authorizations counted by
# the dictionary-attack protection) of TPM2TOOLS_TCTI's TPM, in decimal.
lockout_counter() {
	local v
	v=$(tpm2_getcap properties-variable 2>/dev/null |
		sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *//p')
	case $v in
	0x[0-9a-fA-F]*) echo $((v)) ;;
	*) echo "cannot read TPM2_PT_LOCKOUT_COUNTER: '$v'" >&2; return 1 ;;
	esac
}


# start_endpoint NAME TLS_CERT TLS_KEY [extra ra-endpoint args]
# Starts one ra-endpoint on an ephemeral port in $TESTDIR/NAME and sets
# NAME_PORT, NAME_URL, NAME_RECORD, NAME_FAULTS.
start_endpoint() {
	local name=$1 cert=$2 key=$3 d pid port _
	shift 3
	d=$TESTDIR/$name
	mkdir -p "$d"
	: >"$d/record"
	: >"$d/faults"
	"$RA_ENDPOINT" --tls-cert "$cert" --tls-key "$key" \
		--trust-anchor "$ROOT_CA_CRT" --region us-east-1 \
		--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
		--role-arn "$ROLE_ARN" --port 0 --port-file "$d/port" \
		--pid-file "$d/pid" --record "$d/record" --faults "$d/faults" \
		"$@" >"$d/log" 2>&1 </dev/null &
	pid=$!
	ENDPOINT_PIDS="$ENDPOINT_PIDS $pid"
	# The port file appears once the server listens; ASan builds start
	# slowly, so wait up to 10 s.
	port=
	for _ in $(seq 100); do
		if [ -s "$d/port" ]; then
			port=$(tr -d ' \n' <"$d/port")
			case $port in ''|*[!0-9]*) port= ;; *) break ;; esac
		fi
		kill -0 "$pid" 2>/dev/null ||
			bail_out "ra-endpoint $name exited: $(tail -n 3 "$d/log")"
		sleep 0.1
	done
	[ -n "$port" ] || bail_out "ra-endpoint $name wrote no port in 10 s"
	# Also kill the pid it recorded, should it have forked.
	if [ -s "$d/pid" ] && [ "$(cat "$d/pid")" != "$pid" ]; then
		ENDPOINT_PIDS="$ENDPOINT_PIDS $(cat "$d/pid")"
	fi
	printf -v "${name}_PORT" '%s' "$port"
	printf -v "${name}_URL" '%s' "https://127.0.0.1:$port"
	printf -v "${name}_RECORD" '%s' "$d/record"
	printf -v "${name}_FAULTS" '%s' "$d/faults"
}

# use_endpoint NAME: the endpoint rasign_cp talks to and the records checked.
use_endpoint() {
	local v
	v=${1}_PORT; EP_PORT=${!v}
	v=${1}_URL; EP_URL=${!v}
	v=${1}_RECORD; EP_RECORD=${!v}
	v=${1}_FAULTS; EP_FAULTS=${!v}
}

# set_faults LINE...: the answers for the next requests, one per line.
set_faults() {
	printf '%s\n' "$@" >"$EP_FAULTS"
}

# run_test NAME COMMAND [ARGS...]: run one test in a subshell.
run_test() {
	local name=$1 rc
	shift
	# RUN_ONLY=REGEX: run only the tests whose names match (while developing).
	[ -n "${RUN_ONLY:-}" ] && ! [[ $name =~ $RUN_ONLY ]] && return 0
	N_TESTS=$((N_TESTS + 1))
	T=$TESTDIR/t$N_TESTS
	mkdir -p "$T"
	# No fault left over from an earlier test may leak into this one.
	[ -n "${EP_FAULTS:-}" ] && : >"$EP_FAULTS"
	("$@") >"$T/log" 2>&1 </dev/null
	rc=$?
	case $rc in
	0)
		echo "ok $N_TESTS - $name"
		N_PASS=$((N_PASS + 1))
		;;
	77)
		if [ "${CI:-}" = true ]; then
			echo "not ok $N_TESTS - $name # skipped under CI=true"
			N_FAIL=$((N_FAIL + 1))
		else
			echo "ok $N_TESTS - $name # SKIP"
			N_SKIP=$((N_SKIP + 1))
		fi
		sed 's/^/# /' "$T/log"
		;;
	*)
		echo "not ok $N_TESTS - $name"
		N_FAIL=$((N_FAIL + 1))
		sed 's/^/# /' "$T/log"
		;;
	esac
}

# fail MESSAGE: end the current test as failed.
fail() {
	echo "$*"
	exit 1
}

# skip MESSAGE: end the current test as skipped.
skip() {
	echo "skip: $*"
	exit 77
}

# run_rasign ARGS...: run the binary with no terminal (setsid: /dev/tty cannot
# be opened, so a password prompt fails instead of hanging), stdin from
# /dev/null. Sets RC and the files OUT and ERR; remembers how many requests
# the current endpoint had recorded before (REC_BEFORE).
run_rasign() {
	OUT=$T/stdout
	ERR=$T/stderr
	REC_BEFORE=$(rec_count)
	echo "\$ rasign $*"
	# shellcheck disable=SC2086 # CHECKER is a command prefix
	setsid -w timeout -k 5 "$RUN_TIMEOUT" $CHECKER "$RASIGN" "$@" \
		</dev/null >"$OUT" 2>"$ERR"
	RC=$?
}

# The flag names of src/options.c's optdefs table (read from the source, so
# that the tests of --help, the completions and the man page do not take
# the table's word for itself).
table_flags() {
	sed -n 's/^[[:space:]]*{ "\([a-z0-9-]*\)", \(STR\|SECRET\|BOOL\|INT\),.*/\1/p' \
		src/options.c
}

# accepts CMD FLAG: the parser of CMD does not call --FLAG unknown.
accepts() {
	run_rasign "$1" "--$2=x" >/dev/null
	! grep -Eq -- "unknown flag --$2[;:]" "$ERR"
}

# parser_flags CMD: the flags CMD's parser takes, one a line, sorted.
parser_flags() {
	local f
	for f in $(table_flags); do
		accepts "$1" "$f" && echo "--$f"
	done | sort
}

# rasign_cp ARGS...: credential-process against the current endpoint.
rasign_cp() {
	run_rasign credential-process --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" \
		--endpoint "$EP_URL" "$@"
}

rec_count() {
	if [ -n "${EP_RECORD:-}" ] && [ -f "$EP_RECORD" ]; then
		wc -l <"$EP_RECORD" | tr -d ' '
	else
		echo 0
	fi
}

# new_records N: wait (up to 3 s: the endpoint may log after it answers) until
# N requests beyond REC_BEFORE are recorded; leave them in $T/new.jsonl.
new_records() {
	local want=$1 _
	for _ in $(seq 30); do
		[ $(($(rec_count) - REC_BEFORE)) -ge "$want" ] && break
		sleep 0.1
	done
	tail -n +$((REC_BEFORE + 1)) "$EP_RECORD" >"$T/new.jsonl"
	NEW_COUNT=$(wc -l <"$T/new.jsonl" | tr -d ' ')
}

show_run() {
	echo "exit status: $RC"
	echo "stdout: $(head -c 300 "$OUT")"
	sed 's/^/stderr: /' "$ERR" | head -n 20
}

assert_exit() {
	[ "$RC" -eq "$1" ] || { show_run; fail "exit status $RC, want $1"; }
}

assert_stdout_empty() {
	[ ! -s "$OUT" ] || { show_run; fail "stdout is not empty"; }
}

# Exactly one line, newline-terminated, beginning with "rasign: ".
assert_stderr_one_line() {
	local n
	n=$(wc -l <"$ERR" | tr -d ' ')
	if [ "$n" -ne 1 ]; then
		show_run
		fail "stderr has $n lines, want exactly 1"
	fi
	[ -z "$(tail -c 1 "$ERR")" ] || { show_run; fail "stderr does not end in a newline"; }
	grep -Eq "^${STAMP_RE}rasign: " "$ERR" || { show_run; fail "stderr does not start with 'rasign: '"; }
}

# assert_stderr_matches REGEX: extended regex, case-insensitive.
assert_stderr_matches() {
	grep -Eiq -- "$1" "$ERR" || { show_run; fail "stderr does not match /$1/i"; }
}

# assert_json_field FILE KEY EXPECTED: a top-level string field of a JSON file.
assert_json_field() {
	local v
	v=$($CHECK field "$1" "$2") || fail "no field $2 in $1"
	[ "$v" = "$3" ] || fail "$2 is '$v', want '$3'"
}

# assert_failure CODE REGEX: the complete contract of a failed run.
assert_failure() {
	assert_exit "$1"
	assert_stdout_empty
	assert_stderr_one_line
	assert_stderr_matches "$2"
}

# assert_requests N: exactly N requests reached the endpoint in this run.
assert_requests() {
	new_records "$1"
	# Settle: a request beyond N would have been answered before rasign
	# exited, but its record line may still be on its way.
	sleep 0.2
	new_records "$1"
	[ "$NEW_COUNT" -eq "$1" ] ||
		fail "$NEW_COUNT request(s) reached the endpoint, want $1"
}

# assert_no_request: a pre-flight failure must not touch the network.
assert_no_request() {
	sleep 0.1
	[ "$(rec_count)" -eq "$REC_BEFORE" ] ||
		fail "the record grew by $(($(rec_count) - REC_BEFORE)): a request was sent"
}

# expect_success CERT ALG [check.py success options]: exit 0, the exact
# credential_process JSON, its AccessKeyId equal to the one the endpoint
# issued, and the request as spec §2.3-2.4 describes it. One request is
# expected unless --requests N is given.
expect_success() {
	local cert=$1 alg=$2 n=1 a
	shift 2
	for a in "$@"; do
		case $a in --requests=*) n=${a#--requests=} ;; esac
	done
	assert_exit 0
	new_records "$n"
	$CHECK success --stdout "$OUT" --records "$T/new.jsonl" --cert "$cert" \
		--alg "$alg" --host "127.0.0.1:$EP_PORT" --body "$DEFAULT_BODY" \
		--requests="$n" --trust-anchor-arn "$TA_ARN" \
		--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" "$@" ||
		{ show_run; fail "request or output check failed"; }
}

# ---------------------------------------------------------------- sign-string

# check_signature FORMAT DIGEST CERT: $OUT, in FORMAT, is the signature of
# the fixed string, made with the key of CERT. The string and the public-key
# bytes are computed here independently of rasign: the BIT STRING contents
# of the SubjectPublicKeyInfo are the EC point (04||X||Y) or the PKCS#1
# RSAPublicKey DER; openssl verifies (PKCS#1 v1.5 for RSA, DER ECDSA).
check_signature() {
	local fmt=$1 md=$2 crt=$3
	openssl x509 -in "$crt" -noout -pubkey >"$T/pub.pem" &&
		openssl pkey -pubin -in "$T/pub.pem" -outform DER -out "$T/spki.der" ||
		fail "cannot read the public key of $crt"
	$PY - "$fmt" "$OUT" "$T/sig.bin" "$T/spki.der" "$T/msg.bin" <<'EOF' ||
import hashlib
import re
import sys

fmt, out, sig, spki, msg = sys.argv[1:]
raw = open(out, "rb").read()
if fmt == "text":
    if not re.fullmatch(rb"[0-9a-f]+", raw):
        sys.exit("text output is not bare lower-case hex: %r" % raw[:80])
    raw = bytes.fromhex(raw.decode())
elif fmt == "json":
    if not re.fullmatch(rb'"[0-9a-f]+"', raw):
        sys.exit("json output is not a quoted lower-case hex string: %r" % raw[:80])
    raw = bytes.fromhex(raw[1:-1].decode())
if not raw:
    sys.exit("empty signature")
open(sig, "wb").write(raw)


def tlv(b, p):
    tag, n = b[p], b[p + 1]
    p += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(b[p:p + k], "big")
        p += k
    return tag, p, p + n


der = open(spki, "rb").read()
_, p, _ = tlv(der, 0)            # SubjectPublicKeyInfo
_, _, p = tlv(der, p)            # AlgorithmIdentifier
tag, s, e = tlv(der, p)          # subjectPublicKey BIT STRING
if tag != 0x03 or der[s] != 0:
    sys.exit("no BIT STRING in the SubjectPublicKeyInfo")
pub = der[s + 1:e]
if not ((pub[0] == 0x04 and len(pub) in (65, 97)) or pub[0] == 0x30):
    sys.exit("public key bytes are neither an EC point nor RSAPublicKey")
open(msg, "wb").write(b"AWS Roles Anywhere Credential Helper Signing Test" + b"1" +
                      hashlib.sha256(b"IAM RA" + pub).digest())
EOF
		{ show_run; fail "sign-string output check failed"; }
	openssl dgst "-${md,,}" -verify "$T/pub.pem" \
		-signature "$T/sig.bin" "$T/msg.bin" ||
		{ show_run; fail "the signature does not verify with $crt over the fixed string ($md)"; }
}
