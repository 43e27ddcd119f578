/*
 * cfg.h - the command line of hsmtls-server: either -c FILE (a
 * configuration file, -t to check it) or the flags of a one-site server,
 * which become the same struct conf a file would give.
 *
 * (Named cfg.h, not config.h: "config.h" is autoconf's header, and a
 * same-named file in this directory would shadow it.)
 */
#ifndef SRV_CFG_H
#define SRV_CFG_H

#include "conf.h"

enum cfg_result {
	CFG_OK,
	CFG_EXIT_OK,    /* --help or --version printed; exit 0 */
	CFG_ERROR,      /* errors printed; exit 1 */
};

/* Parse argv into c (a configuration file is read and parsed too). */
enum cfg_result cfg_parse(struct conf *c, int argc, char **argv);

#endif /* SRV_CFG_H */
