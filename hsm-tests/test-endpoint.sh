#!/bin/bash
# The local endpoint checks itself against the known-answer vectors: it must
# rebuild each canonical request and string to sign byte for byte, accept
# each vector's signature, and refuse a copy with one signature digit
# changed. A stand-in that verified nothing would make every other test moot.
set -u
cd "$(dirname "$0")/.." || exit 1
RA_ENDPOINT=${RA_ENDPOINT:-build/ra-endpoint}
if [ ! -x "$RA_ENDPOINT" ]; then
	echo "$RA_ENDPOINT not built"
	[ "${CI:-}" = true ] && exit 1
	exit 77
fi
out=$("$RA_ENDPOINT" --self-test hsm-tests/vectors/*.json 2>&1)
rc=$?
printf '%s\n' "$out"
passed=$(printf '%s\n' "$out" | grep -c '^ok ')
failed=$(printf '%s\n' "$out" | grep -c '^not ok ')
[ $rc -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
