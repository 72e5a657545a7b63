/* par.h — OpenMP helpers that also compile without OpenMP. */
#ifndef TS_PAR_H
#define TS_PAR_H

#ifdef _OPENMP
#include <omp.h>
static inline int par_in_parallel(void) { return omp_in_parallel(); }
static inline int par_thread(void) { return omp_get_thread_num(); }
static inline int par_threads(void) { return omp_get_num_threads(); } /* in the current team */
static inline int par_max_threads(void) { return omp_get_max_threads(); }
#else
static inline int par_in_parallel(void) { return 1; }
static inline int par_thread(void) { return 0; }
static inline int par_threads(void) { return 1; }
static inline int par_max_threads(void) { return 1; }
#endif

#endif
