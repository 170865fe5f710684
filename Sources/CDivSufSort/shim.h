#ifndef CDIVSUFSORT_SHIM_H
#define CDIVSUFSORT_SHIM_H
#include <divsufsort.h>
#endif
