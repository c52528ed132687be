/*
 * store: everything custos persists, behind one interface.
 *
 * This header is what the other modules call.  Each function checks its
 * arguments the same way whatever the backend (lengths, character sets, real
 * calendar dates), then dispatches to the backend's table of operations
 * (store_backend.h): SQLite for the embedded default, PostgreSQL later.  A
 * caller never sees which backend it talks to.
 *
 * Transactions.  Every read and write happens inside a transaction that the
 * caller opens with custos__store_begin and ends with custos__store_commit or
 * custos__store_rollback; every data function takes that open transaction.
 * So a change and the audit entry that records it (GOV-20, invariant 4) are
 * two calls on the same custos_txn, and either both happen or neither.  A
 * store holds at most one open transaction; a custos_store is used by one
 * thread at a time (open one store per thread).
 *
 * Personal data.  A holder's identity (licence number, names, date of birth)
 * is read with custos__store_holder_get.  The sensitive fields of GOV-18 live
 * apart (their own table) and are write-only: they can be stored, compared
 * with a given value inside the database, counted and erased, but no function
 * returns their values, so no code path can pass them to output (invariant 3).
 * The one type that carries identity towards an agency, custos_disclosure
 * (include/custos/core.h), is built only by custos__disclosure_build.
 *
 * Templates.  One per photo and model version: 128 floats.  The store keeps a
 * generation counter that changes in the same transaction as any change to
 * the templates, so an in-memory gallery can tell that it is stale.
 */
#ifndef CUSTOS_STORE_H
#define CUSTOS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custos/core.h"
#include "custos/error.h"
#include "util/util.h"

/* The schema version this build writes; see migrations in docs/store.md. */
#define CUSTOS_SCHEMA_VERSION 5

/* Limits, in bytes without the terminating NUL. */
#define CUSTOS_LICENSE_MAX 32      /* licence number: printable ASCII, no spaces */
#define CUSTOS_HOLDER_NAME_MAX 100 /* each name: UTF-8, no control characters */
#define CUSTOS_DATE_LEN 10         /* YYYY-MM-DD */
#define CUSTOS_SOURCE_MAX 255      /* a photo's source name: UTF-8, no control characters */
#define CUSTOS_MODEL_MAX 64        /* a template's model version: [A-Za-z0-9._/@+-] */
#define CUSTOS_SENSITIVE_MAX 1000  /* one sensitive value: UTF-8, no control characters */
#define CUSTOS_PWHASH_MAX 127      /* an encoded Argon2id string (crypto_pwhash_STRBYTES - 1) */
#define CUSTOS_META_VALUE_MAX 4096 /* a meta value */
#define CUSTOS_TEMPLATE_DIM 128    /* floats in a template */
#define CUSTOS_TIMESTAMP_LEN 20    /* YYYY-MM-DDTHH:MM:SSZ */

typedef struct custos_store custos_store; /* an open database (store_backend.h) */
typedef struct custos_txn custos_txn;     /* its open transaction */

/* ---- opening ------------------------------------------------------------ */

typedef enum custos__store_open_mode {
  CUSTOS__STORE_EXISTING = 0, /* the database must exist */
  CUSTOS__STORE_CREATE = 1    /* create a new, empty one; refuse an existing one */
} custos__store_open_mode;

/* Opens the database named by url: "postgresql://..." or "postgres://..."
 * selects PostgreSQL (CUSTOS_EUNSUPPORTED until its backend exists), anything
 * else is a SQLite file path.  The schema is not checked here (see
 * custos__store_check_schema).  Errors: CUSTOS_ENOENT (no database there, in
 * EXISTING mode), CUSTOS_ECONFLICT (one exists, in CREATE mode), CUSTOS_ECORRUPT
 * (not a database), CUSTOS_EDB.  On success *out is the caller's, closed with
 * custos__store_close. */
int custos__store_open(const char *url, custos__store_open_mode mode, custos_store **out,
                       custos_err *err);

/* Closes the store, rolling back an open transaction; NULL-safe. */
void custos__store_close(custos_store *s);

/* Closes the store and deletes the database it created (CREATE mode only;
 * for a failed custos init).  NULL-safe. */
void custos__store_close_and_remove(custos_store *s);

/* The backend's name: "sqlite" or "postgresql". */
const char *custos__store_backend(const custos_store *s);

/* Reads the schema version in *version: 0 for an empty database.
 * CUSTOS_ECORRUPT when the database holds tables but is not custos's. */
int custos__store_schema_version(custos_store *s, int *version, custos_err *err);

/* Called inside the transaction of each migration step, after the step: a
 * non-zero return rolls the step back and becomes the migration's result.
 * Core records each step in the audit log this way (GOV-20). */
typedef int (*custos__migrate_cb)(custos_txn *t, int version, void *ctx, custos_err *err);

/* Applies the migrations after the current version up to target (at most
 * CUSTOS_SCHEMA_VERSION), each in its own transaction together with the new
 * version number and, when after_step is not NULL, what it does.  Refuses a
 * database newer than target (CUSTOS_EVERSION). */
int custos__store_migrate(custos_store *s, int target, custos__migrate_cb after_step, void *ctx,
                          custos_err *err);

/* Inside t (a write transaction on an empty database): applies every
 * migration up to CUSTOS_SCHEMA_VERSION, so that custos init can create the
 * schema, its settings and the first administrator in one transaction — a
 * killed init leaves an empty file, never a schema without an administrator.
 * CUSTOS_ECONFLICT when the database is not empty. */
int custos__store_create_schema(custos_txn *t, custos_err *err);

/* Checks an opened database's schema: an empty one is CUSTOS_ENOENT ("not
 * initialised"), a newer one CUSTOS_EVERSION, an older one is migrated
 * forward when migrate is true (after_step and ctx as for
 * custos__store_migrate) and CUSTOS_EVERSION otherwise. */
int custos__store_check_schema(custos_store *s, bool migrate, custos__migrate_cb after_step,
                               void *ctx, custos_err *err);

/* ---- transactions --------------------------------------------------------- */

/* Opens a transaction; write true takes the write lock at once (so two writers
 * wait for each other instead of failing halfway).  *out belongs to the store
 * and stays valid until commit or rollback.  CUSTOS_EINTERNAL when one is
 * already open. */
int custos__store_begin(custos_store *s, bool write, custos_txn **out, custos_err *err);

/* Commits; on failure the transaction is rolled back.  Either way t is gone. */
int custos__store_commit(custos_txn *t, custos_err *err);

/* Rolls back; NULL-safe.  t is gone. */
void custos__store_rollback(custos_txn *t);

/* ---- meta: small key/value settings (schema version, policy hash, ...) ---- */

/* Reads key's value into out (at most cap bytes with the NUL).  CUSTOS_ENOENT
 * when absent, CUSTOS_ETOOBIG when it does not fit. */
int custos__store_meta_get(custos_txn *t, const char *key, char *out, size_t cap, custos_err *err);

/* Sets key to value (CUSTOS_META_VALUE_MAX bytes at most). */
int custos__store_meta_set(custos_txn *t, const char *key, const char *value, custos_err *err);

/* ---- holders ------------------------------------------------------------------ */

/* A licence holder's identity: the ordinary fields only.  The sensitive fields
 * of GOV-18 have no place here; see custos__store_sensitive_put. */
typedef struct custos__holder {
  int64_t id;                              /* assigned by the store, > 0 */
  char license_no[CUSTOS_LICENSE_MAX + 1]; /* unique */
  char first_name[CUSTOS_HOLDER_NAME_MAX + 1];
  char middle_name[CUSTOS_HOLDER_NAME_MAX + 1]; /* "" when none */
  char last_name[CUSTOS_HOLDER_NAME_MAX + 1];
  char dob[CUSTOS_DATE_LEN + 1]; /* date of birth, YYYY-MM-DD */
} custos__holder;

/* Adds a holder (h->id is ignored) and sets *id.  CUSTOS_EINVAL names a bad
 * field; CUSTOS_ECONFLICT when the licence number is already present. */
int custos__store_holder_add(custos_txn *t, const custos__holder *h, int64_t *id, custos_err *err);

/* Reads holder id into *out.  CUSTOS_ENOENT when there is none. */
int custos__store_holder_get(custos_txn *t, int64_t id, custos__holder *out, custos_err *err);

/* Finds a holder by licence number.  CUSTOS_ENOENT when there is none. */
int custos__store_holder_find(custos_txn *t, const char *license_no, custos__holder *out,
                              custos_err *err);

/* Replaces the ordinary fields of holder h->id (a renewal with a new name).
 * CUSTOS_ENOENT, CUSTOS_ECONFLICT (licence number taken), CUSTOS_EINVAL. */
int custos__store_holder_update(custos_txn *t, const custos__holder *h, custos_err *err);

/* Deletes a holder with their sensitive fields, photos and templates (the
 * template generation changes when any template goes).  CUSTOS_ENOENT. */
int custos__store_holder_delete(custos_txn *t, int64_t id, custos_err *err);

/* ---- sensitive fields (GOV-18): write-only ------------------------------------------ */

#define CUSTOS__SENSITIVE_FIELDS(X)             \
  X(SSN, "ssn")                                 \
  X(MOTHERS_MAIDEN_NAME, "mothers_maiden_name") \
  X(BIRTHPLACE, "birthplace")                   \
  X(TWIN_INDICATOR, "twin_indicator")           \
  X(VOTER_INDICATOR, "voter_indicator")         \
  X(TESTING_INFO, "testing_info")               \
  X(IDENTITY_DOCUMENTS, "identity_documents")   \
  X(PREVIOUS_LICENSE, "previous_license")       \
  X(PARENTAL_ID_DOCUMENT, "parental_id_document")

typedef enum custos__sensitive_field {
#define CUSTOS__SENS_ENUM_(id, name) CUSTOS__SENS_##id,
  CUSTOS__SENSITIVE_FIELDS(CUSTOS__SENS_ENUM_)
#undef CUSTOS__SENS_ENUM_
      CUSTOS__SENS_COUNT
} custos__sensitive_field;

/* The field's column name ("ssn"); NULL for an out-of-range value. */
const char *custos__sensitive_field_name(custos__sensitive_field f);

/* Parses a column name; CUSTOS_EINVAL naming it when it is not one. */
int custos__sensitive_field_parse(const char *name, custos__sensitive_field *out, custos_err *err);

/* Values to store, indexed by field; NULL leaves a field as it is. */
typedef struct custos__sensitive_in {
  const char *value[CUSTOS__SENS_COUNT];
} custos__sensitive_in;

/* Stores the non-NULL values of in for holder_id, replacing earlier ones.
 * Errors name the field, never its value: CUSTOS_EINVAL, CUSTOS_ENOENT. */
int custos__store_sensitive_put(custos_txn *t, int64_t holder_id, const custos__sensitive_in *in,
                                custos_err *err);

/* Whether holder_id's stored field equals value (value NULL: whether the field
 * is absent).  The comparison happens inside the database; nothing is read
 * back. */
int custos__store_sensitive_matches(custos_txn *t, int64_t holder_id, custos__sensitive_field f,
                                    const char *value, bool *match, custos_err *err);

/* Number of holders that have field f stored. */
int custos__store_sensitive_count(custos_txn *t, custos__sensitive_field f, int64_t *n,
                                  custos_err *err);

/* ---- photos --------------------------------------------------------------------- */

typedef struct custos__photo {
  int64_t id;                         /* assigned by the store, > 0 */
  int64_t holder_id;                  /* whose photo */
  uint8_t sha256[32];                 /* of the encoded file */
  char captured[CUSTOS_DATE_LEN + 1]; /* capture date YYYY-MM-DD, "" when unknown */
  char source[CUSTOS_SOURCE_MAX + 1]; /* where it came from (file name), may be "" */
} custos__photo;

/* Adds a photo (p->id ignored), sets *id.  CUSTOS_ENOENT (no such holder),
 * CUSTOS_ECONFLICT (this holder already has a photo with this SHA-256). */
int custos__store_photo_add(custos_txn *t, const custos__photo *p, int64_t *id, custos_err *err);

/* Reads photo id.  CUSTOS_ENOENT. */
int custos__store_photo_get(custos_txn *t, int64_t id, custos__photo *out, custos_err *err);

/* Finds holder_id's photo with this SHA-256.  CUSTOS_ENOENT. */
int custos__store_photo_find(custos_txn *t, int64_t holder_id, const uint8_t sha256[32],
                             custos__photo *out, custos_err *err);

/* ---- templates -------------------------------------------------------------------- */

/* Stores the template of photo_id computed by model.  Every value must be
 * finite.  CUSTOS_ENOENT (no such photo), CUSTOS_ECONFLICT (already one for
 * this photo and model).  Changes the template generation. */
int custos__store_template_put(custos_txn *t, int64_t photo_id, const char *model,
                               const float v[CUSTOS_TEMPLATE_DIM], custos_err *err);

/* Reads the template of photo_id and model into v.  CUSTOS_ENOENT. */
int custos__store_template_get(custos_txn *t, int64_t photo_id, const char *model,
                               float v[CUSTOS_TEMPLATE_DIM], custos_err *err);

/* One template as the iterator presents it. */
typedef struct custos__template_rec {
  int64_t id;        /* the template's id */
  int64_t holder_id; /* the holder of its photo */
  int64_t photo_id;  /* its photo */
  const float *v;    /* CUSTOS_TEMPLATE_DIM floats, valid only during the callback */
} custos__template_rec;

/* Receives each template; a non-zero return stops the iteration and becomes
 * custos__store_template_foreach's result. */
typedef int (*custos__template_cb)(const custos__template_rec *rec, void *ctx);

/* Calls cb for every template of model (NULL: every model) in increasing id
 * order; what a gallery index loads itself from. */
int custos__store_template_foreach(custos_txn *t, const char *model, custos__template_cb cb,
                                   void *ctx, custos_err *err);

/* Number of templates of model (NULL: all). */
int custos__store_template_count(custos_txn *t, const char *model, int64_t *n, custos_err *err);

/* The template generation: a number that changes whenever a template is
 * added or removed, in the same transaction. */
int custos__store_template_generation(custos_txn *t, int64_t *gen, custos_err *err);

/* ---- users --------------------------------------------------------------------- */

/* A user as stored.  Roles are validated by auth; the store keeps the name. */
typedef struct custos__user {
  int64_t id;                              /* assigned by the store, > 0 */
  char name[CUSTOS_USER_NAME_MAX + 1];     /* unique */
  char role[16];                           /* "admin", "examiner", ... */
  char pwhash[CUSTOS_PWHASH_MAX + 1];      /* Argon2id encoded string */
  char trained_until[CUSTOS_DATE_LEN + 1]; /* certification end YYYY-MM-DD, "" none */
  int failed_logins;                       /* consecutive failed logins */
  bool locked;                             /* refused until an admin unlocks */
  char created[CUSTOS_TIMESTAMP_LEN + 1];  /* UTC, YYYY-MM-DDTHH:MM:SSZ */
} custos__user;

/* Adds a user (u->id, failed_logins and locked ignored: 0) and sets *id.
 * CUSTOS_ECONFLICT when the name is taken. */
int custos__store_user_add(custos_txn *t, const custos__user *u, int64_t *id, custos_err *err);

/* Reads the user called name.  CUSTOS_ENOENT. */
int custos__store_user_get(custos_txn *t, const char *name, custos__user *out, custos_err *err);

/* Receives each user; non-zero stops, as for templates. */
typedef int (*custos__user_cb)(const custos__user *u, void *ctx);

/* Calls cb for every user in name order. */
int custos__store_user_foreach(custos_txn *t, custos__user_cb cb, void *ctx, custos_err *err);

/* Counts a failed login of user id, locking the account when the count
 * reaches max_failed; *locked (may be NULL) tells whether it is now locked. */
int custos__store_user_login_failed(custos_txn *t, int64_t id, int max_failed, bool *locked,
                                    custos_err *err);

/* Records a successful login: the failure count goes back to 0; new_pwhash,
 * when not NULL, replaces the stored hash (a rehash with stronger
 * parameters). */
int custos__store_user_login_ok(custos_txn *t, int64_t id, const char *new_pwhash, custos_err *err);

/* Unlocks user id and resets its failure count.  CUSTOS_ENOENT. */
int custos__store_user_unlock(custos_txn *t, int64_t id, custos_err *err);

/* Sets user id's training certification end (YYYY-MM-DD, or NULL/"" for
 * none).  CUSTOS_ENOENT, CUSTOS_EINVAL. */
int custos__store_user_set_training(custos_txn *t, int64_t id, const char *until, custos_err *err);

/* ---- the audit log's rows (GOV-20) ------------------------------------------------ */

/*
 * The tables behind the audit log (docs/store.md, schema step 3).  The store
 * keeps bytes and hashes; what they mean is src/audit's business, whose
 * custos_audit_store on an open transaction (src/audit/dbstore.c) is the only
 * caller.  Every function runs inside the caller's transaction, so an entry
 * commits or rolls back with the change it records.  Indexes are >= 0 (the
 * log's uint64 positions, limited to INT64_MAX by the databases' integers).
 */
#define CUSTOS_STORE_AUDIT_ENTRY_MAX 8192 /* bytes of an entry (CUSTOS_AUDIT_ENTRY_MAX) */
#define CUSTOS_STORE_AUDIT_NOTE_MAX 16384 /* bytes of a checkpoint note (CUSTOS_AUDIT_NOTE_MAX) */
#define CUSTOS_STORE_AUDIT_HEAD_MAX 2056  /* bytes of the head blob: 8 + 64 hashes */
#define CUSTOS_STORE_AUDIT_LEVELS 64      /* node levels 0..63; level 0 is the leaf hash */

/* Reads the head blob (the log's compact range) into out[0..cap) and its
 * length into *len.  CUSTOS_ENOENT when none was ever written. */
int custos__store_audit_head_get(custos_txn *t, uint8_t *out, size_t cap, size_t *len,
                                 custos_err *err);

/* Writes the head blob (8..CUSTOS_STORE_AUDIT_HEAD_MAX bytes), replacing it. */
int custos__store_audit_head_put(custos_txn *t, const uint8_t *blob, size_t len, custos_err *err);

/* Stores entry idx (1..CUSTOS_STORE_AUDIT_ENTRY_MAX bytes) with its leaf
 * hash.  CUSTOS_ECONFLICT when entry idx exists. */
int custos__store_audit_entry_add(custos_txn *t, int64_t idx, const void *data, size_t len,
                                  const uint8_t leaf[32], custos_err *err);

/* Reads entry idx's bytes into *out (reset first).  CUSTOS_ENOENT. */
int custos__store_audit_entry_get(custos_txn *t, int64_t idx, custos_buf *out, custos_err *err);

/* Receives each entry of a scan; data is valid only during the call.  A
 * non-zero return stops the scan and becomes its result. */
typedef int (*custos__audit_entry_cb)(void *ctx, int64_t idx, const void *data, size_t len);

/* Calls cb for every stored entry with an index >= first, in index order. */
int custos__store_audit_entry_scan(custos_txn *t, int64_t first, custos__audit_entry_cb cb,
                                   void *ctx, custos_err *err);

/* Number of stored entries (rows counted, whatever the head says). */
int custos__store_audit_entry_count(custos_txn *t, int64_t *n, custos_err *err);

/* Stores the hash of perfect subtree (level, idx), level 1..63 (level 0 is
 * the leaf hash, stored with its entry).  CUSTOS_ECONFLICT when that node
 * exists. */
int custos__store_audit_node_put(custos_txn *t, int level, int64_t idx, const uint8_t hash[32],
                                 custos_err *err);

/* Reads the hash of (level, idx); level 0 is entry idx's leaf hash.
 * CUSTOS_ENOENT. */
int custos__store_audit_node_get(custos_txn *t, int level, int64_t idx, uint8_t hash[32],
                                 custos_err *err);

/* Stores a signed checkpoint note (1..CUSTOS_STORE_AUDIT_NOTE_MAX bytes) for
 * tree size `size`, as number custos__store_audit_checkpoint_count. */
int custos__store_audit_checkpoint_add(custos_txn *t, int64_t size, const char *note, size_t len,
                                       custos_err *err);

/* Number of checkpoint slots: one more than the highest stored number, so a
 * deleted checkpoint shows as a gap (CUSTOS_ENOENT from _get) rather than
 * renumbering the later ones. */
int custos__store_audit_checkpoint_count(custos_txn *t, int64_t *n, custos_err *err);

/* Reads checkpoint number i (0 = the oldest) into *out (reset first).
 * CUSTOS_ENOENT when there is none with that number. */
int custos__store_audit_checkpoint_get(custos_txn *t, int64_t i, custos_buf *out, custos_err *err);

/* ---- the import: erasing a field, de-duplication cases (docs/import.md) ---------- */

/* GOV-19: erases field f of every holder and sets *n to the number of values
 * erased.  secure_delete overwrites them in the pages; custos__store_compact
 * then removes them from the files. */
int custos__store_sensitive_purge(custos_txn *t, custos__sensitive_field f, int64_t *n,
                                  custos_err *err);

/* Outside any transaction: moves everything into the main file and rebuilds
 * it, so that erased values are gone from the database's files (SQLite: WAL
 * checkpoint with truncation, VACUUM, checkpoint again).  CUSTOS_EDB when
 * another connection keeps the log from being emptied (a reader open);
 * CUSTOS_EINTERNAL inside a transaction. */
int custos__store_compact(custos_store *s, custos_err *err);

/* A possible_duplicate case opened at enrolment: holder_b's new photo came
 * closer than the policy's dedup_threshold to holder_a's photo.  The request
 * workflow (issue 7) will fold these into its cases.  The distance is for
 * examiners only: never shown to anyone else, never logged. */
typedef struct custos__dedup_case {
  int64_t id;                             /* assigned by the store, > 0 */
  int64_t holder_a;                       /* the holder already in the gallery */
  int64_t holder_b;                       /* the holder whose photo was just enrolled */
  int64_t photo_a;                        /* holder_a's photo that came close */
  int64_t photo_b;                        /* holder_b's new photo */
  double distance;                        /* descriptor distance, >= 0, finite */
  bool open;                              /* open (for an examiner) or closed */
  char created[CUSTOS_TIMESTAMP_LEN + 1]; /* UTC, YYYY-MM-DDTHH:MM:SSZ */
} custos__dedup_case;

/* Opens a case (c->id and c->open ignored: a new case is open), sets *id.
 * CUSTOS_EINVAL (the same holder twice, a bad distance), CUSTOS_ENOENT (no
 * such holder or photo), CUSTOS_ECONFLICT (a case for these two photos). */
int custos__store_dedup_case_add(custos_txn *t, const custos__dedup_case *c, int64_t *id,
                                 custos_err *err);

/* Whether an open case names holders a and b (in either order). */
int custos__store_dedup_case_open_exists(custos_txn *t, int64_t a, int64_t b, bool *exists,
                                         custos_err *err);

/* Number of cases; only the open ones when open_only. */
int custos__store_dedup_case_count(custos_txn *t, bool open_only, int64_t *n, custos_err *err);

/* Receives each case; a non-zero return stops the iteration. */
typedef int (*custos__dedup_case_cb)(const custos__dedup_case *c, void *ctx);

/* Calls cb for every case in id order. */
int custos__store_dedup_case_foreach(custos_txn *t, custos__dedup_case_cb cb, void *ctx,
                                     custos_err *err);

/* ---- request cases (src/cases, docs/cases.md; schema step 5) ---------------------- */

#define CUSTOS_CASE_RECORD_MAX ((size_t)1 << 20) /* bytes of a case's record (JSON) */
#define CUSTOS_CASE_STATE_MAX 15                 /* bytes of a state name */

/* A request case as stored.  The record is the case's JSON document (the
 * request's non-personal summary, the checks' reasons, reviews, the search,
 * the candidate list and the examiners' marks), which src/cases reads and
 * writes; the store keeps it as text.  The probe and the order document are
 * kept apart as blobs: never in the gallery (invariant 5). */
typedef struct custos__case_row {
  int64_t id;                                /* assigned by the store, > 0 */
  char state[CUSTOS_CASE_STATE_MAX + 1];     /* "intake", "approved", ... */
  char received[CUSTOS_DATE_LEN + 1];        /* YYYY-MM-DD the request was received */
  char created[CUSTOS_TIMESTAMP_LEN + 1];    /* UTC time the case was registered */
  char closed[CUSTOS_TIMESTAMP_LEN + 1];     /* UTC time it closed; "" while open */
  bool history;                              /* imported as history (no documents) */
  bool has_probe;                            /* the probe bytes are still stored (GOV-21) */
  const char *record;                        /* the JSON record, NUL-terminated */
} custos__case_row;

/* Adds a case (c->id, c->has_probe ignored) with its probe and order
 * document (either may be NULL with length 0), sets *id. */
int custos__store_case_add(custos_txn *t, const custos__case_row *c, const void *probe,
                           size_t probe_len, const void *doc, size_t doc_len, int64_t *id,
                           custos_err *err);

/* Reads case id into *out; its record goes into *record (reset first) and
 * out->record points into it.  CUSTOS_ENOENT. */
int custos__store_case_get(custos_txn *t, int64_t id, custos__case_row *out, custos_buf *record,
                           custos_err *err);

/* Rewrites state, closed and record of case c->id.  CUSTOS_ENOENT. */
int custos__store_case_update(custos_txn *t, const custos__case_row *c, custos_err *err);

/* Receives each case; the row is valid only during the call.  A non-zero
 * return stops the iteration. */
typedef int (*custos__case_cb)(const custos__case_row *c, void *ctx);

/* Calls cb for every case in id order. */
int custos__store_case_foreach(custos_txn *t, custos__case_cb cb, void *ctx, custos_err *err);

/* Reads the probe (probe true) or the order document of case id into *out
 * (reset first).  CUSTOS_ENOENT when there is none (purged, or history). */
int custos__store_case_blob_get(custos_txn *t, int64_t id, bool probe, custos_buf *out,
                                custos_err *err);

/* GOV-21: erases the probe bytes of case id (its SHA-256 stays in the
 * record and the log).  CUSTOS_ENOENT. */
int custos__store_case_purge_probe(custos_txn *t, int64_t id, custos_err *err);

/* ---- counts -------------------------------------------------------------------- */

typedef enum custos__store_table {
  CUSTOS__T_HOLDERS = 0,
  CUSTOS__T_PHOTOS = 1,
  CUSTOS__T_TEMPLATES = 2,
  CUSTOS__T_USERS = 3,
  CUSTOS__T_CASES = 4,
  CUSTOS__T_COUNT
} custos__store_table;

/* Number of rows of a table. */
int custos__store_count(custos_txn *t, custos__store_table table, int64_t *n, custos_err *err);

/* ---- disclosure (invariant 2) ------------------------------------------------------ */

/* Builds the disclosure of holder_id: its five limited-identity fields and
 * nothing else.  The only constructor of custos_disclosure; the request
 * workflow calls it for a candidate two examiners confirmed (GOV-15, GOV-17)
 * and records the holder-record read in the same transaction (GOV-20).
 * *out is the caller's (custos_disclosure_free).  CUSTOS_ENOENT. */
int custos__disclosure_build(custos_txn *t, int64_t holder_id, custos_disclosure **out,
                             custos_err *err);

/* ---- checks shared by every backend and by other modules ------------------------- */

/* Whether s is a real calendar date YYYY-MM-DD with a year 1800..2999.
 * Errors name field: "FIELD: not a date (YYYY-MM-DD)". */
int custos__date_check(const char *s, const char *field, custos_err *err);

/* Today's UTC date as YYYY-MM-DD in out[CUSTOS_DATE_LEN + 1]. */
void custos__date_today(char out[CUSTOS_DATE_LEN + 1]);

/* The current UTC time as YYYY-MM-DDTHH:MM:SSZ. */
void custos__timestamp_now(char out[CUSTOS_TIMESTAMP_LEN + 1]);

/* Decodes the UTF-8 sequence at s[*i] (*i < len): on success *cp is its code
 * point and *i moves past it.  False for a truncated sequence, a stray
 * continuation byte, an overlong form, a surrogate or a code point past
 * U+10FFFF.  What a text may contain is the caller's rule. */
bool custos__utf8_next(const char *s, size_t len, size_t *i, uint32_t *cp);

/* Whether s (len bytes) is valid UTF-8 without control characters (C0, DEL,
 * C1) or the line and paragraph separators U+2028 and U+2029. */
bool custos__utf8_printable(const char *s, size_t len);

/* Checks a text field: present (unless may_be_empty), at most max bytes,
 * printable UTF-8.  Errors name the field and never quote its value. */
int custos__text_check(const char *s, const char *field, size_t max, bool may_be_empty,
                       custos_err *err);

#endif
