/*
 * hooks.c - the test hooks of ra-endpoint, a TEST stand-in for IAM Roles
 * Anywhere (not a security boundary): the --faults queue, which lets a
 * test decide how the next request is answered, and the --record file,
 * which lets it assert on exactly what reached the server.
 *
 * Both files are shared with the test scripts, so every access happens
 * under one mutex, the faults file is rewritten atomically, and each
 * record is one line written with a single write() on an O_APPEND file.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "endpoint.h"

#define FAULTS_FILE_MAX	(1024u * 1024u)

/* ---------------------------------------------------------------- faults */

/* Unknown lines become "ok" so a typo never aborts a test run silently:
 * it is logged, and the record shows the line. */
static void
fault_parse(char *line, struct ep_fault *f)
{
	static const struct {
		const char		*word;
		enum ep_fault_kind	 kind;
	} w[] = {
		{ "ok", EP_FAULT_OK },
		{ "malformed", EP_FAULT_MALFORMED },
		{ "empty-set", EP_FAULT_EMPTY_SET },
		{ "missing-field", EP_FAULT_MISSING_FIELD },
		{ "drop", EP_FAULT_DROP },
		{ "hostile", EP_FAULT_HOSTILE },
	};
	size_t	n = strlen(line), i;

	while (n > 0 && strchr(" \t\r", line[n - 1]) != NULL)
		line[--n] = '\0';
	line += strspn(line, " \t");
	snprintf(f->line, sizeof(f->line), "%s", *line ? line : "ok");
	f->kind = EP_FAULT_OK;
	if (*line == '\0')
		return;
	for (i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		if (strcmp(line, w[i].word) == 0) {
			f->kind = w[i].kind;
			return;
		}
	}
	if (strncmp(line, "delay ", 6) == 0 &&
	    ep_parse_long(line + 6, 0, 600000, &f->arg))
		f->kind = EP_FAULT_DELAY;
	/* "grant -5": credentials that expired 5 s ago (a wrong clock). */
	else if (strncmp(line, "grant ", 6) == 0 &&
	    ep_parse_long(line + 6, -86400, 43200, &f->arg))
		f->kind = EP_FAULT_GRANT;
	else if (strncmp(line, "status ", 7) == 0 &&
	    ep_parse_long(line + 7, 200, 599, &f->arg))
		f->kind = EP_FAULT_STATUS;
	else
		fprintf(stderr, "ra-endpoint: unknown fault line \"%s\", "
		    "treated as ok\n", f->line);
}

/* Pop the first line of the faults file; tests append to queue faults. */
void
ep_fault_take(struct ep_hooks *hk, struct ep_fault *f)
{
	char	*buf = NULL, *nl;
	size_t	 len = 0, used;

	memset(f, 0, sizeof(*f));
	snprintf(f->line, sizeof(f->line), "ok");
	if (hk->faults_path == NULL)
		return;
	pthread_mutex_lock(&hk->lock);
	if (ep_read_file(hk->faults_path, FAULTS_FILE_MAX, &buf, &len) != 0) {
		if (access(hk->faults_path, F_OK) == 0)
			fprintf(stderr, "ra-endpoint: %s: unreadable or over "
			    "%u bytes, no fault\n", hk->faults_path,
			    FAULTS_FILE_MAX);
		goto out;
	}
	if (len == 0)
		goto out;
	nl = memchr(buf, '\n', len);
	used = nl ? (size_t)(nl - buf) + 1 : len;
	if (ep_write_atomic(hk->faults_path, buf + used, len - used) != 0)
		fprintf(stderr, "ra-endpoint: %s: cannot rewrite: %s\n",
		    hk->faults_path, strerror(errno));
	buf[used - (nl ? 1 : 0)] = '\0';
	if (memchr(buf, '\0', used - (nl ? 1 : 0)) != NULL)
		buf[0] = '\0';	/* a NUL inside the line: not a fault */
	fault_parse(buf, f);
out:
	pthread_mutex_unlock(&hk->lock);
	free(buf);
}

/* ---------------------------------------------------------------- record */

static json_t *
headers_json(const struct ep_request *rq)
{
	json_t	*obj = json_object(), *key;
	char	*val = NULL;
	size_t	 i;

	for (i = 0; obj != NULL && i < rq->nhdrs; i++) {
		key = ep_json_str(rq->hdrs[i].name, strlen(rq->hdrs[i].name));
		if (json_object_get(obj, json_string_value(key)) == NULL &&
		    ep_header_get(rq, rq->hdrs[i].name, false, &val) == 1)
			json_object_set_new(obj, json_string_value(key),
			    ep_json_str(val, strlen(val)));
		free(val);
		val = NULL;
		json_decref(key);
	}
	return obj;
}

#define JSTR(s)	ep_json_str((s) ? (s) : "", (s) ? strlen(s) : 0)

/* One compact JSON line per request, appended with a single write(). */
void
ep_record(struct ep_hooks *hk, const struct ep_request *rq,
    const struct ep_fault *f, const struct ep_outcome *o)
{
	json_t	*obj;
	char	*line = NULL;
	size_t	 len;
	int	 fd;

	if (hk->record_path == NULL)
		return;
	obj = json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:i,s:o,s:o,s:s,s:o}",
	    "method", JSTR(rq->method), "path", JSTR(rq->path), "query",
	    JSTR(rq->query), "headers", headers_json(rq), "body",
	    ep_json_str((const char *)rq->body, rq->body_len), "fault",
	    JSTR(f->line), "status", o->status, "error_type", JSTR(o->type),
	    "message", JSTR(o->message), "access_key_id", o->akid,
	    "canonical_request", JSTR(o->canonical));
	if (obj == NULL || (line = json_dumps(obj, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "ra-endpoint: cannot build record line\n");
		goto out;
	}
	len = strlen(line);
	line[len] = '\n';	/* replaces the NUL; written by length */
	pthread_mutex_lock(&hk->lock);
	fd = open(hk->record_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0644);
	if (fd < 0 || write(fd, line, len + 1) != (ssize_t)(len + 1))
		fprintf(stderr, "ra-endpoint: %s: %s\n", hk->record_path,
		    strerror(errno));
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&hk->lock);
out:
	free(line);
	json_decref(obj);
}
