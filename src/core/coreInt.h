/*
 * core's private parts shared by its files: the custos instance and the audit
 * log's wiring (log.c), which every action uses to record itself.
 *
 * The log's settings live in the database's meta table (docs/store.md):
 *
 *   key                      value
 *   audit_origin             the log's name: the origin line of its checkpoints
 *   audit_log_key            its verifier key "name+hash+base64" (public)
 *   audit_checkpoint_every   entries per automatic checkpoint (decimal)
 *
 * The signing key is in a file beside the database (custos_audit_key_path),
 * read on the first append and held, in guarded memory, until custos_close.
 */
#ifndef CUSTOS_CORE_INT_H
#define CUSTOS_CORE_INT_H

#include "audit/audit.h"
#include "custos/core.h"
#include "custos/index.h"
#include "store/store.h"

struct custos {
  custos_store *store;         /* the open database */
  char *url;                   /* its URL or path, for the key file's default name */
  custos_audit_signer *signer; /* the log's signing key once an append needed it; else NULL */
};

#define CORE_SYSTEM_ACTOR "system" /* the actor of what custos does on its own */

/*
 * GOV-20: appends *e inside t, the transaction of the change it records, so
 * that both commit or neither does (invariant 4).  The caller fills actor
 * (NULL: the system), action (a dotted name, "user.add"), detail, reasons and
 * hashes as docs/audit.md lists them — never a value of a redacted field
 * (GOV-18); this sets time (now) and seq (the log's next).  Loads the signing
 * key on first use.  Any failure must fail the action: the caller rolls t
 * back.
 */
int custos__core_record(custos *c, custos_txn *t, custos_audit_entry *e, custos_err *err);

/* The same with the signer given (custos_init, before there is a custos). */
int custos__core_record_with(custos_txn *t, const custos_audit_signer *signer,
                             custos_audit_entry *e, custos_err *err);

/*
 * Sets the log up inside t (a write transaction on a database without a log):
 * generates a signing key named origin (NULL: the default), writes it to
 * key_path (refused if the file exists), stores the log's settings in meta
 * and appends log.init.  On success *signer is the caller's; *key_written
 * says whether the file was created (the caller removes it if t rolls back).
 */
int custos__core_log_create(custos_txn *t, const char *origin, const char *key_path,
                            custos_audit_signer **signer, bool *key_written, custos_err *err);

/* Ends the transaction that set a log up: signs a checkpoint of its tree,
 * so that auditors can keep one from the first day, and commits.  *t is
 * finished (NULL) when the commit was tried; otherwise the caller rolls it
 * back. */
int custos__core_log_seal(custos_txn **t, const custos_audit_signer *signer, custos_err *err);

/* The audit fields of *out (audit_log, audit_entries, checkpoint_size and
 * _root, log_key), read inside t. */
int custos__core_log_status(custos_txn *t, custos_status *out, custos_err *err);

/* Migration hook (custos__migrate_cb): records schema.migrate once the log
 * exists; ctx is the custos. */
int custos__core_record_migration(custos_txn *t, int version, void *ctx, custos_err *err);

/* For the other files of core (the import): opens a transaction acting as
 * `as`, re-reading the user and checking it holds role, as every action of
 * core.c does.  On success *t is open; on failure nothing is. */
int custos__core_begin_as(custos *c, const custos_session *as, custos_role role, bool write,
                          custos_txn **t, custos_err *err);

/* The gallery snapshot file of model next to c's database, or NULL when the
 * database is not a file (or out of memory).  Caller frees. (gallery.c) */
char *custos__core_gallery_path(const custos *c, const char *model);

/* A new index holding the store's templates of model as t sees them: from
 * the snapshot file when its stamp is the store's template generation, else
 * built from the store, then saved to snapshot (best effort).  snapshot may
 * be NULL.  *generation is the generation the index matches. */
int custos__core_gallery_load(custos_txn *t, const char *model, const char *snapshot,
                              custos_index **out, int64_t *generation, custos_err *err);

#endif
