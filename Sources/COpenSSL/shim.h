#ifndef CONCORD_COPENSSL_SHIM_H
#define CONCORD_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/crypto.h>
#endif
