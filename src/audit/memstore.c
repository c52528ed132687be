/*
 * An in-memory custos_audit_store, for tests and benchmarks, and the model of
 * what dbstore.c keeps in the custos database:
 *
 *   table        rows                                    key
 *   entries      encoded entry bytes                     index (= seq)
 *   nodes        perfect-subtree hashes, level 0 = leaf   (level, index)
 *   head         the compact range at the current size   one row
 *   checkpoints  signed checkpoint notes, oldest first   insertion order (with tree size)
 *
 * It has no transactions: a failed append can leave part of its writes, which
 * a real store's rollback removes.  The tamper hooks let tests play an
 * attacker with write access to the database.
 */
#include <string.h>

#include "audit/audit.h"

#define MOD "audit-mem"

typedef struct blob {
  uint8_t *data; /* owned */
  size_t len;    /* bytes */
} blob;

typedef struct checkpoint_row {
  uint64_t size; /* tree size it was signed for */
  blob note;     /* the signed note */
} checkpoint_row;

struct custos_audit_memstore {
  blob *entries; /* entries[0..n_entries) */
  uint64_t n_entries, cap_entries;
  custos_audit_hash *nodes[64]; /* nodes[level][0..n_nodes[level]) */
  uint64_t n_nodes[64], cap_nodes[64];
  custos_audit_range head; /* size 0 until written */
  checkpoint_row *cps;     /* cps[0..n_cps) */
  uint64_t n_cps, cap_cps;
  long fail_after; /* writes until failure; negative: never */
};

static int grow(void **p, uint64_t *cap, uint64_t need, size_t elem) {
  if (need <= *cap) return CUSTOS_OK;
  uint64_t c = *cap ? *cap : 64;
  while (c < need) c *= 2;
  void *q = custos__reallocarray(*p, (size_t)c, elem);
  if (q == NULL) return CUSTOS_ENOMEM;
  *p = q;
  *cap = c;
  return CUSTOS_OK;
}

static int blob_set(blob *b, const void *data, size_t len) {
  uint8_t *d = custos__malloc(len ? len : 1);
  if (d == NULL) return CUSTOS_ENOMEM;
  if (len) memcpy(d, data, len);
  custos__free(b->data);
  b->data = d;
  b->len = len;
  return CUSTOS_OK;
}

static int write_allowed(custos_audit_memstore *m, custos_err *err) {
  if (m->fail_after == 0) return custos__err(err, CUSTOS_EDB, MOD, "write failed (test hook)");
  if (m->fail_after > 0) m->fail_after--;
  return CUSTOS_OK;
}

static int nomem(custos_err *err) {
  return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
}

/* ---- the table of functions -------------------------------------------------- */

static int m_read_head(void *ctx, custos_audit_range *out, custos_err *err) {
  (void)err;
  custos_audit_memstore *m = ctx;
  *out = m->head;
  return CUSTOS_OK;
}

static int m_write_head(void *ctx, const custos_audit_range *head, custos_err *err) {
  custos_audit_memstore *m = ctx;
  int rc = write_allowed(m, err);
  if (rc == CUSTOS_OK) m->head = *head;
  return rc;
}

static int m_append_entry(void *ctx, uint64_t index, const void *data, size_t len,
                          custos_err *err) {
  custos_audit_memstore *m = ctx;
  int rc = write_allowed(m, err);
  if (rc != CUSTOS_OK) return rc;
  if (index != m->n_entries) {
    return custos__err(err, CUSTOS_ECONFLICT, MOD, "entry %llu: the store holds %llu entries",
                       (unsigned long long)index, (unsigned long long)m->n_entries);
  }
  if (grow((void **)&m->entries, &m->cap_entries, m->n_entries + 1, sizeof(blob)) != CUSTOS_OK) {
    return nomem(err);
  }
  blob *b = &m->entries[m->n_entries];
  *b = (blob){NULL, 0};
  if (blob_set(b, data, len) != CUSTOS_OK) return nomem(err);
  m->n_entries++;
  return CUSTOS_OK;
}

/* Copies rows[i] (of n, named what in messages) into *out. */
static int read_row(const blob *row, uint64_t i, uint64_t n, const char *what, custos_buf *out,
                    custos_err *err) {
  custos__buf_reset(out);
  if (i >= n) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "%s %llu: not stored", what, (unsigned long long)i);
  }
  int rc = custos__buf_append(out, row->data, row->len);
  if (rc != CUSTOS_OK) {
    return custos__err(err, rc, MOD, "%s %llu: %s", what, (unsigned long long)i,
                       custos_strerror(rc));
  }
  return CUSTOS_OK;
}

static int m_read_entry(void *ctx, uint64_t index, custos_buf *out, custos_err *err) {
  custos_audit_memstore *m = ctx;
  return read_row(index < m->n_entries ? &m->entries[index] : NULL, index, m->n_entries, "entry",
                  out, err);
}

static int m_scan_entries(void *ctx, uint64_t first,
                          int (*fn)(void *arg, uint64_t index, const void *data, size_t len),
                          void *arg, custos_err *err) {
  (void)err;
  custos_audit_memstore *m = ctx;
  for (uint64_t i = first; i < m->n_entries; i++) {
    int r = fn(arg, i, m->entries[i].data, m->entries[i].len);
    if (r != 0) return r;
  }
  return CUSTOS_OK;
}

static int m_count_entries(void *ctx, uint64_t *out, custos_err *err) {
  (void)err;
  *out = ((custos_audit_memstore *)ctx)->n_entries;
  return CUSTOS_OK;
}

static int put_node(custos_audit_memstore *m, const custos_audit_node *nd, custos_err *err) {
  unsigned l = nd->level;
  if (l >= 64) return custos__err(err, CUSTOS_EINVAL, MOD, "node level %u", l);
  if (nd->index < m->n_nodes[l]) {
    if (memcmp(m->nodes[l][nd->index].b, nd->hash.b, CUSTOS_AUDIT_HASH_SIZE) == 0) return CUSTOS_OK;
    return custos__err(err, CUSTOS_ECONFLICT, MOD, "node (%u, %llu) exists with another hash", l,
                       (unsigned long long)nd->index);
  }
  if (nd->index != m->n_nodes[l]) {
    return custos__err(err, CUSTOS_ECONFLICT, MOD, "node (%u, %llu) leaves a gap", l,
                       (unsigned long long)nd->index);
  }
  if (grow((void **)&m->nodes[l], &m->cap_nodes[l], m->n_nodes[l] + 1, sizeof(custos_audit_hash)) !=
      CUSTOS_OK) {
    return nomem(err);
  }
  m->nodes[l][m->n_nodes[l]++] = nd->hash;
  return CUSTOS_OK;
}

static int m_put_nodes(void *ctx, const custos_audit_node *nodes, size_t n, custos_err *err) {
  custos_audit_memstore *m = ctx;
  int rc = write_allowed(m, err);
  for (size_t i = 0; rc == CUSTOS_OK && i < n; i++) rc = put_node(m, &nodes[i], err);
  return rc;
}

static int m_get_node(void *ctx, unsigned level, uint64_t index, custos_audit_hash *out,
                      custos_err *err) {
  custos_audit_memstore *m = ctx;
  if (level >= 64 || index >= m->n_nodes[level]) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "node (%u, %llu): not stored", level,
                       (unsigned long long)index);
  }
  *out = m->nodes[level][index];
  return CUSTOS_OK;
}

static int m_put_checkpoint(void *ctx, uint64_t size, const char *note, size_t len,
                            custos_err *err) {
  custos_audit_memstore *m = ctx;
  int rc = write_allowed(m, err);
  if (rc != CUSTOS_OK) return rc;
  if (grow((void **)&m->cps, &m->cap_cps, m->n_cps + 1, sizeof(checkpoint_row)) != CUSTOS_OK) {
    return nomem(err);
  }
  checkpoint_row *c = &m->cps[m->n_cps];
  *c = (checkpoint_row){size, {NULL, 0}};
  if (blob_set(&c->note, note, len) != CUSTOS_OK) return nomem(err);
  m->n_cps++;
  return CUSTOS_OK;
}

static int m_count_checkpoints(void *ctx, uint64_t *out, custos_err *err) {
  (void)err;
  *out = ((custos_audit_memstore *)ctx)->n_cps;
  return CUSTOS_OK;
}

static int m_read_checkpoint(void *ctx, uint64_t i, custos_buf *out, custos_err *err) {
  custos_audit_memstore *m = ctx;
  return read_row(i < m->n_cps ? &m->cps[i].note : NULL, i, m->n_cps, "checkpoint", out, err);
}

int custos__audit_memstore_new(custos_audit_memstore **out, custos_audit_store *vt) {
  custos_audit_memstore *m = custos__calloc(1, sizeof *m);
  *out = m;
  if (m == NULL) return CUSTOS_ENOMEM;
  m->fail_after = -1;
  custos__audit_range_init(&m->head);
  *vt = (custos_audit_store){
      .ctx = m,
      .read_head = m_read_head,
      .write_head = m_write_head,
      .append_entry = m_append_entry,
      .read_entry = m_read_entry,
      .scan_entries = m_scan_entries,
      .count_entries = m_count_entries,
      .put_nodes = m_put_nodes,
      .get_node = m_get_node,
      .put_checkpoint = m_put_checkpoint,
      .count_checkpoints = m_count_checkpoints,
      .read_checkpoint = m_read_checkpoint,
  };
  return CUSTOS_OK;
}

void custos__audit_memstore_free(custos_audit_memstore *m) {
  if (m == NULL) return;
  for (uint64_t i = 0; i < m->n_entries; i++) custos__free(m->entries[i].data);
  custos__free(m->entries);
  for (int l = 0; l < 64; l++) custos__free(m->nodes[l]);
  for (uint64_t i = 0; i < m->n_cps; i++) custos__free(m->cps[i].note.data);
  custos__free(m->cps);
  custos__free(m);
}

/* ---- tamper hooks ------------------------------------------------------------- */

int custos__audit_memstore_set_entry(custos_audit_memstore *m, uint64_t i, const void *data,
                                     size_t len) {
  if (i >= m->n_entries) return CUSTOS_ENOENT;
  return blob_set(&m->entries[i], data, len);
}

int custos__audit_memstore_delete_entry(custos_audit_memstore *m, uint64_t i) {
  if (i >= m->n_entries) return CUSTOS_ENOENT;
  custos__free(m->entries[i].data);
  memmove(&m->entries[i], &m->entries[i + 1], (size_t)(m->n_entries - i - 1) * sizeof(blob));
  m->n_entries--;
  return CUSTOS_OK;
}

int custos__audit_memstore_insert_entry(custos_audit_memstore *m, uint64_t i, const void *data,
                                        size_t len) {
  if (i > m->n_entries) return CUSTOS_ENOENT;
  if (grow((void **)&m->entries, &m->cap_entries, m->n_entries + 1, sizeof(blob)) != CUSTOS_OK) {
    return CUSTOS_ENOMEM;
  }
  blob b = {NULL, 0};
  if (blob_set(&b, data, len) != CUSTOS_OK) return CUSTOS_ENOMEM;
  memmove(&m->entries[i + 1], &m->entries[i], (size_t)(m->n_entries - i) * sizeof(blob));
  m->entries[i] = b;
  m->n_entries++;
  return CUSTOS_OK;
}

int custos__audit_memstore_swap_entries(custos_audit_memstore *m, uint64_t i, uint64_t j) {
  if (i >= m->n_entries || j >= m->n_entries) return CUSTOS_ENOENT;
  blob t = m->entries[i];
  m->entries[i] = m->entries[j];
  m->entries[j] = t;
  return CUSTOS_OK;
}

int custos__audit_memstore_truncate(custos_audit_memstore *m, uint64_t size, bool rewrite_head) {
  if (size > m->n_entries) return CUSTOS_EINVAL;
  for (uint64_t i = size; i < m->n_entries; i++) custos__free(m->entries[i].data);
  m->n_entries = size;
  for (unsigned l = 0; l < 64; l++) {
    uint64_t keep = size >> l;
    if (m->n_nodes[l] > keep) m->n_nodes[l] = keep;
  }
  if (!rewrite_head) return CUSTOS_OK;
  /* The head of the shorter tree, from its perfect subtrees. */
  custos_audit_range r;
  custos__audit_range_init(&r);
  r.size = size;
  unsigned k = 0;
  uint64_t pos = 0;
  for (int j = 63; j >= 0; j--) {
    if (!(size >> j & 1)) continue;
    r.h[k++] = m->nodes[j][pos >> j];
    pos += (uint64_t)1 << j;
  }
  m->head = r;
  uint64_t w = 0;
  for (uint64_t i = 0; i < m->n_cps; i++) {
    if (m->cps[i].size <= size) {
      m->cps[w++] = m->cps[i];
    } else {
      custos__free(m->cps[i].note.data);
    }
  }
  m->n_cps = w;
  return CUSTOS_OK;
}

int custos__audit_memstore_set_node(custos_audit_memstore *m, unsigned level, uint64_t index,
                                    const custos_audit_hash *h) {
  if (level >= 64 || index >= m->n_nodes[level]) return CUSTOS_ENOENT;
  m->nodes[level][index] = *h;
  return CUSTOS_OK;
}

void custos__audit_memstore_fail_writes_after(custos_audit_memstore *m, long n) {
  m->fail_after = n;
}
