#!/bin/bash
# bench/run.sh: rasign's benchmark suite (`make bench`). Not a test: it
# prints one table (and writes it as CSV) and fails only when it cannot
# measure, never because a figure misses its target.
#
# Everything runs on loopback in a private directory: the test PKI, SoftHSM
# tokens and a swtpm built by softhsm-fixtures/, the local CreateSession
# endpoint (build/ra-endpoint) on port 0, rasign serve on port 0. A trap
# stops what was started and removes the directory.
#
# Each figure is the median, min and max of BENCH_RUNS runs (default 20,
# at least 20), measured in this run beside its floor: a fresh trivial
# process (bench/noop) plus the pieces bench/floor times through the same
# libraries (key open, one signature, module or TPM start-up, one fresh
# HTTPS POST). Wall time by hyperfine (-N, no shell), peak RSS by GNU time.
#
# Knobs (environment): RASIGN, RA_ENDPOINT, FLOOR, NOOP (the binaries),
# BENCH_RUNS, BENCH_CSV (default build/bench.csv), KEEP_BENCHDIR.

set -u
cd "$(dirname "$0")/.." || exit 1

RASIGN=${RASIGN:-build/rasign}
RA_ENDPOINT=${RA_ENDPOINT:-build/ra-endpoint}
FLOOR=${FLOOR:-build/bench/floor}
NOOP=${NOOP:-build/bench/noop}
RUNS=${BENCH_RUNS:-20}
BENCH_CSV=${BENCH_CSV:-build/bench.csv}
# The load test: wrk runs of one second, then up to DRIVE_MAX seconds more
# until about DRIVE_TOTAL requests have been served.
WRK_RUNS=$RUNS
DRIVE_TOTAL=1000000
DRIVE_MAX=60
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
REPORT="$PY bench/report.py"

TA_ARN=arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
PROFILE_ARN=arn:aws:rolesanywhere:us-east-1:123456789012:profile/5f1c0a2e-8a3b-4c1d-9e2f-1a2b3c4d5e6f
ROLE_ARN=arn:aws:iam::123456789012:role/rasign-test
ROLE_NAME=${ROLE_ARN##*/}

die() {
	echo "bench: $*" >&2
	exit 1
}

[ "$RUNS" -ge 20 ] 2>/dev/null || die "BENCH_RUNS must be at least 20"
for b in "$RASIGN" "$RA_ENDPOINT" "$FLOOR" "$NOOP"; do
	[ -x "$b" ] || die "$b not built (make bench builds it)"
done
for t in hyperfine wrk curl /usr/bin/time openssl swtpm softhsm2-util \
	pkcs11-tool tpm2_getcap "$PY"; do
	command -v "$t" >/dev/null 2>&1 || die "missing tool: $t (make bench installs it)"
done
RASIGN=$(realpath "$RASIGN")
RA_ENDPOINT=$(realpath "$RA_ENDPOINT")
FLOOR=$(realpath "$FLOOR")
NOOP=$(realpath "$NOOP")
START=$EPOCHREALTIME
# Other work on the machine skews every figure: say how busy it was.
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the private dir

# Short: the swtpm socket path must fit in sun_path.
W=$(mktemp -d /tmp/rasign-bench.XXXXXX) || exit 1
chmod 0700 "$W"
PIDS=
TPM_STATE=

cleanup() {
	local pid _
	trap - EXIT
	for pid in $PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $PIDS; do
		for _ in $(seq 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ -n "$TPM_STATE" ]; then
		swtpm_stop "$TPM_STATE" >/dev/null 2>&1
	fi
	if [ -n "${KEEP_BENCHDIR:-}" ]; then
		echo "bench: directory kept: $W" >&2
	else
		rm -rf "$W"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT HUP TERM

# rasign sees none of the caller's AWS set-up, and no proxy.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_REGION AWS_DEFAULT_REGION \
	AWS_ENDPOINT_URL AWS_ENDPOINT_URL_ROLESANYWHERE AWS_USE_FIPS_ENDPOINT \
	AWS_USE_DUALSTACK_ENDPOINT AWS_MAX_ATTEMPTS AWS_RETRY_MODE TSS2_LOG \
	TPM2TOOLS_TCTI TPM2OPENSSL_TCTI TPM_DEVICE \
	HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
export HOME=$W/home XDG_RUNTIME_DIR=$W/run
mkdir -p "$HOME" "$XDG_RUNTIME_DIR"
chmod 0700 "$XDG_RUNTIME_DIR"
RAW=$W/raw.csv
: >"$RAW"

# elapsed: seconds since the start, to a tenth.
elapsed() {
	local us=$((${EPOCHREALTIME/./} - ${START/./}))
	printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}

step() {
	printf 'bench: %-60s %6s s\n' "$*" "$(elapsed)" >&2
}

# ---------------------------------------------------------------- fixtures

step "fixtures: PKI, SoftHSM tokens, swtpm keys"
bash softhsm-fixtures/make-pki.sh "$W/pki" >"$W/make-pki.log" 2>&1 ||
	die "make-pki.sh failed: $(tail -n 3 "$W/make-pki.log")"
bash softhsm-fixtures/make-tokens.sh "$W/tokens" "$W/pki" \
	>"$W/make-tokens.log" 2>&1 &
TOK_PID=$!
bash softhsm-fixtures/make-tpm-keys.sh "$W/tpm" "$W/pki" \
	>"$W/make-tpm-keys.log" 2>&1 ||
	die "make-tpm-keys.sh failed: $(tail -n 3 "$W/make-tpm-keys.log")"
wait "$TOK_PID" ||
	die "make-tokens.sh failed: $(tail -n 3 "$W/make-tokens.log")"
# shellcheck disable=SC1091
. "$W/pki/testvars"
# shellcheck disable=SC1091
. "$W/tokens/testvars"
# shellcheck disable=SC1091
. "$W/tpm/testvars"
# shellcheck source=softhsm-fixtures/swtpm.sh
. "$TPM_SWTPM_SH"
export SOFTHSM2_CONF AWS_CA_BUNDLE=$TLS_CA
swtpm_start "$TPM_STATE" >"$W/swtpm-start.log" 2>&1 ||
	die "swtpm does not start: $(tail -n 3 "$W/swtpm-start.log")"
# swtpm_start exports these for tpm2-tools; rasign gets --tpm-tcti instead.
unset TPM2TOOLS_TCTI TPM2OPENSSL_TCTI
TCTI=$TPM_TCTI

# ---------------------------------------------------------------- endpoint

EPD=$W/endpoint
mkdir -p "$EPD"
: >"$EPD/record"
"$RA_ENDPOINT" --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY" \
	--trust-anchor "$ROOT_CA_CRT" --region us-east-1 \
	--trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
	--role-arn "$ROLE_ARN" --port 0 --port-file "$EPD/port" \
	--pid-file "$EPD/pid" --record "$EPD/record" \
	>"$EPD/log" 2>&1 </dev/null &
PIDS="$PIDS $!"
EP_PORT=
for _ in $(seq 100); do
	[ -s "$EPD/port" ] && EP_PORT=$(tr -d ' \n' <"$EPD/port") && break
	sleep 0.05
done
case $EP_PORT in '' | *[!0-9]*) die "ra-endpoint wrote no port: $(tail -n 3 "$EPD/log")" ;; esac
EP_URL=https://127.0.0.1:$EP_PORT

rec_count() {
	wc -l <"$EPD/record" | tr -d ' '
}

# rec_settled: the record's line count once it stops growing (the endpoint
# writes a request's line after answering it).
rec_settled() {
	local a b
	a=$(rec_count)
	for _ in $(seq 20); do
		sleep 0.05
		b=$(rec_count)
		[ "$a" = "$b" ] && break
		a=$b
	done
	echo "$a"
}

# ---------------------------------------------------------------- helpers

# raw KIND NAME METRIC UNIT N,MEDIAN,MIN,MAX
raw() {
	echo "$1,$2,$3,$4,$5" >>"$RAW"
}

# wall KIND NAME COMMAND...: hyperfine -N, 2 warm-up runs, RUNS runs.
wall() {
	local kind=$1 name=$2 cmd
	shift 2
	printf -v cmd '%q ' "$@"
	hyperfine -N --style none --warmup 2 --runs "$RUNS" \
		--export-json "$W/h.json" "$cmd" >"$W/h.log" 2>&1 ||
		die "$kind $name: hyperfine failed: $(tail -n 5 "$W/h.log")"
	raw "$kind" "$name" wall us "$($REPORT hyperfine "$W/h.json")" ||
		die "$kind $name: no timing"
}

# rss KIND NAME COMMAND...: peak RSS (KiB) of RUNS runs, by GNU time.
rss() {
	local kind=$1 name=$2 i
	shift 2
	: >"$W/rss"
	for ((i = 0; i < RUNS; i++)); do
		/usr/bin/time -f %M -o "$W/rss.1" "$@" >/dev/null 2>"$W/rss.err" ||
			die "$kind $name: run failed: $(tail -n 3 "$W/rss.err")"
		tail -n 1 "$W/rss.1" >>"$W/rss"
	done
	raw "$kind" "$name" rss KiB "$($REPORT stats <"$W/rss")"
}

# check_run WHAT PATTERN COMMAND...: one run must succeed and print PATTERN.
check_run() {
	local what=$1 pat=$2
	shift 2
	"$@" >"$W/check.out" 2>"$W/check.err" ||
		die "$what fails: $(head -n 3 "$W/check.err")"
	[ -z "$pat" ] || grep -q -- "$pat" "$W/check.out" ||
		die "$what printed no $pat: $(head -c 200 "$W/check.out")"
}

# ---------------------------------------------------------------- the floor

KEYS=(
	--file-rsa2048 "$LEAF_RSA2048_P8" --file-p256 "$LEAF_EC_P256_P8"
	--p11-module "$P11_MODULE" --p11-token "$MAIN_TOKEN" --p11-pin "$USER_PIN"
	--p11-rsa2048 "$MAIN_RSA2048_ID" --p11-p256 "$MAIN_EC_P256_ID"
	--tcti "$TCTI" --tpm-rsa2048 "$TPM_RSA2048_KEY" --tpm-p256 "$TPM_EC_P256_KEY"
)
POST=(--url "$EP_URL/sessions" --cainfo "$TLS_CA")

step "floor: process start, key open, sign, module/TPM start, HTTPS"
wall floor proc.start "$NOOP"
"$FLOOR" --runs $((RUNS > 50 ? RUNS : 50)) "${KEYS[@]}" "${POST[@]}" \
	>"$W/floor.csv" 2>"$W/floor.err" ||
	die "bench/floor failed: $(tail -n 3 "$W/floor.err")"
tail -n +2 "$W/floor.csv" | while IFS=, read -r piece n med lo hi; do
	raw floor "$piece" wall us "$n,$med,$lo,$hi"
done

# ---------------------------------------------------------------- per backend

BACKENDS="file-rsa2048 file-p256 p11-rsa2048 p11-p256 tpm-rsa2048 tpm-p256"

# key_args BACKEND: rasign's key options for it (into the array KARGS). The
# SoftHSM module is named, as the floor loads it: p11-kit's registry would
# also load OpenSC.
key_args() {
	case $1 in
	file-rsa2048) KARGS=(--certificate "$LEAF_RSA2048_CRT" --private-key "$LEAF_RSA2048_P8") ;;
	file-p256) KARGS=(--certificate "$LEAF_EC_P256_CRT" --private-key "$LEAF_EC_P256_P8") ;;
	p11-rsa2048) KARGS=(--certificate "$MAIN_RSA2048_CRT_URI?pin-value=$USER_PIN" --pkcs11-lib "$P11_MODULE") ;;
	p11-p256) KARGS=(--certificate "$MAIN_EC_P256_CRT_URI?pin-value=$USER_PIN" --pkcs11-lib "$P11_MODULE") ;;
	tpm-rsa2048) KARGS=(--certificate "$TPM_RSA2048_CRT" --private-key "$TPM_RSA2048_KEY" --tpm-tcti "$TCTI") ;;
	tpm-p256) KARGS=(--certificate "$TPM_EC_P256_CRT" --private-key "$TPM_EC_P256_KEY" --tpm-tcti "$TCTI") ;;
	esac
}

CP_ARGS=(credential-process --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN"
	--role-arn "$ROLE_ARN" --endpoint "$EP_URL" --intermediates "$INTERMEDIATES")

for b in $BACKENDS; do
	key_args "$b"
	step "credential-process and sign-string: $b"
	check_run "credential-process $b" AccessKeyId "$RASIGN" "${CP_ARGS[@]}" "${KARGS[@]}"
	wall cp "$b" "$RASIGN" "${CP_ARGS[@]}" "${KARGS[@]}"
	rss cp "$b" "$RASIGN" "${CP_ARGS[@]}" "${KARGS[@]}"
	check_run "bench/floor --once $b" "" "$FLOOR" "${KEYS[@]}" "${POST[@]}" --once "$b"
	wall helper-cp "$b" "$FLOOR" "${KEYS[@]}" "${POST[@]}" --once "$b"
	rss helper-cp "$b" "$FLOOR" "${KEYS[@]}" "${POST[@]}" --once "$b"

	check_run "sign-string $b" '[0-9a-f]' "$RASIGN" sign-string "${KARGS[@]}"
	wall ss "$b" "$RASIGN" sign-string "${KARGS[@]}"
	rss ss "$b" "$RASIGN" sign-string "${KARGS[@]}"
	wall helper-ss "$b" "$FLOOR" "${KEYS[@]}" --once "$b"
	rss helper-ss "$b" "$FLOOR" "${KEYS[@]}" --once "$b"
done
key_args file-p256
FILE_P256=("${KARGS[@]}")

# ---------------------------------------------------------------- update

step "update --once into a credentials file with 1,000 profiles"
CREDS=$W/credentials
"$PY" - "$CREDS" <<'EOF'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1000):
        f.write("[p%d]\naws_access_key_id = AKIAOLD%013d\n"
                "aws_secret_access_key = %s\naws_session_token = %s\n"
                "region = us-east-1\n\n" % (i, i, "s" * 40, "t" * 400))
EOF
chmod 0600 "$CREDS"
UPDATE=("$RASIGN" update --once --profile p500 --trust-anchor-arn "$TA_ARN"
	--profile-arn "$PROFILE_ARN" --role-arn "$ROLE_ARN" --endpoint "$EP_URL"
	--intermediates "$INTERMEDIATES" "${FILE_P256[@]}")
AWS_SHARED_CREDENTIALS_FILE=$CREDS check_run "update --once" "" "${UPDATE[@]}"
AWS_SHARED_CREDENTIALS_FILE=$CREDS wall update p500 "${UPDATE[@]}"
AWS_SHARED_CREDENTIALS_FILE=$CREDS rss update p500 "${UPDATE[@]}"
[ "$(grep -c '^\[p[0-9]*\]$' "$CREDS")" = 1000 ] ||
	die "update left $(grep -c '^\[p' "$CREDS") profiles, want 1000"
grep -A1 '^\[p500\]$' "$CREDS" | grep -q 'aws_access_key_id = ASIA' ||
	die "update did not write profile p500"

# ---------------------------------------------------------------- cache

CACHE_CP=("$RASIGN" "${CP_ARGS[@]}" "${FILE_P256[@]}" --cache)
clear_cache() {
	rm -rf "$XDG_RUNTIME_DIR/rasign" "$HOME/.cache/rasign"
}
if "$RASIGN" credential-process --help 2>&1 | grep -q -- '--cache'; then
	step "credential-process --cache: hits, 20 concurrent cold calls"
	clear_cache
	check_run "credential-process --cache" AccessKeyId "${CACHE_CP[@]}"
	before=$(rec_settled)
	wall cache hit "${CACHE_CP[@]}"
	rss cache hit "${CACHE_CP[@]}"
	n=$(($(rec_settled) - before))
	raw cache hit requests count "1,$n,$n,$n"
	: >"$W/cold.wall"
	: >"$W/cold.req"
	mkdir -p "$W/cold"
	for ((r = 0; r < RUNS; r++)); do
		clear_cache
		before=$(rec_settled)
		pids=()
		t0=$EPOCHREALTIME
		for ((i = 0; i < 20; i++)); do
			"${CACHE_CP[@]}" >"$W/cold/$i.out" 2>"$W/cold/$i.err" &
			pids+=($!)
		done
		for i in "${!pids[@]}"; do
			wait "${pids[i]}" ||
				die "a concurrent cold --cache call failed: $(head -n 3 "$W/cold/$i.err")"
		done
		t1=$EPOCHREALTIME
		for ((i = 0; i < 20; i++)); do
			grep -q AccessKeyId "$W/cold/$i.out" ||
				die "a concurrent cold --cache call printed no credentials"
		done
		echo "$((${t1/./} - ${t0/./}))" >>"$W/cold.wall"
		echo "$(($(rec_settled) - before))" >>"$W/cold.req"
	done
	raw cache cold20 wall us "$($REPORT stats <"$W/cold.wall")"
	raw cache cold20 requests count "$($REPORT stats <"$W/cold.req")"
else
	step "credential-process --cache: n/a (not built)"
	for m in hit,wall hit,requests cold20,wall cold20,requests; do
		echo "cache,$m,,na" >>"$RAW"
	done
fi

# ---------------------------------------------------------------- serve

step "serve: $WRK_RUNS x wrk -t2 -c32 -d1s, then ~$DRIVE_TOTAL requests"
"$RASIGN" serve --trust-anchor-arn "$TA_ARN" --profile-arn "$PROFILE_ARN" \
	--role-arn "$ROLE_ARN" --endpoint "$EP_URL" --intermediates "$INTERMEDIATES" \
	"${FILE_P256[@]}" --port 0 </dev/null >"$W/serve.out" 2>"$W/serve.err" &
SERVE_PID=$!
PIDS="$PIDS $SERVE_PID"
SERVE_PORT=
for _ in $(seq 200); do
	grep -Eq '^([0-9/]{10} [0-9:]{8} )?export AWS_CONTAINER_AUTHORIZATION_TOKEN' "$W/serve.err" && break
	kill -0 "$SERVE_PID" 2>/dev/null || die "serve exited: $(head -n 3 "$W/serve.err")"
	sleep 0.05
done
# Each line starts with the time (rasign(1), DIAGNOSTICS).
SERVE_PORT=$(sed -En 's/^([0-9/]{10} [0-9:]{8} )?Local server started on port: ([0-9]*)$/\2/p' "$W/serve.err")
[ "${SERVE_PORT:-0}" -gt 0 ] 2>/dev/null || die "serve printed no port: $(head -n 3 "$W/serve.err")"
SERVE=http://127.0.0.1:$SERVE_PORT
TOKEN=$(curl -sS --noproxy '*' -m 5 -X PUT \
	-H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' "$SERVE/latest/api/token") ||
	die "no IMDS token from serve"
CREDS_PATH=/latest/meta-data/iam/security-credentials/$ROLE_NAME
curl -sS --noproxy '*' -m 5 -f -H "X-aws-ec2-metadata-token: $TOKEN" \
	"$SERVE$CREDS_PATH" | grep -q AccessKeyId || die "serve gives no credentials"
cat >"$W/imds.lua" <<EOF
-- The IMDSv2 session token on every request.
wrk.headers["X-aws-ec2-metadata-token"] = "$TOKEN"
EOF

vm() { # vm FIELD: serve's /proc status field, in KiB
	sed -n "s/^$1:[[:space:]]*\([0-9]*\) kB$/\1/p" "/proc/$SERVE_PID/status"
}
v=$(vm VmRSS)
raw serve start VmRSS KiB "1,$v,$v,$v"

# wrk_run SECONDS: one load run; appends "rps p50 p99 requests non2xx errors".
wrk_run() {
	wrk -t2 -c32 -d"$1"s --latency -s "$W/imds.lua" "$SERVE$CREDS_PATH" \
		>"$W/wrk.out" 2>&1 || die "wrk failed: $(tail -n 3 "$W/wrk.out")"
	$REPORT wrk "$W/wrk.out" >>"$W/wrk.runs" || exit 1
}
: >"$W/wrk.runs"
for ((r = 0; r < WRK_RUNS; r++)); do
	wrk_run 1
done
raw serve load rps req/s "$(awk '{print $1}' "$W/wrk.runs" | $REPORT stats)"
raw serve load p50 us "$(awk '{print $2}' "$W/wrk.runs" | $REPORT stats)"
raw serve load p99 us "$(awk '{print $3}' "$W/wrk.runs" | $REPORT stats)"
# Then on to ~DRIVE_TOTAL requests at the measured rate, capped.
done_n=$(awk '{s += $4} END {print s}' "$W/wrk.runs")
rate=$(awk '{print $1}' "$W/wrk.runs" | sort -n | awk '{a[NR] = $1} END {print int(a[int((NR + 1) / 2)])}')
if [ "$done_n" -lt "$DRIVE_TOTAL" ] && [ "${rate:-0}" -gt 0 ]; then
	secs=$(((DRIVE_TOTAL - done_n + rate - 1) / rate))
	[ "$secs" -gt "$DRIVE_MAX" ] && secs=$DRIVE_MAX
	wrk_run "$secs"
fi
total=$(awk '{s += $4} END {print s}' "$W/wrk.runs")
errors=$(awk '{s += $5 + $6} END {print s}' "$W/wrk.runs")
raw serve load errors count "1,$errors,$errors,$errors"
raw serve total requests count "1,$total,$total,$total"
v=$(vm VmRSS)
raw serve after VmRSS KiB "1,$v,$v,$v"
v=$(vm VmHWM)
raw serve after VmHWM KiB "1,$v,$v,$v"

# ---------------------------------------------------------------- the table

step "done"
echo
echo "rasign make bench: $(nproc) cores, $RUNS runs a figure: median, min, max;" \
	"load average $LOAD_START at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
mkdir -p "$(dirname "$BENCH_CSV")"
$REPORT table "$RAW" "$BENCH_CSV" || die "no table"
echo "CSV: $BENCH_CSV; total time $(elapsed) s"
