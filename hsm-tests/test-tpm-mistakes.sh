#!/bin/bash
# The common mistakes with TPM keys, each with its own line (issue 11),
# against a private swtpm reached directly (no resource manager: three
# object slots, nothing flushed for us):
#   - a key that cannot sign (decryption key, storage key, restricted
#     signing key): exit 3, "this TPM key is not a signing key", before any
#     password is asked for or tried;
#   - Ctrl-C at the TPM password prompt leaves nothing loaded in the TPM;
#   - a TPM whose object slots are full: said so, with tpm2_flushcontext -t,
#     and the owner password not blamed;
#   - TPM2OPENSSL_TCTI in the TCTI order; the handle named when nothing is
#     there; how long a dictionary-attack lockout lasts; --pkcs8-password
#     given with a TPM key.
#
# Run from the repo root: bash hsm-tests/test-tpm-mistakes.sh
# See hsm-tests/lib.sh for the harness and its knobs.

# shellcheck source=hsm-tests/lib.sh
. "$(dirname "$0")/lib.sh"

require_tool openssl setsid timeout "$PY" swtpm tpm2_getcap tpm2_create \
	tpm2_createprimary tpm2_flushcontext tpm2_dictionarylockout \
	tpm2_encodeobject tpm2_evictcontrol tpm2_load tpm2_sign certtool
[ -x "$RASIGN" ] || skip_all "$RASIGN not built"
[ -x "$RA_ENDPOINT" ] || skip_all "$RA_ENDPOINT not built"
unset TSS2_LOG

setup_pki
setup_tpm
export TPM2TOOLS_TCTI=$TCTI
unset TPM2OPENSSL_TCTI TPM_DEVICE

start_endpoint EP "$TLS_CERT" "$TLS_KEY"
use_endpoint EP

# ---------------------------------------------------------------- helpers

# without_tcti_env COMMAND...: COMMAND with no TCTI variable set, so only
# the command line (or what the test sets) leads rasign to the TPM.
without_tcti_env() {
	local had=${TPM2TOOLS_TCTI-} rc
	unset TPM2TOOLS_TCTI TPM2OPENSSL_TCTI TPM_DEVICE
	"$@"
	rc=$?
	[ -z "$had" ] || export TPM2TOOLS_TCTI=$had
	return $rc
}

tpm_cp() {
	without_tcti_env rasign_cp --tpm-tcti "$TCTI" \
		--intermediates "$INTERMEDIATES" "$@"
}

tpm_sign() {
	without_tcti_env run_rasign sign-string --tpm-tcti "$TCTI" "$@"
}

clear_lockout() {
	tpm2_dictionarylockout -c >"$T/dalock.log" 2>&1 ||
		{ cat "$T/dalock.log"; fail "tpm2_dictionarylockout -c failed"; }
}

transient_and_sessions() {
	local c out
	for c in handles-transient handles-loaded-session handles-saved-session; do
		out=$(tpm2_getcap "$c" 2>&1) || { echo "tpm2_getcap $c failed: $out"; continue; }
		[ -z "$out" ] || echo "$c: $(echo "$out" | tr '\n' ' ')"
	done
}

assert_tpm_empty() {
	local left
	left=$(transient_and_sessions)
	[ -z "$left" ] || fail "left in the TPM: $left"
}

# flush_all: whatever a test (or rasign on main) left loaded goes.
flush_all() {
	tpm2_flushcontext -t >/dev/null 2>&1
	tpm2_flushcontext -l >/dev/null 2>&1
	tpm2_flushcontext -s >/dev/null 2>&1
	true
}

# ---------------------------------------------------------------- keys that cannot sign

# Made here under the standard ECC SRK (tpm2-openssl's template), as a
# user with tpm2-tools would: an RSA decryption key without a password, the
# same with one, and a restricted (attestation) ECC signing key.
K=$TESTDIR/nosign
mkdir -p "$K"
SRK_ATTRS='restricted|decrypt|noda|fixedtpm|fixedparent|sensitivedataorigin|userwithauth'
BASE_ATTRS='fixedtpm|fixedparent|sensitivedataorigin|userwithauth'
DEC_PW=dec-pw
# asn1_empty FILE: the TSS2 key file's emptyAuth, "true" or "false".
asn1_empty() {
	case $(openssl asn1parse -in "$1" | grep -m 1 'prim: BOOLEAN') in
	*":0") echo false ;;
	*":"?*) echo true ;;
	*) echo false ;;
	esac
}
# encode NAME WANT-EMPTYAUTH: tpm2-tools 5.4 writes emptyAuth inverted
# (see make-tpm-keys.sh); try one way, then the other.
encode() {
	local name=$1 want=$2 f
	for f in -p ''; do
		# shellcheck disable=SC2086 # f is one word or none
		tpm2_encodeobject -C "$K/srk.ctx" -u "$K/$name.pub" -r "$K/$name.priv" \
			$f -o "$K/$name.pem" >>"$K/log" 2>&1 || return 1
		tpm2_flushcontext -t >/dev/null 2>&1
		tpm2_flushcontext -l >/dev/null 2>&1
		[ "$(asn1_empty "$K/$name.pem")" = "$want" ] && return 0
	done
	return 1
}
# tpm TOOL ARGS...: a tpm2-tools call, then whatever it left loaded goes.
tpm() {
	"$@" || return 1
	tpm2_flushcontext -t && tpm2_flushcontext -s
}
make_nosign_keys() {
	tpm tpm2_createprimary -C o -g sha256 -G ecc256:aes128cfb -a "$SRK_ATTRS" \
		-c "$K/srk.ctx" -Q &&
	tpm tpm2_create -C "$K/srk.ctx" -G rsa2048:null:null -a "$BASE_ATTRS|decrypt" \
		-u "$K/dec.pub" -r "$K/dec.priv" -Q &&
	tpm tpm2_create -C "$K/srk.ctx" -G rsa2048:null:null -a "$BASE_ATTRS|decrypt" \
		-p "$DEC_PW" -u "$K/dec-pw.pub" -r "$K/dec-pw.priv" -Q &&
	tpm tpm2_create -C "$K/srk.ctx" -G ecc256:ecdsa-sha256:null \
		-a "$BASE_ATTRS|sign|restricted" -u "$K/ak.pub" -r "$K/ak.priv" -Q &&
	encode dec true && encode dec-pw false && encode ak true
}
make_nosign_keys >>"$K/log" 2>&1 || { flush_all; bail_out "cannot make the keys: $(tail -n 3 "$K/log")"; }
flush_all

# t_nosign KEY WHAT-REGEX [rasign args]: sign-string without a certificate
# (the TPM's public key is used): exit 3, the line names the mistake and
# the fix; no authorization was tried (the lockout counter stays 0) and
# nothing stays loaded. On main: exit 5 with a raw TPM error, or exit 4
# after a wrong password was spent.
t_nosign() {
	local key=$1 what=$2 after
	shift 2
	clear_lockout
	tpm_sign --private-key "$key" "$@"
	after=$(lockout_counter) || fail "cannot read the lockout counter"
	assert_failure 3 "this TPM key is not a signing key.*$what.*(genpkey|tpm2_create)"
	[ "$after" = 0 ] || fail "the lockout counter is $after: a password was tried"
	assert_tpm_empty
}

# credential-process too, with any certificate: refused before the
# certificate is compared (exit 3 for that reason, not "does not match").
t_nosign_cp() {
	tpm_cp --private-key "$K/dec.pem" --certificate "$TPM_RSA2048_CRT"
	assert_failure 3 'this TPM key is not a signing key'
	assert_no_request
}

# ---------------------------------------------------------------- Ctrl-C at the prompt

# pty_run ACTION OUT COMMAND...: COMMAND on a new pseudo-terminal (its
# controlling terminal, so rasign prompts on /dev/tty); once it prompts
# for a password, ACTION: "intr" types Ctrl-C, "type:PW" types PW and
# Enter. Prints how it ended ("exit N" or "signal N"); OUT gets what the
# terminal showed.
pty_run() {
	$PY - "$@" <<'EOF'
import os, pty, select, signal, sys, time
action, out, argv = sys.argv[1], sys.argv[2], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
seen = b""
def read_some(t):
    global seen
    r, _, _ = select.select([fd], [], [], t)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            return False
        if not d:
            return False
        seen += d
    return True
end = time.time() + 30
while b"password" not in seen.lower() or not seen.rstrip().endswith(b":"):
    if time.time() > end or not read_some(0.1):
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        open(out, "wb").write(seen)
        sys.exit("no password prompt; the terminal showed: %r" % seen[-300:])
time.sleep(0.2)
if action == "intr":
    os.write(fd, b"\x03")
else:
    os.write(fd, action[5:].encode() + b"\n")
end = time.time() + 30
while time.time() < end:
    read_some(0.1)
    p, st = os.waitpid(pid, os.WNOHANG)
    if p == pid:
        break
else:
    os.kill(pid, signal.SIGKILL)
    p, st = os.waitpid(pid, 0)
while read_some(0.05):
    pass
open(out, "wb").write(seen)
print("signal %d" % os.WTERMSIG(st) if os.WIFSIGNALED(st) else "exit %d" % os.WEXITSTATUS(st))
EOF
}

# Ctrl-C at the prompt for a key file's password: the process dies, and
# nothing it loaded (the SRK, the key) stays in the TPM's slots. On main
# the SRK and the key were loaded before the prompt and stay.
t_ctrl_c_prompt() {
	local how
	assert_tpm_empty
	how=$(without_tcti_env pty_run intr "$T/tty" "$RASIGN" sign-string \
		--tpm-tcti "$TCTI" --private-key "$TPM_EC_P256_PW_KEY") ||
		{ flush_all; fail "$how"; }
	echo "rasign ended with: $how"
	sed 's/^/tty: /' "$T/tty"
	[ "$how" = "signal 2" ] || [ "$how" = "exit 130" ] ||
		{ flush_all; fail "rasign did not end on Ctrl-C: $how"; }
	local left
	left=$(transient_and_sessions)
	flush_all
	[ -z "$left" ] || fail "Ctrl-C at the prompt left in the TPM: $left"
}

# The password typed at the same prompt works, and nothing stays loaded.
t_prompt_typed() {
	local how
	how=$(without_tcti_env pty_run "type:$TPM_EC_P256_PW_PASSWORD" "$T/tty" \
		"$RASIGN" sign-string --tpm-tcti "$TCTI" \
		--private-key "$TPM_EC_P256_PW_KEY") || { flush_all; fail "$how"; }
	sed 's/^/tty: /' "$T/tty"
	[ "$how" = "exit 0" ] || { flush_all; fail "rasign ended with: $how"; }
	grep -Eq '[0-9a-f]{100,}' "$T/tty" || fail "no signature on the terminal"
	assert_tpm_empty
}

# ---------------------------------------------------------------- full slots

# fill N: N transient objects left loaded, as a tool without a resource
# manager (or a killed program) leaves them.
fill() {
	local i
	for i in $(seq "$1"); do
		tpm2_createprimary -C o -G ecc256 -c "$T/fill$i.ctx" -Q \
			>"$T/fill.log" 2>&1 ||
			{ cat "$T/fill.log"; flush_all; fail "cannot fill slot $i"; }
	done
}

# t_slots_full N: with N of the 3 object slots taken (3: the SRK cannot be
# made; 2: the key cannot be loaded), exit 5, the line says the slots are
# full and how to free them, and does not blame the owner password; rasign
# took nothing of its own with it (N objects left, no session).
t_slots_full() {
	local n=$1 count
	assert_tpm_empty
	fill "$n"
	tpm_sign --private-key "$TPM_EC_P256_KEY"
	count=$(tpm2_getcap handles-transient | grep -c 0x80)
	flush_all
	assert_failure 5 'no free object slot.*tpm2_flushcontext -t'
	! grep -Eqi 'owner password|parent-password|wrong password' "$ERR" ||
		{ show_run; fail "the message blames the owner password"; }
	[ "$count" = "$n" ] || fail "$count transient objects after the run, want the $n we left"
	assert_tpm_empty
}

# ---------------------------------------------------------------- TCTI, handle, lockout, pkcs8

# TPM2OPENSSL_TCTI alone leads to the TPM (what a tpm2-openssl user set to
# make the key); on main: "no TPM reachable".
t_tcti_openssl() {
	unset TPM2TOOLS_TCTI TPM_DEVICE
	TPM2OPENSSL_TCTI=$TCTI rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	assert_exit 0
	[ ! -s "$ERR" ] || { show_run; fail "stderr is not empty"; }
	new_records 1
	[ "$NEW_COUNT" = 1 ] || fail "$NEW_COUNT requests, want 1"
}

# The order: --tpm-tcti, TPM2OPENSSL_TCTI, TPM2TOOLS_TCTI, TPM_DEVICE.
t_tcti_openssl_before_tools() {
	unset TPM_DEVICE
	TPM2OPENSSL_TCTI=$TCTI TPM2TOOLS_TCTI="swtpm:path=$T/nothing" \
		TPM_DEVICE=$T/nothing rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	assert_exit 0
	TPM2OPENSSL_TCTI="swtpm:path=$T/nothing" TPM2TOOLS_TCTI=$TCTI \
		rasign_cp --private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	assert_failure 5 "cannot reach the TPM through TCTI \"swtpm:path=$T/nothing\" \\(from TPM2OPENSSL_TCTI\\)"
	TPM2OPENSSL_TCTI="swtpm:path=$T/nothing" rasign_cp --tpm-tcti "$TCTI" \
		--private-key "$TPM_EC_P256_KEY" \
		--certificate "$TPM_EC_P256_CRT" --intermediates "$INTERMEDIATES"
	assert_exit 0
}

t_no_key_at_handle() {
	tpm_cp --private-key handle:0x81000177 --certificate "$TPM_EC_P256_CRT" \
		--no-tpm-key-password
	assert_failure 5 'no key at TPM handle 0x81000177.*handles-persistent'
	assert_no_request
}

# In lockout (limit 1, one failure healed every 60 s, one wrong password
# spent by somebody else): the line says how long it lasts and what ends
# it. tpm_da_restore (top level) puts the fixture's settings back.
t_lockout_duration() {
	tpm2_dictionarylockout -s -n 1 -t 60 -l 7 >"$T/dalock.log" 2>&1 ||
		{ cat "$T/dalock.log"; fail "cannot set the dictionary-attack parameters"; }
	clear_lockout
	echo data | tpm2_sign -c "$TPM_HANDLE_EC_P256_PW_HANDLE" -p wrong -g sha256 \
		-o "$T/sig" >"$T/sign.log" 2>&1 && fail "tpm2_sign took a wrong password"
	tpm_cp --private-key "$TPM_EC_P256_PW_KEY" --certificate "$TPM_EC_P256_PW_CRT" \
		--tpm-key-password "pass:$TPM_EC_P256_PW_PASSWORD"
	assert_failure 4 'lockout \(failure count 1, limit 1; it forgets one every 60 s.*wait about 60 s.*tpm2_dictionarylockout -c.*lockout hierarchy.*7 s'
	assert_no_request
	tpm_cp --private-key "$TPM_HANDLE_EC_P256_PW_KEY" \
		--certificate "$TPM_HANDLE_EC_P256_PW_CRT" \
		--tpm-key-password "pass:$TPM_HANDLE_EC_P256_PW_PASSWORD"
	assert_failure 4 'lockout.*wait about 60 s.*tpm2_dictionarylockout -c'
	assert_no_request
}

tpm_da_restore() {
	{ tpm2_dictionarylockout -s -n "$TPM_MAX_AUTH_FAIL" \
		-t "$TPM_LOCKOUT_INTERVAL" -l 1 && tpm2_dictionarylockout -c; } \
		>/dev/null 2>&1 ||
		bail_out "cannot restore the TPM's dictionary-attack settings"
}

# --pkcs8-password with a TPM key: exit 2, one line, before the TPM is
# reached (the TCTI leads nowhere: touching it would be exit 5). On main it
# was ignored.
t_pkcs8_with_tpm() {
	local key=$1
	without_tcti_env rasign_cp --tpm-tcti "swtpm:path=$T/nothing" \
		--private-key "$key" --certificate "$TPM_EC_P256_PW_CRT" \
		--pkcs8-password pass:secret --intermediates "$INTERMEDIATES"
	assert_failure 2 '--pkcs8-password is for encrypted key files.*TPM key.*--tpm-key-password'
	assert_no_request
}

# ---------------------------------------------------------------- run

run_test "decryption key file: exit 3, not a signing key" \
	t_nosign "$K/dec.pem" 'decryption key'
run_test "decryption key with a password: exit 3, no try spent" \
	t_nosign "$K/dec-pw.pem" 'decryption key' --tpm-key-password pass:wrong
run_test "decryption key with a password, no terminal: exit 3, not 4" \
	t_nosign "$K/dec-pw.pem" 'decryption key'
run_test "restricted (attestation) signing key: exit 3" \
	t_nosign "$K/ak.pem" 'restricted'
run_test "storage key at a handle, wrong password: exit 3, no try spent" \
	t_nosign "handle:$PARENT_HANDLE" 'storage key' --tpm-key-password pass:wrong
run_test "credential-process with a decryption key: exit 3" t_nosign_cp
run_test "Ctrl-C at the TPM password prompt leaves nothing loaded" t_ctrl_c_prompt
run_test "the password typed at the prompt signs, nothing left" t_prompt_typed
run_test "3 of 3 object slots taken: says so, tpm2_flushcontext -t" t_slots_full 3
run_test "2 of 3 object slots taken: says so, nothing of ours left" t_slots_full 2
run_test "TCTI from TPM2OPENSSL_TCTI alone" t_tcti_openssl
run_test "TPM2OPENSSL_TCTI before TPM2TOOLS_TCTI, after --tpm-tcti" \
	t_tcti_openssl_before_tools
run_test "no key at a handle: the handle is named" t_no_key_at_handle
run_test "dictionary-attack lockout: how long, and what ends it" t_lockout_duration
tpm_da_restore
run_test "--pkcs8-password with a TPM key file: exit 2, TPM untouched" \
	t_pkcs8_with_tpm "$TPM_EC_P256_PW_KEY"
run_test "--pkcs8-password with a TPM handle: exit 2, TPM untouched" \
	t_pkcs8_with_tpm "$TPM_HANDLE_EC_P256_PW_KEY"
run_test "nothing left in the TPM at the end" assert_tpm_empty
