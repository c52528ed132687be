/*
 * Unit tests of src/auth and the public instance API of src/core: roles,
 * user names, the password policy, Argon2id hashing (test limits and the
 * upgrade to the real ones), custos_init / custos_open (refusing an existing,
 * a missing and a newer database), logins with failure counting, locking and
 * unlocking, role checks on every user action, training dates (GOV-13),
 * status, and the audit log as core wires it in (GOV-20): the key init
 * creates, what each action records, a failing append failing the action,
 * the key file missing, and the public audit functions.
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
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "auth/auth.h"
#include "core/coreInt.h"
#include "custos/core.h"
#include "custos/custos.h"
#include "store/store.h"
#include "util/util.h"
#include "fixture.h"

#define ADMIN_PW "correct horse battery staple"
#define USER_PW "examiner password 1"

static int setup_dir(void **state) {
  return fixture_dir(state, "auth");
}

/* An initialised database with administrator alice logged in. */
static int setup_init(void **state) {
  return fixture_init(state, "auth", ADMIN_PW);
}

static int teardown(void **state) {
  return fixture_teardown(state);
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

  /* A policy file that does not parse is refused, and no database is made. */
  char policy[160];
  snprintf(policy, sizeof policy, "%s/site.policy", f->dir);
  FILE *fp = fopen(policy, "w");
  assert_non_null(fp);
  fputs("abc", fp);
  fclose(fp);
  o.policy_path = policy;
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_EINVAL);
  assert_int_equal(access(f->db, F_OK), -1);
  /* With a policy file: its SHA-256 is recorded. */
  fp = fopen(policy, "w");
  assert_non_null(fp);
  fputs("[records]\nretention_days = 90\n", fp);
  fclose(fp);
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_OK);
  assert_int_equal(custos_open(f->db, &c, &err), CUSTOS_OK);
  custos_status st;
  assert_int_equal(custos_get_status(c, &st, &err), CUSTOS_OK);
  assert_string_equal(st.policy_sha256,
                      "407b326b43683ca784aaca6186095200cd956af23516bc142c422b751d6bcf5b");
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
  assert_int_equal(custos_session_refresh(f->c, dave, &err), CUSTOS_OK);
  assert_int_equal(custos_session_role(dave), CUSTOS_ROLE_ADMIN);
  assert_int_equal(custos_session_refresh(NULL, dave, &err), CUSTOS_EPERM);
  for (int i = 0; i < CUSTOS_MAX_FAILED_LOGINS; i++) {
    assert_int_equal(custos_login(f->c, "dave", "not the password", &s, &err), CUSTOS_EAUTH);
  }
  assert_int_equal(custos_user_add(f->c, dave, "erin", CUSTOS_ROLE_INTAKE, NULL, USER_PW, &err),
                   CUSTOS_EAUTH);
  assert_non_null(strstr(err.message, "locked"));
  /* The server's per-request check says the same. */
  assert_int_not_equal(custos_session_refresh(f->c, dave, &err), CUSTOS_OK);
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

/* ---- the audit log (GOV-20) ----------------------------------------------------------- */

typedef struct grep_ctx {
  const char *needle;                    /* what to look for in an entry */
  int hits;                              /* entries holding it */
  char last[CUSTOS_AUDIT_ENTRY_MAX + 1]; /* the newest entry seen */
} grep_ctx;

static int grep_entry(void *ctx, int64_t idx, const void *data, size_t len) {
  grep_ctx *g = ctx;
  (void)idx;
  snprintf(g->last, sizeof g->last, "%.*s", (int)len, (const char *)data);
  if (strstr(g->last, g->needle) != NULL) g->hits++;
  return 0;
}

/* Number of entries of f's log holding needle, read through a second
 * connection; *last (may be NULL) receives the newest entry. */
static int log_count(fixture *f, const char *needle, char *last, size_t cap) {
  custos_store *s = NULL;
  custos_txn *t = NULL;
  custos_err err;
  grep_ctx g = {needle, 0, ""};
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &s, &err), 0);
  assert_int_equal(custos__store_begin(s, false, &t, &err), 0);
  assert_int_equal(custos__store_audit_entry_scan(t, 0, grep_entry, &g, &err), 0);
  custos__store_rollback(t);
  custos__store_close(s);
  if (last) snprintf(last, cap, "%s", g.last);
  return g.hits;
}

static void raw_sql(fixture *f, const char *sql) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"%s\"", f->db, sql);
  assert_int_equal(system(cmd), 0);
}

/* Init: the key file beside the database (0600), the log's settings, its
 * first entries and checkpoint; the key in status. */
static void test_audit_init(void **state) {
  fixture *f = *state;
  custos_err err;
  char key_path[256];
  struct stat st;
  assert_int_equal(custos_audit_key_path(f->db, key_path, sizeof key_path, &err), 0);
  assert_true(strlen(key_path) > strlen(f->db));
  assert_string_equal(key_path + strlen(f->db), ".logkey");
  assert_int_equal(stat(key_path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  custos_status s;
  assert_int_equal(custos_get_status(f->c, &s, &err), 0);
  assert_true(s.audit_log);
  assert_int_equal(s.audit_entries, 3); /* log.init, user.add, alice's login */
  assert_int_equal(s.checkpoint_size, 2);
  assert_int_equal(strlen(s.checkpoint_root), 64);
  custos_audit_verifier v;
  assert_int_equal(custos_audit_verifier_parse(s.log_key, &v, &err), 0);
  assert_int_equal(strncmp(v.name, "custos.local/audit/", 19), 0);
  char last[CUSTOS_AUDIT_ENTRY_MAX + 1];
  assert_int_equal(log_count(f, "\"action\":\"log.init\",\"actor\":\"system\",\"seq\":0,", NULL, 0),
                   1);
  assert_int_equal(
      log_count(f, "\"detail\":{\"role\":\"admin\",\"target_user\":\"alice\"},\"seq\":1,", NULL, 0),
      1);
  assert_int_equal(log_count(f, "session.login", last, sizeof last), 1);
  assert_non_null(strstr(last, "\"action\":\"session.login\",\"actor\":\"alice\""));

  /* The key path: beside a SQLite file, from the variable, none for PostgreSQL. */
  char p[64];
  assert_int_equal(custos_audit_key_path("x.db", p, sizeof p, &err), 0);
  assert_string_equal(p, "x.db.logkey");
  assert_int_equal(custos_audit_key_path("postgresql://h/db", p, sizeof p, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, CUSTOS_AUDIT_KEY_ENV));
  setenv(CUSTOS_AUDIT_KEY_ENV, "/keys/log.key", 1);
  assert_int_equal(custos_audit_key_path("postgresql://h/db", p, sizeof p, &err), 0);
  assert_string_equal(p, "/keys/log.key");
  unsetenv(CUSTOS_AUDIT_KEY_ENV);
  assert_int_equal(custos_audit_key_path("x.db", p, 5, &err), CUSTOS_ETOOBIG);

  /* A key file where init would write one: refused, nothing created, the
   * file untouched. */
  char db2[160], key2[180];
  snprintf(db2, sizeof db2, "%s/second.db", f->dir);
  snprintf(key2, sizeof key2, "%s.logkey", db2);
  FILE *fp = fopen(key2, "w");
  assert_non_null(fp);
  fputs("theirs\n", fp);
  fclose(fp);
  custos_init_opts o = {.admin_name = "alice", .admin_password = ADMIN_PW};
  assert_int_equal(custos_init(db2, &o, &err), CUSTOS_ECONFLICT);
  assert_int_equal(access(db2, F_OK), -1);
  assert_int_equal(stat(key2, &st), 0);
  assert_int_equal(st.st_size, 7);
  unlink(key2);
  /* A bad origin: refused before anything is created. */
  o.log_origin = "two words";
  assert_int_equal(custos_init(db2, &o, &err), CUSTOS_EINVAL);
  assert_int_equal(access(db2, F_OK), -1);
  assert_int_equal(access(key2, F_OK), -1);
  o.log_origin = "example.gov/custos-audit";
  assert_int_equal(custos_init(db2, &o, &err), CUSTOS_OK);
  custos *c2 = NULL;
  assert_int_equal(custos_open(db2, &c2, &err), 0);
  assert_int_equal(custos_get_status(c2, &s, &err), 0);
  assert_int_equal(strncmp(s.log_key, "example.gov/custos-audit+", 25), 0);
  custos_close(c2);
  /* "system" is the log's, no person's. */
  assert_int_equal(custos_user_name_check("system", &err), CUSTOS_EINVAL);
  assert_int_equal(
      custos_user_add(f->c, f->admin, "system", CUSTOS_ROLE_AUDITOR, NULL, USER_PW, &err),
      CUSTOS_EINVAL);
}

/* What the user actions and logins record, and what they do not. */
static void test_audit_records(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_session *s = NULL;
  char last[CUSTOS_AUDIT_ENTRY_MAX + 1];
  assert_int_equal(
      custos_user_add(f->c, f->admin, "bob", CUSTOS_ROLE_EXAMINER, "2031-06-30", USER_PW, &err), 0);
  log_count(f, "", last, sizeof last);
  assert_non_null(strstr(last,
                         "\"action\":\"user.add\",\"actor\":\"alice\",\"detail\":{\"role\":"
                         "\"examiner\",\"target_user\":\"bob\",\"trained_until\":\"2031-06-30\"}"));
  assert_int_equal(custos_user_set_training(f->c, f->admin, "bob", "2032-01-01", &err), 0);
  log_count(f, "", last, sizeof last);
  assert_non_null(strstr(last,
                         "\"action\":\"user.set_training\",\"actor\":\"alice\",\"detail\":{"
                         "\"target_user\":\"bob\",\"trained_until\":\"2032-01-01\"}"));
  assert_int_equal(custos_user_set_training(f->c, f->admin, "bob", NULL, &err), 0);
  log_count(f, "", last, sizeof last);
  assert_non_null(strstr(last, "\"trained_until\":\"none\""));
  /* Failed logins: recorded for an account, by the system, with the reason;
   * the one that locks says so; a locked account's attempts too. */
  int before = log_count(f, "session.login_failed", NULL, 0);
  for (int i = 0; i < CUSTOS_MAX_FAILED_LOGINS; i++) {
    assert_int_equal(custos_login(f->c, "bob", "wrong password!", &s, &err), CUSTOS_EAUTH);
  }
  assert_int_equal(log_count(f, "session.login_failed", last, sizeof last),
                   before + CUSTOS_MAX_FAILED_LOGINS);
  assert_non_null(strstr(last,
                         "\"actor\":\"system\",\"detail\":{\"target_user\":\"bob\"},"
                         "\"reasons\":[\"ACCOUNT_LOCKED\",\"WRONG_PASSWORD\"]"));
  assert_int_equal(log_count(f, "[\"WRONG_PASSWORD\"]", NULL, 0), CUSTOS_MAX_FAILED_LOGINS - 1);
  assert_int_equal(custos_login(f->c, "bob", USER_PW, &s, &err), CUSTOS_EAUTH);
  log_count(f, "", last, sizeof last);
  assert_non_null(strstr(last, "\"reasons\":[\"ACCOUNT_LOCKED\"]"));
  /* An unknown name changes nothing and is not recorded: it may be a
   * password typed into the wrong field. */
  custos_status st;
  assert_int_equal(custos_get_status(f->c, &st, &err), 0);
  int64_t size = st.audit_entries;
  assert_int_equal(custos_login(f->c, "correcthorse", "x", &s, &err), CUSTOS_EAUTH);
  assert_int_equal(custos_get_status(f->c, &st, &err), 0);
  assert_int_equal(st.audit_entries, size);
  assert_int_equal(log_count(f, "correcthorse", NULL, 0), 0);
  assert_int_equal(custos_user_unlock(f->c, f->admin, "bob", &err), 0);
  log_count(f, "", last, sizeof last);
  assert_non_null(strstr(
      last, "\"action\":\"user.unlock\",\"actor\":\"alice\",\"detail\":{\"target_user\":\"bob\"}"));
  /* Refused actions record nothing. */
  assert_int_equal(custos_get_status(f->c, &st, &err), 0);
  size = st.audit_entries;
  assert_int_equal(custos_user_unlock(f->c, f->admin, "nobody", &err), CUSTOS_ENOENT);
  assert_int_equal(
      custos_user_add(f->c, f->admin, "bob", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err),
      CUSTOS_ECONFLICT);
  assert_int_equal(custos_get_status(f->c, &st, &err), 0);
  assert_int_equal(st.audit_entries, size);
  /* No password, and no hash of one, ever reaches the log (GOV-18 spirit). */
  assert_int_equal(log_count(f, USER_PW, NULL, 0), 0);
  assert_int_equal(log_count(f, ADMIN_PW, NULL, 0), 0);
  assert_int_equal(log_count(f, "argon2", NULL, 0), 0);
  custos_audit_verify_report rep;
  assert_int_equal(custos_audit_verify(f->c, NULL, NULL, 0, &rep, &err), 0);
  assert_int_equal((int64_t)rep.entries, st.audit_entries);
}

/* Invariant 4: if the append fails, the action fails and changes nothing —
 * an injected database failure on the entry of user.add alone, and the key
 * file gone. */
static void test_audit_append_fails_action(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_user_info *list = NULL;
  size_t n = 0;
  raw_sql(f,
          "CREATE TRIGGER f BEFORE INSERT ON audit_entry WHEN CAST(NEW.entry AS TEXT) LIKE "
          "'%user.add%' BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
  assert_int_not_equal(
      custos_user_add(f->c, f->admin, "bob", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err), 0);
  assert_non_null(strstr(err.message, "injected failure"));
  assert_int_equal(custos_user_list(f->c, f->admin, &list, &n, &err), 0);
  assert_int_equal(n, 1); /* alice only */
  custos_user_list_free(list);
  raw_sql(f, "DROP TRIGGER f;");
  custos_audit_verify_report rep;
  assert_int_equal(custos_audit_verify(f->c, NULL, NULL, 0, &rep, &err), 0);

  /* Without the key file a change cannot be recorded, so it fails; a
   * fresh instance (the key is read on the first append). */
  char key_path[256], moved[300];
  assert_int_equal(custos_audit_key_path(f->db, key_path, sizeof key_path, &err), 0);
  snprintf(moved, sizeof moved, "%s.away", key_path);
  assert_int_equal(rename(key_path, moved), 0);
  custos *c = NULL;
  custos_session *s = NULL;
  assert_int_equal(custos_open(f->db, &c, &err), 0);
  assert_int_equal(custos_login(c, "alice", ADMIN_PW, &s, &err), CUSTOS_ENOENT);
  assert_non_null(strstr(err.message, "signing key is needed"));
  assert_null(s);
  /* Reading and verifying need no key. */
  assert_int_equal(custos_audit_verify(c, NULL, NULL, 0, &rep, &err), 0);
  char note[CUSTOS_AUDIT_NOTE_MAX + 1];
  size_t len = 0;
  assert_int_equal(custos_audit_latest_checkpoint(c, false, note, sizeof note, &len, NULL, &err),
                   0);
  assert_int_equal(custos_audit_latest_checkpoint(c, true, note, sizeof note, &len, NULL, &err),
                   CUSTOS_ENOENT);
  custos_close(c);
  /* The key elsewhere, named by the variable. */
  setenv(CUSTOS_AUDIT_KEY_ENV, moved, 1);
  assert_int_equal(custos_open(f->db, &c, &err), 0);
  assert_int_equal(custos_login(c, "alice", ADMIN_PW, &s, &err), 0);
  unsetenv(CUSTOS_AUDIT_KEY_ENV);
  assert_int_equal(custos_user_add(c, s, "bob", CUSTOS_ROLE_EXAMINER, NULL, USER_PW, &err), 0);
  custos_session_free(s);
  custos_close(c);
  assert_int_equal(rename(moved, key_path), 0);
}

/* custos_audit_latest_checkpoint, _prove and _verify as front ends use them. */
static void test_audit_public(void **state) {
  fixture *f = *state;
  custos_err err;
  static custos_audit_evidence ev;
  char note[CUSTOS_AUDIT_NOTE_MAX + 1];
  size_t len = 0;
  bool fresh = true;
  custos_status st;
  assert_int_equal(custos_get_status(f->c, &st, &err), 0);
  assert_int_equal(st.audit_entries, 3);
  /* Entry 2 (alice's login) is past the checkpoint init signed (size 2). */
  assert_int_equal(custos_audit_prove(f->c, 2, false, &ev, &err), CUSTOS_ENOENT);
  assert_non_null(strstr(err.message, "no signed checkpoint covers entry 2"));
  assert_int_equal(custos_audit_prove(f->c, 3, true, &ev, &err), CUSTOS_ENOENT);
  assert_int_equal(custos_audit_prove(f->c, 2, true, &ev, &err), 0);
  assert_int_equal(ev.cp.size, 3);
  assert_int_equal(ev.proof.leaf_index, 2);
  assert_int_equal(ev.entry_len, strlen(ev.entry));
  assert_non_null(strstr(ev.entry, "\"seq\":2,"));
  assert_int_equal(custos_audit_proof_verify(&ev.proof, ev.entry, ev.entry_len, &ev.cp, &err), 0);
  custos_audit_verifier v;
  custos_audit_checkpoint cp;
  assert_int_equal(custos_audit_verifier_parse(st.log_key, &v, &err), 0);
  assert_int_equal(custos_audit_checkpoint_verify(ev.checkpoint, ev.checkpoint_len, &v, &cp, &err),
                   0);
  assert_int_equal(cp.size, 3);
  /* Nothing new to sign now. */
  assert_int_equal(
      custos_audit_latest_checkpoint(f->c, true, note, sizeof note, &len, &fresh, &err), 0);
  assert_false(fresh);
  assert_int_equal(len, ev.checkpoint_len);
  assert_memory_equal(note, ev.checkpoint, len);
  char small[10];
  assert_int_equal(
      custos_audit_latest_checkpoint(f->c, true, small, sizeof small, &len, &fresh, &err),
      CUSTOS_ETOOBIG);
  /* Verify: pinned key and kept checkpoint; another key; a malformed one. */
  custos_audit_verify_report rep;
  const char *kept[] = {note};
  assert_int_equal(custos_audit_verify(f->c, st.log_key, kept, 1, &rep, &err), 0);
  assert_int_equal(rep.entries, 3);
  assert_int_equal(rep.checkpoints, 2);
  assert_int_equal(rep.consistency_proofs, 1);
  custos_audit_signer *other = NULL;
  custos_audit_verifier ov;
  char other_key[CUSTOS_AUDIT_VERIFIER_KEY_MAX];
  assert_int_equal(custos__audit_signer_generate(v.name, &other, &err), 0);
  custos__audit_signer_verifier(other, &ov);
  assert_int_equal(custos_audit_verifier_format(&ov, other_key, sizeof other_key, &err), 0);
  assert_int_equal(custos_audit_verify(f->c, other_key, NULL, 0, &rep, &err), CUSTOS_EVERIFY);
  assert_true(rep.problems >= 1);
  custos__audit_signer_free(other);
  assert_int_equal(custos_audit_verify(f->c, "nonsense", NULL, 0, &rep, &err), CUSTOS_EINVAL);
  /* Tampered: an entry edited behind custos's back. */
  raw_sql(f, "UPDATE audit_entry SET entry = replace(entry, 'alice', 'mally') WHERE idx = 2;");
  assert_int_equal(custos_audit_verify(f->c, st.log_key, NULL, 0, &rep, &err), CUSTOS_EVERIFY);
  assert_int_equal(rep.first_bad_entry, 2);
  assert_string_equal(err.message, rep.first_problem);
  assert_int_equal(custos_audit_prove(f->c, 2, true, &ev, &err), CUSTOS_ECORRUPT);
}

/* A database at schema version `version` with administrator alice, made
 * through the store as an older custos would have left it. */
static void old_database(fixture *f, int version) {
  custos_store *s = NULL;
  custos_txn *t = NULL;
  custos_err err;
  custos__user u;
  int64_t id;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_CREATE, &s, &err), 0);
  assert_int_equal(custos__store_migrate(s, version, NULL, NULL, &err), 0);
  assert_int_equal(custos__auth_prepare_user("alice", CUSTOS_ROLE_ADMIN, NULL, ADMIN_PW, &u, &err),
                   0);
  assert_int_equal(custos__store_begin(s, true, &t, &err), 0);
  assert_int_equal(custos__store_user_add(t, &u, &id, &err), 0);
  assert_int_equal(custos__store_commit(t, &err), 0);
  custos__store_close(s);
}

/* A database from before the log (version 2): migrated with nothing to
 * record into, changes refused until `audit setup`. */
static void test_audit_setup(void **state) {
  fixture *f = *state;
  custos_err err;
  char key_path[256];
  assert_int_equal(custos_audit_key_path(f->db, key_path, sizeof key_path, &err), 0);
  old_database(f, 2);
  assert_int_equal(custos_open(f->db, &f->c, &err), 0);
  custos_status st;
  assert_int_equal(custos_get_status(f->c, &st, &err), 0);
  assert_int_equal(st.schema_version, CUSTOS_SCHEMA_VERSION);
  assert_false(st.audit_log);
  assert_int_equal(st.audit_entries, 0);
  assert_int_equal(st.checkpoint_size, -1);
  assert_string_equal(st.log_key, "");
  assert_int_equal(custos_login(f->c, "alice", ADMIN_PW, &f->admin, &err), CUSTOS_ENOENT);
  assert_non_null(strstr(err.message, "custos audit setup"));
  custos_audit_verify_report rep;
  assert_int_equal(custos_audit_verify(f->c, NULL, NULL, 0, &rep, &err), CUSTOS_ENOENT);
  assert_int_equal(custos_audit_setup(f->c, "bad origin", &err), CUSTOS_EINVAL);
  assert_int_equal(access(key_path, F_OK), -1);
  assert_int_equal(custos_audit_setup(f->c, NULL, &err), 0);
  assert_int_equal(custos_audit_setup(f->c, NULL, &err), CUSTOS_ECONFLICT);
  assert_int_equal(custos_login(f->c, "alice", ADMIN_PW, &f->admin, &err), 0);
  assert_int_equal(custos_get_status(f->c, &st, &err), 0);
  assert_int_equal(st.audit_entries, 2); /* log.init, the login */
  assert_int_equal(st.checkpoint_size, 1);
  assert_int_equal(custos_audit_verify(f->c, st.log_key, NULL, 0, &rep, &err), 0);
}

/* Migration steps after the log exists are recorded, each in its own
 * transaction; without the key a step cannot be recorded, so it is not
 * applied.  A database at the version before the latest, with a log. */
static void test_audit_migration_recorded(void **state) {
  fixture *f = *state;
  custos_err err;
  if (CUSTOS_SCHEMA_VERSION - 1 < 3) skip(); /* no step after the log's yet */
  char key_path[256], moved[300];
  assert_int_equal(custos_audit_key_path(f->db, key_path, sizeof key_path, &err), 0);
  old_database(f, CUSTOS_SCHEMA_VERSION - 1);
  custos_store *s = NULL;
  custos_txn *t = NULL;
  custos_audit_signer *signer = NULL;
  bool written = false;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &s, &err), 0);
  assert_int_equal(custos__store_begin(s, true, &t, &err), 0);
  assert_int_equal(custos__core_log_create(t, NULL, key_path, &signer, &written, &err), 0);
  assert_true(written);
  assert_int_equal(custos__store_commit(t, &err), 0);
  custos__store_close(s);
  custos__audit_signer_free(signer);

  snprintf(moved, sizeof moved, "%s.away", key_path);
  assert_int_equal(rename(key_path, moved), 0);
  assert_int_equal(custos_open(f->db, &f->c, &err), CUSTOS_ENOENT);
  assert_non_null(strstr(err.message, "signing key"));
  assert_null(f->c);
  assert_int_equal(rename(moved, key_path), 0);
  assert_int_equal(custos_open(f->db, &f->c, &err), 0);
  char want[128];
  snprintf(want, sizeof want,
           "\"action\":\"schema.migrate\",\"actor\":\"system\",\"detail\":{\"schema_version\":"
           "\"%d\"},\"seq\":1,",
           CUSTOS_SCHEMA_VERSION);
  assert_int_equal(log_count(f, want, NULL, 0), 1);
  custos_audit_verify_report rep;
  assert_int_equal(custos_audit_verify(f->c, NULL, NULL, 0, &rep, &err), 0);
  assert_int_equal(rep.entries, 2);
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
      cmocka_unit_test_setup_teardown(test_audit_init, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_audit_records, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_audit_append_fails_action, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_audit_public, setup_init, teardown),
      cmocka_unit_test_setup_teardown(test_audit_setup, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_audit_migration_recorded, setup_dir, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
