/*
 * Timing helpers the benchmark programs share: clocks in milliseconds and
 * the median of repeated runs (benchmarks report medians, CONVENTIONS.md).
 * Header-only: each benchmark is one program.
 */
#ifndef CUSTOS_BENCH_H
#define CUSTOS_BENCH_H

#include <stdlib.h>
#include <time.h>

/* Milliseconds on clock id: CLOCK_MONOTONIC for wall time,
 * CLOCK_THREAD_CPUTIME_ID / CLOCK_PROCESS_CPUTIME_ID for CPU time, which is
 * not stretched when other jobs take the core. */
static inline double bench_clock_ms(clockid_t id) {
  struct timespec ts;
  clock_gettime(id, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static inline double now_ms(void) { return bench_clock_ms(CLOCK_MONOTONIC); }

static inline int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts v). */
static inline double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
