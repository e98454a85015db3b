#ifndef CHAINSTORE_COPENSSL_SHIM_H
#define CHAINSTORE_COPENSSL_SHIM_H
// OpenSSL: HMAC-SHA256 for the peer handshake, RAND_bytes for nonces and ids, CRYPTO_memcmp for
// constant-time comparison (libcrypto); TLS contexts and the blocking TLS stream (libssl).
#include <openssl/hmac.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

// Macros Swift cannot call.
static inline long chainstore_tls_set_min_tls12(SSL_CTX *ctx) { return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION); }
static inline long chainstore_tls_set_sni(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
// libevent's OpenSSL bufferevents close without a close_notify; the blocking clients treat that
// as an end of stream (what follows is self-delimiting: RESP replies, HTTP with Content-Length).
static inline void chainstore_tls_allow_unexpected_eof(SSL *ssl) { SSL_set_options(ssl, SSL_OP_IGNORE_UNEXPECTED_EOF); }
#endif
