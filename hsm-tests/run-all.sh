#!/usr/bin/env bash
# Runs every test program and script, then prints one closing line,
# "N passed, N failed", summed over all of them. Exit 1 if anything failed.
#   UNIT_TESTS   space-separated cmocka binaries
#   RASIGN, RA_ENDPOINT   the binaries under test (used by the scripts)
set -u
cd "$(dirname "$0")/.." || exit 1

# Sanitizer builds: third-party leaks we cannot fix are listed, with why.
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/hsm-tests/lsan.supp:print_suppressions=0}

passed=0 failed=0 skipped=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

count() {	# adds the counts of one program's output to the totals
	local p f
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n1)
	if [ -z "$p$f" ]; then	# a script: its own closing line
		p=$(sed -n 's/^\([0-9]*\) passed, [0-9]* failed.*/\1/p' "$log" | tail -n1)
		f=$(sed -n 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/p' "$log" | tail -n1)
	fi
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
}

for t in ${UNIT_TESTS:-}; do
	echo "== $t"
	"$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	count
	# A crash before the summary must still count as a failure.
	if [ $rc -ne 0 ] && ! grep -q '^\[  FAILED  \]' "$log"; then
		failed=$((failed + 1))
	fi
done

for t in hsm-tests/test-*.sh; do
	echo "== $t"
	bash "$t" >"$log" 2>&1
	rc=$?
	cat "$log"
	if [ $rc -eq 77 ]; then
		# In CI nothing may be skipped: a missing tool is a failure.
		if [ "${CI:-}" = true ]; then
			echo "FAIL: $t skipped in CI"
			failed=$((failed + 1))
		else
			skipped=$((skipped + 1))
		fi
		continue
	fi
	count
	if [ $rc -ne 0 ] && ! grep -Eq '^[0-9]+ passed, [1-9][0-9]* failed' "$log"; then
		failed=$((failed + 1))
	fi
done

if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ]
