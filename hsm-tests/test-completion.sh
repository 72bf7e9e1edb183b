#!/bin/bash
# rasign completion bash|zsh|fish and the man page SYNOPSIS against the
# parser: every flag a subcommand's parser takes (asked of the parser
# itself, for each name in src/options.c's table) is offered by each
# shell's completion for that subcommand, and nothing else is; the
# SYNOPSIS lists the same flags.
#
# Run from the repo root: bash hsm-tests/test-completion.sh

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool bash zsh fish sed sort comm
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
RASIGN_DIR=$(cd "$(dirname "$RASIGN")" && pwd)

COMMANDS="credential-process serve update exec sign-string read-certificate-data version"
# What each parser takes, asked once (about 40 runs per command).
T=$TESTDIR/setup
mkdir -p "$T"
for c in $COMMANDS; do
	parser_flags "$c" >"$TESTDIR/parser-$c"
done

# bash_complete WORD...: what the bash completion offers for the line
# "rasign WORD..." (the last word is the one completed), one a line.
bash_complete() {
	"$RASIGN" completion bash >"$T/c.bash" || fail "completion bash failed"
	bash -c '. "$1"; shift; COMP_WORDS=(rasign "$@"); COMP_CWORD=$#
		cd "$0" && _rasign; printf "%s\n" "${COMPREPLY[@]}"' \
		"$T" "$T/c.bash" "$@" | sed '/^$/d' | sort
}

fish_complete() {
	"$RASIGN" completion fish >"$T/c.fish" || fail "completion fish failed"
	PATH=$RASIGN_DIR:$PATH fish -c "source '$T/c.fish'; complete -C '$*'" |
		cut -f1 | sort
}

# same WANT GOT WHAT: equal sorted lists, or the difference.
same() {
	if ! cmp -s "$1" "$2"; then
		echo "only in the parser:"; comm -23 "$1" "$2"
		echo "only in $3:"; comm -13 "$1" "$2"
		fail "$3 does not offer exactly the parser's flags"
	fi
}

t_bash_flags() {
	local c
	bash -n <("$RASIGN" completion bash) || fail "not bash"
	for c in $COMMANDS; do
		bash_complete "$c" -- | grep -vx -- --help >"$T/got"
		same "$TESTDIR/parser-$c" "$T/got" "bash for $c"
	done
	# The bash function is bound to both names, as `complete -p` shows.
	bash -c '. <("$0" completion bash); complete -p rasign aws_signing_helper' \
		"$RASIGN" >"$T/bound" || fail "not bound: $(cat "$T/bound")"
	[ "$(grep -c -- '-F _rasign' "$T/bound")" = 2 ] || fail "not bound to both names"
}

t_bash_values() {
	: >"$T/cert.pem"
	bash_complete credential-process --certificate "" >"$T/got"
	for w in pkcs11: env: fd: file: cert.pem; do
		grep -qx -- "$w" "$T/got" || fail "--certificate does not offer $w: $(cat "$T/got")"
	done
	bash_complete sign-string --private-key h >"$T/got"
	grep -qx 'handle:' "$T/got" || fail "--private-key does not offer handle:"
	bash_complete serve --pkcs11-pin "" >"$T/got"
	[ "$(tr '\n' ' ' <"$T/got")" = "env: fd: file: pass: " ] ||
		fail "--pkcs11-pin offers $(cat "$T/got")"
	bash_complete sign-string --digest SHA3 >"$T/got"
	[ "$(cat "$T/got")" = SHA384 ] || fail "--digest SHA3 offers $(cat "$T/got")"
	bash_complete "" >"$T/got"
	for c in $COMMANDS completion help; do
		grep -qx -- "$c" "$T/got" || fail "no subcommand $c"
	done
	bash_complete completion "" >"$T/got"
	[ "$(tr '\n' ' ' <"$T/got")" = "bash fish zsh " ] || fail "completion offers $(cat "$T/got")"
}

t_fish_flags() {
	local c
	for c in $COMMANDS; do
		fish_complete "rasign $c --" | grep -vx -- --help >"$T/got"
		same "$TESTDIR/parser-$c" "$T/got" "fish for $c"
	done
	fish_complete "aws_signing_helper serve --po" >"$T/got"
	[ "$(cat "$T/got")" = --port ] || fail "aws_signing_helper serve --po: $(cat "$T/got")"
	fish_complete "rasign credential-process --pkcs8-password " >"$T/got"
	[ "$(tr '\n' ' ' <"$T/got")" = "env: fd: file: pass: " ] ||
		fail "--pkcs8-password offers $(cat "$T/got")"
}

# zsh: the script parses, loads under compinit for both names, and its
# _arguments specs name exactly the parser's flags for each subcommand.
t_zsh() {
	local c
	"$RASIGN" completion zsh >"$T/_rasign"
	zsh -n "$T/_rasign" || fail "not zsh"
	HOME=$T zsh -f -c "autoload -U compinit; compinit -u -d '$T/zcomp'; source '$T/_rasign';
		print -r -- \$_comps[rasign] \$_comps[aws_signing_helper]" >"$T/comps" 2>&1
	[ "$(cat "$T/comps")" = "_rasign _rasign" ] || fail "not registered: $(cat "$T/comps")"
	for c in $COMMANDS; do
		sed -n "/^	$c)\$/,/;;\$/p" "$T/_rasign" |
			sed -n "s/^[[:space:]]*'\\(--[a-z0-9-]*\\)\\[.*/\\1/p" |
			grep -vx -- --help | sort >"$T/got"
		same "$TESTDIR/parser-$c" "$T/got" "zsh for $c"
	done
}

# The man page SYNOPSIS: each subcommand's block lists its own flags;
# serve, update and exec add "credential options", so those they share
# with credential-process may be in its block instead.
synopsis() {	# synopsis CMD: the flags of CMD's SYNOPSIS block
	sed -n '/^\.Sh SYNOPSIS/,/^\.Sh DESCRIPTION/p' man/rasign.1 |
		awk -v c="$1" '/^\.Nm rasign/ { n = 1; next }
			n == 1 { inside = ($0 == ".Cm " c); n = 0 }
			inside' |
		grep -o 'Fl -[a-z0-9-]*' | sed 's/^Fl /-/' | grep -vx -e --help -e -- | sort -u
}

t_man_synopsis() {
	local c bad=0
	synopsis credential-process >"$T/syn-cp"
	for c in $COMMANDS; do
		synopsis "$c" >"$T/syn"
		case $c in
		serve | update | exec)
			# Its own flags are its parser's; the others are in
			# credential-process's block.
			comm -23 "$T/syn" "$TESTDIR/parser-$c" | sed "s/^/$c lists, parser refuses: /"
			comm -23 "$TESTDIR/parser-$c" <(sort -u "$T/syn" "$T/syn-cp") |
				sed "s/^/$c takes, SYNOPSIS misses: /"
			;;
		*)
			comm -3 "$T/syn" "$TESTDIR/parser-$c" |
				sed "s/^/$c SYNOPSIS and parser differ: /"
			;;
		esac
	done >"$T/diff"
	cat "$T/diff"
	[ ! -s "$T/diff" ] || fail "the SYNOPSIS and the parser disagree"
	[ "$(wc -l <"$T/syn-cp")" -ge 25 ] || fail "cannot read the SYNOPSIS: $(cat "$T/syn-cp")"
}

t_usage() {
	run_rasign completion
	assert_failure 2 'bash, zsh or fish'
	run_rasign completion tcsh
	assert_failure 2 'bash, zsh and fish'
	run_rasign completion --help
	assert_exit 0
	grep -q 'usage: rasign completion bash|zsh|fish' "$OUT" || fail "no usage"
	run_rasign help completion
	assert_exit 0
}

run_test "bash: every subcommand offers exactly its parser's flags, bound to both names" t_bash_flags
run_test "bash: values (sources, pkcs11:, handle:, files, digests, shells)" t_bash_values
run_test "fish: every subcommand offers exactly its parser's flags" t_fish_flags
run_test "zsh: loads under compinit; each subcommand's specs are its parser's flags" t_zsh
run_test "man SYNOPSIS lists exactly the parser's flags" t_man_synopsis
run_test "completion: usage and errors" t_usage
