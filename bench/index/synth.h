/*
 * Synthetic face descriptors for the index benchmark, shared by the C
 * benchmark (bench_index.c) and the FAISS peer (bench_faiss.cpp) so that both
 * search the same floats.
 *
 * Dimension d of descriptor i is mean[d] + sd[d] * z, where z comes from a
 * 65,536-entry table of the standard normal's quantiles ((j + 0.5) / 65536,
 * Acklam's approximation, relative error 1e-9) indexed by 16 bits of a
 * counter-based generator (splitmix64 of seed, i and d), so any descriptor can
 * be made alone, in any order, on any thread.  The means and standard
 * deviations are fitted on real face-api descriptors (bench_index --fit): the
 * 22 of the demo photos for now; refit them on LFW when it is at hand.  The
 * dimensions are independent: real descriptors are correlated and cluster by
 * person, which these do not model.
 *
 * Queries: even ones are "mates" (gallery descriptor q * 7919 % n plus noise
 * of 0.035 per dimension, about 0.4 away, as a second photo of the same
 * person is), odd ones are strangers drawn like the gallery.
 */
#ifndef CUSTOS_BENCH_SYNTH_H
#define CUSTOS_BENCH_SYNTH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define SYNTH_DIMS 128
#define SYNTH_SEED 0x5eed1dc0ffee2024ULL
#define SYNTH_QUERY_SEED 0x9e3779b97f4a7c15ULL
#define SYNTH_MATE_NOISE 0.035

typedef struct synth {
  float mean[SYNTH_DIMS]; /* per-dimension mean */
  float sd[SYNTH_DIMS];   /* per-dimension standard deviation */
  float z[65536];         /* standard normal quantiles */
} synth;

static inline uint64_t synth_mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

/* Acklam's inverse of the standard normal distribution function. */
static inline double synth_inv_normal(double p) {
  static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02,
                              -2.759285104469687e+02, 1.383577518672690e+02,
                              -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                              6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01,
                              -2.400758277161838e+00, -2.549732539343734e+00,
                              4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                              3.754408661907416e+00};
  const double lo = 0.02425;
  if (p < lo) {
    double q = sqrt(-2 * log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - lo) return -synth_inv_normal(1 - p);
  double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

static inline void synth_init_table(synth *s) {
  for (int j = 0; j < 65536; j++) s->z[j] = (float)synth_inv_normal((j + 0.5) / 65536.0);
}

/* Reads "mean sd" per line, SYNTH_DIMS lines; returns 0 on success. */
static inline int synth_load(synth *s, const char *path) {
  FILE *f = fopen(path, "r");
  if (f == NULL) return -1;
  int ok = 1;
  for (int d = 0; d < SYNTH_DIMS && ok; d++) ok = fscanf(f, "%f %f", &s->mean[d], &s->sd[d]) == 2;
  fclose(f);
  if (!ok) return -1;
  synth_init_table(s);
  return 0;
}

/* Gallery descriptor i. */
static inline void synth_descriptor(const synth *s, uint64_t i, float *out) {
  for (int w = 0; w < SYNTH_DIMS / 4; w++) {
    uint64_t r =
        synth_mix(SYNTH_SEED ^ (i * (SYNTH_DIMS / 4) + (uint64_t)w) * 0xD6E8FEB86659FD93ULL);
    for (int j = 0; j < 4; j++) {
      int d = w * 4 + j;
      double z = s->z[(r >> (16 * j)) & 0xffff];
      out[d] = (float)((double)s->mean[d] + (double)s->sd[d] * z);
    }
  }
}

/* Query q of a gallery of n. */
static inline void synth_query(const synth *s, uint64_t n, uint64_t q, float *out) {
  if (q % 2 == 0) {
    synth_descriptor(s, (q * 7919u) % n, out);
    for (int w = 0; w < SYNTH_DIMS / 4; w++) {
      uint64_t r = synth_mix(SYNTH_QUERY_SEED ^ (q * 1000003u + (uint64_t)w));
      for (int j = 0; j < 4; j++) {
        out[w * 4 + j] =
            (float)((double)out[w * 4 + j] + SYNTH_MATE_NOISE * s->z[(r >> (16 * j)) & 0xffff]);
      }
    }
  } else {
    synth_descriptor(s, 0x100000000ULL + q, out); /* beyond any gallery index: a stranger */
  }
}

#endif
