/*
 * core: the public API that wires the modules together — opening a database,
 * custos init, status, sessions and user administration.
 *
 * Every action that acts for a person follows one shape:
 *
 *   begin a write transaction
 *   re-read the acting user and check its role       (auth, GOV-11/13 later)
 *   make the change                                  (store)
 *   record it                                        (audit, GOV-20)
 *   commit — or roll everything back on any failure
 *
 * so that a change and its audit entry are one transaction (invariant 4).
 * What is recorded (docs/audit.md, "What is recorded"):
 *
 *   action                actor    detail                             when
 *   log.init              system                                      init, audit setup
 *   policy.set            system   hashes.policy                      init --policy
 *   user.add              admin    target_user, role, trained_until   user add (and init: system)
 *   user.unlock           admin    target_user                        user unlock
 *   user.set_training     admin    target_user, trained_until|none    user set-training
 *   session.login         user                                        a right password
 *   session.login_failed  system   target_user; WRONG_PASSWORD and/or a wrong password, or any
 *                                  ACCOUNT_LOCKED                     attempt on a locked account
 *   schema.migrate        system   schema_version                     each migration step
 *
 * Reading staff accounts (user list) and status read no personal data of a
 * licence holder and change nothing, so they are not recorded.  The log.c
 * file of this folder wires the audit log in.
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "custos/policy.h"
#include "core/coreInt.h"
#include "util/util.h"

#define MOD "core"
#define POLICY_MAX_BYTES ((size_t)1 << 20)
#define USER_LIST_MAX 100000

struct custos_session {
  custos *c;                           /* the instance it was opened on */
  int64_t user_id;                     /* the user's id at login */
  char name[CUSTOS_USER_NAME_MAX + 1]; /* the user's name */
  custos_role role;                    /* the role at login; actions re-check it */
};

/* ---- init, open, close ---------------------------------------------------------- */

/* Reads the policy file and writes its SHA-256 in hex. */
static int policy_digest(const char *path, char hex[65], custos_err *err) {
  unsigned char *data = NULL;
  size_t len = 0;
  unsigned char digest[crypto_hash_sha256_BYTES];
  int rc = custos__read_file(path, POLICY_MAX_BYTES, &data, &len, err);
  if (rc != CUSTOS_OK) return rc;
  if (sodium_init() < 0) {
    rc = custos__err(err, CUSTOS_EINTERNAL, MOD, "libsodium failed to start");
  } else {
    crypto_hash_sha256(digest, data, len);
    sodium_bin2hex(hex, 65, digest, sizeof digest);
  }
  custos__free(data);
  return rc;
}

int custos_init(const char *db_url, const custos_init_opts *opts, custos_err *err) {
  int rc;
  custos_store *s = NULL;
  custos_txn *t = NULL;
  custos_audit_signer *signer = NULL;
  custos__user admin;
  int64_t id = 0;
  char policy_hex[65] = "";
  char every[24] = "";
  char now[CUSTOS_TIMESTAMP_LEN + 1];
  char key_path[PATH_MAX];
  bool key_written = false;

  memset(&admin, 0, sizeof admin);
  if (opts == NULL) return custos__err(err, CUSTOS_EINVAL, MOD, "no init options");
  /* Everything that can be checked is checked before the database exists. */
  if (opts->policy_path != NULL) {
    /* The policy must parse; its checkpoint interval becomes the log's. */
    custos_policy *pol = NULL;
    if ((rc = custos_policy_load(opts->policy_path, &pol, err))) return rc;
    snprintf(every, sizeof every, "%d", custos_policy_get_params(pol)->checkpoint_every);
    custos_policy_free(pol);
    if ((rc = policy_digest(opts->policy_path, policy_hex, err))) return rc;
  }
  rc = custos__auth_prepare_user(opts->admin_name, CUSTOS_ROLE_ADMIN, NULL, opts->admin_password,
                                 &admin, err);
  if (rc != CUSTOS_OK) return rc;

  /* One transaction: schema, settings, administrator and the log's first
   * entries appear together; the key file is removed again if it fails. */
  if ((rc = custos__store_open(db_url, CUSTOS__STORE_CREATE, &s, err))) goto out;
  if ((rc = custos_audit_key_path(db_url, key_path, sizeof key_path, err))) goto out;
  if (access(key_path, F_OK) == 0) {
    rc = custos__err(err, CUSTOS_ECONFLICT, MOD,
                     "%s: an audit log key file exists; it is left as it is", key_path);
    goto out;
  }
  if ((rc = custos__store_begin(s, true, &t, err))) goto out;
  if ((rc = custos__store_create_schema(t, err))) goto out;
  custos__timestamp_now(now);
  if ((rc = custos__store_meta_set(t, "created", now, err)) ||
      (rc = custos__store_meta_set(t, "created_by_version", custos_version(), err)))
    goto out;
  if (policy_hex[0] != '\0' && (rc = custos__store_meta_set(t, "policy_sha256", policy_hex, err)))
    goto out;
  rc = custos__core_log_create(t, opts->log_origin, key_path, &signer, &key_written, err);
  if (rc == CUSTOS_OK && every[0] != '\0')
    rc = custos__store_meta_set(t, "audit_checkpoint_every", every, err);
  if (rc != CUSTOS_OK) goto out;
  if (policy_hex[0] != '\0') {
    custos_audit_named_hash h = {.name = "policy"};
    if (sodium_hex2bin(h.sha256.b, sizeof h.sha256.b, policy_hex, 64, NULL, NULL, NULL) != 0) {
      rc = custos__err(err, CUSTOS_EINTERNAL, MOD, "policy digest");
      goto out;
    }
    custos_audit_entry e = {.action = "policy.set", .hashes = &h, .n_hashes = 1};
    if ((rc = custos__core_record_with(t, signer, &e, err))) goto out;
  }
  if ((rc = custos__store_user_add(t, &admin, &id, err))) goto out;
  custos_audit_detail d[] = {{"role", admin.role}, {"target_user", admin.name}};
  custos_audit_entry e = {.action = "user.add", .detail = d, .n_detail = 2};
  if ((rc = custos__core_record_with(t, signer, &e, err))) goto out;
  rc = custos__core_log_seal(&t, signer, err);
out:
  custos__store_rollback(t);
  if (rc == CUSTOS_OK) {
    custos__store_close(s);
  } else {
    custos__store_close_and_remove(s); /* removes only what this call created */
    if (key_written) unlink(key_path);
  }
  custos__audit_signer_free(signer);
  sodium_memzero(&admin, sizeof admin);
  return rc;
}

int custos_open(const char *db_url, custos **out, custos_err *err) {
  custos_store *s = NULL;
  *out = NULL;
  int rc = custos__store_open(db_url, CUSTOS__STORE_EXISTING, &s, err);
  if (rc != CUSTOS_OK) return rc;
  custos *c = custos__calloc(1, sizeof *c);
  if (c == NULL || (c->url = custos__strdup(db_url)) == NULL) {
    custos__free(c);
    custos__store_close(s);
    return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  }
  c->store = s;
  /* Older databases move forward here, each step recorded once the log
   * exists. */
  rc = custos__store_check_schema(s, true, custos__core_record_migration, c, err);
  if (rc != CUSTOS_OK) {
    custos_close(c);
    return rc;
  }
  *out = c;
  return CUSTOS_OK;
}

void custos_close(custos *c) {
  if (c == NULL) return;
  custos__store_close(c->store);
  custos__audit_signer_free(c->signer);
  custos__free(c->url);
  custos__free(c);
}

int custos_get_status(custos *c, custos_status *out, custos_err *err) {
  int rc;
  custos_txn *t = NULL;
  memset(out, 0, sizeof *out);
  snprintf(out->backend, sizeof out->backend, "%s", custos__store_backend(c->store));
  if ((rc = custos__store_schema_version(c->store, &out->schema_version, err))) return rc;
  if ((rc = custos__store_begin(c->store, false, &t, err))) return rc;
  if ((rc = custos__store_count(t, CUSTOS__T_HOLDERS, &out->holders, err)) ||
      (rc = custos__store_count(t, CUSTOS__T_PHOTOS, &out->photos, err)) ||
      (rc = custos__store_count(t, CUSTOS__T_TEMPLATES, &out->templates, err)) ||
      (rc = custos__store_count(t, CUSTOS__T_USERS, &out->users, err)) ||
      (rc = custos__store_count(t, CUSTOS__T_CASES, &out->cases, err)))
    goto out;
  rc = custos__store_meta_get(t, "policy_sha256", out->policy_sha256, sizeof out->policy_sha256,
                              err);
  if (rc == CUSTOS_ENOENT) {
    out->policy_sha256[0] = '\0';
    custos_err_clear(err);
    rc = CUSTOS_OK;
  }
  if (rc == CUSTOS_OK) rc = custos__core_log_status(t, out, err);
out:
  custos__store_rollback(t);
  return rc;
}

/* ---- sessions -------------------------------------------------------------------- */

/* GOV-20: every login attempt on an existing account (custos__login_recorder). */
static int record_login(void *ctx, custos_txn *t, const custos__user *u,
                        custos__login_outcome outcome, custos_err *err) {
  static const char *const wrong[] = {"WRONG_PASSWORD"};
  static const char *const locked_now[] = {"ACCOUNT_LOCKED", "WRONG_PASSWORD"};
  static const char *const locked[] = {"ACCOUNT_LOCKED"};
  custos_audit_detail d[] = {{"target_user", u->name}};
  custos_audit_entry e = {.action = "session.login_failed", .detail = d, .n_detail = 1};
  switch (outcome) {
    case CUSTOS__LOGIN_OK:
      /* The person is who they said: they are the actor. */
      e = (custos_audit_entry){.actor = u->name, .action = "session.login"};
      break;
    case CUSTOS__LOGIN_WRONG_PASSWORD:
      e.reasons = wrong;
      e.n_reasons = 1;
      break;
    case CUSTOS__LOGIN_LOCKED_NOW:
      e.reasons = locked_now;
      e.n_reasons = 2;
      break;
    case CUSTOS__LOGIN_LOCKED:
      e.reasons = locked;
      e.n_reasons = 1;
      break;
  }
  return custos__core_record(ctx, t, &e, err);
}

int custos_login(custos *c, const char *user, const char *password, custos_session **out,
                 custos_err *err) {
  custos__user u;
  custos_role role;
  *out = NULL;
  int rc = custos__auth_login(c->store, user, password, record_login, c, &u, err);
  if (rc == CUSTOS_OK) rc = custos__auth_role_of(&u, &role, err);
  if (rc == CUSTOS_OK) {
    custos_session *s = custos__calloc(1, sizeof *s);
    if (s == NULL) {
      rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    } else {
      s->c = c;
      s->user_id = u.id;
      s->role = role;
      snprintf(s->name, sizeof s->name, "%s", u.name);
      *out = s;
    }
  }
  sodium_memzero(&u, sizeof u);
  return rc;
}

void custos_session_free(custos_session *s) {
  if (s == NULL) return;
  sodium_memzero(s, sizeof *s);
  custos__free(s);
}

const char *custos_session_user(const custos_session *s) {
  return s->name;
}

custos_role custos_session_role(const custos_session *s) {
  return s->role;
}

int custos_session_refresh(custos *c, custos_session *s, custos_err *err) {
  custos_txn *t = NULL;
  custos__user u;
  custos_role role = CUSTOS_ROLE_NONE;
  if (s == NULL || s->c != c)
    return custos__err(err, CUSTOS_EPERM, MOD, "no session for this database");
  int rc = custos__store_begin(c->store, false, &t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__auth_require(t, s->name, CUSTOS_ROLE_NONE, &u, err);
  if (rc == CUSTOS_OK && u.id != s->user_id) {
    rc = custos__err(err, CUSTOS_EPERM, MOD, "user '%s' was replaced since login", s->name);
  }
  if (rc == CUSTOS_OK) rc = custos__auth_role_of(&u, &role, err);
  if (rc == CUSTOS_OK) s->role = role;
  custos__store_rollback(t);
  sodium_memzero(&u, sizeof u);
  return rc;
}

/* Opens a transaction acting as `as`, checking it holds role. */
static int begin_as(custos *c, const custos_session *as, custos_role role, bool write,
                    custos_txn **t, custos_err *err) {
  custos__user actor;
  *t = NULL;
  if (as == NULL || as->c != c) {
    return custos__err(err, CUSTOS_EPERM, MOD, "no session for this database");
  }
  int rc = custos__store_begin(c->store, write, t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__auth_require(*t, as->name, role, &actor, err);
  if (rc == CUSTOS_OK && actor.id != as->user_id) {
    rc = custos__err(err, CUSTOS_EPERM, MOD, "user '%s' was replaced since login", as->name);
  }
  if (rc != CUSTOS_OK) {
    custos__store_rollback(*t);
    *t = NULL;
  }
  sodium_memzero(&actor, sizeof actor);
  return rc;
}

int custos__core_begin_as(custos *c, const custos_session *as, custos_role role, bool write,
                          custos_txn **t, custos_err *err) {
  return begin_as(c, as, role, write, t, err);
}

/* Finishes an action: commit when rc is OK, roll back otherwise. */
static int finish(custos_txn *t, int rc, custos_err *err) {
  if (rc == CUSTOS_OK) return custos__store_commit(t, err);
  custos__store_rollback(t);
  return rc;
}

/* ---- users ---------------------------------------------------------------------- */

int custos_user_add(custos *c, const custos_session *as, const char *name, custos_role role,
                    const char *trained_until, const char *password, custos_err *err) {
  custos_txn *t = NULL;
  custos__user u;
  int64_t id;
  /* Check the actor first (cheap), hash outside the write lock, then check
   * again inside the transaction that adds the user. */
  int rc = begin_as(c, as, CUSTOS_ROLE_ADMIN, false, &t, err);
  custos__store_rollback(t);
  if (rc != CUSTOS_OK) return rc;
  if ((rc = custos__auth_prepare_user(name, role, trained_until, password, &u, err))) goto out;
  if ((rc = begin_as(c, as, CUSTOS_ROLE_ADMIN, true, &t, err))) goto out;
  rc = custos__store_user_add(t, &u, &id, err);
  if (rc == CUSTOS_OK) {
    custos_audit_detail d[] = {
        {"role", u.role}, {"target_user", u.name}, {"trained_until", u.trained_until}};
    custos_audit_entry e = {.actor = as->name,
                            .action = "user.add",
                            .detail = d,
                            .n_detail = u.trained_until[0] ? 3 : 2};
    rc = custos__core_record(c, t, &e, err);
  }
  rc = finish(t, rc, err);
out:
  sodium_memzero(&u, sizeof u);
  return rc;
}

typedef struct user_list_ctx {
  custos_user_info *items; /* growing array */
  size_t n, cap;           /* used, allocated */
} user_list_ctx;

static int collect_user(const custos__user *u, void *ctx) {
  user_list_ctx *l = ctx;
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    if (cap > USER_LIST_MAX) return CUSTOS_ETOOBIG;
    custos_user_info *p = custos__reallocarray(l->items, cap, sizeof *p);
    if (p == NULL) return CUSTOS_ENOMEM;
    l->items = p;
    l->cap = cap;
  }
  custos_user_info *i = &l->items[l->n++];
  memset(i, 0, sizeof *i);
  snprintf(i->name, sizeof i->name, "%s", u->name);
  if (custos_role_parse(u->role, &i->role, NULL) != CUSTOS_OK) i->role = CUSTOS_ROLE_NONE;
  snprintf(i->trained_until, sizeof i->trained_until, "%s", u->trained_until);
  i->failed_logins = u->failed_logins;
  i->locked = u->locked;
  snprintf(i->created, sizeof i->created, "%s", u->created);
  return CUSTOS_OK;
}

int custos_user_list(custos *c, const custos_session *as, custos_user_info **out, size_t *n,
                     custos_err *err) {
  custos_txn *t = NULL;
  user_list_ctx l = {0};
  *out = NULL;
  *n = 0;
  int rc = begin_as(c, as, CUSTOS_ROLE_ADMIN, false, &t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__store_user_foreach(t, collect_user, &l, err);
  if (rc == CUSTOS_ENOMEM || rc == CUSTOS_ETOOBIG) {
    rc = custos__err(err, rc, MOD, "listing users: %s", custos_strerror(rc));
  }
  custos__store_rollback(t);
  if (rc != CUSTOS_OK) {
    custos__free(l.items);
    return rc;
  }
  *out = l.items;
  *n = l.n;
  return CUSTOS_OK;
}

void custos_user_list_free(custos_user_info *list) {
  custos__free(list);
}

/* Runs an admin change on the user called name. */
static int user_change(custos *c, const custos_session *as, const char *name, const char *action,
                       const char *until, custos_err *err) {
  custos_txn *t = NULL;
  custos__user u;
  int rc = begin_as(c, as, CUSTOS_ROLE_ADMIN, true, &t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__store_user_get(t, name, &u, err);
  if (rc == CUSTOS_ENOENT) {
    rc = custos__err(err, CUSTOS_ENOENT, MOD, "no user '%.64s'", name ? name : "");
  }
  bool unlock = strcmp(action, "user.unlock") == 0;
  if (rc == CUSTOS_OK) {
    rc = unlock ? custos__store_user_unlock(t, u.id, err)
                : custos__store_user_set_training(t, u.id, until, err);
  }
  if (rc == CUSTOS_OK) {
    custos_audit_detail d[] = {{"target_user", u.name},
                               {"trained_until", until && until[0] ? until : "none"}};
    custos_audit_entry e = {
        .actor = as->name, .action = action, .detail = d, .n_detail = unlock ? 1 : 2};
    rc = custos__core_record(c, t, &e, err);
  }
  sodium_memzero(&u, sizeof u);
  return finish(t, rc, err);
}

int custos_user_unlock(custos *c, const custos_session *as, const char *name, custos_err *err) {
  return user_change(c, as, name, "user.unlock", NULL, err);
}

int custos_user_set_training(custos *c, const custos_session *as, const char *name,
                             const char *until, custos_err *err) {
  if (until != NULL && until[0] != '\0') {
    int rc = custos__date_check(until, "trained_until", err);
    if (rc != CUSTOS_OK) return rc;
  }
  return user_change(c, as, name, "user.set_training", until, err);
}
