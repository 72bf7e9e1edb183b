#include <string.h>
#include <time.h>

#include "err.h"
#include "log.h"
#include "source.h"

/* Files only: a pkcs11: URI or handle: has nothing to stat. */
static void
stat_files(const struct options *o, struct stat seen[3])
{
	const char *paths[3] = { o->certificate, o->private_key,
	    o->intermediates };

	memset(seen, 0, 3 * sizeof(seen[0]));
	for (int i = 0; i < 3; i++)
		if (paths[i] != NULL && strncmp(paths[i], "pkcs11:", 7) != 0 &&
		    strncmp(paths[i], "handle:", 7) != 0)
			(void)stat(paths[i], &seen[i]);
}

static bool
changed(const struct stat *a, const struct stat *b)
{
	return a->st_ino != b->st_ino || a->st_dev != b->st_dev ||
	    a->st_size != b->st_size ||
	    a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	    a->st_mtim.tv_nsec != b->st_mtim.tv_nsec;
}

static int
open_identity(struct source *s)
{
	struct identity fresh;
	int ret;

	stat_files(s->o, s->seen);
	if ((ret = identity_open(s->o, time(NULL), &fresh)) != ERR_OK)
		return ret;
	if (s->have_id)
		identity_close(&s->id);
	s->id = fresh;
	s->have_id = true;
	s->reload = false;
	return ERR_OK;
}

int
source_init(struct source *s, const struct options *o)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->o = o;
	if ((ret = session_prepare(o, &s->session)) != ERR_OK)
		return ret;
	if ((ret = open_identity(s)) != ERR_OK)
		session_free(&s->session);
	return ret;
}

int
source_fetch(struct source *s, struct creds *c)
{
	struct stat now[3];
	int ret;

	stat_files(s->o, now);
	for (int i = 0; i < 3 && !s->reload; i++)
		s->reload = changed(&now[i], &s->seen[i]);
	/*
	 * A rotated file is read anew; if the new one is broken (half
	 * written, say), the old identity keeps serving until it is fixed.
	 */
	if (s->reload) {
		log_debug("certificate or key changed: reading them again");
		if ((ret = open_identity(s)) != ERR_OK) {
			if (!s->have_id)
				return ret;
			log_warn("%s; still using the previous certificate and "
			    "key", err_message() ? err_message() : "reload "
			    "failed");
			err_clear();
		}
	}
	/* The old certificate may have expired while we were not looking. */
	if ((ret = identity_check_validity(&s->id, time(NULL))) != ERR_OK)
		return ret;
	return session_create(&s->session, &s->id, c);
}

void
source_free(struct source *s)
{
	if (s->have_id)
		identity_close(&s->id);
	session_free(&s->session);
	memset(s, 0, sizeof(*s));
}
