/*
 * index: the module's interface to the rest of the library, its tests and
 * its benchmark.  The public API is include/custos/index.h; this adds what
 * only tests and measurements need: the choice of kernel, the exact distance,
 * the raw kernels' integer distances, the checksum and the streaming floor.
 */
#ifndef CUSTOS_INDEX_MODULE_H
#define CUSTOS_INDEX_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "custos/index.h"
#include "util/util.h"

typedef enum custos__index_kernel {
  CUSTOS__INDEX_KERNEL_AUTO = 0,     /* AVX2 when the CPU has it, else portable */
  CUSTOS__INDEX_KERNEL_PORTABLE = 1, /* plain C */
  CUSTOS__INDEX_KERNEL_AVX2 = 2      /* AVX2 */
} custos__index_kernel;

/* Chooses the kernels every later search uses (a test hook; not thread-safe
 * against running searches).  Returns CUSTOS_EUNSUPPORTED for AVX2 on a CPU
 * without it. */
int custos__index_set_kernel(custos__index_kernel k);

/* The kernel AUTO resolves to, or the one set. */
custos__index_kernel custos__index_kernel_in_use(void);

/* The exact squared distance between two descriptors: double precision,
 * eight partial sums in a fixed order.  Every path uses this. */
double custos__index_exact_d2(const float *a, const float *b);

/* Integer code distances D of n coded templates from the probe codes q8
 * with pair weights w16 (IX_DIMS / 2 of them), with the kernel in use (for
 * tests: AVX2 and portable must agree). */
void custos__index_code_dist(const uint8_t *codes, size_t n, const uint8_t *q8, const int16_t *w16,
                             int32_t *out);
/* The same through the batch kernel (dot-product form): out[i * nq + j] for
 * template i and probe j. */
void custos__index_code_dist_batch(const uint8_t *codes, size_t n, const int16_t *w16,
                                   const uint8_t *q8, size_t nq, int32_t *out);

/* What one search did (for tests and the benchmark). */
typedef struct custos__index_trace {
  size_t passed;     /* templates that passed the code prefilter */
  size_t candidates; /* templates re-ranked with the exact distance */
  int threads;       /* threads used */
} custos__index_trace;

/* custos_index_search and _batch with a trace (summed over the batch). */
int custos__index_search_traced(custos_index *idx, const float *queries, size_t nq, size_t k,
                                const custos_index_search_opts *opts, custos_index_hit *hits,
                                size_t *n_hits, custos__index_trace *trace, custos_err *err);

/* The lower and upper bounds the fast search puts on the distance from
 * query to the live template of photo (CUSTOS_ENOENT: none). */
int custos__index_bounds(custos_index *idx, const float *query, int64_t photo, double *lb,
                         double *ub);

/* Reads every code byte of the gallery on `threads` threads (the memory-speed
 * floor of a fast search); *sink depends on every byte. */
int custos__index_stream(custos_index *idx, int threads, uint64_t *sink, custos_err *err);

/* XXH64 of p[0..n) (the snapshot checksum). */
uint64_t custos__index_xxh64(const void *p, size_t n, uint64_t seed);

/* Streaming XXH64. */
typedef struct custos__xxh64 {
  uint64_t v[4];         /* lane accumulators */
  uint64_t total;        /* bytes fed */
  unsigned char buf[32]; /* bytes not yet folded into the lanes */
  size_t nbuf;           /* bytes in buf */
  uint64_t seed;         /* the seed */
} custos__xxh64;
void custos__xxh64_init(custos__xxh64 *s, uint64_t seed);
void custos__xxh64_update(custos__xxh64 *s, const void *p, size_t n);
uint64_t custos__xxh64_digest(const custos__xxh64 *s);

#endif
