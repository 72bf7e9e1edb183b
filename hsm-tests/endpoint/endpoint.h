/*
 * endpoint.h - shared declarations of ra-endpoint, the local TEST stand-in
 * for the IAM Roles Anywhere CreateSession API.
 *
 * ra-endpoint exists so that rasign's tests can talk to something that
 * checks SigV4-X509 requests the way AWS does.  It is not a security
 * boundary: the credentials it hands out are random strings that open
 * nothing.  It deliberately shares no code with src/ or providers/, so a
 * bug in rasign's signer cannot be mirrored by the checker.
 */
#ifndef RA_ENDPOINT_H
#define RA_ENDPOINT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>
#include <openssl/x509.h>

/* Caps on everything that grows from network input. */
#define EP_BODY_MAX	 (64u * 1024u)	/* request body (spec: 413 above) */
#define EP_URI_MAX	 (16u * 1024u)	/* raw request target */
#define EP_HEADERS_MAX	 256u		/* header lines per request */
#define EP_HEADER_VALUE_MAX (64u * 1024u) /* one joined header value */
#define EP_QUERY_PARAMS_MAX 32u
#define EP_CHAIN_MAX	 8u		/* intermediates in X-Amz-X509-Chain */
#define EP_CANON_MAX	 (512u * 1024u)	/* canonical request */
#define EP_SERIAL_MAX	 80		/* decimal serial incl. sign and NUL */
#define EP_MSG_MAX	 320		/* error message */

/* Growable string with a hard cap; any failure sticks in err (util.c). */
struct ep_sb {
	char	*p;
	size_t	 len;
	size_t	 cap;
	size_t	 max;
	bool	 err;
};

void	 ep_sb_init(struct ep_sb *, size_t max);
void	 ep_sb_add(struct ep_sb *, const void *, size_t);
void	 ep_sb_str(struct ep_sb *, const char *);
char	*ep_sb_take(struct ep_sb *);	/* NUL-terminated, NULL on error */
void	 ep_sb_free(struct ep_sb *);

/* One request header as received; name already lower-cased. */
struct ep_header {
	char	*name;
	char	*value;
};

/* A request exactly as it arrived on the wire. */
struct ep_request {
	const char		*method;
	const char		*path;	/* raw, before '?' */
	const char		*query;	/* raw, after '?', "" if none */
	const struct ep_header	*hdrs;
	size_t			 nhdrs;
	const unsigned char	*body;
	size_t			 body_len;
};

/* A decoded query parameter; may contain NUL bytes, hence the lengths. */
struct ep_qparam {
	char	*key;
	size_t	 klen;
	char	*val;
	size_t	 vlen;
};

struct ep_query {
	struct ep_qparam *v;
	size_t		  n;
};

/* The parsed Authorization header. */
struct ep_auth {
	char		alg[32];
	char		serial[EP_SERIAL_MAX];
	char		date[16];
	char		region[64];
	char		service[32];
	char		terminator[32];
	char		scope[160];
	char		signed_headers[1024];
	unsigned char	sig[1024];
	size_t		sig_len;
};

/* Server configuration, read-only once the daemon runs. */
struct ep_config {
	const char	 *region;
	const char	 *trust_anchor_arn;
	const char	 *profile_arn;
	const char	**role_arns;
	size_t		  nroles;
	long		  max_skew;
	long		  max_duration;
	X509_STORE	 *store;	/* thread-safe for verification */
};

/* Outcome of ep_verify(): status 0 means "accepted, issue credentials". */
struct ep_verdict {
	int		 status;
	const char	*type;
	char		 message[EP_MSG_MAX];
	char		*canonical;		/* malloc'd, NULL if not built */
	char		*string_to_sign;	/* malloc'd, NULL if not built */
	/* Filled when accepted. */
	const char	*role_arn;		/* points into ep_config */
	long		 duration;
	char		 session_name[72];
	char		 serial[EP_SERIAL_MAX];
	char		 cn[256];
	unsigned char	 subject_hash[32];
};

/* One line of the --faults file, taken by one request. */
enum ep_fault_kind {
	EP_FAULT_OK, EP_FAULT_DELAY, EP_FAULT_STATUS, EP_FAULT_MALFORMED,
	EP_FAULT_EMPTY_SET, EP_FAULT_MISSING_FIELD, EP_FAULT_DROP,
	EP_FAULT_GRANT,		/* verified as usual; expires after arg s */
	EP_FAULT_HOSTILE
};

struct ep_fault {
	enum ep_fault_kind kind;
	long		   arg;		/* milliseconds, status code, seconds */
	char		   line[128];	/* as read, for the record */
};

/* The files shared with the tests, and the lock that serialises them. */
struct ep_hooks {
	const char	*faults_path;
	const char	*record_path;
	pthread_mutex_t	 lock;
};

/* What was answered, for the reply and the record. */
struct ep_outcome {
	int		 status;	/* 0: connection dropped */
	const char	*type;
	char		 message[EP_MSG_MAX];
	char		*body;		/* malloc'd answer body */
	char		 akid[21];
	const char	*canonical;
};

/* sigv4.c */
int	 ep_header_get(const struct ep_request *, const char *lname,
	    bool canonical, char **out);
int	 ep_query_parse(const char *raw, struct ep_query *);
void	 ep_query_free(struct ep_query *);
char	*ep_query_canonical(const struct ep_query *);
size_t	 ep_query_count(const struct ep_query *, const char *key,
	    const struct ep_qparam **first);
int	 ep_auth_parse(const char *value, struct ep_auth *, const char **why);
int	 ep_amz_date_parse(const char *, time_t *);
int	 ep_signed_headers_check(const struct ep_request *, const char *list,
	    char *why, size_t whylen);
char	*ep_canonical_request(const struct ep_request *, const char *cquery,
	    const char *signed_headers);
char	*ep_string_to_sign(const struct ep_auth *, const char *amzdate,
	    const char *canonical);

/* verify.c */
int	 ep_verify(const struct ep_config *, const struct ep_request *,
	    time_t now, struct ep_verdict *);
void	 ep_verdict_free(struct ep_verdict *);
int	 ep_store_add_pem(X509_STORE *, const char *pem, size_t len);

/* reply.c */
char	*ep_error_body(const char *message);
char	*ep_credentials_body(const struct ep_config *, const struct ep_verdict *,
	    time_t now, char akid[21]);
char	*ep_missing_field_body(const struct ep_config *, time_t now,
	    char akid[21]);
int	 ep_random_uuid(char out[37]);
int	 ep_role_arn_split(const char *arn, char partition[32],
	    char account[16], const char **name);

/* hooks.c */
void	 ep_fault_take(struct ep_hooks *, struct ep_fault *);
void	 ep_record(struct ep_hooks *, const struct ep_request *,
	    const struct ep_fault *, const struct ep_outcome *);

/* util.c (and the ep_sb_* functions above) */
void	 ep_sha256_hex(const void *, size_t, char out[65]);
bool	 ep_parse_long(const char *, long min, long max, long *out);
json_t	*ep_json_str(const char *, size_t);
int	 ep_read_file(const char *path, size_t max, char **out, size_t *len);
int	 ep_write_atomic(const char *path, const char *data, size_t len);

/* selftest.c */
int	 ep_self_test(int argc, char **argv);

#endif
