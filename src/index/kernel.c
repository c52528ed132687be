/*
 * The kernels of the index: the code scans (one probe, and a batch of
 * probes), the exact distance and the plain read loop of the streaming floor,
 * each in AVX2 and in portable C, chosen at run time.
 *
 * Code distance.  Codes are 7-bit (0..127), one byte per dimension, and the
 * dimensions come in pairs (bytes 2p and 2p+1) that share a weight w_p.  For
 * a probe with codes q and a template with codes c the kernels compute the
 * integer
 *     D = sum_p w_p ((q_2p - c_2p)^2 + (q_2p+1 - c_2p+1)^2)
 * exactly (at most 64 * 127 * 2 * 127^2, far inside int32), so every path
 * gives the same D bit for bit.  7-bit codes let AVX2 do it with byte
 * arithmetic: the difference of two codes fits a signed byte, vpabsb makes it
 * unsigned, vpmaddubsw squares 32 differences and adds them in pairs (at most
 * 2 * 127^2 = 32258, no saturation), vpmaddwd multiplies the 16 pair sums by
 * their weights and adds again: five instructions for 32 dimensions.
 *
 * The batch kernel keeps a template's 128 codes in four registers and, for
 * each probe, takes the dot-product form D = Qn + Xn - 2 sum_p w_p (q.c)_p
 * (vpmaddubsw of codes and probe codes, vpmaddwd with the weights): three
 * instructions per 32 dimensions and probe.  Intermediate sums may wrap;
 * D itself lies in int32, so the wrapped arithmetic gives it exactly.
 *
 * Prefilter.  Template i passes when (float)D_i <= (thr + ebyte_i * eunit)^2
 * in float arithmetic, or when its ebyte is the IX_EBYTE_LOOKUP sentinel.
 * search.c inflates thr so that this float test passes every template the
 * exact bound would keep; passing is only a reason to look closer.
 *
 * Exact distance.  Double precision, eight partial sums (dimension d goes to
 * sum d % 8), combined as ((s0+s4)+(s1+s5)) + ((s2+s6)+(s3+s7)), separate
 * multiply and add (no FMA: this file is compiled for AVX2 only, and C17 mode
 * does not contract).  The AVX2 version performs the same operations in the
 * same order, so every path gets the same double.
 */
#include <immintrin.h>
#include <stdatomic.h>
#include <string.h>

#include "index/indexInt.h"

static atomic_int kernel_choice = CUSTOS__INDEX_KERNEL_AUTO;

static bool cpu_has_avx2(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0;
}

int custos__index_set_kernel(custos__index_kernel k) {
  if (k == CUSTOS__INDEX_KERNEL_AVX2 && !cpu_has_avx2()) return CUSTOS_EUNSUPPORTED;
  atomic_store(&kernel_choice, (int)k);
  return CUSTOS_OK;
}

custos__index_kernel custos__index_kernel_in_use(void) {
  int k = atomic_load_explicit(&kernel_choice, memory_order_relaxed);
  if (k == CUSTOS__INDEX_KERNEL_AUTO) {
    return cpu_has_avx2() ? CUSTOS__INDEX_KERNEL_AVX2 : CUSTOS__INDEX_KERNEL_PORTABLE;
  }
  return (custos__index_kernel)k;
}

static bool use_avx2(void) {
  return custos__index_kernel_in_use() == CUSTOS__INDEX_KERNEL_AVX2;
}

/* ---- portable C ----------------------------------------------------------- */

static inline int32_t dist_portable(const uint8_t *c, const uint8_t *q, const int16_t *w) {
  int32_t acc = 0;
  for (int p = 0; p < IX_PAIRS; p++) {
    int32_t a = (int32_t)q[2 * p] - c[2 * p], b = (int32_t)q[2 * p + 1] - c[2 * p + 1];
    acc += (int32_t)w[p] * (a * a + b * b);
  }
  return acc;
}

static inline bool passes(int32_t d, uint8_t eb, float thr, float eunit) {
  if (eb == IX_EBYTE_LOOKUP) return true;
  float t = thr + (float)eb * eunit;
  return (float)d <= t * t;
}

static size_t scan1_portable(const uint8_t *codes, const uint8_t *ebyte, size_t n,
                             const uint8_t *q8, const int16_t *w16, float thr, float eunit,
                             ix_pass *out) {
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t d = dist_portable(codes + i * IX_DIMS, q8, w16);
    if (passes(d, ebyte[i], thr, eunit)) out[m++] = (ix_pass){(uint32_t)i, 0, d};
  }
  return m;
}

static size_t scanb_portable(const uint8_t *codes, const uint8_t *ebyte, size_t n,
                             const int16_t *w16, const uint8_t *q8, const int32_t *qn,
                             const float *thr, size_t nq, float eunit, ix_pass *out) {
  (void)qn;
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *c = codes + i * IX_DIMS;
    for (size_t q = 0; q < nq; q++) {
      int32_t d = dist_portable(c, q8 + q * IX_DIMS, w16);
      if (passes(d, ebyte[i], thr[q], eunit)) out[m++] = (ix_pass){(uint32_t)i, (uint32_t)q, d};
    }
  }
  return m;
}

static uint64_t stream_portable(const uint8_t *p, size_t n) {
  uint64_t a = 0, b = 0;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint64_t x, y;
    memcpy(&x, p + i, 8);
    memcpy(&y, p + i + 8, 8);
    a ^= x;
    b += y;
  }
  for (; i < n; i++) a += p[i];
  return a ^ b;
}

static double exact_portable(const float *a, const float *b) {
  double s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int d = 0; d < IX_DIMS; d += 8) {
    for (int j = 0; j < 8; j++) {
      double t = (double)a[d + j] - (double)b[d + j];
      s[j] = s[j] + t * t;
    }
  }
  return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* ---- AVX2 ----------------------------------------------------------------- */

#define AVX2 __attribute__((target("avx2")))

/* Per-lane partial sums of D for the template at c (32 code bytes per j). */
#define DIST_STEP(acc, c, j)                                                              \
  do {                                                                                    \
    __m256i dl_ = _mm256_abs_epi8(                                                        \
        _mm256_sub_epi8(q##j, _mm256_loadu_si256((const __m256i *)((c) + 32 * (j)))));    \
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(dl_, dl_), w##j)); \
  } while (0)

#define DIST(acc, c)                                                                               \
  do {                                                                                             \
    __m256i dl0_ = _mm256_abs_epi8(_mm256_sub_epi8(q0, _mm256_loadu_si256((const __m256i *)(c)))); \
    acc = _mm256_madd_epi16(_mm256_maddubs_epi16(dl0_, dl0_), w0);                                 \
    DIST_STEP(acc, c, 1);                                                                          \
    DIST_STEP(acc, c, 2);                                                                          \
    DIST_STEP(acc, c, 3);                                                                          \
  } while (0)

/* Eight vectors of partial sums -> one vector of their eight totals. */
AVX2 static inline __m256i reduce8_avx2(__m256i a0, __m256i a1, __m256i a2, __m256i a3, __m256i a4,
                                        __m256i a5, __m256i a6, __m256i a7) {
  __m256i s0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  __m256i s4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(a4, a5), _mm256_hadd_epi32(a6, a7));
  __m256i lo = _mm256_permute2x128_si256(s0123, s4567, 0x20);
  __m256i hi = _mm256_permute2x128_si256(s0123, s4567, 0x31);
  return _mm256_add_epi32(lo, hi);
}

/* Four vectors of partial sums -> their four totals. */
AVX2 static inline __m128i reduce4_avx2(__m256i a0, __m256i a1, __m256i a2, __m256i a3) {
  __m256i s = _mm256_hadd_epi32(_mm256_hadd_epi32(a0, a1), _mm256_hadd_epi32(a2, a3));
  return _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
}

AVX2 static size_t scan1_avx2(const uint8_t *codes, const uint8_t *ebyte, size_t n,
                              const uint8_t *q8, const int16_t *w16, float thr, float eunit,
                              ix_pass *out) {
  const __m256i q0 = _mm256_loadu_si256((const __m256i *)q8);
  const __m256i q1 = _mm256_loadu_si256((const __m256i *)(q8 + 32));
  const __m256i q2 = _mm256_loadu_si256((const __m256i *)(q8 + 64));
  const __m256i q3 = _mm256_loadu_si256((const __m256i *)(q8 + 96));
  const __m256i w0 = _mm256_loadu_si256((const __m256i *)w16);
  const __m256i w1 = _mm256_loadu_si256((const __m256i *)(w16 + 16));
  const __m256i w2 = _mm256_loadu_si256((const __m256i *)(w16 + 32));
  const __m256i w3 = _mm256_loadu_si256((const __m256i *)(w16 + 48));
  const __m256 thrv = _mm256_set1_ps(thr);
  const __m256 euv = _mm256_set1_ps(eunit);
  const __m256i lookup = _mm256_set1_epi32(IX_EBYTE_LOOKUP);
  size_t m = 0, i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint8_t *c = codes + i * IX_DIMS;
    __m256i a0, a1, a2, a3, a4, a5, a6, a7;
    DIST(a0, c);
    DIST(a1, c + IX_DIMS);
    DIST(a2, c + 2 * IX_DIMS);
    DIST(a3, c + 3 * IX_DIMS);
    DIST(a4, c + 4 * IX_DIMS);
    DIST(a5, c + 5 * IX_DIMS);
    DIST(a6, c + 6 * IX_DIMS);
    DIST(a7, c + 7 * IX_DIMS);
    __m256i d = reduce8_avx2(a0, a1, a2, a3, a4, a5, a6, a7);
    __m256i eb = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(ebyte + i)));
    __m256 t = _mm256_add_ps(thrv, _mm256_mul_ps(_mm256_cvtepi32_ps(eb), euv));
    __m256 pass = _mm256_cmp_ps(_mm256_cvtepi32_ps(d), _mm256_mul_ps(t, t), _CMP_LE_OQ);
    pass = _mm256_or_ps(pass, _mm256_castsi256_ps(_mm256_cmpeq_epi32(eb, lookup)));
    unsigned mask = (unsigned)_mm256_movemask_ps(pass);
    if (mask != 0) {
      int32_t dd[8];
      _mm256_storeu_si256((__m256i *)dd, d);
      while (mask != 0) {
        unsigned b = (unsigned)__builtin_ctz(mask);
        out[m++] = (ix_pass){(uint32_t)(i + b), 0, dd[b]};
        mask &= mask - 1;
      }
    }
  }
  if (i < n) {
    size_t r = scan1_portable(codes + i * IX_DIMS, ebyte + i, n - i, q8, w16, thr, eunit, out + m);
    for (size_t j = 0; j < r; j++) out[m + j].i += (uint32_t)i;
    m += r;
  }
  return m;
}

/* sum_p w_p (x.y)_p over 32 dimensions, added to acc. */
#define DOT_STEP(acc, x, y, w) \
  acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), w))

AVX2 static size_t scanb_avx2(const uint8_t *codes, const uint8_t *ebyte, size_t n,
                              const int16_t *w16, const uint8_t *q8, const int32_t *qn,
                              const float *thr, size_t nq, float eunit, ix_pass *out) {
  const __m256i w0 = _mm256_loadu_si256((const __m256i *)w16);
  const __m256i w1 = _mm256_loadu_si256((const __m256i *)(w16 + 16));
  const __m256i w2 = _mm256_loadu_si256((const __m256i *)(w16 + 32));
  const __m256i w3 = _mm256_loadu_si256((const __m256i *)(w16 + 48));
  /* Probes in fours; a last partial four reads padding the caller provides
   * (q8, qn and thr have room for a multiple of four) and is masked off. */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    const uint8_t *c = codes + i * IX_DIMS;
    const __m256i c0 = _mm256_loadu_si256((const __m256i *)c);
    const __m256i c1 = _mm256_loadu_si256((const __m256i *)(c + 32));
    const __m256i c2 = _mm256_loadu_si256((const __m256i *)(c + 64));
    const __m256i c3 = _mm256_loadu_si256((const __m256i *)(c + 96));
    __m256i xa = _mm256_madd_epi16(_mm256_maddubs_epi16(c0, c0), w0);
    DOT_STEP(xa, c1, c1, w1);
    DOT_STEP(xa, c2, c2, w2);
    DOT_STEP(xa, c3, c3, w3);
    __m128i x4 = _mm_add_epi32(_mm256_castsi256_si128(xa), _mm256_extracti128_si256(xa, 1));
    x4 = _mm_hadd_epi32(x4, x4);
    x4 = _mm_hadd_epi32(x4, x4); /* every lane: Xn */
    uint8_t eb = ebyte[i];
    const __m128 ebf = _mm_set1_ps((float)eb * eunit);
    for (size_t q = 0; q < nq; q += 4) {
      const uint8_t *p = q8 + q * IX_DIMS;
      __m256i a[4];
      for (int r = 0; r < 4; r++) {
        const uint8_t *pr = p + (size_t)r * IX_DIMS;
        a[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(c0, _mm256_loadu_si256((const __m256i *)pr)),
                                 w0);
        DOT_STEP(a[r], c1, _mm256_loadu_si256((const __m256i *)(pr + 32)), w1);
        DOT_STEP(a[r], c2, _mm256_loadu_si256((const __m256i *)(pr + 64)), w2);
        DOT_STEP(a[r], c3, _mm256_loadu_si256((const __m256i *)(pr + 96)), w3);
      }
      __m128i dot = reduce4_avx2(a[0], a[1], a[2], a[3]);
      __m128i d = _mm_sub_epi32(_mm_add_epi32(_mm_loadu_si128((const __m128i *)(qn + q)), x4),
                                _mm_add_epi32(dot, dot));
      __m128 t = _mm_add_ps(_mm_loadu_ps(thr + q), ebf);
      unsigned mask = (unsigned)_mm_movemask_ps(_mm_cmple_ps(_mm_cvtepi32_ps(d), _mm_mul_ps(t, t)));
      if (eb == IX_EBYTE_LOOKUP) mask = 15;
      if (nq - q < 4) mask &= (1u << (nq - q)) - 1;
      if (mask != 0) {
        int32_t dd[4];
        _mm_storeu_si128((__m128i *)dd, d);
        while (mask != 0) {
          unsigned b = (unsigned)__builtin_ctz(mask);
          out[m++] = (ix_pass){(uint32_t)i, (uint32_t)(q + b), dd[b]};
          mask &= mask - 1;
        }
      }
    }
  }
  return m;
}

AVX2 static uint64_t stream_avx2(const uint8_t *p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_loadu_si256((const __m256i *)(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_loadu_si256((const __m256i *)(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_loadu_si256((const __m256i *)(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_loadu_si256((const __m256i *)(p + i + 96)));
  }
  __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  uint64_t w[4];
  _mm256_storeu_si256((__m256i *)w, a);
  return (w[0] ^ w[1] ^ w[2] ^ w[3]) + stream_portable(p + i, n - i);
}

AVX2 static double exact_avx2(const float *a, const float *b) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  for (int d = 0; d < IX_DIMS; d += 8) {
    __m256d tl =
        _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + d)), _mm256_cvtps_pd(_mm_loadu_ps(b + d)));
    __m256d th = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(a + d + 4)),
                               _mm256_cvtps_pd(_mm_loadu_ps(b + d + 4)));
    lo = _mm256_add_pd(lo, _mm256_mul_pd(tl, tl));
    hi = _mm256_add_pd(hi, _mm256_mul_pd(th, th));
  }
  double s[4];
  _mm256_storeu_pd(s, _mm256_add_pd(lo, hi)); /* s[j] = sum j + sum j+4 */
  return (s[0] + s[1]) + (s[2] + s[3]);
}

AVX2 static void exact_many_avx2(const float *q, const float *x, size_t n, double *out) {
  for (size_t i = 0; i < n; i++) out[i] = exact_avx2(q, x + i * IX_DIMS);
}

/* ---- dispatch ------------------------------------------------------------- */

size_t custos__index_scan1(const uint8_t *codes, const uint8_t *ebyte, size_t n, const uint8_t *q8,
                           const int16_t *w16, float thr, float eunit, ix_pass *out) {
  if (use_avx2()) return scan1_avx2(codes, ebyte, n, q8, w16, thr, eunit, out);
  return scan1_portable(codes, ebyte, n, q8, w16, thr, eunit, out);
}

size_t custos__index_scanb(const uint8_t *codes, const uint8_t *ebyte, size_t n, const int16_t *w16,
                           const uint8_t *q8, const int32_t *qn, const float *thr, size_t nq,
                           float eunit, ix_pass *out) {
  if (use_avx2()) return scanb_avx2(codes, ebyte, n, w16, q8, qn, thr, nq, eunit, out);
  return scanb_portable(codes, ebyte, n, w16, q8, qn, thr, nq, eunit, out);
}

int32_t custos__index_code_norm(const uint8_t *q8, const int16_t *w16) {
  int32_t acc = 0;
  for (int p = 0; p < IX_PAIRS; p++) {
    int32_t a = q8[2 * p], b = q8[2 * p + 1];
    acc += (int32_t)w16[p] * (a * a + b * b);
  }
  return acc;
}

uint64_t custos__index_stream_bytes(const uint8_t *p, size_t n) {
  return use_avx2() ? stream_avx2(p, n) : stream_portable(p, n);
}

double custos__index_exact_d2(const float *a, const float *b) {
  return use_avx2() ? exact_avx2(a, b) : exact_portable(a, b);
}

void custos__index_exact_many(const float *q, const float *x, size_t n, double *out) {
  if (use_avx2()) {
    exact_many_avx2(q, x, n, out);
    return;
  }
  for (size_t i = 0; i < n; i++) out[i] = exact_portable(q, x + i * IX_DIMS);
}

void custos__index_code_dist(const uint8_t *codes, size_t n, const uint8_t *q8, const int16_t *w16,
                             int32_t *out) {
  ix_pass buf[64];
  uint8_t eb[64];
  memset(eb, 0, sizeof eb);
  for (size_t i = 0; i < n; i += 64) {
    size_t len = n - i < 64 ? n - i : 64;
    size_t m =
        custos__index_scan1(codes + i * IX_DIMS, eb, len, q8, w16, __builtin_inff(), 0.0f, buf);
    for (size_t j = 0; j < m; j++) out[i + buf[j].i] = buf[j].d;
  }
}

void custos__index_code_dist_batch(const uint8_t *codes, size_t n, const int16_t *w16,
                                   const uint8_t *q8, size_t nq, int32_t *out) {
  uint8_t p[4 * IX_DIMS];
  int32_t qn[4];
  float thr[4];
  ix_pass buf[4];
  for (size_t q = 0; q < nq; q += 4) {
    size_t len = nq - q < 4 ? nq - q : 4;
    memset(p, 0, sizeof p);
    memset(qn, 0, sizeof qn);
    for (size_t j = 0; j < 4; j++) thr[j] = __builtin_inff();
    memcpy(p, q8 + q * IX_DIMS, len * IX_DIMS);
    for (size_t j = 0; j < len; j++) qn[j] = custos__index_code_norm(p + j * IX_DIMS, w16);
    for (size_t i = 0; i < n; i++) {
      uint8_t eb = 0;
      size_t m = custos__index_scanb(codes + i * IX_DIMS, &eb, 1, w16, p, qn, thr, len, 0.0f, buf);
      for (size_t j = 0; j < m; j++) out[i * nq + q + buf[j].q] = buf[j].d;
    }
  }
}
