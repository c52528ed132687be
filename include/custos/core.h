/*
 * The custos instance: opening a database, setting it up, its status, users
 * and their sessions, and the disclosure type.
 *
 * A front end opens one custos (custos_open), authenticates the person it
 * acts for (custos_login gives a custos_session) and passes that session to
 * every action; each action re-reads the user in its own transaction, so a
 * role change or a lock takes effect at once.  A custos handle is used by one
 * thread at a time.
 *
 * Passwords are hashed with Argon2id (libsodium's INTERACTIVE limits) and
 * checked in constant time.  After CUSTOS_MAX_FAILED_LOGINS consecutive
 * wrong passwords an account is locked until an administrator unlocks it.
 *
 * Every change appends an entry to the audit log in the same transaction
 * (GOV-20, invariant 4): if the entry cannot be appended, the change fails.
 * Appending signs checkpoints, so every process that changes anything needs
 * the log's signing key file (custos_audit_key_path); reading, verifying and
 * proving need only the database.  docs/audit.md lists what is recorded.
 */
#ifndef CUSTOS_CORE_H
#define CUSTOS_CORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custos/audit.h"
#include "custos/error.h"
#include "custos/policy.h"

/* ---- roles --------------------------------------------------------------- */

typedef enum custos_role {
  CUSTOS_ROLE_NONE = 0,     /* not a role; what a failed parse leaves */
  CUSTOS_ROLE_ADMIN = 1,    /* users, roles, training dates, policy, imports */
  CUSTOS_ROLE_INTAKE = 2,   /* registers requests, first review */
  CUSTOS_ROLE_MANAGER = 3,  /* second review */
  CUSTOS_ROLE_GOVERNOR = 4, /* governor's-office reviewer, third review */
  CUSTOS_ROLE_LEGAL = 5,    /* legal review of escalated cases (GOV-04) */
  CUSTOS_ROLE_EXAMINER = 6, /* searches and examines (trained, GOV-13) */
  CUSTOS_ROLE_AUDITOR = 7   /* reads and verifies the log, reports */
} custos_role;

/* The role's name ("admin"); "none" for anything else. */
CUSTOS_API const char *custos_role_name(custos_role r);

/* Parses a role name.  CUSTOS_EINVAL (listing the roles) when it is not one. */
CUSTOS_API int custos_role_parse(const char *s, custos_role *out, custos_err *err);

/* ---- limits and checks front ends may run before asking for passwords ------- */

#define CUSTOS_USER_NAME_MAX 64    /* bytes; [a-z][a-z0-9._-]* */
#define CUSTOS_PASSWORD_MIN 12     /* characters (UTF-8 code points) */
#define CUSTOS_PASSWORD_MAX 1024   /* bytes */
#define CUSTOS_MAX_FAILED_LOGINS 5 /* consecutive failures that lock an account */

/* A user name: 1..64 bytes of a-z, 0-9, '.', '_', '-', starting with a letter. */
CUSTOS_API int custos_user_name_check(const char *name, custos_err *err);

/* A new password: CUSTOS_PASSWORD_MIN..MAX, not the user's name. */
CUSTOS_API int custos_password_check(const char *name, const char *password, custos_err *err);

/* A real calendar date YYYY-MM-DD (years 1800..2999); field names it in errors. */
CUSTOS_API int custos_date_check(const char *date, const char *field, custos_err *err);

/* ---- the instance ------------------------------------------------------------ */

typedef struct custos custos;                 /* an open database */
typedef struct custos_session custos_session; /* an authenticated user */

typedef struct custos_init_opts {
  const char *admin_name;     /* the first administrator */
  const char *admin_password; /* their password (custos_password_check) */
  const char *policy_path;    /* policy file, or NULL; until the policy module exists
                                 only its path and SHA-256 are recorded */
  const char *log_origin;     /* the audit log's name, its checkpoints' origin line (printable
                                 ASCII, no space or '+', at most CUSTOS_AUDIT_KEY_NAME_MAX
                                 bytes); NULL: "custos.local/audit/" and 8 random hex digits */
} custos_init_opts;

/* Creates a new database at db_url (a SQLite path, or postgresql://...), its
 * schema, the first administrator and the audit log: a new Ed25519 signing
 * key written to the key file (custos_audit_key_path; mode 0600, sealed when
 * $CUSTOS_AUDIT_SEAL_KEY is set), the log's first entries (log.init, the
 * policy, the administrator) and a first signed checkpoint.  The public key
 * is then in custos_status's log_key.  Refuses an existing database or key
 * file (CUSTOS_ECONFLICT) and changes nothing then; on any other failure the
 * new database and key file are removed again.  Errors: CUSTOS_EINVAL (names
 * the bad option), CUSTOS_ENOENT (policy file), CUSTOS_EUNSUPPORTED
 * (PostgreSQL, for now), CUSTOS_EDB, CUSTOS_EIO. */
CUSTOS_API int custos_init(const char *db_url, const custos_init_opts *opts, custos_err *err);

/* Opens an existing database.  A database written by a newer custos is
 * refused with CUSTOS_EVERSION; an older one is migrated forward first (each
 * step atomic, and recorded in the audit log once the log exists).
 * CUSTOS_ENOENT when there is none ("run custos init").  The log's signing
 * key is read on the first change, not here.  On success *out is the
 * caller's, closed with custos_close. */
CUSTOS_API int custos_open(const char *db_url, custos **out, custos_err *err);

/* Closes c; NULL-safe.  Sessions of c must be freed before. */
CUSTOS_API void custos_close(custos *c);

/* What custos status reports.  Later parts add fields. */
typedef struct custos_status {
  int64_t holders;          /* licence holders */
  int64_t photos;           /* their photos */
  int64_t templates;        /* face templates, all models */
  int64_t users;            /* staff accounts */
  int64_t cases;            /* request cases, history included */
  int schema_version;       /* of the database */
  char backend[16];         /* "sqlite" or "postgresql" */
  char policy_sha256[65];   /* hex SHA-256 of the policy file given to init; "" none */
  bool audit_log;           /* the audit log is set up (false: a database from before it) */
  int64_t audit_entries;    /* entries in the audit log (its tree size) */
  int64_t checkpoint_size;  /* tree size of the latest signed checkpoint; -1 when none */
  char checkpoint_root[65]; /* its root hash, lowercase hex; "" when none */
  char log_key[CUSTOS_AUDIT_VERIFIER_KEY_MAX]; /* the log's verifier key as the database
                                                  states it; "" when no log */
} custos_status;

/* Fills *out.  Needs no session: it holds counts and versions, no personal
 * data. */
CUSTOS_API int custos_get_status(custos *c, custos_status *out, custos_err *err);

/* The version of the face models in models_dir (NULL: the build's folder) as
 * templates record it: "faceapi.<first 16 hex digits of a SHA-256 over the
 * detector's, landmark net's and recognition net's weights>.ssd.ref".
 * CUSTOS_ENOENT (or CUSTOS_EIO) when the weights cannot be read. */
CUSTOS_API int custos_models_version(const char *models_dir, char *out, size_t size,
                                     custos_err *err);

/* ---- sessions -------------------------------------------------------------- */

/* Authenticates user with password.  A wrong password, an unknown user and a
 * locked account all give CUSTOS_EAUTH (the message says when an account is
 * locked); every wrong password counts towards the lock.  On success *out is
 * the caller's, freed with custos_session_free. */
CUSTOS_API int custos_login(custos *c, const char *user, const char *password, custos_session **out,
                            custos_err *err);

/* Frees a session; NULL-safe. */
CUSTOS_API void custos_session_free(custos_session *s);

/* The session's user name and role (as at login, or at the last
 * custos_session_refresh). */
CUSTOS_API const char *custos_session_user(const custos_session *s);
CUSTOS_API custos_role custos_session_role(const custos_session *s);

/* Re-reads the session's user: an error when it was removed or replaced
 * (CUSTOS_EPERM) or locked (CUSTOS_EAUTH) since login — the session must then
 * end; otherwise updates the
 * session's role to the user's current one.  Every action re-checks the user
 * anyway; a long-lived front end (the server) calls this per request so that
 * what it shows follows the database too.  s must have been opened on c. */
CUSTOS_API int custos_session_refresh(custos *c, custos_session *s, custos_err *err);

/* ---- users (administrators only; others get CUSTOS_EPERM) -------------------- */

typedef struct custos_user_info {
  char name[CUSTOS_USER_NAME_MAX + 1];
  custos_role role;
  char trained_until[11]; /* training certification end YYYY-MM-DD; "" none */
  int failed_logins;      /* consecutive failed logins */
  bool locked;            /* refused until unlocked */
  char created[21];       /* UTC, YYYY-MM-DDTHH:MM:SSZ */
} custos_user_info;

/* Adds a user.  trained_until may be NULL.  Errors: CUSTOS_EPERM (as is not an
 * administrator), CUSTOS_EINVAL (names the bad field), CUSTOS_ECONFLICT (the
 * name is taken). */
CUSTOS_API int custos_user_add(custos *c, const custos_session *as, const char *name,
                               custos_role role, const char *trained_until, const char *password,
                               custos_err *err);

/* Lists users in name order into a new array *out of *n entries, which the
 * caller frees with custos_user_list_free. */
CUSTOS_API int custos_user_list(custos *c, const custos_session *as, custos_user_info **out,
                                size_t *n, custos_err *err);
CUSTOS_API void custos_user_list_free(custos_user_info *list);

/* Unlocks a locked account and resets its failure count.  CUSTOS_ENOENT. */
CUSTOS_API int custos_user_unlock(custos *c, const custos_session *as, const char *name,
                                  custos_err *err);

/* Sets (YYYY-MM-DD) or clears (NULL or "") a user's training certification. */
CUSTOS_API int custos_user_set_training(custos *c, const custos_session *as, const char *name,
                                        const char *until, custos_err *err);

/* ---- the audit log (GOV-20) ---------------------------------------------------
 *
 * Reading, verifying and proving need no session: the log is public by design
 * (an auditor, a court or the public checks it against a key they pinned) and
 * holds no personal data.  Signing needs the key file, so who may sign a
 * checkpoint is decided by the file's permissions (owner only, 0600). */

#define CUSTOS_AUDIT_KEY_ENV "CUSTOS_AUDIT_KEY" /* names the key file, overriding the default */
#define CUSTOS_AUDIT_KEY_SUFFIX ".logkey"       /* default key file: the SQLite path + this */
#define CUSTOS_AUDIT_CHECKPOINT_EVERY               \
  1000 /* entries per automatic checkpoint, until a \
          policy sets audit.checkpoint_every */

/* The audit log's signing key file for the database db_url into out[cap]:
 * $CUSTOS_AUDIT_KEY when set and not empty, else db_url + ".logkey" for a
 * SQLite path.  A PostgreSQL URL has no file beside it: CUSTOS_EINVAL unless
 * the variable is set.  CUSTOS_ETOOBIG when cap is too small. */
CUSTOS_API int custos_audit_key_path(const char *db_url, char *out, size_t cap, custos_err *err);

/* Sets up the audit log of a database created before the log existed
 * (schema version < 3, migrated by custos_open): a new signing key in the key
 * file, the log's settings, its log.init entry and a signed checkpoint, as
 * custos_init does.  origin as in custos_init_opts.  CUSTOS_ECONFLICT when the
 * log is set up already or the key file exists (never overwritten);
 * CUSTOS_ECORRUPT when the database holds entries but no log settings. */
CUSTOS_API int custos_audit_setup(custos *c, const char *origin, custos_err *err);

/*
 * Verifies the whole log (custos audit verify): recomputes the Merkle tree
 * from the stored entries and checks every stored subtree hash, the head,
 * every checkpoint's signature, origin and root, and a consistency proof
 * between each pair of consecutive checkpoints (docs/audit.md).  key: the
 * verifier key the auditor pinned ("name+hash+base64"), or NULL to use the
 * one the database states — which only shows the log consistent with itself;
 * a pinned key that is not the database's is a problem too.  pinned[0..n):
 * signed checkpoints kept outside custos, each of which must match the log.
 * Returns CUSTOS_OK for an intact log; CUSTOS_EVERIFY with the first problem
 * in *err and rep->first_problem; CUSTOS_EINVAL for a malformed key;
 * CUSTOS_ENOENT when the log is not set up. */
CUSTOS_API int custos_audit_verify(custos *c, const char *key, const char *const *pinned,
                                   size_t n_pinned, custos_audit_verify_report *rep,
                                   custos_err *err);

/*
 * The latest signed checkpoint's note (C2SP signed note) into
 * note[0..cap), NUL-terminated, its length into *len.  With sign, first signs
 * a checkpoint of the current tree when it has grown since the latest
 * (*signed_new says whether), which needs the key file.  CUSTOS_ENOENT when
 * there is none (without sign), CUSTOS_ECORRUPT when the latest does not
 * verify, CUSTOS_ETOOBIG when cap is too small (CUSTOS_AUDIT_NOTE_MAX + 1 is
 * enough).  signed_new may be NULL.
 */
CUSTOS_API int custos_audit_latest_checkpoint(custos *c, bool sign, char *note, size_t cap,
                                              size_t *len, bool *signed_new, custos_err *err);

/* What a third party needs to check one entry (tools/verify-proof), besides
 * the log's public key, which they pinned themselves. */
typedef struct custos_audit_evidence {
  char entry[CUSTOS_AUDIT_ENTRY_MAX + 1];     /* the entry's exact bytes, NUL-terminated */
  size_t entry_len;                           /* bytes, without the NUL */
  char checkpoint[CUSTOS_AUDIT_NOTE_MAX + 1]; /* the signed checkpoint, NUL-terminated */
  size_t checkpoint_len;                      /* bytes, without the NUL */
  custos_audit_checkpoint cp;                 /* its content (verified with the log's key) */
  custos_audit_inclusion_proof proof;         /* the entry in cp's tree */
} custos_audit_evidence;

/* Fills *out (about 25 KB: the caller's memory) with entry `index`, the latest
 * signed checkpoint and the inclusion proof of the entry in it, checked once
 * here as a third party would.  When no checkpoint covers the entry yet and
 * may_sign is true, signs one first (needs the key file).  CUSTOS_ENOENT when
 * there is no such entry or no checkpoint covers it (and may_sign is false);
 * CUSTOS_ECORRUPT when the stored entry or checkpoint does not verify. */
CUSTOS_API int custos_audit_prove(custos *c, uint64_t index, bool may_sign,
                                  custos_audit_evidence *out, custos_err *err);

/* ---- disclosure (invariant 2, GOV-17) -----------------------------------------
 *
 * The only type that carries a licence holder's identity towards an agency.
 * It has exactly five fields and one constructor inside the library, which
 * the request workflow calls only for a candidate two examiners confirmed;
 * the sensitive fields of GOV-18 cannot be put in it.  Front ends read it
 * through these accessors; the strings belong to the disclosure. */
typedef struct custos_disclosure custos_disclosure;

CUSTOS_API const char *custos_disclosure_first_name(const custos_disclosure *d);
CUSTOS_API const char *custos_disclosure_middle_name(const custos_disclosure *d); /* "" none */
CUSTOS_API const char *custos_disclosure_last_name(const custos_disclosure *d);
CUSTOS_API const char *custos_disclosure_dob(const custos_disclosure *d); /* YYYY-MM-DD */
CUSTOS_API const char *custos_disclosure_license_no(const custos_disclosure *d);

/* Frees a disclosure, wiping it; NULL-safe. */
CUSTOS_API void custos_disclosure_free(custos_disclosure *d);

/* ---- the import of licence holders (custos import, docs/import.md) -------------
 *
 * An import reads a CSV file of holders (RFC 4180, a header row naming the
 * columns in any order) and their photos, and enrols every row that passes
 * its checks: the holder, the sensitive fields, the photo, its template and
 * an audit entry, in one transaction per batch of rows, so that a row is in
 * completely or not at all, whenever the process stops.  Running the same
 * import again adds nothing: a row already present with the same data and
 * the same photo (SHA-256) counts as present.  A refused row changes nothing
 * and goes to the rejects file with its row number, reason code and a
 * message that names the column but never quotes a value (GOV-18).  A
 * column the policy marks not collected (GOV-19: birthplace) is dropped and
 * counted.  Each newly enrolled photo is compared with the gallery; another
 * holder closer than the policy's dedup_threshold opens a possible-duplicate
 * case for an examiner, and nothing else happens automatically. */

/* Why a row is refused: X(NAME, what it means). */
#define CUSTOS_IMPORT_REASON_MAP(X)                                                       \
  X(MALFORMED_ROW, "the CSV record is malformed or has the wrong number of fields")       \
  X(INVALID_FIELD, "a field is missing, too long, or not valid text")                     \
  X(BAD_DATE,                                                                             \
    "the date of birth is not a real date, is after today, or gives an "                  \
    "implausible age")                                                                    \
  X(CONFLICT, "the licence number is already present with different data")                \
  X(PHOTO_PATH,                                                                           \
    "the photo path is absolute, has '.' or '..' parts, or leads outside the "            \
    "photos folder")                                                                      \
  X(PHOTO_MISSING, "the photo file does not exist")                                       \
  X(PHOTO_UNREADABLE, "the photo is not a regular file, cannot be read, or is too large") \
  X(PHOTO_CORRUPT, "the photo is not a JPEG or PNG image, or is corrupt")                 \
  X(NO_FACE, "no face in the photo")                                                      \
  X(MANY_FACES, "more than one face in the photo")                                        \
  X(FACE_TOO_SMALL, "the face is smaller than the policy's probe.min_face_px")            \
  X(FACE_BLURRED, "the face is less sharp than the policy's probe.min_sharpness")

typedef enum custos_import_reason {
#define CUSTOS_IMPORT_REASON_ENUM_(name, text) CUSTOS_IMPORT_##name,
  CUSTOS_IMPORT_REASON_MAP(CUSTOS_IMPORT_REASON_ENUM_)
#undef CUSTOS_IMPORT_REASON_ENUM_
      CUSTOS_IMPORT_REASON_COUNT
} custos_import_reason;

/* "NO_FACE"; "?" for others. */
CUSTOS_API const char *custos_import_reason_name(custos_import_reason r);
/* One line saying what it means. */
CUSTOS_API const char *custos_import_reason_text(custos_import_reason r);

/* Where an import spends its time (custos_import_summary.stage_s). */
typedef enum custos_import_stage {
  CUSTOS_IMPORT_STAGE_CHECK = 0,  /* row checks and the look-ups that find rows present */
  CUSTOS_IMPORT_STAGE_READ = 1,   /* reading and hashing (SHA-256) photo files */
  CUSTOS_IMPORT_STAGE_DECODE = 2, /* JPEG/PNG decoding */
  CUSTOS_IMPORT_STAGE_FACE = 3,   /* detection, landmarks, descriptor, quality */
  CUSTOS_IMPORT_STAGE_DB = 4,     /* the writer's transactions, audit entries included */
  CUSTOS_IMPORT_STAGE_DEDUP = 5,  /* loading and searching the gallery */
  CUSTOS_IMPORT_STAGE_COUNT
} custos_import_stage;

/* "check", "read", "decode", "face", "db", "dedup". */
CUSTOS_API const char *custos_import_stage_name(custos_import_stage s);

/* The sensitive fields of GOV-18, in the order the summary counts them:
 * how many, and the i-th column name ("ssn"; NULL past the end). */
#define CUSTOS_SENSITIVE_FIELD_COUNT 9
CUSTOS_API const char *custos_sensitive_field_name(int i);

/* Where an import is; given to the progress callback. */
typedef struct custos_import_progress {
  int64_t rows_total;      /* data rows in the file */
  int64_t rows_done;       /* rows decided so far (committed or about to be) */
  int64_t accepted;        /* new holders and renewal photos so far */
  int64_t already_present; /* rows found present so far */
  int64_t rejected;        /* rows refused so far */
  double elapsed_s;        /* seconds since the import started */
} custos_import_progress;

/* Called by the thread that runs custos_import, after each decided row; it
 * must return quickly and must not use the custos. */
typedef void (*custos_import_progress_fn)(const custos_import_progress *p, void *ctx);

typedef struct custos_import_opts {
  const char *holders_csv;            /* the CSV file (required) */
  const char *photos_dir;             /* the folder photo paths are relative to (required) */
  const char *rejects_path;           /* NULL: beside the CSV, "<name>.rejects.csv" */
  const char *models_dir;             /* NULL: the build's model folder */
  const custos_policy *policy;        /* NULL: the built-in default policy */
  int jobs;                           /* photo workers, 1..64; 0: the number of cores */
  int batch_rows;                     /* rows per transaction, 1..4096; 0: 64 */
  custos_import_progress_fn progress; /* may be NULL */
  void *progress_ctx;                 /* passed to progress */
} custos_import_opts;

#define CUSTOS_IMPORT_MAX_JOBS 64
#define CUSTOS_IMPORT_PATH_MAX 4096 /* bytes of a path in the summary, with the NUL */

/* What an import did. */
typedef struct custos_import_summary {
  int64_t rows;                                           /* data rows in the file */
  int64_t accepted;                                       /* new holders enrolled */
  int64_t renewals;                                       /* new photos of holders present with
                                                             the same data */
  int64_t already_present;                                /* rows present already: unchanged */
  int64_t rejected;                                       /* rows refused */
  int64_t rejected_by[CUSTOS_IMPORT_REASON_COUNT];        /* ... by reason */
  int64_t not_collected;                                  /* GOV-19 values dropped, all columns */
  int64_t not_collected_by[CUSTOS_SENSITIVE_FIELD_COUNT]; /* ... by column */
  int64_t dedup_cases;                                    /* possible-duplicate cases opened */
  int64_t photos_processed;                               /* photos decoded and described */
  int jobs;                                               /* workers used */
  int batch_rows;                                         /* rows per transaction */
  double elapsed_s;                                       /* wall time, s */
  double stage_s[CUSTOS_IMPORT_STAGE_COUNT];              /* thread-seconds per stage */
  char rejects_path[CUSTOS_IMPORT_PATH_MAX];              /* the rejects file written */
  char model[72];                                         /* the template model version */
} custos_import_summary;

/*
 * Runs an import as `as` (an administrator: CUSTOS_EPERM otherwise, checked
 * again in every transaction).  Refused rows are not errors: they are
 * counted in *out and written to the rejects file, which is written anew
 * (atomically, mode 0600) by every run.  Errors stop the import; the batches
 * committed before stay, and running it again completes it:
 * CUSTOS_EINVAL (a bad option, a header with an unknown, repeated or missing
 * column: nothing is imported), CUSTOS_ENOENT (the CSV file, the photos
 * folder or the models), CUSTOS_EIO, CUSTOS_EDB, CUSTOS_ENOMEM.  *out is
 * filled as far as the import got.
 */
CUSTOS_API int custos_import(custos *c, const custos_session *as, const custos_import_opts *o,
                             custos_import_summary *out, custos_err *err);

/*
 * GOV-19: erases sensitive field `field` ("birthplace") of every holder,
 * records the purge (field name and count, never a value) in the audit log
 * in the same transaction, then compacts the database so that the erased
 * bytes are gone from its files (docs/import.md).  *erased receives the
 * number of values erased.  Running it again erases nothing more and
 * compacts again.  CUSTOS_EPERM (not an administrator), CUSTOS_EINVAL (not a
 * sensitive field), CUSTOS_EDB (the compaction could not finish because
 * another connection was open: the values are erased and recorded; run it
 * again when the database is idle).
 */
CUSTOS_API int custos_purge_field(custos *c, const custos_session *as, const char *field,
                                  int64_t *erased, custos_err *err);

#endif
