#ifndef COPENSSL_SHIM_H
#define COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/err.h>
#include <openssl/bn.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/core_names.h>
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
#include <openssl/sha.h>

/// SHA-256 through OpenSSL's own block function (SHA-NI where the CPU has it). The SHA256_CTX calls are
/// deprecated in OpenSSL 3 in favour of EVP, whose context lives on the heap; this one is a plain value, so a
/// hasher can be copied and needs no cleanup.
static inline void COpenSSL_sha256_init(SHA256_CTX *context) { SHA256_Init(context); }
static inline void COpenSSL_sha256_update(SHA256_CTX *context, const void *data, size_t count) {
    SHA256_Update(context, data, count);
}
static inline void COpenSSL_sha256_final(SHA256_CTX *context, unsigned char *digest) { SHA256_Final(digest, context); }
#pragma GCC diagnostic pop

// Wrappers for what Swift cannot call: OpenSSL's const pointer-to-pointer DER parsers and the AEAD control macros.

/// d2i_PUBKEY over a buffer: a SubjectPublicKeyInfo (PKIX) key, or NULL; *consumed gets the bytes read.
static inline EVP_PKEY *COpenSSL_parse_public_key(const unsigned char *der, long length, long *consumed) {
    const unsigned char *cursor = der;
    EVP_PKEY *key = d2i_PUBKEY(NULL, &cursor, length);
    *consumed = key ? (long)(cursor - der) : 0;
    return key;
}

/// d2i_PrivateKey of the type-specific form (PKCS#1 RSAPrivateKey, SEC1 ECPrivateKey), or NULL.
static inline EVP_PKEY *COpenSSL_parse_private_key(int type, const unsigned char *der, long length, long *consumed) {
    const unsigned char *cursor = der;
    EVP_PKEY *key = d2i_PrivateKey(type, NULL, &cursor, length);
    *consumed = key ? (long)(cursor - der) : 0;
    return key;
}

/// The DER length of the PKIX public key, or a negative value.
static inline int COpenSSL_public_key_der(const EVP_PKEY *key, unsigned char *out) {
    unsigned char *cursor = out;
    return i2d_PUBKEY(key, out ? &cursor : NULL);
}

/// The DER length of the type-specific private key, or a negative value.
static inline int COpenSSL_private_key_der(const EVP_PKEY *key, unsigned char *out) {
    unsigned char *cursor = out;
    return i2d_PrivateKey(key, out ? &cursor : NULL);
}

static inline int COpenSSL_key_type_rsa(void) { return EVP_PKEY_RSA; }
static inline int COpenSSL_key_type_ec(void) { return EVP_PKEY_EC; }

/// Sets the expected Poly1305 tag before EVP_DecryptFinal_ex.
static inline int COpenSSL_aead_set_tag(EVP_CIPHER_CTX *context, unsigned char *tag, int length) {
    return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_SET_TAG, length, tag);
}

/// Reads the Poly1305 tag after EVP_EncryptFinal_ex.
static inline int COpenSSL_aead_get_tag(EVP_CIPHER_CTX *context, unsigned char *tag, int length) {
    return EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_AEAD_GET_TAG, length, tag);
}

#endif
