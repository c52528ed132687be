/*
 * The oversight report (GOV-22) and the import of legacy requests as history
 * (custos request import-history).  Every figure is counted from the cases
 * in one read transaction, which also names the log's latest signed
 * checkpoint, so a reader can check the numbers against the log.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/coreInt.h"
#include "custos/cases.h"
#include "store/store.h"
#include "util/util.h"

#define MOD "report"
#define HISTORY_MAX_BYTES ((size_t)16 << 20)
#define HISTORY_MAX_ROWS 100000

static void bump(json_t *obj, const char *key) {
  if (key == NULL || key[0] == '\0') return;
  json_t *v = json_object_get(obj, key);
  json_object_set_new(obj, key, json_integer(v ? json_integer_value(v) + 1 : 1));
}

static void bump_n(json_t *obj, const char *key) {
  json_object_set_new(obj, key, json_integer(json_integer_value(json_object_get(obj, key)) + 1));
}

static json_t *empty_year(void) {
  return json_pack("{s:i, s:{}, s:{}, s:{}, s:{}, s:{}, s:{}, s:i, s:i, s:i, s:{}, s:{}}",
                   "requests", 0, "by_level", "by_department", "by_agency", "by_outcome",
                   "by_reason", "reviews", "searches", 0, "possible_matches", 0, "releases", 0,
                   "searches_by_examiner", "by_offense_class");
}

typedef struct report_ctx {
  json_t *years;
  int from, to; /* 0: open */
  int min_year, max_year;
} report_ctx;

/* A case's outcome for the report. */
static const char *outcome_of(const custos__case_row *row, const json_t *rec) {
  const char *h = json_string_value(json_object_get(rec, "history_outcome"));
  if (h) return h;
  const char *o = json_string_value(json_object_get(rec, "outcome"));
  if (strcmp(row->state, "rejected") == 0) return "rejected";
  if (strcmp(row->state, "withdrawn") == 0) return "withdrawn";
  if (o) return o;
  if (strcmp(row->state, "approved") == 0 || strcmp(row->state, "searched") == 0) return "approved";
  return "pending";
}

static int report_one(const custos__case_row *row, void *ctx) {
  report_ctx *r = ctx;
  int year = 0; /* YYYY-..., checked by the store */
  for (int i = 0; i < 4 && row->received[i] >= '0' && row->received[i] <= '9'; i++)
    year = year * 10 + (row->received[i] - '0');
  if ((r->from && year < r->from) || (r->to && year > r->to)) return 0;
  json_t *rec = json_loads(row->record, 0, NULL);
  if (rec == NULL) return CUSTOS_ECORRUPT;
  char y[16];
  snprintf(y, sizeof y, "%d", year);
  json_t *Y = json_object_get(r->years, y);
  if (Y == NULL) {
    Y = empty_year();
    json_object_set_new(r->years, y, Y);
  }
  if (r->min_year == 0 || year < r->min_year) r->min_year = year;
  if (year > r->max_year) r->max_year = year;
  json_t *ag = json_object_get(rec, "agency");
  bump_n(Y, "requests");
  bump(json_object_get(Y, "by_level"), json_string_value(json_object_get(ag, "level")));
  bump(json_object_get(Y, "by_department"), json_string_value(json_object_get(ag, "department")));
  bump(json_object_get(Y, "by_agency"), json_string_value(json_object_get(ag, "name")));
  const char *outcome = outcome_of(row, rec);
  bump(json_object_get(Y, "by_outcome"), outcome);
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(rec, "reasons"), i, v) {
    bump(json_object_get(Y, "by_reason"), json_string_value(v));
  }
  json_array_foreach(json_object_get(rec, "reviews"), i, v) {
    bump(json_object_get(Y, "reviews"), json_string_value(json_object_get(v, "stage")));
  }
  json_t *s = json_object_get(rec, "search");
  if (s) {
    bump_n(Y, "searches");
    bump(json_object_get(Y, "searches_by_examiner"),
         json_string_value(json_object_get(s, "examiner")));
  }
  if (strcmp(outcome, "possible_match") == 0) bump_n(Y, "possible_matches");
  const char *resp = json_string_value(json_object_get(rec, "response"));
  if (resp && strcmp(resp, "limited_identity") == 0) bump_n(Y, "releases");
  json_array_foreach(json_object_get(rec, "offenses"), i, v) {
    bump(json_object_get(Y, "by_offense_class"), json_string_value(json_object_get(v, "class")));
  }
  json_decref(rec);
  return 0;
}

/* HTML-escapes s onto f. */
static void esc(FILE *f, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
      case '<':
        fprintf(f, "&lt;");
        break;
      case '>':
        fprintf(f, "&gt;");
        break;
      case '&':
        fprintf(f, "&amp;");
        break;
      case '"':
        fprintf(f, "&quot;");
        break;
      default:
        fputc(*s, f);
    }
  }
}

/* One horizontal bar chart of an object's counts. */
static void svg_bars(FILE *f, const char *title, json_t *obj) {
  size_t n = json_object_size(obj);
  if (n == 0) return;
  long long max = 1;
  const char *k;
  json_t *v;
  json_object_foreach(obj, k, v) if (json_integer_value(v) > max) max = json_integer_value(v);
  fprintf(f, "<h3>");
  esc(f, title);
  fprintf(f,
          "</h3>\n<svg role=\"img\" width=\"640\" height=\"%zu\" "
          "xmlns=\"http://www.w3.org/2000/svg\">\n",
          n * 22 + 4);
  size_t i = 0;
  json_object_foreach(obj, k, v) {
    long long cnt = json_integer_value(v);
    int w = (int)(cnt * 360 / max);
    fprintf(f, "<text x=\"0\" y=\"%zu\" font-size=\"13\">", i * 22 + 16);
    esc(f, k);
    fprintf(f,
            "</text><rect x=\"240\" y=\"%zu\" width=\"%d\" height=\"16\" "
            "fill=\"#3465a4\"/><text x=\"%d\" y=\"%zu\" font-size=\"13\">%lld</text>\n",
            i * 22 + 4, w, 246 + w, i * 22 + 16, cnt);
    i++;
  }
  fprintf(f, "</svg>\n");
}

/* The report document as one self-contained HTML page onto f. */
static void render_html(FILE *f, json_t *doc) {
  json_t *cp = json_object_get(doc, "checkpoint");
  fprintf(f,
          "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<title>custos oversight report</title>"
          "<style>body{font-family:sans-serif;max-width:60em;margin:auto}"
          "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ccc}"
          "</style></head><body>\n<h1>Face-search requests: oversight report</h1>\n");
  fprintf(f, "<p>Computed at audit checkpoint: tree size %lld, root <code>%s</code>.</p>\n",
          (long long)json_integer_value(json_object_get(cp, "size")),
          json_string_value(json_object_get(cp, "root")));
  const char *year;
  json_t *Y;
  json_object_foreach(json_object_get(doc, "years"), year, Y) {
    fprintf(f, "<section><h2>%s</h2>\n<table>", year);
    static const char *const NUMS[] = {"requests", "searches", "possible_matches", "releases"};
    for (size_t i = 0; i < 4; i++) {
      fprintf(f, "<tr><th>%s</th><td>%lld</td></tr>", NUMS[i],
              (long long)json_integer_value(json_object_get(Y, NUMS[i])));
    }
    fprintf(f, "</table>\n");
    static const char *const OBJS[][2] = {{"by_level", "Requests by agency level"},
                                          {"by_department", "Requests by federal department"},
                                          {"by_agency", "Requests by agency"},
                                          {"by_outcome", "Outcomes"},
                                          {"by_reason", "Reason codes"},
                                          {"reviews", "Reviews by stage"},
                                          {"searches_by_examiner", "Searches by examiner"},
                                          {"by_offense_class", "Offense classes"}};
    for (size_t i = 0; i < sizeof OBJS / sizeof OBJS[0]; i++) {
      svg_bars(f, OBJS[i][1], json_object_get(Y, OBJS[i][0]));
    }
    fprintf(f, "</section>\n");
  }
  fprintf(f, "</body></html>\n");
}

/* The report document of from..to in *doc (the caller's), counted in one
 * read transaction: acting as `as` (an auditor) when as is not NULL, else
 * without a session (custos_report_public). */
static int report_compute(custos *c, const custos_session *as, int from, int to, json_t **doc,
                          custos_err *err) {
  custos_txn *t = NULL;
  *doc = NULL;
  if ((from && (from < 1800 || from > 2999)) || (to && (to < 1800 || to > 2999)) ||
      (from && to && from > to)) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "--from/--to: years 1800..2999, from <= to");
  }
  int rc = as != NULL ? custos__core_begin_as(c, as, CUSTOS_ROLE_AUDITOR, false, &t, err)
                      : custos__store_begin(c->store, false, &t, err);
  if (rc != CUSTOS_OK) return rc;
  report_ctx r = {json_object(), from, to, 0, 0};
  custos_status st;
  memset(&st, 0, sizeof st);
  rc = custos__store_case_foreach(t, report_one, &r, err);
  if (rc > 0) rc = CUSTOS_ECORRUPT;
  if (rc == CUSTOS_OK) rc = custos__core_log_status(t, &st, err);
  custos__store_rollback(t);
  if (rc == CUSTOS_OK) {
    /* every year of the range, zeros included */
    int lo = from ? from : r.min_year, hi = to ? to : r.max_year;
    for (int y = lo; lo > 0 && y <= hi; y++) {
      char ys[16];
      snprintf(ys, sizeof ys, "%d", y);
      if (!json_object_get(r.years, ys)) json_object_set_new(r.years, ys, empty_year());
    }
    *doc = json_pack("{s:{s:I, s:s}, s:O}", "checkpoint", "size", (json_int_t)st.checkpoint_size,
                     "root", st.checkpoint_root, "years", r.years);
    if (*doc == NULL) rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  }
  json_decref(r.years);
  return rc;
}

/* Renders doc in fmt into *out (the caller's). */
static int report_render(json_t *doc, custos_report_format fmt, char **out, custos_err *err) {
  if (fmt == CUSTOS_REPORT_JSON) {
    *out = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
  } else {
    size_t n = 0;
    FILE *f = open_memstream(out, &n);
    if (f == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    /* Keys in sorted order, as the JSON document lists them (and as
     * custos report --format html, which renders that document, shows them). */
    char *text = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    json_t *sorted = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (sorted != NULL) render_html(f, sorted);
    bool failed = sorted == NULL || ferror(f) != 0;
    json_decref(sorted);
    if (fclose(f) != 0 || failed) {
      free(*out);
      *out = NULL;
    }
  }
  return *out ? CUSTOS_OK : custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
}

int custos_report(custos *c, const custos_session *as, int from, int to, char **json,
                  custos_err *err) {
  json_t *doc = NULL;
  *json = NULL;
  int rc = report_compute(c, as, from, to, &doc, err);
  if (rc == CUSTOS_OK) rc = report_render(doc, CUSTOS_REPORT_JSON, json, err);
  json_decref(doc);
  return rc;
}

int custos_report_public(custos *c, int from, int to, custos_report_format fmt, char **out,
                         custos_err *err) {
  json_t *doc = NULL;
  *out = NULL;
  if (fmt != CUSTOS_REPORT_JSON && fmt != CUSTOS_REPORT_HTML) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "format: json or html");
  }
  /* No session and no audit entry: a public read of published aggregates
   * (see cases.h).  report_compute opens a read transaction of its own. */
  int rc = report_compute(c, NULL, from, to, &doc, err);
  if (rc == CUSTOS_OK) rc = report_render(doc, fmt, out, err);
  json_decref(doc);
  return rc;
}

int custos_report_render(const char *json, custos_report_format fmt, char **out,
                         custos_err *err) {
  *out = NULL;
  if (fmt != CUSTOS_REPORT_JSON && fmt != CUSTOS_REPORT_HTML) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "format: json or html");
  }
  json_t *doc = json != NULL ? json_loads(json, 0, NULL) : NULL;
  if (!json_is_object(doc) || !json_is_object(json_object_get(doc, "years"))) {
    json_decref(doc);
    return custos__err(err, CUSTOS_EINVAL, MOD, "not an oversight report document");
  }
  int rc = report_render(doc, fmt, out, err);
  json_decref(doc);
  return rc;
}

/* ---- history ------------------------------------------------------------------------ */

/* Splits one CSV line (RFC 4180 quotes, no line breaks inside) into f[0..6). */
static int split_csv(char *line, char **f, int want) {
  int n = 0;
  char *p = line;
  while (n < want) {
    char *out = p;
    f[n++] = out;
    if (*p == '"') {
      p++;
      for (;;) {
        if (*p == '\0') return -1;
        if (*p == '"' && p[1] == '"') {
          *out++ = '"';
          p += 2;
        } else if (*p == '"') {
          p++;
          break;
        } else {
          *out++ = *p++;
        }
      }
      if (*p != ',' && *p != '\0') return -1;
    } else {
      while (*p && *p != ',') *out++ = *p++;
    }
    bool more = *p == ',';
    if (*p) p++;
    *out = '\0';
    if (!more) break;
  }
  return *p ? -1 : n;
}

static bool one_of(const char *v, const char *words) {
  size_t n = strlen(v);
  const char *p = words;
  while (*p) {
    const char *e = strchr(p, ' ');
    size_t wl = e ? (size_t)(e - p) : strlen(p);
    if (wl == n && n > 0 && memcmp(p, v, n) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

int custos_case_import_history(custos *c, const custos_session *as, const char *path,
                               int64_t *imported, custos_err *err) {
  custos_txn *t = NULL;
  char *text = NULL;
  *imported = 0;
  /* The role first: a refused user learns nothing about the file. */
  int rc0 = custos__core_begin_as(c, as, CUSTOS_ROLE_ADMIN, false, &t, err);
  custos__store_rollback(t);
  t = NULL;
  if (rc0 != CUSTOS_OK) return rc0;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) return custos__err(err, CUSTOS_ENOENT, MOD, "%s: cannot open", path);
  custos_buf b;
  custos__buf_init(&b, HISTORY_MAX_BYTES);
  char chunk[8192];
  size_t got;
  int rc = CUSTOS_OK;
  while (rc == CUSTOS_OK && (got = fread(chunk, 1, sizeof chunk, fp)) > 0) {
    rc = custos__buf_append(&b, chunk, got);
  }
  fclose(fp);
  if (rc != CUSTOS_OK) {
    custos__buf_free(&b);
    return custos__err(err, rc, MOD, "%s: larger than %zu bytes", path, (size_t)HISTORY_MAX_BYTES);
  }
  if ((rc = custos__core_begin_as(c, as, CUSTOS_ROLE_ADMIN, true, &t, err))) goto out;
  char *save = NULL, *line = b.data ? strtok_r(b.data, "\n", &save) : NULL;
  int lineno = 1;
  if (line == NULL) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s: empty", path);
    goto out;
  }
  size_t ll = strlen(line);
  if (ll && line[ll - 1] == '\r') line[ll - 1] = '\0';
  if (strcmp(line, "received,agency_name,agency_level,department,outcome,offense_class") != 0) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD,
                     "%s:1: the header must be received,agency_name,agency_level,department,"
                     "outcome,offense_class",
                     path);
    goto out;
  }
  while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
    lineno++;
    ll = strlen(line);
    if (ll && line[ll - 1] == '\r') line[--ll] = '\0';
    if (ll == 0) continue;
    char *f[6];
    if (split_csv(line, f, 6) != 6) {
      rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s:%d: expected 6 fields", path, lineno);
      goto out;
    }
    const char *bad = NULL;
    custos_err e2;
    if (custos__date_check(f[0], "received", &e2) != CUSTOS_OK)
      bad = "received";
    else if (custos__text_check(f[1], "agency_name", CUSTOS_REQUEST_MAX_TEXT, false, &e2))
      bad = "agency_name";
    else if (!one_of(f[2], "federal state local tribal out_of_state foreign"))
      bad = "agency_level";
    else if (custos__text_check(f[3], "department", CUSTOS_REQUEST_MAX_TEXT, true, &e2))
      bad = "department";
    else if (!one_of(f[4], "approved rejected no_identification possible_match withdrawn"))
      bad = "outcome";
    else if (!one_of(f[5], "criminal mixed immigration none"))
      bad = "offense_class";
    if (bad || lineno > HISTORY_MAX_ROWS + 1) {
      rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s:%d: %s: not valid", path, lineno,
                       bad ? bad : "rows");
      goto out;
    }
    json_t *rec =
        json_pack("{s:{s:s, s:s, s:o}, s:s, s:s, s:[{s:s}], s:[], s:[], s:[], s:b}", "agency",
                  "name", f[1], "level", f[2], "department",
                  f[3][0] ? json_string(f[3]) : json_null(), "received", f[0], "history_outcome",
                  f[4], "offenses", "class", f[5], "reasons", "reviews", "marks", "history", 1);
    text = rec ? json_dumps(rec, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(rec);
    if (text == NULL) {
      rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
      goto out;
    }
    custos__case_row row;
    memset(&row, 0, sizeof row);
    const char *st = strcmp(f[4], "rejected") == 0    ? "rejected"
                     : strcmp(f[4], "withdrawn") == 0 ? "withdrawn"
                                                      : "closed";
    snprintf(row.state, sizeof row.state, "%s", st);
    snprintf(row.received, sizeof row.received, "%s", f[0]);
    custos__timestamp_now(row.created);
    memcpy(row.closed, row.created, sizeof row.closed);
    row.history = true;
    row.record = text;
    int64_t id;
    rc = custos__store_case_add(t, &row, NULL, 0, NULL, 0, &id, err);
    free(text);
    text = NULL;
    if (rc != CUSTOS_OK) goto out;
    (*imported)++;
  }
  char rows[24];
  snprintf(rows, sizeof rows, "%lld", (long long)*imported);
  custos_audit_detail d[] = {{"rows", rows}};
  custos_audit_entry e = {.actor = custos_session_user(as),
                          .action = "case.import_history",
                          .detail = d,
                          .n_detail = 1};
  rc = custos__core_record(c, t, &e, err);
  if (rc == CUSTOS_OK) {
    rc = custos__store_commit(t, err);
    t = NULL;
  }
out:
  if (rc != CUSTOS_OK) *imported = 0;
  custos__store_rollback(t);
  free(text);
  custos__buf_free(&b);
  return rc;
}
