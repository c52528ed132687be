/*
 * Calendar dates: strict "YYYY-MM-DD" parsing to a day number and back, and
 * today's date in UTC.  Day numbers count from 1970-01-01 in the proleptic
 * Gregorian calendar (Howard Hinnant's days_from_civil), so comparing dates
 * and counting the days between them is integer arithmetic.
 */
#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "policy/policy.h"

static long days_from_civil(long y, long m, long d) {
  y -= m <= 2;
  const long era = (y >= 0 ? y : y - 399) / 400;
  const long yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

static bool leap(long y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool custos__policy_date_parse(const char *s, long *days) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (s == NULL) return false;
  for (int i = 0; i < 10; i++) {
    const char ch = s[i];
    if (i == 4 || i == 7) {
      if (ch != '-') return false;
    } else if (ch < '0' || ch > '9') {
      return false;
    }
  }
  if (s[10] != '\0') return false;
  const long y = (s[0] - '0') * 1000L + (s[1] - '0') * 100L + (s[2] - '0') * 10L + (s[3] - '0');
  const long m = (s[5] - '0') * 10L + (s[6] - '0');
  const long d = (s[8] - '0') * 10L + (s[9] - '0');
  if (y < 1800 || y > 2999 || m < 1 || m > 12 || d < 1) return false;
  if (d > mdays[m - 1] + (m == 2 && leap(y))) return false;
  *days = days_from_civil(y, m, d);
  return true;
}

void custos__policy_date_format(long days, char out[11]) {
  /* civil_from_days */
  days += 719468;
  const long era = (days >= 0 ? days : days - 146096) / 146097;
  const long doe = days - era * 146097;
  const long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const long mp = (5 * doy + 2) / 153;
  const long d = doy - (153 * mp + 2) / 5 + 1;
  const long m = mp < 10 ? mp + 3 : mp - 9;
  const long y = yoe + era * 400 + (m <= 2);
  const unsigned long uy = (unsigned long)(y < 0 ? 0 : y % 10000);
  const unsigned long v[3] = {uy, (unsigned long)m, (unsigned long)d};
  const int width[3] = {4, 2, 2};
  size_t n = 0;
  for (int i = 0; i < 3; i++) {
    if (i > 0) out[n++] = '-';
    unsigned long x = v[i];
    for (int k = width[i] - 1; k >= 0; k--) {
      out[n + (size_t)k] = (char)('0' + x % 10);
      x /= 10;
    }
    n += (size_t)width[i];
  }
  out[n] = '\0';
}

void custos_policy_today(char out[11]) {
  time_t now = time(NULL);
  struct tm tm;
  if (gmtime_r(&now, &tm) == NULL) {
    snprintf(out, 11, "1970-01-01");
    return;
  }
  custos__policy_date_format(days_from_civil(tm.tm_year + 1900L, tm.tm_mon + 1L, tm.tm_mday), out);
}
