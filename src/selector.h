/* --cert-selector (spec §11): which certificate, by subject, issuer, serial. */
#ifndef RASIGN_SELECTOR_H
#define RASIGN_SELECTOR_H

#include <stdbool.h>

#include <openssl/x509.h>

struct selector {
	char *subject;		/* as x509_name_string() writes it, or NULL */
	char *issuer;
	BIGNUM *serial;
};

/* "file://PATH" (a JSON array of {"Key","Value"}) or "Key=…,Value=… …". */
int selector_parse(const char *text, struct selector *);
bool selector_matches(const struct selector *, X509 *);
void selector_free(struct selector *);

#endif
