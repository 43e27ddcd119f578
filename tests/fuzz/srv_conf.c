/* The server's conf.c, compiled into the fuzz harnesses that need it. */
#include "conf.c"
