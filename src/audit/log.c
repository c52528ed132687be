/*
 * The audit log over a custos_audit_store: append, checkpoints, proofs and
 * the full verification an auditor runs.
 *
 * An append reads the head (the compact range) from the store, encodes the
 * entry with seq = current size, hashes it, merges it into the range, and
 * writes the entry, the perfect subtrees it completed and the new head.  The
 * log caches nothing between calls, so an append inside a transaction that
 * is later rolled back leaves no stale state, and several processes can share
 * one store as long as the store serialises appends.
 *
 * Verification trusts nothing the store says about hashes: it recomputes the
 * tree from the entry bytes and compares every stored subtree hash, the head,
 * and every checkpoint's root against it; it checks every checkpoint's
 * signature with the log's public key; and it verifies a consistency proof
 * (built from the stored subtrees) between each pair of consecutive
 * checkpoints.  What each kind of tampering trips:
 *
 *   edited entry     its leaf and the subtrees above it; the roots of later checkpoints
 *   deleted entry    seq of every later entry; entry count against the head
 *   swapped entries  seq of both; their leaves
 *   inserted entry   seq of it and every later entry; entry count against the head
 *   truncated log    the head, or checkpoints larger than the log, or a pinned checkpoint
 *   removed checkpoint  the gap in the checkpoints' numbers
 *   foreign key      the checkpoint's signature
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"

#define MOD "audit"

struct custos_audit_log {
  custos_audit_store st;                      /* the store's table (copied) */
  char origin[CUSTOS_AUDIT_KEY_NAME_MAX + 1]; /* checkpoint origin */
  uint64_t checkpoint_every;                  /* 0: only on demand */
  const custos_audit_signer *signer;          /* borrowed; NULL: no appends, no signing */
  custos_audit_verifier verifier;             /* checks stored checkpoints */
  char *enc;                                  /* CUSTOS_AUDIT_ENTRY_MAX + 1 bytes */
};

#define U(x) ((unsigned long long)(x))

int custos__audit_log_open(const custos_audit_store *store, const custos_audit_log_config *cfg,
                           const custos_audit_signer *signer, const custos_audit_verifier *verifier,
                           custos_audit_log **out, custos_err *err) {
  *out = NULL;
  if (store == NULL || cfg == NULL || cfg->origin == NULL ||
      !custos__audit_name_valid(cfg->origin, strlen(cfg->origin))) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "log origin must be 1..%d printable characters without space or '+'",
                       CUSTOS_AUDIT_KEY_NAME_MAX);
  }
  if (signer == NULL && verifier == NULL) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "a log needs its signing key or its public key");
  }
  custos_audit_verifier v;
  if (signer) {
    custos__audit_signer_verifier(signer, &v);
    if (verifier &&
        (verifier->key_hash != v.key_hash || memcmp(verifier->public_key, v.public_key, 32) != 0 ||
         strcmp(verifier->name, v.name) != 0)) {
      return custos__err(err, CUSTOS_EINVAL, MOD, "the public key is not the signing key's");
    }
  } else {
    v = *verifier;
  }
  custos_audit_log *log = custos__calloc(1, sizeof *log);
  char *enc = custos__malloc(CUSTOS_AUDIT_ENTRY_MAX + 1);
  if (log == NULL || enc == NULL) {
    custos__free(log);
    custos__free(enc);
    return custos__err(err, CUSTOS_ENOMEM, MOD, "log: out of memory");
  }
  log->st = *store;
  snprintf(log->origin, sizeof log->origin, "%s", cfg->origin);
  log->checkpoint_every = cfg->checkpoint_every;
  log->signer = signer;
  log->verifier = v;
  log->enc = enc;
  *out = log;
  return CUSTOS_OK;
}

void custos__audit_log_close(custos_audit_log *log) {
  if (log == NULL) return;
  custos__free(log->enc);
  custos__free(log);
}

/* ---- hashes from the store ----------------------------------------------------- */

static int src_leaf(void *ctx, uint64_t index, custos_audit_hash *out, custos_err *err) {
  custos_audit_log *log = ctx;
  return log->st.get_node(log->st.ctx, 0, index, out, err);
}

static int src_node(void *ctx, unsigned level, uint64_t index, custos_audit_hash *out,
                    custos_err *err) {
  custos_audit_log *log = ctx;
  return log->st.get_node(log->st.ctx, level, index, out, err);
}

static custos_audit_hash_source store_source(custos_audit_log *log) {
  return (custos_audit_hash_source){log, src_leaf, src_node};
}

/* ---- head, append, checkpoints -------------------------------------------------- */

int custos__audit_log_head(custos_audit_log *log, uint64_t *size, custos_audit_hash *root,
                           custos_err *err) {
  custos_audit_range r;
  int rc = log->st.read_head(log->st.ctx, &r, err);
  if (rc != CUSTOS_OK) return rc;
  if (size) *size = r.size;
  if (root) custos__audit_range_root(&r, root);
  return CUSTOS_OK;
}

static int sign_and_store(custos_audit_log *log, uint64_t size, const custos_audit_hash *root,
                          custos_buf *note, custos_err *err) {
  custos_audit_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  snprintf(cp.origin, sizeof cp.origin, "%s", log->origin);
  cp.size = size;
  cp.root = *root;
  custos_buf tmp;
  custos__buf_init(&tmp, CUSTOS_AUDIT_NOTE_MAX);
  custos_buf *b = note ? note : &tmp;
  custos__buf_reset(b);
  int rc = custos__audit_checkpoint_sign(log->signer, &cp, b, err);
  if (rc == CUSTOS_OK) rc = log->st.put_checkpoint(log->st.ctx, size, b->data, b->len, err);
  custos__buf_free(&tmp);
  return rc;
}

int custos__audit_log_append(custos_audit_log *log, const custos_audit_entry *e, uint64_t *index,
                             custos_audit_hash *root, custos_err *err) {
  if (log->signer == NULL) {
    return custos__err(err, CUSTOS_EPERM, MOD, "log opened without its signing key: read only");
  }
  custos_audit_range r;
  int rc = log->st.read_head(log->st.ctx, &r, err);
  if (rc != CUSTOS_OK) return rc;
  custos_audit_entry x = *e;
  x.seq = r.size;
  size_t len = 0;
  rc = custos_audit_entry_encode(&x, log->enc, CUSTOS_AUDIT_ENTRY_MAX + 1, &len, err);
  if (rc != CUSTOS_OK) return rc;
  custos_audit_hash leaf, new_root;
  custos_audit_leaf_hash(log->enc, len, &leaf);
  custos_audit_node done[65];
  size_t nd = 0;
  rc = custos__audit_range_append(&r, &leaf, done, &nd);
  if (rc != CUSTOS_OK) return custos__err(err, rc, MOD, "log is full");
  if ((rc = log->st.append_entry(log->st.ctx, x.seq, log->enc, len, err)) != CUSTOS_OK ||
      (rc = log->st.put_nodes(log->st.ctx, done, nd, err)) != CUSTOS_OK ||
      (rc = log->st.write_head(log->st.ctx, &r, err)) != CUSTOS_OK) {
    return rc;
  }
  /* The root folds popcount(size) hashes: computed only when wanted. */
  bool sign = log->checkpoint_every && r.size % log->checkpoint_every == 0;
  if (sign || root) custos__audit_range_root(&r, &new_root);
  if (sign) {
    rc = sign_and_store(log, r.size, &new_root, NULL, err);
    if (rc != CUSTOS_OK) return rc;
  }
  if (index) *index = x.seq;
  if (root) *root = new_root;
  return CUSTOS_OK;
}

int custos__audit_log_latest_checkpoint(custos_audit_log *log, custos_buf *note,
                                        custos_audit_checkpoint *cp, custos_err *err) {
  uint64_t n = 0;
  int rc = log->st.count_checkpoints(log->st.ctx, &n, err);
  if (rc != CUSTOS_OK) return rc;
  if (n == 0) return custos__err(err, CUSTOS_ENOENT, MOD, "no checkpoint has been signed yet");
  custos_buf tmp;
  custos__buf_init(&tmp, CUSTOS_AUDIT_NOTE_MAX);
  custos_buf *b = note ? note : &tmp;
  rc = log->st.read_checkpoint(log->st.ctx, n - 1, b, err);
  if (rc == CUSTOS_OK) {
    rc = custos_audit_checkpoint_verify(b->data ? b->data : "", b->len, &log->verifier, cp, err);
    if (rc != CUSTOS_OK) {
      char why[CUSTOS_ERR_MESSAGE_MAX]; /* a format may not read the buffer it writes */
      snprintf(why, sizeof why, "%s", err ? err->message : "");
      custos__err(err, CUSTOS_ECORRUPT, MOD, "latest stored checkpoint: %s", why);
      rc = CUSTOS_ECORRUPT;
    }
  }
  custos__buf_free(&tmp);
  return rc;
}

int custos__audit_log_checkpoint(custos_audit_log *log, custos_buf *note, bool *signed_new,
                                 custos_err *err) {
  *signed_new = false;
  uint64_t size;
  custos_audit_hash root;
  int rc = custos__audit_log_head(log, &size, &root, err);
  if (rc != CUSTOS_OK) return rc;
  if (size == 0) return custos__err(err, CUSTOS_ENOENT, MOD, "the log is empty: no checkpoint");
  uint64_t n = 0;
  rc = log->st.count_checkpoints(log->st.ctx, &n, err);
  if (rc != CUSTOS_OK) return rc;
  if (n > 0) {
    custos_audit_checkpoint cp;
    rc = custos__audit_log_latest_checkpoint(log, note, &cp, err);
    if (rc != CUSTOS_OK) return rc;
    if (cp.size > size) {
      return custos__err(err, CUSTOS_ECORRUPT, MOD,
                         "the latest checkpoint is for %llu entries, the log has %llu", U(cp.size),
                         U(size));
    }
    if (cp.size == size) return CUSTOS_OK;
  }
  if (log->signer == NULL) {
    return custos__err(err, CUSTOS_EPERM, MOD, "log opened without its signing key: read only");
  }
  rc = sign_and_store(log, size, &root, note, err);
  if (rc == CUSTOS_OK) *signed_new = true;
  return rc;
}

/* ---- proofs -------------------------------------------------------------------- */

int custos__audit_log_prove(custos_audit_log *log, uint64_t index, uint64_t size,
                            custos_audit_inclusion_proof *out, custos_err *err) {
  memset(out, 0, sizeof *out);
  uint64_t cur;
  int rc = custos__audit_log_head(log, &cur, NULL, err);
  if (rc != CUSTOS_OK) return rc;
  if (index >= size || size > cur) {
    return custos__err(err, CUSTOS_ENOENT, MOD,
                       "entry %llu in a tree of %llu entries: the log has %llu", U(index), U(size),
                       U(cur));
  }
  /* The leaf hash of the bytes a third party will receive, checked against
   * the tree: a proof for an altered entry is refused here, not later. */
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_ENTRY_MAX);
  custos_audit_hash stored;
  rc = log->st.read_entry(log->st.ctx, index, &b, err);
  if (rc == CUSTOS_OK) rc = log->st.get_node(log->st.ctx, 0, index, &stored, err);
  if (rc == CUSTOS_OK) {
    custos_audit_leaf_hash(b.data, b.len, &out->leaf_hash);
    if (memcmp(stored.b, out->leaf_hash.b, CUSTOS_AUDIT_HASH_SIZE) != 0) {
      rc = custos__err(err, CUSTOS_ECORRUPT, MOD,
                       "entry %llu does not match its leaf hash (run audit verify)", U(index));
    }
  }
  custos__buf_free(&b);
  if (rc != CUSTOS_OK) return rc;
  custos_audit_hash_source src = store_source(log);
  rc = custos__audit_prove_inclusion(&src, index, size, out->hashes, &out->n, err);
  if (rc != CUSTOS_OK) return rc;
  out->leaf_index = index;
  out->tree_size = size;
  return CUSTOS_OK;
}

int custos__audit_log_prove_consistency(custos_audit_log *log, uint64_t size1, uint64_t size2,
                                        custos_audit_hash *proof, size_t *n, custos_err *err) {
  uint64_t cur;
  int rc = custos__audit_log_head(log, &cur, NULL, err);
  if (rc != CUSTOS_OK) return rc;
  if (size2 > cur) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "tree size %llu: the log has %llu entries",
                       U(size2), U(cur));
  }
  custos_audit_hash_source src = store_source(log);
  return custos__audit_prove_consistency(&src, size1, size2, proof, n, err);
}

/* ---- verification ----------------------------------------------------------------- */

/* A tree size whose root the entries must reproduce. */
typedef struct check {
  uint64_t size;          /* tree size */
  custos_audit_hash root; /* the root the checkpoint signs */
  char label[48];         /* "checkpoint 3", "pinned checkpoint 1" */
} check;

typedef struct vstate {
  custos_audit_log *log;
  custos_audit_verify_report *rep;
  custos_audit_range r;  /* the tree recomputed so far */
  check *checks;         /* sorted by size */
  size_t n_checks, next; /* next check to reach */
  int store_rc;          /* a store failure stops the scan */
  custos_err *err;
} vstate;

static void problem(custos_audit_verify_report *rep, uint64_t entry, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void problem(custos_audit_verify_report *rep, uint64_t entry, const char *fmt, ...) {
  if (rep->problems++ > 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(rep->first_problem, sizeof rep->first_problem, fmt, ap);
  va_end(ap);
  rep->first_bad_entry = entry;
}

/* Compares the recomputed root with every check at the current size. */
static void reach_checks(vstate *vs) {
  while (vs->next < vs->n_checks && vs->checks[vs->next].size == vs->r.size) {
    const check *c = &vs->checks[vs->next++];
    custos_audit_hash root;
    custos__audit_range_root(&vs->r, &root);
    if (memcmp(root.b, c->root.b, CUSTOS_AUDIT_HASH_SIZE) != 0) {
      problem(vs->rep, vs->r.size ? vs->r.size - 1 : UINT64_MAX,
              "%s (size %llu): the entries give another root (entries edited, removed, "
              "inserted or reordered)",
              c->label, U(c->size));
    }
  }
}

static int verify_entry(void *arg, uint64_t index, const void *data, size_t len) {
  vstate *vs = arg;
  custos_audit_verify_report *rep = vs->rep;
  uint64_t pos = vs->r.size; /* the index this entry must have */
  custos_err e;
  custos_err_clear(&e);
  custos_audit_entry *ent = NULL;
  if (index != pos) {
    problem(rep, pos, "entry %llu: the store lists it as %llu", U(pos), U(index));
  }
  if (custos_audit_entry_decode(data, len, &ent, &e) != CUSTOS_OK) {
    problem(rep, pos, "entry %llu: %s", U(pos), e.message);
  } else if (ent->seq != pos) {
    problem(rep, pos, "entry %llu: its seq is %llu (entries deleted, inserted or reordered)",
            U(pos), U(ent->seq));
  }
  custos_audit_entry_free(ent);
  custos_audit_hash leaf;
  custos_audit_leaf_hash(data, len, &leaf);
  custos_audit_node done[65];
  size_t nd = 0;
  if (custos__audit_range_append(&vs->r, &leaf, done, &nd) != CUSTOS_OK) {
    vs->store_rc = custos__err(vs->err, CUSTOS_ETOOBIG, MOD, "log is full");
    return 1;
  }
  rep->entries++;
  for (size_t i = 0; i < nd; i++) {
    custos_audit_hash stored;
    int rc = vs->log->st.get_node(vs->log->st.ctx, done[i].level, done[i].index, &stored, &e);
    if (rc == CUSTOS_ENOENT) {
      problem(rep, pos, "subtree (level %u, index %llu): not stored", done[i].level,
              U(done[i].index));
    } else if (rc != CUSTOS_OK) {
      vs->store_rc = custos__err(vs->err, rc, e.module, "%s", e.message);
      return 1;
    } else if (memcmp(stored.b, done[i].hash.b, CUSTOS_AUDIT_HASH_SIZE) != 0) {
      problem(rep, pos,
              "entry %llu: does not match the stored hash of subtree (level %u, index %llu) "
              "(entry or stored hash altered)",
              U(pos), done[i].level, U(done[i].index));
    }
  }
  reach_checks(vs);
  return 0;
}

/* Reads and verifies a checkpoint note; a problem (not an error) if bad. */
static bool load_checkpoint(custos_audit_log *log, const char *note, size_t len, const char *label,
                            custos_audit_checkpoint *cp, custos_audit_verify_report *rep) {
  custos_err e;
  custos_err_clear(&e);
  if (custos_audit_checkpoint_verify(note, len, &log->verifier, cp, &e) != CUSTOS_OK) {
    problem(rep, UINT64_MAX, "%s: %s", label, e.message);
    return false;
  }
  if (strcmp(cp->origin, log->origin) != 0) {
    problem(rep, UINT64_MAX, "%s: origin is not this log's (%s)", label, log->origin);
    return false;
  }
  return true;
}

static int cmp_check(const void *a, const void *b) {
  const check *x = a, *y = b;
  return x->size < y->size ? -1 : x->size > y->size;
}

int custos__audit_log_verify(custos_audit_log *log, const char *const *pinned, size_t n_pinned,
                             custos_audit_verify_report *rep, custos_err *err) {
  int rc = CUSTOS_OK;
  memset(rep, 0, sizeof *rep);
  rep->first_bad_entry = UINT64_MAX;
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  check *checks = NULL;
  uint64_t *stored_idx = NULL; /* stored checkpoint i -> position in checks, or UINT64_MAX */
  custos_audit_range head;
  uint64_t count = 0, n_cps = 0;
  if ((rc = log->st.read_head(log->st.ctx, &head, err)) != CUSTOS_OK ||
      (rc = log->st.count_entries(log->st.ctx, &count, err)) != CUSTOS_OK ||
      (rc = log->st.count_checkpoints(log->st.ctx, &n_cps, err)) != CUSTOS_OK) {
    goto out;
  }
  rep->tree_size = head.size;
  if (n_cps > SIZE_MAX / sizeof(check) - n_pinned) {
    rc = custos__err(err, CUSTOS_ETOOBIG, MOD, "too many checkpoints");
    goto out;
  }
  checks = custos__mallocarray((size_t)n_cps + n_pinned + 1, sizeof *checks);
  stored_idx = custos__mallocarray((size_t)n_cps + 1, sizeof *stored_idx);
  if (checks == NULL || stored_idx == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "verify: out of memory");
    goto out;
  }

  /* Checkpoints: signature, origin, order. */
  size_t nc = 0;
  uint64_t prev_size = 0;
  bool have_prev = false;
  for (uint64_t i = 0; i < n_cps; i++) {
    stored_idx[i] = UINT64_MAX;
    char label[48];
    snprintf(label, sizeof label, "checkpoint %llu", U(i));
    rc = log->st.read_checkpoint(log->st.ctx, i, &note, err);
    if (rc == CUSTOS_ENOENT) {
      custos_err_clear(err);
      rc = CUSTOS_OK;
      problem(rep, UINT64_MAX, "%s: missing (removed from the store)", label);
      continue;
    }
    if (rc != CUSTOS_OK) goto out;
    rep->checkpoints++;
    custos_audit_checkpoint cp;
    if (!load_checkpoint(log, note.data ? note.data : "", note.len, label, &cp, rep)) continue;
    if (have_prev && cp.size < prev_size) {
      problem(rep, UINT64_MAX, "%s: size %llu is smaller than the previous checkpoint's %llu",
              label, U(cp.size), U(prev_size));
    }
    have_prev = true;
    prev_size = cp.size;
    checks[nc].size = cp.size;
    checks[nc].root = cp.root;
    snprintf(checks[nc].label, sizeof checks[nc].label, "%s", label);
    stored_idx[i] = nc++;
  }
  for (size_t j = 0; j < n_pinned; j++) {
    char label[48];
    snprintf(label, sizeof label, "pinned checkpoint %zu", j);
    custos_audit_checkpoint cp;
    const char *t = pinned[j] ? pinned[j] : "";
    if (!load_checkpoint(log, t, strlen(t), label, &cp, rep)) continue;
    checks[nc].size = cp.size;
    checks[nc].root = cp.root;
    snprintf(checks[nc].label, sizeof checks[nc].label, "%s", label);
    nc++;
  }
  /* The roots each checkpoint claims, in size order, for the scan. */
  check *sorted = custos__mallocarray(nc + 1, sizeof *sorted);
  if (sorted == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "verify: out of memory");
    goto out;
  }
  memcpy(sorted, checks, nc * sizeof *sorted);
  qsort(sorted, nc, sizeof *sorted, cmp_check);

  /* Recompute the tree from the entries. */
  vstate vs = {log, rep, {0}, sorted, nc, 0, CUSTOS_OK, err};
  custos__audit_range_init(&vs.r);
  reach_checks(&vs); /* size 0 */
  rc = log->st.scan_entries(log->st.ctx, 0, verify_entry, &vs, err);
  if (vs.store_rc != CUSTOS_OK) rc = vs.store_rc;
  for (; rc == CUSTOS_OK && vs.next < nc; vs.next++) {
    const check *c = &sorted[vs.next];
    problem(rep, vs.r.size, "%s (size %llu): the log holds only %llu entries (truncated)", c->label,
            U(c->size), U(vs.r.size));
  }
  custos__free(sorted);
  if (rc != CUSTOS_OK) goto out;
  /* After the scan, which names the first entry out of place when one was
   * removed or added in the middle. */
  if (head.size != count) {
    problem(rep, count < head.size ? count : head.size,
            "the head records %llu entries, the store holds %llu (entries %s)", U(head.size),
            U(count), count < head.size ? "removed" : "added behind the log's back");
  }
  custos__audit_range_root(&vs.r, &rep->root);
  if (head.size == vs.r.size &&
      memcmp(head.h, vs.r.h, custos__audit_range_count(head.size) * sizeof head.h[0]) != 0) {
    problem(rep, UINT64_MAX, "the head does not match the tree recomputed from the entries");
  }

  /* Consistency between consecutive (valid) stored checkpoints, from the
   * stored subtrees. */
  custos_audit_hash_source src = store_source(log);
  const check *prev = NULL;
  for (uint64_t i = 0; i < n_cps; i++) {
    if (stored_idx[i] == UINT64_MAX) continue;
    const check *c = &checks[stored_idx[i]];
    if (prev && prev->size > 0 && prev->size <= c->size) {
      custos_audit_hash proof[CUSTOS_AUDIT_CONSISTENCY_MAX];
      size_t n = 0;
      custos_err e;
      custos_err_clear(&e);
      int prc = prev->size == c->size
                    ? CUSTOS_OK
                    : custos__audit_prove_consistency(&src, prev->size, c->size, proof, &n, &e);
      if (prc == CUSTOS_OK) {
        prc = custos_audit_verify_consistency(prev->size, c->size, proof, n, &prev->root, &c->root,
                                              &e);
      }
      if (prc == CUSTOS_OK) {
        rep->consistency_proofs++;
      } else if (prc == CUSTOS_EVERIFY || prc == CUSTOS_ENOENT) {
        problem(rep, UINT64_MAX, "%s and %s (sizes %llu, %llu): not consistent: %s", prev->label,
                c->label, U(prev->size), U(c->size), e.message);
      } else {
        rc = custos__err(err, prc, e.module, "%s", e.message);
        goto out;
      }
    }
    prev = c;
  }
out:
  if (rc == CUSTOS_OK && rep->problems > 0) {
    rc = custos__err(err, CUSTOS_EVERIFY, MOD, "%s", rep->first_problem);
  }
  custos__buf_free(&note);
  custos__free(checks);
  custos__free(stored_idx);
  return rc;
}
