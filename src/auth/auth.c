/*
 * Roles, names, the password policy, Argon2id hashing and logins.
 *
 * A login reads the user in a short read transaction, verifies the password
 * outside any transaction (Argon2id takes a tenth of a second and must not
 * hold the write lock), then records the outcome in a write transaction that
 * re-reads the user: the failure count is incremented in SQL, so concurrent
 * wrong guesses are all counted, and an account locked meanwhile stays
 * locked.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "util/util.h"

#define MOD "auth"

/* ---- roles ------------------------------------------------------------------ */

static const char *const role_names[] = {
    [CUSTOS_ROLE_NONE] = "none",         [CUSTOS_ROLE_ADMIN] = "admin",
    [CUSTOS_ROLE_INTAKE] = "intake",     [CUSTOS_ROLE_MANAGER] = "manager",
    [CUSTOS_ROLE_GOVERNOR] = "governor", [CUSTOS_ROLE_LEGAL] = "legal",
    [CUSTOS_ROLE_EXAMINER] = "examiner", [CUSTOS_ROLE_AUDITOR] = "auditor",
};

const char *custos_role_name(custos_role r) {
  if ((int)r <= 0 || (size_t)r >= CUSTOS_ARRAY_LEN(role_names)) return "none";
  return role_names[r];
}

int custos_role_parse(const char *s, custos_role *out, custos_err *err) {
  *out = CUSTOS_ROLE_NONE;
  for (size_t i = 1; s != NULL && i < CUSTOS_ARRAY_LEN(role_names); i++) {
    if (strcmp(s, role_names[i]) == 0) {
      *out = (custos_role)i;
      return CUSTOS_OK;
    }
  }
  return custos__err(err, CUSTOS_EINVAL, MOD,
                     "role: '%.32s' is not one of admin, intake, manager, governor, legal, "
                     "examiner, auditor",
                     s ? s : "");
}

int custos__auth_role_of(const custos__user *u, custos_role *out, custos_err *err) {
  if (custos_role_parse(u->role, out, NULL) != CUSTOS_OK) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "user '%s' has an unknown role", u->name);
  }
  return CUSTOS_OK;
}

/* ---- names, passwords, dates ------------------------------------------------------ */

int custos_user_name_check(const char *name, custos_err *err) {
  if (name == NULL || name[0] == '\0') {
    return custos__err(err, CUSTOS_EINVAL, MOD, "user name: missing");
  }
  size_t len = strnlen(name, CUSTOS_USER_NAME_MAX + 1);
  if (len > CUSTOS_USER_NAME_MAX) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "user name: longer than %d characters",
                       CUSTOS_USER_NAME_MAX);
  }
  bool ok = name[0] >= 'a' && name[0] <= 'z';
  for (size_t i = 1; ok && i < len; i++) {
    char c = name[i];
    ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  }
  if (!ok) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "user name: a lower-case letter, then only a-z, 0-9, '.', '_' or '-'");
  }
  /* GOV-20: the audit log's actor for what custos does on its own; no
   * person may appear as it. */
  if (strcmp(name, "system") == 0) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "user name: 'system' is reserved for the audit log");
  }
  return CUSTOS_OK;
}

int custos_password_check(const char *name, const char *password, custos_err *err) {
  if (password == NULL || password[0] == '\0') {
    return custos__err(err, CUSTOS_EINVAL, MOD, "password: empty");
  }
  size_t len = strnlen(password, CUSTOS_PASSWORD_MAX + 1);
  if (len > CUSTOS_PASSWORD_MAX) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "password: longer than %d bytes",
                       CUSTOS_PASSWORD_MAX);
  }
  /* Characters, not bytes: count the bytes that start a UTF-8 sequence. */
  size_t chars = 0;
  for (size_t i = 0; i < len; i++) chars += ((unsigned char)password[i] & 0xc0) != 0x80;
  if (chars < CUSTOS_PASSWORD_MIN) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "password: shorter than %d characters",
                       CUSTOS_PASSWORD_MIN);
  }
  if (name != NULL && strcmp(name, password) == 0) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "password: the same as the user name");
  }
  return CUSTOS_OK;
}

int custos_date_check(const char *date, const char *field, custos_err *err) {
  return custos__date_check(date, field ? field : "date", err);
}

/* ---- hashing ----------------------------------------------------------------------------- */

bool custos__auth_fast_kdf(void) {
#if defined(CUSTOS_ALLOW_TEST_KDF)
  const char *v = getenv("CUSTOS_TEST_FAST_KDF");
  return v != NULL && strcmp(v, "1") == 0;
#else
  return false;
#endif
}

static void kdf_limits(unsigned long long *ops, size_t *mem) {
  if (custos__auth_fast_kdf()) {
    *ops = crypto_pwhash_OPSLIMIT_MIN;
    *mem = crypto_pwhash_MEMLIMIT_MIN;
  } else {
    *ops = crypto_pwhash_OPSLIMIT_INTERACTIVE;
    *mem = crypto_pwhash_MEMLIMIT_INTERACTIVE;
  }
}

static int sodium_ready(custos_err *err) {
  if (sodium_init() < 0)
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "libsodium failed to start");
  return CUSTOS_OK;
}

_Static_assert(crypto_pwhash_STRBYTES == CUSTOS_PWHASH_MAX + 1, "hash buffer size");

int custos__auth_hash(const char *password, char out[CUSTOS_PWHASH_MAX + 1], custos_err *err) {
  int rc = sodium_ready(err);
  if (rc != CUSTOS_OK) return rc;
  unsigned long long ops;
  size_t mem;
  kdf_limits(&ops, &mem);
  size_t len = strnlen(password, CUSTOS_PASSWORD_MAX + 1);
  if (len > CUSTOS_PASSWORD_MAX) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "password: longer than %d bytes",
                       CUSTOS_PASSWORD_MAX);
  }
  if (crypto_pwhash_str_alg(out, password, len, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return custos__err(err, CUSTOS_ENOMEM, MOD, "password hashing: out of memory");
  }
  return CUSTOS_OK;
}

bool custos__auth_verify(const char *hash, const char *password) {
  if (sodium_ready(NULL) != CUSTOS_OK || hash == NULL || password == NULL) return false;
  size_t len = strnlen(password, CUSTOS_PASSWORD_MAX + 1);
  if (len > CUSTOS_PASSWORD_MAX) return false;
  if (strncmp(hash, "$argon2id$", 10) != 0) return false; /* only Argon2id is accepted */
  return crypto_pwhash_str_verify(hash, password, len) == 0;
}

bool custos__auth_needs_rehash(const char *hash) {
  unsigned long long ops;
  size_t mem;
  if (sodium_ready(NULL) != CUSTOS_OK) return false;
  kdf_limits(&ops, &mem);
  return crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}

/* The hash an unknown user's login is checked against, so that "no such user"
 * takes as long as "wrong password".  It is of 32 random bytes nobody kept. */
static const char dummy_hash[] =
    "$argon2id$v=19$m=65536,t=2,p=1$6FmzRx258ZojPtMwndNLRA$"
    "B5Mlc7801IE5nQF5JyGDW/v+C8BTZW0mESk/KLfJI44";

/* ---- users ------------------------------------------------------------------------------------
 */

int custos__auth_prepare_user(const char *name, custos_role role, const char *trained_until,
                              const char *password, custos__user *out, custos_err *err) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = custos_user_name_check(name, err))) return rc;
  if ((int)role <= CUSTOS_ROLE_NONE || role > CUSTOS_ROLE_AUDITOR) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "role: not a role");
  }
  if (trained_until != NULL && trained_until[0] != '\0' &&
      (rc = custos__date_check(trained_until, "trained_until", err)))
    return rc;
  if ((rc = custos_password_check(name, password, err))) return rc;
  snprintf(out->name, sizeof out->name, "%s", name);
  snprintf(out->role, sizeof out->role, "%s", custos_role_name(role));
  if (trained_until != NULL)
    snprintf(out->trained_until, sizeof out->trained_until, "%s", trained_until);
  custos__timestamp_now(out->created);
  return custos__auth_hash(password, out->pwhash, err);
}

static int auth_failed(custos_err *err) {
  return custos__err(err, CUSTOS_EAUTH, MOD, "wrong user name or password");
}

static int locked_error(const char *name, custos_err *err) {
  return custos__err(err, CUSTOS_EAUTH, MOD,
                     "account '%s' is locked after %d failed logins; an administrator must "
                     "unlock it ('custos user unlock')",
                     name, CUSTOS_MAX_FAILED_LOGINS);
}

/* Commits *t, which is finished either way. */
static int commit(custos_txn **t, custos_err *err) {
  int rc = custos__store_commit(*t, err);
  *t = NULL;
  return rc;
}

/* Passes an attempt to the recorder, if any. */
static int record_attempt(custos__login_recorder rec, void *ctx, custos_txn *t,
                          const custos__user *u, custos__login_outcome o, custos_err *err) {
  return rec != NULL ? rec(ctx, t, u, o, err) : CUSTOS_OK;
}

int custos__auth_login(custos_store *s, const char *name, const char *password,
                       custos__login_recorder rec, void *rec_ctx, custos__user *out,
                       custos_err *err) {
  int rc;
  custos_txn *t = NULL;
  custos__user u, now;
  char rehash[CUSTOS_PWHASH_MAX + 1] = "";
  memset(out, 0, sizeof *out);
  memset(&u, 0, sizeof u);

  bool known = false;
  if (custos_user_name_check(name, NULL) == CUSTOS_OK) {
    if ((rc = custos__store_begin(s, false, &t, err))) return rc;
    rc = custos__store_user_get(t, name, &u, err);
    custos__store_rollback(t);
    t = NULL;
    if (rc == CUSTOS_OK) {
      known = true;
    } else if (rc != CUSTOS_ENOENT) {
      return rc;
    }
  }
  if (!known) {
    (void)custos__auth_verify(dummy_hash, password ? password : "");
    return auth_failed(err);
  }
  bool ok = custos__auth_verify(u.pwhash, password);
  if (ok && !u.locked && custos__auth_needs_rehash(u.pwhash)) {
    /* A hash with other limits (a test hash, an older default): replace it
     * now that the password is known. */
    if (custos__auth_hash(password, rehash, NULL) != CUSTOS_OK) rehash[0] = '\0';
  }

  if ((rc = custos__store_begin(s, true, &t, err))) goto out;
  /* The user may have changed while the password was checked. */
  rc = custos__store_user_get(t, name, &now, err);
  if (rc == CUSTOS_ENOENT || (rc == CUSTOS_OK && now.id != u.id)) {
    rc = auth_failed(err);
    goto out;
  }
  if (rc != CUSTOS_OK) goto out;
  if (now.locked) {
    /* Refused whatever the password; the attempt is recorded. */
    rc = record_attempt(rec, rec_ctx, t, &now, CUSTOS__LOGIN_LOCKED, err);
    if (rc == CUSTOS_OK) rc = commit(&t, err);
    if (rc == CUSTOS_OK) rc = locked_error(name, err);
    goto out;
  }
  if (!ok) {
    bool locked = false;
    rc = custos__store_user_login_failed(t, now.id, CUSTOS_MAX_FAILED_LOGINS, &locked, err);
    if (rc == CUSTOS_OK) {
      rc = record_attempt(rec, rec_ctx, t, &now,
                          locked ? CUSTOS__LOGIN_LOCKED_NOW : CUSTOS__LOGIN_WRONG_PASSWORD, err);
    }
    if (rc == CUSTOS_OK) rc = commit(&t, err);
    if (rc != CUSTOS_OK) goto out;
    rc = locked ? locked_error(name, err) : auth_failed(err);
    goto out;
  }
  rc = custos__store_user_login_ok(t, now.id, rehash[0] ? rehash : NULL, err);
  if (rc == CUSTOS_OK) rc = record_attempt(rec, rec_ctx, t, &now, CUSTOS__LOGIN_OK, err);
  if (rc == CUSTOS_OK) rc = commit(&t, err);
  if (rc != CUSTOS_OK) goto out;
  now.failed_logins = 0;
  if (rehash[0]) memcpy(now.pwhash, rehash, sizeof now.pwhash);
  *out = now;
out:
  custos__store_rollback(t);
  sodium_memzero(rehash, sizeof rehash);
  return rc;
}

int custos__auth_require(custos_txn *t, const char *name, custos_role role, custos__user *out,
                         custos_err *err) {
  custos_role have;
  int rc = custos__store_user_get(t, name, out, err);
  if (rc == CUSTOS_ENOENT) {
    return custos__err(err, CUSTOS_EPERM, MOD, "user '%s' no longer exists", name);
  }
  if (rc != CUSTOS_OK) return rc;
  if (out->locked) return locked_error(name, err);
  if ((rc = custos__auth_role_of(out, &have, err))) return rc;
  if (role != CUSTOS_ROLE_NONE && have != role) {
    return custos__err(err, CUSTOS_EPERM, MOD, "user '%s' is %s; this needs the %s role", name,
                       custos_role_name(have), custos_role_name(role));
  }
  return CUSTOS_OK;
}

bool custos__auth_training_current(const custos__user *u, const char *today) {
  /* Both are YYYY-MM-DD, so the string order is the date order. */
  return u->trained_until[0] != '\0' && strcmp(u->trained_until, today) >= 0;
}
