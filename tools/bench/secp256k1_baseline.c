/* The system libsecp256k1 driven from C, the floor any wrapper of it can reach: recoverable signing and
 * public-key recovery over 1,024 digests, printed as JSON lines for `openledger bench crypto --reference`. */
#include <secp256k1.h>
#include <secp256k1_recovery.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void) {
    secp256k1_context *context = secp256k1_context_create(SECP256K1_CONTEXT_NONE);
    unsigned char seed[32] = {7}, key[32], digests[1024][32];
    if (!secp256k1_context_randomize(context, seed)) return 1;
    memset(key, 3, sizeof key);
    for (int i = 0; i < 1024; i++) {
        memset(digests[i], i & 0xff, 32);
        digests[i][0] = (unsigned char)(i >> 8);
    }
    static secp256k1_ecdsa_recoverable_signature signatures[1024];
    long count = 0;
    double start = now(), elapsed;
    do {
        if (!secp256k1_ecdsa_sign_recoverable(context, &signatures[count & 1023], digests[count & 1023], key, NULL, NULL))
            return 1;
        count++;
    } while ((elapsed = now() - start) < 1.0);
    printf("{\"bench\":\"secp256k1_sign\",\"impl\":\"libsecp256k1-c\",\"ops_s\":%.1f}\n", count / elapsed);
    secp256k1_pubkey key_out;
    long sink = 0;
    count = 0;
    start = now();
    do {
        sink += secp256k1_ecdsa_recover(context, &key_out, &signatures[count & 1023], digests[count & 1023]);
        count++;
    } while ((elapsed = now() - start) < 1.0);
    printf("{\"bench\":\"secp256k1_recover\",\"impl\":\"libsecp256k1-c\",\"ops_s\":%.1f}\n", count / elapsed);
    secp256k1_context_destroy(context);
    return sink == count ? 0 : 1;
}
