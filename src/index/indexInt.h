/*
 * Private structures of the index module, shared by its files:
 *   gallery.c   versions, segments, the photo map, quantisation, add/remove
 *   search.c    single and batch searches, threads, bounds, exact re-rank
 *   kernel.c    the scan kernels (AVX2 and portable C) and the exact distance
 *   snapshot.c  snapshot files and their checksum
 *
 * Layout.  Templates live in slots numbered from 0; slot s is entry s & 16383
 * of segment s >> 14.  A segment keeps its fields in separate arrays so that
 * a scan streams only what it needs (the 128 code bytes and the one bound
 * byte of each template):
 *
 *   array    bytes per slot  meaning
 *   codes    128             7-bit code of each dimension (0..127), in pair order
 *   ebyte    1               bound on the coding error, in e_unit; 255: look it up
 *   vec      512             the descriptor (128 floats), for exact distances
 *   holder   8               holder id
 *   photo    8               photo id
 *   state    1               0 unused, 1 live, 2 removed (atomic)
 *
 * A version is one such gallery with one quantisation.  Slots are only
 * appended (their data written before the slot count is published with a
 * release store) and removed by setting their state; a version is replaced
 * as a whole by compaction.  Searches hold a reference to the version they
 * scan, so it lives until the last of them ends.
 */
#ifndef CUSTOS_INDEX_INT_H
#define CUSTOS_INDEX_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "index/index.h"

#define IX_DIMS CUSTOS_INDEX_DIMS
#define IX_SEG_SHIFT 14
#define IX_SEG_SIZE ((size_t)1 << IX_SEG_SHIFT)
#define IX_SEG_MASK (IX_SEG_SIZE - 1)
#define IX_EBYTE_LOOKUP 255     /* ebyte sentinel: the bound is recomputed from the data */
#define IX_EBYTE_PER_NOMINAL 64 /* e_unit = nominal error bound / 64 */
#define IX_PAIRS (IX_DIMS / 2)
#define IX_CODE_MAX 127     /* codes are 7-bit: differences fit a signed byte */
#define IX_WEIGHT_MAX 127   /* keeps every integer sum of the kernels far inside int32 */
#define IX_RECORD_BYTES 528 /* snapshot record: holder, photo, 128 floats */

enum { IX_UNUSED = 0, IX_LIVE = 1, IX_REMOVED = 2 };

/*
 * Per-dimension affine quantisation to 7-bit codes.  Dimension d is coded as
 * c = round((x - offset[d]) / scale[d]) clamped to 0..IX_CODE_MAX and stands
 * for offset[d] + scale[d] * c.  Code bytes are stored in pair order: bytes
 * 2p and 2p+1 hold dimensions perm[2p] and perm[2p+1], two dimensions of
 * similar spread that share one scale, unit * sqrt(weight[p]) with an integer
 * weight.  So the squared distance between two coded points is exactly
 * unit^2 * sum_p weight[p] * (squared code differences of pair p): an integer
 * sum times one constant.
 */
typedef struct ix_quant {
  uint8_t perm[IX_DIMS];    /* code byte i holds dimension perm[i] */
  double offset[IX_DIMS];   /* by dimension: value of code 0 */
  double scale[IX_DIMS];    /* by dimension: value step of one code (equal within a pair) */
  float inv_scale[IX_DIMS]; /* by dimension: 1 / scale, for coding only */
  int16_t weight[IX_PAIRS]; /* by pair: 1..IX_WEIGHT_MAX */
  double unit;              /* the common factor of the scales (distance units) */
  double e_unit;            /* distance one step of ebyte stands for */
} ix_quant;

typedef struct ix_segment {
  uint8_t *codes;      /* IX_SEG_SIZE * IX_DIMS */
  uint8_t *ebyte;      /* IX_SEG_SIZE */
  float *vec;          /* IX_SEG_SIZE * IX_DIMS */
  int64_t *holder;     /* IX_SEG_SIZE */
  int64_t *photo;      /* IX_SEG_SIZE */
  atomic_uchar *state; /* IX_SEG_SIZE; IX_UNUSED, IX_LIVE or IX_REMOVED */
  void *codes_raw;     /* the allocation codes lies in (2 MiB-aligned inside it) */
} ix_segment;

/* Open-addressing map photo -> slot (linear probing).  Each entry holds the
 * slot in its low 32 bits and the high 32 bits of the photo's hash above;
 * UINT64_MAX is empty.  Only writers use it. */
typedef struct ix_map {
  uint64_t *e; /* cap entries */
  size_t cap;  /* power of two; 0 before the first insert */
  size_t n;    /* entries used */
} ix_map;

typedef struct ix_version {
  ix_quant q;
  ix_segment **dir;       /* dir_cap segment pointers; NULL until allocated */
  size_t dir_cap;         /* segments the directory has room for */
  size_t nseg;            /* segments allocated (writers only) */
  atomic_size_t count;    /* slots published; release-stored after their data */
  atomic_size_t live;     /* live templates */
  atomic_size_t removed;  /* removed slots */
  atomic_size_t outliers; /* live slots with ebyte IX_EBYTE_LOOKUP */
  ix_map map;             /* photo -> slot */
  size_t refs;            /* references; guarded by custos_index.vlock */
} ix_version;

struct custos_index {
  pthread_mutex_t wlock; /* writers take turns: add, remove, compact, save */
  pthread_mutex_t vlock; /* guards cur and every version's refs */
  ix_version *cur;       /* the version new searches use */
  size_t max_templates;  /* most live templates */
};

static inline ix_segment *ix_seg(const ix_version *v, size_t slot) {
  return v->dir[slot >> IX_SEG_SHIFT];
}

/* gallery.c */
ix_version *custos__index_acquire(custos_index *idx);
void custos__index_release(custos_index *idx, ix_version *v);
/* Upper bound on the distance between a slot's descriptor and what its code
 * stands for (the slot's ebyte, or recomputed when it is IX_EBYTE_LOOKUP). */
double custos__index_slot_error(const ix_version *v, size_t slot);
/* Codes x (clamped) into code[]; returns an upper bound on ||x - decoded||. */
double custos__index_encode(const ix_quant *q, const float *x, uint8_t *code);

/* kernel.c: the kernels.  thr and eunit are in code units (see search.c):
 * template i passes when D_i <= (thr + ebyte_i * eunit)^2 or ebyte_i is
 * IX_EBYTE_LOOKUP, where D_i = sum_p w_p * (squared code differences of
 * pair p). */
typedef struct ix_pass {
  uint32_t i; /* template, 0..n */
  uint32_t q; /* probe in the batch (batch kernel only) */
  int32_t d;  /* D */
} ix_pass;

/* One probe with codes q8 and pair weights w16: writes the passing templates
 * to out (room for n) and returns their number. */
size_t custos__index_scan1(const uint8_t *codes, const uint8_t *ebyte, size_t n, const uint8_t *q8,
                           const int16_t *w16, float thr, float eunit, ix_pass *out);
/* nq probes (at most IX_BATCH): q8 holds their codes (nq * IX_DIMS), qn
 * their custos__index_code_norm, thr their thresholds; all three padded to a
 * multiple of four probes.  out has room for n * nq. */
#define IX_BATCH 64
size_t custos__index_scanb(const uint8_t *codes, const uint8_t *ebyte, size_t n, const int16_t *w16,
                           const uint8_t *q8, const int32_t *qn, const float *thr, size_t nq,
                           float eunit, ix_pass *out);
/* sum_p w_p (q_2p^2 + q_2p+1^2): D against the all-zero code. */
int32_t custos__index_code_norm(const uint8_t *q8, const int16_t *w16);
/* Plain read of n bytes (the streaming floor); returns a value that depends
 * on every byte. */
uint64_t custos__index_stream_bytes(const uint8_t *p, size_t n);
/* Exact squared distances from q to n descriptors x (n * IX_DIMS floats). */
void custos__index_exact_many(const float *q, const float *x, size_t n, double *out);

#endif
