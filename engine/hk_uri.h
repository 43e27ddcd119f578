#ifndef HK_URI_H
#define HK_URI_H
#include <p11-kit/pkcs11.h>
#include <p11-kit/uri.h>
P11KitUri *hk_uri_parse(const char *s, char *err, size_t errlen);
long hk_uri_class(P11KitUri *uri);
#endif
