/* Which URL CreateSession goes to, and the Host and path that get signed. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "endpoint.h"
#include "err.h"

/* AWS partitions by region prefix (spec §2.2); "aws" is the default. */
static const struct {
	const char *prefix;
	const char *suffix;
} partitions[] = {
	{ "cn-", "amazonaws.com.cn" },
	{ "us-isob-", "sc2s.sgov.gov" },
	{ "us-isof-", "csp.hci.ic.gov" },
	{ "us-iso-", "c2s.ic.gov" },
	{ "eu-isoe-", "cloud.adc-e.uk" },
};

static int
default_endpoint(const char *region, char **out)
{
	const char *suffix = "amazonaws.com", *fips;
	bool use_fips;

	for (size_t i = 0; i < sizeof(partitions) / sizeof(partitions[0]); i++)
		if (strncmp(region, partitions[i].prefix,
		    strlen(partitions[i].prefix)) == 0) {
			suffix = partitions[i].suffix;
			break;
		}
	fips = getenv("AWS_USE_FIPS_ENDPOINT");
	use_fips = fips != NULL && strcasecmp(fips, "true") == 0;
	if (asprintf(out, "https://rolesanywhere%s.%s.%s",
	    use_fips ? "-fips" : "", region, suffix) < 0) {
		*out = NULL;
		return ERR_NOMEM;
	}
	return ERR_OK;
}

/* Splits the base URL with libcurl's parser; builds URL, Host and path. */
static int
resolve_url(const char *base, const char *query, char **url, char **host_out,
    char **path_out)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
	CURLU *u;
	size_t n;
	int ret = ERR_USAGE;

	if ((u = curl_url()) == NULL)
		return ERR_NOMEM;
	if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    (strcmp(scheme, "https") != 0 && strcmp(scheme, "http") != 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		ret = err_set(ERR_USAGE, "endpoint \"%.200s\" is not an "
		    "http:// or https:// URL", base);
		goto out;
	}
	(void)curl_url_get(u, CURLUPART_PORT, &port, 0);
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		goto out;
	/* The canonical URI is the path actually sent (spec §14.2 #9). */
	n = strlen(path);
	while (n > 0 && path[n - 1] == '/')
		n--;
	if (asprintf(path_out, "%.*s/sessions", (int)n, path) < 0 ||
	    asprintf(host_out, "%s%s%s", host, port ? ":" : "",
	    port ? port : "") < 0 ||
	    asprintf(url, "%s://%s%s?%s", scheme, *host_out, *path_out,
	    query) < 0) {
		ret = ERR_NOMEM;
		goto out;
	}
	ret = ERR_OK;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_free(path);
	curl_url_cleanup(u);
	return ret;
}

int
endpoint_resolve(const char *flag, const char *region, const char *query,
    char **url, char **host, char **path)
{
	const char *base = flag;
	char *computed = NULL;
	int ret;

	/* An explicit flag wins over the environment (spec §14.2 #9). */
	if (base == NULL || *base == '\0')
		base = getenv("AWS_ENDPOINT_URL_ROLESANYWHERE");
	if (base == NULL || *base == '\0')
		base = getenv("AWS_ENDPOINT_URL");
	if (base == NULL || *base == '\0') {
		if ((ret = default_endpoint(region, &computed)) != ERR_OK)
			return ret;
		base = computed;
	}
	*url = *host = *path = NULL;
	ret = resolve_url(base, query, url, host, path);
	free(computed);
	return ret;
}

