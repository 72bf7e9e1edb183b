#include <stdio.h>
#include <string.h>

#include "arn.h"
#include "err.h"

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

int
arn_parse(const char *s, const char *flag, struct arn *a)
{
	const char *p = s;

	memset(a, 0, sizeof(*a));
	if (s == NULL || *s == '\0')
		return err_set(ERR_USAGE, "%s is required", flag);
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
	return ERR_OK;
}
