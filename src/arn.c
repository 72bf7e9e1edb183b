/*
 * ARNs and regions, checked before any request: a mistake here would
 * otherwise go to the network and come back as a DNS error (exit 6), which
 * a service manager retries for ever.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "arn.h"
#include "err.h"

#define REGION_MAX 31		/* the longest label AWS uses, with room */

static int
field(const char **s, char *dst, size_t len, int last)
{
	size_t n = last ? strlen(*s) : strcspn(*s, ":");

	if ((!last && (*s)[n] != ':') || n >= len)
		return -1;
	memcpy(dst, *s, n);
	dst[n] = '\0';
	*s += n + (last ? 0 : 1);
	return 0;
}

/* "ACCOUNT_ID", "XXXXXXXXXXXX", "REGION": capitals, never lower case. */
static bool
placeholder(const char *s)
{
	bool upper = false;

	for (; *s != '\0'; s++) {
		if (islower((unsigned char)*s))
			return false;
		upper |= isupper((unsigned char)*s) != 0;
	}
	return upper;
}

static const char *
placeholder_hint(const char *s)
{
	return placeholder(s) ? ": it looks like a placeholder left from a "
	    "template" : "";
}

/* letters[-letters]...-digits: us-east-1, us-gov-west-1, eu-isoe-west-1. */
static bool
region_form(const char *r)
{
	size_t n = strlen(r), i = 0, groups = 0, k;

	/* A "fips" part selects an endpoint, not a region: see the hint. */
	if (n == 0 || n > REGION_MAX || strstr(r, "fips") != NULL)
		return false;
	for (;;) {
		for (k = 0; islower((unsigned char)r[i]); i++)
			k++;
		if (k == 0 || r[i] != '-')
			return false;
		groups++;
		i++;
		if (isdigit((unsigned char)r[i]))
			break;
	}
	for (k = 0; isdigit((unsigned char)r[i]); i++)
		k++;
	return groups >= 2 && k <= 2 && r[i] == '\0';
}

int
arn_check_region(const char *r, const char *where)
{
	size_t n = strlen(r);
	const char *hint = "";

	if (region_form(r))
		return ERR_OK;
	if (n > 0 && isspace((unsigned char)r[n - 1]))
		hint = ": it ends with white space";
	else if (placeholder(r))
		hint = placeholder_hint(r);
	else if (strstr(r, "fips") != NULL)
		hint = ": for the FIPS endpoint give the plain region and set "
		    "AWS_USE_FIPS_ENDPOINT=true";
	else if (n > 1 && islower((unsigned char)r[n - 1]) &&
	    isdigit((unsigned char)r[n - 2]))
		hint = ": that is an availability zone, the region lacks the "
		    "last letter";
	return err_set(ERR_USAGE, "%s \"%.40s\" is not an AWS region, like "
	    "us-east-1 or us-gov-west-1%s", where, r, hint);
}

/* White space or a "<...>" anywhere is a mistake: name it. */
static int
check_chars(const char *s, const char *flag)
{
	size_t n = strlen(s), i;
	const char *lt;

	if (n > 0 && isspace((unsigned char)s[n - 1]))
		return err_set(ERR_USAGE, "%s ends with white space: remove "
		    "it (check the quoting)", flag);
	if (isspace((unsigned char)s[0]))
		return err_set(ERR_USAGE, "%s starts with white space: remove "
		    "it (check the quoting)", flag);
	for (i = 0; i < n; i++)
		if (isspace((unsigned char)s[i]) || iscntrl((unsigned char)s[i]))
			return err_set(ERR_USAGE, "%s has white space or a "
			    "control character at position %zu: an ARN has "
			    "none", flag, i + 1);
	if ((lt = strchr(s, '<')) != NULL || strchr(s, '>') != NULL)
		return err_set(ERR_USAGE, "%s still holds a placeholder "
		    "\"%.*s\" from a template: put in the real value", flag,
		    lt != NULL ? (int)(strcspn(lt, ">") + (strchr(lt, '>') ?
		    1 : 0)) : 1, lt != NULL ? lt : ">");
	return ERR_OK;
}

/* aws, or aws- and lower-case words: aws-cn, aws-us-gov, aws-iso-b. */
static bool
partition_form(const char *p)
{
	if (strncmp(p, "aws", 3) != 0)
		return false;
	for (p += 3; *p != '\0'; p++)
		if (!(*p == '-' && islower((unsigned char)p[1])) &&
		    !islower((unsigned char)*p))
			return false;
	return true;
}

static bool
digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; isdigit((unsigned char)s[i]); i++)
		;
	return i == n && s[i] == '\0';
}

int
arn_parse(const char *s, const char *flag, struct arn *a)
{
	const char *p = s;
	char where[64];
	int ret;

	memset(a, 0, sizeof(*a));
	if (s == NULL || *s == '\0')
		return err_set(ERR_USAGE, "%s is required", flag);
	if ((ret = check_chars(s, flag)) != ERR_OK)
		return ret;
	if (strncmp(p, "arn:", 4) != 0)
		return err_set(ERR_USAGE, "%s \"%.200s\" is not an ARN: it "
		    "must start with \"arn:\"", flag, s);
	p += 4;
	if (field(&p, a->partition, sizeof(a->partition), 0) != 0 ||
	    field(&p, a->service, sizeof(a->service), 0) != 0 ||
	    field(&p, a->region, sizeof(a->region), 0) != 0 ||
	    field(&p, a->account, sizeof(a->account), 0) != 0 ||
	    field(&p, a->resource, sizeof(a->resource), 1) != 0 ||
	    *a->partition == '\0' || *a->service == '\0' ||
	    *a->resource == '\0')
		return err_set(ERR_USAGE, "%s \"%.200s\" is not an ARN of the "
		    "form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE", flag,
		    s);
	if (!partition_form(a->partition))
		return err_set(ERR_USAGE, "the partition \"%s\" in %s is not "
		    "an AWS partition, like aws, aws-cn or aws-us-gov%s",
		    a->partition, flag, placeholder_hint(a->partition));
	snprintf(where, sizeof(where), "the region in %s", flag);
	if (*a->region != '\0' &&
	    (ret = arn_check_region(a->region, where)) != ERR_OK)
		return ret;
	if (*a->account != '\0' && !digits(a->account, 12))
		return err_set(ERR_USAGE, "the account \"%s\" in %s is not 12 "
		    "digits%s", a->account, flag, placeholder_hint(a->account));
	return ERR_OK;
}

/* Roles Anywhere IDs are UUIDs: 8-4-4-4-12 lower-case letters and digits. */
static bool
uuid_form(const char *id)
{
	static const size_t len[] = { 8, 4, 4, 4, 12 };

	for (size_t g = 0; g < 5; g++) {
		for (size_t k = 0; k < len[g]; k++, id++)
			if (!islower((unsigned char)*id) &&
			    !isdigit((unsigned char)*id))
				return false;
		if (*id++ != (g < 4 ? '-' : '\0'))
			return false;
	}
	return true;
}

/* A Roles Anywhere ARN of kind `kind` ("trust-anchor"), with its ID. */
static int
check_ra(const struct arn *a, const char *flag, const char *kind,
    const char *what)
{
	size_t k = strlen(kind);

	if (strcmp(a->service, "rolesanywhere") != 0 ||
	    strncmp(a->resource, kind, k) != 0 || a->resource[k] != '/')
		return err_set(ERR_USAGE, "%s is not a Roles Anywhere %s "
		    "(arn:aws:rolesanywhere:REGION:ACCOUNT:%s/ID)", flag, what,
		    kind);
	if (*a->region == '\0')
		return err_set(ERR_USAGE, "%s has no region: a Roles Anywhere "
		    "%s has one (arn:aws:rolesanywhere:REGION:ACCOUNT:%s/ID)",
		    flag, what, kind);
	if (*a->account == '\0')
		return err_set(ERR_USAGE, "%s has no account: expected 12 "
		    "digits (arn:aws:rolesanywhere:REGION:ACCOUNT:%s/ID)", flag,
		    kind);
	if (!uuid_form(a->resource + k + 1))
		return err_set(ERR_USAGE, "the %s ID \"%.40s\" in %s is not an "
		    "ID as AWS makes them, like 0a1b2c3d-4e5f-4a6b-8c7d-"
		    "9e0f1a2b3c4d%s", what, a->resource + k + 1, flag,
		    placeholder_hint(a->resource + k + 1));
	return ERR_OK;
}

/* arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME, names of [\w+=,.@-]. */
static int
check_role(const struct arn *a, const char *flag)
{
	const char *name = a->resource + 5;

	if (strcmp(a->service, "iam") != 0 ||
	    strncmp(a->resource, "role/", 5) != 0)
		return err_set(ERR_USAGE, "%s is not an IAM role "
		    "(arn:aws:iam::ACCOUNT:role/NAME)", flag);
	if (*a->region != '\0')
		return err_set(ERR_USAGE, "%s has a region, %s, but IAM ARNs "
		    "have none (arn:aws:iam::ACCOUNT:role/NAME)", flag,
		    a->region);
	if (*a->account == '\0')
		return err_set(ERR_USAGE, "%s has no account: expected 12 "
		    "digits (arn:aws:iam::ACCOUNT:role/NAME)", flag);
	if (*name == '\0' || name[strlen(name) - 1] == '/')
		return err_set(ERR_USAGE, "%s has no role name after \"role/\"",
		    flag);
	for (const char *c = name; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && strchr("_+=,.@-/", *c) ==
		    NULL)
			return err_set(ERR_USAGE, "the role name in %s may hold "
			    "only letters, digits and _+=,.@- ('%c' is not "
			    "allowed)", flag, *c);
	return ERR_OK;
}

/* "missing --trust-anchor-arn and --role-arn": every one at once. */
static int
check_given(const char *const *v, const char *const *flags, size_t n)
{
	char list[128] = "";
	size_t miss = 0, i, k = 0;

	for (i = 0; i < n; i++)
		miss += v[i] == NULL || *v[i] == '\0';
	if (miss == 0)
		return ERR_OK;
	for (i = 0; i < n; i++)
		if (v[i] == NULL || *v[i] == '\0') {
			k++;
			snprintf(list + strlen(list), sizeof(list) -
			    strlen(list), "%s%s", k == 1 ? "" : k < miss ?
			    ", " : " and ", flags[i]);
		}
	return err_set(ERR_USAGE, "missing %s", list);
}

int
arn_check_request(const char *trust_anchor, const char *profile,
    const char *role, const char *region, struct arn *ta)
{
	const char *const v[] = { trust_anchor, profile, role };
	const char *const flags[] = { "--trust-anchor-arn", "--profile-arn",
	    "--role-arn" };
	struct arn pr, ro;
	int ret;

	memset(ta, 0, sizeof(*ta));
	if ((ret = check_given(v, flags, 3)) != ERR_OK ||
	    (ret = arn_parse(trust_anchor, flags[0], ta)) != ERR_OK ||
	    (ret = arn_parse(profile, flags[1], &pr)) != ERR_OK ||
	    (ret = arn_parse(role, flags[2], &ro)) != ERR_OK ||
	    (ret = check_ra(ta, flags[0], "trust-anchor", "trust anchor")) !=
	    ERR_OK ||
	    (ret = check_ra(&pr, flags[1], "profile", "profile")) != ERR_OK ||
	    (ret = check_role(&ro, flags[2])) != ERR_OK)
		return ret;
	if (strcmp(ta->region, pr.region) != 0)
		return err_set(ERR_USAGE, "the trust anchor is in region %s "
		    "but the profile in region %s: they must be in the same "
		    "region", ta->region, pr.region);
	if (strcmp(ta->partition, pr.partition) != 0 ||
	    strcmp(ta->partition, ro.partition) != 0)
		return err_set(ERR_USAGE, "the trust anchor, profile and role "
		    "ARNs must be in the same partition (%s, %s, %s)",
		    ta->partition, pr.partition, ro.partition);
	if (strcmp(ta->account, pr.account) != 0)
		return err_set(ERR_USAGE, "the trust anchor (account %s) and "
		    "the profile (account %s) must be in the same account",
		    ta->account, pr.account);
	if (region == NULL || *region == '\0')
		return ERR_OK;
	if ((ret = arn_check_region(region, "--region")) != ERR_OK)
		return ret;
	/*
	 * The Go helper signs for --region whatever the ARNs say (spec §2.1);
	 * the service there knows no trust anchor of another region, so the
	 * request could only be refused.
	 */
	if (strcmp(region, ta->region) != 0)
		return err_set(ERR_USAGE, "--region %s is not the region of "
		    "the trust anchor and profile ARNs, %s: the service finds "
		    "them only there; leave --region out or make them agree",
		    region, ta->region);
	return ERR_OK;
}
