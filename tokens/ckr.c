/*
 * ckr.c - CKR_* names for error messages ("C_Login: CKR_PIN_INCORRECT"),
 * which name the cause better than p11-kit's prose strings.  The table is
 * the engine's (engine/ckr.c).
 */
#include "config.h"

#include "hk_ckr.h"
#include "tok.h"

/* The CKR_* name, or "CKR_0x..." for a code not in the table. */
const char *
tok_ckr_name(CK_RV rv)
{
	static char unknown[32];

	return hk_ckr_name(rv, unknown, sizeof(unknown));
}
