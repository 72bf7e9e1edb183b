# shellcheck shell=bash
# swtpm.sh: start and stop a private software TPM for rasign's tests.
#
# Source this file (bash), then:
#   swtpm_start STATEDIR   start `swtpm socket --tpm2` with its state in
#                          STATEDIR, wait until it answers, and export
#                          TPM_TCTI, TPM2TOOLS_TCTI and TPM2OPENSSL_TCTI
#                          (all "swtpm:path=STATEDIR/sock")
#   swtpm_stop STATEDIR    shut it down in order and wait until it is gone
#
# The TPM's state (keys' seeds, persistent handles, dictionary-attack
# settings) lives in STATEDIR/tpm2-00.permall and survives a stop and start.
# swtpm daemonizes itself (-d) and records its pid in STATEDIR/pid; its log is
# STATEDIR/log. The control socket is STATEDIR/sock.ctrl, the name the
# swtpm:path= TCTI derives from the server socket's.
#
# Without a resource manager the TPM has 3 transient object slots: whoever
# uses it must flush what they load (tpm2_flushcontext -t -s).
#
# swtpm_stop sends TPM2_Shutdown(CLEAR) before SIGTERM. Without it the next
# start is after a disorderly shutdown, and the TPM counts that as one
# dictionary-attack failure (TPM2_PT_LOCKOUT_COUNTER 1 after a restart).

# _swtpm_pid STATEDIR: print the pid of the swtpm serving STATEDIR, if one is
# running; fail otherwise. The pid file alone is not trusted (a stale file
# after a crash may name an unrelated process): the process must be a swtpm
# whose command line names this state directory.
_swtpm_pid() {
	local dir=$1 pid cmd
	[ -s "$dir/pid" ] || return 1
	pid=$(cat "$dir/pid" 2>/dev/null) || return 1
	case $pid in
	'' | *[!0-9]*) return 1 ;;
	esac
	_swtpm_alive "$pid" || return 1
	cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	case $cmd in
	*swtpm*"dir=$dir "*) ;;
	*) return 1 ;;
	esac
	echo "$pid"
}

# _swtpm_alive PID: the process exists and is not a zombie (a daemonized
# swtpm's parent is init or a subreaper, which may reap it late).
_swtpm_alive() {
	local stat
	kill -0 "$1" 2>/dev/null || return 1
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

swtpm_start() {
	local dir tcti pid i
	if [ $# -ne 1 ] || [ ! -d "$1" ]; then
		echo "swtpm_start: usage: swtpm_start STATEDIR (an existing directory)" >&2
		return 2
	fi
	command -v swtpm >/dev/null 2>&1 || {
		echo "swtpm_start: swtpm not installed (apt-get install swtpm swtpm-tools)" >&2
		return 1
	}
	dir=$(cd "$1" && pwd)
	# sun_path holds 107 characters and a NUL.
	if [ ${#dir} -gt 97 ]; then
		echo "swtpm_start: state directory path too long for a unix socket: $dir" >&2
		return 1
	fi
	if pid=$(_swtpm_pid "$dir"); then
		echo "swtpm_start: a swtpm (pid $pid) already serves $dir" >&2
		return 1
	fi
	rm -f "$dir/pid" "$dir/sock" "$dir/sock.ctrl"
	swtpm socket --tpm2 --tpmstate "dir=$dir" \
		--server "type=unixio,path=$dir/sock" \
		--ctrl "type=unixio,path=$dir/sock.ctrl" \
		--flags not-need-init,startup-clear \
		--pid "file=$dir/pid" --log "file=$dir/log" -d || {
		echo "swtpm_start: swtpm failed to start; $dir/log:" >&2
		tail -n 5 "$dir/log" >&2 2>/dev/null
		return 1
	}
	tcti="swtpm:path=$dir/sock"
	# swtpm answers within ~10 ms; give it 2 s.
	for ((i = 0; i < 100; i++)); do
		if [ -s "$dir/pid" ] &&
			tpm2_getcap -T "$tcti" properties-fixed >/dev/null 2>&1; then
			export TPM_TCTI=$tcti TPM2TOOLS_TCTI=$tcti TPM2OPENSSL_TCTI=$tcti
			return 0
		fi
		sleep 0.02
	done
	echo "swtpm_start: swtpm on $dir does not answer; $dir/log:" >&2
	tail -n 5 "$dir/log" >&2 2>/dev/null
	swtpm_stop "$dir"
	return 1
}

swtpm_stop() {
	local dir pid i
	if [ $# -ne 1 ] || [ ! -d "$1" ]; then
		echo "swtpm_stop: usage: swtpm_stop STATEDIR (an existing directory)" >&2
		return 2
	fi
	dir=$(cd "$1" && pwd)
	if pid=$(_swtpm_pid "$dir"); then
		# An orderly shutdown; bounded, since a client that still holds
		# the (single) connection would make tpm2_shutdown wait.
		timeout 2 tpm2_shutdown -T "swtpm:path=$dir/sock" >/dev/null 2>&1 || true
		kill -TERM "$pid" 2>/dev/null || true
		for ((i = 0; i < 500; i++)); do
			_swtpm_alive "$pid" || break
			sleep 0.01
		done
		if _swtpm_alive "$pid"; then
			echo "swtpm_stop: swtpm $pid ignores SIGTERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			for ((i = 0; i < 100; i++)); do
				_swtpm_alive "$pid" || break
				sleep 0.01
			done
		fi
	fi
	rm -f "$dir/pid" "$dir/sock" "$dir/sock.ctrl"
	if [ "${TPM_TCTI:-}" = "swtpm:path=$dir/sock" ]; then
		unset TPM_TCTI TPM2TOOLS_TCTI TPM2OPENSSL_TCTI
	fi
	return 0
}
