#ifndef IAM_GATEWAY_COPENSSL_SHIM_H
#define IAM_GATEWAY_COPENSSL_SHIM_H
// OpenSSL's libcrypto from Debian's libssl-dev: RSA signing through OpenSSL runs about twice as fast as the
// BoringSSL copy inside swift-crypto on CPUs with AVX-512 IFMA (see shared/TOOLCHAIN.md).
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#endif
