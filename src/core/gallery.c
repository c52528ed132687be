/*
 * The gallery in memory: the index of include/custos/index.h filled with the
 * store's templates of one model, for de-duplication at enrolment and the
 * search of a case.
 *
 * Start-up is fast through a snapshot file next to the database
 * ("<db>.gallery.<model>"), stamped with the store's template generation,
 * which changes in the same transaction as any template insert or delete.
 * A snapshot whose stamp is the store's current generation is loaded (its
 * checksum verified by custos_index_load); a missing, stale or corrupt one
 * is ignored, the index is built from the store and a fresh snapshot is
 * written (best effort: a snapshot that cannot be written only costs the
 * next start-up a rebuild).
 */
#include <stdio.h>
#include <string.h>

#include "core/coreInt.h"
#include "custos/index.h"
#include "util/util.h"

#define MOD "gallery"
#define LOAD_CHUNK 4096 /* templates added to the index at a time while building */

typedef struct load_ctx {
  custos_index *idx;
  custos_index_template buf[LOAD_CHUNK];
  size_t n;
  custos_err *err;
} load_ctx;

static int flush(load_ctx *l) {
  int rc = l->n > 0 ? custos_index_add(l->idx, l->buf, l->n, l->err) : CUSTOS_OK;
  l->n = 0;
  return rc;
}

static int load_one(const custos__template_rec *rec, void *ctx) {
  load_ctx *l = ctx;
  custos_index_template *t = &l->buf[l->n++];
  t->holder = rec->holder_id;
  t->photo = rec->photo_id;
  memcpy(t->descriptor, rec->v, sizeof t->descriptor);
  return l->n == LOAD_CHUNK ? flush(l) : CUSTOS_OK;
}

/* Builds the index from the store's templates of model as t sees them. */
static int build(custos_txn *t, const char *model, custos_index **out, custos_err *err) {
  custos_index *idx = NULL;
  int rc = custos_index_new(NULL, &idx, err);
  if (rc != CUSTOS_OK) return rc;
  load_ctx *l = custos__malloc(sizeof *l);
  if (l == NULL) {
    custos_index_free(idx);
    return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  }
  l->idx = idx;
  l->n = 0;
  l->err = err;
  rc = custos__store_template_foreach(t, model, load_one, l, err);
  if (rc == CUSTOS_OK) rc = flush(l);
  custos__free(l);
  if (rc != CUSTOS_OK) {
    custos_index_free(idx);
    return rc;
  }
  *out = idx;
  return CUSTOS_OK;
}

char *custos__core_gallery_path(const custos *c, const char *model) {
  if (c == NULL || c->url == NULL || strstr(c->url, "://") != NULL) return NULL;
  custos_buf b;
  custos__buf_init(&b, 8192);
  if (custos__buf_appendf(&b, "%s.gallery.%s", c->url, model) != CUSTOS_OK) {
    custos__buf_free(&b);
    return NULL;
  }
  return custos__buf_steal(&b, NULL);
}

int custos__core_gallery_load(custos_txn *t, const char *model, const char *snapshot,
                              custos_index **out, int64_t *generation, custos_err *err) {
  *out = NULL;
  int64_t gen = 0;
  int rc = custos__store_template_generation(t, &gen, err);
  if (rc != CUSTOS_OK) return rc;
  if (snapshot != NULL) {
    custos_index_snapshot_header h;
    custos_err ignored;
    if (custos_index_snapshot_info(snapshot, &h, &ignored) == CUSTOS_OK &&
        h.generation == (uint64_t)gen) {
      custos_index_stamp expect = {h.generation, h.count};
      if (custos_index_load(NULL, snapshot, &expect, out, &ignored) == CUSTOS_OK) {
        *generation = gen;
        return CUSTOS_OK;
      }
    }
  }
  rc = build(t, model, out, err);
  if (rc != CUSTOS_OK) return rc;
  if (snapshot != NULL) {
    custos_err ignored;
    (void)custos_index_save(*out, snapshot, (uint64_t)gen, &ignored);
  }
  *generation = gen;
  return CUSTOS_OK;
}
