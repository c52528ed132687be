/*
 * core's side of the audit log (GOV-20): where the signing key lives, setting
 * the log up, recording an action inside its transaction, and the public
 * functions behind `custos audit verify | checkpoint | prove` and the audit
 * fields of `custos status`.
 *
 * Each call opens a log object over the transaction it runs in
 * (custos__audit_dbstore) and closes it before the transaction ends: the
 * log caches nothing, so what a rolled-back transaction wrote is gone from
 * memory too.  The log's settings are in meta (coreInt.h); the signing key is
 * a file beside the database, read on the first append.
 *
 * Who may do what: reading, verifying and proving need no session (the log
 * is public by design and holds no personal data); signing needs the key
 * file, so it is decided by the file's permissions (0600, owner only).
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/coreInt.h"
#include "util/util.h"

#define MOD "core"
#define ORIGIN_DEFAULT_PREFIX "custos.local/audit/"

/* ---- where the key is --------------------------------------------------------- */

static bool is_postgres_url(const char *url) {
  return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

int custos_audit_key_path(const char *db_url, char *out, size_t cap, custos_err *err) {
  const char *env = getenv(CUSTOS_AUDIT_KEY_ENV);
  int n;
  if (cap > 0) out[0] = '\0';
  if (env != NULL && env[0] != '\0') {
    n = snprintf(out, cap, "%s", env);
  } else if (db_url == NULL || db_url[0] == '\0') {
    return custos__err(err, CUSTOS_EINVAL, MOD, "no database given");
  } else if (is_postgres_url(db_url)) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "a PostgreSQL database has no folder for the audit log's key: set $%s to "
                       "the key file's path",
                       CUSTOS_AUDIT_KEY_ENV);
  } else {
    n = snprintf(out, cap, "%s%s", db_url, CUSTOS_AUDIT_KEY_SUFFIX);
  }
  if (n < 0 || (size_t)n >= cap) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "the audit log's key file path is too long");
  }
  return CUSTOS_OK;
}

/* Replaces err's message with "what: <the message>" and its code with code.
 * The message is copied first: a format may not read the buffer it writes. */
static int rewrap(custos_err *err, int code, const char *what) {
  char why[CUSTOS_ERR_MESSAGE_MAX];
  snprintf(why, sizeof why, "%s", err ? err->message : "");
  return custos__err(err, code, MOD, "%s: %s", what, why);
}

/* Reads the seal key from the environment (NULL when unset) into key. */
static int seal_key(uint8_t key[CUSTOS_AUDIT_SEAL_KEY_SIZE], const uint8_t **use, custos_err *err) {
  bool present = false;
  *use = NULL;
  int rc = custos__audit_seal_key_from_env(CUSTOS_AUDIT_SEAL_ENV, key, &present, err);
  if (rc == CUSTOS_OK && present) *use = key;
  return rc;
}

/* The signing key of c's log, loaded on first use. */
static int log_signer(custos *c, const custos_audit_signer **out, custos_err *err) {
  *out = c->signer;
  if (c->signer != NULL) return CUSTOS_OK;
  char path[PATH_MAX];
  uint8_t key[CUSTOS_AUDIT_SEAL_KEY_SIZE];
  const uint8_t *seal = NULL;
  int rc = custos_audit_key_path(c->url, path, sizeof path, err);
  if (rc == CUSTOS_OK) rc = seal_key(key, &seal, err);
  if (rc == CUSTOS_OK) rc = custos__audit_signer_load(path, seal, &c->signer, err);
  sodium_memzero(key, sizeof key);
  if (rc != CUSTOS_OK) {
    /* Every change is logged and the log signs: without the key, nothing
     * can change.  Say so, keeping the loader's reason. */
    return rewrap(
        err, rc,
        "the audit log's signing key is needed to record changes (set $" CUSTOS_AUDIT_KEY_ENV
        " to its file if it is elsewhere)");
  }
  *out = c->signer;
  return CUSTOS_OK;
}

/* ---- the log's settings ---------------------------------------------------------- */

typedef struct log_meta {
  char origin[CUSTOS_AUDIT_KEY_NAME_MAX + 1];   /* checkpoint origin */
  char key_text[CUSTOS_AUDIT_VERIFIER_KEY_MAX]; /* verifier key string */
  custos_audit_verifier verifier;               /* parsed */
  uint64_t every;                               /* automatic checkpoint interval */
} log_meta;

/* Reads the log's settings.  CUSTOS_ENOENT when the log is not set up. */
static int read_log_meta(custos_txn *t, log_meta *m, custos_err *err) {
  char every[24];
  memset(m, 0, sizeof *m);
  int rc = custos__store_meta_get(t, "audit_log_key", m->key_text, sizeof m->key_text, err);
  if (rc == CUSTOS_ENOENT) {
    return custos__err(err, CUSTOS_ENOENT, MOD,
                       "this database has no audit log yet (it was created before the log "
                       "existed): run 'custos audit setup'");
  }
  if (rc == CUSTOS_OK)
    rc = custos__store_meta_get(t, "audit_origin", m->origin, sizeof m->origin, err);
  if (rc == CUSTOS_OK)
    rc = custos__store_meta_get(t, "audit_checkpoint_every", every, sizeof every, err);
  if (rc == CUSTOS_ENOENT)
    return rewrap(err, CUSTOS_ECORRUPT, "the audit log's settings are incomplete");
  if (rc != CUSTOS_OK) return rc;
  if (custos_audit_verifier_parse(m->key_text, &m->verifier, err) != CUSTOS_OK) {
    return rewrap(err, CUSTOS_ECORRUPT, "meta audit_log_key");
  }
  char *end = NULL;
  unsigned long long v = strtoull(every, &end, 10);
  if (end == every || *end != '\0' || every[0] == '-') {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "meta audit_checkpoint_every is not a number");
  }
  m->every = v;
  return CUSTOS_OK;
}

/* Opens a log over t with c's settings; signer NULL for reading only.  key,
 * when not NULL, is the verifier checkpoints are checked with instead of
 * the stored one. */
static int open_log(custos_txn *t, const custos_audit_signer *signer,
                    const custos_audit_verifier *key, log_meta *m, custos_audit_log **log,
                    custos_err *err) {
  custos_audit_store st;
  *log = NULL;
  int rc = read_log_meta(t, m, err);
  if (rc != CUSTOS_OK) return rc;
  custos__audit_dbstore(t, &st);
  custos_audit_log_config cfg = {m->origin, m->every};
  rc = custos__audit_log_open(&st, &cfg, signer, key ? key : &m->verifier, log, err);
  if (rc == CUSTOS_EINVAL && signer != NULL) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD,
                       "the audit log's key file does not hold this database's log key "
                       "(meta audit_log_key)");
  }
  return rc;
}

/* ---- recording ------------------------------------------------------------------- */

int custos__core_record_with(custos_txn *t, const custos_audit_signer *signer,
                             custos_audit_entry *e, custos_err *err) {
  log_meta m;
  custos_audit_log *log = NULL;
  if (e->actor == NULL) e->actor = CORE_SYSTEM_ACTOR;
  e->time = (int64_t)time(NULL);
  int rc = open_log(t, signer, NULL, &m, &log, err);
  if (rc == CUSTOS_OK) rc = custos__audit_log_append(log, e, NULL, NULL, err);
  custos__audit_log_close(log);
  return rc;
}

int custos__core_record(custos *c, custos_txn *t, custos_audit_entry *e, custos_err *err) {
  const custos_audit_signer *signer = NULL;
  log_meta m;
  /* A database without a log says so before anyone looks for a key. */
  int rc = read_log_meta(t, &m, err);
  if (rc == CUSTOS_OK) rc = log_signer(c, &signer, err);
  if (rc != CUSTOS_OK) return rc;
  return custos__core_record_with(t, signer, e, err);
}

int custos__core_log_seal(custos_txn **t, const custos_audit_signer *signer, custos_err *err) {
  log_meta m;
  custos_audit_log *log = NULL;
  bool fresh = false;
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  int rc = open_log(*t, signer, NULL, &m, &log, err);
  if (rc == CUSTOS_OK) rc = custos__audit_log_checkpoint(log, &note, &fresh, err);
  custos__audit_log_close(log);
  custos__buf_free(&note);
  if (rc == CUSTOS_OK) {
    rc = custos__store_commit(*t, err);
    *t = NULL;
  }
  return rc;
}

int custos__core_record_migration(custos_txn *t, int version, void *ctx, custos_err *err) {
  custos *c = ctx;
  char key[CUSTOS_AUDIT_VERIFIER_KEY_MAX];
  /* Before the log exists (the step that creates it, or a database never
   * set up) there is nothing to record into. */
  int rc = custos__store_meta_get(t, "audit_log_key", key, sizeof key, err);
  if (rc == CUSTOS_ENOENT) {
    custos_err_clear(err);
    return CUSTOS_OK;
  }
  if (rc != CUSTOS_OK) return rc;
  char v[16];
  snprintf(v, sizeof v, "%d", version);
  custos_audit_detail d[] = {{"schema_version", v}};
  custos_audit_entry e = {.action = "schema.migrate", .detail = d, .n_detail = 1};
  return custos__core_record(c, t, &e, err);
}

/* ---- setting the log up --------------------------------------------------------------- */

/* The origin to use: the given one, checked, or the default with a random
 * suffix (two custos installations then never share a log name). */
static int pick_origin(const char *given, char out[CUSTOS_AUDIT_KEY_NAME_MAX + 1],
                       custos_err *err) {
  if (given != NULL) {
    if (!custos__audit_name_valid(given, strlen(given))) {
      return custos__err(err, CUSTOS_EINVAL, MOD,
                         "log origin: 1..%d printable ASCII characters without space or '+'",
                         CUSTOS_AUDIT_KEY_NAME_MAX);
    }
    snprintf(out, CUSTOS_AUDIT_KEY_NAME_MAX + 1, "%s", given);
    return CUSTOS_OK;
  }
  if (sodium_init() < 0)
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "libsodium failed to start");
  uint8_t r[4];
  char hex[9];
  randombytes_buf(r, sizeof r);
  sodium_bin2hex(hex, sizeof hex, r, sizeof r);
  snprintf(out, CUSTOS_AUDIT_KEY_NAME_MAX + 1, "%s%s", ORIGIN_DEFAULT_PREFIX, hex);
  return CUSTOS_OK;
}

int custos__core_log_create(custos_txn *t, const char *origin, const char *key_path,
                            custos_audit_signer **signer, bool *key_written, custos_err *err) {
  char name[CUSTOS_AUDIT_KEY_NAME_MAX + 1];
  char every[24];
  uint8_t key[CUSTOS_AUDIT_SEAL_KEY_SIZE];
  const uint8_t *seal = NULL;
  custos_audit_verifier v;
  char vtext[CUSTOS_AUDIT_VERIFIER_KEY_MAX];
  *signer = NULL;
  *key_written = false;
  int rc = pick_origin(origin, name, err);
  if (rc == CUSTOS_OK) rc = seal_key(key, &seal, err);
  if (rc == CUSTOS_OK) rc = custos__audit_signer_generate(name, signer, err);
  if (rc == CUSTOS_OK) {
    custos__audit_signer_verifier(*signer, &v);
    rc = custos_audit_verifier_format(&v, vtext, sizeof vtext, err);
  }
  /* The file first: it is refused if it exists, so no one's key is ever
   * overwritten, and the meta rows below roll back if it fails. */
  if (rc == CUSTOS_OK) rc = custos__audit_signer_save(*signer, key_path, seal, err);
  if (rc == CUSTOS_OK) *key_written = true;
  sodium_memzero(key, sizeof key);
  /* The log's settings.  audit_checkpoint_every is the built-in interval,
   * which is also the built-in policy's audit.checkpoint_every; custos_init
   * replaces it with the value of the policy file it is given. */
  snprintf(every, sizeof every, "%d", CUSTOS_AUDIT_CHECKPOINT_EVERY);
  if (rc == CUSTOS_OK) rc = custos__store_meta_set(t, "audit_origin", name, err);
  if (rc == CUSTOS_OK) rc = custos__store_meta_set(t, "audit_log_key", vtext, err);
  if (rc == CUSTOS_OK) rc = custos__store_meta_set(t, "audit_checkpoint_every", every, err);
  if (rc == CUSTOS_OK) {
    custos_audit_entry e = {.action = "log.init"};
    rc = custos__core_record_with(t, *signer, &e, err);
  }
  if (rc != CUSTOS_OK) {
    custos__audit_signer_free(*signer);
    *signer = NULL;
  }
  return rc;
}

int custos_audit_setup(custos *c, const char *origin, custos_err *err) {
  custos_txn *t = NULL;
  custos_audit_signer *signer = NULL;
  bool key_written = false;
  char path[PATH_MAX];
  char key[CUSTOS_AUDIT_VERIFIER_KEY_MAX];
  int64_t n = 0;
  int rc = custos_audit_key_path(c->url, path, sizeof path, err);
  if (rc == CUSTOS_OK) rc = custos__store_begin(c->store, true, &t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__store_meta_get(t, "audit_log_key", key, sizeof key, err);
  if (rc == CUSTOS_OK) {
    rc = custos__err(err, CUSTOS_ECONFLICT, MOD, "this database's audit log is set up already");
    goto out;
  }
  if (rc != CUSTOS_ENOENT) goto out;
  if ((rc = custos__store_audit_entry_count(t, &n, err))) goto out;
  if (n > 0) {
    rc = custos__err(err, CUSTOS_ECORRUPT, MOD,
                     "the audit log holds %lld entries but its settings are gone; refusing to "
                     "start another log over them",
                     (long long)n);
    goto out;
  }
  if ((rc = custos__core_log_create(t, origin, path, &signer, &key_written, err))) goto out;
  rc = custos__core_log_seal(&t, signer, err);
out:
  custos__store_rollback(t);
  if (rc == CUSTOS_OK) {
    custos__audit_signer_free(c->signer);
    c->signer = signer;
  } else {
    if (key_written) unlink(path);
    custos__audit_signer_free(signer);
  }
  return rc;
}

/* ---- reading ------------------------------------------------------------------------------ */

int custos__core_log_status(custos_txn *t, custos_status *out, custos_err *err) {
  log_meta m;
  custos_audit_log *log = NULL;
  uint64_t size = 0;
  custos_audit_checkpoint cp;
  out->audit_log = false;
  out->audit_entries = 0;
  out->checkpoint_size = -1;
  out->checkpoint_root[0] = '\0';
  out->log_key[0] = '\0';
  int rc = open_log(t, NULL, NULL, &m, &log, err);
  if (rc == CUSTOS_ENOENT) {
    custos_err_clear(err);
    return CUSTOS_OK; /* no log yet: the fields say so */
  }
  if (rc == CUSTOS_OK) rc = custos__audit_log_head(log, &size, NULL, err);
  if (rc == CUSTOS_OK) {
    out->audit_log = true;
    out->audit_entries = (int64_t)size;
    snprintf(out->log_key, sizeof out->log_key, "%s", m.key_text);
    rc = custos__audit_log_latest_checkpoint(log, NULL, &cp, err);
    if (rc == CUSTOS_OK) {
      out->checkpoint_size = (int64_t)cp.size;
      custos__audit_hex_encode(cp.root.b, CUSTOS_AUDIT_HASH_SIZE, out->checkpoint_root);
    } else if (rc == CUSTOS_ENOENT) {
      custos_err_clear(err);
      rc = CUSTOS_OK;
    }
  }
  custos__audit_log_close(log);
  return rc;
}

int custos_audit_verify(custos *c, const char *key, const char *const *pinned, size_t n_pinned,
                        custos_audit_verify_report *rep, custos_err *err) {
  custos_txn *t = NULL;
  custos_audit_log *log = NULL;
  custos_audit_verifier pin;
  log_meta m;
  memset(rep, 0, sizeof *rep);
  rep->first_bad_entry = UINT64_MAX;
  int rc = key != NULL ? custos_audit_verifier_parse(key, &pin, err) : CUSTOS_OK;
  if (rc == CUSTOS_OK) rc = custos__store_begin(c->store, false, &t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = open_log(t, NULL, key ? &pin : NULL, &m, &log, err);
  if (rc == CUSTOS_OK) rc = custos__audit_log_verify(log, pinned, n_pinned, rep, err);
  if ((rc == CUSTOS_OK || rc == CUSTOS_EVERIFY) && key != NULL &&
      (pin.key_hash != m.verifier.key_hash || strcmp(pin.name, m.verifier.name) != 0 ||
       memcmp(pin.public_key, m.verifier.public_key, sizeof pin.public_key) != 0)) {
    /* The checkpoints may verify with both (a re-signed history does not),
     * but a database naming another key than the pinned one is wrong either
     * way. */
    if (rep->problems++ == 0) {
      snprintf(rep->first_problem, sizeof rep->first_problem,
               "the database names another log key (%s) than the pinned one", m.verifier.name);
      rc = custos__err(err, CUSTOS_EVERIFY, MOD, "%s", rep->first_problem);
    }
  }
  custos__audit_log_close(log);
  custos__store_rollback(t);
  return rc;
}

/* Copies b into out[0..cap) with a NUL. */
static int copy_out(const custos_buf *b, char *out, size_t cap, size_t *len, custos_err *err) {
  if (b->len >= cap) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "%zu bytes do not fit in %zu", b->len, cap);
  }
  if (b->len > 0) memcpy(out, b->data, b->len);
  out[b->len] = '\0';
  if (len) *len = b->len;
  return CUSTOS_OK;
}

int custos_audit_latest_checkpoint(custos *c, bool sign, char *note, size_t cap, size_t *len,
                                   bool *signed_new, custos_err *err) {
  custos_txn *t = NULL;
  custos_audit_log *log = NULL;
  const custos_audit_signer *signer = NULL;
  log_meta m;
  custos_audit_checkpoint cp;
  bool fresh = false;
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_NOTE_MAX);
  if (cap > 0) note[0] = '\0';
  int rc = sign ? log_signer(c, &signer, err) : CUSTOS_OK;
  if (rc == CUSTOS_OK) rc = custos__store_begin(c->store, sign, &t, err);
  if (rc == CUSTOS_OK) rc = open_log(t, signer, NULL, &m, &log, err);
  if (rc == CUSTOS_OK) {
    rc = sign ? custos__audit_log_checkpoint(log, &b, &fresh, err)
              : custos__audit_log_latest_checkpoint(log, &b, &cp, err);
  }
  custos__audit_log_close(log);
  if (rc == CUSTOS_OK && sign) {
    rc = custos__store_commit(t, err);
    t = NULL;
  }
  custos__store_rollback(t);
  if (rc == CUSTOS_OK) rc = copy_out(&b, note, cap, len, err);
  if (signed_new) *signed_new = rc == CUSTOS_OK && fresh;
  custos__buf_free(&b);
  return rc;
}

/* Gathers the evidence for entry index in one read transaction; *need_sign
 * tells a CUSTOS_ENOENT for want of a checkpoint covering the entry. */
static int gather(custos *c, uint64_t index, custos_audit_evidence *out, bool *need_sign,
                  custos_err *err) {
  custos_txn *t = NULL;
  custos_audit_log *log = NULL;
  log_meta m;
  uint64_t size = 0;
  custos_buf note, entry;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  custos__buf_init(&entry, CUSTOS_AUDIT_ENTRY_MAX);
  custos_audit_store st;
  *need_sign = false;
  int rc = custos__store_begin(c->store, false, &t, err);
  if (rc == CUSTOS_OK) rc = open_log(t, NULL, NULL, &m, &log, err);
  if (rc == CUSTOS_OK) rc = custos__audit_log_head(log, &size, NULL, err);
  if (rc == CUSTOS_OK && index >= size) {
    rc = custos__err(err, CUSTOS_ENOENT, MOD, "no entry %llu: the log holds %llu entries",
                     (unsigned long long)index, (unsigned long long)size);
  }
  if (rc == CUSTOS_OK) {
    rc = custos__audit_log_latest_checkpoint(log, &note, &out->cp, err);
    if (rc == CUSTOS_ENOENT || (rc == CUSTOS_OK && out->cp.size <= index)) {
      *need_sign = true;
      rc = custos__err(err, CUSTOS_ENOENT, MOD,
                       "no signed checkpoint covers entry %llu yet; 'custos audit checkpoint' "
                       "signs one",
                       (unsigned long long)index);
    }
  }
  if (rc == CUSTOS_OK) rc = custos__audit_log_prove(log, index, out->cp.size, &out->proof, err);
  if (rc == CUSTOS_OK) {
    custos__audit_dbstore(t, &st);
    rc = st.read_entry(st.ctx, index, &entry, err);
  }
  if (rc == CUSTOS_OK) rc = copy_out(&entry, out->entry, sizeof out->entry, &out->entry_len, err);
  if (rc == CUSTOS_OK) {
    rc = copy_out(&note, out->checkpoint, sizeof out->checkpoint, &out->checkpoint_len, err);
  }
  /* Check it once as the third party will: entry, proof and checkpoint. */
  if (rc == CUSTOS_OK && custos_audit_proof_verify(&out->proof, out->entry, out->entry_len,
                                                   &out->cp, err) != CUSTOS_OK) {
    char what[96];
    snprintf(what, sizeof what, "entry %llu: its proof does not verify (run 'custos audit verify')",
             (unsigned long long)index);
    rc = rewrap(err, CUSTOS_ECORRUPT, what);
  }
  custos__audit_log_close(log);
  custos__store_rollback(t);
  custos__buf_free(&note);
  custos__buf_free(&entry);
  return rc;
}

int custos_audit_prove(custos *c, uint64_t index, bool may_sign, custos_audit_evidence *out,
                       custos_err *err) {
  bool need_sign = false;
  memset(out, 0, sizeof *out);
  int rc = gather(c, index, out, &need_sign, err);
  if (rc == CUSTOS_ENOENT && need_sign && may_sign) {
    char note[CUSTOS_AUDIT_NOTE_MAX + 1];
    rc = custos_audit_latest_checkpoint(c, true, note, sizeof note, NULL, NULL, err);
    if (rc == CUSTOS_OK) rc = gather(c, index, out, &need_sign, err);
  }
  return rc;
}
