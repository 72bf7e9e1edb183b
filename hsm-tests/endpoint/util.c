/*
 * util.c - small helpers of ra-endpoint, a TEST stand-in for IAM Roles
 * Anywhere (not a security boundary): a capped string builder, SHA-256 in
 * hex, JSON strings from untrusted bytes, strict numbers, whole-file reads
 * and atomic file writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "endpoint.h"

/* ---------------------------------------------------------------- strings */

void
ep_sb_init(struct ep_sb *sb, size_t max)
{
	memset(sb, 0, sizeof(*sb));
	sb->max = max;
}

void
ep_sb_add(struct ep_sb *sb, const void *d, size_t n)
{
	size_t	 ncap;
	char	*np;

	if (sb->err)
		return;
	if (n > sb->max || sb->len > sb->max - n) {
		sb->err = true;
		return;
	}
	if (sb->len + n + 1 > sb->cap) {
		ncap = sb->cap ? sb->cap : 256;
		while (ncap < sb->len + n + 1)
			ncap *= 2;
		if ((np = realloc(sb->p, ncap)) == NULL) {
			sb->err = true;
			return;
		}
		sb->p = np;
		sb->cap = ncap;
	}
	memcpy(sb->p + sb->len, d, n);
	sb->len += n;
	sb->p[sb->len] = '\0';
}

void
ep_sb_str(struct ep_sb *sb, const char *s)
{
	ep_sb_add(sb, s, strlen(s));
}

char *
ep_sb_take(struct ep_sb *sb)
{
	char *p;

	if (sb->err) {
		ep_sb_free(sb);
		return NULL;
	}
	if (sb->p == NULL)
		ep_sb_add(sb, "", 0);	/* so an empty result is "" */
	if (sb->p == NULL) {
		ep_sb_free(sb);
		return NULL;
	}
	p = sb->p;
	sb->p = NULL;
	sb->len = sb->cap = 0;
	return p;
}

void
ep_sb_free(struct ep_sb *sb)
{
	free(sb->p);
	sb->p = NULL;
	sb->len = sb->cap = 0;
}

void
ep_sha256_hex(const void *d, size_t n, char out[65])
{
	unsigned char	md[32];
	unsigned int	mdlen = 0;
	size_t		i;

	if (EVP_Digest(d, n, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != sizeof(md)) {
		/* Cannot happen with the default provider; fail closed. */
		memset(out, 'x', 64);
		out[64] = '\0';
		return;
	}
	for (i = 0; i < sizeof(md); i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

bool
ep_parse_long(const char *s, long min, long max, long *out)
{
	char	*end;
	long	 v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* ------------------------------------------------------------------ JSON */

/* Length of the valid UTF-8 sequence at s (RFC 3629), 0 if invalid. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	size_t		need, i;
	uint32_t	cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		need = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		need = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		need = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

/*
 * A JSON string from bytes off the wire.  jansson refuses invalid UTF-8,
 * and a record line must never be lost to one bad byte, so each invalid
 * byte becomes U+FFFD.
 */
json_t *
ep_json_str(const char *s, size_t n)
{
	const unsigned char	*u = (const unsigned char *)s;
	struct ep_sb		 sb;
	size_t			 i = 0, l;
	json_t			*j = NULL;
	char			*clean;

	ep_sb_init(&sb, 4 * n + 16);
	while (i < n) {
		if ((l = utf8_len(u + i, n - i)) == 0) {
			ep_sb_add(&sb, "\xef\xbf\xbd", 3);
			i++;
			continue;
		}
		ep_sb_add(&sb, s + i, l);
		i += l;
	}
	l = sb.len;
	if ((clean = ep_sb_take(&sb)) != NULL)
		j = json_stringn(clean, l);
	free(clean);
	return j ? j : json_string("");
}

/* ----------------------------------------------------------------- files */

/* Whole file into a NUL-terminated buffer; -1 if missing, unreadable or
 * larger than max. */
int
ep_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct ep_sb	 sb;
	char		 buf[4096];
	FILE		*f;
	size_t		 n;
	int		 ret = -1;

	*out = NULL;
	*len = 0;
	ep_sb_init(&sb, max);
	if ((f = fopen(path, "rb")) == NULL)
		return -1;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		ep_sb_add(&sb, buf, n);
	if (ferror(f) || sb.err)
		goto out;
	*len = sb.len;
	if ((*out = ep_sb_take(&sb)) != NULL)
		ret = 0;
out:
	fclose(f);
	ep_sb_free(&sb);
	return ret;
}

/*
 * Write to "<path>.tmp.<pid>" then rename, so readers never see half a
 * file.  No fsync: these are scratch files of a test run, and a flush per
 * request would skew the timing that "delay" faults are measured against.
 */
int
ep_write_atomic(const char *path, const char *data, size_t len)
{
	char	tmp[4096];
	int	fd = -1, ret = -1;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
	    (long)getpid()) >= sizeof(tmp))
		return -1;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644)) < 0)
		goto out;
	if (write(fd, data, len) != (ssize_t)len)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (ret != 0)
		unlink(tmp);
	return ret;
}
