/* The server's proxyv2.c, compiled into the fuzz harness that needs it. */
#include "proxyv2.c"
