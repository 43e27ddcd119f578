#ifndef HK_URI_H
#define HK_URI_H
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
P11KitUri *hk_uri_parse(const char *s, char *err, size_t errlen);
long hk_uri_class(P11KitUri *uri);
/* pkcs11:token=T;object=O;id=%XX..;type=TYPE (object, id, type may be
 * NULL/empty); 0, or -1 when it does not fit in size. */
int hk_uri_format(char *buf, size_t size, const char *token,
    const char *object, const unsigned char *id, size_t id_len,
    const char *type);
#endif
