#!/bin/bash
# Every fuzz target's committed corpus as a regression test: each input of
# hsm-tests/fuzz/corpus/NAME/ is fed once to the target built as a plain
# program (hsm-tests/fuzz/driver.c with the normal compiler; under ASan and
# UBSan with make check SANITIZE=1). The targets check their invariants and
# abort when one breaks. One test per target, found by wildcard.
#   FUZZ_DRIVERS  where make check built them (default build/fuzz)
. "$(dirname "$0")/lib.sh"

FUZZ_DRIVERS=${FUZZ_DRIVERS:-build/fuzz}

t_corpus() {
	local name=$1 dir=hsm-tests/fuzz/corpus/$1
	[ -x "$FUZZ_DRIVERS/$name" ] ||
		fail "no driver $FUZZ_DRIVERS/$name: make check builds it"
	[ -n "$(ls -A "$dir" 2>/dev/null)" ] || fail "no seeds in $dir"
	"$FUZZ_DRIVERS/$name" "$dir" >"$T/out" 2>"$T/err" || {
		tail -n 20 "$T/err"
		fail "$name failed on its corpus (the last input named above)"
	}
	grep -q '^[1-9][0-9]* inputs run$' "$T/out" || fail "no input ran"
}

for src in hsm-tests/fuzz/fuzz_*.c; do
	name=${src#hsm-tests/fuzz/fuzz_}
	name=${name%.c}
	run_test "fuzz corpus $name: every input passes its invariants" \
		t_corpus "$name"
done
