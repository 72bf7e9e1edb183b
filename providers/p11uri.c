#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "err.h"
#include "p11.h"

char *
p11_uri_for(const struct p11_object *obj)
{
	CK_ATTRIBUTE attrs[3];
	P11KitUri *uri;
	char *s = NULL;

	if ((uri = p11_kit_uri_new()) == NULL)
		return NULL;
	memcpy(p11_kit_uri_get_token_info(uri), &obj->token->info,
	    sizeof(CK_TOKEN_INFO));
	attrs[0] = (CK_ATTRIBUTE){ CKA_CLASS, (void *)&obj->class,
	    sizeof(obj->class) };
	attrs[1] = (CK_ATTRIBUTE){ CKA_ID, (void *)obj->id, obj->id_len };
	attrs[2] = (CK_ATTRIBUTE){ CKA_LABEL, (void *)obj->label,
	    strlen(obj->label) };
	if (p11_kit_uri_set_attributes(uri, attrs, 3) != P11_KIT_URI_OK ||
	    p11_kit_uri_format(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN, &s) !=
	    P11_KIT_URI_OK)
		s = NULL;
	p11_kit_uri_free(uri);
	return s;
}

int
p11_ambiguous(const char *what, const struct p11_object *objs, size_t n)
{
	char list[3500] = "", *u;
	size_t used = 0;

	for (size_t i = 0; i < n && used + 4 < sizeof(list); i++) {
		u = p11_uri_for(&objs[i]);
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%s", i ? ", " : "", u ? u : "?");
		free(u);
	}
	return err_set(ERR_USAGE, "%zu %ss match; name one with a more "
	    "precise URI: %s%s", n, what, list,
	    used + 4 >= sizeof(list) ? ", ..." : "");
}

/* "token=a, token=b" as URIs, for an error about several tokens. */
int
p11_ambiguous_tokens(const struct p11_token *t, size_t n, const char *uri)
{
	char list[3500] = "", *s;
	size_t used = 0;
	P11KitUri *u;

	for (size_t i = 0; i < n && used + 4 < sizeof(list); i++) {
		s = NULL;
		if ((u = p11_kit_uri_new()) != NULL) {
			memcpy(p11_kit_uri_get_token_info(u), &t[i].info,
			    sizeof(CK_TOKEN_INFO));
			if (p11_kit_uri_format(u, P11_KIT_URI_FOR_TOKEN, &s) !=
			    P11_KIT_URI_OK)
				s = NULL;
			p11_kit_uri_free(u);
		}
		used += (size_t)snprintf(list + used, sizeof(list) - used,
		    "%s%s", i ? ", " : "", s ? s : "?");
		free(s);
	}
	return err_set(ERR_USAGE, "%zu tokens match %s; add token= (or "
	    "serial=) to the URI: %s", n, uri, list);
}
