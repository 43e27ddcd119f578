/*
 * fuzz_keyd.c - the key daemon's protocol decoder (engine/keyd_proto.c),
 * the function hsmtls-keyd runs on every message a client sends.
 *
 * Beyond not crashing: every field has one valid encoding
 * (doc/keyd-protocol.md), so a message the decoder accepts must encode
 * back to exactly its own bytes, and decode again to the same fields.
 * The one exception is a HEALTH reply, whose tokens may carry fewer
 * counters than this version writes (later versions append, readers take
 * the ones they know): it must decode again to the same tokens.
 */
#include "config.h"

#include <string.h>

#include "fuzz.h"
#include "hk_keyd_proto.h"

static void
same_fields(const struct hk_keyd_msg *a, const struct hk_keyd_msg *b)
{
	if (a->version != b->version || a->type != b->type ||
	    a->id != b->id || a->key != b->key || a->length != b->length ||
	    a->urilen != b->urilen || a->spkilen != b->spkilen ||
	    a->keytype != b->keytype || a->caps != b->caps ||
	    a->bits != b->bits || a->mech != b->mech || a->hash != b->hash ||
	    a->saltlen != b->saltlen || a->datalen != b->datalen ||
	    a->status != b->status || a->textlen != b->textlen ||
	    a->healthlen != b->healthlen)
		fuzz_fail("a re-encoded message decodes to other fields");
}

static void
same_tokens(const struct hk_keyd_msg *m, const unsigned char *out, size_t n)
{
	struct hk_keyd_token t;
	struct hk_keyd_msg m2;
	size_t i, j;

	/* Fewer counters per token than this version writes can make a
	 * reply that is too big to write again: the encoder must refuse it
	 * (0), never write more than a message may hold. */
	if (n == 0)
		return;
	if (n > HK_KEYD_MAX_MSG)
		fuzz_fail("a %zu-byte HEALTH reply was encoded", n);
	memset(&m2, 0, sizeof(m2));
	if (hk_keyd_decode(out, n, &m2) != HK_KEYD_OK)
		fuzz_fail("a re-encoded HEALTH reply is refused");
	for (i = 0; i < m->ntokens; i++) {
		if (hk_keyd_health_token(&m2, i, &t) != 0)
			fuzz_fail("token %zu lost in a re-encoded HEALTH reply", i);
		if (t.labellen != m->tokens[i].labellen ||
		    memcmp(t.label, m->tokens[i].label, t.labellen) != 0 ||
		    t.up != m->tokens[i].up)
			fuzz_fail("token %zu changed in a re-encoded HEALTH reply",
			    i);
		for (j = 0; j < HK_KEYD_NCOUNTERS; j++)
			if (t.c[j] != m->tokens[i].c[j])
				fuzz_fail("counter %zu of token %zu changed", j, i);
	}
	if (hk_keyd_health_token(&m2, m->ntokens, &t) == 0)
		fuzz_fail("a re-encoded HEALTH reply gained a token");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hk_keyd_token toks[HK_KEYD_MAX_TOKENS];
	unsigned char out[HK_KEYD_MAX_MSG + 64];
	struct hk_keyd_msg m, m2;
	size_t n, i;

	memset(&m, 0, sizeof(m));
	if (hk_keyd_decode(data, size, &m) != HK_KEYD_OK)
		return 0;
	if (size > HK_KEYD_MAX_MSG)
		fuzz_fail("a %zu-byte message was accepted", size);
	/* A HEALTH reply decodes to raw entries: walk them for the encoder. */
	if (m.type == (HK_KEYD_HEALTH | HK_KEYD_REPLY)) {
		for (i = 0; i < HK_KEYD_MAX_TOKENS &&
		    hk_keyd_health_token(&m, i, &toks[i]) == 0; i++)
			;
		m.tokens = toks;
		m.ntokens = i;
	}
	n = hk_keyd_encode(out, sizeof(out), &m);
	if (m.type == (HK_KEYD_HEALTH | HK_KEYD_REPLY)) {
		same_tokens(&m, out, n);
		return 0;
	}
	if (n != size || memcmp(out, data, size) != 0)
		fuzz_fail("an accepted message (type 0x%02x, %zu bytes) does not "
		    "encode back to itself (%zu bytes)", m.type, size, n);
	memset(&m2, 0, sizeof(m2));
	if (hk_keyd_decode(out, n, &m2) != HK_KEYD_OK)
		fuzz_fail("a re-encoded message is refused");
	same_fields(&m, &m2);
	return 0;
}
