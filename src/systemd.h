/*
 * What serve and update tell systemd, and what they take from it, through
 * libsystemd (sd_notify(3), sd_listen_fds(3)): readiness once credentials
 * are in hand, RELOADING/READY around SIGHUP, STOPPING, a STATUS line with
 * the expiry, and serve's socket when the unit is socket-activated.
 * Outside systemd (no NOTIFY_SOCKET, no LISTEN_FDS) each call does nothing;
 * a build with WITH_SYSTEMD= has them all do nothing.
 */
#ifndef RASIGN_SYSTEMD_H
#define RASIGN_SYSTEMD_H

#include <time.h>

/*
 * The socket systemd passed (LISTEN_FDS), or -1 when none; ERR_USAGE when
 * it passed more than one, or one that is not a listening TCP socket.
 * Takes LISTEN_FDS and LISTEN_PID out of the environment.
 */
int systemd_listen_fd(int *fd);
/* READY=1, with a STATUS= that says until when the credentials are valid. */
void systemd_ready(time_t expiry, time_t next);
/* STATUS= after a refresh failed: when the next try is. */
void systemd_failing(time_t expiry, time_t next);
/* RELOADING=1: SIGHUP is being handled (READY=1 follows). */
void systemd_reloading(void);
void systemd_stopping(void);

#endif
