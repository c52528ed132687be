/*
 * Request cases: the workflow of POLICY.md from intake to the response letter
 * (GOV-10..17, GOV-21), with one state machine whose one transition table
 * lives in the library (custos_case_transition), never in a front end.
 *
 *   (legal) -> intake -> manager -> governor -> approved -> searched
 *           -> examined -> responded -> closed
 *   rejected or withdrawn from any open state
 *
 * A case in state legal, intake, manager or governor waits for that review.
 * Every action re-reads the acting user in its own transaction, checks the
 * role and the rules, changes the case and appends its audit entry in the
 * same transaction (GOV-20).  Refusals: CUSTOS_EPERM (wrong role, expired
 * training, the same user twice; exit 4), CUSTOS_EPOLICY (the rule or the
 * state does not allow it; the message names the rule; exit 3),
 * CUSTOS_ENOENT (no such case).
 *
 * Nothing a case function returns carries a score, a rank, a holder's
 * identity or another candidate (GOV-18); the only identity that leaves is
 * the five-field custos_disclosure of the response letter (GOV-17).
 */
#ifndef CUSTOS_CASES_H
#define CUSTOS_CASES_H

#include <stdbool.h>
#include <stdint.h>

#include "custos/core.h"
#include "custos/face.h"
#include "custos/policy.h"

/* ---- the state machine ---------------------------------------------------- */

typedef enum custos_case_state {
  CUSTOS_CASE_LEGAL = 0,      /* waits for the legal review (GOV-04, GOV-11) */
  CUSTOS_CASE_INTAKE = 1,     /* waits for the intake review (GOV-10) */
  CUSTOS_CASE_MANAGER = 2,    /* waits for the manager's review */
  CUSTOS_CASE_GOVERNOR = 3,   /* waits for the governor's-office review */
  CUSTOS_CASE_APPROVED = 4,   /* all reviews approved: may be searched once (GOV-13) */
  CUSTOS_CASE_SEARCHED = 5,   /* candidate list stored; examiners mark (GOV-15) */
  CUSTOS_CASE_EXAMINED = 6,   /* two examiners marked: outcome known */
  CUSTOS_CASE_RESPONDED = 7,  /* the letter went out (GOV-17) */
  CUSTOS_CASE_CLOSED = 8,     /* closed; retention runs (GOV-21) */
  CUSTOS_CASE_REJECTED = 9,   /* rejected by a check or a review */
  CUSTOS_CASE_WITHDRAWN = 10, /* withdrawn */
  CUSTOS_CASE_STATE_COUNT
} custos_case_state;

typedef enum custos_case_action {
  CUSTOS_CASE_APPROVE = 0,    /* a review approves: to the next stage */
  CUSTOS_CASE_REJECT = 1,     /* a review rejects, or a re-check fails (GOV-12) */
  CUSTOS_CASE_SEARCH = 2,     /* the one search (GOV-13) */
  CUSTOS_CASE_MARK = 3,       /* the first examiner's mark (GOV-15) */
  CUSTOS_CASE_MARK_FINAL = 4, /* the second, distinct examiner's mark */
  CUSTOS_CASE_RESPOND = 5,    /* the response letter (GOV-17) */
  CUSTOS_CASE_CLOSE = 6,      /* closes a responded case */
  CUSTOS_CASE_WITHDRAW = 7,   /* withdraws an open case */
  CUSTOS_CASE_ACTION_COUNT
} custos_case_action;

/* "legal", "intake", ..., "withdrawn"; "?" for others. */
CUSTOS_API const char *custos_case_state_name(custos_case_state s);
/* Parses a state name; CUSTOS_EINVAL (listing the states) when it is not one. */
CUSTOS_API int custos_case_state_parse(const char *name, custos_case_state *out, custos_err *err);
/* "approve", "reject", "search", "mark", "mark_final", "respond", "close", "withdraw". */
CUSTOS_API const char *custos_case_action_name(custos_case_action a);
/* Whether s is open (not closed, rejected or withdrawn). */
CUSTOS_API bool custos_case_state_open(custos_case_state s);

/* The transition table: the state after action a in state s into *to.
 * CUSTOS_EPOLICY (naming both) when the table has no such transition. */
CUSTOS_API int custos_case_transition(custos_case_state s, custos_case_action a,
                                      custos_case_state *to, custos_err *err);

/* ---- the workflow ----------------------------------------------------------- */

/*
 * custos request submit (an intake staffer): loads the request file, runs
 * GOV-01..09 with policy p (NULL: the default) and engine e for the probe,
 * and stores the case with its order document and probe (rejected requests
 * too, with their reasons).  A MALFORMED request stores nothing:
 * CUSTOS_EINVAL (module "request", the field named).  *case_id receives the
 * case; *res (may be NULL) the checks' result, freed with
 * custos_policy_result_free.
 */
CUSTOS_API int custos_case_submit(custos *c, const custos_session *as, const custos_policy *p,
                                  const char *request_path, custos_face_engine *e, int64_t *case_id,
                                  custos_policy_result **res, custos_err *err);

/* One review (GOV-10, GOV-11). */
typedef struct custos_case_review_in {
  const char *stage;        /* "legal", "intake", "manager", "governor" */
  bool approve;             /* approve or reject */
  bool immigration_related; /* the answer to "is this request immigration-related?" */
  const char *note;         /* the reviewer's note (required, at most 2048 bytes) */
  const char *rests_on;     /* ESCALATE_MIXED_OFFENSE, governor: the citation of the
                               non-immigration crime the case rests on; else NULL */
} custos_case_review_in;

CUSTOS_API int custos_case_review(custos *c, const custos_session *as, int64_t case_id,
                                  const custos_case_review_in *in, custos_err *err);

/* What a search did (no candidates, no scores). */
typedef struct custos_case_search_info {
  int64_t gallery_size; /* templates searched */
  int64_t candidates;   /* list size stored */
  int64_t checkpoint;   /* audit tree size the search was recorded after */
} custos_case_search_info;

/* custos request search (a trained examiner, GOV-12..14): the probe through
 * engine e (opened on models_dir; NULL: the build's folder, which also names
 * the template model searched), the gallery through the index, the top
 * `candidates` of policy p (NULL: default) stored with the case. */
CUSTOS_API int custos_case_search(custos *c, const custos_session *as, int64_t case_id,
                                  const custos_policy *p, custos_face_engine *e,
                                  const char *models_dir, custos_case_search_info *out,
                                  custos_err *err);

/* custos request examine (a trained examiner, GOV-15): writes the probe and
 * the candidates' photos (found under photos_dir, checked against their
 * SHA-256; NULL: none written) into a new private folder (0700) under
 * tmp_dir (NULL: $TMPDIR or /tmp) and returns in *json (the caller frees it
 * with free()) {"probe": path, "candidates": [{"label", "photo",
 * "photo_sha256"}]} in this examiner's own random order with labels of its
 * own: no score, no rank, no identity. */
CUSTOS_API int custos_case_examine(custos *c, const custos_session *as, int64_t case_id,
                                   const char *photos_dir, const char *tmp_dir, char **json,
                                   custos_err *err);

/* custos request adjudicate: this examiner's mark, a label from their own
 * examine list or NULL for none.  The second distinct examiner's mark sets
 * the outcome (GOV-15). */
CUSTOS_API int custos_case_adjudicate(custos *c, const custos_session *as, int64_t case_id,
                                      const char *label, custos_err *err);

/* The response letter (GOV-16, GOV-17). */
typedef struct custos_case_letter {
  int64_t case_id;
  char agency[CUSTOS_REQUEST_MAX_TEXT + 1];    /* the agency's name */
  char case_number[CUSTOS_REQUEST_MAX_ID + 1]; /* the agency's case number; "" none */
  const char *outcome;         /* static: "possible_match", "no_identification", "inconclusive" */
  custos_disclosure *identity; /* the five fields, or NULL: no identification made */
  const char *statement;       /* static: the lead-only statement or "no identification made" */
} custos_case_letter;

/* custos request respond (intake or manager): the letter of an examined case;
 * the case becomes responded.  *out is the caller's (custos_case_letter_free). */
CUSTOS_API int custos_case_respond(custos *c, const custos_session *as, int64_t case_id,
                                   custos_case_letter **out, custos_err *err);
CUSTOS_API void custos_case_letter_free(custos_case_letter *l);
/* The letter as one line of JSON {"case", "agency", "outcome", "identity": the
 * five fields or null, "statement"} (the caller's, free(); wipe it first: it
 * holds the five fields), or NULL when out of memory. */
CUSTOS_API char *custos_case_letter_json(const custos_case_letter *l);

/* Closes a responded case (intake or manager). */
CUSTOS_API int custos_case_close(custos *c, const custos_session *as, int64_t case_id,
                                 custos_err *err);

/* Withdraws an open case (intake or manager); note as for reviews. */
CUSTOS_API int custos_case_withdraw(custos *c, const custos_session *as, int64_t case_id,
                                    const char *note, custos_err *err);

/* A case as JSON for `request show` (*json: the caller's, free()): what the
 * acting role may see; never candidates, scores, marks of others or holder
 * identities.  Every role may show a case. */
CUSTOS_API int custos_case_show(custos *c, const custos_session *as, int64_t case_id, char **json,
                                custos_err *err);

/* Largest order document a case keeps (bytes). */
#define CUSTOS_CASE_DOCUMENT_MAX ((size_t)64 << 20)

/* The order document of a case as it was submitted (PDF, JPEG or PNG bytes)
 * into *data (the caller's, free()) and *len, for the reviewers who must read
 * it (intake, manager, governor, legal; others CUSTOS_EPERM).  CUSTOS_ENOENT
 * when there is no such case or it has no document (a history case). */
CUSTOS_API int custos_case_document(custos *c, const custos_session *as, int64_t case_id,
                                    char **data, size_t *len, custos_err *err);

/* Cases as a JSON array of {"case", "state", "received", "agency", "level",
 * "department" (null when none), "history", "flags" (the checks' FLAG_ and
 * ESCALATE_ reasons)} (state NULL: all). */
CUSTOS_API int custos_case_list(custos *c, const custos_session *as, const char *state, char **json,
                                custos_err *err);

/* GOV-21 (an administrator): erases the probe and the candidate list of every
 * case closed, rejected or withdrawn more than retention_days (policy p; NULL:
 * default) ago; their SHA-256 stays in the log.  *purged: cases purged. */
CUSTOS_API int custos_case_purge_expired(custos *c, const custos_session *as,
                                         const custos_policy *p, int64_t *purged, custos_err *err);

/* The same purge run by the system on a schedule (custos serve): no session;
 * the log's entries name the actor "system", a name no user may have. */
CUSTOS_API int custos_case_purge_scheduled(custos *c, const custos_policy *p, int64_t *purged,
                                           custos_err *err);

/* ---- oversight (GOV-22) and history ------------------------------------------ */

/*
 * The oversight report (an auditor) of the years from..to (0: the first or
 * last year with a case) as JSON in *json (the caller's, free()):
 * {"checkpoint": {"size", "root"}, "years": {"2019": {"requests", "by_level",
 * "by_department", "by_agency", "by_outcome", "by_reason", "reviews",
 * "searches", "possible_matches", "releases", "searches_by_examiner",
 * "by_offense_class"}}}, every year of the range present (zeros included),
 * every figure counted from the cases, the checkpoint the latest signed one
 * of the log it was computed with, in the same read transaction.
 */
CUSTOS_API int custos_report(custos *c, const custos_session *as, int from, int to, char **json,
                             custos_err *err);

/* The forms custos_report_public renders the report in. */
typedef enum custos_report_format {
  CUSTOS_REPORT_JSON = 0, /* the document custos_report returns */
  CUSTOS_REPORT_HTML = 1  /* one self-contained page (inline <style>), an SVG bar chart per
                             breakdown of each year, the checkpoint in a <p> */
} custos_report_format;

/*
 * The same oversight report as custos_report, for anyone: no session, no
 * role, and no audit entry.  That is deliberate: the report holds only
 * aggregate counts (no names, no photos, no case records) and is meant to be
 * published (the public /oversight page), so reading it is a read of
 * published figures, not an act on personal data that the log must record.
 * from/to as custos_report.  *out (the caller's, free()): the JSON document
 * or the HTML page (fmt).  CUSTOS_EINVAL on a bad year range or format.
 */
CUSTOS_API int custos_report_public(custos *c, int from, int to, custos_report_format fmt,
                                    char **out, custos_err *err);

/* Renders a report document (the JSON text custos_report or
 * custos_report_public returned) in fmt, so every front end shows the same
 * page.  *out is the caller's (free()).  CUSTOS_EINVAL when json is not such
 * a document or fmt is unknown. */
CUSTOS_API int custos_report_render(const char *json, custos_report_format fmt, char **out,
                                    custos_err *err);

/*
 * custos request import-history (an administrator): legacy requests from a
 * CSV file with the header received,agency_name,agency_level,department,
 * outcome,offense_class (outcome approved|rejected|no_identification|
 * possible_match|withdrawn; offense_class criminal|mixed|immigration|none),
 * stored as history cases in one transaction with one audit entry; any bad
 * row refuses the whole file (CUSTOS_EINVAL naming line and field).
 * *imported: rows stored.
 */
CUSTOS_API int custos_case_import_history(custos *c, const custos_session *as, const char *path,
                                          int64_t *imported, custos_err *err);

#endif
