/*
 * Searches: the fast method (7-bit code scan, bounds, exact re-rank), the
 * exact method (the reference), one probe or a batch, on one or more threads.
 *
 * The bound.  Let q be the probe, x a template, q' and x' the points their
 * codes stand for, e_q >= ||q - q'|| and e_x >= ||x - x'|| (computed when
 * they are coded).  By the triangle inequality
 *     L = ||q' - x'|| - e_q - e_x  <=  ||q - x||  <=  ||q' - x'|| + e_q + e_x = U
 * and ||q' - x'|| = unit * sqrt(D) with the kernels' exact integer D.  L and U
 * are widened by a relative 1e-9, far more than the rounding of double
 * arithmetic on these values and than the exact distance's own rounding.
 *
 * The scan keeps, per probe, the exact keys (distance, holder, photo) of the
 * k best holders among the templates it has re-ranked (a max-heap, one entry
 * per holder); T is the k-th of those distances once there are k.  A
 * template with L > T is skipped: its exact distance exceeds that of k other
 * holders' templates, so neither it nor its holder can be in the top k.
 * Every other live template gets its exact distance and enters the heap.
 * What remains in the heap is exactly the exact method's top k, ties
 * included (docs/index.md has the proof).  The kernels test a float version
 * of L <= T with generous slack first, so that few templates reach the
 * double-precision test.
 *
 * Threads take one segment of slots at a time from a shared counter, each
 * with its own heaps; merging the heaps gives the top k (each holder of the
 * top k is in the heap of the thread that saw its best template).  A batch
 * of up to 64 probes scans the codes once: the batch kernel scores each
 * 128-template chunk against every probe while the chunk is in cache.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "index/indexInt.h"

#define CHUNK 256       /* slots per kernel call, one probe */
#define BATCH_CHUNK 128 /* slots per kernel call, a batch */
#define MIN_SLOTS_PER_THREAD 4096
#define BOUND_SLACK 1e-9                    /* relative widening of L and U */
#define PREFILTER_REL 1e-6                  /* the float test's widening of the double test ... */
#define PREFILTER_FLOAT (1.0 + 1.0 / 65536) /* ... and of float rounding */

/* ---- heaps ---------------------------------------------------------------- */

/* The total order of results: distance, then holder, then photo. */
typedef struct ix_key {
  double d2;      /* exact squared distance */
  int64_t holder; /* holder id */
  int64_t photo;  /* photo id */
} ix_key;

static int key_cmp(const ix_key *a, const ix_key *b) {
  if (a->d2 != b->d2) return a->d2 < b->d2 ? -1 : 1;
  if (a->holder != b->holder) return a->holder < b->holder ? -1 : 1;
  if (a->photo != b->photo) return a->photo < b->photo ? -1 : 1;
  return 0;
}

static int key_cmp_void(const void *a, const void *b) {
  return key_cmp(a, b);
}

/* The k least keys of distinct holders, each holder with its least key
 * (max-heap on key). */
typedef struct ix_keyheap {
  size_t k, n;
  ix_key *e;
} ix_keyheap;

static void kh_swap(ix_key *a, ix_key *b) {
  ix_key t = *a;
  *a = *b;
  *b = t;
}

static void kh_sift_down(ix_keyheap *h, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < h->n && key_cmp(&h->e[l], &h->e[m]) > 0) m = l;
    if (r < h->n && key_cmp(&h->e[r], &h->e[m]) > 0) m = r;
    if (m == i) return;
    kh_swap(&h->e[i], &h->e[m]);
    i = m;
  }
}

static void kh_sift_up(ix_keyheap *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (key_cmp(&h->e[i], &h->e[p]) <= 0) return;
    kh_swap(&h->e[i], &h->e[p]);
    i = p;
  }
}

static void kh_offer(ix_keyheap *h, const ix_key *key) {
  /* A key not below the top cannot enter, nor improve its holder's entry
   * (which is at most the top). */
  if (h->n == h->k && key_cmp(key, &h->e[0]) >= 0) return;
  for (size_t i = 0; i < h->n; i++) {
    if (h->e[i].holder != key->holder) continue;
    if (key_cmp(key, &h->e[i]) < 0) {
      h->e[i] = *key;
      kh_sift_down(h, i);
    }
    return;
  }
  if (h->n < h->k) {
    h->e[h->n] = *key;
    kh_sift_up(h, h->n++);
    return;
  }
  h->e[0] = *key;
  kh_sift_down(h, 0);
}

/* ---- per-probe state ------------------------------------------------------ */

typedef struct ix_probe {
  uint8_t q8[IX_DIMS]; /* the probe's codes */
  double e;            /* bound on the distance from the probe to its codes' point */
  const float *x;      /* the probe */
} ix_probe;

/* One probe's search over one thread's range. */
typedef struct ix_qstate {
  ix_keyheap heap; /* exact keys of the k best holders refined so far */
  atomic_uint_least64_t *shared; /* the least T of all threads (bits of a double), or NULL */
  double T;        /* their k-th exact distance (slightly raised), or +inf */
  float thr;       /* the kernels' threshold for T (code units) */
  size_t passed;   /* templates that passed the kernels' test */
  size_t exact;    /* templates whose exact distance was computed */
} ix_qstate;

static float float_up(double x) {
  if (!(x < 1e30)) return INFINITY;
  float f = (float)x;
  if ((double)f < x) f = nextafterf(f, INFINITY);
  return f;
}

/* Threshold of the kernels' float test for T: it passes every template
 * whose L <= T (see kernel.c for the float arithmetic). */
static float prefilter_thr(const ix_version *v, const ix_probe *p, double T) {
  if (!(T < INFINITY)) return INFINITY;
  double t = ((T + p->e) * (1.0 + PREFILTER_REL) + PREFILTER_REL) / v->q.unit;
  return float_up(t * PREFILTER_FLOAT);
}

static float prefilter_eunit(const ix_version *v) {
  return float_up(v->q.e_unit * (1.0 + PREFILTER_REL) / v->q.unit * PREFILTER_FLOAT);
}

static void probe_prepare(const ix_version *v, const float *x, ix_probe *p) {
  p->e = custos__index_encode(&v->q, x, p->q8);
  p->x = x;
}

/* Threads share their T: any thread's T is a valid threshold for all (it
 * stands for k distinct live holders), and two threads halve the time it
 * takes to settle.  Non-negative doubles order like their bit patterns. */
static void shared_lower(atomic_uint_least64_t *shared, double t) {
  uint64_t bits;
  memcpy(&bits, &t, sizeof bits);
  uint64_t cur = atomic_load_explicit(shared, memory_order_relaxed);
  while (bits < cur &&
         !atomic_compare_exchange_weak_explicit(shared, &cur, bits, memory_order_relaxed,
                                                memory_order_relaxed)) {
  }
}

/* Takes the other threads' T when it is lower. */
static void shared_take(const ix_version *v, const ix_probe *p, ix_qstate *st) {
  uint64_t bits = atomic_load_explicit(st->shared, memory_order_relaxed);
  double t;
  memcpy(&t, &bits, sizeof t);
  if (t < st->T) {
    st->T = t;
    st->thr = prefilter_thr(v, p, t);
  }
}

/* Bounds L and U on the exact distance from probe p to slot, whose code
 * distance is d. */
static inline void slot_bounds(const ix_version *v, const ix_probe *p, size_t slot, int32_t d,
                               double *lb, double *ub) {
  const ix_segment *s = ix_seg(v, slot);
  uint8_t eb = s->ebyte[slot & IX_SEG_MASK];
  double eh = eb != IX_EBYTE_LOOKUP ? (double)eb * v->q.e_unit : custos__index_slot_error(v, slot);
  double base = v->q.unit * sqrt((double)d);
  double slack = BOUND_SLACK * (base + p->e + eh + 1.0);
  *lb = base - p->e - eh - slack;
  *ub = base + p->e + eh + slack;
}

/* The double-precision test of a template that passed the kernels' test,
 * and for those that pass it, the exact distance. */
static void refine(const ix_version *v, const ix_probe *p, ix_qstate *st, size_t slot, int32_t d) {
  const ix_segment *s = ix_seg(v, slot);
  size_t off = slot & IX_SEG_MASK;
  double lb, ub;
  slot_bounds(v, p, slot, d, &lb, &ub);
  if (lb > st->T) return;
  if (atomic_load_explicit(&s->state[off], memory_order_acquire) != IX_LIVE) return;
  st->exact++;
  ix_key key = {custos__index_exact_d2(p->x, s->vec + off * IX_DIMS), s->holder[off],
                s->photo[off]};
  kh_offer(&st->heap, &key);
  if (st->heap.n == st->heap.k) {
    /* Raised by 1e-12 relative: a template with L > T then has an exact
     * squared distance above the k-th, whatever sqrt's rounding. */
    double t = sqrt(st->heap.e[0].d2) * (1.0 + 1e-12);
    if (t < st->T) {
      st->T = t;
      st->thr = prefilter_thr(v, p, t);
      if (st->shared) shared_lower(st->shared, t);
    }
  }
}

/* ---- jobs (one thread's share) -------------------------------------------- */

/* Threads take GRAIN slots at a time (one segment) from a shared counter,
 * so that a thread the system delays does less of the work. */
#define GRAIN IX_SEG_SIZE

typedef struct ix_job {
  const ix_version *v;
  atomic_size_t *next; /* the next slot no thread has taken (shared) */
  size_t slots;        /* slots to scan */
  size_t k;
  custos_index_method method;
  const ix_probe *probes; /* np */
  size_t np;
  const uint8_t *q8; /* batch: the probes' codes, padded to 4 probes */
  const int32_t *qn; /* batch: their code norms, padded */
  float eunit;       /* kernels' error-byte step (code units) */
  ix_qstate *st;     /* FAST: np states */
  ix_keyheap *kh;    /* EXACT: np heaps */
  float *thr;        /* batch: the probes' thresholds, padded */
  ix_pass *pass;     /* scratch */
  double *d2;        /* scratch (EXACT) */
  uint64_t sink;     /* streaming floor */
  bool stream;       /* run the streaming floor instead */
} ix_job;

/* The segment that holds slot, with slot's offset in it (*off) and how many of
 * the slots from slot up to end lie in that segment (*len). */
static const ix_segment *seg_run(const ix_version *v, size_t slot, size_t end, size_t *off,
                                 size_t *len) {
  *off = slot & IX_SEG_MASK;
  *len = end - slot;
  if (*len > IX_SEG_SIZE - *off) *len = IX_SEG_SIZE - *off;
  return ix_seg(v, slot);
}

static void run_fast(ix_job *j, size_t begin, size_t end) {
  const ix_version *v = j->v;
  for (size_t slot = begin; slot < end;) {
    size_t off, len;
    const ix_segment *s = seg_run(v, slot, end, &off, &len);
    if (j->st[0].shared) {
      for (size_t q = 0; q < j->np; q++) {
        shared_take(v, &j->probes[q], &j->st[q]);
        if (j->np > 1) j->thr[q] = j->st[q].thr;
      }
    }
    size_t m;
    if (j->np == 1) {
      if (len > CHUNK) len = CHUNK;
      m = custos__index_scan1(s->codes + off * IX_DIMS, s->ebyte + off, len, j->probes[0].q8,
                              v->q.weight, j->st[0].thr, j->eunit, j->pass);
    } else {
      if (len > BATCH_CHUNK) len = BATCH_CHUNK;
      m = custos__index_scanb(s->codes + off * IX_DIMS, s->ebyte + off, len, v->q.weight, j->q8,
                              j->qn, j->thr, j->np, j->eunit, j->pass);
    }
    for (size_t i = 0; i < m; i++) {
      const ix_pass *ps = &j->pass[i];
      ix_qstate *st = &j->st[ps->q];
      st->passed++;
      refine(v, &j->probes[ps->q], st, slot + ps->i, ps->d);
      if (j->np > 1) j->thr[ps->q] = st->thr;
    }
    slot += len;
  }
}

static void run_exact(ix_job *j, size_t begin, size_t end) {
  const ix_version *v = j->v;
  for (size_t slot = begin; slot < end;) {
    size_t off, len;
    const ix_segment *s = seg_run(v, slot, end, &off, &len);
    if (len > CHUNK) len = CHUNK;
    for (size_t q = 0; q < j->np; q++) {
      custos__index_exact_many(j->probes[q].x, s->vec + off * IX_DIMS, len, j->d2);
      for (size_t i = 0; i < len; i++) {
        if (atomic_load_explicit(&s->state[off + i], memory_order_acquire) != IX_LIVE) continue;
        ix_key key = {j->d2[i], s->holder[off + i], s->photo[off + i]};
        kh_offer(&j->kh[q], &key);
      }
    }
    slot += len;
  }
}

static void run_stream(ix_job *j, size_t begin, size_t end) {
  const ix_version *v = j->v;
  uint64_t sink = 0;
  for (size_t slot = begin; slot < end;) {
    size_t off, len;
    const ix_segment *s = seg_run(v, slot, end, &off, &len);
    sink ^= custos__index_stream_bytes(s->codes + off * IX_DIMS, len * IX_DIMS);
    slot += len;
  }
  j->sink ^= sink;
}

static void *job_main(void *arg) {
  ix_job *j = arg;
  for (;;) {
    size_t b = atomic_fetch_add_explicit(j->next, GRAIN, memory_order_relaxed);
    if (b >= j->slots) break;
    size_t e = j->slots - b < GRAIN ? j->slots : b + GRAIN;
    if (j->stream) {
      run_stream(j, b, e);
    } else if (j->method == CUSTOS_INDEX_EXACT) {
      run_exact(j, b, e);
    } else {
      run_fast(j, b, e);
    }
  }
  return NULL;
}

/* Runs jobs[0] on the caller and the others on new threads (or on the
 * caller, when a thread cannot be started). */
static void run_jobs(ix_job *jobs, int n) {
  pthread_t th[CUSTOS_INDEX_MAX_THREADS];
  bool started[CUSTOS_INDEX_MAX_THREADS];
  for (int i = 1; i < n; i++) started[i] = pthread_create(&th[i], NULL, job_main, &jobs[i]) == 0;
  job_main(&jobs[0]);
  for (int i = 1; i < n; i++) {
    if (started[i]) {
      pthread_join(th[i], NULL);
    } else {
      job_main(&jobs[i]);
    }
  }
}

static int threads_for(int threads, size_t slots) {
  size_t most = slots / MIN_SLOTS_PER_THREAD;
  if (most < 1) most = 1;
  if (threads < 1) threads = 1;
  return (size_t)threads > most ? (int)most : threads;
}

static void job_free(ix_job *j) {
  if (j->st) {
    for (size_t q = 0; q < j->np; q++) custos__free(j->st[q].heap.e);
  }
  if (j->kh) {
    for (size_t q = 0; q < j->np; q++) custos__free(j->kh[q].e);
  }
  custos__free(j->st);
  custos__free(j->kh);
  custos__free(j->thr);
  custos__free(j->pass);
  custos__free(j->d2);
}

static int job_alloc(ix_job *j, size_t np_pad) {
  size_t np = j->np, k = j->k;
  if (j->method == CUSTOS_INDEX_EXACT) {
    j->kh = custos__calloc(np, sizeof *j->kh);
    j->d2 = custos__mallocarray(CHUNK, sizeof *j->d2);
    if (j->kh == NULL || j->d2 == NULL) return CUSTOS_ENOMEM;
    for (size_t q = 0; q < np; q++) {
      j->kh[q].k = k;
      j->kh[q].e = custos__mallocarray(k, sizeof *j->kh[q].e);
      if (j->kh[q].e == NULL) return CUSTOS_ENOMEM;
    }
    return CUSTOS_OK;
  }
  j->st = custos__calloc(np, sizeof *j->st);
  j->thr = custos__mallocarray(np_pad, sizeof *j->thr);
  j->pass = custos__mallocarray(np == 1 ? CHUNK : BATCH_CHUNK * np, sizeof *j->pass);
  if (j->st == NULL || j->thr == NULL || j->pass == NULL) return CUSTOS_ENOMEM;
  for (size_t q = 0; q < np_pad; q++) j->thr[q] = INFINITY;
  for (size_t q = 0; q < np; q++) {
    ix_qstate *st = &j->st[q];
    st->heap.k = k;
    st->heap.e = custos__mallocarray(k, sizeof *st->heap.e);
    if (st->heap.e == NULL) return CUSTOS_ENOMEM;
    st->T = INFINITY;
    st->thr = INFINITY;
  }
  return CUSTOS_OK;
}

/* Writes the heap's entries, sorted, as hits; returns their number. */
static size_t heap_to_hits(ix_keyheap *h, custos_index_hit *hits) {
  qsort(h->e, h->n, sizeof *h->e, key_cmp_void);
  for (size_t i = 0; i < h->n; i++) {
    hits[i] = (custos_index_hit){h->e[i].holder, h->e[i].photo, sqrt(h->e[i].d2)};
  }
  return h->n;
}

/* Searches for up to IX_BATCH probes in one pass over the slots. */
static int search_block(const ix_version *v, size_t slots, const float *queries, size_t nq,
                        size_t k, int threads, custos_index_method method, custos_index_hit *hits,
                        size_t *n_hits, custos__index_trace *tr) {
  ix_probe *probes = custos__calloc(nq, sizeof *probes);
  size_t np_pad = (nq + 3) & ~(size_t)3;
  uint8_t *q8 = NULL;
  int32_t *qn = NULL;
  atomic_uint_least64_t *shared = NULL;
  int nt = threads_for(threads, slots);
  ix_job jobs[CUSTOS_INDEX_MAX_THREADS];
  memset(jobs, 0, sizeof jobs);
  atomic_size_t next;
  atomic_init(&next, 0);
  ix_keyheap fin = {k, 0, custos__mallocarray(k, sizeof(ix_key))};
  int rc = CUSTOS_OK;
  if (probes == NULL || fin.e == NULL) {
    rc = CUSTOS_ENOMEM;
    goto out;
  }
  for (size_t q = 0; q < nq; q++) probe_prepare(v, queries + q * IX_DIMS, &probes[q]);
  if (method == CUSTOS_INDEX_FAST && nq > 1) {
    q8 = custos__calloc(np_pad * IX_DIMS, sizeof *q8);
    qn = custos__calloc(np_pad, sizeof *qn);
    if (q8 == NULL || qn == NULL) {
      rc = CUSTOS_ENOMEM;
      goto out;
    }
    for (size_t q = 0; q < nq; q++) {
      memcpy(q8 + q * IX_DIMS, probes[q].q8, IX_DIMS);
      qn[q] = custos__index_code_norm(probes[q].q8, v->q.weight);
    }
  }
  if (method == CUSTOS_INDEX_FAST && nt > 1) {
    shared = custos__mallocarray(nq, sizeof *shared);
    if (shared == NULL) {
      rc = CUSTOS_ENOMEM;
      goto out;
    }
    double inf = INFINITY;
    uint64_t bits;
    memcpy(&bits, &inf, sizeof bits);
    for (size_t q = 0; q < nq; q++) atomic_init(&shared[q], bits);
  }
  for (int t = 0; t < nt; t++) {
    ix_job *j = &jobs[t];
    j->v = v;
    j->next = &next;
    j->slots = slots;
    j->k = k;
    j->method = method;
    j->probes = probes;
    j->np = nq;
    j->q8 = q8;
    j->qn = qn;
    j->eunit = prefilter_eunit(v);
    if (job_alloc(j, np_pad) != CUSTOS_OK) {
      rc = CUSTOS_ENOMEM;
      goto out;
    }
    for (size_t q = 0; shared && q < nq; q++) j->st[q].shared = &shared[q];
  }
  run_jobs(jobs, nt);
  if (tr) tr->threads = nt;
  for (size_t q = 0; q < nq; q++) {
    fin.n = 0;
    for (int t = 0; t < nt; t++) {
      const ix_keyheap *h = method == CUSTOS_INDEX_EXACT ? &jobs[t].kh[q] : &jobs[t].st[q].heap;
      for (size_t i = 0; i < h->n; i++) kh_offer(&fin, &h->e[i]);
      if (tr && method == CUSTOS_INDEX_FAST) {
        tr->passed += jobs[t].st[q].passed;
        tr->candidates += jobs[t].st[q].exact;
      }
    }
    n_hits[q] = heap_to_hits(&fin, hits + q * k);
  }
out:
  for (int t = 0; t < nt; t++) job_free(&jobs[t]);
  custos__free(fin.e);
  custos__free(q8);
  custos__free(shared);
  custos__free(qn);
  custos__free(probes);
  return rc;
}

int custos__index_search_traced(custos_index *idx, const float *queries, size_t nq, size_t k,
                                const custos_index_search_opts *opts, custos_index_hit *hits,
                                size_t *n_hits, custos__index_trace *trace, custos_err *err) {
  custos_index_search_opts o = {1, CUSTOS_INDEX_FAST};
  if (opts) o = *opts;
  if (trace) memset(trace, 0, sizeof *trace);
  if (idx == NULL || (nq > 0 && (queries == NULL || n_hits == NULL)) ||
      (nq > 0 && k > 0 && hits == NULL)) {
    return custos__err(err, CUSTOS_EINVAL, "index", "index, queries or results is NULL");
  }
  if (k > CUSTOS_INDEX_MAX_K) {
    return custos__err(err, CUSTOS_EINVAL, "index", "k %zu is above the limit of %d", k,
                       CUSTOS_INDEX_MAX_K);
  }
  if (o.threads < 0 || o.threads > CUSTOS_INDEX_MAX_THREADS) {
    return custos__err(err, CUSTOS_EINVAL, "index", "threads %d is outside 0..%d", o.threads,
                       CUSTOS_INDEX_MAX_THREADS);
  }
  if (o.method != CUSTOS_INDEX_FAST && o.method != CUSTOS_INDEX_EXACT) {
    return custos__err(err, CUSTOS_EINVAL, "index", "unknown search method %d", (int)o.method);
  }
  for (size_t q = 0; q < nq; q++) {
    for (int d = 0; d < IX_DIMS; d++) {
      if (!isfinite(queries[q * IX_DIMS + (size_t)d])) {
        if (nq == 1) {
          return custos__err(err, CUSTOS_EINVAL, "index", "query: descriptor[%d] is not finite", d);
        }
        return custos__err(err, CUSTOS_EINVAL, "index", "query %zu: descriptor[%d] is not finite",
                           q, d);
      }
    }
  }
  for (size_t q = 0; q < nq; q++) n_hits[q] = 0;
  if (k == 0 || nq == 0) return CUSTOS_OK;
  ix_version *v = custos__index_acquire(idx);
  size_t slots = atomic_load_explicit(&v->count, memory_order_acquire);
  int rc = CUSTOS_OK;
  for (size_t q0 = 0; q0 < nq && rc == CUSTOS_OK; q0 += IX_BATCH) {
    size_t n = nq - q0 < IX_BATCH ? nq - q0 : IX_BATCH;
    rc = search_block(v, slots, queries + q0 * IX_DIMS, n, k, o.threads, o.method, hits + q0 * k,
                      n_hits + q0, trace);
  }
  custos__index_release(idx, v);
  if (rc != CUSTOS_OK) {
    for (size_t q = 0; q < nq; q++) n_hits[q] = 0;
    return custos__err(err, rc, "index", "out of memory searching");
  }
  return CUSTOS_OK;
}

int custos_index_search(custos_index *idx, const float *query, size_t k,
                        const custos_index_search_opts *opts, custos_index_hit *hits,
                        size_t *n_hits, custos_err *err) {
  return custos__index_search_traced(idx, query, 1, k, opts, hits, n_hits, NULL, err);
}

int custos_index_search_batch(custos_index *idx, const float *queries, size_t nq, size_t k,
                              const custos_index_search_opts *opts, custos_index_hit *hits,
                              size_t *n_hits, custos_err *err) {
  return custos__index_search_traced(idx, queries, nq, k, opts, hits, n_hits, NULL, err);
}

int custos__index_bounds(custos_index *idx, const float *query, int64_t photo, double *lb,
                         double *ub) {
  ix_version *v = custos__index_acquire(idx);
  size_t slots = atomic_load_explicit(&v->count, memory_order_acquire);
  int rc = CUSTOS_ENOENT;
  for (size_t slot = 0; slot < slots; slot++) {
    const ix_segment *s = ix_seg(v, slot);
    size_t off = slot & IX_SEG_MASK;
    if (s->photo[off] != photo ||
        atomic_load_explicit(&s->state[off], memory_order_acquire) != IX_LIVE) {
      continue;
    }
    ix_probe p;
    probe_prepare(v, query, &p);
    int32_t d;
    custos__index_code_dist(s->codes + off * IX_DIMS, 1, p.q8, v->q.weight, &d);
    slot_bounds(v, &p, slot, d, lb, ub);
    rc = CUSTOS_OK;
    break;
  }
  custos__index_release(idx, v);
  return rc;
}

int custos__index_stream(custos_index *idx, int threads, uint64_t *sink, custos_err *err) {
  if (idx == NULL || sink == NULL || threads < 1 || threads > CUSTOS_INDEX_MAX_THREADS) {
    return custos__err(err, CUSTOS_EINVAL, "index", "bad arguments to the streaming floor");
  }
  ix_version *v = custos__index_acquire(idx);
  size_t slots = atomic_load_explicit(&v->count, memory_order_acquire);
  int nt = threads_for(threads, slots);
  ix_job jobs[CUSTOS_INDEX_MAX_THREADS];
  memset(jobs, 0, sizeof jobs);
  atomic_size_t next;
  atomic_init(&next, 0);
  for (int t = 0; t < nt; t++) {
    jobs[t].v = v;
    jobs[t].next = &next;
    jobs[t].slots = slots;
    jobs[t].stream = true;
  }
  run_jobs(jobs, nt);
  *sink = 0;
  for (int t = 0; t < nt; t++) *sink ^= jobs[t].sink;
  custos__index_release(idx, v);
  return CUSTOS_OK;
}
