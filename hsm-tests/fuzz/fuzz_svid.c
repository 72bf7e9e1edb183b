/*
 * X509SVIDResponse messages from the SPIFFE Workload API (src/spiffe.c):
 * the first byte picks the SVID asked for (even: the first served; odd:
 * spiffe://example.org/second), the rest is the protobuf message as it
 * arrives on the stream. Invariants: an SVID taken has its ID, a leaf, a
 * key, at most MAX_CHAIN - 1 intermediates, and is the one asked for.
 */
#include <openssl/err.h>

#include "err.h"
#include "fuzz.h"
#include "spiffe.h"

#define SECOND "spiffe://example.org/second"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct spiffe_svid svid;
	const char *want;

	if (size < 1)
		return 0;
	want = data[0] & 1 ? SECOND : NULL;
	err_clear();
	if (spiffe_parse_response(data + 1, size - 1, want, &svid) == ERR_OK) {
		FUZZ_CHECK(svid.id != NULL && svid.leaf != NULL);
		FUZZ_CHECK(svid.key != NULL && svid.key_len > 0);
		FUZZ_CHECK(svid.chain == NULL || sk_X509_num(svid.chain) < 16);
		FUZZ_CHECK(want == NULL || strcmp(svid.id, want) == 0);
	} else
		FUZZ_CHECK(svid.id == NULL && svid.leaf == NULL &&
		    svid.key == NULL && svid.chain == NULL);
	spiffe_svid_free(&svid);
	err_clear();
	ERR_clear_error();
	return 0;
}
