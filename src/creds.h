/* The temporary credential set: parsed from CreateSession, printed for SDKs. */
#ifndef RASIGN_CREDS_H
#define RASIGN_CREDS_H

#include <stddef.h>
#include <time.h>

struct creds {
	char *access_key_id;
	char *secret_access_key;	/* secret: wiped by creds_free */
	char *session_token;		/* secret: wiped by creds_free */
	char *expiration;		/* as the service sent it, RFC 3339 */
};

/* Parses credentialSet[0].credentials of a CreateSession answer (spec §2.10). */
int creds_parse(const char *body, size_t len, struct creds *);
/* {"Version":1,"AccessKeyId":…,"Expiration":…}, no newline (spec §2.10). */
int creds_process_json(const struct creds *, char **out);
/*
 * "export AWS_ACCESS_KEY_ID='…'\n" and the same for AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN and AWS_CREDENTIAL_EXPIRATION: POSIX sh, each value
 * single-quoted, so that eval "$(…)" sets exactly these bytes. Free *out
 * with creds_free_string.
 */
int creds_env_lines(const struct creds *, char **out);
/* The expiration as a time, from its RFC 3339 form "YYYY-MM-DDTHH:MM:SSZ". */
int creds_expiry(const struct creds *, time_t *out);
void creds_free(struct creds *);
/* Wipes and frees a string that holds credentials. */
void creds_free_string(char *);

#endif
