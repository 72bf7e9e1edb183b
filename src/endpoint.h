#ifndef RASIGN_ENDPOINT_H
#define RASIGN_ENDPOINT_H

/*
 * The base URL is `flag` (--endpoint), else AWS_ENDPOINT_URL_ROLESANYWHERE,
 * else AWS_ENDPOINT_URL, else the region's public endpoint (spec §2.2).
 * Out: the full URL with `query`, the Host header value (host[:port] as
 * written) and the path that is both sent and signed.
 */
int endpoint_resolve(const char *flag, const char *region, const char *query,
    char **url, char **host, char **path);

#endif
