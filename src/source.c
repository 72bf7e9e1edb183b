#include <string.h>
#include <time.h>

#include "err.h"
#include "keyauth.h"
#include "log.h"
#include "source.h"

/* Files only: a URI, handle:, env: or fd: has nothing to stat. */
static void
stat_files(const struct options *o, struct stat seen[3])
{
	const char *paths[3] = { keyfiles_path(o->certificate),
	    keyfiles_path(o->private_key), keyfiles_path(o->intermediates) };

	memset(seen, 0, 3 * sizeof(seen[0]));
	for (int i = 0; i < 3; i++)
		if (paths[i] != NULL)
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

/* After the start, nobody is asked: a reload never prompts. */
static int
open_identity(struct source *s, struct identity *id)
{
	int ret;

	struct spiffe_svid svid;
	unsigned long gen;

	stat_files(s->o, s->seen);
	/* The newest SVID the stream brought, if any; else fetched now. */
	if (s->watch != NULL &&
	    (gen = spiffe_watch_take(s->watch, &svid)) != 0) {
		s->svid_gen = gen;
		ret = identity_open_svid(s->o, &svid, time(NULL), id);
	} else
		ret = identity_open(s->o, s->have_id ? &s->id : NULL,
		    time(NULL), id);
	if (ret == ERR_OK)
		keyauth_unattended(id->auth);
	return ret;
}

int
source_init(struct source *s, const struct options *o)
{
	int ret;

	memset(s, 0, sizeof(*s));
	s->o = o;
	if ((ret = session_prepare(o, &s->session)) != ERR_OK)
		return ret;
	if ((ret = open_identity(s, &s->id)) != ERR_OK)
		session_free(&s->session);
	else
		s->have_id = true;
	return ret;
}

int
source_watch(struct source *s)
{
	if (s->o->spiffe_endpoint == NULL)
		return ERR_OK;
	return spiffe_watch_start(s->o->spiffe_endpoint, s->o->spiffe_id,
	    s->id.leaf, &s->watch);
}

static int
fetch_with(struct source *s, struct identity *id, struct creds *c)
{
	int ret;

	/* The old certificate may have expired while we were not looking. */
	if ((ret = identity_check_validity(id, time(NULL))) != ERR_OK)
		return ret;
	return session_create(&s->session, id, c);
}

static void
keep_previous(void)
{
	log_warn("%s; still using the previous certificate and key",
	    err_message() ? err_message() : "reload failed");
	err_clear();
}

/* The one line a reload that took gets: which certificate is in use now. */
static void
announce(const struct identity *id)
{
	char until[32] = "?";
	struct tm tm;
	time_t t;

	if (ASN1_TIME_to_tm(X509_get0_notAfter(id->leaf), &tm) == 1 &&
	    (t = timegm(&tm)) != (time_t)-1 && gmtime_r(&t, &tm) != NULL)
		strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm);
	log_info("now using the certificate with serial %s, valid until %s",
	    id->serial, until);
}

/*
 * A reload (rotated files, SIGHUP) is tried once per change: a broken new
 * file (half written, say) or a secret the device refuses leaves the old,
 * working identity in place, and the same change is not tried again.
 */
int
source_fetch(struct source *s, struct creds *c)
{
	struct identity fresh;
	struct stat now[3];
	int ret;

	stat_files(s->o, now);
	if (s->watch != NULL && !s->reload &&
	    (s->reload = spiffe_watch_generation(s->watch) != s->svid_gen))
		log_info("the SPIFFE Workload API sent a new SVID: using it "
		    "from this refresh on");
	for (int i = 0; i < 3 && !s->reload; i++)
		if ((s->reload = changed(&now[i], &s->seen[i])))
			log_info("%s changed on disk: reading the certificate "
			    "and key again", i == 0 ? "the certificate" :
			    i == 1 ? "the key" : "the intermediates file");
	if (!s->reload)
		return fetch_with(s, &s->id, c);
	s->reload = false;
	if ((ret = open_identity(s, &fresh)) != ERR_OK) {
		keep_previous();
		return fetch_with(s, &s->id, c);
	}
	/* A new password is known good only once a device took it. */
	if ((ret = fetch_with(s, &fresh, c)) == ERR_PASSWORD) {
		identity_close(&fresh);
		keep_previous();
		return fetch_with(s, &s->id, c);
	}
	identity_close(&s->id);
	s->id = fresh;
	announce(&s->id);
	return ret;
}

void
source_free(struct source *s)
{
	spiffe_watch_stop(s->watch);
	if (s->have_id)
		identity_close(&s->id);
	session_free(&s->session);
	memset(s, 0, sizeof(*s));
}
