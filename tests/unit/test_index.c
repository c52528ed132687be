/*
 * Unit tests of src/index: the fast search (7-bit codes + exact re-rank)
 * against the exact search and against a brute-force reference, on random,
 * tie-heavy, out-of-range and real descriptors, with both kernels and one or
 * two threads; the kernels against each other; edge cases (empty gallery,
 * k = 0, k above the gallery, bad queries, limits); adds and removes while
 * searches run; compaction; snapshots, corrupt, truncated and stale ones
 * included; allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custos/custos.h"
#include "index/index.h"
#include "index/indexInt.h"
#include "util/util.h"

#define DIMS CUSTOS_INDEX_DIMS

/* ---- helpers -------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double rng_unit(uint64_t *s) {
  return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

static double rng_normal(uint64_t *s) {
  double u = rng_unit(s), v = rng_unit(s);
  if (u < 1e-300) u = 1e-300;
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* Per-dimension statistics like face-api descriptors: means within +-0.3,
 * standard deviations 0.03..0.07 (the demo photos: -0.33..0.38, 0.026..0.069). */
static float g_mean[DIMS], g_sd[DIMS];

static void stats_init(void) {
  uint64_t s = 12345;
  for (int d = 0; d < DIMS; d++) {
    g_mean[d] = (float)(rng_unit(&s) * 0.6 - 0.3);
    g_sd[d] = (float)(0.03 + rng_unit(&s) * 0.04);
  }
}

static void face_like(uint64_t *s, float *out) {
  for (int d = 0; d < DIMS; d++) out[d] = (float)(g_mean[d] + g_sd[d] * rng_normal(s));
}

/* x plus noise of `spread` per dimension. */
static void near(uint64_t *s, const float *x, double spread, float *out) {
  for (int d = 0; d < DIMS; d++) out[d] = (float)(x[d] + spread * rng_normal(s));
}

/* A gallery of n templates: holder i / per (1..per templates each when per
 * is negative: random), photo = base + i; templates of a holder are near
 * each other. */
static custos_index_template *gallery_make(size_t n, int per, uint64_t seed, int64_t base) {
  custos_index_template *t = calloc(n, sizeof *t);
  uint64_t s = seed;
  int64_t holder = base;
  float centre[DIMS];
  int left = 0;
  for (size_t i = 0; i < n; i++) {
    if (left == 0) {
      holder++;
      face_like(&s, centre);
      left = per > 0 ? per : 1 + (int)(rng_next(&s) % 3);
    }
    t[i].holder = holder;
    t[i].photo = base + (int64_t)i;
    near(&s, centre, 0.02, t[i].descriptor);
    left--;
  }
  return t;
}

static custos_index *index_of(const custos_index_template *t, size_t n, size_t fit) {
  custos_index_config cfg = {0};
  cfg.fit_sample = t;
  cfg.fit_count = fit < n ? fit : n;
  custos_index *idx = NULL;
  custos_err err;
  assert_int_equal(custos_index_new(&cfg, &idx, &err), CUSTOS_OK);
  assert_int_equal(custos_index_add(idx, t, n, &err), CUSTOS_OK);
  return idx;
}

static void assert_same_hits(const custos_index_hit *a, size_t na, const custos_index_hit *b,
                             size_t nb) {
  assert_int_equal(na, nb);
  for (size_t i = 0; i < na; i++) {
    if (a[i].holder != b[i].holder || a[i].photo != b[i].photo ||
        memcmp(&a[i].distance, &b[i].distance, sizeof(double)) != 0) {
      fail_msg(
          "hit %zu differs: holder %lld photo %lld distance %.17g vs holder %lld photo %lld "
          "distance %.17g",
          i, (long long)a[i].holder, (long long)a[i].photo, a[i].distance, (long long)b[i].holder,
          (long long)b[i].photo, b[i].distance);
    }
  }
}

typedef struct ref_key {
  double d2;
  int64_t holder, photo;
} ref_key;

static int ref_cmp(const void *pa, const void *pb) {
  const ref_key *a = pa, *b = pb;
  if (a->d2 != b->d2) return a->d2 < b->d2 ? -1 : 1;
  if (a->holder != b->holder) return a->holder < b->holder ? -1 : 1;
  return (a->photo > b->photo) - (a->photo < b->photo);
}

/* The textbook answer: every distance, sort, keep each holder's first. */
static size_t brute_force(const custos_index_template *t, size_t n, const bool *removed,
                          const float *q, size_t k, custos_index_hit *out) {
  ref_key *keys = calloc(n ? n : 1, sizeof *keys);
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (removed && removed[i]) continue;
    keys[m++] = (ref_key){custos__index_exact_d2(q, t[i].descriptor), t[i].holder, t[i].photo};
  }
  qsort(keys, m, sizeof *keys, ref_cmp);
  size_t h = 0;
  for (size_t i = 0; i < m && h < k; i++) {
    bool seen = false;
    for (size_t j = 0; j < h; j++) seen = seen || out[j].holder == keys[i].holder;
    if (!seen) out[h++] = (custos_index_hit){keys[i].holder, keys[i].photo, sqrt(keys[i].d2)};
  }
  free(keys);
  return h;
}

static int kernels[2];
static int n_kernels;

static void kernels_init(void) {
  n_kernels = 0;
  kernels[n_kernels++] = CUSTOS__INDEX_KERNEL_PORTABLE;
  if (custos__index_set_kernel(CUSTOS__INDEX_KERNEL_AVX2) == CUSTOS_OK) {
    kernels[n_kernels++] = CUSTOS__INDEX_KERNEL_AVX2;
  }
  custos__index_set_kernel(CUSTOS__INDEX_KERNEL_AUTO);
}

/*
 * The heart of the tests: for every query, k, kernel and thread count, the
 * fast search, single and batched, gives exactly the exact search's hits,
 * and those are the brute-force reference's.
 */
static void check_all(custos_index *idx, const custos_index_template *t, size_t n,
                      const bool *removed, const float *queries, size_t nq, const size_t *ks,
                      size_t nks) {
  custos_err err;
  size_t kmax = 0;
  for (size_t i = 0; i < nks; i++) kmax = ks[i] > kmax ? ks[i] : kmax;
  custos_index_hit *want = calloc(nq * kmax + 1, sizeof *want);
  custos_index_hit *got = calloc(nq * kmax + 1, sizeof *got);
  custos_index_hit *ref = calloc(kmax + 1, sizeof *ref);
  size_t *nwant = calloc(nq, sizeof *nwant), *ngot = calloc(nq, sizeof *ngot);
  for (size_t ki = 0; ki < nks; ki++) {
    size_t k = ks[ki];
    custos_index_search_opts exact = {1, CUSTOS_INDEX_EXACT};
    for (size_t q = 0; q < nq; q++) {
      assert_int_equal(
          custos_index_search(idx, queries + q * DIMS, k, &exact, want + q * k, &nwant[q], &err),
          CUSTOS_OK);
      if (t != NULL) {
        size_t nref = brute_force(t, n, removed, queries + q * DIMS, k, ref);
        assert_same_hits(want + q * k, nwant[q], ref, nref);
      }
    }
    for (int kn = 0; kn < n_kernels; kn++) {
      assert_int_equal(custos__index_set_kernel((custos__index_kernel)kernels[kn]), CUSTOS_OK);
      for (int threads = 1; threads <= 2; threads++) {
        custos_index_search_opts fast = {threads, CUSTOS_INDEX_FAST};
        custos_index_search_opts ex2 = {threads, CUSTOS_INDEX_EXACT};
        for (size_t q = 0; q < nq; q++) {
          size_t ng;
          assert_int_equal(custos_index_search(idx, queries + q * DIMS, k, &fast, got, &ng, &err),
                           CUSTOS_OK);
          assert_same_hits(got, ng, want + q * k, nwant[q]);
          assert_int_equal(custos_index_search(idx, queries + q * DIMS, k, &ex2, got, &ng, &err),
                           CUSTOS_OK);
          assert_same_hits(got, ng, want + q * k, nwant[q]);
        }
        assert_int_equal(custos_index_search_batch(idx, queries, nq, k, &fast, got, ngot, &err),
                         CUSTOS_OK);
        for (size_t q = 0; q < nq; q++) {
          assert_same_hits(got + q * k, ngot[q], want + q * k, nwant[q]);
        }
      }
    }
    custos__index_set_kernel(CUSTOS__INDEX_KERNEL_AUTO);
  }
  free(want);
  free(got);
  free(ref);
  free(nwant);
  free(ngot);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_xxh64(void **state) {
  (void)state;
  /* Published XXH64 values (seed 0). */
  assert_true(custos__index_xxh64("", 0, 0) == 0xEF46DB3751D8E999ULL);
  assert_true(custos__index_xxh64("a", 1, 0) == 0xD24EC4F1A98C6E5BULL);
  assert_true(custos__index_xxh64("abc", 3, 0) == 0x44BC2CF5AD770999ULL);
  /* Streaming in odd pieces gives the one-shot value. */
  unsigned char buf[1000];
  for (size_t i = 0; i < sizeof buf; i++) buf[i] = (unsigned char)(i * 7 + 3);
  uint64_t whole = custos__index_xxh64(buf, sizeof buf, 0);
  custos__xxh64 s;
  custos__xxh64_init(&s, 0);
  size_t pieces[] = {1, 3, 31, 32, 33, 5, 200, 0, 695};
  size_t at = 0;
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(pieces); i++) {
    custos__xxh64_update(&s, buf + at, pieces[i]);
    at += pieces[i];
  }
  assert_int_equal(at, sizeof buf);
  assert_true(custos__xxh64_digest(&s) == whole);
  buf[500] ^= 1;
  assert_true(custos__index_xxh64(buf, sizeof buf, 0) != whole);
}

static void test_kernels_agree(void **state) {
  (void)state;
  enum { N = 203, NQ = 7, PAIRS = DIMS / 2 };
  uint8_t *codes = malloc(N * DIMS);
  uint8_t q8[NQ * DIMS];
  int16_t w16[PAIRS];
  uint64_t s = 99;
  for (size_t i = 0; i < (size_t)N * DIMS; i++) codes[i] = (uint8_t)(rng_next(&s) % 128);
  for (int d = 0; d < DIMS; d++) codes[d] = 0, codes[DIMS + d] = 127; /* extremes */
  for (int p = 0; p < PAIRS; p++) w16[p] = (int16_t)(p < 32 ? 127 : 1 + (int)(rng_next(&s) % 127));
  for (int q = 0; q < NQ; q++) {
    for (int d = 0; d < DIMS; d++) {
      q8[q * DIMS + d] = (uint8_t)(q == 0 ? 127 : q == 1 ? 0 : (int)(rng_next(&s) % 128));
    }
  }
  int32_t *want = malloc(sizeof(int32_t) * N * NQ), *got = malloc(sizeof(int32_t) * N * NQ);
  for (int i = 0; i < N; i++) {
    for (int q = 0; q < NQ; q++) {
      int64_t acc = 0;
      for (int d = 0; d < DIMS; d++) {
        int64_t t = q8[q * DIMS + d] - codes[i * DIMS + d];
        acc += w16[d / 2] * t * t;
      }
      want[i * NQ + q] = (int32_t)acc;
    }
  }
  /* The largest possible sum: probe 127 against codes 0, every weight 127. */
  int16_t wmax[PAIRS];
  uint8_t qmax[DIMS], zero[DIMS];
  for (int d = 0; d < DIMS; d++) qmax[d] = 127, zero[d] = 0;
  for (int p = 0; p < PAIRS; p++) wmax[p] = 127;
  for (int kn = 0; kn < n_kernels; kn++) {
    assert_int_equal(custos__index_set_kernel((custos__index_kernel)kernels[kn]), CUSTOS_OK);
    int32_t big = 0;
    custos__index_code_dist(zero, 1, qmax, wmax, &big);
    assert_int_equal(big, 127 * 128 * 127 * 127);
    big = 0;
    custos__index_code_dist_batch(zero, 1, wmax, qmax, 1, &big);
    assert_int_equal(big, 127 * 128 * 127 * 127);
    custos__index_code_dist_batch(qmax, 1, wmax, zero, 1, &big);
    assert_int_equal(big, 127 * 128 * 127 * 127);
  }
  for (int kn = 0; kn < n_kernels; kn++) {
    assert_int_equal(custos__index_set_kernel((custos__index_kernel)kernels[kn]), CUSTOS_OK);
    for (int q = 0; q < NQ; q++) {
      custos__index_code_dist(codes, N, q8 + q * DIMS, w16, got);
      for (int i = 0; i < N; i++) assert_int_equal(got[i], want[i * NQ + q]);
    }
    memset(got, 0, sizeof(int32_t) * N * NQ);
    custos__index_code_dist_batch(codes, N, w16, q8, NQ, got);
    for (int i = 0; i < N * NQ; i++) assert_int_equal(got[i], want[i]);
  }
  /* The exact distance is the same double on every path. */
  float a[DIMS], b[DIMS];
  for (int r = 0; r < 50; r++) {
    face_like(&s, a);
    face_like(&s, b);
    if (r == 0) b[3] = 1e30f, a[5] = -1e-30f;
    double d[2];
    for (int kn = 0; kn < n_kernels; kn++) {
      custos__index_set_kernel((custos__index_kernel)kernels[kn]);
      d[kn] = custos__index_exact_d2(a, b);
    }
    if (n_kernels == 2) assert_memory_equal(&d[0], &d[1], sizeof(double));
  }
  custos__index_set_kernel(CUSTOS__INDEX_KERNEL_AUTO);
  free(codes);
  free(want);
  free(got);
}

/* The lemma under the fast search: L <= exact distance <= U for every
 * template, in range and far out of it. */
static void test_bounds_hold(void **state) {
  (void)state;
  enum { N = 2000 };
  custos_index_template *t = gallery_make(N, 1, 43, 0);
  /* Codes fitted on 100 templates, then every seventh template scaled up to
   * nine times: far outside the ranges. */
  custos_index_config cfg = {0, t, 100};
  custos_index *idx = NULL;
  custos_err err;
  assert_int_equal(custos_index_new(&cfg, &idx, &err), CUSTOS_OK);
  uint64_t s = 8;
  for (int i = 0; i < N; i += 7) {
    for (int d = 0; d < DIMS; d++) t[i].descriptor[d] *= (float)(1.0 + 8.0 * rng_unit(&s));
  }
  assert_int_equal(custos_index_add(idx, t, N, &err), CUSTOS_OK);
  float q[4 * DIMS];
  face_like(&s, q);
  memcpy(q + DIMS, t[7].descriptor, sizeof(float) * DIMS);
  near(&s, t[8].descriptor, 0.001, q + 2 * DIMS);
  for (int d = 0; d < DIMS; d++) q[3 * DIMS + d] = (float)(d % 2 ? 2.5 : -0.01);
  for (int j = 0; j < 4; j++) {
    double sum = 0;
    for (int i = 0; i < N; i++) {
      double lb, ub;
      assert_int_equal(custos__index_bounds(idx, q + j * DIMS, t[i].photo, &lb, &ub), CUSTOS_OK);
      double d = sqrt(custos__index_exact_d2(q + j * DIMS, t[i].descriptor));
      if (!(lb <= d && d <= ub))
        fail_msg("query %d template %d: %.17g <= %.17g <= %.17g", j, i, lb, d, ub);
      if (i % 7 != 0) sum += ub - lb;
    }
    /* Not loose where probe and template are in range (a few clamp). */
    if (j == 0 || j == 2)
      assert_true(sum / (N - N / 7 - 1) < 0.06); /* not loose where all is in range */
  }
  double lb, ub;
  assert_int_equal(custos__index_bounds(idx, q, -5, &lb, &ub), CUSTOS_ENOENT);
  custos_index_free(idx);
  free(t);
}

/*
 * Points placed so that the triangle inequality is tight: coding errors of
 * the probe and the templates all point along the difference.  The probe
 * sits 0.49 of a step above code c (in direction sigma, per dimension),
 * template B exactly on code c - sigma, template A 0.49 of a step below code
 * c + 2 sigma.  A is nearer (1.02 steps) than B (1.49 steps), B's upper
 * bound is exactly its distance, and A's lower bound exactly its distance:
 * a bound that dropped either error term would lose A.
 */
static void test_bound_tight(void **state) {
  (void)state;
  custos_index *idx = NULL;
  custos_err err;
  assert_int_equal(custos_index_new(NULL, &idx, &err), CUSTOS_OK);
  const ix_quant *qt = &idx->cur->q;
  float q[DIMS];
  custos_index_template t[40];
  memset(t, 0, sizeof t);
  for (int d = 0; d < DIMS; d++) {
    double sg = d % 3 ? 1.0 : -1.0, o = qt->offset[d], sc = qt->scale[d];
    q[d] = (float)(o + sc * (64 + 0.49 * sg));
    t[0].descriptor[d] = (float)(o + sc * (64 - sg));                 /* B */
    t[1].descriptor[d] = (float)(o + sc * (64 + 2 * sg - 0.49 * sg)); /* A */
    for (int i = 2; i < 40; i++) t[i].descriptor[d] = (float)(o + sc * (64 + (i + 2) * sg));
  }
  for (int i = 0; i < 40; i++) t[i].holder = 10 + i, t[i].photo = 500 + i;
  assert_int_equal(custos_index_add(idx, t, 40, &err), CUSTOS_OK);
  custos_index_hit hits[3];
  size_t n;
  for (int kn = 0; kn < n_kernels; kn++) {
    custos__index_set_kernel((custos__index_kernel)kernels[kn]);
    assert_int_equal(custos_index_search(idx, q, 1, NULL, hits, &n, &err), CUSTOS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(hits[0].holder, 11);
  }
  custos__index_set_kernel(CUSTOS__INDEX_KERNEL_AUTO);
  double lb, ub, da = sqrt(custos__index_exact_d2(q, t[1].descriptor));
  assert_int_equal(custos__index_bounds(idx, q, 501, &lb, &ub), CUSTOS_OK);
  assert_true(lb <= da && da - lb < 0.01 * da); /* tight */
  double db = sqrt(custos__index_exact_d2(q, t[0].descriptor));
  assert_int_equal(custos__index_bounds(idx, q, 500, &lb, &ub), CUSTOS_OK);
  assert_true(ub >= db && ub - db < 0.01 * db); /* B's error byte rounds up */
  size_t ks[] = {1, 2, 5};
  check_all(idx, t, 40, NULL, q, 1, ks, CUSTOS_ARRAY_LEN(ks));
  custos_index_free(idx);
}

static void test_empty_and_edges(void **state) {
  (void)state;
  custos_index *idx = NULL;
  custos_err err;
  assert_int_equal(custos_index_new(NULL, &idx, &err), CUSTOS_OK);
  float q[2 * DIMS];
  uint64_t s = 1;
  face_like(&s, q);
  face_like(&s, q + DIMS);
  custos_index_hit hits[8];
  size_t n = 99, nb[2] = {9, 9};
  for (int m = 0; m < 2; m++) {
    custos_index_search_opts o = {2, (custos_index_method)m};
    assert_int_equal(custos_index_search(idx, q, 5, &o, hits, &n, &err), CUSTOS_OK);
    assert_int_equal(n, 0);
    assert_int_equal(custos_index_search_batch(idx, q, 2, 3, &o, hits, nb, &err), CUSTOS_OK);
    assert_int_equal(nb[0] + nb[1], 0);
  }
  assert_int_equal(custos_index_count(idx), 0);

  /* Three holders, four templates. */
  custos_index_template t[4];
  memset(t, 0, sizeof t);
  for (int i = 0; i < 4; i++) {
    t[i].holder = i < 2 ? 10 : 10 + i;
    t[i].photo = 100 + i;
    face_like(&s, t[i].descriptor);
  }
  assert_int_equal(custos_index_add(idx, t, 4, &err), CUSTOS_OK);
  assert_int_equal(custos_index_count(idx), 4);
  /* k = 0: no hits, no error. */
  n = 7;
  assert_int_equal(custos_index_search(idx, q, 0, NULL, NULL, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 0);
  /* k above the gallery: every holder once, nearest first. */
  custos_index_hit ref[8];
  assert_int_equal(custos_index_search(idx, q, 8, NULL, hits, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 3);
  assert_same_hits(hits, n, ref, brute_force(t, 4, NULL, q, 8, ref));
  assert_true(hits[0].distance <= hits[1].distance && hits[1].distance <= hits[2].distance);
  /* Bad queries and arguments. */
  float bad[DIMS];
  memcpy(bad, q, sizeof bad);
  bad[17] = NAN;
  assert_int_equal(custos_index_search(idx, bad, 3, NULL, hits, &n, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "descriptor[17]"));
  bad[17] = INFINITY;
  assert_int_equal(custos_index_search(idx, bad, 3, NULL, hits, &n, &err), CUSTOS_EINVAL);
  bad[17] = -INFINITY;
  custos_index_search_opts ex = {1, CUSTOS_INDEX_EXACT};
  assert_int_equal(custos_index_search(idx, bad, 3, &ex, hits, &n, &err), CUSTOS_EINVAL);
  float two[2 * DIMS];
  memcpy(two, q, sizeof(float) * DIMS);
  memcpy(two + DIMS, bad, sizeof(float) * DIMS);
  assert_int_equal(custos_index_search_batch(idx, two, 2, 3, NULL, hits, nb, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "query 1"));
  assert_int_equal(custos_index_search(idx, q, CUSTOS_INDEX_MAX_K + 1, NULL, hits, &n, &err),
                   CUSTOS_EINVAL);
  custos_index_search_opts o = {CUSTOS_INDEX_MAX_THREADS + 1, CUSTOS_INDEX_FAST};
  assert_int_equal(custos_index_search(idx, q, 3, &o, hits, &n, &err), CUSTOS_EINVAL);
  o.threads = -1;
  assert_int_equal(custos_index_search(idx, q, 3, &o, hits, &n, &err), CUSTOS_EINVAL);
  o = (custos_index_search_opts){1, (custos_index_method)7};
  assert_int_equal(custos_index_search(idx, q, 3, &o, hits, &n, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_index_search(NULL, q, 3, NULL, hits, &n, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_index_search(idx, NULL, 3, NULL, hits, &n, &err), CUSTOS_EINVAL);
  /* Limits of the configuration. */
  custos_index *big = NULL;
  custos_index_config cfg = {CUSTOS_INDEX_HARD_MAX_TEMPLATES + 1, NULL, 0};
  assert_int_equal(custos_index_new(&cfg, &big, &err), CUSTOS_EINVAL);
  assert_null(big);
  cfg = (custos_index_config){0, t, 4};
  t[2].descriptor[0] = NAN;
  assert_int_equal(custos_index_new(&cfg, &big, &err), CUSTOS_EINVAL);
  custos_index_stats st;
  custos_index_stats_get(idx, &st);
  assert_int_equal(st.templates, 4);
  assert_int_equal(st.scan_bytes, DIMS + 1);
  assert_true(st.bytes > 4 * (DIMS + 512));
  custos_index_free(idx);
  custos_index_free(NULL);
}

static void test_fast_equals_exact_random(void **state) {
  (void)state;
  enum { N = 20000, NQ = 16 };
  custos_index_template *t = gallery_make(N, -1, 7, 0);
  custos_index *idx = index_of(t, N, N);
  float q[NQ * DIMS];
  uint64_t s = 77;
  for (int i = 0; i < NQ; i++) {
    if (i % 3 == 0) {
      face_like(&s, q + i * DIMS); /* a stranger */
    } else if (i % 3 == 1) {
      near(&s, t[rng_next(&s) % N].descriptor, 0.035, q + i * DIMS); /* a mate, ~0.4 away */
    } else {
      memcpy(q + i * DIMS, t[rng_next(&s) % N].descriptor, sizeof(float) * DIMS); /* itself */
    }
  }
  size_t ks[] = {1, 10, 57};
  check_all(idx, t, N, NULL, q, NQ, ks, CUSTOS_ARRAY_LEN(ks));
  /* The codes did their job: few templates reach the exact distance. */
  custos__index_trace tr;
  custos_index_hit hits[10];
  size_t n;
  custos_err err;
  assert_int_equal(custos__index_search_traced(idx, q, 1, 10, NULL, hits, &n, &tr, &err),
                   CUSTOS_OK);
  assert_true(tr.candidates < N / 20);
  custos_index_free(idx);
  free(t);
}

static void test_fast_equals_exact_ties(void **state) {
  (void)state;
  enum { N = 6000 };
  custos_index_template *t = calloc(N, sizeof *t);
  uint64_t s = 5;
  float base[DIMS];
  face_like(&s, base);
  for (int i = 0; i < N; i++) {
    t[i].photo = 1000 + i;
    int kind = i % 4;
    memcpy(t[i].descriptor, base, sizeof base);
    if (kind == 0) {
      /* One dimension moved by one of three steps: thousands of templates
       * at exactly equal distances from base. */
      t[i].holder = i % 700;
      t[i].descriptor[(i / 4) % DIMS] += 0.0625f * (float)(1 + (i / 512) % 3);
    } else if (kind == 1) {
      /* Exact duplicates across holders and within holders. */
      t[i].holder = i % 50;
      t[i].descriptor[0] += 0.125f;
      t[i].descriptor[1] -= 0.125f;
    } else if (kind == 2) {
      /* Mirror images: equal distance from base in opposite directions. */
      t[i].holder = 2000 + i / 8;
      t[i].descriptor[(i / 8) % DIMS] += (i / 4) % 2 ? 0.25f : -0.25f;
    } else {
      /* Ordinary templates, some at base itself. */
      t[i].holder = 5000 + i;
      if (i % 64 != 3) near(&s, base, 0.02, t[i].descriptor);
    }
  }
  custos_index *idx = index_of(t, N, N);
  float q[6 * DIMS];
  memcpy(q, base, sizeof base);
  memcpy(q + DIMS, t[1].descriptor, sizeof base);
  memcpy(q + 2 * DIMS, t[0].descriptor, sizeof base);
  for (int i = 3; i < 6; i++) near(&s, base, 0.01, q + i * DIMS);
  size_t ks[] = {1, 3, 49, 50, 51, 400};
  check_all(idx, t, N, NULL, q, 6, ks, CUSTOS_ARRAY_LEN(ks));
  custos_index_free(idx);
  free(t);
}

static void test_out_of_range(void **state) {
  (void)state;
  enum { N = 5000 };
  custos_index_template *t = gallery_make(N, 2, 11, 0);
  /* Codes fitted on a narrow sample, then templates and probes far outside. */
  custos_index_config cfg = {0, t, 50};
  custos_index *idx = NULL;
  custos_err err;
  assert_int_equal(custos_index_new(&cfg, &idx, &err), CUSTOS_OK);
  uint64_t s = 3;
  for (int i = 0; i < N; i += 10) {
    for (int d = 0; d < DIMS; d++) t[i].descriptor[d] *= (float)(1.0 + 20.0 * rng_unit(&s));
  }
  t[5].descriptor[9] = 1e6f;
  t[7].descriptor[9] = -1e6f;
  assert_int_equal(custos_index_add(idx, t, N, &err), CUSTOS_OK);
  custos_index_stats st;
  custos_index_stats_get(idx, &st);
  assert_true(st.outliers > 0);
  float q[4 * DIMS];
  memcpy(q, t[10].descriptor, sizeof(float) * DIMS);
  memcpy(q + DIMS, t[5].descriptor, sizeof(float) * DIMS);
  for (int d = 0; d < DIMS; d++) q[2 * DIMS + d] = 3.0f, q[3 * DIMS + d] = -2.0f;
  size_t ks[] = {1, 10};
  check_all(idx, t, N, NULL, q, 4, ks, CUSTOS_ARRAY_LEN(ks));
  /* Compaction refits the codes on the gallery; results stay the same. */
  assert_int_equal(custos_index_compact(idx, &err), CUSTOS_OK);
  check_all(idx, t, N, NULL, q, 4, ks, CUSTOS_ARRAY_LEN(ks));
  custos_index_free(idx);
  free(t);
}

/* The demo photos' 22 reference descriptors, when the test data has them. */
static size_t demo_descriptors(float **out) {
  FILE *f = fopen(CUSTOS_TEST_DATA "/reference/demo.jsonl", "r");
  if (f == NULL) return 0;
  char *line = NULL;
  size_t cap = 0, n = 0;
  float *d = NULL;
  while (getline(&line, &cap, f) > 0) {
    json_t *root = json_loads(line, 0, NULL);
    json_t *faces = root ? json_object_get(root, "faces") : NULL;
    for (size_t i = 0; faces && i < json_array_size(faces); i++) {
      json_t *desc = json_object_get(json_array_get(faces, i), "descriptor");
      if (json_array_size(desc) != DIMS) continue;
      d = realloc(d, sizeof(float) * DIMS * (n + 1));
      for (int j = 0; j < DIMS; j++) {
        d[n * DIMS + (size_t)j] = (float)json_number_value(json_array_get(desc, (size_t)j));
      }
      n++;
    }
    json_decref(root);
  }
  free(line);
  fclose(f);
  *out = d;
  return n;
}

static void test_real_descriptors(void **state) {
  (void)state;
  float *d = NULL;
  size_t nd = demo_descriptors(&d);
  if (nd == 0) skip();
  /* Each real face as several photos of its holder (small perturbations),
   * plus exact duplicates, plus blends of two faces (near-ties). */
  size_t n = nd * 120;
  custos_index_template *t = calloc(n, sizeof *t);
  uint64_t s = 21;
  for (size_t i = 0; i < n; i++) {
    size_t f = i % nd, g = (i / nd) % nd;
    t[i].holder = (int64_t)(i % (nd * 40));
    t[i].photo = (int64_t)i;
    int kind = (int)((i / nd) % 3);
    for (int j = 0; j < DIMS; j++) {
      float a = d[f * DIMS + (size_t)j], b = d[g * DIMS + (size_t)j];
      t[i].descriptor[j] = kind == 0   ? a
                           : kind == 1 ? (float)(a + 0.01 * rng_normal(&s))
                                       : 0.5f * (a + b);
    }
  }
  custos_index *idx = index_of(t, n, n);
  size_t nq = nd + 4;
  float *q = calloc(nq * DIMS, sizeof *q);
  memcpy(q, d, sizeof(float) * DIMS * nd);
  for (size_t i = nd; i < nq; i++) near(&s, d + (i - nd) * DIMS, 0.03, q + i * DIMS);
  size_t ks[] = {1, 5, 10, 50};
  check_all(idx, t, n, NULL, q, nq, ks, CUSTOS_ARRAY_LEN(ks));
  custos_index_free(idx);
  free(t);
  free(q);
  free(d);
}

static void test_add_remove(void **state) {
  (void)state;
  enum { N = 3000 };
  custos_index_template *t = gallery_make(N, 2, 13, 0);
  custos_index *idx = index_of(t, N, N);
  custos_err err;
  bool *removed = calloc(N, sizeof *removed);
  /* Duplicates: with the index, and within one call; nothing changes. */
  assert_int_equal(custos_index_add(idx, &t[5], 1, &err), CUSTOS_ECONFLICT);
  assert_non_null(strstr(err.message, "already in the index"));
  custos_index_template two[3];
  memcpy(&two[0], &t[0], sizeof t[0]);
  memcpy(&two[1], &t[0], sizeof t[0]);
  memcpy(&two[2], &t[0], sizeof t[0]);
  two[0].photo = 90000;
  two[1].photo = 90001;
  two[2].photo = 90000;
  assert_int_equal(custos_index_add(idx, two, 3, &err), CUSTOS_ECONFLICT);
  assert_non_null(strstr(err.message, "twice"));
  assert_int_equal(custos_index_count(idx), N);
  two[1].descriptor[100] = NAN;
  two[2].photo = 90002;
  assert_int_equal(custos_index_add(idx, two, 3, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "template 1"));
  assert_int_equal(custos_index_count(idx), N);
  /* The failed adds left no trace: the photos can be added now. */
  two[1].descriptor[100] = 0.1f;
  assert_int_equal(custos_index_add(idx, two, 3, &err), CUSTOS_OK);
  for (int i = 0; i < 3; i++) assert_int_equal(custos_index_remove(idx, two[i].photo, &err), 0);
  /* Remove a third of the gallery, then check every search. */
  for (int i = 0; i < N; i += 3) {
    assert_int_equal(custos_index_remove(idx, t[i].photo, &err), CUSTOS_OK);
    removed[i] = true;
  }
  assert_int_equal(custos_index_remove(idx, t[0].photo, &err), CUSTOS_ENOENT);
  assert_int_equal(custos_index_remove(idx, 123456789, &err), CUSTOS_ENOENT);
  assert_int_equal(custos_index_count(idx), N - (N + 2) / 3);
  float q[4 * DIMS];
  for (int i = 0; i < 4; i++) memcpy(q + i * DIMS, t[i * 3].descriptor, sizeof(float) * DIMS);
  size_t ks[] = {1, 10};
  check_all(idx, t, N, removed, q, 4, ks, CUSTOS_ARRAY_LEN(ks));
  /* Removed photos may come back. */
  assert_int_equal(custos_index_add(idx, &t[3], 1, &err), CUSTOS_OK);
  removed[3] = false;
  check_all(idx, t, N, removed, q, 4, ks, CUSTOS_ARRAY_LEN(ks));
  custos_index_stats st;
  custos_index_stats_get(idx, &st);
  assert_int_equal(st.removed, (N + 2) / 3 + 3);
  assert_int_equal(custos_index_compact(idx, &err), CUSTOS_OK);
  custos_index_stats_get(idx, &st);
  assert_int_equal(st.removed, 0);
  assert_int_equal(st.templates, custos_index_count(idx));
  check_all(idx, t, N, removed, q, 4, ks, CUSTOS_ARRAY_LEN(ks));
  custos_index_free(idx);
  free(t);
  free(removed);
}

static void test_limits(void **state) {
  (void)state;
  custos_index_template *t = gallery_make(64, 1, 17, 0);
  custos_index_config cfg = {10, NULL, 0};
  custos_index *idx = NULL;
  custos_err err;
  assert_int_equal(custos_index_new(&cfg, &idx, &err), CUSTOS_OK);
  assert_int_equal(custos_index_add(idx, t, 11, &err), CUSTOS_ETOOBIG);
  assert_int_equal(custos_index_count(idx), 0);
  assert_int_equal(custos_index_add(idx, t, 10, &err), CUSTOS_OK);
  assert_int_equal(custos_index_add(idx, t + 10, 1, &err), CUSTOS_ETOOBIG);
  assert_int_equal(custos_index_remove(idx, t[0].photo, &err), CUSTOS_OK);
  assert_int_equal(custos_index_add(idx, t + 10, 1, &err), CUSTOS_OK);
  /* Churn far past the slots a limit of 10 gets (two segments): removed
   * slots are reclaimed by compaction when an add needs them. */
  assert_int_equal(custos_index_remove(idx, t[10].photo, &err), CUSTOS_OK);
  custos_index_template one = t[20];
  for (int64_t i = 0; i < 40000; i++) {
    one.photo = 1000000 + i;
    assert_int_equal(custos_index_add(idx, &one, 1, &err), CUSTOS_OK);
    assert_int_equal(custos_index_remove(idx, one.photo, &err), CUSTOS_OK);
  }
  assert_int_equal(custos_index_count(idx), 9);
  custos_index_stats st;
  custos_index_stats_get(idx, &st);
  assert_true(st.removed < 32768);
  custos_index_hit hits[10];
  size_t n;
  assert_int_equal(custos_index_search(idx, t[5].descriptor, 10, NULL, hits, &n, &err), 0);
  assert_int_equal(n, 9);
  assert_int_equal(hits[0].photo, t[5].photo);
  assert_true(hits[0].distance == 0.0);
  custos_index_free(idx);
  free(t);
}

/* ---- concurrency ---------------------------------------------------------- */

#define STABLE 3000
#define CHURN_BASE 1000000
#define STRESS_QUERIES 6

typedef struct stress {
  custos_index *idx;
  const custos_index_template *stable;
  float q[STRESS_QUERIES * DIMS];
  ref_key *stable_keys[STRESS_QUERIES]; /* sorted keys of the stable templates */
  atomic_int stop;
  atomic_int failures;
  atomic_long searches;
  char first[256];
  pthread_mutex_t lock;
} stress;

/* A churn template is a function of its photo id, so a reader can check
 * that what it got is whole. */
static void churn_template(int64_t photo, custos_index_template *t) {
  uint64_t s = (uint64_t)photo * 7919u;
  t->photo = photo;
  t->holder = 100000 + photo % 500;
  face_like(&s, t->descriptor);
}

static void stress_fail(stress *st, const char *what, long long a) {
  pthread_mutex_lock(&st->lock);
  if (atomic_fetch_add(&st->failures, 1) == 0) {
    snprintf(st->first, sizeof st->first, "%s (%lld)", what, a);
  }
  pthread_mutex_unlock(&st->lock);
}

static void stress_check(stress *st, int q, const custos_index_hit *h, size_t n, size_t k) {
  if (n != k) stress_fail(st, "short result", (long long)n);
  const float *query = st->q + q * DIMS;
  for (size_t i = 0; i < n; i++) {
    custos_index_template t;
    if (h[i].photo >= CHURN_BASE) {
      churn_template(h[i].photo, &t);
    } else {
      t = st->stable[h[i].photo];
    }
    if (t.holder != h[i].holder) stress_fail(st, "wrong holder for photo", (long long)h[i].photo);
    double d = sqrt(custos__index_exact_d2(query, t.descriptor));
    if (memcmp(&d, &h[i].distance, sizeof d) != 0) {
      stress_fail(st, "distance of a half-seen template", (long long)h[i].photo);
    }
    for (size_t j = 0; j < i; j++) {
      if (h[j].holder == h[i].holder) stress_fail(st, "holder twice", (long long)h[i].holder);
    }
    if (i > 0) {
      ref_key a = {h[i - 1].distance, h[i - 1].holder, h[i - 1].photo};
      ref_key b = {h[i].distance, h[i].holder, h[i].photo};
      if (ref_cmp(&a, &b) >= 0) stress_fail(st, "out of order", (long long)i);
    }
  }
  if (n == 0) return;
  /* Stable templates never leave: every one before the last hit in the
   * order of results has its holder among the hits. */
  custos_index_template lt;
  if (h[n - 1].photo >= CHURN_BASE) {
    churn_template(h[n - 1].photo, &lt);
  } else {
    lt = st->stable[h[n - 1].photo];
  }
  ref_key last = {custos__index_exact_d2(query, lt.descriptor), h[n - 1].holder, h[n - 1].photo};
  for (size_t i = 0; i < STABLE; i++) {
    const ref_key *sk = &st->stable_keys[q][i];
    if (ref_cmp(sk, &last) >= 0) break;
    bool found = false;
    for (size_t j = 0; j < n && !found; j++) found = h[j].holder == sk->holder;
    if (!found) stress_fail(st, "a stable holder is missing", (long long)sk->holder);
  }
}

static void *stress_reader(void *arg) {
  stress *st = arg;
  custos_index_hit h[2 * 10];
  size_t n[2];
  custos_err err;
  for (int it = 0; !atomic_load(&st->stop) || it < 20; it++) {
    int q = it % STRESS_QUERIES;
    custos_index_search_opts o = {1 + it % 2, CUSTOS_INDEX_FAST};
    if (it % 3 == 2) {
      int q2 = (q + 1) % STRESS_QUERIES;
      float two[2 * DIMS];
      memcpy(two, st->q + q * DIMS, sizeof(float) * DIMS);
      memcpy(two + DIMS, st->q + q2 * DIMS, sizeof(float) * DIMS);
      if (custos_index_search_batch(st->idx, two, 2, 10, &o, h, n, &err) != CUSTOS_OK) {
        stress_fail(st, "batch search failed", err.code);
      } else {
        stress_check(st, q, h, n[0], 10);
        stress_check(st, q2, h + 10, n[1], 10);
      }
    } else if (custos_index_search(st->idx, st->q + q * DIMS, 10, &o, h, n, &err) != CUSTOS_OK) {
      stress_fail(st, "search failed", err.code);
    } else {
      stress_check(st, q, h, n[0], 10);
    }
    atomic_fetch_add(&st->searches, 1);
    if (it > 100000) break;
  }
  return NULL;
}

static void test_concurrent_add_remove(void **state) {
  (void)state;
  custos_index_template *stable = gallery_make(STABLE, 1, 23, -1);
  for (int i = 0; i < STABLE; i++) stable[i].photo = i, stable[i].holder = i;
  stress *st = calloc(1, sizeof *st);
  pthread_mutex_init(&st->lock, NULL);
  st->stable = stable;
  st->idx = index_of(stable, STABLE, STABLE);
  uint64_t s = 31;
  for (int q = 0; q < STRESS_QUERIES; q++) {
    if (q % 2 == 0) {
      near(&s, stable[rng_next(&s) % STABLE].descriptor, 0.03, st->q + q * DIMS);
    } else {
      custos_index_template c;
      churn_template(CHURN_BASE + 5 * q, &c); /* near where churn templates appear */
      near(&s, c.descriptor, 0.05, st->q + q * DIMS);
    }
    st->stable_keys[q] = calloc(STABLE, sizeof(ref_key));
    for (int i = 0; i < STABLE; i++) {
      st->stable_keys[q][i] =
          (ref_key){custos__index_exact_d2(st->q + q * DIMS, stable[i].descriptor),
                    stable[i].holder, stable[i].photo};
    }
    qsort(st->stable_keys[q], STABLE, sizeof(ref_key), ref_cmp);
  }
  pthread_t readers[2];
  for (int i = 0; i < 2; i++) pthread_create(&readers[i], NULL, stress_reader, st);
  /* The writer: batches in, old ones out, now and then a compaction. */
  custos_err err;
  int64_t next = CHURN_BASE, oldest = CHURN_BASE;
  custos_index_template batch[16];
  for (int it = 0; it < 400; it++) {
    for (int i = 0; i < 16; i++) churn_template(next++, &batch[i]);
    assert_int_equal(custos_index_add(st->idx, batch, 16, &err), CUSTOS_OK);
    while (next - oldest > 300) {
      assert_int_equal(custos_index_remove(st->idx, oldest++, &err), CUSTOS_OK);
    }
    if (it % 97 == 96) assert_int_equal(custos_index_compact(st->idx, &err), CUSTOS_OK);
  }
  atomic_store(&st->stop, 1);
  for (int i = 0; i < 2; i++) pthread_join(readers[i], NULL);
  if (atomic_load(&st->failures) != 0) fail_msg("%d failures, first: %s", st->failures, st->first);
  assert_true(atomic_load(&st->searches) >= 40);
  /* Quiet again: the fast search is the exact one. */
  float *q = st->q;
  size_t ks[] = {10};
  check_all(st->idx, NULL, 0, NULL, q, STRESS_QUERIES, ks, 1);
  assert_int_equal(custos_index_count(st->idx), STABLE + 300);
  custos_index_free(st->idx);
  for (int q2 = 0; q2 < STRESS_QUERIES; q2++) free(st->stable_keys[q2]);
  pthread_mutex_destroy(&st->lock);
  free(st);
  free(stable);
}

/* ---- snapshots ------------------------------------------------------------ */

static char *tmp_path(const char *name) {
  static char buf[512];
  snprintf(buf, sizeof buf, "/tmp/custos_test_index_%d_%s", (int)getpid(), name);
  return buf;
}

static unsigned char *slurp(const char *path, size_t *len) {
  unsigned char *p = NULL;
  custos_err err;
  assert_int_equal(custos__read_file(path, (size_t)1 << 30, &p, len, &err), CUSTOS_OK);
  return p;
}

static void spit(const char *path, const unsigned char *p, size_t len) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(p, 1, len, f), len);
  fclose(f);
}

/* Rewrites the checksum so that only the content is wrong. */
static void fix_checksum(unsigned char *p, size_t len) {
  custos__xxh64 s;
  custos__xxh64_init(&s, 0);
  custos__xxh64_update(&s, p, 56);
  custos__xxh64_update(&s, p + 64, len - 64);
  uint64_t h = custos__xxh64_digest(&s);
  memcpy(p + 56, &h, 8);
}

static void test_snapshot(void **state) {
  (void)state;
  enum { N = 4000 };
  custos_index_template *t = gallery_make(N, -1, 29, 0);
  custos_index *idx = index_of(t, N, N);
  custos_err err;
  for (int i = 0; i < N; i += 5) assert_int_equal(custos_index_remove(idx, t[i].photo, &err), 0);
  size_t live = custos_index_count(idx);
  const char *path = tmp_path("snap");
  char p[512];
  snprintf(p, sizeof p, "%s", path);
  assert_int_equal(custos_index_save(idx, p, 42, &err), CUSTOS_OK);
  custos_index_snapshot_header h;
  assert_int_equal(custos_index_snapshot_info(p, &h, &err), CUSTOS_OK);
  assert_int_equal(h.version, 1);
  assert_int_equal(h.count, live);
  assert_int_equal(h.generation, 42);
  size_t len;
  unsigned char *good = slurp(p, &len);
  assert_int_equal(len, 64 + live * 528);
  assert_memory_equal(good, "CUSTOSIX", 8);

  /* Round trip: same searches, same results. */
  custos_index_stamp stamp = {42, live};
  custos_index *back = NULL;
  assert_int_equal(custos_index_load(NULL, p, &stamp, &back, &err), CUSTOS_OK);
  assert_int_equal(custos_index_count(back), live);
  float q[3 * DIMS];
  for (int i = 0; i < 3; i++) memcpy(q + i * DIMS, t[i * 7 + 1].descriptor, sizeof(float) * DIMS);
  custos_index_hit a[20], b[20];
  size_t na, nb;
  for (int i = 0; i < 3; i++) {
    assert_int_equal(custos_index_search(idx, q + i * DIMS, 20, NULL, a, &na, &err), 0);
    assert_int_equal(custos_index_search(back, q + i * DIMS, 20, NULL, b, &nb, &err), 0);
    assert_same_hits(a, na, b, nb);
  }
  size_t ks[] = {10};
  check_all(back, NULL, 0, NULL, q, 3, ks, 1);
  custos_index_free(back);
  back = NULL;

  /* Stale: another generation or count. */
  stamp.generation = 43;
  assert_int_equal(custos_index_load(NULL, p, &stamp, &back, &err), CUSTOS_ECONFLICT);
  assert_non_null(strstr(err.message, "stale"));
  stamp = (custos_index_stamp){42, live + 1};
  assert_int_equal(custos_index_load(NULL, p, &stamp, &back, &err), CUSTOS_ECONFLICT);
  assert_null(back);
  /* Too many for the configured limit. */
  custos_index_config small = {100, NULL, 0};
  assert_int_equal(custos_index_load(&small, p, NULL, &back, &err), CUSTOS_ETOOBIG);

  /* Corruption anywhere is detected. */
  unsigned char *bad = malloc(len + 16);
  size_t spots[] = {64, 64 + 9, 64 + 528 * 100 + 200, len - 1, 35};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(spots); i++) {
    memcpy(bad, good, len);
    bad[spots[i]] ^= 0x10;
    spit(p, bad, len);
    assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_ECORRUPT);
    assert_null(back);
  }
  /* Truncated: at a record boundary, inside a record, inside the header. */
  size_t cuts[] = {len - 528, len - 1, 64, 40, 0};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cuts); i++) {
    spit(p, good, cuts[i]);
    assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_ECORRUPT);
    assert_int_equal(custos_index_snapshot_info(p, &h, &err), CUSTOS_ECORRUPT);
  }
  /* Trailing bytes. */
  memcpy(bad, good, len);
  memset(bad + len, 0, 16);
  spit(p, bad, len + 16);
  assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_ECORRUPT);
  /* Not a snapshot; another version. */
  memcpy(bad, good, len);
  bad[0] = 'X';
  spit(p, bad, len);
  assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_ECORRUPT);
  memcpy(bad, good, len);
  bad[8] = 2;
  spit(p, bad, len);
  assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_EVERSION);
  /* Bad records under a valid checksum: NaN, a photo twice. */
  memcpy(bad, good, len);
  float nan = NAN;
  memcpy(bad + 64 + 528 * 3 + 16 + 4 * 7, &nan, 4);
  fix_checksum(bad, len);
  spit(p, bad, len);
  assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_ECORRUPT);
  assert_non_null(strstr(err.message, "not finite"));
  memcpy(bad, good, len);
  memcpy(bad + 64 + 528 * 9 + 8, bad + 64 + 528 * 2 + 8, 8);
  fix_checksum(bad, len);
  spit(p, bad, len);
  assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_ECORRUPT);
  /* Missing. */
  unlink(p);
  assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_ENOENT);
  assert_int_equal(custos_index_snapshot_info(p, &h, &err), CUSTOS_ENOENT);
  /* A rebuilt, saved-again snapshot loads; so does an empty one. */
  assert_int_equal(custos_index_save(idx, p, 44, &err), CUSTOS_OK);
  assert_int_equal(custos_index_load(NULL, p, NULL, &back, &err), CUSTOS_OK);
  assert_int_equal(custos_index_count(back), live);
  custos_index_free(back);
  custos_index *empty = NULL;
  assert_int_equal(custos_index_new(NULL, &empty, &err), CUSTOS_OK);
  assert_int_equal(custos_index_save(empty, p, 1, &err), CUSTOS_OK);
  custos_index_free(empty);
  stamp = (custos_index_stamp){1, 0};
  assert_int_equal(custos_index_load(NULL, p, &stamp, &back, &err), CUSTOS_OK);
  assert_int_equal(custos_index_count(back), 0);
  assert_int_equal(custos_index_search(back, q, 5, NULL, a, &na, &err), CUSTOS_OK);
  assert_int_equal(na, 0);
  custos_index_free(back);
  /* Saving into a folder that does not exist fails cleanly. */
  assert_int_equal(custos_index_save(idx, "/nonexistent-dir/x.snap", 1, &err), CUSTOS_ENOENT);
  unlink(p);
  free(bad);
  free(good);
  custos_index_free(idx);
  free(t);
}

/* ---- building from a source ----------------------------------------------- */

typedef struct src_ctx {
  const custos_index_template *t;
  size_t n, at;
  int fail_at; /* call number that fails, or -1 */
  int calls;
  size_t overfill;
} src_ctx;

static int src_next(void *ctx, custos_index_template *buf, size_t cap, size_t *n, custos_err *err) {
  src_ctx *c = ctx;
  if (c->calls++ == c->fail_at) return custos__err(err, CUSTOS_EDB, "store", "the store failed");
  size_t m = c->n - c->at < 1000 ? c->n - c->at : 1000;
  if (m > cap) m = cap;
  memcpy(buf, c->t + c->at, m * sizeof *buf);
  c->at += m;
  *n = c->overfill ? cap + 1 : m;
  return CUSTOS_OK;
}

static void test_build(void **state) {
  (void)state;
  enum { N = 5000 };
  custos_index_template *t = gallery_make(N, -1, 37, 0);
  custos_err err;
  custos_index *idx = NULL;
  src_ctx c = {t, N, 0, -1, 0, 0};
  assert_int_equal(custos_index_build(NULL, src_next, &c, &idx, &err), CUSTOS_OK);
  assert_int_equal(custos_index_count(idx), N);
  float q[2 * DIMS];
  memcpy(q, t[99].descriptor, sizeof(float) * DIMS);
  near(&(uint64_t){5}, t[4000].descriptor, 0.04, q + DIMS);
  size_t ks[] = {1, 10};
  check_all(idx, t, N, NULL, q, 2, ks, CUSTOS_ARRAY_LEN(ks));
  custos_index_free(idx);
  idx = NULL;
  c = (src_ctx){t, N, 0, 3, 0, 0};
  assert_int_equal(custos_index_build(NULL, src_next, &c, &idx, &err), CUSTOS_EDB);
  assert_string_equal(err.module, "store");
  assert_null(idx);
  c = (src_ctx){t, N, 0, -1, 0, 1};
  assert_int_equal(custos_index_build(NULL, src_next, &c, &idx, &err), CUSTOS_EINVAL);
  c = (src_ctx){t, N, 0, -1, 0, 0};
  custos_index_config cfg = {N - 1, NULL, 0};
  assert_int_equal(custos_index_build(&cfg, src_next, &c, &idx, &err), CUSTOS_ETOOBIG);
  c = (src_ctx){t, N, 0, -1, 0, 0};
  t[4321].photo = t[17].photo;
  assert_int_equal(custos_index_build(NULL, src_next, &c, &idx, &err), CUSTOS_ECONFLICT);
  assert_null(idx);
  free(t);
}

/* Every allocation failing in turn: an error code, no leak, no crash. */
static void test_alloc_failures(void **state) {
  (void)state;
  custos_index_template *t = gallery_make(300, 2, 41, 0);
  float q[2 * DIMS];
  memcpy(q, t[3].descriptor, sizeof(float) * DIMS);
  memcpy(q + DIMS, t[30].descriptor, sizeof(float) * DIMS);
  const char *p = tmp_path("alloc");
  char path[512];
  snprintf(path, sizeof path, "%s", p);
  bool done = false;
  for (long fail = 0; !done && fail < 500; fail++) {
    custos__alloc_fail_after(fail);
    custos_err err;
    custos_index *idx = NULL, *back = NULL;
    custos_index_hit hits[2 * 5];
    size_t n[2];
    custos_index_search_opts ex = {1, CUSTOS_INDEX_EXACT};
    int rc = custos_index_new(NULL, &idx, &err);
    if (rc == CUSTOS_OK) rc = custos_index_add(idx, t, 300, &err);
    if (rc == CUSTOS_OK) rc = custos_index_search_batch(idx, q, 2, 5, NULL, hits, n, &err);
    if (rc == CUSTOS_OK) rc = custos_index_search(idx, q, 5, &ex, hits, n, &err);
    if (rc == CUSTOS_OK) rc = custos_index_remove(idx, t[1].photo, &err);
    if (rc == CUSTOS_OK) rc = custos_index_compact(idx, &err);
    if (rc == CUSTOS_OK) rc = custos_index_save(idx, path, 1, &err);
    if (rc == CUSTOS_OK) rc = custos_index_load(NULL, path, NULL, &back, &err);
    custos__alloc_fail_after(-1);
    if (rc == CUSTOS_OK) {
      done = true;
      assert_int_equal(custos_index_count(back), 299);
    } else {
      assert_int_equal(rc, CUSTOS_ENOMEM);
      assert_int_equal(err.code, CUSTOS_ENOMEM);
    }
    custos_index_free(back);
    custos_index_free(idx);
  }
  assert_true(done);
  unlink(path);
  free(t);
}

static int setup(void **state) {
  (void)state;
  stats_init();
  kernels_init();
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_xxh64),
      cmocka_unit_test(test_kernels_agree),
      cmocka_unit_test(test_bounds_hold),
      cmocka_unit_test(test_bound_tight),
      cmocka_unit_test(test_empty_and_edges),
      cmocka_unit_test(test_fast_equals_exact_random),
      cmocka_unit_test(test_fast_equals_exact_ties),
      cmocka_unit_test(test_out_of_range),
      cmocka_unit_test(test_real_descriptors),
      cmocka_unit_test(test_add_remove),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_concurrent_add_remove),
      cmocka_unit_test(test_snapshot),
      cmocka_unit_test(test_build),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, setup, NULL);
}
