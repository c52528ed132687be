/*
 * The bounded growable buffer and whole-file helpers.  The buffer doubles its
 * allocation as it grows but never holds more than its maximum, so a producer
 * fed from outside (a request body, a JSON document) cannot grow it without
 * bound.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/util.h"

void custos__buf_init(custos_buf *b, size_t max) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->max = max;
}

int custos__buf_reserve(custos_buf *b, size_t extra) {
  if (extra > b->max || b->len > b->max - extra) return CUSTOS_ETOOBIG;
  size_t need = b->len + extra + 1; /* + NUL */
  if (need <= b->cap) return CUSTOS_OK;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  if (cap > b->max + 1) cap = b->max + 1;
  char *p = custos__realloc(b->data, cap);
  if (p == NULL) return CUSTOS_ENOMEM;
  b->data = p;
  b->cap = cap;
  return CUSTOS_OK;
}

int custos__buf_append(custos_buf *b, const void *data, size_t len) {
  int rc = custos__buf_reserve(b, len);
  if (rc != CUSTOS_OK) return rc;
  if (len) memcpy(b->data + b->len, data, len);
  b->len += len;
  b->data[b->len] = '\0';
  return CUSTOS_OK;
}

int custos__buf_appendf(custos_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return CUSTOS_EINTERNAL;
  int rc = custos__buf_reserve(b, (size_t)n);
  if (rc != CUSTOS_OK) return rc;
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return CUSTOS_OK;
}

void custos__buf_reset(custos_buf *b) {
  b->len = 0;
  if (b->data) b->data[0] = '\0';
}

char *custos__buf_steal(custos_buf *b, size_t *len) {
  char *p = b->data;
  if (len) *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void custos__buf_free(custos_buf *b) {
  custos__free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int custos__read_file(const char *path, size_t max, unsigned char **out, size_t *len,
                      custos_err *err) {
  int rc = CUSTOS_OK;
  unsigned char *data = NULL;
  *out = NULL;
  *len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return custos__err(err, e == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, "io", "%s: %s", path,
                       strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = custos__err(err, CUSTOS_EIO, "io", "%s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = custos__err(err, CUSTOS_EINVAL, "io", "%s: not a regular file", path);
    goto out;
  }
  if ((unsigned long long)st.st_size > max) {
    rc = custos__err(err, CUSTOS_ETOOBIG, "io", "%s: %lld bytes, more than the limit of %zu",
                     path, (long long)st.st_size, max);
    goto out;
  }
  size_t size = (size_t)st.st_size;
  data = custos__malloc(size + 1);
  if (data == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, "io", "%s: out of memory", path);
    goto out;
  }
  size_t got = 0;
  while (got < size) {
    ssize_t n = read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = custos__err(err, CUSTOS_EIO, "io", "%s: %s", path, strerror(errno));
      goto out;
    }
    if (n == 0) break; /* the file shrank while we read it */
    got += (size_t)n;
  }
  data[got] = '\0';
  *out = data;
  *len = got;
  data = NULL;
out:
  custos__free(data);
  close(fd);
  return rc;
}

int custos__write_file_atomic(const char *path, const void *data, size_t len, custos_err *err) {
  int rc = CUSTOS_OK;
  custos_buf tmp;
  custos__buf_init(&tmp, 8192);
  int fd = -1;
  if (custos__buf_appendf(&tmp, "%s.tmp.%ld", path, (long)getpid()) != CUSTOS_OK) {
    return custos__err(err, CUSTOS_ETOOBIG, "io", "path too long");
  }
  fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = custos__err(err, CUSTOS_EIO, "io", "%s: %s", path, strerror(errno));
    goto out;
  }
  const unsigned char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = custos__err(err, CUSTOS_EIO, "io", "%s: %s", path, strerror(errno));
      goto out;
    }
    p += n;
    left -= (size_t)n;
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    fd = -1;
    rc = custos__err(err, CUSTOS_EIO, "io", "%s: %s", path, strerror(errno));
    goto out;
  }
  fd = -1;
  if (rename(tmp.data, path) != 0) {
    rc = custos__err(err, CUSTOS_EIO, "io", "%s: %s", path, strerror(errno));
    goto out;
  }
out:
  if (fd >= 0) close(fd);
  if (rc != CUSTOS_OK && tmp.data) unlink(tmp.data);
  custos__buf_free(&tmp);
  return rc;
}

int custos__path_dir(const char *path, char *dir, size_t size) {
  const char *slash = strrchr(path, '/');
  int n;
  if (slash == NULL) {
    n = snprintf(dir, size, ".");
  } else if (slash == path) {
    n = snprintf(dir, size, "/");
  } else {
    n = snprintf(dir, size, "%.*s", (int)(slash - path), path);
  }
  return n < 0 || (size_t)n >= size ? CUSTOS_EINVAL : CUSTOS_OK;
}
