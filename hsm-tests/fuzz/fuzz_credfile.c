/*
 * The credentials-file rewrite of `update` (credfile_rewrite). Input: the
 * profile name on the first line, the file's old contents after it. The
 * invariants, beyond memory safety:
 *   - a rewrite of the rewrite changes nothing (idempotent);
 *   - every line outside [profile]'s key lines survives, in order, with its
 *     bytes: no other profile, comment or unknown key is lost;
 *   - [profile] then holds the new key values, and no old ones.
 */
#include <openssl/crypto.h>

#include "credfile.h"
#include "err.h"
#include "fuzz.h"

static const char *const keys[3] = {
	"aws_access_key_id", "aws_secret_access_key", "aws_session_token",
};
static const struct creds creds = {
	"ASIAFUZZFUZZFUZZFUZZ", "fuzz/secret+key=", "FwoG'fuzz\"token==",
	"2026-12-03T12:00:00Z",
};

struct line {
	const char *s;
	size_t len;		/* without "\n" and a "\r" before it */
};

/* Splits at LF, as the rewrite does; a CR before the LF is not content. */
static size_t
split(const char *buf, size_t len, struct line **out)
{
	size_t n = 0, pos = 0;
	const char *nl;
	struct line *l = calloc(len + 1, sizeof(*l));

	if (l == NULL)
		abort();
	while (pos < len) {
		nl = memchr(buf + pos, '\n', len - pos);
		l[n].s = buf + pos;
		l[n].len = (nl ? (size_t)(nl - buf) : len) - pos;
		if (l[n].len > 0 && l[n].s[l[n].len - 1] == '\r')
			l[n].len--;
		pos = nl ? (size_t)(nl - buf) + 1 : len;
		n++;
	}
	*out = l;
	return n;
}

/* The key a line sets (the name before '=' or ':', less blanks), or -1. */
static int
key_of(const struct line *l)
{
	size_t n = 0;

	while (n < l->len && l->s[n] != '=' && l->s[n] != ':')
		n++;
	while (n > 0 && (l->s[n - 1] == ' ' || l->s[n - 1] == '\t'))
		n--;
	for (int k = 0; k < 3; k++)
		if (n == strlen(keys[k]) && memcmp(l->s, keys[k], n) == 0)
			return k;
	return -1;
}

static int
is_header(const struct line *l, const char *profile)
{
	size_t n = strlen(profile);

	return l->len == n + 2 && l->s[0] == '[' && l->s[n + 1] == ']' &&
	    memcmp(l->s + 1, profile, n) == 0;
}

/*
 * Marks the lines of the first [profile] section that set one of the keys:
 * the only lines a rewrite may replace.
 */
static void
mark_owned(const struct line *l, size_t n, const char *profile, char *owned)
{
	size_t i = 0;

	memset(owned, 0, n);
	while (i < n && !is_header(&l[i], profile))
		i++;
	for (i++; i < n && !(l[i].len > 0 && l[i].s[0] == '['); i++)
		owned[i] = key_of(&l[i]) >= 0;
}

static int
same(const struct line *a, const struct line *b)
{
	return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
}

static void
check_rewrite(const char *old, size_t len, const char *profile,
    const char *out, size_t outlen)
{
	struct line *ol, *nl;
	size_t on = split(old, len, &ol), nn = split(out, outlen, &nl), j = 0;
	char *owned = malloc(on + nn + 1), want[256];
	int seen[3] = { 0 };
	const char *v[3] = { creds.access_key_id, creds.secret_access_key,
	    creds.session_token };
	size_t i;

	if (owned == NULL)
		abort();
	/* No line lost: the old lines, less owned ones, in order. */
	mark_owned(ol, on, profile, owned);
	for (i = 0; i < on; i++) {
		if (owned[i])
			continue;
		while (j < nn && !same(&ol[i], &nl[j]))
			j++;
		FUZZ_CHECK(j < nn);
		j++;
	}
	/* The section holds the new values, each key at least once. */
	mark_owned(nl, nn, profile, owned);
	for (i = 0; i < nn; i++) {
		int k;

		if (!owned[i])
			continue;
		k = key_of(&nl[i]);
		snprintf(want, sizeof(want), "%s = %s", keys[k], v[k]);
		FUZZ_CHECK(nl[i].len == strlen(want) &&
		    memcmp(nl[i].s, want, nl[i].len) == 0);
		seen[k] = 1;
	}
	FUZZ_CHECK(seen[0] && seen[1] && seen[2]);
	free(owned);
	free(ol);
	free(nl);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	char *profile, *out = NULL, *again = NULL;
	const char *old;
	size_t len, outlen = 0, againlen = 0;
	int ret;

	/* A profile is a C string: no NUL inside. */
	if (nl == NULL || nl - data > 200 || memchr(data, '\0', nl - data))
		return 0;
	profile = fuzz_strndup(data, (size_t)(nl - data));
	old = (const char *)nl + 1;
	len = size - (size_t)(nl - data) - 1;

	err_clear();
	ret = credfile_rewrite(old, len, profile, &creds, &out, &outlen);
	if (credfile_check_profile(profile) != ERR_OK) {
		/* A name no header could carry is refused, never written. */
		FUZZ_CHECK(ret != ERR_OK && out == NULL);
		goto done;
	}
	FUZZ_CHECK(ret == ERR_OK && out != NULL && out[outlen] == '\0');
	check_rewrite(old, len, profile, out, outlen);
	FUZZ_CHECK(credfile_rewrite(out, outlen, profile, &creds, &again,
	    &againlen) == ERR_OK);
	FUZZ_CHECK(againlen == outlen && memcmp(again, out, outlen) == 0);
done:
	if (out != NULL)
		OPENSSL_clear_free(out, outlen + 1);
	if (again != NULL)
		OPENSSL_clear_free(again, againlen + 1);
	free(profile);
	return 0;
}
