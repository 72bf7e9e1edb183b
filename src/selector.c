#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>

#include "err.h"
#include "files.h"
#include "selector.h"
#include "x509.h"

static int
set_field(struct selector *s, const char *key, const char *val, size_t len)
{
	char **dst = NULL;

	if (strcmp(key, "x509Subject") == 0)
		dst = &s->subject;
	else if (strcmp(key, "x509Issuer") == 0)
		dst = &s->issuer;
	else if (strcmp(key, "x509Serial") != 0)
		return err_set(ERR_USAGE, "--cert-selector: unknown key \"%s\" "
		    "(x509Subject, x509Issuer or x509Serial)", key);
	if ((dst != NULL && *dst != NULL) || (dst == NULL && s->serial))
		return err_set(ERR_USAGE, "--cert-selector: %s is given twice",
		    key);
	if (dst != NULL)
		return (*dst = strndup(val, len)) != NULL ? ERR_OK : ERR_NOMEM;
	{
		char hex[256];

		/* Unlike the Go helper, a bad serial is an error (§14.2 #17). */
		if (len == 0 || len >= sizeof(hex))
			return err_set(ERR_USAGE, "--cert-selector: bad "
			    "x509Serial");
		memcpy(hex, val, len);
		hex[len] = '\0';
		for (size_t i = 0; i < len; i++)
			if (!isxdigit((unsigned char)hex[i]))
				return err_set(ERR_USAGE, "--cert-selector: "
				    "x509Serial \"%s\" is not hexadecimal", hex);
		return BN_hex2bn(&s->serial, hex) ? ERR_OK : ERR_NOMEM;
	}
}

static int
parse_json(const char *path, struct selector *s)
{
	uint8_t *data = NULL;
	size_t len = 0, i;
	json_t *root, *e;
	int ret;

	if ((ret = files_read(path, "cert selector file", ERR_USAGE,
	    64 * 1024, &data, &len)) != ERR_OK)
		return ret;
	root = json_loadb((const char *)data, len, 0, NULL);
	OPENSSL_free(data);
	if (!json_is_array(root) && !json_is_null(root)) {
		json_decref(root);
		return err_set(ERR_USAGE, "--cert-selector: %s is not a JSON "
		    "array of {\"Key\": …, \"Value\": …}", path);
	}
	json_array_foreach(root, i, e) {
		const char *k = NULL, *v = NULL, *key;
		json_t *val;

		/* Key names are case-insensitive, as Go's json package has it. */
		json_object_foreach(e, key, val) {
			if (strcasecmp(key, "Key") == 0)
				k = json_string_value(val);
			else if (strcasecmp(key, "Value") == 0)
				v = json_string_value(val);
		}
		if ((ret = set_field(s, k ? k : "", v ? v : "",
		    v ? strlen(v) : 0)) != ERR_OK)
			break;
	}
	json_decref(root);
	return ret;
}

/* Key=K,Value=V [Key=K,Value=V ...]; a value runs to " Key=" or the end. */
static int
parse_string(const char *p, struct selector *s)
{
	const char *key, *comma, *val, *next, *end;
	char k[32];
	int ret;

	while (isspace((unsigned char)*p))
		p++;
	while (*p != '\0') {
		if (strncmp(p, "Key=", 4) != 0 ||
		    (comma = strstr(p, ",Value=")) == NULL)
			return err_set(ERR_USAGE, "--cert-selector: expected "
			    "Key=…,Value=… at \"%.40s\"", p);
		key = p + 4;
		val = comma + 7;
		for (next = val; (next = strstr(next, "Key=")) != NULL; next++)
			if (next > val && isspace((unsigned char)next[-1]))
				break;
		end = next ? next : val + strlen(val);
		while (end > val && isspace((unsigned char)end[-1]))
			end--;
		snprintf(k, sizeof(k), "%.*s", (int)(comma - key), key);
		if ((ret = set_field(s, k, val, (size_t)(end - val))) != ERR_OK)
			return ret;
		p = next ? next : end + strlen(end);
	}
	return ERR_OK;
}

int
selector_parse(const char *text, struct selector *s)
{
	int ret;

	memset(s, 0, sizeof(*s));
	ret = strncmp(text, "file://", 7) == 0 ? parse_json(text + 7, s) :
	    parse_string(text, s);
	if (ret == ERR_OK && !s->subject && !s->issuer && !s->serial)
		ret = err_set(ERR_USAGE, "--cert-selector selects nothing");
	if (ret != ERR_OK)
		selector_free(s);
	return ret;
}

bool
selector_matches(const struct selector *s, X509 *x)
{
	char buf[1024];
	BIGNUM *bn;
	bool ok = true;

	if (s->subject != NULL) {
		x509_name_string(X509_get_subject_name(x), buf, sizeof(buf));
		ok = ok && strcmp(buf, s->subject) == 0;
	}
	if (s->issuer != NULL) {
		x509_name_string(X509_get_issuer_name(x), buf, sizeof(buf));
		ok = ok && strcmp(buf, s->issuer) == 0;
	}
	if (ok && s->serial != NULL) {
		bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
		ok = bn != NULL && BN_cmp(bn, s->serial) == 0;
		BN_free(bn);
	}
	return ok;
}

void
selector_free(struct selector *s)
{
	free(s->subject);
	free(s->issuer);
	BN_free(s->serial);
	memset(s, 0, sizeof(*s));
}
