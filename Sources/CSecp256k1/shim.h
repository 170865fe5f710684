#ifndef CSECP256K1_SHIM_H
#define CSECP256K1_SHIM_H
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <secp256k1_extrakeys.h>

/* Flag macros built from other macros do not import into Swift; these carry their values. */
static inline unsigned int CSecp256k1_context_none(void) { return SECP256K1_CONTEXT_NONE; }
static inline unsigned int CSecp256k1_ec_compressed(void) { return SECP256K1_EC_COMPRESSED; }
static inline unsigned int CSecp256k1_ec_uncompressed(void) { return SECP256K1_EC_UNCOMPRESSED; }
#endif
