/*
 * Table-driven tests of the refresh schedule (src/schedule.c) that serve and
 * update share, and of the lockout rule that every backend goes through
 * (providers/auth.c): what is offered to a device, and what never is.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "err.h"
#include "schedule.h"

#define NOW 1800000000L		/* any wall-clock time */

static const struct {
	const char *name;
	struct sched_state s;
	time_t want;		/* minus NOW */
} cases[] = {
	/* The default lead: 20 min, outside botocore's 15 and 10 min windows. */
	{ "auto lead, 1 h granted as asked",
	    { NOW, NOW + 3600, SCHED_LEAD_AUTO, 3600, 0 }, 3600 - 1200 },
	{ "auto lead, 12 h granted",
	    { NOW, NOW + 43200, SCHED_LEAD_AUTO, 43200, 0 }, 43200 - 1200 },
	/* A short session: at most 3/4 of it, so a quarter passes first. */
	{ "auto lead, 15 min session: 3/4 of it",
	    { NOW, NOW + 900, SCHED_LEAD_AUTO, 900, 0 }, 900 - 675 },
	/* An explicit lead is the user's, when the grant is what was asked. */
	{ "explicit 300 s", { NOW, NOW + 3600, 300, 3600, 0 }, 3300 },
	{ "explicit 897 s of 900", { NOW, NOW + 900, 897, 900, 0 }, 3 },
	/* Granted less than asked: served at least a quarter, refreshed at
	 * least a quarter of the grant apart. */
	{ "1 h asked, 15 min granted, auto lead",
	    { NOW, NOW + 900, SCHED_LEAD_AUTO, 3600, 0 }, 900 - 675 },
	{ "1 h asked, 15 min granted, lead 3000",
	    { NOW, NOW + 900, 3000, 3600, 0 }, 225 },
	{ "1 h asked, 20 min granted, lead 60: a quarter left at least",
	    { NOW, NOW + 1200, 60, 3600, 0 }, 1200 - 300 },
	{ "1 h asked, 100 s granted, auto: never back to back",
	    { NOW, NOW + 100, SCHED_LEAD_AUTO, 3600, 0 }, 25 },
	/* Resume: the refresh time passed while suspended: now, not later. */
	{ "woke up after the refresh time", { NOW - 3000, NOW + 600,
	    SCHED_LEAD_AUTO, 3600, 0 }, 0 },
	{ "woke up after the expiry", { NOW - 7200, NOW - 3600,
	    SCHED_LEAD_AUTO, 3600, 0 }, 0 },
	{ "nothing held yet", { 0, 0, SCHED_LEAD_AUTO, 3600, 0 }, 0 },
	/* Failures: 5 s doubling to 5 min, never past the expiry held. */
	{ "first failure", { NOW - 2400, NOW + 1200, SCHED_LEAD_AUTO, 3600, 1 },
	    5 },
	{ "second failure", { NOW - 2400, NOW + 1200, SCHED_LEAD_AUTO, 3600,
	    2 }, 10 },
	{ "sixth failure: 160 s", { NOW - 2400, NOW + 1200, SCHED_LEAD_AUTO,
	    3600, 6 }, 160 },
	{ "seventh failure: capped at 300 s", { NOW - 2400, NOW + 1200,
	    SCHED_LEAD_AUTO, 3600, 7 }, 300 },
	{ "many failures: still 300 s", { NOW - 2400, NOW + 1200,
	    SCHED_LEAD_AUTO, 3600, 60 }, 300 },
	{ "failure, held credentials expire in 3 s: retry then", { NOW - 3597,
	    NOW + 3, SCHED_LEAD_AUTO, 3600, 4 }, 3 },
	{ "failure, nothing valid held: full backoff", { NOW - 3700,
	    NOW - 100, SCHED_LEAD_AUTO, 3600, 3 }, 20 },
	/* Credentials that arrived expired count as a failure (the caller's). */
	{ "expired on arrival: backoff, not every second", { NOW, NOW - 30,
	    SCHED_LEAD_AUTO, 3600, 1 }, 5 },
};

static void
test_sched_next(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		time_t got = sched_next(&cases[i].s, NOW) - NOW;

		if (got != cases[i].want)
			fail_msg("%s: next in %lld s, want %lld s", cases[i].name,
			    (long long)got, (long long)cases[i].want);
	}
}

/* Whatever the inputs, a good refresh is never scheduled before now, and
 * what is served keeps at least a quarter of a short grant. */
static void
test_sched_bounds(void **state)
{
	static const long leads[] = { SCHED_LEAD_AUTO, 0, 1, 60, 299, 1200,
	    3599, 43199 };
	static const long grants[] = { 1, 2, 59, 60, 61, 900, 1000, 3600, 43200 };

	(void)state;
	for (size_t l = 0; l < sizeof(leads) / sizeof(leads[0]); l++)
		for (size_t g = 0; g < sizeof(grants) / sizeof(grants[0]); g++) {
			struct sched_state s = { NOW, NOW + grants[g], leads[l],
			    3600, 0 };
			time_t next = sched_next(&s, NOW);

			assert_true(next >= NOW);
			assert_true(next <= NOW + grants[g]);
			if (grants[g] < 3600)
				assert_true(NOW + grants[g] - next >=
				    grants[g] / 4);
		}
}

static int
no_prompt(void *cls, const char *prompt, char **out)
{
	(void)prompt;
	(*(int *)cls)++;
	*out = NULL;
	return ERR_PASSWORD;
}

static int
typed(void *cls, const char *prompt, char **out)
{
	(void)prompt;
	(*(int *)cls)++;
	*out = OPENSSL_strdup("1234");
	return ERR_OK;
}

static void
set(struct auth *a, enum auth_kind k, const char *v)
{
	memset(a, 0, sizeof(*a));
	if (v != NULL)
		a->s[k].value = OPENSSL_strdup(v);
	a->s[k].how = "--flag";
}

static void
test_auth_rule(void **state)
{
	struct auth a;
	const char *v;
	int asked = 0;

	(void)state;
	/* A value from a source is offered when the device is fine. */
	set(&a, AUTH_PIN, "1111");
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_UNKNOWN, "t", &v),
	    ERR_OK);
	assert_string_equal(v, "1111");
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_LOW, "t", &v),
	    ERR_OK);
	/* ... never on a final try or a locked device. */
	err_clear();
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_FINAL, "t", &v),
	    ERR_PASSWORD);
	assert_null(v);
	assert_non_null(strstr(err_message(), "one try left"));
	err_clear();
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_LOCKED, "t", &v),
	    ERR_PASSWORD);
	/* Refused once: never offered again, even read anew from a file. */
	auth_result(&a, AUTH_PIN, false);
	assert_false(auth_known(&a, AUTH_PIN));
	auth_clear(&a);
	set(&a, AUTH_PIN, "1111");
	err_clear();
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_UNKNOWN, "t", &v),
	    ERR_PASSWORD);
	assert_non_null(strstr(err_message(), "refused"));
	/* A different value is a different matter; so is another kind. */
	auth_clear(&a);
	set(&a, AUTH_PIN, "2222");
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_UNKNOWN, "t", &v),
	    ERR_OK);
	auth_clear(&a);
	set(&a, AUTH_TPM_KEY, "1111");
	assert_int_equal(auth_get(&a, AUTH_TPM_KEY, AUTH_TRIES_UNKNOWN, "t",
	    &v), ERR_OK);
	auth_clear(&a);
	/* Unattended (no prompt): a missing value is an error, not a hang. */
	set(&a, AUTH_PIN, NULL);
	err_clear();
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_UNKNOWN, "t", &v),
	    ERR_PASSWORD);
	assert_non_null(strstr(err_message(), "--flag"));
	/* A person at the prompt may spend the final try; asked once only. */
	a.prompt = typed;
	a.prompt_cls = &asked;
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_FINAL, "t", &v),
	    ERR_OK);
	assert_string_equal(v, "1234");
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_UNKNOWN, "t", &v),
	    ERR_OK);
	assert_int_equal(asked, 1);
	/* ... but the typed value cached is not typed now. */
	err_clear();
	assert_int_equal(auth_get(&a, AUTH_PIN, AUTH_TRIES_FINAL, "t", &v),
	    ERR_PASSWORD);
	auth_clear(&a);
	/* --reuse-pin: the signature PIN is the user PIN, one value. */
	set(&a, AUTH_PIN, "3333");
	a.reuse_pin = true;
	a.prompt = no_prompt;
	a.prompt_cls = &asked;
	assert_int_equal(auth_get(&a, AUTH_CONTEXT_PIN, AUTH_TRIES_UNKNOWN,
	    "t", &v), ERR_OK);
	assert_string_equal(v, "3333");
	assert_int_equal(asked, 1);
	/* No auth at all (a request that carries no secrets). */
	assert_int_equal(auth_get(NULL, AUTH_FILE_KEY, AUTH_TRIES_UNKNOWN,
	    "t", &v), ERR_PASSWORD);
	auth_clear(&a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sched_next),
		cmocka_unit_test(test_sched_bounds),
		cmocka_unit_test(test_auth_rule),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
