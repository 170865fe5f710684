#ifndef CSIMULATORKERNELS_H
#define CSIMULATORKERNELS_H

/* A hint that the cache line holding `address` will be read soon (no fault, no effect on results). */
static inline void CSimulatorKernels_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
