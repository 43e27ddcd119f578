/* The server's log.c, compiled into the fuzz harnesses that need it. */
#include "log.c"
