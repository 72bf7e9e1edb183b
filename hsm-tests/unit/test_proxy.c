/*
 * http_proxy_for against the cases of Go's golang.org/x/net/http/httpproxy
 * (proxy_test.go's proxyForURLTests and its NO_PROXY matrix): which
 * variable wins, the NO_PROXY forms, loopback never proxied, CGI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"
#include "http.h"

/* The environment of one case: "NAME=value" strings, NULL-terminated. */
static const char *const *cur_env;

static const char *
env(const char *name)
{
	size_t n = strlen(name);

	for (const char *const *e = cur_env; *e != NULL; e++)
		if (strncmp(*e, name, n) == 0 && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

struct tcase {
	const char *env[6];
	const char *url;
	const char *want;	/* the proxy, or NULL: direct */
	int ret;
};

#define P "http://proxy:3128"

static const struct tcase cases[] = {
	/* Which variable, and its forms (Go's parseProxy). */
	{ { "HTTPS_PROXY=" P }, "https://a.example/", P, ERR_OK },
	{ { "https_proxy=" P }, "https://a.example/", P, ERR_OK },
	{ { "HTTPS_PROXY=" P, "https_proxy=http://lower:1" },
	    "https://a.example/", P, ERR_OK },
	{ { "HTTPS_PROXY=", "https_proxy=" P }, "https://a.example/", P,
	    ERR_OK },
	{ { "HTTP_PROXY=" P }, "https://a.example/", NULL, ERR_OK },
	{ { "ALL_PROXY=" P, "all_proxy=" P }, "https://a.example/", NULL,
	    ERR_OK },
	{ { "HTTP_PROXY=" P }, "http://a.example/", P, ERR_OK },
	{ { "http_proxy=" P }, "http://a.example/", P, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "http://a.example/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=proxy:3128" }, "https://a.example/", P, ERR_OK },
	{ { "HTTPS_PROXY=https://proxy" }, "https://a.example/",
	    "https://proxy", ERR_OK },
	{ { "HTTPS_PROXY=socks5://proxy:1080" }, "https://a.example/",
	    "socks5h://proxy:1080", ERR_OK },
	{ { "HTTPS_PROXY=ftp://proxy" }, "https://a.example/",
	    "http://ftp://proxy", ERR_OK },
	{ { "HTTPS_PROXY=http://u:p@proxy:3128" }, "https://a.example/",
	    "http://u:p@proxy:3128", ERR_OK },
	/* CGI: a client may set HTTP_PROXY; https is not affected. */
	{ { "HTTP_PROXY=" P, "REQUEST_METHOD=GET" }, "http://a.example/",
	    NULL, ERR_USAGE },
	{ { "REQUEST_METHOD=GET" }, "http://a.example/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "REQUEST_METHOD=GET" }, "https://a.example/",
	    P, ERR_OK },
	/* localhost and loopback addresses, whatever NO_PROXY says. */
	{ { "HTTPS_PROXY=" P }, "https://localhost/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://LOCALHOST:8443/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://127.0.0.1:9/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://127.1.2.3/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://[::1]:9/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://[::ffff:127.0.0.1]/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://localhost.localdomain/", P, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://a.localhost/", P, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://128.0.0.1/", P, ERR_OK },
	{ { "HTTPS_PROXY=" P }, "https://[::2]/", P, ERR_OK },
	/* NO_PROXY: the upper case wins; "*" anywhere; spaces, case. */
	{ { "HTTPS_PROXY=" P, "NO_PROXY=a.example" }, "https://a.example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "no_proxy=a.example" }, "https://a.example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=b.example", "no_proxy=a.example" },
	    "https://a.example/", P, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=b.example,*" }, "https://a.example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY= b.example , A.Example " },
	    "https://a.example/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=*.x" }, "https://a.example/", P,
	    ERR_OK },
	/* Domains: itself and subdomains; ".d" and "*.d" subdomains only. */
	{ { "HTTPS_PROXY=" P, "NO_PROXY=example" }, "https://a.example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=example" }, "https://example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=.example" }, "https://example/", P,
	    ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=.example" }, "https://b.a.example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=*.example" }, "https://example/", P,
	    ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=*.example" }, "https://a.example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=xample" }, "https://a.example/", P,
	    ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=a.example.com" },
	    "https://a.example/", P, ERR_OK },
	/* host:port: the port as written, or the scheme's. */
	{ { "HTTPS_PROXY=" P, "NO_PROXY=a.example:443" }, "https://a.example/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=a.example:8443" },
	    "https://a.example:8443/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=a.example:80" }, "https://a.example/",
	    P, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=:443" }, "https://a.example/", P,
	    ERR_OK },
	/* Addresses, with a port, and CIDR blocks; IPv4-mapped is IPv4. */
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.1.2.3" }, "https://10.1.2.3/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.1.2.3:443" }, "https://10.1.2.3/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.1.2.3:444" }, "https://10.1.2.3/",
	    P, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.0.0.0/8" }, "https://10.1.2.3/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.0.0.0/16" }, "https://10.1.2.3/",
	    P, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.0.0.0/8" }, "https://a.example/",
	    P, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.1.2.3" },
	    "https://[::ffff:10.1.2.3]/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=2001:db8::1" }, "https://[2001:db8::1]/",
	    NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=[2001:db8::1]:443" },
	    "https://[2001:db8::1]/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=2001:db8::/32" },
	    "https://[2001:db8:1::5]/", NULL, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=2001:db8::/48" },
	    "https://[2001:db8:1::5]/", P, ERR_OK },
	{ { "HTTPS_PROXY=" P, "NO_PROXY=10.0.0.0/8" }, "https://[::a01:203]/",
	    P, ERR_OK },
	/* Go matches an address against domain entries as a string too. */
	{ { "HTTPS_PROXY=" P, "NO_PROXY=2.3.4" }, "https://1.2.3.4/", NULL,
	    ERR_OK },
	{ { NULL }, "https://a.example/", NULL, ERR_OK },
};

static void
test_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct tcase *t = &cases[i];
		char *got = NULL;
		int ret;

		cur_env = t->env;
		err_clear();
		ret = http_proxy_for(t->url, env, &got);
		print_message("case %zu: %s %s%s%s -> %s\n", i, t->url,
		    t->env[0] ? t->env[0] : "", t->env[1] ? " " : "",
		    t->env[1] ? t->env[1] : "", got ? got : "(direct)");
		assert_int_equal(ret, t->ret);
		if (t->want == NULL)
			assert_null(got);
		else {
			assert_non_null(got);
			assert_string_equal(got, t->want);
		}
		free(got);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
