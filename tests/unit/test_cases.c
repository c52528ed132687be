/*
 * Unit tests of the request workflow (src/cases, src/core/cases_api.c):
 *   - the transition table, every state against every action, compared with
 *     an independent list of the allowed transitions;
 *   - GOV-10, GOV-11: reviews in order, the stage's role, distinct users, the
 *     submitter only at intake, "immigration-related" must be no to approve;
 *   - GOV-15: the outcome of two marks; blind labels and orders;
 *   - GOV-16: the release threshold;
 *   - on a database (cases planted through the store): GOV-12 (an order that
 *     expired before the search rejects the case), GOV-13 (role, training,
 *     state), GOV-17 (the letter: five fields or none), GOV-21 (purge after
 *     retention_days, the SHA-256 kept in the log).
 * The whole story through the real binary is tests/cli/test_request.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cases/cases.h"
#include "core/casesInt.h"
#include "core/coreInt.h"
#include "custos/custos.h"
#include "store/store.h"

#define PW "correct horse battery staple"

/* ---- the transition table ---------------------------------------------------------- */

typedef struct edge {
  custos_case_state from;
  custos_case_action act;
  custos_case_state to;
} edge;

/* Written from POLICY.md and DESIGN.md, not from the table. */
static const edge ALLOWED[] = {
    {CUSTOS_CASE_LEGAL, CUSTOS_CASE_APPROVE, CUSTOS_CASE_INTAKE},
    {CUSTOS_CASE_INTAKE, CUSTOS_CASE_APPROVE, CUSTOS_CASE_MANAGER},
    {CUSTOS_CASE_MANAGER, CUSTOS_CASE_APPROVE, CUSTOS_CASE_GOVERNOR},
    {CUSTOS_CASE_GOVERNOR, CUSTOS_CASE_APPROVE, CUSTOS_CASE_APPROVED},
    {CUSTOS_CASE_LEGAL, CUSTOS_CASE_REJECT, CUSTOS_CASE_REJECTED},
    {CUSTOS_CASE_INTAKE, CUSTOS_CASE_REJECT, CUSTOS_CASE_REJECTED},
    {CUSTOS_CASE_MANAGER, CUSTOS_CASE_REJECT, CUSTOS_CASE_REJECTED},
    {CUSTOS_CASE_GOVERNOR, CUSTOS_CASE_REJECT, CUSTOS_CASE_REJECTED},
    {CUSTOS_CASE_APPROVED, CUSTOS_CASE_REJECT, CUSTOS_CASE_REJECTED},
    {CUSTOS_CASE_APPROVED, CUSTOS_CASE_SEARCH, CUSTOS_CASE_SEARCHED},
    {CUSTOS_CASE_SEARCHED, CUSTOS_CASE_MARK, CUSTOS_CASE_SEARCHED},
    {CUSTOS_CASE_SEARCHED, CUSTOS_CASE_MARK_FINAL, CUSTOS_CASE_EXAMINED},
    {CUSTOS_CASE_EXAMINED, CUSTOS_CASE_RESPOND, CUSTOS_CASE_RESPONDED},
    {CUSTOS_CASE_RESPONDED, CUSTOS_CASE_CLOSE, CUSTOS_CASE_CLOSED},
    {CUSTOS_CASE_LEGAL, CUSTOS_CASE_WITHDRAW, CUSTOS_CASE_WITHDRAWN},
    {CUSTOS_CASE_INTAKE, CUSTOS_CASE_WITHDRAW, CUSTOS_CASE_WITHDRAWN},
    {CUSTOS_CASE_MANAGER, CUSTOS_CASE_WITHDRAW, CUSTOS_CASE_WITHDRAWN},
    {CUSTOS_CASE_GOVERNOR, CUSTOS_CASE_WITHDRAW, CUSTOS_CASE_WITHDRAWN},
    {CUSTOS_CASE_APPROVED, CUSTOS_CASE_WITHDRAW, CUSTOS_CASE_WITHDRAWN},
    {CUSTOS_CASE_SEARCHED, CUSTOS_CASE_WITHDRAW, CUSTOS_CASE_WITHDRAWN},
    {CUSTOS_CASE_EXAMINED, CUSTOS_CASE_WITHDRAW, CUSTOS_CASE_WITHDRAWN},
};

/* GOV-10, GOV-13, GOV-15, GOV-17: every state x every action. */
static void test_transition_table(void **state) {
  (void)state;
  int allowed = 0;
  for (int s = 0; s < CUSTOS_CASE_STATE_COUNT; s++) {
    for (int a = 0; a < CUSTOS_CASE_ACTION_COUNT; a++) {
      const edge *want = NULL;
      for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++) {
        if ((int)ALLOWED[i].from == s && (int)ALLOWED[i].act == a) want = &ALLOWED[i];
      }
      custos_case_state to = CUSTOS_CASE_STATE_COUNT;
      custos_err err;
      int rc = custos_case_transition((custos_case_state)s, (custos_case_action)a, &to, &err);
      if (want) {
        allowed++;
        assert_int_equal(rc, CUSTOS_OK);
        assert_int_equal(to, want->to);
      } else {
        assert_int_equal(rc, CUSTOS_EPOLICY);
        assert_non_null(strstr(err.message, custos_case_state_name((custos_case_state)s)));
      }
    }
  }
  assert_int_equal(allowed, (int)(sizeof ALLOWED / sizeof ALLOWED[0]));
  /* GOV-13: a search only from approved; a second search never. */
  custos_case_state to;
  assert_int_equal(custos_case_transition(CUSTOS_CASE_SEARCHED, CUSTOS_CASE_SEARCH, &to, NULL),
                   CUSTOS_EPOLICY);
  assert_int_equal(custos_case_transition(CUSTOS_CASE_GOVERNOR, CUSTOS_CASE_SEARCH, &to, NULL),
                   CUSTOS_EPOLICY);
  assert_int_equal(custos_case_transition(CUSTOS_CASE_STATE_COUNT, CUSTOS_CASE_SEARCH, &to, NULL),
                   CUSTOS_EPOLICY);
}

static void test_state_names(void **state) {
  (void)state;
  for (int s = 0; s < CUSTOS_CASE_STATE_COUNT; s++) {
    custos_case_state back;
    assert_int_equal(
        custos_case_state_parse(custos_case_state_name((custos_case_state)s), &back, NULL),
        CUSTOS_OK);
    assert_int_equal(back, s);
    assert_int_equal(custos_case_state_open((custos_case_state)s), s < CUSTOS_CASE_CLOSED);
  }
  custos_case_state x;
  custos_err err;
  assert_int_equal(custos_case_state_parse("done", &x, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_case_state_parse(NULL, &x, &err), CUSTOS_EINVAL);
  assert_string_equal(custos_case_state_name(CUSTOS_CASE_STATE_COUNT), "?");
  assert_string_equal(custos_case_action_name(CUSTOS_CASE_MARK_FINAL), "mark_final");
}

/* GOV-10, GOV-11 */
static void test_review_rules(void **state) {
  (void)state;
  custos_err err;
  const char *none[1] = {NULL};
  /* the submitter may do the intake review */
  assert_int_equal(custos__cases_review_allowed("intake", CUSTOS_CASE_INTAKE, CUSTOS_ROLE_INTAKE,
                                                "ian", "ian", none, 0, &err),
                   CUSTOS_OK);
  /* GOV-10: in order */
  assert_int_equal(custos__cases_review_allowed("manager", CUSTOS_CASE_INTAKE, CUSTOS_ROLE_MANAGER,
                                                "mia", "ian", none, 0, &err),
                   CUSTOS_EPOLICY);
  assert_non_null(strstr(err.message, "GOV-10"));
  /* GOV-11: the stage's role */
  assert_int_equal(custos__cases_review_allowed("manager", CUSTOS_CASE_MANAGER, CUSTOS_ROLE_INTAKE,
                                                "ivy", "ian", none, 0, &err),
                   CUSTOS_EPERM);
  assert_non_null(strstr(err.message, "GOV-11"));
  const char *prior[] = {"ian", "mia"};
  assert_int_equal(custos__cases_review_allowed("governor", CUSTOS_CASE_GOVERNOR,
                                                CUSTOS_ROLE_GOVERNOR, "gus", "ian", prior, 2, &err),
                   CUSTOS_OK);
  /* GOV-11: distinct users (a user who reviewed before, even with the role now) */
  assert_int_equal(custos__cases_review_allowed("governor", CUSTOS_CASE_GOVERNOR,
                                                CUSTOS_ROLE_GOVERNOR, "mia", "ian", prior, 2, &err),
                   CUSTOS_EPERM);
  /* GOV-11: the submitter only at intake (were their role changed) */
  assert_int_equal(custos__cases_review_allowed("manager", CUSTOS_CASE_MANAGER, CUSTOS_ROLE_MANAGER,
                                                "ian", "ian", none, 0, &err),
                   CUSTOS_EPERM);
  /* GOV-11: legal first when escalated, by a legal reviewer */
  assert_int_equal(custos__cases_review_allowed("legal", CUSTOS_CASE_LEGAL, CUSTOS_ROLE_LEGAL,
                                                "lee", "ian", none, 0, &err),
                   CUSTOS_OK);
  assert_int_equal(custos__cases_review_allowed("intake", CUSTOS_CASE_LEGAL, CUSTOS_ROLE_INTAKE,
                                                "ivy", "ian", none, 0, &err),
                   CUSTOS_EPOLICY);
  assert_int_equal(custos__cases_review_allowed("final", CUSTOS_CASE_LEGAL, CUSTOS_ROLE_LEGAL,
                                                "lee", "ian", none, 0, &err),
                   CUSTOS_EINVAL);
  /* GOV-10: approve needs "no" */
  assert_true(custos__cases_review_approves(true, false));
  assert_false(custos__cases_review_approves(true, true));
  assert_false(custos__cases_review_approves(false, false));
  assert_false(custos__cases_review_approves(false, true));
}

/* GOV-15, GOV-16 */
static void test_outcome_and_release(void **state) {
  (void)state;
  assert_string_equal(custos__cases_outcome(3, 3), "possible_match");
  assert_string_equal(custos__cases_outcome(0, 0), "possible_match");
  assert_string_equal(custos__cases_outcome(-1, -1), "no_identification");
  assert_string_equal(custos__cases_outcome(3, 4), "inconclusive");
  assert_string_equal(custos__cases_outcome(3, -1), "inconclusive");
  assert_string_equal(custos__cases_outcome(-1, 0), "inconclusive");
  assert_true(custos__cases_releasable(0.3, 0.6));
  assert_true(custos__cases_releasable(0.6, 0.6));
  assert_false(custos__cases_releasable(0.61, 0.6));
  assert_false(custos__cases_releasable(-1, 0.6));
  /* labels: 6 characters of the alphabet; orders: permutations */
  char a[CUSTOS__CASE_LABEL_LEN + 1], b[CUSTOS__CASE_LABEL_LEN + 1];
  custos__cases_label(a);
  custos__cases_label(b);
  assert_int_equal(strlen(a), CUSTOS__CASE_LABEL_LEN);
  assert_null(strpbrk(a, "01OI"));
  int perm[50], seen[50] = {0};
  custos__cases_shuffle(perm, 50);
  for (int i = 0; i < 50; i++) seen[perm[i]]++;
  for (int i = 0; i < 50; i++) assert_int_equal(seen[i], 1);
}

/* ---- on a database ------------------------------------------------------------------ */

typedef struct fixture {
  char dir[64];
  char db[128];
  custos *c;
  custos_session *admin, *eve, *old, *mia, *ian;
} fixture;

static int setup_db(void **state) {
  fixture *f = calloc(1, sizeof *f);
  custos_err err;
  setenv("CUSTOS_TEST_FAST_KDF", "1", 1);
  snprintf(f->dir, sizeof f->dir, "/tmp/custos-cases-test.XXXXXX");
  if (mkdtemp(f->dir) == NULL) return -1;
  snprintf(f->db, sizeof f->db, "%s/custos.db", f->dir);
  custos_init_opts o = {.admin_name = "alice", .admin_password = PW};
  if (custos_init(f->db, &o, &err) != CUSTOS_OK) return -1;
  if (custos_open(f->db, &f->c, &err) != CUSTOS_OK) return -1;
  if (custos_login(f->c, "alice", PW, &f->admin, &err) != CUSTOS_OK) return -1;
  if (custos_user_add(f->c, f->admin, "eve", CUSTOS_ROLE_EXAMINER, "2999-12-31", PW, &err) ||
      custos_user_add(f->c, f->admin, "old", CUSTOS_ROLE_EXAMINER, "2001-01-01", PW, &err) ||
      custos_user_add(f->c, f->admin, "mia", CUSTOS_ROLE_MANAGER, NULL, PW, &err) ||
      custos_user_add(f->c, f->admin, "ian", CUSTOS_ROLE_INTAKE, NULL, PW, &err))
    return -1;
  if (custos_login(f->c, "eve", PW, &f->eve, &err) ||
      custos_login(f->c, "old", PW, &f->old, &err) ||
      custos_login(f->c, "mia", PW, &f->mia, &err) || custos_login(f->c, "ian", PW, &f->ian, &err))
    return -1;
  *state = f;
  return 0;
}

static int teardown_db(void **state) {
  fixture *f = *state;
  custos_session_free(f->admin);
  custos_session_free(f->eve);
  custos_session_free(f->old);
  custos_session_free(f->mia);
  custos_session_free(f->ian);
  custos_close(f->c);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  free(f);
  return 0;
}

/* Plants a case in `state` with record `rec` (JSON) and a probe. */
static int64_t plant(fixture *f, const char *st, const char *closed, const char *rec) {
  custos_txn *t;
  custos_err err;
  int64_t id = 0;
  assert_int_equal(custos__store_begin(f->c->store, true, &t, &err), CUSTOS_OK);
  custos__case_row row;
  memset(&row, 0, sizeof row);
  snprintf(row.state, sizeof row.state, "%s", st);
  snprintf(row.received, sizeof row.received, "2020-01-01");
  snprintf(row.created, sizeof row.created, "2020-01-01T00:00:00Z");
  snprintf(row.closed, sizeof row.closed, "%s", closed ? closed : "");
  row.record = rec;
  assert_int_equal(custos__store_case_add(t, &row, "PROBE", 5, "DOC", 3, &id, &err), CUSTOS_OK);
  assert_int_equal(custos__store_commit(t, &err), CUSTOS_OK);
  return id;
}

static char *state_of(fixture *f, int64_t id) {
  char *json = NULL;
  custos_err err;
  assert_int_equal(custos_case_show(f->c, f->admin, id, &json, &err), CUSTOS_OK);
  char *p = strstr(json, "\"state\":\"");
  assert_non_null(p);
  p += 9;
  char *e = strchr(p, '"');
  size_t n = (size_t)(e - p);
  memmove(json, p, n);
  json[n] = '\0';
  return json;
}

#define REC(expires, extra)                                                                \
  "{\"agency\":{\"name\":\"FBI\",\"level\":\"federal\"},\"legal\":{\"expires\":\"" expires \
  "\",\"issued\":\"2019-12-01\"},\"reasons\":[],\"reviews\":[],\"marks\":[],"              \
  "\"submitter\":\"ian\",\"probe_sha256\":"                                                \
  "\"1111111111111111111111111111111111111111111111111111111111111111\"" extra "}"

/* GOV-12, GOV-13 */
static void test_search_rechecks(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_case_search_info info;
  int64_t id = plant(f, "approved", NULL, REC("2020-03-01", ""));
  /* GOV-13: a manager, an examiner whose training expired */
  assert_int_equal(
      custos__case_search_on(f->c, f->mia, id, NULL, NULL, NULL, "2020-02-01", &info, &err),
      CUSTOS_EPERM);
  assert_int_equal(
      custos__case_search_on(f->c, f->old, id, NULL, NULL, NULL, "2020-02-01", &info, &err),
      CUSTOS_EPERM);
  assert_non_null(strstr(err.message, "GOV-13"));
  /* GOV-13: not before every approval */
  int64_t early = plant(f, "governor", NULL, REC("2999-03-01", ""));
  assert_int_equal(custos__case_search_on(f->c, f->eve, early, NULL, NULL, NULL, NULL, &info, &err),
                   CUSTOS_EPOLICY);
  char *s = state_of(f, early);
  assert_string_equal(s, "governor");
  free(s);
  /* GOV-12: the order expired before the search: refused, and the case rejected */
  assert_int_equal(
      custos__case_search_on(f->c, f->eve, id, NULL, NULL, NULL, "2020-03-02", &info, &err),
      CUSTOS_EPOLICY);
  assert_non_null(strstr(err.message, "REJECT_EXPIRED"));
  s = state_of(f, id);
  assert_string_equal(s, "rejected");
  free(s);
  assert_int_equal(
      custos__case_search_on(f->c, f->eve, id, NULL, NULL, NULL, "2020-03-02", &info, &err),
      CUSTOS_EPOLICY);
  assert_int_equal(custos__case_search_on(f->c, f->eve, 9999, NULL, NULL, NULL, NULL, &info, &err),
                   CUSTOS_ENOENT);
  /* GOV-12: an order without expiry, older than order_max_age_days (14) at the search */
  int64_t stale = plant(f, "approved", NULL, REC("", ""));
  /* 9 days after issue: in force (the search goes on and needs the engine) */
  assert_int_equal(
      custos__case_search_on(f->c, f->eve, stale, NULL, NULL, NULL, "2019-12-10", &info, &err),
      CUSTOS_EINVAL);
  s = state_of(f, stale);
  assert_string_equal(s, "approved");
  free(s);
  assert_int_equal(
      custos__case_search_on(f->c, f->eve, stale, NULL, NULL, NULL, "2019-12-20", &info, &err),
      CUSTOS_EPOLICY);
  assert_non_null(strstr(err.message, "REJECT_STALE"));
  s = state_of(f, stale);
  assert_string_equal(s, "rejected");
  free(s);
}

/* GOV-16, GOV-17 */
static void test_letter(void **state) {
  fixture *f = *state;
  custos_err err;
  custos_txn *t;
  int64_t holder;
  custos__holder h = {.license_no = "WDL123",
                      .first_name = "Ann",
                      .middle_name = "B",
                      .last_name = "Cole",
                      .dob = "1980-02-03"};
  assert_int_equal(custos__store_begin(f->c->store, true, &t, &err), CUSTOS_OK);
  assert_int_equal(custos__store_holder_add(t, &h, &holder, &err), CUSTOS_OK);
  custos__sensitive_in sin = {0};
  sin.value[CUSTOS__SENS_SSN] = "MARKER-SSN-1";
  assert_int_equal(custos__store_sensitive_put(t, holder, &sin, &err), CUSTOS_OK);
  assert_int_equal(custos__store_commit(t, &err), CUSTOS_OK);
  char rec[2048];
  snprintf(rec, sizeof rec,
           REC("2999-01-01",
               ",\"outcome\":\"possible_match\",\"search\":{\"threshold\":0.6},"
               "\"candidates\":[{\"holder\":%lld,\"photo\":1,\"distance\":%s}],"
               "\"marks\":[{\"user\":\"eve\",\"i\":0},{\"user\":\"ed\",\"i\":0}]"),
           (long long)holder, "0.35");
  /* the REC macro's own "marks":[] comes first; the later one wins in jansson */
  int64_t near = plant(f, "examined", NULL, rec);
  custos_case_letter *l = NULL;
  assert_int_equal(custos_case_respond(f->c, f->eve, near, &l, &err), CUSTOS_EPERM);
  assert_int_equal(custos_case_respond(f->c, f->ian, near, &l, &err), CUSTOS_OK);
  assert_non_null(l->identity);
  assert_string_equal(custos_disclosure_first_name(l->identity), "Ann");
  assert_string_equal(custos_disclosure_middle_name(l->identity), "B");
  assert_string_equal(custos_disclosure_last_name(l->identity), "Cole");
  assert_string_equal(custos_disclosure_dob(l->identity), "1980-02-03");
  assert_string_equal(custos_disclosure_license_no(l->identity), "WDL123");
  assert_string_equal(l->outcome, "possible_match");
  assert_non_null(strstr(l->statement, "investigative lead"));
  assert_non_null(strstr(l->statement, "not a positive identification"));
  assert_non_null(strstr(l->statement, "probable cause"));
  custos_case_letter_free(l);
  /* one letter per case */
  assert_int_equal(custos_case_respond(f->c, f->ian, near, &l, &err), CUSTOS_EPOLICY);
  /* GOV-16: past the threshold: examined, never released */
  snprintf(rec, sizeof rec,
           REC("2999-01-01",
               ",\"outcome\":\"possible_match\",\"search\":{\"threshold\":0.6},"
               "\"candidates\":[{\"holder\":%lld,\"photo\":1,\"distance\":%s}],"
               "\"marks\":[{\"user\":\"eve\",\"i\":0},{\"user\":\"ed\",\"i\":0}]"),
           (long long)holder, "0.75");
  int64_t far = plant(f, "examined", NULL, rec);
  assert_int_equal(custos_case_respond(f->c, f->mia, far, &l, &err), CUSTOS_OK);
  assert_null(l->identity);
  assert_string_equal(l->statement, "No identification made.");
  custos_case_letter_free(l);
  /* GOV-18: the marker is in no case view */
  char *json = NULL;
  assert_int_equal(custos_case_show(f->c, f->mia, near, &json, &err), CUSTOS_OK);
  assert_null(strstr(json, "MARKER"));
  assert_null(strstr(json, "distance"));
  assert_null(strstr(json, "WDL123"));
  free(json);
}

/* GOV-21 */
static void test_purge(void **state) {
  fixture *f = *state;
  custos_err err;
  int64_t n = -1;
  int64_t id =
      plant(f, "closed", "2020-01-01T10:00:00Z",
            REC("2999-01-01", ",\"candidates\":[{\"holder\":1,\"photo\":1,\"distance\":0.5}]"));
  int64_t open_case =
      plant(f, "searched", NULL,
            REC("2999-01-01", ",\"candidates\":[{\"holder\":1,\"photo\":1,\"distance\":0.5}]"));
  assert_int_equal(custos__case_purge_on(f->c, f->ian, NULL, "2020-06-01", &n, &err), CUSTOS_EPERM);
  /* 89 days after closing: kept */
  assert_int_equal(custos__case_purge_on(f->c, f->admin, NULL, "2020-03-30", &n, &err), CUSTOS_OK);
  assert_int_equal(n, 0);
  /* 90 days: purged, the probe's SHA-256 in the log */
  assert_int_equal(custos__case_purge_on(f->c, f->admin, NULL, "2020-03-31", &n, &err), CUSTOS_OK);
  assert_int_equal(n, 1);
  custos_txn *t;
  custos_buf b;
  custos__buf_init(&b, 1 << 20);
  assert_int_equal(custos__store_begin(f->c->store, false, &t, &err), CUSTOS_OK);
  assert_int_equal(custos__store_case_blob_get(t, id, true, &b, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_case_blob_get(t, open_case, true, &b, &err), CUSTOS_OK);
  custos__case_row row;
  assert_int_equal(custos__store_case_get(t, id, &row, &b, &err), CUSTOS_OK);
  assert_null(strstr(row.record, "candidates"));
  int64_t count = 0;
  assert_int_equal(custos__store_audit_entry_count(t, &count, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_entry_get(t, count - 1, &b, &err), CUSTOS_OK);
  assert_non_null(strstr(b.data, "case.purge"));
  assert_non_null(
      strstr(b.data, "1111111111111111111111111111111111111111111111111111111111111111"));
  custos__store_rollback(t);
  custos__buf_free(&b);
  /* again: nothing more */
  assert_int_equal(custos__case_purge_on(f->c, f->admin, NULL, "2021-01-01", &n, &err), CUSTOS_OK);
  assert_int_equal(n, 0);
  /* a database set up with another policy refuses the default one */
  assert_int_equal(custos__store_begin(f->c->store, true, &t, &err), CUSTOS_OK);
  assert_int_equal(custos__store_meta_set(
                       t, "policy_sha256",
                       "2222222222222222222222222222222222222222222222222222222222222222", &err),
                   CUSTOS_OK);
  assert_int_equal(custos__store_commit(t, &err), CUSTOS_OK);
  assert_int_equal(custos__case_purge_on(f->c, f->admin, NULL, "2021-01-01", &n, &err),
                   CUSTOS_EPOLICY);
  assert_non_null(strstr(err.message, "policy"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_transition_table),
      cmocka_unit_test(test_state_names),
      cmocka_unit_test(test_review_rules),
      cmocka_unit_test(test_outcome_and_release),
      cmocka_unit_test_setup_teardown(test_search_rechecks, setup_db, teardown_db),
      cmocka_unit_test_setup_teardown(test_letter, setup_db, teardown_db),
      cmocka_unit_test_setup_teardown(test_purge, setup_db, teardown_db),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
