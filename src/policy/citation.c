/*
 * Citations: parsing, normalisation and classification (GOV-05, GOV-06).
 *
 * A citation is read as words: the code's name, an optional section marker
 * ("§", "§§", "sec.", "section"), then the section with its subsections
 * ("1326(a)(1)").  Commas separate words like spaces do, so "Title 8, United
 * States Code, Section 1326" reads as "8 U.S.C. 1326".  Recognised codes:
 *
 *   code                               written as                       section
 *   United States Code, titles 1..54   8 USC, 8 U.S.C., 8 U.S.C.A.,     1326, 1229a, 2252A, 78j-1
 *                                      Title 8 United States Code
 *   Revised Code of Washington         RCW, Wash. Rev. Code,            9A.36.011 (title.chapter.
 *                                      Revised Code of Washington       section, all three)
 *   Immigration and Nationality Act    INA, Immigration and             276, 274A
 *                                      Nationality Act
 *   another code                       ORS, NRS, MCL, ...; or a name    starts with a digit:
 *                                      with one of the words code,      76-5-203, 609.185
 *                                      stat., laws, penal, crim. and
 *                                      a word naming whose ("Utah")
 *
 * Anything else does not parse: free words ("removal", "locate", "person of
 * interest"), a section without a code ("section 1326"), a code without a
 * section, ranges ("18 U.S.C. 1589-1591") and lists ("2252 and 2252A") — a
 * request must cite each statute on its own.
 *
 * Classification (custos__policy_classify_cite): an alias replaces the
 * citation first (INA 276 -> 8 U.S.C. 1326, keeping the subsections the alias
 * did not name); then the statute table is searched with all subsections,
 * then with one fewer, down to none, and the first entry found gives the
 * class and the normalised form — so subsections are kept only where the
 * table has them (8 U.S.C. 1304(e)); then wildcard entries ("INA *") are
 * tried on the bare section; anything else that parsed is criminal, its
 * normalised form the bare section.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policyInt.h"

#define MAX_WORDS 24
#define WORK_MAX 512

/* ---- small string helpers -------------------------------------------------- */

static bool is_marker(const char *w) {
  static const char *const markers[] = {"\xc2\xa7", "\xc2\xa7\xc2\xa7", "sec",      "sec.", "secs",
                                        "secs.",    "section",          "sections", "s.",   "ss."};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(markers); i++) {
    if (strcasecmp(w, markers[i]) == 0) return true;
  }
  return false;
}

/* Joins words[from..to) lower-cased, without dots, with `sep` between them
 * (NULL: nothing).  False when it does not fit. */
static bool join_lower(char *const *words, int from, int to, const char *sep, char *out,
                       size_t size) {
  size_t n = 0;
  for (int i = from; i < to; i++) {
    if (i > from && sep != NULL) {
      for (const char *s = sep; *s; s++) {
        if (n + 1 >= size) return false;
        out[n++] = *s;
      }
    }
    for (const char *s = words[i]; *s; s++) {
      if (*s == '.') continue;
      if (n + 1 >= size) return false;
      out[n++] = (char)tolower((unsigned char)*s);
    }
  }
  out[n] = '\0';
  return true;
}

static bool all_digits(const char *s, size_t min, size_t max) {
  size_t n = strlen(s);
  if (n < min || n > max) return false;
  for (size_t i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i])) return false;
  }
  return true;
}

/* Reads `min..max` digits then `lmin..lmax` letters from *p. */
static bool digits_letters(const char **p, size_t min, size_t max, size_t lmin, size_t lmax) {
  const char *s = *p;
  size_t d = 0, l = 0;
  while (isdigit((unsigned char)s[d])) d++;
  if (d < min || d > max) return false;
  while (isalpha((unsigned char)s[d + l])) l++;
  if (l < lmin || l > lmax) return false;
  *p = s + d + l;
  return true;
}

/* ---- sections by code -------------------------------------------------------- */

/* U.S. Code: 1326, 1229a, 2252A, and hyphenated sections that follow letters
 * (78j-1, 300aa-11); "1589-1591" is a range, not a section. */
static bool usc_section(const char *s) {
  const char *p = s;
  if (!digits_letters(&p, 1, 6, 0, 4)) return false;
  if (*p == '-' && isalpha((unsigned char)p[-1])) {
    p++;
    if (!digits_letters(&p, 1, 4, 0, 3)) return false;
  }
  return *p == '\0';
}

/* RCW: title.chapter.section, 9A.36.011, 69.50.4013. */
static bool rcw_section(const char *s) {
  const char *p = s;
  if (!digits_letters(&p, 1, 3, 0, 1) || *p++ != '.') return false;
  if (!digits_letters(&p, 1, 3, 0, 1) || *p++ != '.') return false;
  if (!digits_letters(&p, 1, 4, 0, 1)) return false;
  return *p == '\0';
}

/* INA: 276, 274A. */
static bool ina_section(const char *s) {
  const char *p = s;
  return digits_letters(&p, 1, 4, 0, 2) && *p == '\0';
}

/* Another code: starts with a digit, then digits, letters and . - : /, ends
 * with a letter or digit. */
static bool other_section(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || !isdigit((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1])) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (!isalnum(ch) && ch != '.' && ch != '-' && ch != ':' && ch != '/') return false;
  }
  return true;
}

/* A wildcard's section prefix: possibly empty, letters, digits, . and -. */
static bool prefix_section(const char *s) {
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (!isalnum(ch) && ch != '.' && ch != '-') return false;
  }
  return true;
}

/* ---- codes ---------------------------------------------------------------------- */

/* Whether words[0..n) name another state's code: a known abbreviation on its
 * own ("ORS"), or a name with a word that says it is a code ("Code",
 * "Stat.", "Penal", ...) and a word that says whose ("Utah", "Cal.", "Minn.")
 * — so "Code 3" or "Penal Code 187" do not pass for a statute. */
static bool other_code_words(char *const *words, int n) {
  static const char *const abbreviations[] = {"ors",  "nrs",  "mcl", "ars", "crs",
                                              "ocga", "ilcs", "mca", "rsa", "ncgs"};
  static const char *const keys[] = {"code", "codes", "stat",  "stats", "statute", "statutes",
                                     "law",  "laws",  "penal", "crim",  "criminal"};
  static const char *const fillers[] = {
      "ann",          "annotated", "rev", "revised", "gen", "general",  "comp",       "compiled",
      "consolidated", "of",        "the", "and",     "&",   "official", "unannotated"};
  bool key = false, whose = false;
  for (int i = 0; i < n; i++) {
    for (const char *s = words[i]; *s; s++) {
      unsigned char ch = (unsigned char)*s;
      if (!isalpha(ch) && ch != '.' && ch != '\'' && ch != '&' && ch != '-') return false;
    }
  }
  for (int i = 0; i < n; i++) {
    char low[32];
    if (!join_lower(words, i, i + 1, NULL, low, sizeof low) || low[0] == '\0') return false;
    if (n == 1) {
      for (size_t k = 0; k < CUSTOS_ARRAY_LEN(abbreviations); k++) {
        if (strcmp(low, abbreviations[k]) == 0) return true;
      }
      return false;
    }
    bool is_key = false, is_filler = false;
    for (size_t k = 0; k < CUSTOS_ARRAY_LEN(keys); k++) is_key |= strcmp(low, keys[k]) == 0;
    for (size_t k = 0; k < CUSTOS_ARRAY_LEN(fillers); k++)
      is_filler |= strcmp(low, fillers[k]) == 0;
    key |= is_key;
    whose |= !is_key && !is_filler;
  }
  return key && whose;
}

/* Recognises the code named by words[0..n) and fills c->code, c->title and
 * c->name. */
static bool parse_code(char *const *words, int n, custos__cite *c) {
  char joined[128];
  if (n <= 0) return false;
  int i = 0;
  if (strcasecmp(words[0], "title") == 0) i++;
  if (i < n && all_digits(words[i], 1, 3)) {
    /* A title of the U.S. Code. */
    long title = strtol(words[i], NULL, 10);
    if (title < 1 || title > 54) return false;
    if (!join_lower(words, i + 1, n, NULL, joined, sizeof joined)) return false;
    static const char *const usc[] = {"usc",
                                      "usca",
                                      "uscs",
                                      "unitedstatescode",
                                      "unitedstatescodeannotated",
                                      "unitedstatescodeservice"};
    for (size_t k = 0; k < CUSTOS_ARRAY_LEN(usc); k++) {
      if (strcmp(joined, usc[k]) == 0) {
        c->code = CITE_USC;
        c->title = (int)title;
        snprintf(c->name, sizeof c->name, "%d U.S.C.", c->title);
        return true;
      }
    }
    return false;
  }
  if (i != 0) return false; /* "Title" of something else */
  if (!join_lower(words, 0, n, NULL, joined, sizeof joined)) return false;
  static const char *const rcw[] = {"rcw", "revisedcodeofwashington", "washrevcode", "revcodewash",
                                    "washingtonrevisedcode"};
  for (size_t k = 0; k < CUSTOS_ARRAY_LEN(rcw); k++) {
    if (strcmp(joined, rcw[k]) == 0) {
      c->code = CITE_RCW;
      snprintf(c->name, sizeof c->name, "RCW");
      return true;
    }
  }
  if (strcmp(joined, "ina") == 0 || strcmp(joined, "immigrationandnationalityact") == 0) {
    c->code = CITE_INA;
    snprintf(c->name, sizeof c->name, "INA");
    return true;
  }
  if (!other_code_words(words, n)) return false;
  size_t len = 0;
  for (int k = 0; k < n; k++) {
    size_t w = strlen(words[k]);
    if (len + w + (k > 0) + 1 > sizeof c->name) return false;
    if (k > 0) c->name[len++] = ' ';
    memcpy(c->name + len, words[k], w);
    len += w;
  }
  c->name[len] = '\0';
  c->code = CITE_OTHER;
  return true;
}

/* Splits "1326(a)(1)" into the section and its subsections. */
static bool split_subs(const char *s, custos__cite *c) {
  size_t n = strcspn(s, "(");
  if (n == 0 || n >= sizeof c->section) return false;
  memcpy(c->section, s, n);
  c->section[n] = '\0';
  const char *p = s + n;
  c->nsubs = 0;
  while (*p == '(') {
    size_t k = 1;
    while (isalnum((unsigned char)p[k])) k++;
    if (p[k] != ')' || k == 1 || k - 1 >= CITE_SUB_MAX || c->nsubs >= CITE_MAX_SUBS) return false;
    memcpy(c->subs[c->nsubs], p + 1, k - 1);
    c->subs[c->nsubs][k - 1] = '\0';
    c->nsubs++;
    p += k + 1;
  }
  return *p == '\0';
}

bool custos__cite_parse(const char *text, bool allow_wildcard, custos__cite *c) {
  char work[WORK_MAX];
  char *words[MAX_WORDS];
  int n = 0;
  size_t w = 0;
  memset(c, 0, sizeof *c);
  if (text == NULL) return false;
  /* Copy with "§" set apart as a word, commas and no-break spaces as spaces;
   * no other byte outside printable ASCII. */
  for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
    if (w + 4 >= sizeof work) return false;
    if (s[0] == 0xc2 && s[1] == 0xa7) {
      work[w++] = ' ';
      work[w++] = (char)0xc2;
      work[w++] = (char)0xa7;
      /* "§§" stays one word. */
      if (!(s[2] == 0xc2 && s[3] == 0xa7)) work[w++] = ' ';
      s++;
    } else if (s[0] == 0xc2 && s[1] == 0xa0) {
      work[w++] = ' ';
      s++;
    } else if (*s == ',' || *s == ' ' || *s == '\t') {
      work[w++] = ' ';
    } else if (*s < 0x20 || *s >= 0x7f) {
      return false;
    } else {
      work[w++] = (char)*s;
    }
  }
  work[w] = '\0';
  bool wildcard = false;
  if (allow_wildcard) {
    size_t len = strlen(work);
    while (len > 0 && work[len - 1] == ' ') work[--len] = '\0';
    if (len > 0 && work[len - 1] == '*') {
      work[--len] = '\0';
      wildcard = true;
    }
  }
  for (char *p = work; *p;) {
    while (*p == ' ') p++;
    if (!*p) break;
    if (n == MAX_WORDS) return false;
    words[n++] = p;
    while (*p && *p != ' ') p++;
    if (*p) *p++ = '\0';
  }
  if (strchr(work, '*') != NULL && !wildcard) return false;
  for (int i = 0; i < n; i++) {
    if (strchr(words[i], '*') != NULL) return false;
  }

  if (wildcard) {
    /* "CODE [§] [prefix]*" */
    int end = n;
    const char *prefix = "";
    if (end > 0 && isdigit((unsigned char)words[end - 1][0])) {
      /* The last word is the prefix unless it is a U.S.C. title alone. */
      custos__cite probe;
      if (!(end >= 1 && parse_code(words, end, &probe))) prefix = words[--end];
    }
    while (end > 0 && is_marker(words[end - 1])) end--;
    if (!parse_code(words, end, c) || !prefix_section(prefix)) return false;
    if (strlen(prefix) >= sizeof c->section) return false;
    snprintf(c->section, sizeof c->section, "%s", prefix);
    c->wildcard = true;
  } else {
    /* The section is the last word that starts with a digit; only
     * subsections may follow it. */
    int sec = n - 1;
    while (sec >= 0 && words[sec][0] == '(') sec--;
    if (sec < 1 || !isdigit((unsigned char)words[sec][0])) return false;
    char tail[WORK_MAX];
    size_t t = 0;
    for (int i = sec; i < n; i++) {
      size_t l = strlen(words[i]);
      if (t + l + 1 > sizeof tail) return false;
      memcpy(tail + t, words[i], l);
      t += l;
    }
    tail[t] = '\0';
    int end = sec;
    while (end > 0 && is_marker(words[end - 1])) end--;
    if (!parse_code(words, end, c) || !split_subs(tail, c)) return false;
    bool ok = false;
    switch (c->code) {
      case CITE_USC:
        ok = usc_section(c->section);
        break;
      case CITE_RCW:
        ok = rcw_section(c->section);
        break;
      case CITE_INA:
        ok = ina_section(c->section);
        break;
      case CITE_OTHER:
        ok = other_section(c->section);
        break;
    }
    if (!ok) return false;
  }
  if (c->code == CITE_RCW || c->code == CITE_INA) {
    for (char *s = c->section; *s; s++) *s = (char)toupper((unsigned char)*s);
  }
  return true;
}

/* ---- display and key ------------------------------------------------------------ */

static void append_subs(const custos__cite *c, int nsubs, bool lower, char *out, size_t size) {
  size_t len = strlen(out);
  for (int i = 0; i < nsubs && i < c->nsubs; i++) {
    int k = snprintf(out + len, size - len, "(%s)", c->subs[i]);
    if (k < 0 || (size_t)k >= size - len) return;
    if (lower) {
      for (size_t j = len; j < len + (size_t)k; j++) out[j] = (char)tolower((unsigned char)out[j]);
    }
    len += (size_t)k;
  }
}

void custos__cite_display(const custos__cite *c, int nsubs, char *out, size_t size) {
  if (size == 0) return;
  if (c->wildcard) {
    snprintf(out, size, "%s %s*", c->name, c->section);
    return;
  }
  snprintf(out, size, "%s %s", c->name, c->section);
  append_subs(c, nsubs, false, out, size);
}

void custos__cite_key(const custos__cite *c, int nsubs, char *out, size_t size) {
  if (size == 0) return;
  char name[CITE_CODE_MAX];
  size_t n = 0;
  bool space = false;
  for (const char *s = c->name; *s && n + 1 < sizeof name; s++) {
    if (*s == '.') continue;
    if (*s == ' ') {
      space = n > 0;
      continue;
    }
    if (space && n + 2 < sizeof name) name[n++] = ' ';
    space = false;
    name[n++] = (char)tolower((unsigned char)*s);
  }
  name[n] = '\0';
  snprintf(out, size, "%s %s", name, c->section);
  for (char *s = out + n; *s; s++) *s = (char)tolower((unsigned char)*s);
  if (!c->wildcard) append_subs(c, nsubs, true, out, size);
}

/* ---- classification ----------------------------------------------------------------- */

static const statute_entry *find_exact(const custos_policy *p, const char *key) {
  for (size_t i = 0; i < p->nstatutes; i++) {
    if (!p->statutes[i].cite.wildcard && strcmp(p->statutes[i].key, key) == 0)
      return &p->statutes[i];
  }
  return NULL;
}

custos_offense_class custos__policy_classify_cite(const custos_policy *p, const custos__cite *c,
                                                  char *statute, size_t size) {
  char key[CUSTOS_POLICY_STATUTE_MAX];
  custos__cite cur = *c;
  /* Aliases: the longest match of the citation with its subsections. */
  for (int n = c->nsubs; n >= 0; n--) {
    custos__cite_key(c, n, key, sizeof key);
    const alias_entry *hit = NULL;
    for (size_t i = 0; i < p->naliases && hit == NULL; i++) {
      if (strcmp(p->aliases[i].from, key) == 0) hit = &p->aliases[i];
    }
    if (hit != NULL) {
      cur = hit->to;
      for (int k = n; k < c->nsubs && cur.nsubs < CITE_MAX_SUBS; k++) {
        memcpy(cur.subs[cur.nsubs++], c->subs[k], CITE_SUB_MAX);
      }
      break;
    }
  }
  /* Exact entries: subsections kept only where the table has them. */
  for (int n = cur.nsubs; n >= 0; n--) {
    custos__cite_key(&cur, n, key, sizeof key);
    const statute_entry *e = find_exact(p, key);
    if (e != NULL) {
      custos__cite_display(&e->cite, e->cite.nsubs, statute, size);
      return e->cls;
    }
  }
  custos__cite_display(&cur, 0, statute, size);
  custos__cite_key(&cur, 0, key, sizeof key);
  for (size_t i = 0; i < p->nstatutes; i++) {
    const statute_entry *e = &p->statutes[i];
    if (e->cite.wildcard && strncmp(key, e->key, strlen(e->key)) == 0) return e->cls;
  }
  return CUSTOS_OFFENSE_CRIMINAL;
}

custos_offense_class custos_policy_classify(const custos_policy *p, const char *citation,
                                            char *statute, size_t size) {
  custos__cite c;
  if (statute != NULL && size > 0) statute[0] = '\0';
  if (p == NULL || statute == NULL || size == 0) return CUSTOS_OFFENSE_NONE;
  if (!custos__cite_parse(citation, false, &c)) return CUSTOS_OFFENSE_NONE;
  return custos__policy_classify_cite(p, &c, statute, size);
}

const char *custos_policy_class_name(custos_offense_class c) {
  switch (c) {
    case CUSTOS_OFFENSE_NONE:
      return "none";
    case CUSTOS_OFFENSE_CRIMINAL:
      return "criminal";
    case CUSTOS_OFFENSE_MIXED:
      return "mixed";
    case CUSTOS_OFFENSE_IMMIGRATION:
      return "immigration";
  }
  return "?";
}
