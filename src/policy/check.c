/*
 * The automatic checks of a request (POLICY.md GOV-01..09), the reason codes
 * and the analysis of the probe photo.
 *
 * Every check runs and adds its reasons, so a rejected request lists every
 * rule it fails (the oversight report counts outcomes by reason), except that
 * GOV-02..04 judge a legal process and are skipped when GOV-01 finds none.
 * Reasons come out once each, in the order of the reason table, which is
 * GOV order.  The decision is "reject" as soon as one reason rejects;
 * otherwise "review", with the reviews GOV-10/11 require: "legal" first when
 * GOV-04 escalated, then "intake", "manager", "governor".  A rejected
 * request needs no review.
 *
 * Interpretations of POLICY.md made here (docs/policy.md lists them):
 *  - GOV-02: a legal process that names no court system, or the court system
 *    "none", was not issued by a court; one whose "signed" is absent is not
 *    shown to be signed.  Both are REJECT_NOT_JUDICIAL.
 *  - GOV-03: an order expiring on the day of the check is still in force; one
 *    issued exactly order_max_age_days before it is not yet stale.
 *  - GOV-06: offenses that do not parse are ignored; the request is solely
 *    immigration when at least one offense parses and all that parse are
 *    immigration.
 *  - GOV-08: the face checks need exactly one face; an unknown sharpness
 *    (the engine measured none) counts as too blurred.
 */
#include <stdio.h>
#include <string.h>

#include "custos/image.h"
#include "policy/policyInt.h"

#define MOD "policy"

/* ---- reasons ------------------------------------------------------------------------ */

static const char *const reason_names[] = {
#define CUSTOS_POLICY_REASON_NAME_(name, rule, text) #name,
    CUSTOS_POLICY_REASON_MAP(CUSTOS_POLICY_REASON_NAME_)
#undef CUSTOS_POLICY_REASON_NAME_
};
static const char *const reason_rules[] = {
#define CUSTOS_POLICY_REASON_RULE_(name, rule, text) rule,
    CUSTOS_POLICY_REASON_MAP(CUSTOS_POLICY_REASON_RULE_)
#undef CUSTOS_POLICY_REASON_RULE_
};
static const char *const reason_texts[] = {
#define CUSTOS_POLICY_REASON_TEXT_(name, rule, text) text,
    CUSTOS_POLICY_REASON_MAP(CUSTOS_POLICY_REASON_TEXT_)
#undef CUSTOS_POLICY_REASON_TEXT_
};

const char *custos_policy_reason_name(custos_policy_reason r) {
  return (unsigned)r < CUSTOS_POLICY_REASON_COUNT ? reason_names[r] : "?";
}

const char *custos_policy_reason_rule(custos_policy_reason r) {
  return (unsigned)r < CUSTOS_POLICY_REASON_COUNT ? reason_rules[r] : "";
}

const char *custos_policy_reason_text(custos_policy_reason r) {
  return (unsigned)r < CUSTOS_POLICY_REASON_COUNT ? reason_texts[r] : "unknown reason";
}

int custos_policy_reason_parse(const char *name, custos_policy_reason *out) {
  for (int i = 0; name != NULL && i < CUSTOS_POLICY_REASON_COUNT; i++) {
    if (strcmp(name, reason_names[i]) == 0) {
      *out = (custos_policy_reason)i;
      return CUSTOS_OK;
    }
  }
  return CUSTOS_EINVAL;
}

bool custos_policy_reason_rejects(custos_policy_reason r) {
  return r == CUSTOS_POLICY_MALFORMED || strncmp(custos_policy_reason_name(r), "REJECT_", 7) == 0;
}

const char *custos_policy_decision_name(custos_policy_decision d) {
  return d == CUSTOS_POLICY_DECISION_REJECT ? "reject" : "review";
}

bool custos_policy_result_has(const custos_policy_result *res, custos_policy_reason r) {
  for (size_t i = 0; res != NULL && i < res->nreasons; i++) {
    if (res->reasons[i] == r) return true;
  }
  return false;
}

/* ---- the rules ----------------------------------------------------------------------- */

/* GOV-02: process that no judge signed. */
static bool not_judicial(const custos_policy *p, const custos_policy_request *r) {
  switch (r->legal_process.type) {
    case CUSTOS_LEGAL_ADMINISTRATIVE_WARRANT:
    case CUSTOS_LEGAL_ADMINISTRATIVE_SUBPOENA:
    case CUSTOS_LEGAL_DETAINER:
    case CUSTOS_LEGAL_IMMIGRATION_JUDGE_ORDER:
      return true;
    default:
      break;
  }
  /* An administrative form presented as a court order. */
  if (r->legal_process.form != NULL &&
      custos__policy_list_match(p, LIST_FORMS, r->legal_process.form))
    return true;
  switch (r->legal_process.court_system) {
    case CUSTOS_COURT_AGENCY:
    case CUSTOS_COURT_IMMIGRATION_COURT:
    case CUSTOS_COURT_NONE:
    case CUSTOS_COURT_MISSING:
      return true;
    default:
      break;
  }
  return r->legal_process.is_signed != 1;
}

/* GOV-07: a federal immigration authority. */
static bool immigration_authority(const custos_policy *p, const custos_policy_request *r) {
  const char *dept = r->agency.department;
  const bool dept_ok = dept == NULL || dept[strspn(dept, " \t")] == '\0' ||
                       custos__policy_list_match(p, LIST_DEPARTMENTS, dept);
  if (dept_ok && custos__policy_list_match(p, LIST_COMPONENTS, r->agency.component)) return true;
  return custos__policy_list_match(p, LIST_NAMES, r->agency.name);
}

static bool not_a_photo(custos_probe_source s) {
  return s == CUSTOS_PROBE_SKETCH || s == CUSTOS_PROBE_COMPOSITE || s == CUSTOS_PROBE_EDITED ||
         s == CUSTOS_PROBE_LOOKALIKE;
}

bool custos_policy_request_needs_probe_facts(const custos_policy_request *r) {
  return r != NULL && !not_a_photo(r->probe.source);
}

void custos_policy_result_free(custos_policy_result *res) {
  if (res == NULL) return;
  for (size_t i = 0; i < res->noffenses; i++) custos__free(res->offenses[i].citation);
  custos__free(res->offenses);
  custos__free(res);
}

int custos_policy_check(const custos_policy *p, const custos_policy_request *r,
                        const custos_probe_facts *facts, const char *on, custos_policy_result **out,
                        custos_err *err) {
  bool has[CUSTOS_POLICY_REASON_COUNT] = {false};
  custos_policy_result *res = NULL;
  char today[11];
  long day = 0;
  int rc = CUSTOS_OK;
  *out = NULL;
  if (p == NULL || r == NULL)
    return custos__err(err, CUSTOS_EINVAL, MOD, "no policy or no request");
  if (on == NULL) {
    custos_policy_today(today);
    on = today;
  }
  if (!custos__policy_date_parse(on, &day)) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "day of the check: not a date YYYY-MM-DD");
  }
  const bool needs_facts = custos_policy_request_needs_probe_facts(r);
  if (needs_facts && facts == NULL) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "GOV-08: the probe photo must be analysed (custos_policy_probe_analyze)");
  }
  if ((res = custos__calloc(1, sizeof *res)) == NULL)
    return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  memcpy(res->on, on, 11);
  memcpy(res->policy_sha256, p->sha256, sizeof res->policy_sha256);
  const custos_policy_params *pp = &p->params;

  /* GOV-01: a legal process at all. */
  const custos_legal_type type = r->legal_process.type;
  if (type == CUSTOS_LEGAL_MISSING || type == CUSTOS_LEGAL_NONE) {
    has[CUSTOS_POLICY_REJECT_NO_COURT_ORDER] = true;
  } else {
    /* GOV-02: only a judge signs a court order. */
    if (not_judicial(p, r)) has[CUSTOS_POLICY_REJECT_NOT_JUDICIAL] = true;
    /* GOV-03: in force on the day of the check. */
    long issued = 0, expires = 0;
    if (r->legal_process.expires[0] &&
        custos__policy_date_parse(r->legal_process.expires, &expires)) {
      if (expires < day) has[CUSTOS_POLICY_REJECT_EXPIRED] = true;
    } else if (custos__policy_date_parse(r->legal_process.issued, &issued)) {
      if (day - issued > pp->order_max_age_days) has[CUSTOS_POLICY_REJECT_STALE] = true;
    } else {
      has[CUSTOS_POLICY_REJECT_STALE] = true; /* the parser requires issued; never here */
    }
    /* GOV-04: another state's court or a grand jury: legal review first. */
    if (r->legal_process.court_system == CUSTOS_COURT_OTHER_STATE ||
        type == CUSTOS_LEGAL_GRAND_JURY_SUBPOENA)
      has[CUSTOS_POLICY_ESCALATE_LEGAL_REVIEW] = true;
  }

  /* GOV-05, GOV-06: a specific crime, not solely immigration. */
  if (r->noffenses > 0) {
    if ((res->offenses = custos__calloc(r->noffenses, sizeof *res->offenses)) == NULL) {
      rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
      goto out;
    }
  }
  size_t parsed = 0, immigration = 0, mixed = 0;
  for (size_t i = 0; i < r->noffenses; i++) {
    custos_policy_offense *o = &res->offenses[i];
    if ((o->citation = custos__strdup(r->offenses[i].citation)) == NULL) {
      rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
      goto out;
    }
    res->noffenses++;
    o->cls = custos_policy_classify(p, o->citation, o->statute, sizeof o->statute);
    parsed += o->cls != CUSTOS_OFFENSE_NONE;
    immigration += o->cls == CUSTOS_OFFENSE_IMMIGRATION;
    mixed += o->cls == CUSTOS_OFFENSE_MIXED;
  }
  if (parsed == 0) {
    has[CUSTOS_POLICY_REJECT_NO_SPECIFIC_CRIME] = true;
  } else if (immigration == parsed) {
    has[CUSTOS_POLICY_REJECT_SOLELY_IMMIGRATION] = true;
  }
  if (mixed > 0) has[CUSTOS_POLICY_ESCALATE_MIXED_OFFENSE] = true;

  /* GOV-07: flagged, shown to every reviewer and counted in reports; it
   * rejects nothing by itself — GOV-01..06 must pass as for anyone. */
  if (immigration_authority(p, r)) has[CUSTOS_POLICY_FLAG_IMMIGRATION_AUTHORITY] = true;

  /* GOV-08: a photo of one face, large and sharp enough. */
  if (!needs_facts) {
    has[CUSTOS_POLICY_REJECT_PROBE_NOT_A_PHOTO] = true;
  } else {
    res->probe_analyzed = true;
    res->probe = *facts;
    if (facts->faces <= 0) {
      has[CUSTOS_POLICY_REJECT_PROBE_NO_FACE] = true;
    } else if (facts->faces > 1) {
      has[CUSTOS_POLICY_REJECT_PROBE_MANY_FACES] = true;
    } else if (!(facts->face_px >= pp->probe_min_face_px) ||
               !(facts->sharpness >= pp->probe_min_sharpness) || facts->sharpness < 0) {
      has[CUSTOS_POLICY_REJECT_PROBE_LOW_QUALITY] = true;
    }
  }

  /* GOV-09 is structural: the request format has no field for nationality,
   * birthplace, citizenship or immigration status, and the parser refuses
   * every unknown key (request.c), so no such criterion can reach a search. */

  res->decision = CUSTOS_POLICY_DECISION_REVIEW;
  for (int i = 0; i < CUSTOS_POLICY_REASON_COUNT; i++) {
    if (!has[i]) continue;
    res->reasons[res->nreasons++] = (custos_policy_reason)i;
    if (custos_policy_reason_rejects((custos_policy_reason)i))
      res->decision = CUSTOS_POLICY_DECISION_REJECT;
  }
  if (res->decision == CUSTOS_POLICY_DECISION_REVIEW) {
    /* GOV-10, GOV-11: the reviews, legal first when escalated (GOV-04). */
    if (has[CUSTOS_POLICY_ESCALATE_LEGAL_REVIEW]) res->reviews[res->nreviews++] = "legal";
    res->reviews[res->nreviews++] = "intake";
    res->reviews[res->nreviews++] = "manager";
    res->reviews[res->nreviews++] = "governor";
  }
out:
  if (rc != CUSTOS_OK) {
    custos_policy_result_free(res);
    return rc;
  }
  *out = res;
  return CUSTOS_OK;
}

/* ---- the probe photo (GOV-08) --------------------------------------------------------- */

int custos_policy_probe_analyze(custos_face_engine *e, const custos_policy_request *r,
                                custos_probe_facts *out, custos_err *err) {
  custos_image *img = NULL;
  custos_face_list *faces = NULL;
  int rc;
  if (r == NULL || r->probe.image.data == NULL) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "GOV-08: no probe to analyse");
  }
  /* Decoded first: a broken photo is a malformed request, engine or not. */
  rc = custos_image_decode(r->probe.image.data, r->probe.image.len, NULL, &img, NULL, err);
  if (rc != CUSTOS_OK) {
    if (rc == CUSTOS_ENOMEM) return rc;
    char detail[CUSTOS_ERR_MESSAGE_MAX];
    snprintf(detail, sizeof detail, "%s", err ? err->message : custos_strerror(rc));
    return custos__err(err, CUSTOS_EINVAL, "request", "probe.image: %s", detail);
  }
  if (e == NULL) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "GOV-08: the probe photo needs the face engine");
    goto out;
  }
  if ((rc = custos_face_embed(e, img, &faces, err)) != CUSTOS_OK) goto out;
  out->faces = faces->count > (size_t)1000 ? 1000 : (int)faces->count;
  out->face_px = 0;
  out->sharpness = -1;
  if (faces->count > 0) {
    /* Faces come in descending score order: the first is the best. */
    out->face_px = faces->faces[0].quality.box_size;
    out->sharpness = faces->faces[0].quality.sharpness;
  }
out:
  custos_face_list_free(faces);
  custos_image_free(img);
  return rc;
}

int custos_policy_check_file(const custos_policy *p, const char *request_path,
                             custos_face_engine *e, const char *on, custos_policy_result **out,
                             custos_err *err) {
  custos_policy_request *r = NULL;
  custos_probe_facts facts;
  int rc;
  *out = NULL;
  if ((rc = custos_policy_request_load(request_path, &r, err)) != CUSTOS_OK) return rc;
  const bool needs = custos_policy_request_needs_probe_facts(r);
  if (needs && e == NULL) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "GOV-08: the probe photo needs the face engine");
  } else if (!needs || (rc = custos_policy_probe_analyze(e, r, &facts, err)) == CUSTOS_OK) {
    rc = custos_policy_check(p, r, needs ? &facts : NULL, on, out, err);
  }
  custos_policy_request_free(r);
  return rc;
}
