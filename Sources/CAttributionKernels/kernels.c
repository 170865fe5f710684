#include "CAttributionKernels.h"

#include <string.h>

// MARK: XXH64

static const uint64_t P1 = 11400714785074694791ULL, P2 = 14029467366897019727ULL, P3 = 1609587929392839161ULL,
                      P4 = 9650029242287828579ULL, P5 = 2870177450012600261ULL;

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t read64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }  // little-endian hosts
static inline uint32_t read32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static inline uint64_t xxh_round(uint64_t acc, uint64_t input) { return rotl64(acc + input * P2, 31) * P1; }
static inline uint64_t xxh_merge(uint64_t acc, uint64_t value) { return (acc ^ xxh_round(0, value)) * P1 + P4; }

uint64_t ola_xxh64(const void *data, size_t length, uint64_t seed) {
    const uint8_t *p = data, *end = p + length;
    uint64_t h;
    if (length >= 32) {
        uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
        const uint8_t *limit = end - 32;
        do {
            v1 = xxh_round(v1, read64(p));
            v2 = xxh_round(v2, read64(p + 8));
            v3 = xxh_round(v3, read64(p + 16));
            v4 = xxh_round(v4, read64(p + 24));
            p += 32;
        } while (p <= limit);
        h = rotl64(v1, 1) + rotl64(v2, 7) + rotl64(v3, 12) + rotl64(v4, 18);
        h = xxh_merge(h, v1);
        h = xxh_merge(h, v2);
        h = xxh_merge(h, v3);
        h = xxh_merge(h, v4);
    } else {
        h = seed + P5;
    }
    h += (uint64_t)length;
    for (; p + 8 <= end; p += 8) h = rotl64(h ^ xxh_round(0, read64(p)), 27) * P1 + P4;
    if (p + 4 <= end) {
        h = rotl64(h ^ ((uint64_t)read32(p) * P1), 23) * P2 + P3;
        p += 4;
    }
    for (; p < end; p++) h = rotl64(h ^ (*p * P5), 11) * P1;
    h ^= h >> 33;
    h *= P2;
    h ^= h >> 29;
    h *= P3;
    h ^= h >> 32;
    return h;
}

uint32_t ola_max_u32(const uint32_t *values, size_t count) {
    uint32_t lanes[16] = {0};
    size_t i = 0;
    for (; i + 16 <= count; i += 16)
        for (int lane = 0; lane < 16; lane++) lanes[lane] = values[i + lane] > lanes[lane] ? values[i + lane] : lanes[lane];
    uint32_t best = 0;
    for (int lane = 0; lane < 16; lane++) best = lanes[lane] > best ? lanes[lane] : best;
    for (; i < count; i++) best = values[i] > best ? values[i] : best;
    return best;
}

// MARK: Searches

void ola_pair_table(const uint8_t *text, uint64_t text_length, uint32_t *pairs) {
    memset(pairs, 0, 65537 * sizeof(uint32_t));
    uint32_t *counts = pairs + 1;
    for (uint64_t p = 0; p + 1 < text_length; p++)
        if (text[p] != 0xFF) counts[(unsigned)text[p] << 8 | text[p + 1]]++;
    for (int pair = 1; pair <= 65536; pair++) pairs[pair] += pairs[pair - 1];
}

/// Compares the suffix at `suffix` with pattern[0..length) from offset `from`, both known equal before it. Returns
/// the first offset where they differ (length when the suffix starts with the pattern) and sets *less when the
/// suffix sorts below the pattern there. The pattern holds no 0xFF, so a difference comes at the latest at the
/// suffix's separator, and 8-byte loads of the text stay within its padding.
static inline size_t compare(const uint8_t *suffix, const uint8_t *pattern, size_t from, size_t length, int *less) {
    size_t k = from;
    while (k + 8 <= length) {
        uint64_t x = read64(suffix + k) ^ read64(pattern + k);
        if (x) {
            k += (size_t)__builtin_ctzll(x) >> 3;
            *less = suffix[k] < pattern[k];
            return k;
        }
        k += 8;
    }
    for (; k < length; k++)
        if (suffix[k] != pattern[k]) {
            *less = suffix[k] < pattern[k];
            return k;
        }
    *less = 0;
    return length;
}

enum { GROUP = 16 };

typedef struct {
    const uint8_t *pattern;  // the position's segment: no 0xFF within [0, length)
    size_t position, length;
    uint64_t lower, upper, first, last;  // live bounds; the pair interval [first, last)
    size_t lower_common, upper_common;
    uint64_t middle;
} search;

/// Starts the search for position i, or answers it at once; returns 1 when a search is left to run.
static int begin(const ola_index *index, search *s, const uint8_t *pattern, size_t i, size_t limit,
                 uint32_t *lengths) {
    const uint8_t *p = pattern + i;
    size_t m = limit - i;
    if (m == 0) { lengths[i] = 0; return 0; }
    unsigned b0 = p[0];
    int has_first = index->pairs[(b0 + 1) << 8] > index->pairs[b0 << 8];
    if (m == 1) { lengths[i] = has_first; return 0; }
    unsigned pair = b0 << 8 | p[1];
    uint64_t first = index->pairs[pair], last = index->pairs[pair + 1];
    if (first == last) { lengths[i] = has_first; return 0; }
    if (m == 2) { lengths[i] = 2; return 0; }
    s->pattern = p;
    s->position = i;
    s->length = m;
    s->lower = s->first = first;
    s->upper = s->last = last;
    s->lower_common = s->upper_common = 2;
    return 1;
}

void ola_matching_statistics(const ola_index *index, const uint8_t *pattern, size_t pattern_length, size_t from,
                             size_t to, uint32_t *lengths) {
    search slots[GROUP];
    int live = 0;
    size_t next = from;
    size_t separator = from;  // the first 0xFF at or after `next` (or pattern_length)
    const uint8_t *found = memchr(pattern + from, 0xFF, pattern_length - from);
    separator = found ? (size_t)(found - pattern) : pattern_length;
    for (;;) {
        // Refill the group with positions still to search.
        while (live < GROUP && next < to) {
            if (next > separator) {
                found = memchr(pattern + next, 0xFF, pattern_length - next);
                separator = found ? (size_t)(found - pattern) : pattern_length;
            }
            if (begin(index, &slots[live], pattern, next, separator, lengths)) live++;
            next++;
        }
        if (live == 0) return;
        // One probe for every live search: fetch the suffix ranks, then their text, then compare.
        for (int g = 0; g < live; g++) {
            search *s = &slots[g];
            s->middle = (s->lower + s->upper) >> 1;
            __builtin_prefetch(index->suffixes + s->middle);
        }
        for (int g = 0; g < live; g++) {
            search *s = &slots[g];
            size_t skip = s->lower_common < s->upper_common ? s->lower_common : s->upper_common;
            __builtin_prefetch(index->text + index->suffixes[s->middle] + skip);
        }
        for (int g = 0; g < live;) {
            search *s = &slots[g];
            size_t skip = s->lower_common < s->upper_common ? s->lower_common : s->upper_common;
            int less;
            size_t common = compare(index->text + index->suffixes[s->middle], s->pattern, skip, s->length, &less);
            int done = 0;
            if (common == s->length) {
                lengths[s->position] = (uint32_t)common;  // the whole segment occurs: nothing longer exists
                done = 1;
            } else {
                if (less) {
                    s->lower = s->middle + 1;
                    s->lower_common = common;
                } else {
                    s->upper = s->middle;
                    s->upper_common = common;
                }
                if (s->lower >= s->upper) {
                    // The pattern sorts between ranks lower - 1 and lower; the longest match is with one of them,
                    // and both were the last probes on their side when they lie inside the pair interval.
                    size_t best = 0;
                    if (s->lower > s->first) best = s->lower_common;
                    if (s->lower < s->last && s->upper_common > best) best = s->upper_common;
                    lengths[s->position] = (uint32_t)best;
                    done = 1;
                }
            }
            if (done) slots[g] = slots[--live];
            else g++;
        }
    }
}

void ola_interval(const ola_index *index, const uint8_t *pattern, size_t length, uint64_t *lower, uint64_t *upper) {
    uint64_t low, high;
    if (length == 0) {
        *lower = 0;
        *upper = index->suffix_count;
        return;
    }
    if (length == 1) {
        *lower = index->pairs[(unsigned)pattern[0] << 8];
        *upper = pattern[0] == 0xFF ? index->pairs[65536] : index->pairs[((unsigned)pattern[0] + 1) << 8];
        return;
    }
    if (memchr(pattern, 0xFF, length)) {
        *lower = *upper = 0;
        return;
    }
    unsigned pair = (unsigned)pattern[0] << 8 | pattern[1];
    uint64_t first = index->pairs[pair], last = index->pairs[pair + 1];
    // Lower bound: the first rank whose suffix is not below the pattern.
    low = first;
    high = last;
    size_t low_common = 2, high_common = 2;
    while (low < high) {
        uint64_t middle = (low + high) >> 1;
        size_t skip = low_common < high_common ? low_common : high_common;
        int less;
        size_t common = compare(index->text + index->suffixes[middle], pattern, skip, length, &less);
        if (less) { low = middle + 1; low_common = common; }
        else { high = middle; high_common = common; }
    }
    *lower = low;
    // Upper bound: the first rank whose suffix neither starts with the pattern nor sorts below it.
    high = last;
    low_common = high_common = 2;
    while (low < high) {
        uint64_t middle = (low + high) >> 1;
        size_t skip = low_common < high_common ? low_common : high_common;
        int less;
        size_t common = compare(index->text + index->suffixes[middle], pattern, skip, length, &less);
        if (less || common == length) { low = middle + 1; low_common = common; }
        else { high = middle; high_common = common; }
    }
    *upper = low;
}
