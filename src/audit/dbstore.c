/*
 * The audit log's storage in the custos database: a custos_audit_store over
 * the store's open transaction (store.h, "the audit log's rows").
 *
 * Every call goes through the caller's custos_txn — the one that makes the
 * change the entry records — so the entry, its subtree hashes, the new head
 * and any checkpoint the append signs commit or roll back together with that
 * change (GOV-20, invariant 4).  Nothing is cached here: a rolled-back append
 * leaves nothing behind, in the database or in memory.
 *
 * How the log's objects map to the tables (docs/store.md):
 *
 *   log object                          table             row
 *   entry i (its canonical bytes)       audit_entry       idx = i, entry, leaf_hash
 *   subtree (0, i): the leaf hash       audit_entry       leaf_hash of idx = i
 *   subtree (level >= 1, i)             audit_node        (level, idx = i), hash
 *   head (the compact range)            audit_head        one = 1, head (range blob)
 *   checkpoint number k                 audit_checkpoint  seq = k, tree_size, note
 *
 * The leaf hash is written with its entry (SHA-256 of the same bytes the log
 * hashed), so put_nodes only checks a level-0 node against it.  Indexes above
 * INT64_MAX cannot be stored (the databases' integers are signed): an append
 * there fails with CUSTOS_ETOOBIG, nine quintillion entries from now.
 */
#include <string.h>

#include "audit/audit.h"
#include "store/store.h"

#define MOD "audit"

_Static_assert(CUSTOS_STORE_AUDIT_ENTRY_MAX == CUSTOS_AUDIT_ENTRY_MAX, "entry limit");
_Static_assert(CUSTOS_STORE_AUDIT_NOTE_MAX == CUSTOS_AUDIT_NOTE_MAX, "note limit");
_Static_assert(CUSTOS_STORE_AUDIT_HEAD_MAX == CUSTOS_AUDIT_RANGE_BLOB_MAX, "head limit");
_Static_assert(CUSTOS_AUDIT_HASH_SIZE == 32, "hash size");

/* The store's index for log position i. */
static int to_idx(uint64_t i, const char *what, int64_t *out, custos_err *err) {
  if (i > (uint64_t)INT64_MAX) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "%s %llu: past what the database can number", what,
                       (unsigned long long)i);
  }
  *out = (int64_t)i;
  return CUSTOS_OK;
}

static int d_read_head(void *ctx, custos_audit_range *out, custos_err *err) {
  uint8_t blob[CUSTOS_AUDIT_RANGE_BLOB_MAX];
  size_t len = 0;
  int rc = custos__store_audit_head_get(ctx, blob, sizeof blob, &len, err);
  if (rc == CUSTOS_ENOENT) {
    custos_err_clear(err);
    custos__audit_range_init(out);
    return CUSTOS_OK;
  }
  if (rc != CUSTOS_OK) return rc;
  return custos__audit_range_decode(blob, len, out, err);
}

static int d_write_head(void *ctx, const custos_audit_range *head, custos_err *err) {
  uint8_t blob[CUSTOS_AUDIT_RANGE_BLOB_MAX];
  size_t len = custos__audit_range_encode(head, blob);
  return custos__store_audit_head_put(ctx, blob, len, err);
}

static int d_append_entry(void *ctx, uint64_t index, const void *data, size_t len,
                          custos_err *err) {
  int64_t idx = 0;
  int rc = to_idx(index, "entry", &idx, err);
  if (rc != CUSTOS_OK) return rc;
  custos_audit_hash leaf;
  custos_audit_leaf_hash(data, len, &leaf);
  return custos__store_audit_entry_add(ctx, idx, data, len, leaf.b, err);
}

static int d_read_entry(void *ctx, uint64_t index, custos_buf *out, custos_err *err) {
  int64_t idx = 0;
  custos__buf_reset(out);
  int rc = to_idx(index, "entry", &idx, err);
  if (rc != CUSTOS_OK) return rc == CUSTOS_ETOOBIG ? CUSTOS_ENOENT : rc;
  return custos__store_audit_entry_get(ctx, idx, out, err);
}

/* Passes the store's rows on to the log's callback. */
typedef struct scan_ctx {
  int (*fn)(void *arg, uint64_t index, const void *data, size_t len); /* the log's */
  void *arg;                                                          /* its argument */
} scan_ctx;

static int scan_row(void *ctx, int64_t idx, const void *data, size_t len) {
  const scan_ctx *sc = ctx;
  return sc->fn(sc->arg, (uint64_t)idx, data, len);
}

static int d_scan_entries(void *ctx, uint64_t first,
                          int (*fn)(void *arg, uint64_t index, const void *data, size_t len),
                          void *arg, custos_err *err) {
  if (first > (uint64_t)INT64_MAX) return CUSTOS_OK; /* nothing stored that far */
  scan_ctx sc = {fn, arg};
  return custos__store_audit_entry_scan(ctx, (int64_t)first, scan_row, &sc, err);
}

static int d_count_entries(void *ctx, uint64_t *out, custos_err *err) {
  int64_t n = 0;
  int rc = custos__store_audit_entry_count(ctx, &n, err);
  *out = (uint64_t)n;
  return rc;
}

static int d_get_node(void *ctx, unsigned level, uint64_t index, custos_audit_hash *out,
                      custos_err *err) {
  if (level >= CUSTOS_STORE_AUDIT_LEVELS || index > (uint64_t)INT64_MAX) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "subtree (%u, %llu): not stored", level,
                       (unsigned long long)index);
  }
  return custos__store_audit_node_get(ctx, (int)level, (int64_t)index, out->b, err);
}

/* Write-once: storing a node that exists succeeds only with the same hash. */
static int put_node(void *ctx, const custos_audit_node *nd, custos_err *err) {
  int64_t idx = 0;
  int rc = to_idx(nd->index, "subtree", &idx, err);
  if (rc != CUSTOS_OK) return rc;
  if (nd->level >= CUSTOS_STORE_AUDIT_LEVELS) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "subtree level %u", nd->level);
  }
  if (nd->level > 0) {
    rc = custos__store_audit_node_put(ctx, (int)nd->level, idx, nd->hash.b, err);
    if (rc != CUSTOS_ECONFLICT) return rc;
  }
  custos_audit_hash stored;
  custos_err_clear(err);
  rc = d_get_node(ctx, nd->level, nd->index, &stored, err);
  if (rc == CUSTOS_ENOENT) {
    return custos__err(err, CUSTOS_ECONFLICT, MOD, "leaf %llu: no entry stored for it",
                       (unsigned long long)nd->index);
  }
  if (rc != CUSTOS_OK) return rc;
  if (memcmp(stored.b, nd->hash.b, CUSTOS_AUDIT_HASH_SIZE) != 0) {
    return custos__err(err, CUSTOS_ECONFLICT, MOD, "subtree (%u, %llu) exists with another hash",
                       nd->level, (unsigned long long)nd->index);
  }
  return CUSTOS_OK;
}

static int d_put_nodes(void *ctx, const custos_audit_node *nodes, size_t n, custos_err *err) {
  int rc = CUSTOS_OK;
  for (size_t i = 0; rc == CUSTOS_OK && i < n; i++) rc = put_node(ctx, &nodes[i], err);
  return rc;
}

static int d_put_checkpoint(void *ctx, uint64_t size, const char *note, size_t len,
                            custos_err *err) {
  int64_t sz = 0;
  int rc = to_idx(size, "checkpoint size", &sz, err);
  if (rc != CUSTOS_OK) return rc;
  return custos__store_audit_checkpoint_add(ctx, sz, note, len, err);
}

static int d_count_checkpoints(void *ctx, uint64_t *out, custos_err *err) {
  int64_t n = 0;
  int rc = custos__store_audit_checkpoint_count(ctx, &n, err);
  *out = (uint64_t)n;
  return rc;
}

static int d_read_checkpoint(void *ctx, uint64_t i, custos_buf *out, custos_err *err) {
  custos__buf_reset(out);
  if (i > (uint64_t)INT64_MAX) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "checkpoint %llu: not stored",
                       (unsigned long long)i);
  }
  return custos__store_audit_checkpoint_get(ctx, (int64_t)i, out, err);
}

void custos__audit_dbstore(struct custos_txn *t, custos_audit_store *out) {
  *out = (custos_audit_store){
      .ctx = t,
      .read_head = d_read_head,
      .write_head = d_write_head,
      .append_entry = d_append_entry,
      .read_entry = d_read_entry,
      .scan_entries = d_scan_entries,
      .count_entries = d_count_entries,
      .put_nodes = d_put_nodes,
      .get_node = d_get_node,
      .put_checkpoint = d_put_checkpoint,
      .count_checkpoints = d_count_checkpoints,
      .read_checkpoint = d_read_checkpoint,
  };
}
