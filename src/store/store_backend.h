/*
 * The contract between the store and a database backend (SQLite's VFS idea):
 * a backend is a table of operations, custos__store_ops, plus an open
 * function.  Only src/store includes this header; other modules call the
 * checked wrappers of store.h.
 *
 * What the wrappers guarantee before calling an operation, so backends need
 * not check again: pointers are non-NULL, t is the store's open transaction
 * (and a write transaction for operations that write), every text field has
 * passed the length and character checks of store.h, every date is a real
 * calendar date, ids are > 0 and template values are finite.
 *
 * What every backend must do the same way (the same tests run against each):
 * - return CUSTOS_ECONFLICT for a unique constraint (licence number, user name,
 *   a holder's photo SHA-256, a photo's template per model), CUSTOS_ENOENT
 *   when a row named by id or key is missing, CUSTOS_EDB for other failures,
 *   with a message that names tables and columns but never quotes a value;
 * - use bound parameters for every value (no SQL is ever built from data);
 * - keep the template generation in meta ("templates_generation") and change
 *   it in the same transaction as any template insert or delete;
 * - store a template as 128 little-endian IEEE 754 binary32 values;
 * - never return a sensitive value: there is no operation that could;
 * - store audit entries, hashes, the head blob and checkpoint notes byte for
 *   byte, and never update or delete an audit row: the log only grows.
 */
#ifndef CUSTOS_STORE_BACKEND_H
#define CUSTOS_STORE_BACKEND_H

#include "store/store.h"

typedef struct custos__store_ops {
  const char *name; /* "sqlite", "postgresql" */

  /* Closes the connection, rolling back an open transaction.  remove: also
   * delete the database it created (a failed init). */
  void (*close)(custos_store *s, bool remove);

  /* The schema version stored in meta; 0 for a database without tables;
   * CUSTOS_ECORRUPT for one that has tables but no custos meta. */
  int (*schema_version)(custos_store *s, int *version, custos_err *err);

  /* Applies migration step `version` (the backend's DDL for it) and records
   * the new version, inside t.  CUSTOS_EVERSION when it has no such step. */
  int (*migrate_step)(custos_txn *t, int version, custos_err *err);

  /* Begins a transaction (write: take the write lock now) and returns the
   * store's transaction object. */
  int (*begin)(custos_store *s, bool write, custos_txn **out, custos_err *err);

  /* Commits t; on failure rolls it back.  t is finished either way. */
  int (*commit)(custos_txn *t, custos_err *err);

  /* Rolls t back; it is finished. */
  void (*rollback)(custos_txn *t);

  /* Reads meta[key] into out[cap]; CUSTOS_ENOENT, CUSTOS_ETOOBIG. */
  int (*meta_get)(custos_txn *t, const char *key, char *out, size_t cap, custos_err *err);

  /* Inserts or replaces meta[key]. */
  int (*meta_set)(custos_txn *t, const char *key, const char *value, custos_err *err);

  /* Inserts a holder, returns its id; CUSTOS_ECONFLICT on the licence number. */
  int (*holder_add)(custos_txn *t, const custos__holder *h, int64_t *id, custos_err *err);

  /* Reads a holder by id (by_license NULL) or by licence number; CUSTOS_ENOENT. */
  int (*holder_get)(custos_txn *t, int64_t id, const char *by_license, custos__holder *out,
                    custos_err *err);

  /* Rewrites the ordinary fields of h->id; CUSTOS_ENOENT, CUSTOS_ECONFLICT. */
  int (*holder_update)(custos_txn *t, const custos__holder *h, custos_err *err);

  /* Deletes a holder and everything that hangs off it; CUSTOS_ENOENT.  Changes
   * the template generation when templates went with it. */
  int (*holder_delete)(custos_txn *t, int64_t id, custos_err *err);

  /* Inserts or replaces one sensitive field of a holder; CUSTOS_ENOENT when
   * the holder does not exist. */
  int (*sensitive_put)(custos_txn *t, int64_t holder_id, custos__sensitive_field f,
                       const char *value, custos_err *err);

  /* Compares a stored sensitive field with value inside the database (value
   * NULL: true when the field is absent). */
  int (*sensitive_matches)(custos_txn *t, int64_t holder_id, custos__sensitive_field f,
                           const char *value, bool *match, custos_err *err);

  /* Number of holders with field f stored. */
  int (*sensitive_count)(custos_txn *t, custos__sensitive_field f, int64_t *n, custos_err *err);

  /* Inserts a photo, returns its id; CUSTOS_ENOENT (holder), CUSTOS_ECONFLICT. */
  int (*photo_add)(custos_txn *t, const custos__photo *p, int64_t *id, custos_err *err);

  /* Reads a photo by id (sha256 NULL) or by holder_id and sha256; CUSTOS_ENOENT. */
  int (*photo_get)(custos_txn *t, int64_t id, int64_t holder_id, const uint8_t *sha256,
                   custos__photo *out, custos_err *err);

  /* Inserts a template and changes the generation; CUSTOS_ENOENT (photo),
   * CUSTOS_ECONFLICT. */
  int (*template_put)(custos_txn *t, int64_t photo_id, const char *model,
                      const float v[CUSTOS_TEMPLATE_DIM], custos_err *err);

  /* Reads one template; CUSTOS_ENOENT. */
  int (*template_get)(custos_txn *t, int64_t photo_id, const char *model,
                      float v[CUSTOS_TEMPLATE_DIM], custos_err *err);

  /* Calls cb for each template of model (NULL: all) in id order; a non-zero
   * return of cb stops and is returned. */
  int (*template_foreach)(custos_txn *t, const char *model, custos__template_cb cb, void *ctx,
                          custos_err *err);

  /* Counts templates of model (NULL: all). */
  int (*template_count)(custos_txn *t, const char *model, int64_t *n, custos_err *err);

  /* Inserts a user (failed_logins 0, unlocked); CUSTOS_ECONFLICT on the name. */
  int (*user_add)(custos_txn *t, const custos__user *u, int64_t *id, custos_err *err);

  /* Reads a user by name; CUSTOS_ENOENT. */
  int (*user_get)(custos_txn *t, const char *name, custos__user *out, custos_err *err);

  /* Calls cb for each user in name order. */
  int (*user_foreach)(custos_txn *t, custos__user_cb cb, void *ctx, custos_err *err);

  /* Adds one to the failure count atomically and locks the account when it
   * reaches max_failed; reports the lock state after. */
  int (*user_login_failed)(custos_txn *t, int64_t id, int max_failed, bool *locked,
                           custos_err *err);

  /* Resets the failure count; replaces the hash when new_pwhash is not NULL. */
  int (*user_login_ok)(custos_txn *t, int64_t id, const char *new_pwhash, custos_err *err);

  /* Clears the lock and the failure count; CUSTOS_ENOENT. */
  int (*user_unlock)(custos_txn *t, int64_t id, custos_err *err);

  /* Sets the training date (NULL: none); CUSTOS_ENOENT. */
  int (*user_set_training)(custos_txn *t, int64_t id, const char *until, custos_err *err);

  /* Counts the rows of a table. */
  int (*count)(custos_txn *t, custos__store_table table, int64_t *n, custos_err *err);

  /* ---- the audit log (store.h "the audit log's rows") ---- */

  /* Reads the head blob into out[cap], its length into *len; CUSTOS_ENOENT
   * when there is none, CUSTOS_ECORRUPT when it is longer than cap. */
  int (*audit_head_get)(custos_txn *t, uint8_t *out, size_t cap, size_t *len, custos_err *err);

  /* Inserts or replaces the one head row. */
  int (*audit_head_put)(custos_txn *t, const uint8_t *blob, size_t len, custos_err *err);

  /* Inserts entry idx with its bytes and 32-byte leaf hash; CUSTOS_ECONFLICT
   * when idx exists. */
  int (*audit_entry_add)(custos_txn *t, int64_t idx, const void *data, size_t len,
                         const uint8_t leaf[32], custos_err *err);

  /* Appends entry idx's bytes to out (already reset); CUSTOS_ENOENT. */
  int (*audit_entry_get)(custos_txn *t, int64_t idx, custos_buf *out, custos_err *err);

  /* Calls cb for each entry with idx >= first in idx order, with a cursor (not
   * all rows in memory); a non-zero return of cb stops and is returned. */
  int (*audit_entry_scan)(custos_txn *t, int64_t first, custos__audit_entry_cb cb, void *ctx,
                          custos_err *err);

  /* Counts the entry rows. */
  int (*audit_entry_count)(custos_txn *t, int64_t *n, custos_err *err);

  /* Inserts node (level >= 1, idx); CUSTOS_ECONFLICT when it exists. */
  int (*audit_node_put)(custos_txn *t, int level, int64_t idx, const uint8_t hash[32],
                        custos_err *err);

  /* Reads node (level, idx), level 0 being entry idx's leaf hash;
   * CUSTOS_ENOENT, CUSTOS_ECORRUPT when the stored hash is not 32 bytes. */
  int (*audit_node_get)(custos_txn *t, int level, int64_t idx, uint8_t hash[32], custos_err *err);

  /* Inserts a checkpoint numbered one past the highest stored (0 first). */
  int (*audit_checkpoint_add)(custos_txn *t, int64_t size, const char *note, size_t len,
                              custos_err *err);

  /* One past the highest stored checkpoint number (0 when none). */
  int (*audit_checkpoint_count)(custos_txn *t, int64_t *n, custos_err *err);

  /* Appends checkpoint number i's note to out (already reset); CUSTOS_ENOENT. */
  int (*audit_checkpoint_get)(custos_txn *t, int64_t i, custos_buf *out, custos_err *err);

  /* ---- the import (store.h "the import") ---- */

  /* Deletes field f of every holder; *n: rows deleted. */
  int (*sensitive_purge)(custos_txn *t, custos__sensitive_field f, int64_t *n, custos_err *err);

  /* Outside a transaction: empties the write-ahead log into the main file
   * and rebuilds the file, so that no deleted value stays in any of its
   * files; CUSTOS_EDB when another connection prevents it. */
  int (*compact)(custos_store *s, custos_err *err);

  /* Inserts an open case with the given created time; CUSTOS_ENOENT (a
   * holder or photo), CUSTOS_ECONFLICT (a case for the same two photos). */
  int (*dedup_case_add)(custos_txn *t, const custos__dedup_case *c, int64_t *id, custos_err *err);

  /* Whether an open case names holders a and b, either way round. */
  int (*dedup_case_open_exists)(custos_txn *t, int64_t a, int64_t b, bool *exists,
                                custos_err *err);

  /* Counts cases (open ones only when open_only). */
  int (*dedup_case_count)(custos_txn *t, bool open_only, int64_t *n, custos_err *err);

  /* Calls cb for each case in id order; a non-zero return of cb stops. */
  int (*dedup_case_foreach)(custos_txn *t, custos__dedup_case_cb cb, void *ctx, custos_err *err);

  /* ---- request cases (store.h "request cases") ---- */

  /* Inserts a case with its blobs (NULL: none), returns its id. */
  int (*case_add)(custos_txn *t, const custos__case_row *c, const void *probe, size_t probe_len,
                  const void *doc, size_t doc_len, int64_t *id, custos_err *err);

  /* Reads case id, its record appended to *record (already reset); CUSTOS_ENOENT. */
  int (*case_get)(custos_txn *t, int64_t id, custos__case_row *out, custos_buf *record,
                  custos_err *err);

  /* Rewrites state, closed and record of c->id; CUSTOS_ENOENT. */
  int (*case_update)(custos_txn *t, const custos__case_row *c, custos_err *err);

  /* Calls cb for each case in id order; a non-zero return of cb stops. */
  int (*case_foreach)(custos_txn *t, custos__case_cb cb, void *ctx, custos_err *err);

  /* Appends the probe (probe true) or document blob to out (already reset);
   * CUSTOS_ENOENT when the case or the blob is missing. */
  int (*case_blob_get)(custos_txn *t, int64_t id, bool probe, custos_buf *out, custos_err *err);

  /* Sets the probe blob of case id to NULL; CUSTOS_ENOENT. */
  int (*case_purge_probe)(custos_txn *t, int64_t id, custos_err *err);
} custos__store_ops;

/* What every backend's store and transaction start with; a backend embeds
 * these as the first member of its own structs. */
struct custos_store {
  const custos__store_ops *ops; /* the backend */
  custos_txn *open_txn;         /* the transaction in progress, or NULL */
};

struct custos_txn {
  custos_store *store; /* whose transaction */
  bool write;          /* took the write lock */
};

/* Backends' open functions.  mode as in custos__store_open; path or url as
 * given there. */
int custos__sqlite_open(const char *path, custos__store_open_mode mode, custos_store **out,
                        custos_err *err);

#endif
