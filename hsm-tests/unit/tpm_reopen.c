/*
 * tpm_reopen TCTI KEY [PASSWORD_SOURCE]: one TPM signer across a TPM
 * restart, its password read once from a pass-phrase source ("fd:3").
 * Signs once and prints "ready"; then waits for a line on stdin (the test
 * script restarts swtpm meanwhile), and signs again: the signer must
 * reconnect and reload its key by itself. Prints TAP-ish lines; exits
 * non-zero on failure. Run by hsm-tests/test-tpm.sh against swtpm.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <openssl/rand.h>

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

int
main(int argc, char **argv)
{
	struct key_request req = { .key_ref = NULL };
	struct options o = { .tpm_key_password = NULL };
	struct auth auth;
	struct signer *s = NULL;
	char line[16];
	int fails = 0, rc;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: tpm_reopen TCTI KEY [PASSWORD_SOURCE]\n");
		return 2;
	}
	o.tpm_key_password = argc == 4 ? argv[3] : NULL;
	if ((rc = keyauth_init(&o, NULL, &auth)) != ERR_OK) {
		printf("not ok - password source: %s\n", err_message());
		return 1;
	}
	keyauth_unattended(&auth);
	req.tpm_tcti = argv[1];
	req.key_ref = argv[2];
	req.auth = &auth;
	req.no_tpm_key_password = argc == 3;
	if ((rc = signer_open(&req, &s)) != ERR_OK) {
		printf("not ok - open: %s\n", err_message());
		return 1;
	}
	rc = sign(s);
	printf("%s - first signature\nready\n", rc == ERR_OK ? "ok" : "not ok");
	fflush(stdout);
	fails += rc != ERR_OK;
	if (fgets(line, sizeof(line), stdin) == NULL)
		fails++;
	for (int i = 0; i < 3; i++) {
		rc = sign(s);
		printf("%s - signature %d after the TPM restarted%s%s\n",
		    rc == ERR_OK ? "ok" : "not ok", i + 1, rc ? ": " : "",
		    rc ? err_message() : "");
		fails += rc != ERR_OK;
	}
	signer_close(s);
	auth_clear(&auth);
	return fails ? 1 : 0;
}
