/*
 * p11_flags.so: a PKCS#11 module that stands in front of a real one (SoftHSM)
 * and adds token flags that SoftHSM never sets, such as
 * CKF_USER_PIN_FINAL_TRY and CKF_USER_PIN_LOCKED, so that the lockout rule
 * can be tested against a real token loaded through p11-kit like any
 * module. Every other call goes to the real module unchanged.
 *
 *   P11_FLAGS_MODULE  the real module (required)
 *   P11_FLAGS_FILE    a file holding the flags to add, as a number (0x...),
 *                     read at every C_GetTokenInfo; no file adds nothing
 *   P11_FLAGS_LOG     a file that gets one line per C_Login: "C_Login
 *                     user=N len=N" (never the PIN)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST real_copy, ours;
static CK_FUNCTION_LIST_PTR real;

static CK_FLAGS
added_flags(void)
{
	const char *path = getenv("P11_FLAGS_FILE");
	unsigned long v = 0;
	FILE *f;

	if (path == NULL || (f = fopen(path, "r")) == NULL)
		return 0;
	if (fscanf(f, "%li", (long *)&v) != 1)
		v = 0;
	fclose(f);
	return (CK_FLAGS)v;
}

static CK_RV
shim_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
	CK_RV rv = real->C_GetTokenInfo(slot, info);

	if (rv == CKR_OK)
		info->flags |= added_flags();
	return rv;
}

static CK_RV
shim_Login(CK_SESSION_HANDLE s, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
    CK_ULONG len)
{
	const char *path = getenv("P11_FLAGS_LOG");
	FILE *f;

	if (path != NULL && (f = fopen(path, "a")) != NULL) {
		fprintf(f, "C_Login user=%lu len=%lu\n", (unsigned long)user,
		    (unsigned long)len);
		fclose(f);
	}
	return real->C_Login(s, user, pin, len);
}

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	const char *path = getenv("P11_FLAGS_MODULE");
	void *h;
	CK_RV rv;

	if (real == NULL) {
		if (path == NULL || (h = dlopen(path, RTLD_NOW)) == NULL ||
		    (get = (CK_RV (*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(h,
		    "C_GetFunctionList")) == NULL)
			return CKR_GENERAL_ERROR;
		if ((rv = get(&real)) != CKR_OK)
			return rv;
		real_copy = *real;
		ours = real_copy;
		ours.C_GetFunctionList = C_GetFunctionList;
		ours.C_GetTokenInfo = shim_GetTokenInfo;
		ours.C_Login = shim_Login;
	}
	*out = &ours;
	return CKR_OK;
}
