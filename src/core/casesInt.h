/*
 * The request workflow's actions with the day given (src/core/cases_api.c):
 * what the public custos_case_search and custos_case_purge_expired run with
 * today's date.  For the unit tests, which show GOV-12 and GOV-21 on other
 * days; no front end can reach these.
 */
#ifndef CUSTOS_CORE_CASES_INT_H
#define CUSTOS_CORE_CASES_INT_H

#include "custos/cases.h"

/* custos_case_search on day `today` (YYYY-MM-DD; NULL: today). */
int custos__case_search_on(custos *c, const custos_session *as, int64_t case_id,
                           const custos_policy *p, custos_face_engine *e, const char *models_dir,
                           const char *today, custos_case_search_info *out, custos_err *err);

/* custos_case_purge_expired on day `today` (YYYY-MM-DD; NULL: today). */
int custos__case_purge_on(custos *c, const custos_session *as, const custos_policy *p,
                          const char *today, int64_t *purged, custos_err *err);

#endif
