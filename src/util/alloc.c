/*
 * Checked allocation.  Every size multiplication is overflow-checked here, and
 * tests can make allocations fail after a countdown to reach error paths.
 */
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static long fail_after = -1; /* allocations left before failing; <0: never fail */

void custos__alloc_fail_after(long n) { fail_after = n; }

static bool should_fail(void) {
  if (fail_after < 0) return false;
  if (fail_after == 0) return true;
  fail_after--;
  return false;
}

bool custos__mul_size(size_t a, size_t b, size_t *out) {
  if (a != 0 && b > SIZE_MAX / a) return false;
  *out = a * b;
  return true;
}

void *custos__malloc(size_t size) {
  if (should_fail()) return NULL;
  return malloc(size ? size : 1);
}

void *custos__calloc(size_t n, size_t size) {
  size_t total;
  if (!custos__mul_size(n, size, &total) || should_fail()) return NULL;
  return calloc(total ? total : 1, 1);
}

void *custos__mallocarray(size_t n, size_t size) {
  size_t total;
  if (!custos__mul_size(n, size, &total)) return NULL;
  return custos__malloc(total);
}

void *custos__realloc(void *p, size_t size) {
  if (should_fail()) return NULL;
  return realloc(p, size ? size : 1);
}

void *custos__reallocarray(void *p, size_t n, size_t size) {
  size_t total;
  if (!custos__mul_size(n, size, &total)) return NULL;
  return custos__realloc(p, total);
}

char *custos__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = custos__malloc(n);
  if (d != NULL) memcpy(d, s, n);
  return d;
}

void custos__free(void *p) { free(p); }
