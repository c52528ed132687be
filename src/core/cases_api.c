/*
 * The request workflow's public API (include/custos/cases.h): each action is
 * one write transaction that re-reads the acting user, asks src/cases for the
 * rule and the transition, changes the case and appends its audit entry
 * (GOV-20) — all or nothing.
 *
 * A case's record is a JSON document kept by the store (docs/cases.md):
 *
 *   member            what
 *   agency            {name, level, department, component} as requested
 *   case_number       the agency's case number, or null
 *   legal             {type, court_system, issued, expires} (GOV-12 re-checks expires)
 *   offenses          [{citation, statute, class}]
 *   reasons           the checks' reason codes; "decision": "review"|"reject"
 *   reviews_required  the stages in order
 *   submitter         the intake staffer who registered it
 *   probe_sha256, document_sha256, policy_sha256
 *   reviews           [{stage, user, decision, immigration_related, note, rests_on, time}]
 *   search            {examiner, time, model, gallery_size, checkpoint_size, threshold,
 *                      candidates}
 *   candidates        [{holder, photo, distance}]  nearest first (never shown; GOV-21 purges)
 *   views             {examiner: [{label, i}]}     each examiner's own order (GOV-15)
 *   marks             [{user, i}]                  i: candidate index, -1 none
 *   outcome, response, purged
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "auth/auth.h"
#include "cases/cases.h"
#include "core/casesInt.h"
#include "core/coreInt.h"
#include "core/importInt.h"
#include "custos/index.h"
#include "store/store.h"
#include "util/util.h"

#define MOD "cases"
#define NOTE_MAX 2048

/* ---- small helpers ------------------------------------------------------------ */

static int nomem(custos_err *err) {
  return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
}

/* Days since 1970-01-01 of a YYYY-MM-DD date (H. Hinnant's days_from_civil). */
static long days_of(const char *d) {
  int y = 0, m = 0, dd = 0;
  if (sscanf(d, "%4d-%2d-%2d", &y, &m, &dd) != 3) return 0;
  y -= m <= 2;
  long era = (y >= 0 ? y : y - 399) / 400;
  long yoe = y - era * 400;
  long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
  long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static int hex_to_hash(const char *hex, custos_audit_hash *out) {
  if (hex == NULL || strlen(hex) != 64) return -1;
  for (int i = 0; i < 32; i++) {
    unsigned v = 0;
    for (int j = 0; j < 2; j++) {
      char ch = hex[2 * i + j];
      v <<= 4;
      if (ch >= '0' && ch <= '9')
        v |= (unsigned)(ch - '0');
      else if (ch >= 'a' && ch <= 'f')
        v |= (unsigned)(ch - 'a' + 10);
      else
        return -1;
    }
    out->b[i] = (uint8_t)v;
  }
  return 0;
}

static void to_hex(const uint8_t *b, size_t n, char *out) {
  static const char H[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = H[b[i] >> 4];
    out[2 * i + 1] = H[b[i] & 15];
  }
  out[2 * n] = '\0';
}

static const char *jstr(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? s : "";
}

/* An open case and its record, as an action holds it. */
typedef struct kase {
  custos__case_row row;
  custos_buf text;
  json_t *rec;
  custos_case_state state;
  char id[24];
} kase;

static void kase_free(kase *k) {
  json_decref(k->rec);
  k->rec = NULL;
  custos__buf_free(&k->text);
}

static int kase_load(custos_txn *t, int64_t id, kase *k, custos_err *err) {
  memset(k, 0, sizeof *k);
  custos__buf_init(&k->text, CUSTOS_CASE_RECORD_MAX + 1);
  int rc = custos__store_case_get(t, id, &k->row, &k->text, err);
  if (rc == CUSTOS_ENOENT)
    return custos__err(err, CUSTOS_ENOENT, MOD, "no case %lld", (long long)id);
  if (rc != CUSTOS_OK) return rc;
  json_error_t je;
  k->rec = json_loads(k->row.record, 0, &je);
  if (!json_is_object(k->rec))
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "case %lld: bad record", (long long)id);
  if (custos_case_state_parse(k->row.state, &k->state, err) != CUSTOS_OK) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "case %lld: bad state", (long long)id);
  }
  snprintf(k->id, sizeof k->id, "%lld", (long long)id);
  return CUSTOS_OK;
}

/* Writes the record back with state `to`; entering a final state sets closed. */
static int kase_save(custos_txn *t, kase *k, custos_case_state to, custos_err *err) {
  char *text = json_dumps(k->rec, JSON_COMPACT | JSON_SORT_KEYS);
  if (text == NULL) return nomem(err);
  snprintf(k->row.state, sizeof k->row.state, "%s", custos_case_state_name(to));
  if (!custos_case_state_open(to) && k->row.closed[0] == '\0') custos__timestamp_now(k->row.closed);
  k->row.record = text;
  int rc = custos__store_case_update(t, &k->row, err);
  k->row.record = NULL;
  free(text);
  if (rc == CUSTOS_OK) k->state = to;
  return rc;
}

/* The acting user, re-read inside t, with its role. */
typedef struct actor {
  custos__user u;
  custos_role role;
} actor;

static int begin(custos *c, const custos_session *as, custos_role need, custos_txn **t, actor *a,
                 custos_err *err) {
  int rc = custos__core_begin_as(c, as, need, true, t, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__store_user_get(*t, custos_session_user(as), &a->u, err);
  if (rc == CUSTOS_OK) rc = custos__auth_role_of(&a->u, &a->role, err);
  if (rc != CUSTOS_OK) {
    custos__store_rollback(*t);
    *t = NULL;
  }
  return rc;
}

static int finish(custos_txn *t, int rc, custos_err *err) {
  if (t == NULL) return rc;
  if (rc == CUSTOS_OK) return custos__store_commit(t, err);
  custos__store_rollback(t);
  return rc;
}

/* GOV-13: an examiner with a current training certification. */
static int require_trained(const actor *a, custos_err *err) {
  char today[CUSTOS_DATE_LEN + 1];
  custos__date_today(today);
  if (a->role != CUSTOS_ROLE_EXAMINER) {
    return custos__err(err, CUSTOS_EPERM, MOD, "GOV-13: only an examiner may do this");
  }
  if (!custos__auth_training_current(&a->u, today)) { /* GOV-13 */
    return custos__err(err, CUSTOS_EPERM, MOD,
                       "GOV-13: the training certification of '%s' is not current", a->u.name);
  }
  return CUSTOS_OK;
}

static int require_role2(const actor *a, custos_role r1, custos_role r2, const char *what,
                         custos_err *err) {
  if (a->role == r1 || a->role == r2) return CUSTOS_OK;
  return custos__err(err, CUSTOS_EPERM, MOD, "%s needs the role %s or %s", what,
                     custos_role_name(r1), custos_role_name(r2));
}

/* Appends one audit entry for the case. */
static int audit(custos *c, custos_txn *t, const actor *a, const char *action, const kase *k,
                 const char *const *reasons, size_t nr, const custos_audit_named_hash *h, size_t nh,
                 const custos_audit_detail *d, size_t nd, custos_err *err) {
  custos_audit_entry e = {.actor = a ? a->u.name : NULL,
                          .action = action,
                          .case_id = k ? k->id : NULL,
                          .reasons = reasons,
                          .n_reasons = nr,
                          .hashes = h,
                          .n_hashes = nh,
                          .detail = d,
                          .n_detail = nd};
  return custos__core_record(c, t, &e, err);
}

static int transition(kase *k, custos_case_action act, custos_case_state *to, custos_err *err) {
  return custos_case_transition(k->state, act, to, err);
}

/* The policy p must be the one the database was set up with, when it names
 * one (meta policy_sha256, custos init --policy): no other file can loosen
 * a parameter (a threshold, a list size, the retention) for one action. */
static int policy_in_force(custos_txn *t, const custos_policy *p, custos_err *err) {
  char want[CUSTOS_POLICY_SHA256_HEX];
  int rc = custos__store_meta_get(t, "policy_sha256", want, sizeof want, err);
  if (rc == CUSTOS_ENOENT || (rc == CUSTOS_OK && want[0] == '\0')) return CUSTOS_OK;
  if (rc != CUSTOS_OK) return rc;
  if (strcmp(want, custos_policy_sha256(p)) != 0) {
    return custos__err(err, CUSTOS_EPOLICY, MOD,
                       "the policy (SHA-256 %.12s...) is not the one this database was set up "
                       "with (%.12s...)",
                       custos_policy_sha256(p), want);
  }
  return CUSTOS_OK;
}

/* ---- submit ------------------------------------------------------------------- */

static json_t *str_or_null(const char *s) {
  return s ? json_string(s) : json_null();
}

static json_t *submit_record(const custos_policy_request *r, const custos_policy_result *res,
                             const char *submitter) {
  json_t *rec = json_object(), *offs = json_array(), *reasons = json_array(),
         *stages = json_array();
  json_object_set_new(
      rec, "agency",
      json_pack("{s:s, s:s, s:o, s:o}", "name", r->agency.name, "level",
                custos_policy_level_name(r->agency.level), "department",
                str_or_null(r->agency.department), "component", str_or_null(r->agency.component)));
  json_object_set_new(rec, "case_number", str_or_null(r->case_number));
  json_object_set_new(rec, "received", json_string(r->received));
  json_object_set_new(
      rec, "legal",
      json_pack(
          "{s:s, s:s, s:o, s:s, s:s, s:o, s:o, s:o, s:o}", "type",
          custos_policy_legal_type_name(r->legal_process.type), "court_system",
          custos_policy_court_system_name(r->legal_process.court_system), "form",
          str_or_null(r->legal_process.form), "issued", r->legal_process.issued, "expires",
          r->legal_process.expires, "court", str_or_null(r->legal_process.court), "judge",
          str_or_null(r->legal_process.judge), "signed",
          r->legal_process.is_signed < 0 ? json_null() : json_boolean(r->legal_process.is_signed),
          "docket", str_or_null(r->legal_process.docket)));
  /* What the reviewers read (GOV-10): who asks, and why. */
  json_object_set_new(rec, "requester",
                      json_pack("{s:s, s:o, s:s}", "name", r->requester.name, "title",
                                str_or_null(r->requester.title), "contact", r->requester.contact));
  json_object_set_new(rec, "narrative", str_or_null(r->narrative));
  for (size_t i = 0; i < res->noffenses; i++) {
    const char *desc = i < r->noffenses ? r->offenses[i].description : NULL;
    json_array_append_new(
        offs,
        json_pack("{s:s, s:s, s:s, s:o}", "citation", res->offenses[i].citation, "statute",
                  res->offenses[i].statute, "class", custos_policy_class_name(res->offenses[i].cls),
                  "description", str_or_null(desc)));
  }
  json_object_set_new(rec, "offenses", offs);
  for (size_t i = 0; i < res->nreasons; i++) {
    json_array_append_new(reasons, json_string(custos_policy_reason_name(res->reasons[i])));
  }
  json_object_set_new(rec, "reasons", reasons);
  json_object_set_new(rec, "decision", json_string(custos_policy_decision_name(res->decision)));
  for (size_t i = 0; i < res->nreviews; i++)
    json_array_append_new(stages, json_string(res->reviews[i]));
  json_object_set_new(rec, "reviews_required", stages);
  json_object_set_new(rec, "submitter", json_string(submitter));
  json_object_set_new(rec, "probe_sha256", json_string(r->probe.image.sha256));
  json_object_set_new(
      rec, "document_sha256",
      str_or_null(r->legal_process.document.data ? r->legal_process.document.sha256 : NULL));
  json_object_set_new(rec, "policy_sha256", json_string(res->policy_sha256));
  json_object_set_new(rec, "reviews", json_array());
  json_object_set_new(rec, "marks", json_array());
  return rec;
}

int custos_case_submit(custos *c, const custos_session *as, const custos_policy *p,
                       const char *request_path, custos_face_engine *e, int64_t *case_id,
                       custos_policy_result **res_out, custos_err *err) {
  custos_policy_request *r = NULL;
  custos_policy_result *res = NULL;
  custos_policy *own = NULL;
  custos_txn *t = NULL;
  json_t *rec = NULL;
  char *text = NULL;
  actor a;
  *case_id = 0;
  if (res_out) *res_out = NULL;
  /* The role first (cheap), the checks outside the write lock. */
  int rc = begin(c, as, CUSTOS_ROLE_INTAKE, &t, &a, err);
  custos__store_rollback(t);
  t = NULL;
  if (rc != CUSTOS_OK) goto out;
  if (p == NULL) {
    if ((rc = custos_policy_load(NULL, &own, err))) goto out;
    p = own;
  }
  if ((rc = custos_policy_request_load(request_path, &r, err)))
    goto out; /* MALFORMED: nothing stored */
  custos_probe_facts facts = {0};
  bool need = custos_policy_request_needs_probe_facts(r);
  if (need && (rc = custos_policy_probe_analyze(e, r, &facts, err))) goto out;
  if ((rc = custos_policy_check(p, r, need ? &facts : NULL, NULL, &res, err))) goto out;

  if ((rc = begin(c, as, CUSTOS_ROLE_INTAKE, &t, &a, err))) goto out;
  if ((rc = policy_in_force(t, p, err))) goto out;
  rec = submit_record(r, res, a.u.name);
  if (rec == NULL || (text = json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS)) == NULL) {
    rc = nomem(err);
    goto out;
  }
  custos__case_row row;
  memset(&row, 0, sizeof row);
  custos_case_state st = CUSTOS_CASE_REJECTED;
  if (res->decision == CUSTOS_POLICY_DECISION_REVIEW) {
    custos__cases_stage_state(res->reviews[0], &st, NULL);
  }
  snprintf(row.state, sizeof row.state, "%s", custos_case_state_name(st));
  snprintf(row.received, sizeof row.received, "%s", r->received);
  custos__timestamp_now(row.created);
  if (!custos_case_state_open(st)) memcpy(row.closed, row.created, sizeof row.closed);
  row.record = text;
  /* Invariant 5: the probe is kept with the case, never in the gallery. */
  rc = custos__store_case_add(t, &row, r->probe.image.data, r->probe.image.len,
                              r->legal_process.document.data, r->legal_process.document.len,
                              case_id, err);
  if (rc == CUSTOS_OK) {
    kase k;
    memset(&k, 0, sizeof k);
    snprintf(k.id, sizeof k.id, "%lld", (long long)*case_id);
    const char *reasons[CUSTOS_POLICY_REASON_COUNT];
    for (size_t i = 0; i < res->nreasons; i++)
      reasons[i] = custos_policy_reason_name(res->reasons[i]);
    custos_audit_named_hash h[3];
    size_t nh = 0;
    if (hex_to_hash(r->probe.image.sha256, &h[nh].sha256) == 0) h[nh++].name = "probe";
    if (r->legal_process.document.data &&
        hex_to_hash(r->legal_process.document.sha256, &h[nh].sha256) == 0)
      h[nh++].name = "document";
    if (hex_to_hash(res->policy_sha256, &h[nh].sha256) == 0) h[nh++].name = "policy";
    custos_audit_detail d[] = {{"agency_level", custos_policy_level_name(r->agency.level)}};
    rc = audit(c, t, &a, "case.submit", &k, reasons, res->nreasons, h, nh, d, 1, err);
  }
  rc = finish(t, rc, err);
  t = NULL;
out:
  custos__store_rollback(t);
  free(text);
  json_decref(rec);
  custos_policy_request_free(r);
  custos_policy_free(own);
  if (rc == CUSTOS_OK && res_out) {
    *res_out = res;
  } else {
    custos_policy_result_free(res);
  }
  sodium_memzero(&a, sizeof a);
  return rc;
}

/* ---- reviews (GOV-10, GOV-11) -------------------------------------------------- */

static bool has_reason(const json_t *rec, const char *code) {
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(rec, "reasons"), i, v) {
    if (strcmp(json_string_value(v), code) == 0) return true;
  }
  return false;
}

int custos_case_review(custos *c, const custos_session *as, int64_t case_id,
                       const custos_case_review_in *in, custos_err *err) {
  custos_txn *t = NULL;
  actor a;
  kase k;
  memset(&k, 0, sizeof k);
  int rc = custos__text_check(in->note, "note", NOTE_MAX, false, err);
  if (rc != CUSTOS_OK) return rc;
  if (in->rests_on &&
      (rc = custos__text_check(in->rests_on, "rests_on", CUSTOS_REQUEST_MAX_CITATION, false, err)))
    return rc;
  if ((rc = begin(c, as, CUSTOS_ROLE_NONE, &t, &a, err))) return rc;
  if ((rc = kase_load(t, case_id, &k, err))) goto out;
  const char *prior[8];
  size_t np = 0;
  size_t i;
  json_t *v;
  json_t *reviews = json_object_get(k.rec, "reviews");
  json_array_foreach(reviews, i, v) {
    if (np < 8) prior[np++] = jstr(v, "user");
  }
  /* GOV-10, GOV-11 */
  rc = custos__cases_review_allowed(in->stage, k.state, a.role, a.u.name, jstr(k.rec, "submitter"),
                                    prior, np, err);
  if (rc != CUSTOS_OK) goto out;
  bool approves = custos__cases_review_approves(in->approve, in->immigration_related); /* GOV-10 */
  /* GOV-06: a mixed-offense case rests on a non-immigration crime the
   * governor's-office reviewer names. */
  if (approves && k.state == CUSTOS_CASE_GOVERNOR && has_reason(k.rec, "ESCALATE_MIXED_OFFENSE")) {
    bool found = false;
    json_array_foreach(json_object_get(k.rec, "offenses"), i, v) {
      if (in->rests_on && strcmp(jstr(v, "class"), "criminal") == 0 &&
          (strcmp(in->rests_on, jstr(v, "citation")) == 0 ||
           strcmp(in->rests_on, jstr(v, "statute")) == 0))
        found = true;
    }
    if (!found) {
      rc = custos__err(err, CUSTOS_EPOLICY, MOD,
                       "GOV-06: ESCALATE_MIXED_OFFENSE: name the non-immigration crime of this "
                       "request the case rests on (rests_on; --rests-on on the command line)");
      goto out;
    }
  }
  custos_case_state to;
  if ((rc = transition(&k, approves ? CUSTOS_CASE_APPROVE : CUSTOS_CASE_REJECT, &to, err)))
    goto out;
  char now[CUSTOS_TIMESTAMP_LEN + 1];
  custos__timestamp_now(now);
  json_t *rv = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "stage", in->stage, "user", a.u.name,
                         "decision", in->approve ? "approve" : "reject", "immigration_related",
                         in->immigration_related ? "yes" : "no", "note", in->note, "time", now);
  if (rv == NULL) {
    rc = nomem(err);
    goto out;
  }
  if (in->rests_on) json_object_set_new(rv, "rests_on", json_string(in->rests_on));
  json_array_append_new(reviews, rv);
  if ((rc = kase_save(t, &k, to, err))) goto out;
  custos_audit_detail d[] = {{"stage", in->stage},
                             {"decision", in->approve ? "approve" : "reject"},
                             {"immigration_related", in->immigration_related ? "yes" : "no"}};
  rc = audit(c, t, &a, "case.review", &k, NULL, 0, NULL, 0, d, 3, err);
out:
  rc = finish(t, rc, err);
  kase_free(&k);
  sodium_memzero(&a, sizeof a);
  return rc;
}

/* ---- search (GOV-12, GOV-13, GOV-14) ------------------------------------------------ */

/* The probe's descriptor, computed before the search's write transaction so
 * that other writers do not wait for the face engine: only for an examiner
 * and an approved case with a probe, read in a read transaction.  Any
 * failure returns false and leaves the work (and its exact refusal) to the
 * write transaction, which checks everything again. */
static bool probe_descriptor_early(custos *c, const custos_session *as, int64_t case_id,
                                   custos_face_engine *e, float out[CUSTOS_FACE_DESCRIPTOR_DIM]) {
  custos_txn *t = NULL;
  custos_err err;
  custos_buf probe;
  custos_image *img = NULL;
  custos_face_list *faces = NULL;
  kase k;
  bool ok = false;
  memset(&k, 0, sizeof k);
  custos__buf_init(&probe, CUSTOS_REQUEST_MAX_PROBE);
  if (e == NULL || custos__core_begin_as(c, as, CUSTOS_ROLE_EXAMINER, false, &t, &err) != CUSTOS_OK)
    goto out;
  if (kase_load(t, case_id, &k, &err) == CUSTOS_OK && k.state == CUSTOS_CASE_APPROVED &&
      custos__store_case_blob_get(t, case_id, true, &probe, &err) == CUSTOS_OK) {
    custos__store_rollback(t);
    t = NULL;
    if (custos_image_decode(probe.data, probe.len, NULL, &img, NULL, &err) == CUSTOS_OK &&
        custos_face_embed(e, img, &faces, &err) == CUSTOS_OK) {
      long fi = custos_face_list_central(faces);
      if (fi >= 0 && faces->faces[fi].has_landmarks) {
        memcpy(out, faces->faces[fi].descriptor, sizeof faces->faces[fi].descriptor);
        ok = true;
      }
    }
  }
out:
  if (t != NULL) custos__store_rollback(t);
  custos_face_list_free(faces);
  custos_image_free(img);
  custos__buf_free(&probe);
  kase_free(&k);
  return ok;
}

int custos__case_search_on(custos *c, const custos_session *as, int64_t case_id,
                           const custos_policy *p, custos_face_engine *e, const char *models_dir,
                           const char *today, custos_case_search_info *out, custos_err *err) {
  custos_txn *t = NULL;
  custos_policy *own = NULL;
  custos_buf probe;
  custos_image *img = NULL;
  custos_face_list *faces = NULL;
  custos_index *idx = NULL;
  custos_index_hit *hits = NULL;
  actor a;
  kase k;
  size_t gallery_n = 0;
  bool commit_rejection = false, stale = false;
  memset(&k, 0, sizeof k);
  memset(out, 0, sizeof *out);
  custos__buf_init(&probe, CUSTOS_REQUEST_MAX_PROBE);
  char day[CUSTOS_DATE_LEN + 1];
  if (today == NULL) {
    custos__date_today(day);
  } else {
    snprintf(day, sizeof day, "%s", today);
  }
  float early[CUSTOS_FACE_DESCRIPTOR_DIM];
  bool have_early = probe_descriptor_early(c, as, case_id, e, early);
  /* GOV-13: only examiners, checked in the transaction. */
  int rc = begin(c, as, CUSTOS_ROLE_EXAMINER, &t, &a, err);
  if (rc != CUSTOS_OK) goto out;
  if ((rc = require_trained(&a, err))) goto out;
  if ((rc = kase_load(t, case_id, &k, err))) goto out;
  custos_case_state to;
  /* GOV-13: only an approved case, once (the table allows search from approved only). */
  if ((rc = transition(&k, CUSTOS_CASE_SEARCH, &to, err))) {
    rc = custos__err(err, CUSTOS_EPOLICY, MOD,
                     "GOV-13: case %s is %s: only a case with all reviews approved is searched, "
                     "and only once",
                     k.id, custos_case_state_name(k.state));
    goto out;
  }
  /* GOV-12: the order must still be in force at the time of the search. */
  const char *expires = jstr(json_object_get(k.rec, "legal"), "expires");
  if (expires[0] != '\0' && strcmp(expires, day) < 0) {
    custos_case_state rej;
    if ((rc = transition(&k, CUSTOS_CASE_REJECT, &rej, err))) goto out;
    json_array_append_new(json_object_get(k.rec, "reasons"), json_string("REJECT_EXPIRED"));
    if ((rc = kase_save(t, &k, rej, err))) goto out;
    const char *reasons[] = {"REJECT_EXPIRED"};
    if ((rc = audit(c, t, &a, "case.reject", &k, reasons, 1, NULL, 0, NULL, 0, err))) goto out;
    commit_rejection = true;
    goto out;
  }
  if (p == NULL) {
    if ((rc = custos_policy_load(NULL, &own, err))) goto out;
    p = own;
  }
  if ((rc = policy_in_force(t, p, err))) goto out;
  const custos_policy_params *pp = custos_policy_get_params(p);
  /* GOV-12 (GOV-03): an order without expiry must still be recent enough. */
  const char *issued = jstr(json_object_get(k.rec, "legal"), "issued");
  if (expires[0] == '\0' && issued[0] != '\0' &&
      days_of(day) - days_of(issued) > pp->order_max_age_days) {
    custos_case_state rej;
    if ((rc = transition(&k, CUSTOS_CASE_REJECT, &rej, err))) goto out;
    json_array_append_new(json_object_get(k.rec, "reasons"), json_string("REJECT_STALE"));
    if ((rc = kase_save(t, &k, rej, err))) goto out;
    const char *reasons[] = {"REJECT_STALE"};
    if ((rc = audit(c, t, &a, "case.reject", &k, reasons, 1, NULL, 0, NULL, 0, err))) goto out;
    commit_rejection = true;
    stale = true;
    goto out;
  }
  if (e == NULL) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "a search needs the face engine");
    goto out;
  }
  /* The probe through the face engine: its one face's descriptor (computed
   * above, outside this transaction, unless that failed). */
  const float *descriptor = early;
  if (!have_early) {
    if ((rc = custos__store_case_blob_get(t, case_id, true, &probe, err))) goto out;
    if ((rc = custos_image_decode(probe.data, probe.len, NULL, &img, NULL, err))) goto out;
    if ((rc = custos_face_embed(e, img, &faces, err))) goto out;
    long fi = custos_face_list_central(faces);
    if (fi < 0 || !faces->faces[fi].has_landmarks) {
      rc = custos__err(err, CUSTOS_EPOLICY, MOD, "GOV-08: no face in the probe photo");
      goto out;
    }
    descriptor = faces->faces[fi].descriptor;
  }
  char model[CUSTOS_MODEL_MAX + 1];
  if ((rc = custos__import_model_version(models_dir, model, sizeof model, err))) goto out;
  /* GOV-14: the whole gallery of this model, through the index. */
  char *snapshot = custos__core_gallery_path(c, model);
  int64_t generation = 0;
  rc = custos__core_gallery_load(t, model, snapshot, &idx, &generation, err);
  custos__free(snapshot);
  if (rc != CUSTOS_OK) goto out;
  gallery_n = custos_index_count(idx);
  size_t k_want = (size_t)pp->candidates, nh = 0;
  hits = calloc(k_want ? k_want : 1, sizeof *hits);
  if (hits == NULL) {
    rc = nomem(err);
    goto out;
  }
  if ((rc = custos_index_search(idx, descriptor, k_want, NULL, hits, &nh, err))) goto out;
  json_t *cands = json_array();
  for (size_t i = 0; i < nh; i++) {
    json_array_append_new(
        cands, json_pack("{s:I, s:I, s:f}", "holder", (json_int_t)hits[i].holder, "photo",
                         (json_int_t)hits[i].photo, "distance", hits[i].distance));
  }
  json_object_set_new(k.rec, "candidates", cands);
  custos_status st;
  memset(&st, 0, sizeof st);
  if ((rc = custos__core_log_status(t, &st, err))) goto out;
  char now[CUSTOS_TIMESTAMP_LEN + 1], gs[24], cp[24], th[32], nc[24];
  custos__timestamp_now(now);
  snprintf(gs, sizeof gs, "%zu", gallery_n);
  snprintf(cp, sizeof cp, "%lld", (long long)st.audit_entries);
  snprintf(th, sizeof th, "%.4f", pp->search_threshold);
  snprintf(nc, sizeof nc, "%zu", nh);
  json_object_set_new(k.rec, "search",
                      json_pack("{s:s, s:s, s:s, s:I, s:I, s:f, s:I}", "examiner", a.u.name, "time",
                                now, "model", model, "gallery_size", (json_int_t)gallery_n,
                                "checkpoint_size", (json_int_t)st.audit_entries, "threshold",
                                pp->search_threshold, "candidates", (json_int_t)nh));
  if ((rc = kase_save(t, &k, to, err))) goto out;
  /* GOV-14: the log records versions, gallery size, checkpoint, threshold, list size. */
  char algo[64];
  snprintf(algo, sizeof algo, "custos-index-exact.%s",
           custos_face_detector_name(custos_face_engine_options(e)->detector));
  custos_audit_detail d[] = {{"algorithm", algo},     {"model", model},  {"gallery_size", gs},
                             {"checkpoint_size", cp}, {"threshold", th}, {"candidates", nc}};
  if ((rc = audit(c, t, &a, "case.search", &k, NULL, 0, NULL, 0, d, 6, err))) goto out;
  out->gallery_size = (int64_t)gallery_n;
  out->candidates = (int64_t)nh;
  out->checkpoint = st.audit_entries;
out:
  if (commit_rejection) {
    rc = custos__store_commit(t, err);
    t = NULL;
    if (rc == CUSTOS_OK) {
      rc = stale ? custos__err(err, CUSTOS_EPOLICY, MOD,
                               "REJECT_STALE: GOV-12: the order (no expiry date) is older than "
                               "the policy allows at the time of the search; the case is rejected")
                 : custos__err(err, CUSTOS_EPOLICY, MOD,
                               "REJECT_EXPIRED: GOV-12: the order expired before the search; the "
                               "case is rejected");
    }
  }
  rc = finish(t, rc, err);
  free(hits);
  custos_index_free(idx);
  custos_face_list_free(faces);
  custos_image_free(img);
  custos__buf_free(&probe);
  custos_policy_free(own);
  kase_free(&k);
  sodium_memzero(&a, sizeof a);
  return rc;
}

int custos_case_search(custos *c, const custos_session *as, int64_t case_id, const custos_policy *p,
                       custos_face_engine *e, const char *models_dir, custos_case_search_info *out,
                       custos_err *err) {
  return custos__case_search_on(c, as, case_id, p, e, models_dir, NULL, out, err);
}

/* ---- blind examination (GOV-15) ------------------------------------------------------ */

/* Writes data[0..n) to path, mode 0600, refusing an existing file. */
static int write_private(const char *path, const void *data, size_t n, custos_err *err) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return custos__err(err, CUSTOS_EIO, MOD, "%s: %s", path, strerror(errno));
  const char *p = data;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w <= 0) {
      close(fd);
      return custos__err(err, CUSTOS_EIO, MOD, "%s: %s", path, strerror(errno));
    }
    p += w;
    n -= (size_t)w;
  }
  if (close(fd) != 0) return custos__err(err, CUSTOS_EIO, MOD, "%s: %s", path, strerror(errno));
  return CUSTOS_OK;
}

/* Reads a whole regular file (at most max bytes) into *out. */
static int read_file(const char *path, size_t max, custos_buf *out) {
  custos__buf_reset(out);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return CUSTOS_ENOENT;
  struct stat sb;
  if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || (size_t)sb.st_size > max) {
    close(fd);
    return CUSTOS_ENOENT;
  }
  char buf[65536];
  int rc = CUSTOS_OK;
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) rc = CUSTOS_EIO;
    if (r <= 0) break;
    if ((rc = custos__buf_append(out, buf, (size_t)r))) break;
  }
  close(fd);
  return rc;
}

static const char *image_ext(const custos_buf *b) {
  if (b->len >= 3 && (unsigned char)b->data[0] == 0xFF && (unsigned char)b->data[1] == 0xD8)
    return "jpg";
  return "png";
}

int custos_case_examine(custos *c, const custos_session *as, int64_t case_id,
                        const char *photos_dir, const char *tmp_dir, char **json, custos_err *err) {
  custos_txn *t = NULL;
  custos_buf blob, path;
  json_t *outj = NULL;
  actor a;
  kase k;
  memset(&k, 0, sizeof k);
  *json = NULL;
  custos__buf_init(&blob, CUSTOS_REQUEST_MAX_PROBE);
  custos__buf_init(&path, 8192);
  char dir[4096] = "";
  int rc = begin(c, as, CUSTOS_ROLE_EXAMINER, &t, &a, err);
  if (rc != CUSTOS_OK) goto out;
  if ((rc = require_trained(&a, err))) goto out; /* GOV-13 */
  if ((rc = kase_load(t, case_id, &k, err))) goto out;
  if (k.state != CUSTOS_CASE_SEARCHED) {
    rc = custos__err(err, CUSTOS_EPOLICY, MOD,
                     "GOV-15: case %s is %s: only a searched case is examined", k.id,
                     custos_case_state_name(k.state));
    goto out;
  }
  json_t *cands = json_object_get(k.rec, "candidates");
  if (!json_is_array(cands)) {
    rc = custos__err(err, CUSTOS_EPOLICY, MOD, "GOV-21: the candidate list of case %s was purged",
                     k.id);
    goto out;
  }
  size_t n = json_array_size(cands);
  json_t *views = json_object_get(k.rec, "views");
  if (views == NULL) {
    views = json_object();
    json_object_set_new(k.rec, "views", views);
  }
  json_t *mine = json_object_get(views, a.u.name);
  if (mine == NULL) {
    /* GOV-15: this examiner's own random order and labels. */
    int perm[CUSTOS_INDEX_MAX_K];
    custos__cases_shuffle(perm, n);
    mine = json_array();
    for (size_t i = 0; i < n; i++) {
      char label[CUSTOS__CASE_LABEL_LEN + 1];
      bool dup;
      do {
        custos__cases_label(label);
        dup = false;
        size_t j;
        json_t *v;
        json_array_foreach(mine, j, v) dup |= strcmp(jstr(v, "label"), label) == 0;
      } while (dup);
      json_array_append_new(mine, json_pack("{s:s, s:i}", "label", label, "i", perm[i]));
    }
    json_object_set_new(views, a.u.name, mine);
  }
  /* A private folder for the photos. */
  const char *base = tmp_dir ? tmp_dir : getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  snprintf(dir, sizeof dir, "%s/custos-examine-XXXXXX", base);
  if (mkdtemp(dir) == NULL) { /* mode 0700 */
    rc = custos__err(err, CUSTOS_EIO, MOD, "%s: %s", base, strerror(errno));
    dir[0] = '\0';
    goto out;
  }
  outj = json_object();
  if ((rc = custos__store_case_blob_get(t, case_id, true, &blob, err))) goto out;
  char file[4200];
  snprintf(file, sizeof file, "%s/probe.%s", dir, image_ext(&blob));
  if ((rc = write_private(file, blob.data, blob.len, err))) goto out;
  json_object_set_new(outj, "probe", json_string(file));
  json_t *list = json_array();
  json_object_set_new(outj, "candidates", list);
  size_t j;
  json_t *v;
  json_array_foreach(mine, j, v) {
    const char *label = jstr(v, "label");
    json_t *cand = json_array_get(cands, (size_t)json_integer_value(json_object_get(v, "i")));
    custos__photo ph;
    if ((rc = custos__store_photo_get(
             t, (int64_t)json_integer_value(json_object_get(cand, "photo")), &ph, err)))
      goto out;
    char hex[65];
    to_hex(ph.sha256, 32, hex);
    json_t *item = json_pack("{s:s, s:n, s:s}", "label", label, "photo", "photo_sha256", hex);
    if (photos_dir != NULL) {
      custos__buf_reset(&path);
      custos__buf_appendf(&path, "%s/%s", photos_dir, ph.source);
      uint8_t sha[32];
      if (path.data && read_file(path.data, CUSTOS_IMAGE_MAX_FILE_BYTES, &blob) == CUSTOS_OK &&
          crypto_hash_sha256(sha, (const unsigned char *)blob.data, blob.len) == 0 &&
          memcmp(sha, ph.sha256, 32) == 0) {
        snprintf(file, sizeof file, "%s/%s.%s", dir, label, image_ext(&blob));
        if ((rc = write_private(file, blob.data, blob.len, err))) {
          json_decref(item);
          goto out;
        }
        json_object_set_new(item, "photo", json_string(file));
      }
    }
    json_array_append_new(list, item);
  }
  if ((rc = kase_save(t, &k, k.state, err))) goto out;
  char cnt[24];
  snprintf(cnt, sizeof cnt, "%zu", n);
  custos_audit_detail d[] = {{"count", cnt}};
  if ((rc = audit(c, t, &a, "case.examine", &k, NULL, 0, NULL, 0, d, 1, err))) goto out;
  *json = json_dumps(outj, JSON_COMPACT | JSON_PRESERVE_ORDER);
  if (*json == NULL) rc = nomem(err);
out:
  rc = finish(t, rc, err);
  if (rc != CUSTOS_OK) {
    free(*json);
    *json = NULL;
  }
  json_decref(outj);
  custos__buf_free(&blob);
  custos__buf_free(&path);
  kase_free(&k);
  sodium_memzero(&a, sizeof a);
  return rc;
}

int custos_case_adjudicate(custos *c, const custos_session *as, int64_t case_id, const char *label,
                           custos_err *err) {
  custos_txn *t = NULL;
  actor a;
  kase k;
  memset(&k, 0, sizeof k);
  int rc = begin(c, as, CUSTOS_ROLE_EXAMINER, &t, &a, err);
  if (rc != CUSTOS_OK) goto out;
  if ((rc = require_trained(&a, err))) goto out; /* GOV-13 */
  if ((rc = kase_load(t, case_id, &k, err))) goto out;
  json_t *marks = json_object_get(k.rec, "marks");
  size_t i;
  json_t *v;
  int first = -2;
  json_array_foreach(marks, i, v) {
    /* GOV-15: two distinct examiners, one mark each. */
    if (strcmp(jstr(v, "user"), a.u.name) == 0) {
      rc = custos__err(err, CUSTOS_EPERM, MOD,
                       "GOV-15: '%s' has marked this case already; the second mark must come "
                       "from another examiner",
                       a.u.name);
      goto out;
    }
    first = (int)json_integer_value(json_object_get(v, "i"));
  }
  custos_case_action act = first == -2 ? CUSTOS_CASE_MARK : CUSTOS_CASE_MARK_FINAL;
  custos_case_state to;
  if ((rc = transition(&k, act, &to, err))) goto out;
  json_t *mine = json_object_get(json_object_get(k.rec, "views"), a.u.name);
  if (mine == NULL) {
    rc = custos__err(err, CUSTOS_EPOLICY, MOD, "GOV-15: examine the case before marking it");
    goto out;
  }
  int idx = -1;
  if (label != NULL) {
    json_array_foreach(mine, i, v) {
      if (strcmp(jstr(v, "label"), label) == 0)
        idx = (int)json_integer_value(json_object_get(v, "i"));
    }
    if (idx < 0) {
      rc = custos__err(err, CUSTOS_EINVAL, MOD,
                       "candidate: not a label of your own examination list (or none)");
      goto out;
    }
  }
  json_array_append_new(marks, json_pack("{s:s, s:i}", "user", a.u.name, "i", idx));
  const char *outcome = NULL;
  if (act == CUSTOS_CASE_MARK_FINAL) {
    outcome = custos__cases_outcome(first, idx); /* GOV-15 */
    json_object_set_new(k.rec, "outcome", json_string(outcome));
  }
  if ((rc = kase_save(t, &k, to, err))) goto out;
  custos_audit_detail d[] = {{"mark", idx >= 0 ? "possible_match" : "none"}, {"outcome", outcome}};
  rc = audit(c, t, &a, "case.adjudicate", &k, NULL, 0, NULL, 0, d, outcome ? 2 : 1, err);
out:
  rc = finish(t, rc, err);
  kase_free(&k);
  sodium_memzero(&a, sizeof a);
  return rc;
}

/* ---- the response (GOV-16, GOV-17) ------------------------------------------------------ */

char *custos_case_letter_json(const custos_case_letter *l) {
  json_t *id = json_null();
  if (l->identity) {
    id = json_pack(
        "{s:s, s:s, s:s, s:s, s:s}", "first_name", custos_disclosure_first_name(l->identity),
        "middle_name", custos_disclosure_middle_name(l->identity), "last_name",
        custos_disclosure_last_name(l->identity), "dob", custos_disclosure_dob(l->identity),
        "license_no", custos_disclosure_license_no(l->identity));
  }
  json_t *o =
      json_pack("{s:I, s:s, s:s, s:o, s:s}", "case", (json_int_t)l->case_id, "agency", l->agency,
                "outcome", l->outcome, "identity", id, "statement", l->statement);
  char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
  json_decref(o);
  return s;
}

void custos_case_letter_free(custos_case_letter *l) {
  if (l == NULL) return;
  custos_disclosure_free(l->identity);
  sodium_memzero(l, sizeof *l);
  free(l);
}

int custos_case_respond(custos *c, const custos_session *as, int64_t case_id,
                        custos_case_letter **out, custos_err *err) {
  custos_txn *t = NULL;
  custos_case_letter *l = NULL;
  actor a;
  kase k;
  memset(&k, 0, sizeof k);
  *out = NULL;
  int rc = begin(c, as, CUSTOS_ROLE_NONE, &t, &a, err);
  if (rc != CUSTOS_OK) goto out;
  if ((rc = require_role2(&a, CUSTOS_ROLE_INTAKE, CUSTOS_ROLE_MANAGER, "the response", err)))
    goto out;
  if ((rc = kase_load(t, case_id, &k, err))) goto out;
  custos_case_state to;
  if ((rc = transition(&k, CUSTOS_CASE_RESPOND, &to, err))) goto out;
  l = calloc(1, sizeof *l);
  if (l == NULL) {
    rc = nomem(err);
    goto out;
  }
  l->case_id = case_id;
  json_t *agency = json_object_get(k.rec, "agency");
  snprintf(l->agency, sizeof l->agency, "%s", jstr(agency, "name"));
  snprintf(l->case_number, sizeof l->case_number, "%s", jstr(k.rec, "case_number"));
  const char *outcome = jstr(k.rec, "outcome");
  l->outcome = strcmp(outcome, "possible_match") == 0      ? "possible_match"
               : strcmp(outcome, "no_identification") == 0 ? "no_identification"
                                                           : "inconclusive";
  l->statement = CUSTOS__CASE_NO_ID_STATEMENT;
  char record[24] = "";
  if (strcmp(l->outcome, "possible_match") == 0) {
    /* The candidate both examiners marked. */
    json_t *marks = json_object_get(k.rec, "marks");
    int ci = (int)json_integer_value(json_object_get(json_array_get(marks, 0), "i"));
    json_t *cand = json_array_get(json_object_get(k.rec, "candidates"), (size_t)ci);
    double threshold =
        json_real_value(json_object_get(json_object_get(k.rec, "search"), "threshold"));
    double dist = json_real_value(json_object_get(cand, "distance"));
    /* GOV-16: past the threshold it was examined but is never released. */
    if (cand != NULL && custos__cases_releasable(dist, threshold)) {
      int64_t holder = (int64_t)json_integer_value(json_object_get(cand, "holder"));
      if ((rc = custos__disclosure_build(t, holder, &l->identity, err))) goto out; /* GOV-17 */
      snprintf(record, sizeof record, "%lld", (long long)holder);
      l->statement = CUSTOS__CASE_LEAD_STATEMENT;
    }
  }
  const char *response = l->identity ? "limited_identity" : "no_identification";
  json_object_set_new(k.rec, "response", json_string(response));
  if ((rc = kase_save(t, &k, to, err))) goto out;
  custos_audit_detail d[] = {{"outcome", l->outcome}, {"response", response}, {"record", record}};
  rc = audit(c, t, &a, "case.respond", &k, NULL, 0, NULL, 0, d, record[0] ? 3 : 2, err);
out:
  rc = finish(t, rc, err);
  if (rc == CUSTOS_OK) {
    *out = l;
  } else {
    custos_case_letter_free(l);
  }
  kase_free(&k);
  sodium_memzero(&a, sizeof a);
  return rc;
}

/* close and withdraw */
static int simple_action(custos *c, const custos_session *as, int64_t case_id,
                         custos_case_action act, const char *note, custos_err *err) {
  custos_txn *t = NULL;
  actor a;
  kase k;
  memset(&k, 0, sizeof k);
  int rc = CUSTOS_OK;
  if (note && (rc = custos__text_check(note, "note", NOTE_MAX, false, err))) return rc;
  if ((rc = begin(c, as, CUSTOS_ROLE_NONE, &t, &a, err))) return rc;
  if ((rc = require_role2(&a, CUSTOS_ROLE_INTAKE, CUSTOS_ROLE_MANAGER,
                          act == CUSTOS_CASE_CLOSE ? "closing a case" : "withdrawing a case", err)))
    goto out;
  if ((rc = kase_load(t, case_id, &k, err))) goto out;
  custos_case_state to;
  if ((rc = transition(&k, act, &to, err))) goto out;
  if (note)
    json_object_set_new(k.rec, "withdrawn",
                        json_pack("{s:s, s:s}", "user", a.u.name, "note", note));
  if ((rc = kase_save(t, &k, to, err))) goto out;
  rc = audit(c, t, &a, act == CUSTOS_CASE_CLOSE ? "case.close" : "case.withdraw", &k, NULL, 0, NULL,
             0, NULL, 0, err);
out:
  rc = finish(t, rc, err);
  kase_free(&k);
  sodium_memzero(&a, sizeof a);
  return rc;
}

int custos_case_close(custos *c, const custos_session *as, int64_t case_id, custos_err *err) {
  return simple_action(c, as, case_id, CUSTOS_CASE_CLOSE, NULL, err);
}

int custos_case_withdraw(custos *c, const custos_session *as, int64_t case_id, const char *note,
                         custos_err *err) {
  return simple_action(c, as, case_id, CUSTOS_CASE_WITHDRAW, note ? note : "withdrawn", err);
}

/* ---- show and list ---------------------------------------------------------------- */

/* What anyone with a role may see of a case: no candidates, scores, marks or
 * identities (GOV-18). */
static json_t *case_view(const custos__case_row *row, const json_t *rec) {
  json_t *v = json_object();
  json_object_set_new(v, "case", json_integer(row->id));
  json_object_set_new(v, "state", json_string(row->state));
  json_object_set_new(v, "received", json_string(row->received));
  json_object_set_new(v, "created", json_string(row->created));
  json_object_set_new(v, "closed", row->closed[0] ? json_string(row->closed) : json_null());
  json_object_set_new(v, "history", json_boolean(row->history));
  static const char *const COPY[] = {
      "agency",    "case_number",  "legal",           "offenses",         "reasons",
      "requester", "narrative",    "decision",        "reviews_required", "submitter",
      "reviews",   "probe_sha256", "document_sha256", "policy_sha256",    "outcome",
      "response",  "purged",       "withdrawn"};
  for (size_t i = 0; i < sizeof COPY / sizeof COPY[0]; i++) {
    json_t *x = json_object_get(rec, COPY[i]);
    if (x) json_object_set(v, COPY[i], x);
  }
  json_t *s = json_object_get(rec, "search");
  if (s) {
    json_object_set_new(
        v, "search",
        json_pack("{s:O, s:O, s:O, s:O, s:O}", "examiner", json_object_get(s, "examiner"), "time",
                  json_object_get(s, "time"), "model", json_object_get(s, "model"), "gallery_size",
                  json_object_get(s, "gallery_size"), "candidates",
                  json_object_get(s, "candidates")));
  }
  /* GOV-15: how many marks, never whose or which. */
  json_object_set_new(v, "marks",
                      json_integer((json_int_t)json_array_size(json_object_get(rec, "marks"))));
  return v;
}

int custos_case_document(custos *c, const custos_session *as, int64_t case_id, char **data,
                         size_t *len, custos_err *err) {
  custos_txn *t = NULL;
  custos_buf b;
  kase k;
  actor a;
  *data = NULL;
  *len = 0;
  memset(&k, 0, sizeof k);
  custos__buf_init(&b, CUSTOS_CASE_DOCUMENT_MAX);
  int rc = custos__core_begin_as(c, as, CUSTOS_ROLE_NONE, false, &t, err);
  if (rc != CUSTOS_OK) return rc;
  /* The role as the database has it now. */
  rc = custos__store_user_get(t, custos_session_user(as), &a.u, err);
  if (rc == CUSTOS_OK) rc = custos__auth_role_of(&a.u, &a.role, err);
  if (rc == CUSTOS_OK && a.role != CUSTOS_ROLE_INTAKE && a.role != CUSTOS_ROLE_MANAGER &&
      a.role != CUSTOS_ROLE_GOVERNOR && a.role != CUSTOS_ROLE_LEGAL)
    rc = custos__err(err, CUSTOS_EPERM, MOD, "only a reviewer may read the order document");
  if (rc == CUSTOS_OK) rc = kase_load(t, case_id, &k, err);
  if (rc == CUSTOS_OK) {
    rc = custos__store_case_blob_get(t, case_id, false, &b, err);
    if (rc == CUSTOS_ENOENT)
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "case %lld has no order document",
                       (long long)case_id);
  }
  custos__store_rollback(t);
  kase_free(&k);
  sodium_memzero(&a, sizeof a);
  if (rc == CUSTOS_OK) {
    *data = (char *)b.data;
    *len = b.len;
  } else {
    custos__buf_free(&b);
  }
  return rc;
}

int custos_case_show(custos *c, const custos_session *as, int64_t case_id, char **json,
                     custos_err *err) {
  custos_txn *t = NULL;
  kase k;
  memset(&k, 0, sizeof k);
  *json = NULL;
  int rc = custos__core_begin_as(c, as, CUSTOS_ROLE_NONE, false, &t, err);
  if (rc != CUSTOS_OK) return rc;
  if ((rc = kase_load(t, case_id, &k, err)) == CUSTOS_OK) {
    json_t *v = case_view(&k.row, k.rec);
    *json = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    if (*json == NULL) rc = nomem(err);
  }
  custos__store_rollback(t);
  kase_free(&k);
  return rc;
}

typedef struct list_ctx {
  json_t *arr;
  const char *state;
} list_ctx;

static int list_one(const custos__case_row *row, void *ctx) {
  list_ctx *l = ctx;
  if (l->state && strcmp(l->state, row->state) != 0) return 0;
  json_t *rec = json_loads(row->record, 0, NULL);
  json_t *ag = json_object_get(rec, "agency");
  /* The queue's flags: the checks' FLAG_ and ESCALATE_ reasons. */
  json_t *flags = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(rec, "reasons"), i, x) {
    const char *code = json_string_value(x);
    if (code && (strncmp(code, "FLAG_", 5) == 0 || strncmp(code, "ESCALATE_", 9) == 0))
      json_array_append_new(flags, json_string(code));
  }
  const char *dept = jstr(ag, "department");
  json_array_append_new(
      l->arr, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s?, s:b, s:o}", "case", (json_int_t)row->id,
                        "state", row->state, "received", row->received, "agency", jstr(ag, "name"),
                        "level", jstr(ag, "level"), "department", dept && dept[0] ? dept : NULL,
                        "history", row->history, "flags", flags));
  json_decref(rec);
  return 0;
}

int custos_case_list(custos *c, const custos_session *as, const char *state, char **json,
                     custos_err *err) {
  custos_txn *t = NULL;
  *json = NULL;
  custos_case_state st;
  int rc;
  if (state && (rc = custos_case_state_parse(state, &st, err))) return rc;
  if ((rc = custos__core_begin_as(c, as, CUSTOS_ROLE_NONE, false, &t, err))) return rc;
  list_ctx l = {json_array(), state};
  rc = custos__store_case_foreach(t, list_one, &l, err);
  custos__store_rollback(t);
  if (rc == CUSTOS_OK) {
    *json = json_dumps(l.arr, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (*json == NULL) rc = nomem(err);
  }
  json_decref(l.arr);
  return rc;
}

/* ---- retention (GOV-21) ------------------------------------------------------------ */

typedef struct purge_ctx {
  int64_t *ids;
  size_t n, cap;
  long cutoff; /* day number: closed before or on this day -> purge */
} purge_ctx;

static int purge_pick(const custos__case_row *row, void *ctx) {
  purge_ctx *p = ctx;
  if (row->closed[0] == '\0' || row->history) return 0;
  if (days_of(row->closed) > p->cutoff) return 0;
  json_t *rec = json_loads(row->record, 0, NULL);
  bool has_list = json_object_get(rec, "candidates") != NULL;
  json_decref(rec);
  if (!row->has_probe && !has_list) return 0;
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 64;
    int64_t *ni = realloc(p->ids, cap * sizeof *ni);
    if (ni == NULL) return CUSTOS_ENOMEM;
    p->ids = ni;
    p->cap = cap;
  }
  p->ids[p->n++] = row->id;
  return 0;
}

int custos__case_purge_on(custos *c, const custos_session *as, const custos_policy *p,
                          const char *today, int64_t *purged, custos_err *err) {
  custos_txn *t = NULL;
  custos_policy *own = NULL;
  purge_ctx pc = {0};
  actor a;
  *purged = 0;
  char day[CUSTOS_DATE_LEN + 1];
  if (today) {
    snprintf(day, sizeof day, "%s", today);
  } else {
    custos__date_today(day);
  }
  int rc = CUSTOS_OK;
  if (p == NULL) {
    if ((rc = custos_policy_load(NULL, &own, err))) return rc;
    p = own;
  }
  if (as != NULL) {
    if ((rc = begin(c, as, CUSTOS_ROLE_ADMIN, &t, &a, err))) goto out;
  } else {
    /* The scheduled purge: the system acts, as the log's own entries do. */
    memset(&a, 0, sizeof a);
    snprintf(a.u.name, sizeof a.u.name, "system");
    if ((rc = custos__store_begin(c->store, true, &t, err))) goto out;
  }
  if ((rc = policy_in_force(t, p, err))) goto out;
  /* GOV-21: retention_days after the case closed. */
  pc.cutoff = days_of(day) - custos_policy_get_params(p)->retention_days;
  if ((rc = custos__store_case_foreach(t, purge_pick, &pc, err))) goto out;
  for (size_t i = 0; i < pc.n && rc == CUSTOS_OK; i++) {
    kase k;
    if ((rc = kase_load(t, pc.ids[i], &k, err)) == CUSTOS_OK) {
      if (k.row.has_probe) rc = custos__store_case_purge_probe(t, pc.ids[i], err);
      json_object_del(k.rec, "candidates");
      json_object_del(k.rec, "views");
      json_object_set_new(k.rec, "purged", json_string(day));
      if (rc == CUSTOS_OK) rc = kase_save(t, &k, k.state, err);
      custos_audit_named_hash h[1];
      size_t nh = hex_to_hash(jstr(k.rec, "probe_sha256"), &h[0].sha256) == 0 ? 1 : 0;
      h[0].name = "probe"; /* the SHA-256 stays in the log */
      if (rc == CUSTOS_OK) rc = audit(c, t, &a, "case.purge", &k, NULL, 0, h, nh, NULL, 0, err);
    }
    kase_free(&k);
  }
  if (rc == CUSTOS_OK) *purged = (int64_t)pc.n;
out:
  rc = finish(t, rc, err);
  free(pc.ids);
  custos_policy_free(own);
  sodium_memzero(&a, sizeof a);
  return rc;
}

int custos_case_purge_expired(custos *c, const custos_session *as, const custos_policy *p,
                              int64_t *purged, custos_err *err) {
  return custos__case_purge_on(c, as, p, NULL, purged, err);
}

int custos_case_purge_scheduled(custos *c, const custos_policy *p, int64_t *purged,
                                custos_err *err) {
  return custos__case_purge_on(c, NULL, p, NULL, purged, err);
}
