#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifdef WITH_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "err.h"
#include "log.h"
#include "systemd.h"

#ifdef WITH_SYSTEMD

int
systemd_listen_fd(int *fd)
{
	int n;

	*fd = -1;
	/* 1: unset LISTEN_FDS and LISTEN_PID, which are ours alone. */
	if ((n = sd_listen_fds(1)) < 0)
		return err_set(ERR_USAGE, "the sockets systemd passed cannot "
		    "be used: %s", strerror(-n));
	if (n == 0)
		return ERR_OK;
	if (n > 1)
		return err_set(ERR_USAGE, "systemd passed %d sockets, serve "
		    "takes one: give the .socket unit one ListenStream=", n);
	if (sd_is_socket(SD_LISTEN_FDS_START, AF_UNSPEC, SOCK_STREAM, 1) <= 0 ||
	    (sd_is_socket(SD_LISTEN_FDS_START, AF_INET, SOCK_STREAM, 1) <= 0 &&
	    sd_is_socket(SD_LISTEN_FDS_START, AF_INET6, SOCK_STREAM, 1) <= 0))
		return err_set(ERR_USAGE, "the socket systemd passed is not a "
		    "listening TCP socket: give the .socket unit a "
		    "ListenStream= with an address and port");
	*fd = SD_LISTEN_FDS_START;
	log_debug("listening on the socket systemd passed");
	return ERR_OK;
}

static void
stamp(char *buf, size_t len, time_t t)
{
	struct tm tm;

	if (t <= 0 || gmtime_r(&t, &tm) == NULL)
		snprintf(buf, len, "?");
	else
		strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
systemd_ready(time_t expiry, time_t next)
{
	char until[32], at[32];

	stamp(until, sizeof(until), expiry);
	stamp(at, sizeof(at), next);
	(void)sd_notifyf(0, "READY=1\nSTATUS=credentials valid until %s, "
	    "next refresh at %s", until, at);
}

void
systemd_failing(time_t expiry, time_t next)
{
	char until[32], at[32];

	stamp(until, sizeof(until), expiry);
	stamp(at, sizeof(at), next);
	(void)sd_notifyf(0, "STATUS=refresh failed, next try at %s; the "
	    "credentials held are valid until %s", at, until);
}

void
systemd_reloading(void)
{
	struct timespec ts;

	/* MONOTONIC_USEC: what Type=notify-reload (systemd 253) asks for. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	(void)sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu\n"
	    "STATUS=reading the certificate and key again",
	    (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

void
systemd_stopping(void)
{
	(void)sd_notify(0, "STOPPING=1");
}

#else

int
systemd_listen_fd(int *fd)
{
	const char *pid = getenv("LISTEN_PID");

	*fd = -1;
	/* Only sockets meant for this process, as sd_listen_fds checks. */
	if (getenv("LISTEN_FDS") != NULL && pid != NULL &&
	    strtol(pid, NULL, 10) == (long)getpid())
		return err_set(ERR_USAGE, "this rasign was built without "
		    "systemd support: it cannot take the socket systemd "
		    "passed; start it without the .socket unit");
	return ERR_OK;
}

void
systemd_ready(time_t expiry, time_t next)
{
	(void)expiry;
	(void)next;
}

void
systemd_failing(time_t expiry, time_t next)
{
	(void)expiry;
	(void)next;
}

void
systemd_reloading(void)
{
}

void
systemd_stopping(void)
{
}

#endif
