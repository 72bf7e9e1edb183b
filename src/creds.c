#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "creds.h"
#include "err.h"

/* One credential field: a non-empty string without control characters. */
static int
take_field(json_t *obj, const char *name, char **out)
{
	json_t *v = json_object_get(obj, name);
	const char *s;

	if (!json_is_string(v) || *(s = json_string_value(v)) == '\0')
		return err_set(ERR_RESPONSE, "the CreateSession answer has no "
		    "credentials.%s string", name);
	for (const char *p = s; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			return err_set(ERR_RESPONSE, "the CreateSession answer "
			    "has control characters in credentials.%s", name);
	if ((*out = strdup(s)) == NULL)
		return ERR_NOMEM;
	return ERR_OK;
}

/* Wipes the parsed document's copies of the secrets before freeing it. */
static void
wipe_strings(json_t *j)
{
	const char *key;
	json_t *v;
	size_t i;

	if (json_is_object(j)) {
		json_object_foreach(j, key, v)
			wipe_strings(v);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v)
			wipe_strings(v);
	} else if (json_is_string(j)) {
		OPENSSL_cleanse((char *)json_string_value(j),
		    json_string_length(j));
	}
}

int
creds_parse(const char *body, size_t len, struct creds *c)
{
	json_t *root, *set, *cr;
	json_error_t jerr;
	int ret = ERR_RESPONSE;

	memset(c, 0, sizeof(*c));
	if ((root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL)
		return err_set(ERR_RESPONSE, "malformed CreateSession answer: "
		    "invalid JSON (%s at line %d)", jerr.text, jerr.line);
	set = json_object_get(root, "credentialSet");
	if (!json_is_array(set) || json_array_size(set) == 0) {
		ret = err_set(ERR_RESPONSE, "the CreateSession answer holds no "
		    "credentials (empty credentialSet)");
		goto out;
	}
	cr = json_object_get(json_array_get(set, 0), "credentials");
	if (!json_is_object(cr)) {
		ret = err_set(ERR_RESPONSE, "malformed CreateSession answer: "
		    "credentialSet[0] has no credentials object");
		goto out;
	}
	if ((ret = take_field(cr, "accessKeyId", &c->access_key_id)) != ERR_OK ||
	    (ret = take_field(cr, "secretAccessKey", &c->secret_access_key)) !=
	    ERR_OK ||
	    (ret = take_field(cr, "sessionToken", &c->session_token)) != ERR_OK ||
	    (ret = take_field(cr, "expiration", &c->expiration)) != ERR_OK)
		goto out;
	ret = ERR_OK;
out:
	if (ret != ERR_OK)
		creds_free(c);
	wipe_strings(root);
	json_decref(root);
	return ret;
}

int
creds_process_json(const struct creds *c, char **out)
{
	json_t *o;
	int ret = ERR_NOMEM;

	*out = NULL;
	if ((o = json_object()) == NULL)
		return ERR_NOMEM;
	/* Field order and compactness as the Go helper's json.Marshal. */
	if (json_object_set_new(o, "Version", json_integer(1)) != 0 ||
	    json_object_set_new(o, "AccessKeyId",
	    json_string(c->access_key_id)) != 0 ||
	    json_object_set_new(o, "SecretAccessKey",
	    json_string(c->secret_access_key)) != 0 ||
	    json_object_set_new(o, "SessionToken",
	    json_string(c->session_token)) != 0 ||
	    json_object_set_new(o, "Expiration",
	    json_string(c->expiration)) != 0)
		goto out;
	if ((*out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER)) != NULL)
		ret = ERR_OK;
out:
	wipe_strings(o);
	json_decref(o);
	return ret;
}

/* Appends 'value' to p, each ' written as '\'' (close, escaped, reopen). */
static char *
sh_quote(char *p, const char *value)
{
	*p++ = '\'';
	for (; *value != '\0'; value++) {
		if (*value == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = *value;
	}
	*p++ = '\'';
	return p;
}

int
creds_env_lines(const struct creds *c, char **out)
{
	const char *const names[4] = { "AWS_ACCESS_KEY_ID",
	    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	    "AWS_CREDENTIAL_EXPIRATION" };
	const char *values[4] = { c->access_key_id, c->secret_access_key,
	    c->session_token, c->expiration };
	size_t len = 1;
	char *p;

	*out = NULL;
	for (int i = 0; i < 4; i++) {
		if (values[i] == NULL)
			return err_set(ERR_INTERNAL, "no %s to print", names[i]);
		/* export NAME='VALUE' and a newline; 3 more bytes per quote. */
		len += strlen("export =''\n") + strlen(names[i]) +
		    strlen(values[i]);
		for (const char *q = values[i]; *q != '\0'; q++)
			len += *q == '\'' ? 3 : 0;
	}
	if ((p = *out = malloc(len)) == NULL)
		return ERR_NOMEM;
	for (int i = 0; i < 4; i++) {
		p += sprintf(p, "export %s=", names[i]);
		p = sh_quote(p, values[i]);
		*p++ = '\n';
	}
	*p = '\0';
	return ERR_OK;
}

void
creds_free_string(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

void
creds_free(struct creds *c)
{
	free(c->access_key_id);
	creds_free_string(c->secret_access_key);
	creds_free_string(c->session_token);
	free(c->expiration);
	memset(c, 0, sizeof(*c));
}

int
creds_expiry(const struct creds *c, time_t *out)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	/* Fractional seconds, as some AWS services send, are allowed. */
	if (c->expiration == NULL ||
	    (end = strptime(c->expiration, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return err_set(ERR_RESPONSE, "the credentials' expiration "
		    "\"%.40s\" is not an RFC 3339 UTC time",
		    c->expiration ? c->expiration : "");
	if (*end == '.')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z") != 0 && strcmp(end, "+00:00") != 0)
		return err_set(ERR_RESPONSE, "the credentials' expiration "
		    "\"%.40s\" is not in UTC", c->expiration);
	*out = timegm(&tm);
	return ERR_OK;
}
