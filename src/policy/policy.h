/*
 * policy: the module's interface to the modules above it (cases, report,
 * core).  The public API (include/custos/policy.h) is the whole interface;
 * this header adds the calendar helpers those modules share with the checks,
 * so that every date in custos is read and compared the same way.
 */
#ifndef CUSTOS_POLICY_POLICY_H
#define CUSTOS_POLICY_POLICY_H

#include <stdbool.h>

#include "custos/policy.h"

/* Days since 1970-01-01 of a strict "YYYY-MM-DD" (a real calendar date, years
 * 1800..2999); false for anything else. */
bool custos__policy_date_parse(const char *s, long *days);

/* Writes the date `days` after 1970-01-01 as YYYY-MM-DD into out (11 bytes). */
void custos__policy_date_format(long days, char out[11]);

#endif
