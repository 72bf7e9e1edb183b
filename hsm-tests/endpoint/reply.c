/*
 * reply.c - answer bodies of ra-endpoint, a TEST stand-in for IAM Roles
 * Anywhere (not a security boundary).
 *
 * The success body copies the shape of the real CreateSession answer
 * (go-helper-spec.md section 2.10) so that clients are parsed against
 * something realistic; the credentials in it are random and open nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "endpoint.h"

/* ------------------------------------------------------------------ JSON */

/* Compact dump of obj (reference stolen); NULL on failure. */
static char *
dump(json_t *obj)
{
	char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;

	json_decref(obj);
	return s;
}

char *
ep_error_body(const char *message)
{
	return dump(json_pack("{s:o}", "message",
	    ep_json_str(message, strlen(message))));
}

/* ---------------------------------------------------------------- random */

/* n characters drawn uniformly from alphabet (its size divides 256). */
static int
random_chars(char *out, size_t n, const char *alphabet)
{
	unsigned char	buf[256];
	size_t		size = strlen(alphabet), i;

	if (n > sizeof(buf) || 256 % size != 0 || RAND_bytes(buf, (int)n) != 1)
		return -1;
	for (i = 0; i < n; i++)
		out[i] = alphabet[buf[i] % size];
	out[n] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

static void
format_uuid(const unsigned char b[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2], b[3], b[4], b[5],
	    (b[6] & 0x0f) | 0x40, b[7], (b[8] & 0x3f) | 0x80, b[9], b[10],
	    b[11], b[12], b[13], b[14], b[15]);
}

int
ep_random_uuid(char out[37])
{
	unsigned char b[16];

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	format_uuid(b, out);
	return 0;
}

/* ----------------------------------------------------------- credentials */

/*
 * arn:<partition>:iam::<account>:role/<path/>name.  Returns 0 and the
 * pieces, -1 if the ARN does not have that shape.
 */
int
ep_role_arn_split(const char *arn, char partition[32], char account[16],
    const char **name)
{
	const char	*f[6], *p = arn;
	size_t		 i, plen;

	/* f[i]: arn, partition, service, region, account, resource. */
	for (i = 0; i < 6; i++) {
		f[i] = p;
		if (i == 5)
			break;
		if ((p = strchr(p, ':')) == NULL)
			return -1;
		p++;
	}
	plen = (size_t)(f[2] - f[1] - 1);
	if (strncmp(arn, "arn:", 4) != 0 || plen == 0 || plen >= 32 ||
	    strncmp(f[2], "iam::", 5) != 0 || f[5] - f[4] != 13 ||
	    strspn(f[4], "0123456789") != 12 || strncmp(f[5], "role/", 5) ||
	    strchr(f[5], ':') != NULL || f[5][strlen(f[5]) - 1] == '/')
		return -1;
	memcpy(partition, f[1], plen);
	partition[plen] = '\0';
	memcpy(account, f[4], 12);
	account[12] = '\0';
	*name = strrchr(f[5], '/') + 1;
	return 0;
}

/* The four secrets of one session, random each time. */
struct creds {
	char	akid[21];
	char	secret[41];
	char	token[257];
	char	expiration[32];
};

static int
make_creds(struct creds *c, time_t now, long duration)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
	    "opqrstuvwxyz0123456789+/";
	time_t	exp = now + duration;
	struct tm tm;

	memcpy(c->akid, "ASIA", 4);
	if (random_chars(c->akid + 4, 16, b32) != 0 ||
	    random_chars(c->secret, 40, b64) != 0 ||
	    random_chars(c->token, 212, b64) != 0 ||
	    gmtime_r(&exp, &tm) == NULL ||
	    strftime(c->expiration, sizeof(c->expiration),
	    "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return -1;
	return 0;
}

static json_t *
creds_json(const struct creds *c)
{
	return json_pack("{s:s,s:s,s:s,s:s}", "accessKeyId", c->akid,
	    "expiration", c->expiration, "secretAccessKey", c->secret,
	    "sessionToken", c->token);
}

/* A role id is stable per role on AWS: derive it from the ARN. */
static void
role_id(const char *arn, char out[22])
{
	static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	char	hex[65];
	size_t	i;

	ep_sha256_hex(arn, strlen(arn), hex);
	memcpy(out, "AROA", 4);
	for (i = 0; i < 17; i++)
		out[4 + i] = alnum[((unsigned char)hex[2 * i] * 16u +
		    (unsigned char)hex[2 * i + 1]) % 36];
	out[21] = '\0';
}

static json_t *
credential_set(const struct ep_config *cfg, const struct ep_verdict *v,
    const struct creds *c)
{
	char		 part[32], acct[16], rid[22], uuid[37];
	char		 arn[512], source[300], subject[256], who[64 + 96];
	const char	*name;

	if (ep_role_arn_split(v->role_arn, part, acct, &name) != 0)
		return NULL;
	role_id(v->role_arn, rid);
	/* One subject per certificate subject, as on AWS. */
	format_uuid(v->subject_hash, uuid);
	snprintf(who, sizeof(who), "%s", v->session_name[0] ?
	    v->session_name : v->serial);
	snprintf(arn, sizeof(arn), "arn:%s:sts::%s:assumed-role/%s/%s", part,
	    acct, name, who);
	snprintf(source, sizeof(source), "CN=%s", v->cn);
	snprintf(subject, sizeof(subject),
	    "arn:%s:rolesanywhere:%s:%s:subject/%s", part, cfg->region, acct,
	    uuid);
	return json_pack("{s:[{s:{s:o,s:o},s:o,s:i,s:s,s:o}],s:s}",
	    "credentialSet", "assumedRoleUser", "arn",
	    ep_json_str(arn, strlen(arn)), "assumedRoleId",
	    json_sprintf("%s:%s", rid, who), "credentials", creds_json(c),
	    "packedPolicySize", 0, "roleArn", v->role_arn, "sourceIdentity",
	    ep_json_str(source, strlen(source)), "subjectArn", subject);
}

/* 201 body for an accepted request; akid gets the issued key id. */
char *
ep_credentials_body(const struct ep_config *cfg, const struct ep_verdict *v,
    time_t now, char akid[21])
{
	struct creds	 c;
	char		*body = NULL;

	akid[0] = '\0';
	if (make_creds(&c, now, v->duration) == 0 &&
	    (body = dump(credential_set(cfg, v, &c))) != NULL)
		memcpy(akid, c.akid, sizeof(c.akid));
	OPENSSL_cleanse(&c, sizeof(c));
	return body;
}

/* Fault "missing-field": a full answer whose credentials lack sessionToken. */
char *
ep_missing_field_body(const struct ep_config *cfg, time_t now, char akid[21])
{
	struct ep_verdict	 v;
	struct creds		 c;
	json_t			*root = NULL, *cr;
	char			*body = NULL;

	memset(&v, 0, sizeof(v));
	v.role_arn = cfg->role_arns[0];
	v.duration = 3600;
	snprintf(v.serial, sizeof(v.serial), "1");
	snprintf(v.cn, sizeof(v.cn), "fault-injection");
	akid[0] = '\0';
	if (make_creds(&c, now, v.duration) != 0 ||
	    (root = credential_set(cfg, &v, &c)) == NULL)
		goto out;
	cr = json_object_get(json_array_get(json_object_get(root,
	    "credentialSet"), 0), "credentials");
	json_object_del(cr, "sessionToken");
	memcpy(akid, c.akid, sizeof(c.akid));
	body = dump(root);
	root = NULL;
out:
	json_decref(root);
	OPENSSL_cleanse(&c, sizeof(c));
	return body;
}
