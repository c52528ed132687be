/*
 * De-duplication at enrolment: every photo an import enrols is compared with
 * the whole gallery, and another holder whose template is closer than the
 * policy's dedup_threshold is a possible duplicate for an examiner to look at.
 *
 * The gallery lives in the index of include/custos/index.h (exact search:
 * its fast method returns what a full scan returns), loaded once from the
 * store's templates of the import's model and kept in step by the store's
 * template generation: at the start of each batch transaction, if the
 * generation is not the one this import last left it at, another process has
 * changed the gallery and it is loaded again.  Each new template is added as
 * soon as it is compared, so the rows of one import, and of one batch, are
 * compared with each other too.
 *
 * A search ranks holders, each once with its nearest template, so the
 * holder's own earlier photos (renewals) are skipped by holder id.
 */
#include <stdio.h>
#include <string.h>

#include "core/coreInt.h"
#include "core/importInt.h"
#include "util/util.h"

#define MOD "dedup"
struct custos__dedup {
  custos_index *idx; /* the gallery */
  char model[CUSTOS_MODEL_MAX + 1];
  char *snapshot;     /* the gallery's snapshot file, or NULL */
  double threshold;   /* distance below which two photos are one person */
  int64_t generation; /* the store's template generation the index matches */
};

/* Replaces d's index with the store's templates as t sees them. */
static int load(custos__dedup *d, custos_txn *t, custos_err *err) {
  custos_index *idx = NULL;
  int64_t gen = 0;
  int rc = custos__core_gallery_load(t, d->model, d->snapshot, &idx, &gen, err);
  if (rc != CUSTOS_OK) return rc;
  custos_index_free(d->idx);
  d->idx = idx;
  d->generation = gen;
  return CUSTOS_OK;
}

int custos__dedup_open(custos_txn *t, const char *model, const char *snapshot, double threshold,
                       custos__dedup **out, custos_err *err) {
  *out = NULL;
  if (!(threshold > 0)) return custos__err(err, CUSTOS_EINVAL, MOD, "dedup_threshold: not > 0");
  custos__dedup *d = custos__calloc(1, sizeof *d);
  if (d == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  snprintf(d->model, sizeof d->model, "%s", model);
  d->threshold = threshold;
  if (snapshot != NULL && (d->snapshot = custos__strdup(snapshot)) == NULL) {
    custos__dedup_free(d);
    return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  }
  int rc = load(d, t, err);
  if (rc != CUSTOS_OK) {
    custos__dedup_free(d);
    return rc;
  }
  *out = d;
  return CUSTOS_OK;
}

void custos__dedup_free(custos__dedup *d) {
  if (d == NULL) return;
  custos_index_free(d->idx);
  custos__free(d->snapshot);
  custos__free(d);
}

int custos__dedup_sync(custos__dedup *d, custos_txn *t, custos_err *err) {
  int64_t gen = 0;
  int rc = custos__store_template_generation(t, &gen, err);
  if (rc != CUSTOS_OK || gen == d->generation) return rc;
  return load(d, t, err);
}

int custos__dedup_mark(custos__dedup *d, custos_txn *t, custos_err *err) {
  return custos__store_template_generation(t, &d->generation, err);
}

int custos__dedup_check_add(custos__dedup *d, int64_t holder, int64_t photo,
                            const float v[CUSTOS_TEMPLATE_DIM], custos__dedup_hit *hits, size_t *n,
                            custos_err *err) {
  /* One more than the most cases, as the holder may be among the nearest. */
  custos_index_hit found[CUSTOS__DEDUP_MAX_HITS + 1];
  size_t nfound = 0;
  *n = 0;
  int rc = custos_index_search(d->idx, v, CUSTOS__DEDUP_MAX_HITS + 1, NULL, found, &nfound, err);
  if (rc != CUSTOS_OK) return rc;
  for (size_t i = 0; i < nfound && *n < CUSTOS__DEDUP_MAX_HITS; i++) {
    if (found[i].holder == holder) continue;        /* a renewal: the holder's own photo */
    if (!(found[i].distance < d->threshold)) break; /* nearest first */
    hits[*n].holder = found[i].holder;
    hits[*n].photo = found[i].photo;
    hits[*n].distance = found[i].distance;
    (*n)++;
  }
  custos_index_template tpl;
  tpl.holder = holder;
  tpl.photo = photo;
  memcpy(tpl.descriptor, v, sizeof tpl.descriptor);
  return custos_index_add(d->idx, &tpl, 1, err);
}

size_t custos__dedup_size(const custos__dedup *d) {
  return custos_index_count(d->idx);
}
