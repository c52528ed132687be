/*
 * Snapshot files: the gallery written to one file so that start-up reads it
 * in seconds instead of asking the store for every template.  The store
 * stays the system of record; a snapshot that is missing, corrupt, of
 * another version or stale is rebuilt from it.
 *
 * Format (all integers little-endian):
 *
 *   offset  size        meaning
 *   0       8           magic "CUSTOSIX"
 *   8       4           format version, 1
 *   12      4           dimensions, 128
 *   16      4           record size, 528
 *   20      4           reserved, 0
 *   24      8           count: records in the file
 *   32      8           generation: the caller's stamp
 *   40      8           payload bytes: count * 528
 *   48      8           reserved, 0
 *   56      8           checksum: XXH64 (seed 0) of bytes 0..55, then of the records
 *   64      count*528   records: holder (int64), photo (int64), 128 float32 descriptor
 *
 * A file whose size is not 64 + count * 528 is truncated (or has trailing
 * bytes); one whose checksum does not match is corrupt.  Codes are not
 * stored: loading refits and recodes them (a fraction of a second per
 * million templates), so the format does not depend on the quantisation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index/indexInt.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "snapshot.c reads and writes records in host order, which must be little-endian"
#endif

/* A record is the in-memory template, byte for byte. */
_Static_assert(sizeof(custos_index_template) == IX_RECORD_BYTES, "record layout");
_Static_assert(offsetof(custos_index_template, descriptor) == 16, "record layout");

#define SNAP_MAGIC "CUSTOSIX"
#define SNAP_VERSION 1u
#define SNAP_HEADER 64
#define SAVE_RECORDS 2048

/* ---- XXH64 ---------------------------------------------------------------- */

#define P1 0x9E3779B185EBCA87ULL
#define P2 0xC2B2AE3D27D4EB4FULL
#define P3 0x165667B19E3779F9ULL
#define P4 0x85EBCA77C2B2AE63ULL
#define P5 0x27D4EB2F165667C5ULL

static uint64_t rotl64(uint64_t x, int r) {
  return (x << r) | (x >> (64 - r));
}

static uint64_t xx_round(uint64_t acc, uint64_t in) {
  acc += in * P2;
  acc = rotl64(acc, 31);
  return acc * P1;
}

static uint64_t xx_merge(uint64_t acc, uint64_t v) {
  acc ^= xx_round(0, v);
  return acc * P1 + P4;
}

static uint64_t rd64(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static uint32_t rd32(const unsigned char *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}

static void xx_stripe(uint64_t *v, const unsigned char *p) {
  v[0] = xx_round(v[0], rd64(p));
  v[1] = xx_round(v[1], rd64(p + 8));
  v[2] = xx_round(v[2], rd64(p + 16));
  v[3] = xx_round(v[3], rd64(p + 24));
}

void custos__xxh64_init(custos__xxh64 *s, uint64_t seed) {
  memset(s, 0, sizeof *s);
  s->seed = seed;
  s->v[0] = seed + P1 + P2;
  s->v[1] = seed + P2;
  s->v[2] = seed;
  s->v[3] = seed - P1;
}

void custos__xxh64_update(custos__xxh64 *s, const void *data, size_t n) {
  const unsigned char *p = data;
  s->total += n;
  if (s->nbuf + n < 32) {
    if (n) memcpy(s->buf + s->nbuf, p, n);
    s->nbuf += n;
    return;
  }
  if (s->nbuf) {
    size_t fill = 32 - s->nbuf;
    memcpy(s->buf + s->nbuf, p, fill);
    xx_stripe(s->v, s->buf);
    p += fill;
    n -= fill;
    s->nbuf = 0;
  }
  uint64_t v[4] = {s->v[0], s->v[1], s->v[2], s->v[3]};
  for (; n >= 32; p += 32, n -= 32) xx_stripe(v, p);
  memcpy(s->v, v, sizeof v);
  if (n) memcpy(s->buf, p, n);
  s->nbuf = n;
}

uint64_t custos__xxh64_digest(const custos__xxh64 *s) {
  uint64_t h;
  if (s->total >= 32) {
    h = rotl64(s->v[0], 1) + rotl64(s->v[1], 7) + rotl64(s->v[2], 12) + rotl64(s->v[3], 18);
    for (int i = 0; i < 4; i++) h = xx_merge(h, s->v[i]);
  } else {
    h = s->seed + P5;
  }
  h += s->total;
  const unsigned char *p = s->buf;
  size_t n = s->nbuf;
  for (; n >= 8; p += 8, n -= 8) {
    h ^= xx_round(0, rd64(p));
    h = rotl64(h, 27) * P1 + P4;
  }
  if (n >= 4) {
    h ^= (uint64_t)rd32(p) * P1;
    h = rotl64(h, 23) * P2 + P3;
    p += 4;
    n -= 4;
  }
  for (; n > 0; p++, n--) {
    h ^= (uint64_t)*p * P5;
    h = rotl64(h, 11) * P1;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

uint64_t custos__index_xxh64(const void *p, size_t n, uint64_t seed) {
  custos__xxh64 s;
  custos__xxh64_init(&s, seed);
  custos__xxh64_update(&s, p, n);
  return custos__xxh64_digest(&s);
}

/* ---- header --------------------------------------------------------------- */

typedef struct snap_header {
  uint32_t version;
  uint64_t count;
  uint64_t generation;
  uint64_t checksum;
} snap_header;

static void put32(unsigned char *p, uint32_t v) {
  memcpy(p, &v, 4);
}
static void put64(unsigned char *p, uint64_t v) {
  memcpy(p, &v, 8);
}

static void header_encode(unsigned char *b, uint64_t count, uint64_t generation) {
  memset(b, 0, SNAP_HEADER);
  memcpy(b, SNAP_MAGIC, 8);
  put32(b + 8, SNAP_VERSION);
  put32(b + 12, IX_DIMS);
  put32(b + 16, IX_RECORD_BYTES);
  put64(b + 24, count);
  put64(b + 32, generation);
  put64(b + 40, count * IX_RECORD_BYTES);
}

static int sys_err(custos_err *err, const char *what, const char *path) {
  int e = errno;
  return custos__err(err, e == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, "index", "%s %s: %s", what,
                     path, strerror(e));
}

/* Reads all of n bytes; a short read is CUSTOS_ECORRUPT (the file shrank). */
static int read_all(int fd, void *buf, size_t n, const char *path, custos_err *err) {
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_err(err, "cannot read", path);
    if (r == 0) return custos__err(err, CUSTOS_ECORRUPT, "index", "snapshot %s is truncated", path);
    p += r;
    n -= (size_t)r;
  }
  return CUSTOS_OK;
}

static int write_all(int fd, const void *buf, size_t n, const char *path, custos_err *err) {
  const unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = write(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return sys_err(err, "cannot write", path);
    p += r;
    n -= (size_t)r;
  }
  return CUSTOS_OK;
}

/* Reads and checks the header of an open snapshot of `size` bytes. */
static int header_read(int fd, const char *path, uint64_t size, snap_header *h, unsigned char *raw,
                       custos_err *err) {
  if (size < SNAP_HEADER) {
    return custos__err(err, CUSTOS_ECORRUPT, "index",
                       "snapshot %s has %llu bytes, too few for a header", path,
                       (unsigned long long)size);
  }
  int rc = read_all(fd, raw, SNAP_HEADER, path, err);
  if (rc != CUSTOS_OK) return rc;
  if (memcmp(raw, SNAP_MAGIC, 8) != 0) {
    return custos__err(err, CUSTOS_ECORRUPT, "index", "%s is not a custos index snapshot", path);
  }
  h->version = rd32(raw + 8);
  if (h->version != SNAP_VERSION) {
    return custos__err(err, CUSTOS_EVERSION, "index",
                       "snapshot %s has format version %u; this build reads version %u", path,
                       h->version, SNAP_VERSION);
  }
  if (rd32(raw + 12) != IX_DIMS || rd32(raw + 16) != IX_RECORD_BYTES || rd32(raw + 20) != 0 ||
      rd64(raw + 48) != 0) {
    return custos__err(err, CUSTOS_ECORRUPT, "index",
                       "snapshot %s: dimensions, record size or reserved fields are wrong", path);
  }
  h->count = rd64(raw + 24);
  h->generation = rd64(raw + 32);
  h->checksum = rd64(raw + 56);
  uint64_t payload = rd64(raw + 40);
  if (h->count > UINT64_MAX / IX_RECORD_BYTES || payload != h->count * IX_RECORD_BYTES) {
    return custos__err(err, CUSTOS_ECORRUPT, "index",
                       "snapshot %s: count %llu and payload size %llu disagree", path,
                       (unsigned long long)h->count, (unsigned long long)payload);
  }
  if (size - SNAP_HEADER != payload) {
    return custos__err(err, CUSTOS_ECORRUPT, "index",
                       "snapshot %s is %s: %llu bytes of records, the header says %llu", path,
                       size - SNAP_HEADER < payload ? "truncated" : "followed by trailing bytes",
                       (unsigned long long)(size - SNAP_HEADER), (unsigned long long)payload);
  }
  return CUSTOS_OK;
}

static int snap_open(const char *path, int *fd, uint64_t *size, custos_err *err) {
  *fd = open(path, O_RDONLY | O_CLOEXEC);
  if (*fd < 0) return sys_err(err, "cannot open", path);
  struct stat st;
  if (fstat(*fd, &st) != 0) {
    int rc = sys_err(err, "cannot stat", path);
    close(*fd);
    *fd = -1;
    return rc;
  }
  *size = (uint64_t)st.st_size;
  return CUSTOS_OK;
}

int custos_index_snapshot_info(const char *path, custos_index_snapshot_header *info,
                               custos_err *err) {
  if (path == NULL || info == NULL) {
    return custos__err(err, CUSTOS_EINVAL, "index", "path or info is NULL");
  }
  memset(info, 0, sizeof *info);
  int fd;
  uint64_t size;
  int rc = snap_open(path, &fd, &size, err);
  if (rc != CUSTOS_OK) return rc;
  snap_header h;
  unsigned char raw[SNAP_HEADER];
  rc = header_read(fd, path, size, &h, raw, err);
  close(fd);
  if (rc != CUSTOS_OK) return rc;
  info->version = h.version;
  info->count = h.count;
  info->generation = h.generation;
  info->checksum = h.checksum;
  return CUSTOS_OK;
}

/* ---- save ----------------------------------------------------------------- */

static int fsync_dir_of(const char *path, custos_err *err) {
  char dir[4096];
  if (custos__path_dir(path, dir, sizeof dir) != CUSTOS_OK) {
    return custos__err(err, CUSTOS_EINVAL, "index", "path %s is too long", path);
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return sys_err(err, "cannot open folder", dir);
  int rc = fsync(fd) == 0 ? CUSTOS_OK : sys_err(err, "cannot fsync folder", dir);
  close(fd);
  return rc;
}

int custos_index_save(custos_index *idx, const char *path, uint64_t generation, custos_err *err) {
  if (idx == NULL || path == NULL) {
    return custos__err(err, CUSTOS_EINVAL, "index", "index or path is NULL");
  }
  char tmp[4096];
  if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= sizeof tmp) {
    return custos__err(err, CUSTOS_EINVAL, "index", "path %s is too long", path);
  }
  unsigned char *buf = custos__mallocarray(SAVE_RECORDS, IX_RECORD_BYTES);
  if (buf == NULL) return custos__err(err, CUSTOS_ENOMEM, "index", "out of memory saving");
  int rc = CUSTOS_OK;
  pthread_mutex_lock(&idx->wlock); /* one consistent gallery: writers wait */
  const ix_version *v = idx->cur;
  size_t count = atomic_load_explicit(&v->count, memory_order_relaxed);
  uint64_t live = atomic_load(&v->live);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    rc = sys_err(err, "cannot create", tmp);
    goto out;
  }
  unsigned char header[SNAP_HEADER];
  header_encode(header, live, generation);
  custos__xxh64 hs;
  custos__xxh64_init(&hs, 0);
  custos__xxh64_update(&hs, header, 56);
  rc = write_all(fd, header, SNAP_HEADER, tmp, err);
  size_t nbuf = 0;
  uint64_t written = 0;
  for (size_t slot = 0; slot < count && rc == CUSTOS_OK; slot++) {
    const ix_segment *s = ix_seg(v, slot);
    size_t off = slot & IX_SEG_MASK;
    if (atomic_load_explicit(&s->state[off], memory_order_relaxed) != IX_LIVE) continue;
    unsigned char *r = buf + nbuf * IX_RECORD_BYTES;
    memcpy(r, &s->holder[off], 8);
    memcpy(r + 8, &s->photo[off], 8);
    memcpy(r + 16, s->vec + off * IX_DIMS, sizeof(float) * IX_DIMS);
    written++;
    if (++nbuf == SAVE_RECORDS || written == live) {
      custos__xxh64_update(&hs, buf, nbuf * IX_RECORD_BYTES);
      rc = write_all(fd, buf, nbuf * IX_RECORD_BYTES, tmp, err);
      nbuf = 0;
    }
  }
  if (rc == CUSTOS_OK && written != live) {
    rc = custos__err(err, CUSTOS_EINTERNAL, "index", "found %llu live templates, expected %llu",
                     (unsigned long long)written, (unsigned long long)live);
  }
  if (rc == CUSTOS_OK) {
    put64(header + 56, custos__xxh64_digest(&hs));
    if (pwrite(fd, header, SNAP_HEADER, 0) != SNAP_HEADER) rc = sys_err(err, "cannot write", tmp);
  }
  if (rc == CUSTOS_OK && fsync(fd) != 0) rc = sys_err(err, "cannot fsync", tmp);
  if (close(fd) != 0 && rc == CUSTOS_OK) rc = sys_err(err, "cannot close", tmp);
  if (rc == CUSTOS_OK && rename(tmp, path) != 0) rc = sys_err(err, "cannot rename to", path);
  if (rc != CUSTOS_OK) {
    unlink(tmp);
  } else {
    rc = fsync_dir_of(path, err);
  }
out:
  pthread_mutex_unlock(&idx->wlock);
  custos__free(buf);
  return rc;
}

/* ---- load ----------------------------------------------------------------- */

typedef struct snap_source {
  int fd;
  const char *path;
  uint64_t left;     /* records not yet read */
  uint64_t checksum; /* from the header */
  custos__xxh64 hs;
} snap_source;

static int snap_next(void *ctx, custos_index_template *buf, size_t cap, size_t *n,
                     custos_err *err) {
  snap_source *s = ctx;
  *n = 0;
  if (s->left == 0) {
    if (custos__xxh64_digest(&s->hs) != s->checksum) {
      return custos__err(err, CUSTOS_ECORRUPT, "index", "snapshot %s: checksum mismatch", s->path);
    }
    return CUSTOS_OK;
  }
  size_t m = s->left < cap ? (size_t)s->left : cap;
  int rc = read_all(s->fd, buf, m * IX_RECORD_BYTES, s->path, err);
  if (rc != CUSTOS_OK) return rc;
  custos__xxh64_update(&s->hs, buf, m * IX_RECORD_BYTES);
  s->left -= m;
  *n = m;
  return CUSTOS_OK;
}

int custos_index_load(const custos_index_config *cfg, const char *path,
                      const custos_index_stamp *expect, custos_index **out, custos_err *err) {
  if (path == NULL || out == NULL) {
    return custos__err(err, CUSTOS_EINVAL, "index", "path or out is NULL");
  }
  *out = NULL;
  snap_source src;
  memset(&src, 0, sizeof src);
  uint64_t size;
  int rc = snap_open(path, &src.fd, &size, err);
  if (rc != CUSTOS_OK) return rc;
  snap_header h;
  unsigned char raw[SNAP_HEADER];
  rc = header_read(src.fd, path, size, &h, raw, err);
  if (rc != CUSTOS_OK) goto out;
  if (expect && (expect->generation != h.generation || expect->count != h.count)) {
    rc = custos__err(err, CUSTOS_ECONFLICT, "index",
                     "snapshot %s is stale: generation %llu with %llu templates, expected "
                     "generation %llu with %llu",
                     path, (unsigned long long)h.generation, (unsigned long long)h.count,
                     (unsigned long long)expect->generation, (unsigned long long)expect->count);
    goto out;
  }
  size_t max = cfg && cfg->max_templates ? cfg->max_templates : CUSTOS_INDEX_DEFAULT_MAX_TEMPLATES;
  if (h.count > max) {
    rc = custos__err(err, CUSTOS_ETOOBIG, "index",
                     "snapshot %s holds %llu templates, more than the limit of %zu", path,
                     (unsigned long long)h.count, max);
    goto out;
  }
  (void)posix_fadvise(src.fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  src.path = path;
  src.left = h.count;
  src.checksum = h.checksum;
  custos__xxh64_init(&src.hs, 0);
  custos__xxh64_update(&src.hs, raw, 56);
  custos_index_config c = {0};
  if (cfg) c = *cfg;
  c.fit_sample = NULL;
  c.fit_count = 0;
  rc = custos_index_build(&c, snap_next, &src, out, err);
  if (rc == CUSTOS_EINVAL || rc == CUSTOS_ECONFLICT) {
    /* A bad record in a file: corrupt, whatever the checksum would say. */
    char msg[CUSTOS_ERR_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s", err ? err->message : "bad record");
    rc = custos__err(err, CUSTOS_ECORRUPT, "index", "snapshot %s: %s", path, msg);
  }
out:
  close(src.fd);
  return rc;
}
