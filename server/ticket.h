/*
 * ticket.h - session ticket keys: TLS 1.3 PSK tickets and TLS 1.2
 * session tickets, so a returning client resumes without a token call.
 *
 * Keys are made in memory and rotated (the previous key is still
 * accepted, and a ticket under it is replaced by a fresh one), or read
 * from a ticket-key-file shared by several instances: one key per line,
 * 160 hex digits = 16-byte name, 32-byte AES-256 key, 32-byte HMAC-SHA256
 * key; the first line issues tickets, every line is accepted.
 */
#ifndef SRV_TICKET_H
#define SRV_TICKET_H

#include <stdbool.h>
#include <openssl/ssl.h>

#include "conf.h"

struct tickets;

/* From the configuration; NULL with errors in err (FILE:LINE form). */
struct tickets *tickets_new(const struct conf *c, struct conf_errors *err);

/*
 * A reload: take the new configuration's settings and re-read the key
 * file.  On error the keys in use stay and err says why.  0 / -1.
 */
int tickets_reload(struct tickets *t, const struct conf *c,
    struct conf_errors *err);

/* Use these keys for tickets issued and accepted by ctx. */
int tickets_attach(struct tickets *t, SSL_CTX *ctx);

/* Counters for /metrics. */
struct ticket_stats {
	unsigned long long issued, resumed_ok, unknown_key, rotations;
	unsigned keys;
	bool from_file;
};
void tickets_stats(struct tickets *t, struct ticket_stats *st);

void tickets_free(struct tickets *t);

#endif /* SRV_TICKET_H */
