/*
 * The gallery index: every template of the gallery in memory, searched for
 * the k licence holders nearest to a probe descriptor.
 *
 * A template is one 128-d face descriptor with the holder it belongs to and
 * the photo it was computed from (photo ids are unique within an index).  A
 * search ranks holders, not templates: each holder counts once, with its
 * template nearest to the probe, and the holders come nearest first.  The
 * order is total: by distance, then holder id, then photo id, so two runs, two
 * thread counts or the two methods below always give the same list.
 *
 * Searches are exact.  The fast method scans 7-bit codes of the descriptors,
 * keeps every template whose guaranteed lower bound on the true distance
 * could still place it in the top k, and re-ranks those with the exact
 * distance; its results are identical to those of the exact method, which
 * computes the exact distance to every template (docs/index.md has the
 * proof).  "Exact distance" means the squared Euclidean distance computed in
 * double precision from the float descriptors, in one fixed order of
 * operations; the distance reported is its square root.
 *
 * Threads: searches, adds, removes, compaction and saving may run at the same
 * time from any threads; writers (add, remove, compact, save) take turns.  A
 * search sees every template completely or not at all: it reflects every
 * change that finished before it started, and a change made while it runs
 * either fully or not at all.  custos_index_free must not race with anything.
 */
#ifndef CUSTOS_INDEX_H
#define CUSTOS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "custos/error.h"

#define CUSTOS_INDEX_DIMS 128       /* floats in a descriptor */
#define CUSTOS_INDEX_MAX_K 1000     /* most holders one search returns */
#define CUSTOS_INDEX_MAX_THREADS 64 /* most threads one search uses */
/* Most live templates an index holds unless its configuration says less. */
#define CUSTOS_INDEX_DEFAULT_MAX_TEMPLATES ((size_t)64 << 20)
/* Most live templates any index holds (slot numbers are 32-bit). */
#define CUSTOS_INDEX_HARD_MAX_TEMPLATES ((size_t)1 << 31)

typedef struct custos_index custos_index;

/* One template.  The layout is also a snapshot record (528 bytes). */
typedef struct custos_index_template {
  int64_t holder;                      /* licence holder the face belongs to */
  int64_t photo;                       /* photo it was computed from; unique in an index */
  float descriptor[CUSTOS_INDEX_DIMS]; /* face descriptor; every value finite */
} custos_index_template;

/* How to make an index.  A zeroed struct (or NULL) means the defaults. */
typedef struct custos_index_config {
  size_t max_templates; /* most live templates; 0 = CUSTOS_INDEX_DEFAULT_MAX_TEMPLATES */
  /* Descriptors the codes are fitted on (custos_index_new only; build,
   * load and compact fit on the gallery itself).  NULL = built-in ranges that
   * suit face-api descriptors; the results are exact either way, a good fit
   * only makes searches faster. */
  const custos_index_template *fit_sample;
  size_t fit_count; /* templates in fit_sample */
} custos_index_config;

/* One holder in a search result. */
typedef struct custos_index_hit {
  int64_t holder;  /* the holder */
  int64_t photo;   /* the holder's template nearest to the probe */
  double distance; /* Euclidean distance from the probe to that template */
} custos_index_hit;

typedef enum custos_index_method {
  CUSTOS_INDEX_FAST = 0, /* code scan + exact re-rank; same results as EXACT */
  CUSTOS_INDEX_EXACT = 1 /* exact distance to every template: the reference */
} custos_index_method;

/* How to run a search.  A zeroed struct (or NULL) means one thread, FAST. */
typedef struct custos_index_search_opts {
  int threads;                /* threads for one search or batch: 0 or 1 = the caller's only */
  custos_index_method method; /* FAST or EXACT */
} custos_index_search_opts;

/* What an index holds; a moment's view (writers may be changing it). */
typedef struct custos_index_stats {
  size_t templates;       /* live templates */
  size_t removed;         /* removed templates whose slots compaction would reclaim */
  size_t outliers;        /* live templates far outside the fitted code ranges */
  size_t bytes;           /* memory the index holds */
  size_t scan_bytes;      /* bytes a fast search streams per template (code + bound) */
  uint64_t max_templates; /* the configured limit */
} custos_index_stats;

/* The stamp a snapshot is checked against: the caller's generation number of
 * its store and the number of templates the store holds. */
typedef struct custos_index_stamp {
  uint64_t generation; /* caller-defined; changes whenever the gallery changes */
  uint64_t count;      /* templates */
} custos_index_stamp;

/* What a snapshot file's header says. */
typedef struct custos_index_snapshot_header {
  uint32_t version;    /* file format version */
  uint64_t count;      /* templates */
  uint64_t generation; /* the stamp given to custos_index_save */
  uint64_t checksum;   /* XXH64 of the header's first 56 bytes and the records */
} custos_index_snapshot_header;

/*
 * Supplies the templates of custos_index_build: fills buf[0..cap) with the
 * next templates and sets *n to their number, 0 at the end.  Returns
 * CUSTOS_OK or an error code, which stops the build and is returned by it
 * (with *err as the source filled it).  The store feeds the index through
 * this at start-up.
 */
typedef int (*custos_index_source_fn)(void *ctx, custos_index_template *buf, size_t cap, size_t *n,
                                      custos_err *err);

/* A new, empty index.  cfg NULL means the defaults.  The caller frees *out
 * with custos_index_free.  Errors: CUSTOS_EINVAL (a limit above the hard
 * maximum, a non-finite value in the fit sample), CUSTOS_ENOMEM. */
CUSTOS_API int custos_index_new(const custos_index_config *cfg, custos_index **out,
                                custos_err *err);

/* An index holding every template the source gives, its codes fitted on
 * them.  Errors: the source's, CUSTOS_EINVAL (a non-finite value; the message
 * names the template and dimension), CUSTOS_ECONFLICT (a photo id twice),
 * CUSTOS_ETOOBIG (more than max_templates), CUSTOS_ENOMEM.  *out is NULL on
 * error. */
CUSTOS_API int custos_index_build(const custos_index_config *cfg, custos_index_source_fn next,
                                  void *ctx, custos_index **out, custos_err *err);

/* Frees an index and everything it holds; NULL-safe. */
CUSTOS_API void custos_index_free(custos_index *idx);

/* Adds n templates, all or none; the index copies them.  Errors:
 * CUSTOS_EINVAL (a non-finite value), CUSTOS_ECONFLICT (a photo id already in
 * the index or twice in t), CUSTOS_ETOOBIG (the index would hold more than
 * max_templates), CUSTOS_ENOMEM; the index is then unchanged. */
CUSTOS_API int custos_index_add(custos_index *idx, const custos_index_template *t, size_t n,
                                custos_err *err);

/* Removes the template of a photo.  Errors: CUSTOS_ENOENT (no such photo). */
CUSTOS_API int custos_index_remove(custos_index *idx, int64_t photo, custos_err *err);

/* Rebuilds the index without removed templates, its codes refitted on the
 * live ones, and switches searches to it; searches keep running meanwhile.
 * Needs memory for a second copy while it runs.  Errors: CUSTOS_ENOMEM (the
 * index is then unchanged). */
CUSTOS_API int custos_index_compact(custos_index *idx, custos_err *err);

/* Live templates in the index. */
CUSTOS_API size_t custos_index_count(custos_index *idx);

/* Fills *st. */
CUSTOS_API void custos_index_stats_get(custos_index *idx, custos_index_stats *st);

/*
 * The k holders nearest to query (CUSTOS_INDEX_DIMS floats), nearest first,
 * into hits[0..*n_hits); *n_hits is min(k, holders in the index).  k = 0
 * gives no hits.  opts NULL means one thread, FAST.  Errors: CUSTOS_EINVAL (a
 * non-finite value in the query, k > CUSTOS_INDEX_MAX_K, threads out of
 * range, an unknown method), CUSTOS_ENOMEM.
 */
CUSTOS_API int custos_index_search(custos_index *idx, const float *query, size_t k,
                                   const custos_index_search_opts *opts, custos_index_hit *hits,
                                   size_t *n_hits, custos_err *err);

/*
 * nq searches in one pass over the gallery per 64 queries: queries holds
 * nq * CUSTOS_INDEX_DIMS floats, hits has room for nq * k hits (query i's at
 * hits[i * k]) and n_hits for nq counts.  Results are those of nq calls of
 * custos_index_search.  Errors as custos_index_search (the message names the
 * query at fault).
 */
CUSTOS_API int custos_index_search_batch(custos_index *idx, const float *queries, size_t nq,
                                         size_t k, const custos_index_search_opts *opts,
                                         custos_index_hit *hits, size_t *n_hits, custos_err *err);

/*
 * Writes the live templates to path atomically (a temporary file, fsync,
 * rename), stamped with generation and the count; adds and removes wait
 * meanwhile.  The format is in docs/index.md.  Errors: CUSTOS_EIO (the
 * message names the file and the system error).
 */
CUSTOS_API int custos_index_save(custos_index *idx, const char *path, uint64_t generation,
                                 custos_err *err);

/* Reads and checks only the header of a snapshot.  Errors as
 * custos_index_load, except that the records are not read. */
CUSTOS_API int custos_index_snapshot_info(const char *path, custos_index_snapshot_header *info,
                                          custos_err *err);

/*
 * An index holding the templates of a snapshot (as custos_index_build).
 * expect NULL skips the staleness check.  Errors: CUSTOS_ENOENT (no file),
 * CUSTOS_ECORRUPT (not a snapshot, truncated, trailing bytes, checksum
 * mismatch, a bad record), CUSTOS_EVERSION (another format version),
 * CUSTOS_ECONFLICT (stale: its generation or count is not expect's),
 * CUSTOS_ETOOBIG (more than max_templates), CUSTOS_EIO, CUSTOS_ENOMEM.  On
 * ECORRUPT, EVERSION and ECONFLICT the caller rebuilds the index from the
 * store and saves a fresh snapshot.
 */
CUSTOS_API int custos_index_load(const custos_index_config *cfg, const char *path,
                                 const custos_index_stamp *expect, custos_index **out,
                                 custos_err *err);

#endif
