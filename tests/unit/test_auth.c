/*
 * Unit tests of src/auth and the public instance API of src/core: roles,
 * user names, the password policy, Argon2id hashing (test limits and the
 * upgrade to the real ones), custos_init / custos_open (refusing an existing,
 * a missing and a newer database), logins with failure counting, locking and
 * unlocking, role checks on every user action, training dates (GOV-13) and
 * status.
 *
 * CUSTOS_TEST_FAST_KDF=1 is set for the whole run (hashes with libsodium's
 * minimum limits); test_rehash_upgrade clears it to check the upgrade.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "custos/core.h"
#include "custos/custos.h"
#include "store/store.h"
#include "util/util.h"

#define ADMIN_PW "correct horse battery staple"
#define USER_PW "examiner password 1"

typedef struct fixture {
  char dir[64];          /* a fresh temporary folder */
  char db[128];          /* dir/custos.db */
  custos *c;             /* open instance (after setup_init) */
  custos_session *admin; /* alice, logged in */
} fixture;

static int setup_dir(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (f == NULL) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/custos-auth-test.XXXXXX");
  if (mkdtemp(f->dir) == NULL) return -1;
  snprintf(f->db, sizeof f->db, "%s/custos.db", f->dir);
  *state = f;
  return 0;
}

/* An initialised database with administrator alice logged in. */
static int setup_init(void **state) {
  if (setup_dir(state) != 0) return -1;
  fixture *f = *state;
  custos_err err;
  custos_init_opts o = {.admin_name = "alice", .admin_password = ADMIN_PW};
  if (custos_init(f->db, &o, &err) != CUSTOS_OK) return -1;
  if (custos_open(f->db, &f->c, &err) != CUSTOS_OK) return -1;
  if (custos_login(f->c, "alice", ADMIN_PW, &f->admin, &err) != CUSTOS_OK) return -1;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  custos_session_free(f->admin);
  custos_close(f->c);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  free(f);
  return 0;
}

/* ---- roles, names, passwords -------------------------------------------------- */

static void test_roles(void **state) {
  (void)state;
  static const char *const names[] = {"admin", "intake",   "manager", "governor",
                                      "legal", "examiner", "auditor"};
  custos_err err;
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(names); i++) {
    custos_role r;
    assert_int_equal(custos_role_parse(names[i], &r, &err), CUSTOS_OK);
    assert_int_equal(r, (custos_role)(i + 1));
    assert_string_equal(custos_role_name(r), names[i]);
  }
  custos_role r = CUSTOS_ROLE_ADMIN;
  assert_int_equal(custos_role_parse("Admin", &r, &err), CUSTOS_EINVAL);
  assert_int_equal(r, CUSTOS_ROLE_NONE);
  assert_non_null(strstr(err.message, "examiner")); /* lists the roles */
  assert_int_equal(custos_role_parse("none", &r, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_role_parse(NULL, &r, &err), CUSTOS_EINVAL);
  assert_string_equal(custos_role_name(CUSTOS_ROLE_NONE), "none");
  assert_string_equal(custos_role_name((custos_role)99), "none");
}

static void test_user_names(void **state) {
  (void)state;
  custos_err err;
  static const char *const good[] = {"a", "alice", "j.doe", "exam_1", "x-y", "a0"};
  static const char *const bad[] = {"",    "Alice", "1abc", ".a",  "a b",
                                    "a'b", "a;b",   "ä",    "a\n", "_a"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(good); i++) {
    assert_int_equal(custos_user_name_check(good[i], &err), CUSTOS_OK);
  }
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    if (custos_user_name_check(bad[i], &err) != CUSTOS_EINVAL) fail_msg("'%s' accepted", bad[i]);
  }
  assert_int_equal(custos_user_name_check(NULL, &err), CUSTOS_EINVAL);
  char name[CUSTOS_USER_NAME_MAX + 2];
  memset(name, 'a', CUSTOS_USER_NAME_MAX);
  name[CUSTOS_USER_NAME_MAX] = '\0';
  assert_int_equal(custos_user_name_check(name, &err), CUSTOS_OK);
  name[CUSTOS_USER_NAME_MAX] = 'a';
  name[CUSTOS_USER_NAME_MAX + 1] = '\0';
  assert_int_equal(custos_user_name_check(name, &err), CUSTOS_EINVAL);
}

static void test_password_policy(void **state) {
  (void)state;
  custos_err err;
  assert_int_equal(custos_password_check("bob", "twelve chars", &err), CUSTOS_OK);
  assert_int_equal(custos_password_check("bob", "eleven char", &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "12"));
  assert_null(strstr(err.message, "eleven")); /* never echoes the password */
  assert_int_equal(custos_password_check("bob", "", &err), CUSTOS_EINVAL);
  assert_int_equal(custos_password_check("bob", NULL, &err), CUSTOS_EINVAL);
  /* Characters, not bytes: 11 two-byte characters are too few, 12 enough. */
  assert_int_equal(custos_password_check("bob", "ééééééééééé", &err), CUSTOS_EINVAL);
  assert_int_equal(custos_password_check("bob", "éééééééééééé", &err), CUSTOS_OK);
  assert_int_equal(custos_password_check("a.long.user.name", "a.long.user.name", &err),
                   CUSTOS_EINVAL);
  char big[CUSTOS_PASSWORD_MAX + 2];
  memset(big, 'p', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(custos_password_check("bob", big, &err), CUSTOS_EINVAL);
  big[CUSTOS_PASSWORD_MAX] = '\0';
  assert_int_equal(custos_password_check("bob", big, &err), CUSTOS_OK);
}

/* ---- hashing ----------------------------------------------------------------------- */

static void test_hash_verify(void **state) {
  (void)state;
  custos_err err;
  char h[CUSTOS_PWHASH_MAX + 1], h2[CUSTOS_PWHASH_MAX + 1];
  assert_true(custos__auth_fast_kdf());
  assert_int_equal(custos__auth_hash("a password here", h, &err), CUSTOS_OK);
  assert_true(strncmp(h, "$argon2id$v=19$m=8,t=1,p=1$", 27) == 0);
  assert_true(custos__auth_verify(h, "a password here"));
  assert_false(custos__auth_verify(h, "a password herE"));
  assert_false(custos__auth_verify(h, ""));
  assert_false(custos__auth_verify(h, NULL));
  assert_false(custos__auth_verify(NULL, "a password here"));
  assert_false(custos__auth_verify("not a hash", "a password here"));
  assert_false(custos__auth_needs_rehash(h));
  /* Salted: the same password hashes differently each time. */
  assert_int_equal(custos__auth_hash("a password here", h2, &err), CUSTOS_OK);
  assert_string_not_equal(h, h2);
  /* Another Argon2 variant is not accepted, even when it matches. */
  char i13[crypto_pwhash_STRBYTES];
  assert_int_equal(
      crypto_pwhash_str_alg(i13, "a password here", 15, 3, 8192, crypto_pwhash_ALG_ARGON2I13), 0);
  assert_false(custos__auth_verify(i13, "a password here"));
  /* Over-long passwords are neither hashed nor verified. */
  char big[CUSTOS_PASSWORD_MAX + 2];
  memset(big, 'p', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(custos__auth_hash(big, h2, &err), CUSTOS_EINVAL);
  assert_false(custos__auth_verify(h, big));
}

/* ---- init and open ------------------------------------------------------------------- */

static void test_init(void **state) {
  fixture *f = *state;
  custos_err err;
  custos *c = NULL;
  /* Nothing there yet. */
  assert_int_equal(custos_open(f->db, &c, &err), CUSTOS_ENOENT);
  assert_null(c);
  /* Bad options create nothing. */
  custos_init_opts o = {.admin_name = "Alice", .admin_password = ADMIN_PW};
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_EINVAL);
  assert_int_equal(access(f->db, F_OK), -1);
  o.admin_name = "alice";
  o.admin_password = "short";
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_EINVAL);
  assert_int_equal(access(f->db, F_OK), -1);
  o.admin_password = ADMIN_PW;
  o.policy_path = "/nonexistent/policy.json";
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_ENOENT);
  assert_int_equal(access(f->db, F_OK), -1);
  assert_int_equal(custos_init(f->db, NULL, &err), CUSTOS_EINVAL);
  o.policy_path = NULL;
  /* A PostgreSQL URL is recognised and refused until that backend exists. */
  assert_int_equal(custos_init("postgresql://localhost/custos", &o, &err), CUSTOS_EUNSUPPORTED);

  /* With a policy file: its SHA-256 is recorded. */
  char policy[160];
  snprintf(policy, sizeof policy, "%s/policy.json", f->dir);
  FILE *fp = fopen(policy, "w");
  assert_non_null(fp);
  fputs("abc", fp);
  fclose(fp);
  o.policy_path = policy;
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_OK);
  assert_int_equal(custos_open(f->db, &c, &err), CUSTOS_OK);
  custos_status st;
  assert_int_equal(custos_get_status(c, &st, &err), CUSTOS_OK);
  assert_string_equal(st.policy_sha256,
                      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  assert_int_equal(st.users, 1);
  assert_int_equal(st.holders, 0);
  assert_int_equal(st.photos, 0);
  assert_int_equal(st.templates, 0);
  assert_int_equal(st.schema_version, CUSTOS_SCHEMA_VERSION);
  assert_string_equal(st.backend, "sqlite");
  custos_session *s = NULL;
  assert_int_equal(custos_login(c, "alice", ADMIN_PW, &s, &err), CUSTOS_OK);
  assert_string_equal(custos_session_user(s), "alice");
  assert_int_equal(custos_session_role(s), CUSTOS_ROLE_ADMIN);
  custos_session_free(s);
  custos_close(c);

  /* A second init is refused and changes nothing. */
  o.admin_name = "mallory";
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_ECONFLICT);
  assert_int_equal(custos_err_class_of(err.code), CUSTOS_CLASS_REFUSED);
  assert_int_equal(custos_open(f->db, &c, &err), CUSTOS_OK);
  assert_int_equal(custos_login(c, "mallory", ADMIN_PW, &s, &err), CUSTOS_EAUTH);
  assert_int_equal(custos_login(c, "alice", ADMIN_PW, &s, &err), CUSTOS_OK);
  custos_session_free(s);
  custos_close(c);
  custos_close(NULL);
}

static void test_open_newer(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_store *s = NULL;
  custos_txn *t = NULL;
  custos_session_free(f->admin);
  f->admin = NULL;
  custos_close(f->c);
  f->c = NULL;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_begin(s, true, &t, &err), CUSTOS_OK);
  assert_int_equal(custos__store_meta_set(t, "schema_version", "999", &err), CUSTOS_OK);
  assert_int_equal(custos__store_commit(t, &err), CUSTOS_OK);
  custos__store_close(s);
  assert_int_equal(custos_open(f->db, &f->c, &err), CUSTOS_EVERSION);
  assert_null(f->c);
  assert_non_null(strstr(err.message, "999"));
  assert_int_equal(custos_err_class_of(err.code), CUSTOS_CLASS_REFUSED);
}

/* ---- logins ---------------------------------------------------------------------------- */

static void test_login(void **state) {
  fixture *f = *state;
  custos_err err, err2;
  custos_session *s = NULL;
  assert_int_equal(custos_login(f->c, "alice", "wrong password!", &s, &err), CUSTOS_EAUTH);
  assert_null(s);
  /* An unknown user gets the very same answer. */
  assert_int_equal(custos_login(f->c, "nobody", "wrong password!", &s, &err2), CUSTOS_EAUTH);
  assert_string_equal(err.message, err2.message);
  assert_int_equal(custos_login(f->c, "Not A Name", "x", &s, &err2), CUSTOS_EAUTH);
  assert_string_equal(err.message, err2.message);
  assert_int_equal(custos_login(f->c, "alice", NULL, &s, &err), CUSTOS_EAUTH);
  assert_int_equal(custos_login(f->c, NULL, ADMIN_PW, &s, &err), CUSTOS_EAUTH);
  assert_int_equal(custos_err_class_of(CUSTOS_EAUTH), CUSTOS_CLASS_DENIED);
  assert_int_equal(custos_login(f->c, "alice", ADMIN_PW, &s, &err), CUSTOS_OK);
  custos_session_free(s);
  custos_session_free(NULL);
}

static void user_info(fixture *f, const char *name, custos_user_info *out) {
  custos_err err;
  custos_user_info *list = NULL;
  size_t n = 0;
  assert_int_equal(custos_user_list(f->c, f->admin, &list, &n, &err), CUSTOS_OK);
  bool found = false;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(list[i].name, name) == 0) {
      *out = list[i];
      found = true;
    }
  }
  custos_user_list_free(list);
  assert_true(found);
}

static void test_lockout(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_session *s = NULL;
  custos_user_info u;
  assert_int_equal(
      custos_user_add(f->c, f->admin, "bob", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err), CUSTOS_OK);
  /* Failures short of the limit are forgiven by a success. */
  for (int i = 0; i < CUSTOS_MAX_FAILED_LOGINS - 1; i++) {
    assert_int_equal(custos_login(f->c, "bob", "not the password", &s, &err), CUSTOS_EAUTH);
  }
  user_info(f, "bob", &u);
  assert_int_equal(u.failed_logins, CUSTOS_MAX_FAILED_LOGINS - 1);
  assert_false(u.locked);
  assert_int_equal(custos_login(f->c, "bob", USER_PW, &s, &err), CUSTOS_OK);
  custos_session_free(s);
  user_info(f, "bob", &u);
  assert_int_equal(u.failed_logins, 0);

  /* The limit locks the account; then even the right password is refused. */
  for (int i = 0; i < CUSTOS_MAX_FAILED_LOGINS; i++) {
    assert_int_equal(custos_login(f->c, "bob", "not the password", &s, &err), CUSTOS_EAUTH);
  }
  assert_non_null(strstr(err.message, "locked"));
  user_info(f, "bob", &u);
  assert_true(u.locked);
  assert_int_equal(custos_login(f->c, "bob", USER_PW, &s, &err), CUSTOS_EAUTH);
  assert_null(s);
  assert_non_null(strstr(err.message, "locked"));

  /* Only an administrator unlocks. */
  custos_session *auditor = NULL;
  assert_int_equal(
      custos_user_add(f->c, f->admin, "carol", CUSTOS_ROLE_AUDITOR, NULL, USER_PW, &err),
      CUSTOS_OK);
  assert_int_equal(custos_login(f->c, "carol", USER_PW, &auditor, &err), CUSTOS_OK);
  assert_int_equal(custos_user_unlock(f->c, auditor, "bob", &err), CUSTOS_EPERM);
  custos_session_free(auditor);
  assert_int_equal(custos_user_unlock(f->c, f->admin, "nobody", &err), CUSTOS_ENOENT);
  assert_int_equal(custos_user_unlock(f->c, f->admin, "bob", &err), CUSTOS_OK);
  user_info(f, "bob", &u);
  assert_false(u.locked);
  assert_int_equal(u.failed_logins, 0);
  assert_int_equal(custos_login(f->c, "bob", USER_PW, &s, &err), CUSTOS_OK);
  custos_session_free(s);
}

static void test_locked_session_stops(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_session *s = NULL, *dave = NULL;
  /* A second administrator, logged in, who then gets locked out: the open
   * session stops working at once. */
  assert_int_equal(custos_user_add(f->c, f->admin, "dave", CUSTOS_ROLE_ADMIN, NULL, USER_PW, &err),
                   CUSTOS_OK);
  assert_int_equal(custos_login(f->c, "dave", USER_PW, &dave, &err), CUSTOS_OK);
  for (int i = 0; i < CUSTOS_MAX_FAILED_LOGINS; i++) {
    assert_int_equal(custos_login(f->c, "dave", "not the password", &s, &err), CUSTOS_EAUTH);
  }
  assert_int_equal(custos_user_add(f->c, dave, "erin", CUSTOS_ROLE_INTAKE, NULL, USER_PW, &err),
                   CUSTOS_EAUTH);
  assert_non_null(strstr(err.message, "locked"));
  custos_session_free(dave);
}

static void test_rehash_upgrade(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_session *s = NULL;
  custos_store *st = NULL;
  custos_txn *t = NULL;
  custos__user u;
  /* alice was created with the test limits. */
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &st, &err), CUSTOS_OK);
  assert_int_equal(custos__store_begin(st, false, &t, &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &u, &err), CUSTOS_OK);
  custos__store_rollback(t);
  assert_non_null(strstr(u.pwhash, "m=8,"));
  /* Logging in without the test variable replaces it with a real hash. */
  unsetenv("CUSTOS_TEST_FAST_KDF");
  assert_false(custos__auth_fast_kdf());
  assert_true(custos__auth_needs_rehash(u.pwhash));
  int rc = custos_login(f->c, "alice", ADMIN_PW, &s, &err);
  setenv("CUSTOS_TEST_FAST_KDF", "1", 1);
  assert_int_equal(rc, CUSTOS_OK);
  custos_session_free(s);
  assert_int_equal(custos__store_begin(st, false, &t, &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &u, &err), CUSTOS_OK);
  custos__store_rollback(t);
  custos__store_close(st);
  assert_non_null(strstr(u.pwhash, "$argon2id$v=19$m=65536,t=2,p=1$"));
  /* The password still works, and a wrong one still fails. */
  assert_int_equal(custos_login(f->c, "alice", ADMIN_PW, &s, &err), CUSTOS_OK);
  custos_session_free(s);
  assert_int_equal(custos_login(f->c, "alice", "wrong password!", &s, &err), CUSTOS_EAUTH);
}

/* ---- user administration ------------------------------------------------------------------ */

static void test_user_add(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_session *bob = NULL;
  custos_user_info u;
  assert_int_equal(
      custos_user_add(f->c, f->admin, "bob", CUSTOS_ROLE_EXAMINER, "2030-01-31", USER_PW, &err),
      CUSTOS_OK);
  user_info(f, "bob", &u);
  assert_int_equal(u.role, CUSTOS_ROLE_EXAMINER);
  assert_string_equal(u.trained_until, "2030-01-31");
  assert_false(u.locked);
  assert_int_equal(strlen(u.created), 20);
  /* Refusals: taken name, bad name, role, date, password. */
  assert_int_equal(custos_user_add(f->c, f->admin, "bob", CUSTOS_ROLE_AUDITOR, NULL, USER_PW, &err),
                   CUSTOS_ECONFLICT);
  assert_int_equal(custos_user_add(f->c, f->admin, "Bob", CUSTOS_ROLE_AUDITOR, NULL, USER_PW, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_user_add(f->c, f->admin, "x'); DROP TABLE users; --", CUSTOS_ROLE_AUDITOR,
                                   NULL, USER_PW, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_user_add(f->c, f->admin, "zed", CUSTOS_ROLE_NONE, NULL, USER_PW, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_user_add(f->c, f->admin, "zed", (custos_role)42, NULL, USER_PW, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(
      custos_user_add(f->c, f->admin, "zed", CUSTOS_ROLE_EXAMINER, "2023-02-29", USER_PW, &err),
      CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "trained_until"));
  assert_int_equal(
      custos_user_add(f->c, f->admin, "zed", CUSTOS_ROLE_EXAMINER, NULL, "short", &err),
      CUSTOS_EINVAL);
  /* Only administrators add users (or list them). */
  assert_int_equal(custos_login(f->c, "bob", USER_PW, &bob, &err), CUSTOS_OK);
  assert_int_equal(custos_user_add(f->c, bob, "zed", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err),
                   CUSTOS_EPERM);
  assert_non_null(strstr(err.message, "admin"));
  custos_user_info *list = NULL;
  size_t n = 99;
  assert_int_equal(custos_user_list(f->c, bob, &list, &n, &err), CUSTOS_EPERM);
  assert_null(list);
  assert_int_equal(custos_user_set_training(f->c, bob, "bob", "2099-01-01", &err), CUSTOS_EPERM);
  custos_session_free(bob);
  assert_int_equal(custos_user_add(f->c, NULL, "zed", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err),
                   CUSTOS_EPERM);
  /* A session belongs to the instance it was opened on. */
  custos *other = NULL;
  assert_int_equal(custos_open(f->db, &other, &err), CUSTOS_OK);
  assert_int_equal(
      custos_user_add(other, f->admin, "zed", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err),
      CUSTOS_EPERM);
  custos_close(other);
  /* Nothing of the refused additions is there. */
  assert_int_equal(custos_user_list(f->c, f->admin, &list, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 2);
  assert_string_equal(list[0].name, "alice");
  assert_string_equal(list[1].name, "bob");
  custos_user_list_free(list);
}

static void test_training(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_user_info u;
  assert_int_equal(
      custos_user_add(f->c, f->admin, "eve", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err), CUSTOS_OK);
  assert_int_equal(custos_user_set_training(f->c, f->admin, "eve", "2031-12-31", &err), CUSTOS_OK);
  user_info(f, "eve", &u);
  assert_string_equal(u.trained_until, "2031-12-31");
  assert_int_equal(custos_user_set_training(f->c, f->admin, "eve", "2031-11-31", &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_user_set_training(f->c, f->admin, "nobody", "2031-12-31", &err),
                   CUSTOS_ENOENT);
  assert_int_equal(custos_user_set_training(f->c, f->admin, "eve", NULL, &err), CUSTOS_OK);
  user_info(f, "eve", &u);
  assert_string_equal(u.trained_until, "");

  /* GOV-13: a certification is current through its last day, not after. */
  custos__user x;
  memset(&x, 0, sizeof x);
  assert_false(custos__auth_training_current(&x, "2024-06-01")); /* none */
  snprintf(x.trained_until, sizeof x.trained_until, "2024-06-01");
  assert_true(custos__auth_training_current(&x, "2024-05-31"));
  assert_true(custos__auth_training_current(&x, "2024-06-01"));
  assert_false(custos__auth_training_current(&x, "2024-06-02"));
  assert_false(custos__auth_training_current(&x, "2025-01-01"));
}

/* Every allocation of ours that can fail, failing in turn: each run ends in
 * success or a clean error, never a crash or a leak (ASan checks). */
static void test_alloc_failures(void **state) {
  fixture *f = *state;
  custos_err err;
  int failures = 0;
  for (long n = 0; n < 64; n++) {
    custos *c = NULL;
    custos_session *s = NULL;
    custos_user_info *list = NULL;
    size_t count = 0;
    custos__alloc_fail_after(n);
    int rc = custos_open(f->db, &c, &err);
    if (rc == CUSTOS_OK) rc = custos_login(c, "alice", ADMIN_PW, &s, &err);
    if (rc == CUSTOS_OK) rc = custos_user_list(c, s, &list, &count, &err);
    custos__alloc_fail_after(-1);
    if (rc != CUSTOS_OK) {
      assert_int_equal(rc, CUSTOS_ENOMEM);
      failures++;
    } else {
      assert_int_equal(count, 1);
    }
    custos_user_list_free(list);
    custos_session_free(s);
    custos_close(c);
  }
  assert_true(failures > 0);
  /* The failed logins did not count as wrong passwords. */
  custos_user_info u;
  user_info(f, "alice", &u);
  assert_int_equal(u.failed_logins, 0);
}

static void test_date_check(void **state) {
  (void)state;
  custos_err err;
  assert_int_equal(custos_date_check("2024-02-29", "x", &err), CUSTOS_OK);
  assert_int_equal(custos_date_check("2023-02-29", "--until", &err), CUSTOS_EINVAL);
  assert_true(strncmp(err.message, "--until: ", 9) == 0);
  assert_int_equal(custos_date_check("tomorrow", NULL, &err), CUSTOS_EINVAL);
}

int main(void) {
  setenv("CUSTOS_TEST_FAST_KDF", "1", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_roles),
      cmocka_unit_test(test_user_names),
      cmocka_unit_test(test_password_policy),
      cmocka_unit_test(test_hash_verify),
      cmocka_unit_test_setup_teardown(test_init, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_open_newer, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_login, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_lockout, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_locked_session_stops, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_rehash_upgrade, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_user_add, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_training, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_alloc_failures, setup_init, teardown),
      cmocka_unit_test(test_date_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
