#ifndef CATTRIBUTION_KERNELS_H
#define CATTRIBUTION_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/// XXH64 (Yann Collet's 64-bit xxHash) of `length` bytes with `seed`: the attribution index checksum.
uint64_t ola_xxh64(const void *data, size_t length, uint64_t seed);

/// The largest of `count` values (0 when there are none).
uint32_t ola_max_u32(const uint32_t *values, size_t count);

/// A shard's suffix-array index as the searches see it. `text` holds `text_length` bytes — every record followed
/// by the separator 0xFF, which no record contains — and at least 8 readable bytes after them. `suffixes` holds
/// the `suffix_count` starting positions of the suffixes that do not start with the separator, in sorted order.
/// `pairs` holds 65,537 cumulative counts: pairs[p] suffixes start with two bytes below p (b0 · 256 + b1).
typedef struct {
    const uint8_t *text;
    uint64_t text_length;
    const uint32_t *suffixes;
    uint64_t suffix_count;
    const uint32_t *pairs;
} ola_index;

/// Fills `pairs` (65,537 entries) from the text alone: counts of two-byte prefixes, then their running sums.
void ola_pair_table(const uint8_t *text, uint64_t text_length, uint32_t *pairs);

/// Matching statistics for positions [from, to) of `pattern`: lengths[i] = the length of the longest prefix of
/// pattern[i..) that occurs in the text without crossing a separator (a 0xFF byte of the pattern never matches).
/// Many positions are searched at once so that their cache misses overlap.
void ola_matching_statistics(const ola_index *index, const uint8_t *pattern, size_t pattern_length, size_t from,
                             size_t to, uint32_t *lengths);

/// The suffix-array interval [*lower, *upper) of the suffixes that start with pattern[0..length).
void ola_interval(const ola_index *index, const uint8_t *pattern, size_t length, uint64_t *lower, uint64_t *upper);

#endif
