/*
 * util: the pieces every module uses — error reporting into a custos_err,
 * checked allocation, a bounded growable buffer, reading whole files with a
 * size limit.  JSON helpers are in json.h beside this file.
 *
 * Allocation goes through custos__malloc and friends so that sizes are
 * overflow-checked in one place and tests can make the n-th allocation fail
 * (custos__alloc_fail_after) to exercise every error path.
 */
#ifndef CUSTOS_UTIL_H
#define CUSTOS_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custos/error.h"

#define CUSTOS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Fills *err (NULL-safe) with code, module and a printf-style message, and
 * returns code, so that callers can write `return custos__err(...)`. */
int custos__err(custos_err *err, int code, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
int custos__verr(custos_err *err, int code, const char *module, const char *fmt, va_list ap);

/* Allocation.  All return NULL on failure (or on size overflow); free is
 * NULL-safe.  The array forms check n * size for overflow. */
void *custos__malloc(size_t size);
void *custos__calloc(size_t n, size_t size);
void *custos__mallocarray(size_t n, size_t size);
void *custos__realloc(void *p, size_t size);
void *custos__reallocarray(void *p, size_t n, size_t size);
char *custos__strdup(const char *s);
void custos__free(void *p);

/* Test hook: after `n` more successful allocations, every allocation fails;
 * a negative n turns the hook off (the default). Not thread-safe. */
void custos__alloc_fail_after(long n);

/* Checked multiply: stores a * b in *out and returns true unless it overflows. */
bool custos__mul_size(size_t a, size_t b, size_t *out);

/*
 * A growable byte buffer with a hard maximum (curl's dynbuf).  The content is
 * always NUL-terminated (the NUL is not counted in len) so it can be used as a
 * string.  Appending past `max` fails with CUSTOS_ETOOBIG and leaves the
 * buffer as it was.
 */
typedef struct custos_buf {
  char *data;  /* NULL until the first append */
  size_t len;  /* bytes used, excluding the terminating NUL */
  size_t cap;  /* bytes allocated */
  size_t max;  /* largest len allowed */
} custos_buf;

void custos__buf_init(custos_buf *b, size_t max);
int custos__buf_reserve(custos_buf *b, size_t extra);
int custos__buf_append(custos_buf *b, const void *data, size_t len);
int custos__buf_appendf(custos_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void custos__buf_reset(custos_buf *b);              /* len = 0, memory kept */
char *custos__buf_steal(custos_buf *b, size_t *len); /* caller frees; buffer emptied */
void custos__buf_free(custos_buf *b);

/* Reads a whole file into *out (NUL-terminated, caller frees with
 * custos__free).  Files larger than max bytes give CUSTOS_ETOOBIG without
 * reading them; a missing file gives CUSTOS_ENOENT. */
int custos__read_file(const char *path, size_t max, unsigned char **out, size_t *len,
                      custos_err *err);

/* Writes the folder part of path into dir (size bytes): "." when path has no
 * slash, "/" when its only slash is the first byte.  Gives CUSTOS_EINVAL when
 * the folder does not fit (dir then holds it truncated), else CUSTOS_OK. */
int custos__path_dir(const char *path, char *dir, size_t size);

/* Writes len bytes to path atomically: a temporary file in the same folder,
 * fsync, then rename over path. */
int custos__write_file_atomic(const char *path, const void *data, size_t len, custos_err *err);

#endif
