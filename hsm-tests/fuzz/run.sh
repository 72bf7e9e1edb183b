#!/bin/bash
# run.sh NAME...: the fuzz campaign of `make fuzz`. Each target runs for
# FUZZ_SECONDS on a copy of its corpus (new inputs go to the copy, never to
# the committed seeds), with its dictionary when there is one, one target
# at a time and niced. Stops at the first crash and says where it is.
#   FUZZ_BIN   the libFuzzer binaries (build-fuzz/libfuzzer)
#   FUZZ_WORK  corpus copies and crash files (build-fuzz/work)
#   FUZZ_RUNS  also stop after this many executions (default: time only)
set -u
cd "$(dirname "$0")/../.." || exit 1
: "${FUZZ_BIN:=build-fuzz/libfuzzer}" "${FUZZ_WORK:=build-fuzz/work}"
: "${FUZZ_SECONDS:=60}"
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/hsm-tests/lsan.supp:print_suppressions=0}
status=0
for name in "$@"; do
	corpus=$FUZZ_WORK/$name/corpus
	crashes=$FUZZ_WORK/$name/crashes
	mkdir -p "$corpus" "$crashes"
	cp -n hsm-tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	opts=()
	[ -n "${FUZZ_RUNS:-}" ] && opts+=(-runs="$FUZZ_RUNS")
	[ -f hsm-tests/fuzz/"$name".dict ] && opts+=(-dict=hsm-tests/fuzz/"$name".dict)
	echo "== fuzz $name for ${FUZZ_SECONDS}s"
	# -timeout: a unit slower than 25 s is a finding (a hang), not a wait.
	nice -n 10 "$FUZZ_BIN/$name" -max_total_time="$FUZZ_SECONDS" \
		-timeout=25 -print_final_stats=1 "${opts[@]}" \
		-artifact_prefix="$crashes/" "$corpus" \
		>"$FUZZ_WORK/$name/log" 2>&1
	rc=$?
	grep -E '^stat::(number_of_executed_units|average_exec_per_sec|new_units_added)' \
		"$FUZZ_WORK/$name/log" | sed 's/^/   /'
	if [ $rc -ne 0 ]; then
		echo "FAIL: $name crashed (exit $rc): input in $crashes/, log in $FUZZ_WORK/$name/log"
		grep -E 'ERROR:|invariant broken|SUMMARY' "$FUZZ_WORK/$name/log" | head -n 5
		status=1
		break
	fi
done
[ $status -eq 0 ] && echo "fuzz: no crash in $*"
exit $status
