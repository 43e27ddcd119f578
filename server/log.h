/*
 * log.h - one-line messages on stderr.
 *
 * Errors carry the program name ("hsmtls-server: <cause>") so a start-up
 * failure is exactly one self-explaining line; informational lines such as
 * "listening on 127.0.0.1:8443" are printed bare because scripts parse them.
 */
#ifndef SRV_LOG_H
#define SRV_LOG_H

#define LOG_PROGNAME "hsmtls-server"

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* SRV_LOG_H */
