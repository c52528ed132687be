/*
 * custos report: the oversight report (GOV-22) as JSON, CSV or one
 * self-contained HTML page with an SVG bar chart per year.  The figures and
 * the checkpoint they were computed at come from the library
 * (custos_report); this file only renders them.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "custos/custos.h"

static const char *opt_from, *opt_to, *opt_format, *opt_out;

static const cli_opt report_opts[] = {
    {"--from", "YEAR", &opt_from, "first year (default: the first with a request)"},
    {"--to", "YEAR", &opt_to, "last year (default: the last with a request)"},
    {"--format", "html|csv|json", &opt_format, "output format (required)"},
    {"--out", "FILE", &opt_out, "write to FILE instead of stdout"},
    {NULL, NULL, NULL, NULL}};

static int parse_year(const char *s, int *y) {
  if (s == NULL) {
    *y = 0;
    return 0;
  }
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || v < 1800 || v > 2999) return -1;
  *y = (int)v;
  return 0;
}

/* HTML-escapes s onto f. */
static void csv_field(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void render_csv(FILE *f, json_t *doc) {
  json_t *cp = json_object_get(doc, "checkpoint");
  fprintf(f, "year,section,key,value\n");
  fprintf(f, ",checkpoint,size,%lld\n", (long long)json_integer_value(json_object_get(cp, "size")));
  fprintf(f, ",checkpoint,root,%s\n", json_string_value(json_object_get(cp, "root")));
  const char *year;
  json_t *Y;
  json_object_foreach(json_object_get(doc, "years"), year, Y) {
    const char *sec;
    json_t *v;
    json_object_foreach(Y, sec, v) {
      if (json_is_integer(v)) {
        fprintf(f, "%s,%s,,%lld\n", year, sec, (long long)json_integer_value(v));
      } else {
        const char *k;
        json_t *n;
        json_object_foreach(v, k, n) {
          fprintf(f, "%s,%s,", year, sec);
          csv_field(f, k);
          fprintf(f, ",%lld\n", (long long)json_integer_value(n));
        }
      }
    }
  }
}

/* One horizontal bar chart of an object's counts. */
static int run_report(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  int from, to;
  if (parse_year(opt_from, &from) || parse_year(opt_to, &to)) {
    cli_error(cmd->words, "--from/--to: a year 1800..2999", NULL);
    return CLI_USAGE;
  }
  const char *fmt = opt_format ? opt_format : (common->json ? "json" : NULL);
  if (fmt == NULL || (strcmp(fmt, "json") && strcmp(fmt, "csv") && strcmp(fmt, "html"))) {
    cli_error(cmd->words, "--format html|csv|json is required", NULL);
    return CLI_USAGE;
  }
  custos *c = NULL;
  custos_session *as = NULL;
  custos_err err;
  custos_err_clear(&err);
  int status = cli_login(cmd, common, &c, &as);
  if (status != CLI_OK) return status;
  char *text = NULL;
  int rc = custos_report(c, as, from, to, &text, &err);
  if (rc != CUSTOS_OK) {
    status = cli_fail(cmd->words, rc, &err);
    goto out;
  }
  FILE *f = stdout;
  if (opt_out) {
    int fd = open(opt_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
      cli_error(cmd->words, "cannot write", opt_out);
      status = CLI_INTERNAL;
      goto out;
    }
  }
  json_t *doc = json_loads(text, 0, NULL);
  if (strcmp(fmt, "json") == 0) {
    char *s = json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS);
    if (s) fprintf(f, "%s\n", s);
    free(s);
  } else if (strcmp(fmt, "csv") == 0) {
    render_csv(f, doc);
  } else {
    char *html = NULL;
    rc = custos_report_render(text, CUSTOS_REPORT_HTML, &html, &err);
    if (rc == CUSTOS_OK) {
      fputs(html, f);
    } else {
      status = cli_fail(cmd->words, rc, &err);
    }
    free(html);
  }
  json_decref(doc);
  if (f != stdout && fclose(f) != 0) status = CLI_INTERNAL;
out:
  free(text);
  cli_logout(c, as);
  return status;
}

const cli_cmd cli_report_cmds[] = {
    {"report", "--format html|csv|json --as AUDITOR", "the oversight report (GOV-22)",
     "Counts per year: requests by agency level, department and agency; outcomes; reason\n"
     "codes; reviews by stage; searches; possible matches; releases; searches per\n"
     "examiner; offense classes — and names the audit checkpoint (size and root) they\n"
     "were computed at.  HTML is one self-contained page with a bar chart per figure.",
     0, 0, report_opts, run_report},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL}};
