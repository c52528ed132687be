/*
 * policy internals: the policy object, the citation parser and the helpers
 * the files of src/policy share (and the unit tests reach).
 *
 * A policy is the default text parsed first, then a site's file on top.
 * Every table entry remembers which of the two it came from (its origin) and
 * its line, so that a file may repeat a default entry but never reclassify or
 * drop one, and so that every error names a line.
 *
 * Citations are parsed into a custos__cite: the code (a title of the U.S.
 * Code, the RCW, the INA, or another state's code), the section and its
 * subsections.  Two strings come from a cite: its display form
 * ("8 U.S.C. 1304(e)") and its key (lower case, the code's dots dropped:
 * "8 usc 1304(e)"), which is what tables compare.
 */
#ifndef CUSTOS_POLICY_INT_H
#define CUSTOS_POLICY_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "policy/policy.h"
#include "util/util.h"

/* ---- citations ------------------------------------------------------------- */

#define CITE_MAX_SUBS 8     /* subsection levels kept: (a)(1)(A)(ii)... */
#define CITE_SUB_MAX 9      /* bytes of one subsection label, with the NUL */
#define CITE_CODE_MAX 48    /* bytes of a code's display name, with the NUL */
#define CITE_SECTION_MAX 33 /* bytes of a section, with the NUL */

typedef enum cite_code {
  CITE_USC = 0,  /* a title of the United States Code */
  CITE_RCW = 1,  /* Revised Code of Washington */
  CITE_INA = 2,  /* Immigration and Nationality Act */
  CITE_OTHER = 3 /* another code ("Utah Code", "Cal. Penal Code") */
} cite_code;

typedef struct custos__cite {
  cite_code code;                         /* which code */
  int title;                              /* U.S.C. title 1..54; 0 otherwise */
  char name[CITE_CODE_MAX];               /* display name: "8 U.S.C.", "RCW", "INA", ... */
  char section[CITE_SECTION_MAX];         /* "1326", "9A.36.011"; a prefix when wildcard */
  int nsubs;                              /* subsections that follow the section */
  char subs[CITE_MAX_SUBS][CITE_SUB_MAX]; /* "a", "1", "A", ... as written */
  bool wildcard;                          /* table entries only: "RCW 9A.*" */
} custos__cite;

/* Parses a citation; false when the text is not a statute citation.  With
 * allow_wildcard, a trailing "*" makes the section a prefix ("INA *",
 * "RCW 9A.*"); subsections are then not allowed. */
bool custos__cite_parse(const char *text, bool allow_wildcard, custos__cite *c);

/* The display form with the first nsubs subsections ("8 U.S.C. 1304(e)";
 * a wildcard ends in "*"). */
void custos__cite_display(const custos__cite *c, int nsubs, char *out, size_t size);

/* The comparison key with the first nsubs subsections ("8 usc 1304(e)"; a
 * wildcard's key is its prefix, "rcw 9a."). */
void custos__cite_key(const custos__cite *c, int nsubs, char *out, size_t size);

/* ---- the policy -------------------------------------------------------------- */

enum { ORIGIN_DEFAULT = 0, ORIGIN_FILE = 1 };

typedef struct statute_entry {
  custos__cite cite;                   /* as parsed */
  char key[CUSTOS_POLICY_STATUTE_MAX]; /* custos__cite_key, all subsections */
  custos_offense_class cls;            /* IMMIGRATION or MIXED */
  int origin;                          /* ORIGIN_DEFAULT or ORIGIN_FILE */
  int line;                            /* where it was listed */
} statute_entry;

typedef struct alias_entry {
  char from[CUSTOS_POLICY_STATUTE_MAX]; /* key of the cited form, with its subsections */
  custos__cite to;                      /* what it stands for */
  int origin;
  int line;
} alias_entry;

typedef struct string_entry {
  char *text;  /* as written (owned) */
  char *match; /* the form compared (owned): see policy_match_form */
  int origin;
  int line;
} string_entry;

/* The string lists of a policy. */
typedef enum policy_list {
  LIST_FORMS = 0,         /* legal_process.administrative_forms (GOV-02) */
  LIST_DEPARTMENTS = 1,   /* agencies.immigration_authority.departments (GOV-07) */
  LIST_COMPONENTS = 2,    /* agencies.immigration_authority.components (GOV-07) */
  LIST_NAMES = 3,         /* agencies.immigration_authority.names (GOV-07) */
  LIST_NOT_COLLECTED = 4, /* fields.not_collected (GOV-19) */
  LIST_COUNT = 5
} policy_list;

typedef struct string_list {
  size_t count;
  size_t cap;
  string_entry *items;
} string_list;

struct custos_policy {
  custos_policy_params params; /* the scalars */
  size_t nstatutes, cap_statutes;
  statute_entry *statutes; /* immigration and mixed statutes */
  size_t naliases, cap_aliases;
  alias_entry *aliases; /* citations that stand for others */
  string_list lists[LIST_COUNT];
  char sha256[CUSTOS_POLICY_SHA256_HEX]; /* of the file, or of the default text */
  char *source;                          /* file name, or "built-in default" (owned) */
};

/* The form a string list compares: lower case, dots dropped, runs of
 * white space as one space, trimmed.  For forms (LIST_FORMS) also hyphens
 * and spaces dropped and a leading "form" removed ("Form I-247A" -> "i247a").
 * Writes at most size bytes. */
void custos__policy_match_form(const char *s, bool form, char *out, size_t size);

/* Whether text (in match form) matches pattern (in match form), where '*' in
 * the pattern stands for any run of characters. */
bool custos__policy_glob(const char *pattern, const char *text);

/* Whether text matches any entry of list (text is converted to match form). */
bool custos__policy_list_match(const custos_policy *p, policy_list list, const char *text);

/* SHA-256 of data in lower-case hex. */
int custos__policy_sha256_hex(const void *data, size_t len, char hex[CUSTOS_POLICY_SHA256_HEX],
                              custos_err *err);

/* The columns an import may hold that a policy may mark not collected. */
bool custos__policy_known_sensitive_field(const char *name);

/* Classifies a parsed citation (see custos_policy_classify). */
custos_offense_class custos__policy_classify_cite(const custos_policy *p, const custos__cite *c,
                                                  char *statute, size_t size);

#endif
