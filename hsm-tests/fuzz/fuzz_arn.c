/*
 * ARNs, region, endpoint and session name: arn_parse on its own, then
 * session_prepare over a whole request. Input: newline-separated fields
 *	trust-anchor-arn, profile-arn, role-arn, region, endpoint,
 *	role-session-name, session-duration, "fips" (AWS_USE_FIPS_ENDPOINT)
 * (an absent or empty field is an option not given).
 */
#include <ctype.h>
#include <stdbool.h>

#include "arn.h"
#include "err.h"
#include "fuzz.h"
#include "options.h"
#include "session.h"

#define NFIELDS 8

int LLVMFuzzerInitialize(int *, char ***);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* The endpoint comes from the input alone. */
	unsetenv("AWS_ENDPOINT_URL_ROLESANYWHERE");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_CA_BUNDLE");
	return 0;
}

/* arn_parse either refuses or splits so that the parts give back the input. */
static void
check_arn(const char *s)
{
	struct arn a;
	char back[1024];

	err_clear();
	if (arn_parse(s, "--fuzz", &a) != ERR_OK) {
		FUZZ_CHECK(err_message() != NULL);
		return;
	}
	FUZZ_CHECK(*a.partition != '\0' && *a.service != '\0' &&
	    *a.resource != '\0');
	FUZZ_CHECK(strchr(a.partition, ':') == NULL &&
	    strchr(a.service, ':') == NULL && strchr(a.region, ':') == NULL &&
	    strchr(a.account, ':') == NULL);
	snprintf(back, sizeof(back), "arn:%s:%s:%s:%s:%s", a.partition,
	    a.service, a.region, a.account, a.resource);
	FUZZ_CHECK(strcmp(back, s) == 0);
}

static bool
valid_session_name(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && strchr("_+=,.@-", *s) == NULL)
			return false;
	return true;
}

static bool
ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

static void
check_session(const struct options *o, const struct session *s)
{
	char want[512];
	const char *host;

	FUZZ_CHECK(o->session_duration >= 900 &&
	    o->session_duration <= 43200);
	FUZZ_CHECK(o->role_session_name == NULL ||
	    valid_session_name(o->role_session_name));
	FUZZ_CHECK(*s->region != '\0');
	if (o->region != NULL && *o->region != '\0')
		FUZZ_CHECK(strcmp(s->region, o->region) == 0);
	FUZZ_CHECK(s->url != NULL && s->host != NULL && s->path != NULL &&
	    s->query != NULL && s->body != NULL);
	FUZZ_CHECK(strncmp(s->url, "https://", 8) == 0 ||
	    strncmp(s->url, "http://", 7) == 0);
	host = strstr(s->url, "://") + 3;
	FUZZ_CHECK(*s->host != '\0');
	FUZZ_CHECK(strncmp(host, s->host, strlen(s->host)) == 0);
	FUZZ_CHECK(strncmp(host + strlen(s->host), s->path,
	    strlen(s->path)) == 0);
	FUZZ_CHECK(s->path[0] == '/' && ends_with(s->path, "/sessions"));
	FUZZ_CHECK(ends_with(s->url, s->query));
	FUZZ_CHECK(strncmp(s->query, "profileArn=", 11) == 0);
	/* Header values: a CR or LF here would split the request. */
	FUZZ_CHECK(strpbrk(s->host, "\r\n") == NULL &&
	    strpbrk(s->region, "\r\n/") == NULL);
	if (o->endpoint == NULL) {
		/* The public endpoint is the region's, nowhere else. */
		snprintf(want, sizeof(want), "rolesanywhere%s.%s.",
		    getenv("AWS_USE_FIPS_ENDPOINT") ? "-fips" : "", s->region);
		FUZZ_CHECK(strncmp(s->host, want, strlen(want)) == 0);
		FUZZ_CHECK(strcmp(s->path, "/sessions") == 0);
		FUZZ_CHECK(strncmp(s->url, "https://", 8) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = fuzz_strndup(data, size), *f[NFIELDS] = { NULL }, *p = buf;
	struct options o;
	struct session s;
	char *end;

	for (int i = 0; i < NFIELDS && p != NULL; i++) {
		f[i] = p;
		if ((p = strchr(p, '\n')) != NULL)
			*p++ = '\0';
	}
	for (int i = 0; i < 3; i++)
		if (f[i] != NULL)
			check_arn(f[i]);

	memset(&o, 0, sizeof(o));
	o.trust_anchor_arn = f[0];
	o.profile_arn = f[1];
	o.role_arn = f[2];
	o.region = f[3] && *f[3] ? f[3] : NULL;
	o.endpoint = f[4] && *f[4] ? f[4] : NULL;
	o.role_session_name = f[5] && *f[5] ? f[5] : NULL;
	o.session_duration = DEFAULT_SESSION_DURATION;
	if (f[6] != NULL && *f[6] != '\0')
		o.session_duration = strtol(f[6], &end, 10);
	o.timeout = DEFAULT_TIMEOUT;
	if (f[7] != NULL && strcmp(f[7], "fips") == 0)
		setenv("AWS_USE_FIPS_ENDPOINT", "true", 1);
	else
		unsetenv("AWS_USE_FIPS_ENDPOINT");

	err_clear();
	if (session_prepare(&o, &s) == ERR_OK) {
		check_session(&o, &s);
		session_free(&s);
	} else {
		FUZZ_CHECK(err_message() != NULL);
		FUZZ_CHECK(s.url == NULL && s.query == NULL && s.body == NULL);
	}
	free(buf);
	return 0;
}
