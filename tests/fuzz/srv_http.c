/* The server's http.c, compiled into the fuzz harnesses that need it. */
#include "http.c"
