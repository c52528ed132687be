/*
 * cases: the request workflow's rules that need no database — the transition
 * table (include/custos/cases.h), who may do which review (GOV-10, GOV-11),
 * the outcome of two marks (GOV-15), the release rule (GOV-16) and the blind
 * labels.  src/core/cases_api.c drives them inside transactions.
 */
#ifndef CUSTOS_CASES_CASES_H
#define CUSTOS_CASES_CASES_H

#include <stdbool.h>
#include <stddef.h>

#include "custos/cases.h"

#define CUSTOS__CASE_LABEL_LEN 6 /* characters of a blind label */

/* The state a stage's review is done in ("legal" -> CUSTOS_CASE_LEGAL);
 * CUSTOS_EINVAL for a name that is not a stage. */
int custos__cases_stage_state(const char *stage, custos_case_state *out, custos_err *err);

/* The role a stage's reviewer must hold. */
custos_role custos__cases_stage_role(custos_case_state stage);

/*
 * GOV-10, GOV-11: whether `user` with `role` may do the review of `stage` on
 * a case in state s, registered by `submitter`, whose earlier reviews were by
 * prior[0..nprior).  CUSTOS_EPOLICY when the case does not wait for this
 * stage; CUSTOS_EPERM for the wrong role, a user who already reviewed, or the
 * submitter past the intake review.
 */
int custos__cases_review_allowed(const char *stage, custos_case_state s, custos_role role,
                                 const char *user, const char *submitter, const char *const *prior,
                                 size_t nprior, custos_err *err);

/* GOV-10: a review approves only with the answer "no" to "immigration-related?". */
bool custos__cases_review_approves(bool approve, bool immigration_related);

/* GOV-15: the outcome of two marks (candidate index, -1 for none):
 * "possible_match", "no_identification" or "inconclusive". */
const char *custos__cases_outcome(int mark_a, int mark_b);

/* GOV-16: whether a candidate at distance d may be released under threshold. */
bool custos__cases_releasable(double distance, double threshold);

/* A new random label of CUSTOS__CASE_LABEL_LEN characters (no 0/O/1/I) into
 * out[CUSTOS__CASE_LABEL_LEN + 1]; it says nothing about rank. */
void custos__cases_label(char out[CUSTOS__CASE_LABEL_LEN + 1]);

/* A random permutation of 0..n-1 into perm. */
void custos__cases_shuffle(int *perm, size_t n);

/* The letter's statements (GOV-17). */
#define CUSTOS__CASE_LEAD_STATEMENT                                                         \
  "This is an investigative lead only: it is not a positive identification, and it is not " \
  "probable cause on its own."
#define CUSTOS__CASE_NO_ID_STATEMENT "No identification made."

#endif
