#ifndef CHAINSTORE_COPENSSL_SHIM_H
#define CHAINSTORE_COPENSSL_SHIM_H
// OpenSSL's libcrypto: HMAC-SHA256 for the peer handshake, RAND_bytes for nonces and ids,
// CRYPTO_memcmp for constant-time comparison.
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#endif
