/* libdivsufsort's suffix-array construction on a file's bytes, the reference for `openledger bench attribution`.
 * Prints one JSON line: {"bench":"attribution_index_build","impl":"libdivsufsort","mb_s":…}. */
#include <divsufsort.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s FILE\n", argv[0]); return 2; }
    FILE *file = fopen(argv[1], "rb");
    if (!file) { perror(argv[1]); return 1; }
    fseek(file, 0, SEEK_END);
    long size = ftell(file);
    fseek(file, 0, SEEK_SET);
    unsigned char *text = malloc(size);
    saidx_t *suffixes = malloc(sizeof(saidx_t) * size);
    if (!text || !suffixes || fread(text, 1, size, file) != (size_t)size) { fprintf(stderr, "read failed\n"); return 1; }
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    if (divsufsort(text, suffixes, size) != 0) { fprintf(stderr, "divsufsort failed\n"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
    printf("{\"bench\":\"attribution_index_build\",\"impl\":\"libdivsufsort\",\"mb_s\":%.1f}\n", size / 1e6 / seconds);
    return 0;
}
