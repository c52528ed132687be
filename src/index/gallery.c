/*
 * The gallery: versions of the index (segments of slots, the photo map, the
 * quantisation), and the writers that change them: add, remove, compact and
 * build.  Searches are in search.c.
 *
 * Concurrency.  Writers take turns on custos_index.wlock.  They only append
 * slots to the current version (data first, then a release store of the slot
 * count) and mark slots removed (an atomic store to the slot's state); a
 * slot's data never changes once published.  A search takes a reference to
 * the current version (a short critical section on vlock), reads the slot
 * count with an acquire load and scans only those slots, so it never sees a
 * half-written template and never waits for a writer.  Compaction builds a
 * new version beside the old one and swaps the pointer; the old version is
 * freed when its last search releases it (reference counting: RCU with
 * counted readers).
 *
 * Quantisation (fitted per version).  For each dimension take the 0.1% and
 * 99.9% quantiles of a sample of up to 8192 templates, widen that range by
 * 25% on each side, and give it 128 codes: scale_d >= range_d / 127.
 * Dimensions are paired by similar spread; a pair's scale is rounded up to
 * unit * sqrt(w_p) with an integer weight w_p <= 127 (the widest pair gets
 * 127), so code distances are exact integers.
 * Values outside the range are clamped; the template's error bound then
 * grows and, past the byte's reach, is recomputed whenever it matters.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "index/indexInt.h"

#define FIT_SAMPLE 8192
#define MAP_EMPTY UINT64_MAX
#define BUILD_CHUNK 4096
#define HUGE_PAGE ((size_t)2 << 20)

/* ---- quantisation --------------------------------------------------------- */

static void quant_from_ranges(ix_quant *q, const double *lo, const double *hi) {
  double need[IX_DIMS], centre[IX_DIMS];
  int order[IX_DIMS];
  for (int d = 0; d < IX_DIMS; d++) {
    double span = hi[d] - lo[d];
    if (!(span >= 1e-2)) span = 1e-2; /* constant (or tiny) dimensions */
    centre[d] = 0.5 * (lo[d] + hi[d]);
    need[d] = 1.5 * span / IX_CODE_MAX;
    order[d] = d;
  }
  /* Dimensions by decreasing need (insertion sort: deterministic), paired
   * with their neighbours in that order. */
  for (int i = 1; i < IX_DIMS; i++) {
    int d = order[i], j = i;
    for (; j > 0 && need[order[j - 1]] < need[d]; j--) order[j] = order[j - 1];
    order[j] = d;
  }
  q->unit = need[order[0]] / sqrt((double)IX_WEIGHT_MAX);
  double sum_s2 = 0;
  for (int p = 0; p < IX_PAIRS; p++) {
    double r = need[order[2 * p]] / q->unit; /* the larger need of the two */
    double w = ceil(r * r);
    if (w < 1) w = 1;
    if (w > IX_WEIGHT_MAX) w = IX_WEIGHT_MAX;
    q->weight[p] = (int16_t)w;
    double sc = q->unit * sqrt(w);
    for (int j = 0; j < 2; j++) {
      int d = order[2 * p + j];
      q->perm[2 * p + j] = (uint8_t)d;
      q->scale[d] = sc;
      q->inv_scale[d] = (float)(1.0 / sc);
      q->offset[d] = centre[d] - 0.5 * IX_CODE_MAX * sc;
      sum_s2 += sc * sc;
    }
  }
  /* Unclamped templates are off by at most scale/2 in every dimension. */
  q->e_unit = 0.5 * sqrt(sum_s2) / IX_EBYTE_PER_NOMINAL;
}

/* Built-in ranges: face-api descriptors lie within about +-0.5 (the demo
 * photos' 22 descriptors: -0.43..0.46); widened, +-0.75. */
static void quant_default(ix_quant *q) {
  double lo[IX_DIMS], hi[IX_DIMS];
  for (int d = 0; d < IX_DIMS; d++) {
    lo[d] = -0.5;
    hi[d] = 0.5;
  }
  quant_from_ranges(q, lo, hi);
}

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

typedef const float *(*vec_at_fn)(const void *ctx, size_t i);

/* Fits q on n descriptors (at(ctx, i) for i < n); n = 0 gives the defaults. */
static int quant_fit(ix_quant *q, vec_at_fn at, const void *ctx, size_t n, custos_err *err) {
  if (n == 0) {
    quant_default(q);
    return CUSTOS_OK;
  }
  size_t m = n < FIT_SAMPLE ? n : FIT_SAMPLE;
  float *rows = custos__mallocarray(m, sizeof(float) * IX_DIMS);
  float *col = custos__mallocarray(m, sizeof(float));
  int rc = CUSTOS_OK;
  if (rows == NULL || col == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, "index", "out of memory fitting the codes");
    goto out;
  }
  for (size_t j = 0; j < m; j++) {
    size_t i = (size_t)((uint64_t)j * n / m);
    memcpy(rows + j * IX_DIMS, at(ctx, i), sizeof(float) * IX_DIMS);
  }
  double lo[IX_DIMS], hi[IX_DIMS];
  for (int d = 0; d < IX_DIMS; d++) {
    for (size_t j = 0; j < m; j++) col[j] = rows[j * IX_DIMS + (size_t)d];
    qsort(col, m, sizeof *col, cmp_float);
    size_t cut = (m - 1) / 1000; /* the 0.1% and 99.9% quantiles */
    lo[d] = col[cut];
    hi[d] = col[m - 1 - cut];
  }
  quant_from_ranges(q, lo, hi);
out:
  custos__free(rows);
  custos__free(col);
  return rc;
}

/* ||x - decoded code||, rounded up past every rounding error of its
 * computation (double arithmetic on values of order 1: far below 1e-12). */
static double code_error(const ix_quant *q, const float *x, const uint8_t *code) {
  double e2 = 0;
  for (int i = 0; i < IX_DIMS; i++) {
    int d = q->perm[i];
    double r = (double)x[d] - (q->offset[d] + q->scale[d] * (double)code[i]);
    e2 += r * r;
  }
  return sqrt(e2) * (1.0 + 1e-12) + 1e-12;
}

double custos__index_encode(const ix_quant *q, const float *x, uint8_t *code) {
  for (int i = 0; i < IX_DIMS; i++) {
    int d = q->perm[i];
    /* Any code is correct (the error bound below is what counts); the
     * nearest one keeps the bound small. */
    float t = ((float)((double)x[d] - q->offset[d])) * q->inv_scale[d];
    int c;
    if (!(t > 0.0f)) {
      c = 0;
    } else if (t >= (float)IX_CODE_MAX) {
      c = IX_CODE_MAX;
    } else {
      c = (int)(t + 0.5f);
    }
    code[i] = (uint8_t)c;
  }
  return code_error(q, x, code);
}

static uint8_t error_byte(const ix_quant *q, double e) {
  double b = ceil(e / q->e_unit * (1.0 + 1e-12));
  if (!(b < (double)IX_EBYTE_LOOKUP)) return IX_EBYTE_LOOKUP;
  return (uint8_t)b;
}

double custos__index_slot_error(const ix_version *v, size_t slot) {
  const ix_segment *s = ix_seg(v, slot);
  size_t off = slot & IX_SEG_MASK;
  uint8_t b = s->ebyte[off];
  if (b != IX_EBYTE_LOOKUP) return (double)b * v->q.e_unit;
  return code_error(&v->q, s->vec + off * IX_DIMS, s->codes + off * IX_DIMS);
}

/* ---- segments and versions ------------------------------------------------ */

/* size bytes (a multiple of 2 MiB) aligned to 2 MiB and marked for
 * transparent huge pages: a scan of the codes then misses the TLB once per
 * 2 MiB instead of once per 4 KiB.  *raw is what to free; the slack before
 * the aligned start is never touched, so it costs address space only.  (Only
 * the codes: the kernel's compaction for huge pages makes filling memory
 * slower, which the descriptors, read only for re-ranking, would not repay.) */
static void *huge_alloc(size_t size, void **raw) {
  unsigned char *p = custos__malloc(size + HUGE_PAGE);
  *raw = p;
  if (p == NULL) return NULL;
  uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  (void)madvise((void *)a, size, MADV_HUGEPAGE); /* advice only: no huge pages is fine */
  return (void *)a;
}

static void segment_free(ix_segment *s) {
  if (s == NULL) return;
  custos__free(s->codes_raw);
  custos__free(s->ebyte);
  custos__free(s->vec);
  custos__free(s->holder);
  custos__free(s->photo);
  custos__free((void *)s->state);
  custos__free(s);
}

static ix_segment *segment_new(void) {
  ix_segment *s = custos__calloc(1, sizeof *s);
  if (s == NULL) return NULL;
  s->codes = huge_alloc(IX_SEG_SIZE * IX_DIMS, &s->codes_raw);
  s->ebyte = custos__malloc(IX_SEG_SIZE);
  s->vec = custos__mallocarray(IX_SEG_SIZE, sizeof(float) * IX_DIMS);
  s->holder = custos__mallocarray(IX_SEG_SIZE, sizeof(int64_t));
  s->photo = custos__mallocarray(IX_SEG_SIZE, sizeof(int64_t));
  s->state = custos__calloc(IX_SEG_SIZE, sizeof(atomic_uchar));
  if (!s->codes || !s->ebyte || !s->vec || !s->holder || !s->photo || !s->state) {
    segment_free(s);
    return NULL;
  }
  return s;
}

static size_t segment_bytes(void) {
  return IX_SEG_SIZE * (IX_DIMS + 1 + sizeof(float) * IX_DIMS + 2 * sizeof(int64_t) + 1);
}

static void version_free(ix_version *v) {
  if (v == NULL) return;
  for (size_t i = 0; i < v->nseg; i++) segment_free(v->dir[i]);
  custos__free(v->dir);
  custos__free(v->map.e);
  custos__free(v);
}

static ix_version *version_new(size_t dir_cap) {
  ix_version *v = custos__calloc(1, sizeof *v);
  if (v == NULL) return NULL;
  v->dir = custos__calloc(dir_cap, sizeof *v->dir);
  if (v->dir == NULL) {
    custos__free(v);
    return NULL;
  }
  v->dir_cap = dir_cap;
  atomic_init(&v->count, 0);
  atomic_init(&v->live, 0);
  atomic_init(&v->removed, 0);
  atomic_init(&v->outliers, 0);
  return v;
}

/* Makes sure slots [0, slots) have segments. */
static int version_reserve(ix_version *v, size_t slots) {
  size_t need = (slots + IX_SEG_SIZE - 1) >> IX_SEG_SHIFT;
  if (need > v->dir_cap) return CUSTOS_ETOOBIG;
  while (v->nseg < need) {
    ix_segment *s = segment_new();
    if (s == NULL) return CUSTOS_ENOMEM;
    v->dir[v->nseg++] = s;
  }
  return CUSTOS_OK;
}

static const float *version_vec_at(const void *ctx, size_t slot) {
  const ix_version *v = ctx;
  return ix_seg(v, slot)->vec + (slot & IX_SEG_MASK) * IX_DIMS;
}

static const float *array_vec_at(const void *ctx, size_t i) {
  const custos_index_template *t = ctx;
  return t[i].descriptor;
}

typedef struct encode_job {
  ix_version *v;
  size_t from, to; /* slots */
} encode_job;

static void *encode_main(void *arg) {
  encode_job *j = arg;
  ix_version *v = j->v;
  size_t outliers = 0;
  for (size_t slot = j->from; slot < j->to; slot++) {
    ix_segment *s = ix_seg(v, slot);
    size_t off = slot & IX_SEG_MASK;
    double e = custos__index_encode(&v->q, s->vec + off * IX_DIMS, s->codes + off * IX_DIMS);
    s->ebyte[off] = error_byte(&v->q, e);
    if (s->ebyte[off] == IX_EBYTE_LOOKUP) outliers++;
  }
  atomic_fetch_add(&v->outliers, outliers);
  return NULL;
}

/* Codes slots [from, to) with v's quantisation, on up to 8 threads when
 * there are many (a build or load of 1M templates spends most of its time
 * here). */
static void version_encode(ix_version *v, size_t from, size_t to) {
  enum { MAX_THREADS = 8, MIN_SLOTS = 65536 };
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  size_t nt = (to - from) / MIN_SLOTS;
  if (nt > (size_t)cpus) nt = cpus > 0 ? (size_t)cpus : 1;
  if (nt > MAX_THREADS) nt = MAX_THREADS;
  if (nt < 1) nt = 1;
  encode_job jobs[MAX_THREADS];
  pthread_t th[MAX_THREADS];
  bool started[MAX_THREADS];
  for (size_t t = 0; t < nt; t++) {
    jobs[t] = (encode_job){v, from + (to - from) * t / nt, from + (to - from) * (t + 1) / nt};
    started[t] = t > 0 && pthread_create(&th[t], NULL, encode_main, &jobs[t]) == 0;
  }
  encode_main(&jobs[0]);
  for (size_t t = 1; t < nt; t++) {
    if (started[t]) {
      pthread_join(th[t], NULL);
    } else {
      encode_main(&jobs[t]);
    }
  }
}

/* ---- the photo map -------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

static uint32_t photo_tag(int64_t photo) {
  return (uint32_t)(mix64((uint64_t)photo) >> 32);
}

static int64_t slot_photo(const ix_version *v, size_t slot) {
  return ix_seg(v, slot)->photo[slot & IX_SEG_MASK];
}

/* Slot of photo, or SIZE_MAX; *pos is its entry (or the empty entry that
 * ends its probe sequence). */
static size_t map_find(const ix_version *v, int64_t photo, size_t *pos) {
  const ix_map *m = &v->map;
  if (m->cap == 0) return SIZE_MAX;
  uint32_t tag = photo_tag(photo);
  size_t mask = m->cap - 1;
  for (size_t i = tag & mask;; i = (i + 1) & mask) {
    uint64_t e = m->e[i];
    if (e == MAP_EMPTY) {
      if (pos) *pos = i;
      return SIZE_MAX;
    }
    if ((uint32_t)(e >> 32) == tag && slot_photo(v, (uint32_t)e) == photo) {
      if (pos) *pos = i;
      return (uint32_t)e;
    }
  }
}

/* Room for `extra` more entries at a load of at most one half.  The position
 * of an entry comes from its tag, so growing needs no photo ids. */
static int map_reserve(ix_map *m, size_t extra) {
  size_t want = m->cap ? m->cap : 64;
  while ((m->n + extra) * 2 > want) want *= 2;
  if (want == m->cap) return CUSTOS_OK;
  uint64_t *e = custos__mallocarray(want, sizeof *e);
  if (e == NULL) return CUSTOS_ENOMEM;
  memset(e, 0xff, want * sizeof *e);
  for (size_t i = 0; i < m->cap; i++) {
    if (m->e[i] == MAP_EMPTY) continue;
    size_t j = (size_t)(m->e[i] >> 32) & (want - 1);
    while (e[j] != MAP_EMPTY) j = (j + 1) & (want - 1);
    e[j] = m->e[i];
  }
  custos__free(m->e);
  m->e = e;
  m->cap = want;
  return CUSTOS_OK;
}

static void map_put_at(ix_map *m, size_t pos, int64_t photo, size_t slot) {
  m->e[pos] = ((uint64_t)photo_tag(photo) << 32) | (uint64_t)slot;
  m->n++;
}

/* Deletes entry pos, shifting later entries of its cluster back (linear
 * probing without tombstones). */
static void map_delete_at(ix_map *m, size_t pos) {
  size_t mask = m->cap - 1, i = pos, j = pos;
  for (;;) {
    j = (j + 1) & mask;
    if (m->e[j] == MAP_EMPTY) break;
    size_t home = (size_t)(m->e[j] >> 32) & mask;
    /* The entry at j may move to i unless its home lies cyclically in (i, j]. */
    bool stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
    if (!stays) {
      m->e[i] = m->e[j];
      i = j;
    }
  }
  m->e[i] = MAP_EMPTY;
  m->n--;
}

/* ---- index ---------------------------------------------------------------- */

static int check_descriptor(const float *x, size_t i, const char *what, custos_err *err) {
  for (int d = 0; d < IX_DIMS; d++) {
    if (!isfinite(x[d])) {
      return custos__err(err, CUSTOS_EINVAL, "index", "%s %zu: descriptor[%d] is not finite", what,
                         i, d);
    }
  }
  return CUSTOS_OK;
}

static int index_alloc(const custos_index_config *cfg, custos_index **out, custos_err *err) {
  size_t max = cfg && cfg->max_templates ? cfg->max_templates : CUSTOS_INDEX_DEFAULT_MAX_TEMPLATES;
  if (max > CUSTOS_INDEX_HARD_MAX_TEMPLATES) {
    return custos__err(err, CUSTOS_EINVAL, "index", "max_templates %zu is above the limit of %zu",
                       max, (size_t)CUSTOS_INDEX_HARD_MAX_TEMPLATES);
  }
  custos_index *idx = custos__calloc(1, sizeof *idx);
  /* Room for the limit plus one segment of removed slots before an add has
   * to compact. */
  ix_version *v = version_new(((max + IX_SEG_SIZE - 1) >> IX_SEG_SHIFT) + 1);
  if (idx == NULL || v == NULL) {
    custos__free(idx);
    version_free(v);
    return custos__err(err, CUSTOS_ENOMEM, "index", "out of memory creating an index");
  }
  pthread_mutex_init(&idx->wlock, NULL);
  pthread_mutex_init(&idx->vlock, NULL);
  idx->max_templates = max;
  v->refs = 1;
  idx->cur = v;
  *out = idx;
  return CUSTOS_OK;
}

int custos_index_new(const custos_index_config *cfg, custos_index **out, custos_err *err) {
  if (out == NULL) return custos__err(err, CUSTOS_EINVAL, "index", "out is NULL");
  *out = NULL;
  size_t n = 0;
  if (cfg && cfg->fit_sample) {
    n = cfg->fit_count;
    for (size_t i = 0; i < n; i++) {
      int rc = check_descriptor(cfg->fit_sample[i].descriptor, i, "fit sample", err);
      if (rc != CUSTOS_OK) return rc;
    }
  }
  custos_index *idx;
  int rc = index_alloc(cfg, &idx, err);
  if (rc != CUSTOS_OK) return rc;
  rc = quant_fit(&idx->cur->q, array_vec_at, n ? cfg->fit_sample : NULL, n, err);
  if (rc != CUSTOS_OK) {
    custos_index_free(idx);
    return rc;
  }
  *out = idx;
  return CUSTOS_OK;
}

void custos_index_free(custos_index *idx) {
  if (idx == NULL) return;
  version_free(idx->cur);
  pthread_mutex_destroy(&idx->wlock);
  pthread_mutex_destroy(&idx->vlock);
  custos__free(idx);
}

ix_version *custos__index_acquire(custos_index *idx) {
  pthread_mutex_lock(&idx->vlock);
  ix_version *v = idx->cur;
  v->refs++;
  pthread_mutex_unlock(&idx->vlock);
  return v;
}

void custos__index_release(custos_index *idx, ix_version *v) {
  pthread_mutex_lock(&idx->vlock);
  bool last = --v->refs == 0;
  pthread_mutex_unlock(&idx->vlock);
  if (last) version_free(v);
}

static int compact_locked(custos_index *idx, custos_err *err);

/*
 * Appends n checked templates to v (the caller holds wlock, or v is private).
 * With encode false the codes are left for the caller.  All or nothing.
 */
static int append_locked(custos_index *idx, ix_version **vp, const custos_index_template *t,
                         size_t n, bool encode, custos_err *err) {
  ix_version *v = *vp;
  size_t live = atomic_load(&v->live);
  if (n > idx->max_templates - live) {
    return custos__err(err, CUSTOS_ETOOBIG, "index",
                       "the index would hold %zu templates, more than its limit of %zu", live + n,
                       idx->max_templates);
  }
  size_t count = atomic_load_explicit(&v->count, memory_order_relaxed);
  if (n > v->dir_cap * IX_SEG_SIZE - count && atomic_load(&v->removed) > 0) {
    int rc = compact_locked(idx, err); /* reclaim removed slots */
    if (rc != CUSTOS_OK) return rc;
    *vp = v = idx->cur;
    count = atomic_load_explicit(&v->count, memory_order_relaxed);
  }
  if (n > v->dir_cap * IX_SEG_SIZE - count) {
    return custos__err(err, CUSTOS_ETOOBIG, "index", "no free slots for %zu templates", n);
  }
  int rc = version_reserve(v, count + n);
  if (rc == CUSTOS_OK) rc = map_reserve(&v->map, n);
  if (rc != CUSTOS_OK) return custos__err(err, rc, "index", "out of memory adding templates");
  /* Ids first (the slots are not published yet), so that map lookups of
   * templates earlier in this batch find their photo ids. */
  for (size_t i = 0; i < n; i++) {
    ix_segment *s = ix_seg(v, count + i);
    size_t off = (count + i) & IX_SEG_MASK;
    s->holder[off] = t[i].holder;
    s->photo[off] = t[i].photo;
  }
  for (size_t i = 0; i < n; i++) {
    size_t pos;
    size_t found = map_find(v, t[i].photo, &pos);
    if (found != SIZE_MAX) {
      for (size_t j = 0; j < i; j++) {
        size_t pj;
        map_find(v, t[j].photo, &pj);
        map_delete_at(&v->map, pj);
      }
      return custos__err(err, CUSTOS_ECONFLICT, "index", "photo %lld is %s", (long long)t[i].photo,
                         found >= count ? "twice in the templates added" : "already in the index");
    }
    map_put_at(&v->map, pos, t[i].photo, count + i);
  }
  size_t outliers = 0;
  for (size_t i = 0; i < n; i++) {
    ix_segment *s = ix_seg(v, count + i);
    size_t off = (count + i) & IX_SEG_MASK;
    memcpy(s->vec + off * IX_DIMS, t[i].descriptor, sizeof(float) * IX_DIMS);
    if (encode) {
      double e = custos__index_encode(&v->q, t[i].descriptor, s->codes + off * IX_DIMS);
      s->ebyte[off] = error_byte(&v->q, e);
      if (s->ebyte[off] == IX_EBYTE_LOOKUP) outliers++;
    }
    atomic_store_explicit(&s->state[off], IX_LIVE, memory_order_relaxed);
  }
  atomic_fetch_add(&v->outliers, outliers);
  atomic_fetch_add(&v->live, n);
  /* Publish: a search that reads the new count sees every byte above. */
  atomic_store_explicit(&v->count, count + n, memory_order_release);
  return CUSTOS_OK;
}

int custos_index_add(custos_index *idx, const custos_index_template *t, size_t n, custos_err *err) {
  if (idx == NULL || (n > 0 && t == NULL)) {
    return custos__err(err, CUSTOS_EINVAL, "index", "index or templates is NULL");
  }
  for (size_t i = 0; i < n; i++) {
    int rc = check_descriptor(t[i].descriptor, i, "template", err);
    if (rc != CUSTOS_OK) return rc;
  }
  if (n == 0) return CUSTOS_OK;
  pthread_mutex_lock(&idx->wlock);
  ix_version *v = idx->cur;
  int rc = append_locked(idx, &v, t, n, true, err);
  pthread_mutex_unlock(&idx->wlock);
  return rc;
}

int custos_index_remove(custos_index *idx, int64_t photo, custos_err *err) {
  if (idx == NULL) return custos__err(err, CUSTOS_EINVAL, "index", "index is NULL");
  pthread_mutex_lock(&idx->wlock);
  ix_version *v = idx->cur;
  size_t pos;
  size_t slot = map_find(v, photo, &pos);
  int rc = CUSTOS_OK;
  if (slot == SIZE_MAX) {
    rc = custos__err(err, CUSTOS_ENOENT, "index", "photo %lld is not in the index",
                     (long long)photo);
  } else {
    ix_segment *s = ix_seg(v, slot);
    atomic_store_explicit(&s->state[slot & IX_SEG_MASK], IX_REMOVED, memory_order_release);
    if (s->ebyte[slot & IX_SEG_MASK] == IX_EBYTE_LOOKUP) atomic_fetch_sub(&v->outliers, 1);
    map_delete_at(&v->map, pos);
    atomic_fetch_sub(&v->live, 1);
    atomic_fetch_add(&v->removed, 1);
  }
  pthread_mutex_unlock(&idx->wlock);
  return rc;
}

/* Fits v's codes on its own templates and codes them all. */
static int version_fit_encode(ix_version *v, custos_err *err) {
  size_t count = atomic_load_explicit(&v->count, memory_order_relaxed);
  int rc = quant_fit(&v->q, version_vec_at, v, count, err);
  if (rc != CUSTOS_OK) return rc;
  atomic_store(&v->outliers, 0);
  version_encode(v, 0, count);
  return CUSTOS_OK;
}

static int compact_locked(custos_index *idx, custos_err *err) {
  ix_version *old = idx->cur;
  ix_version *nv = version_new(old->dir_cap);
  int rc = CUSTOS_OK;
  if (nv == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, "index", "out of memory compacting the index");
    goto out;
  }
  size_t count = atomic_load_explicit(&old->count, memory_order_relaxed);
  size_t live = atomic_load(&old->live);
  if (version_reserve(nv, live) != CUSTOS_OK || map_reserve(&nv->map, live) != CUSTOS_OK) {
    rc = custos__err(err, CUSTOS_ENOMEM, "index", "out of memory compacting the index");
    goto out;
  }
  size_t j = 0;
  for (size_t slot = 0; slot < count; slot++) {
    const ix_segment *s = ix_seg(old, slot);
    size_t off = slot & IX_SEG_MASK;
    if (atomic_load_explicit(&s->state[off], memory_order_relaxed) != IX_LIVE) continue;
    ix_segment *d = ix_seg(nv, j);
    size_t doff = j & IX_SEG_MASK;
    memcpy(d->vec + doff * IX_DIMS, s->vec + off * IX_DIMS, sizeof(float) * IX_DIMS);
    d->holder[doff] = s->holder[off];
    d->photo[doff] = s->photo[off];
    atomic_store_explicit(&d->state[doff], IX_LIVE, memory_order_relaxed);
    size_t pos;
    map_find(nv, s->photo[off], &pos);
    map_put_at(&nv->map, pos, s->photo[off], j);
    j++;
  }
  assert(j == live);
  atomic_store_explicit(&nv->count, j, memory_order_relaxed);
  atomic_store(&nv->live, j);
  rc = version_fit_encode(nv, err);
  if (rc != CUSTOS_OK) goto out;
  atomic_store_explicit(&nv->count, j, memory_order_release);
  pthread_mutex_lock(&idx->vlock);
  nv->refs = 1;
  idx->cur = nv;
  bool last = --old->refs == 0;
  pthread_mutex_unlock(&idx->vlock);
  if (last) version_free(old);
  nv = NULL;
out:
  version_free(nv);
  return rc;
}

int custos_index_compact(custos_index *idx, custos_err *err) {
  if (idx == NULL) return custos__err(err, CUSTOS_EINVAL, "index", "index is NULL");
  pthread_mutex_lock(&idx->wlock);
  int rc = compact_locked(idx, err);
  pthread_mutex_unlock(&idx->wlock);
  return rc;
}

int custos_index_build(const custos_index_config *cfg, custos_index_source_fn next, void *ctx,
                       custos_index **out, custos_err *err) {
  if (out == NULL || next == NULL) {
    return custos__err(err, CUSTOS_EINVAL, "index", "out or source is NULL");
  }
  *out = NULL;
  custos_index *idx = NULL;
  custos_index_template *buf = NULL;
  int rc = index_alloc(cfg, &idx, err);
  if (rc != CUSTOS_OK) return rc;
  buf = custos__mallocarray(BUILD_CHUNK, sizeof *buf);
  if (buf == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, "index", "out of memory building an index");
    goto out;
  }
  ix_version *v = idx->cur; /* private until returned: no locks needed */
  size_t seen = 0;
  for (;;) {
    size_t n = 0;
    rc = next(ctx, buf, BUILD_CHUNK, &n, err);
    if (rc != CUSTOS_OK) goto out;
    if (n == 0) break;
    if (n > BUILD_CHUNK) {
      rc = custos__err(err, CUSTOS_EINVAL, "index", "the source gave %zu templates, room was %d", n,
                       BUILD_CHUNK);
      goto out;
    }
    for (size_t i = 0; i < n; i++) {
      rc = check_descriptor(buf[i].descriptor, seen + i, "template", err);
      if (rc != CUSTOS_OK) goto out;
    }
    rc = append_locked(idx, &v, buf, n, false, err);
    if (rc != CUSTOS_OK) goto out;
    seen += n;
  }
  rc = version_fit_encode(v, err);
  if (rc != CUSTOS_OK) goto out;
  atomic_thread_fence(memory_order_release);
  *out = idx;
  idx = NULL;
out:
  custos__free(buf);
  custos_index_free(idx);
  return rc;
}

size_t custos_index_count(custos_index *idx) {
  if (idx == NULL) return 0;
  ix_version *v = custos__index_acquire(idx);
  size_t n = atomic_load(&v->live);
  custos__index_release(idx, v);
  return n;
}

void custos_index_stats_get(custos_index *idx, custos_index_stats *st) {
  memset(st, 0, sizeof *st);
  if (idx == NULL) return;
  pthread_mutex_lock(&idx->wlock);
  const ix_version *v = idx->cur;
  st->templates = atomic_load(&v->live);
  st->removed = atomic_load(&v->removed);
  st->outliers = atomic_load(&v->outliers);
  st->bytes = sizeof *idx + sizeof *v + v->dir_cap * sizeof *v->dir +
              v->nseg * (sizeof(ix_segment) + segment_bytes()) + v->map.cap * sizeof *v->map.e;
  st->scan_bytes = IX_DIMS + 1;
  st->max_templates = idx->max_templates;
  pthread_mutex_unlock(&idx->wlock);
}
