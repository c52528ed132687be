/*
 * Unit tests of src/policy: the policy file (the built-in default against
 * policy/default.policy, every parameter's default, every kind of syntax and
 * schema error naming its line, extension without weakening), citation
 * normalisation and classification, calendar dates, the request document
 * (every kind of malformed request; file references that escape the
 * folder, are not regular files or are too large) and the checks GOV-01..09,
 * table-driven over tests/data/requests/cases.json with the probe facts as
 * input, each rule shown holding and failing there:
 *   GOV-01 no legal process          GOV-05 no statute cited
 *   GOV-02 not signed by a judge     GOV-06 solely immigration / mixed
 *   GOV-03 expired or stale          GOV-07 immigration authority flag
 *   GOV-04 legal review escalation   GOV-08 probe not a photo / faces / quality
 *   GOV-09 nationality, birthplace, citizenship, immigration status refused
 * When the models are present, the probe analysis runs through the real face
 * engine once (a demo photo with several faces).  Allocation failures are
 * injected through every load, parse and check.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "custos/custos.h"
#include "policy/policyInt.h"
#include "util/util.h"

#ifndef CUSTOS_TEST_DATA
#define CUSTOS_TEST_DATA "tests/data"
#endif
#ifndef CUSTOS_MODELS_DIR
#define CUSTOS_MODELS_DIR "models"
#endif

#define REQUESTS CUSTOS_TEST_DATA "/requests"
#define DEFAULT_POLICY_FILE CUSTOS_TEST_DATA "/../../policy/default.policy"

static custos_policy *default_policy(void) {
  custos_policy *p = NULL;
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_policy_load(NULL, &p, &err);
  if (rc != CUSTOS_OK) fail_msg("default policy: %s", err.message);
  return p;
}

/* ---- the policy file ------------------------------------------------------------ */

static void test_default_text_is_the_file(void **state) {
  (void)state;
  unsigned char *data = NULL;
  size_t len = 0, dlen = 0;
  assert_int_equal(
      custos__read_file(DEFAULT_POLICY_FILE, CUSTOS_POLICY_MAX_BYTES, &data, &len, NULL),
      CUSTOS_OK);
  const char *text = custos_policy_default_text(&dlen);
  if (len != dlen || memcmp(data, text, len) != 0) {
    fail_msg(
        "policy/default.policy and the built-in default (src/policy/default.c) differ; "
        "regenerate default.c as its header comment says");
  }
  /* Same bytes, same identity, with or without --policy. */
  custos_policy *from_file = NULL, *builtin = default_policy();
  assert_int_equal(custos_policy_load(DEFAULT_POLICY_FILE, &from_file, NULL), CUSTOS_OK);
  assert_string_equal(custos_policy_sha256(from_file), custos_policy_sha256(builtin));
  assert_int_equal(strlen(custos_policy_sha256(builtin)), 64);
  assert_string_equal(custos_policy_source(builtin), "built-in default");
  assert_string_equal(custos_policy_source(from_file), DEFAULT_POLICY_FILE);
  char hex[CUSTOS_POLICY_SHA256_HEX];
  assert_int_equal(custos__policy_sha256_hex(data, len, hex, NULL), CUSTOS_OK);
  assert_string_equal(hex, custos_policy_sha256(builtin));
  custos_policy_free(from_file);
  custos_policy_free(builtin);
  custos__free(data);
}

/* Every parameter of POLICY.md with its default value. */
static void test_default_values(void **state) {
  (void)state;
  custos_policy *p = default_policy();
  const custos_policy_params *pp = custos_policy_get_params(p);
  assert_int_equal(pp->order_max_age_days, 14); /* GOV-03 */
  assert_int_equal(pp->candidates, 10);         /* GOV-14 */
  assert_true(pp->search_threshold == 0.6);     /* GOV-16 */
  assert_true(pp->dedup_threshold == 0.44);
  assert_true(pp->probe_min_face_px == 60); /* GOV-08 */
  assert_true(pp->probe_min_sharpness == 10);
  assert_int_equal(pp->retention_days, 90); /* GOV-21 */
  assert_int_equal(pp->checkpoint_every, 1000);
  assert_int_equal(pp->max_failed_logins, 5);
  /* GOV-19 */
  assert_true(custos_policy_not_collected(p, "birthplace"));
  assert_false(custos_policy_not_collected(p, "ssn"));
  assert_int_equal(custos_policy_not_collected_count(p), 1);
  assert_string_equal(custos_policy_not_collected_field(p, 0), "birthplace");
  assert_null(custos_policy_not_collected_field(p, 1));
  /* The statute table of POLICY.md, every entry (GOV-06). */
  static const char *const immigration[] = {"1182",  "1227",  "1229",    "1229a", "1231",
                                            "1253",  "1302",  "1304(e)", "1305",  "1306",
                                            "1324c", "1324d", "1325",    "1326"};
  static const char *const mixed[] = {"8 U.S.C. 1324",  "8 U.S.C. 1324a", "8 U.S.C. 1327",
                                      "8 U.S.C. 1328",  "18 U.S.C. 911",  "18 U.S.C. 1015",
                                      "18 U.S.C. 1425", "18 U.S.C. 1426", "18 U.S.C. 1546"};
  char cite[64], statute[CUSTOS_POLICY_STATUTE_MAX];
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(immigration); i++) {
    snprintf(cite, sizeof cite, "8 U.S.C. %s", immigration[i]);
    assert_int_equal(custos_policy_classify(p, cite, statute, sizeof statute),
                     CUSTOS_OFFENSE_IMMIGRATION);
    assert_string_equal(statute, cite);
  }
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(mixed); i++) {
    assert_int_equal(custos_policy_classify(p, mixed[i], statute, sizeof statute),
                     CUSTOS_OFFENSE_MIXED);
    assert_string_equal(statute, mixed[i]);
  }
  static const char *const criminal[] = {"18 U.S.C. 1111",  "18 U.S.C. 1589", "18 U.S.C. 1591",
                                         "18 U.S.C. 2113",  "18 U.S.C. 2251", "18 U.S.C. 2252",
                                         "18 U.S.C. 2252A", "21 U.S.C. 841",  "RCW 9A.32.030"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(criminal); i++) {
    assert_int_equal(custos_policy_classify(p, criminal[i], statute, sizeof statute),
                     CUSTOS_OFFENSE_CRIMINAL);
    assert_string_equal(statute, criminal[i]);
  }
  custos_policy_free(p);
}

/* Policy file errors: each names the file, the line and the key. */
static void test_policy_file_errors(void **state) {
  (void)state;
  static const struct {
    const char *text;
    const char *want;
  } cases[] = {
      {"[requests]\norder_max_age_days = \"14\"\n",
       "site.policy:2: requests.order_max_age_days: expected an integer, found a string"},
      {"[requests]\norder_max_age_days = 14.5\n",
       "site.policy:2: requests.order_max_age_days: expected an integer"},
      {"[requests]\nmax_age = 3\n", "site.policy:2: requests.max_age: unknown key"},
      {"# c\n[search]\ncandidates = 5\ncandidates = 6\n",
       "site.policy:4: search.candidates: duplicate key"},
      {"[search]\ncandidates = 0\n", "site.policy:2: search.candidates: 0 is outside 1..1000"},
      {"[search]\ncandidates = 010\n", "site.policy:2: search.candidates: leading zero"},
      {"[search]\ncandidates = true\n",
       "site.policy:2: search.candidates: expected an integer, found true or false"},
      {"[search]\ncandidates = 5 6\n", "site.policy:2: unexpected '6' after the value"},
      {"[search]\ncandidates =\n", "site.policy:2: search.candidates: missing value"},
      {"[search]\ncandidates 5\n", "site.policy:2: search.candidates: expected '=' after the key"},
      {"[search]\nthreshold = 0\n", "site.policy:2: search.threshold: 0 is outside (0..4"},
      {"[search]\nthreshold = 'high'\n",
       "site.policy:2: search.threshold: expected a number, found a string"},
      {"[search]\nthreshold = 1e999\n", "site.policy:2: search.threshold: number out of range"},
      {"[probe]\nmin_face_px = -5\n", "site.policy:2: probe.min_face_px: -5 is outside 1..10000"},
      {"candidates = 5\n", "site.policy:1: candidates: unknown key outside a [section]"},
      {"\n\n[foo]\n", "site.policy:3: unknown section [foo]"},
      {"[search]\n[search]\n", "site.policy:2: section [search] appears twice"},
      {"[search\n", "site.policy:1: expected ']'"},
      {"[fields]\nnot_collected = 'birthplace'\n",
       "site.policy:2: fields.not_collected: expected a list, found a string"},
      {"[fields]\nnot_collected = ['favourite_colour']\n",
       "site.policy:2: fields.not_collected: 'favourite_colour' is not a sensitive import column"},
      {"[fields]\nnot_collected = ['ssn', 'ssn']\n",
       "site.policy:2: fields.not_collected: 'ssn' listed twice"},
      {"[statutes]\nmixed = [1326]\n", "site.policy:2: statutes.mixed: lists hold strings only"},
      {"[statutes]\nmixed = [\n  '18 U.S.C. 1001',\n  'locate',\n]\n",
       "site.policy:4: statutes.mixed: 'locate' is not a statute citation"},
      {"[statutes]\nmixed = [\n  '18 U.S.C. 1001'\n",
       "site.policy:2: statutes.mixed: list not closed"},
      {"[statutes]\nmixed = ['a' 'b']\n", "site.policy:2: statutes.mixed: expected ',' or ']'"},
      {"[statutes]\nmixed = ['8 USC 1326']\n",
       "site.policy:2: statutes.mixed: '8 USC 1326' is immigration in the default policy"},
      {"[statutes]\nimmigration = ['18 USC 1001']\nmixed = ['18 U.S.C. 1001']\n",
       "site.policy:3: statutes.mixed: '18 U.S.C. 1001' is also listed as immigration (line 2)"},
      {"[statutes]\nimmigration = ['18 USC 1001', '18 U.S.C. § 1001']\n",
       "site.policy:2: statutes.immigration: '18 U.S.C. § 1001' listed twice (line 2)"},
      {"[statutes.aliases]\n'INA 276' = '8 U.S.C. 1325'\n",
       "site.policy:2: statutes.aliases.INA 276: stands for 8 U.S.C. 1326 in the default policy"},
      {"[statutes.aliases]\n'INA 999' = 'INA 276'\n",
       "site.policy:2: statutes.aliases.ina 999: aliases may not chain"},
      {"[statutes.aliases]\n'INA 999' = 'nothing'\n",
       "site.policy:2: statutes.aliases.INA 999: 'nothing' is not a statute"},
      {"[statutes.aliases]\n'INA 999' = 3\n",
       "site.policy:2: statutes.aliases.INA 999: expected a string"},
      {"[statutes.aliases]\n'INA 998' = '8 USC 1001'\n'INA 998' = '8 USC 1001'\n",
       "site.policy:3: statutes.aliases.INA 998: listed twice (line 2)"},
      {"[agencies.immigration_authority]\ncomponents = ['*']\n",
       "site.policy:2: agencies.immigration_authority.components: '*' is empty or matches "
       "everything"},
      {"[search]\ncandidates = 5 # ok\nx = 'unterminated\n", "site.policy:3: unterminated string"},
      {"[search]\nx = \"bad \\q escape\"\n", "site.policy:2: unsupported escape"},
      {"[search]\nx = 'tab\x01'\n", "site.policy:2: control character in a string"},
      {"[search]\ncandidates = 5\r\r\n", "site.policy:2: carriage return without a line feed"},
      {"# caf\xc3\xa9\n# \xff\n", "site.policy:2: not UTF-8"},
      {"# \xc0\xaf\n", "site.policy:1: not UTF-8"},
      {"[search]\n= 5\n", "site.policy:2: expected a key, found '='"},
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    custos_policy *p = NULL;
    custos_err err;
    custos_err_clear(&err);
    int rc = custos_policy_parse(cases[i].text, strlen(cases[i].text), "site.policy", &p, &err);
    if (rc != CUSTOS_EINVAL || strstr(err.message, cases[i].want) == NULL) {
      fail_msg("case %zu: rc %d, message '%s', expected '%s'", i, rc, err.message, cases[i].want);
    }
    assert_null(p);
    assert_string_equal(err.module, "policy");
  }
  /* A NUL byte. */
  custos_policy *p = NULL;
  custos_err err;
  assert_int_equal(custos_policy_parse("# a\n\0\n", 6, "site.policy", &p, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "site.policy:2: NUL byte"));
  /* Too large, and a missing file. */
  char *big = calloc(CUSTOS_POLICY_MAX_BYTES + 2, 1);
  assert_non_null(big);
  memset(big, '#', CUSTOS_POLICY_MAX_BYTES + 1);
  assert_int_equal(custos_policy_parse(big, CUSTOS_POLICY_MAX_BYTES + 1, "big", &p, &err),
                   CUSTOS_ETOOBIG);
  free(big);
  assert_int_equal(custos_policy_load("/nonexistent/site.policy", &p, &err), CUSTOS_ENOENT);
  assert_non_null(strstr(err.message, "/nonexistent/site.policy"));
}

/* A site file extends the tables, replaces scalars and cannot drop defaults. */
static void test_policy_file_extends(void **state) {
  (void)state;
  static const char text[] =
      "\xef\xbb\xbf# a site policy\r\n"
      "[search]\r\n"
      "candidates = 20   # more\r\n"
      "threshold = 0.5\r\n"
      "[statutes]\n"
      "immigration = ['8 U.S.C. 1326']  # a default, repeated: fine\n"
      "mixed = [\"18 U.S.C. 1001\", 'RCW 9A.60.*', ]\n"
      "[statutes.aliases]\n"
      "'INA 276' = '8 USC 1326'\n"
      "\"INA 287\" = '8 USC 1357'\n"
      "[agencies.immigration_authority]\n"
      "components = ['Office of Biometric Identity Management']\n"
      "[fields]\n"
      "not_collected = ['ssn']\n";
  custos_policy *p = NULL;
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_policy_parse(text, sizeof text - 1, "site.policy", &p, &err);
  if (rc != CUSTOS_OK) fail_msg("%s", err.message);
  const custos_policy_params *pp = custos_policy_get_params(p);
  assert_int_equal(pp->candidates, 20);
  assert_true(pp->search_threshold == 0.5);
  assert_int_equal(pp->order_max_age_days, 14); /* untouched scalars keep the default */
  char statute[CUSTOS_POLICY_STATUTE_MAX];
  assert_int_equal(custos_policy_classify(p, "18 USC 1001", statute, sizeof statute),
                   CUSTOS_OFFENSE_MIXED);
  assert_int_equal(custos_policy_classify(p, "RCW 9A.60.020", statute, sizeof statute),
                   CUSTOS_OFFENSE_MIXED);
  assert_string_equal(statute, "RCW 9A.60.020");
  assert_int_equal(custos_policy_classify(p, "RCW 9A.61.020", statute, sizeof statute),
                   CUSTOS_OFFENSE_CRIMINAL);
  assert_int_equal(custos_policy_classify(p, "8 USC 1326", statute, sizeof statute),
                   CUSTOS_OFFENSE_IMMIGRATION);
  assert_int_equal(custos_policy_classify(p, "8 USC 1325", statute, sizeof statute),
                   CUSTOS_OFFENSE_IMMIGRATION);
  /* The new alias; the defaults' aliases are all still there. */
  assert_int_equal(custos_policy_classify(p, "INA 287(g)", statute, sizeof statute),
                   CUSTOS_OFFENSE_CRIMINAL);
  assert_string_equal(statute, "8 U.S.C. 1357");
  assert_int_equal(custos_policy_classify(p, "INA 274", statute, sizeof statute),
                   CUSTOS_OFFENSE_MIXED);
  assert_true(custos_policy_not_collected(p, "birthplace"));
  assert_true(custos_policy_not_collected(p, "ssn"));
  assert_true(
      custos__policy_list_match(p, LIST_COMPONENTS, "office of biometric identity management"));
  assert_true(custos__policy_list_match(p, LIST_COMPONENTS, "ICE"));
  /* The identity is the site file's. */
  char hex[CUSTOS_POLICY_SHA256_HEX];
  assert_int_equal(custos__policy_sha256_hex(text, sizeof text - 1, hex, NULL), CUSTOS_OK);
  assert_string_equal(custos_policy_sha256(p), hex);
  assert_string_equal(custos_policy_source(p), "site.policy");
  custos_policy_free(p);
  custos_policy_free(NULL);
  /* An empty file is the default policy with another identity. */
  assert_int_equal(custos_policy_parse("", 0, "empty.policy", &p, &err), CUSTOS_OK);
  assert_int_equal(custos_policy_get_params(p)->candidates, 10);
  custos_policy_free(p);
}

/* ---- citations (GOV-05, GOV-06) ------------------------------------------------------ */

static void test_citations(void **state) {
  (void)state;
  static const struct {
    const char *citation;
    const char *statute; /* "" when it does not parse */
    custos_offense_class cls;
  } cases[] = {
      /* The same statute, written every way. */
      {"8 USC 1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C. § 1326(a)", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C. 1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 u.s.c. sec. 1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C. §1326(b)(2)", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C.§1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C. §§ 1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U. S. C. 1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C.A. § 1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"  8   USC   1326  ", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8\xc2\xa0U.S.C.\xc2\xa0\xc2\xa7\xc2\xa0"
       "1326",
       "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"Title 8, United States Code, Section 1326", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C. 1326 (a) (1)", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"INA 276", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"INA § 276(a)", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      {"Immigration and Nationality Act section 276", "8 U.S.C. 1326", CUSTOS_OFFENSE_IMMIGRATION},
      /* Subsections kept only where the table has them. */
      {"8 U.S.C. 1304(e)", "8 U.S.C. 1304(e)", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 USC 1304(E)", "8 U.S.C. 1304(e)", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C. § 1304(e)(1)", "8 U.S.C. 1304(e)", CUSTOS_OFFENSE_IMMIGRATION},
      {"INA 264(e)", "8 U.S.C. 1304(e)", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 U.S.C. 1304", "8 U.S.C. 1304", CUSTOS_OFFENSE_CRIMINAL},
      {"8 U.S.C. 1304(f)", "8 U.S.C. 1304", CUSTOS_OFFENSE_CRIMINAL},
      /* Letters of sections, either case. */
      {"8 U.S.C. 1229A", "8 U.S.C. 1229a", CUSTOS_OFFENSE_IMMIGRATION},
      {"8 usc 1324a(a)(1)", "8 U.S.C. 1324a", CUSTOS_OFFENSE_MIXED},
      {"8 U.S.C. 1324(a)(1)(A)(ii)", "8 U.S.C. 1324", CUSTOS_OFFENSE_MIXED},
      {"INA 274A", "8 U.S.C. 1324a", CUSTOS_OFFENSE_MIXED},
      {"ina 274c", "8 U.S.C. 1324c", CUSTOS_OFFENSE_IMMIGRATION},
      {"18 U.S.C. § 1546(a)", "18 U.S.C. 1546", CUSTOS_OFFENSE_MIXED},
      {"18 USC 911", "18 U.S.C. 911", CUSTOS_OFFENSE_MIXED},
      /* INA sections without an alias are immigration law. */
      {"INA 287(g)", "INA 287", CUSTOS_OFFENSE_IMMIGRATION},
      /* Crimes. */
      {"18 U.S.C. 2252A(a)(5)(B)", "18 U.S.C. 2252A", CUSTOS_OFFENSE_CRIMINAL},
      {"21 U.S.C. § 841(a)(1)", "21 U.S.C. 841", CUSTOS_OFFENSE_CRIMINAL},
      {"15 U.S.C. 78j-1", "15 U.S.C. 78j-1", CUSTOS_OFFENSE_CRIMINAL},
      {"RCW 9A.36.011", "RCW 9A.36.011", CUSTOS_OFFENSE_CRIMINAL},
      {"rcw 9a.36.011(1)(a)", "RCW 9A.36.011", CUSTOS_OFFENSE_CRIMINAL},
      {"Wash. Rev. Code § 69.50.4013", "RCW 69.50.4013", CUSTOS_OFFENSE_CRIMINAL},
      {"Revised Code of Washington 9A.32.030", "RCW 9A.32.030", CUSTOS_OFFENSE_CRIMINAL},
      {"ORS 163.115", "ORS 163.115", CUSTOS_OFFENSE_CRIMINAL},
      {"Utah Code 76-5-203", "Utah Code 76-5-203", CUSTOS_OFFENSE_CRIMINAL},
      {"Cal. Penal Code § 187(a)", "Cal. Penal Code 187", CUSTOS_OFFENSE_CRIMINAL},
      {"Minn. Stat. 609.185", "Minn. Stat. 609.185", CUSTOS_OFFENSE_CRIMINAL},
      /* Not statutes: they count as no citation (GOV-05). */
      {"removal", "", CUSTOS_OFFENSE_NONE},
      {"locate", "", CUSTOS_OFFENSE_NONE},
      {"person of interest", "", CUSTOS_OFFENSE_NONE},
      {"Person of Interest 1", "", CUSTOS_OFFENSE_NONE},
      {"deportation of an alien", "", CUSTOS_OFFENSE_NONE},
      {"", "", CUSTOS_OFFENSE_NONE},
      {"1326", "", CUSTOS_OFFENSE_NONE},
      {"section 1326", "", CUSTOS_OFFENSE_NONE},
      {"8 U.S.C.", "", CUSTOS_OFFENSE_NONE},
      {"U.S.C. 1326", "", CUSTOS_OFFENSE_NONE},
      {"99 U.S.C. 1326", "", CUSTOS_OFFENSE_NONE},
      {"8 CFR 287.7", "", CUSTOS_OFFENSE_NONE},
      {"18 U.S.C. 1589-1591", "", CUSTOS_OFFENSE_NONE},
      {"18 U.S.C. 1589\xe2\x80\x93"
       "1591",
       "", CUSTOS_OFFENSE_NONE},
      {"18 U.S.C. 2252 and 2252A", "", CUSTOS_OFFENSE_NONE},
      {"8 U.S.C. 1326(a", "", CUSTOS_OFFENSE_NONE},
      {"8 U.S.C. 1326()", "", CUSTOS_OFFENSE_NONE},
      {"8 U.S.C. 1326(a)x", "", CUSTOS_OFFENSE_NONE},
      {"8 U.S.C. 13*", "", CUSTOS_OFFENSE_NONE},
      {"RCW 9A.36", "", CUSTOS_OFFENSE_NONE},
      {"RCW 9A", "", CUSTOS_OFFENSE_NONE},
      {"Case 123", "", CUSTOS_OFFENSE_NONE},
      {"Title 8", "", CUSTOS_OFFENSE_NONE},
      {"Code 3", "", CUSTOS_OFFENSE_NONE},
      {"Penal Code 187", "", CUSTOS_OFFENSE_NONE},
      {"Criminal Code Ann. 12", "", CUSTOS_OFFENSE_NONE},
      {"XYZ 12", "", CUSTOS_OFFENSE_NONE},
      {"N.Y. Penal Law § 125.25", "N.Y. Penal Law 125.25", CUSTOS_OFFENSE_CRIMINAL},
      {"Code of Virginia 18.2-32", "Code of Virginia 18.2-32", CUSTOS_OFFENSE_CRIMINAL},
      {"8 U.S.C. 1326(a)(1)(A)(i)(I)(aa)(bb)(cc)(dd)", "", CUSTOS_OFFENSE_NONE},
  };
  custos_policy *p = default_policy();
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    char statute[CUSTOS_POLICY_STATUTE_MAX];
    custos_offense_class c = custos_policy_classify(p, cases[i].citation, statute, sizeof statute);
    if (c != cases[i].cls || strcmp(statute, cases[i].statute) != 0) {
      fail_msg("'%s': got '%s' %s, expected '%s' %s", cases[i].citation, statute,
               custos_policy_class_name(c), cases[i].statute,
               custos_policy_class_name(cases[i].cls));
    }
  }
  /* NULL and tiny buffers are safe. */
  char small[4];
  assert_int_equal(custos_policy_classify(p, NULL, small, sizeof small), CUSTOS_OFFENSE_NONE);
  assert_int_equal(custos_policy_classify(NULL, "8 USC 1326", small, sizeof small),
                   CUSTOS_OFFENSE_NONE);
  assert_int_equal(custos_policy_classify(p, "18 USC 2252", small, sizeof small),
                   CUSTOS_OFFENSE_CRIMINAL);
  assert_string_equal(small, "18 ");
  /* Oversized input does not parse. */
  char longer[1200];
  memset(longer, '1', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  memcpy(longer, "8 USC ", 6);
  assert_int_equal(custos_policy_classify(p, longer, small, sizeof small), CUSTOS_OFFENSE_NONE);
  /* Wildcards parse only where allowed. */
  custos__cite c;
  assert_true(custos__cite_parse("RCW 9A.*", true, &c));
  assert_true(c.wildcard);
  assert_false(custos__cite_parse("RCW 9A.*", false, &c));
  assert_false(custos__cite_parse("RCW * 9A", true, &c));
  assert_string_equal(custos_policy_class_name(CUSTOS_OFFENSE_MIXED), "mixed");
  assert_string_equal(custos_policy_class_name((custos_offense_class)99), "?");
  custos_policy_free(p);
}

static void test_match_forms(void **state) {
  (void)state;
  char out[64];
  custos__policy_match_form("  U.S. Department   of Homeland Security ", false, out, sizeof out);
  assert_string_equal(out, "us department of homeland security");
  custos__policy_match_form("Form I-247A", true, out, sizeof out);
  assert_string_equal(out, "i247a");
  custos__policy_match_form("i 200", true, out, sizeof out);
  assert_string_equal(out, "i200");
  assert_true(custos__policy_glob("*-ero", "seattle-ero"));
  assert_true(custos__policy_glob("*immigration*", "us immigration and customs"));
  assert_false(custos__policy_glob("*-ero", "hero"));
  assert_true(custos__policy_glob("a*b*c", "axxbyyc"));
  assert_false(custos__policy_glob("a*b*c", "axxbyy"));
  custos__policy_match_form("abcdefgh", false, out, 4);
  assert_string_equal(out, "abc");
}

/* ---- dates -------------------------------------------------------------------------- */

static void test_dates(void **state) {
  (void)state;
  long d = 0;
  assert_true(custos__policy_date_parse("1970-01-01", &d));
  assert_int_equal(d, 0);
  assert_true(custos__policy_date_parse("2019-03-02", &d));
  assert_int_equal(d, 17957);
  assert_true(custos__policy_date_parse("2020-02-29", &d));
  assert_true(custos__policy_date_parse("2000-02-29", &d));
  static const char *const bad[] = {"2019-02-29", "1900-02-29", "2019-02-30",       "2019-13-01",
                                    "2019-00-10", "2019-04-31", "2019-01-00",       "2019-1-01",
                                    "19-01-01",   "2019/01/01", "2019-01-01T00:00", "",
                                    "1799-12-31", "3000-01-01", "2019-01-0a",       "+019-01-01"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    if (custos__policy_date_parse(bad[i], &d)) fail_msg("'%s' parsed as a date", bad[i]);
  }
  assert_false(custos__policy_date_parse(NULL, &d));
  /* Every day from 1800 to 2999 round-trips, one day apart. */
  long first = 0, last = 0, prev = 0;
  assert_true(custos__policy_date_parse("1800-01-01", &first));
  assert_true(custos__policy_date_parse("2999-12-31", &last));
  for (long x = first; x <= last; x++) {
    char s[11];
    custos__policy_date_format(x, s);
    long back = 0;
    if (!custos__policy_date_parse(s, &back) || back != x)
      fail_msg("day %ld -> %s -> %ld", x, s, back);
    if (x > first) assert_int_equal(back, prev + 1);
    prev = back;
  }
  char today[11];
  custos_policy_today(today);
  assert_true(custos__policy_date_parse(today, &d));
}

/* ---- the request table (GOV-01..09) --------------------------------------------------- */

static json_t *cases_doc(void) {
  json_error_t je;
  json_t *doc = json_load_file(REQUESTS "/cases.json", JSON_REJECT_DUPLICATES, &je);
  if (doc == NULL) fail_msg("cases.json: line %d: %s", je.line, je.text);
  return doc;
}

static bool strings_equal(const json_t *want, const char *const *got, size_t n) {
  if (json_array_size(want) != n) return false;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(json_string_value(json_array_get(want, i)), got[i]) != 0) return false;
  }
  return true;
}

static char *dump(const json_t *v) {
  return json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}

static void run_case(const custos_policy *p, const json_t *defaults, const json_t *c, int *seen) {
  const char *file = json_string_value(json_object_get(c, "request"));
  const char *note = json_string_value(json_object_get(c, "note"));
  const json_t *want_field = json_object_get(c, "malformed");
  char path[512];
  snprintf(path, sizeof path, "%s/%s", REQUESTS, file);
  custos_policy_request *r = NULL;
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_policy_request_load(path, &r, &err);
  if (want_field != NULL) {
    char fieldname[160];
    custos_policy_err_field(&err, fieldname, sizeof fieldname);
    const char *msg = json_string_value(json_object_get(c, "message"));
    if (rc != CUSTOS_EINVAL || !custos_policy_err_malformed(&err) ||
        strcmp(fieldname, json_string_value(want_field)) != 0 ||
        (msg != NULL && strstr(err.message, msg) == NULL)) {
      fail_msg("%s (%s): rc %d, module '%s', message '%s'; expected MALFORMED naming %s%s%s", file,
               note ? note : "", rc, err.module, err.message, json_string_value(want_field),
               msg ? " with " : "", msg ? msg : "");
    }
    assert_null(r);
    seen[CUSTOS_POLICY_MALFORMED]++;
    return;
  }
  if (rc != CUSTOS_OK) fail_msg("%s: %s", file, err.message);
  const json_t *on = json_object_get(c, "on");
  if (on == NULL) on = json_object_get(defaults, "on");
  const json_t *pf = json_object_get(c, "probe");
  if (pf == NULL) pf = json_object_get(defaults, "probe");
  custos_probe_facts facts = {(int)json_integer_value(json_object_get(pf, "faces")),
                              json_number_value(json_object_get(pf, "face_px")),
                              json_number_value(json_object_get(pf, "sharpness"))};
  custos_policy_result *res = NULL;
  rc = custos_policy_check(p, r, custos_policy_request_needs_probe_facts(r) ? &facts : NULL,
                           json_string_value(on), &res, &err);
  if (rc != CUSTOS_OK) fail_msg("%s: check: %s", file, err.message);
  /* Decision. */
  const char *want_decision = json_string_value(json_object_get(c, "decision"));
  /* Reasons, in order. */
  const char *reasons[CUSTOS_POLICY_REASON_COUNT];
  for (size_t i = 0; i < res->nreasons; i++) {
    reasons[i] = custos_policy_reason_name(res->reasons[i]);
    seen[res->reasons[i]]++;
  }
  /* Offense classes, keyed as the CLI keys them. */
  json_t *classes = json_object();
  for (size_t i = 0; i < res->noffenses; i++) {
    const custos_policy_offense *o = &res->offenses[i];
    json_object_set_new(classes, o->statute[0] ? o->statute : o->citation,
                        json_string(custos_policy_class_name(o->cls)));
  }
  const json_t *want_classes = json_object_get(c, "offense_classes");
  if (want_classes == NULL) want_classes = json_object_get(defaults, "offense_classes");
  /* Reviews. */
  json_t *want_reviews = json_incref(json_object_get(c, "reviews"));
  if (want_reviews == NULL) {
    want_reviews = strcmp(want_decision, "reject") == 0
                       ? json_array()
                       : json_pack("[s,s,s]", "intake", "manager", "governor");
  }
  char *got_classes = dump(classes), *exp_classes = dump(want_classes);
  char *exp_reasons = dump(json_object_get(c, "reasons"));
  if (strcmp(custos_policy_decision_name(res->decision), want_decision) != 0 ||
      !strings_equal(json_object_get(c, "reasons"), reasons, res->nreasons) ||
      !json_equal(classes, (json_t *)want_classes) ||
      !strings_equal(want_reviews, res->reviews, res->nreviews)) {
    char got_reasons[512] = "";
    size_t used = 0;
    for (size_t i = 0; i < res->nreasons && used < sizeof got_reasons; i++) {
      int k = snprintf(got_reasons + used, sizeof got_reasons - used, "%s ", reasons[i]);
      if (k > 0) used += (size_t)k;
    }
    fail_msg("%s on %s (%s): got %s [%s] %s with %zu reviews; expected %s %s %s", file,
             json_string_value(on), note ? note : "", custos_policy_decision_name(res->decision),
             got_reasons, got_classes, res->nreviews, want_decision, exp_reasons, exp_classes);
  }
  assert_string_equal(res->on, json_string_value(on));
  assert_string_equal(res->policy_sha256, custos_policy_sha256(p));
  assert_int_equal(res->probe_analyzed, custos_policy_request_needs_probe_facts(r));
  /* Decision and reasons agree. */
  bool rejects = false;
  for (size_t i = 0; i < res->nreasons; i++)
    rejects |= custos_policy_reason_rejects(res->reasons[i]);
  assert_int_equal(rejects, res->decision == CUSTOS_POLICY_DECISION_REJECT);
  free(got_classes);
  free(exp_classes);
  free(exp_reasons);
  json_decref(classes);
  json_decref(want_reviews);
  custos_policy_result_free(res);
  custos_policy_request_free(r);
}

/* Every case of cases.json; every reason code (GOV-01..08) and MALFORMED
 * (GOV-09 among them) occurs at least once, and every request file of the
 * folder is used. */
static void test_request_table(void **state) {
  (void)state;
  json_t *doc = cases_doc();
  const json_t *defaults = json_object_get(doc, "defaults");
  const json_t *cases = json_object_get(doc, "cases");
  assert_true(json_array_size(cases) > 50);
  custos_policy *p = default_policy();
  int seen[CUSTOS_POLICY_REASON_COUNT] = {0};
  size_t i;
  const json_t *c;
  json_array_foreach(cases, i, c) {
    run_case(p, defaults, c, seen);
  }
  for (int r = 0; r < CUSTOS_POLICY_REASON_COUNT; r++) {
    if (seen[r] == 0)
      fail_msg("no case yields %s", custos_policy_reason_name((custos_policy_reason)r));
  }
  custos_policy_free(p);
  json_decref(doc);
}

/* The example of POLICY.md itself, checked against the default policy. */
static void test_policy_md_example(void **state) {
  (void)state;
  char dir[] = "/tmp/custos-policy-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  static const char doc[] =
      "{\"received\": \"2019-03-02\",\n"
      " \"agency\": {\"name\": \"U.S. Immigration and Customs Enforcement\", \"level\": "
      "\"federal\",\n"
      "            \"department\": \"DHS\", \"component\": \"ICE\"},\n"
      " \"requester\": {\"name\": \"J. Doe\", \"title\": \"Special Agent\", \"contact\": "
      "\"jdoe@example.gov\"},\n"
      " \"case_number\": \"HSI-SE-2019-0042\",\n"
      " \"legal_process\": {\n"
      "   \"type\": \"court_order\", \"court_system\": \"us_article_iii\",\n"
      "   \"court\": \"U.S. District Court, W.D. Wash.\", \"judge\": \"Hon. A. Judge\", "
      "\"signed\": true,\n"
      "   \"docket\": \"2:19-mj-00123\", \"issued\": \"2019-02-20\", \"expires\": \"2019-03-20\",\n"
      "   \"document\": \"order.pdf\"},\n"
      " \"offenses\": [{\"citation\": \"18 U.S.C. 2252\", \"description\": \"distribution of "
      "CSAM\"}],\n"
      " \"narrative\": \"Why this person is believed to be connected to the crime.\",\n"
      " \"probe\": {\"image\": \"probe.jpg\", \"source\": \"surveillance\"}}\n";
  static const char *const copies[][2] = {{"order.pdf", "order.pdf"}, {"probe.jpg", "probe.jpg"}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(copies); i++) {
    unsigned char *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof path, "%s/%s", REQUESTS, copies[i][0]);
    assert_int_equal(custos__read_file(path, 1 << 20, &data, &len, NULL), CUSTOS_OK);
    snprintf(path, sizeof path, "%s/%s", dir, copies[i][1]);
    assert_int_equal(custos__write_file_atomic(path, data, len, NULL), CUSTOS_OK);
    custos__free(data);
  }
  snprintf(path, sizeof path, "%s/request.json", dir);
  assert_int_equal(custos__write_file_atomic(path, doc, sizeof doc - 1, NULL), CUSTOS_OK);
  custos_policy *p = default_policy();
  custos_policy_request *r = NULL;
  custos_err err;
  custos_err_clear(&err);
  if (custos_policy_request_load(path, &r, &err) != CUSTOS_OK) fail_msg("%s", err.message);
  /* Every field as parsed. */
  assert_string_equal(r->received, "2019-03-02");
  assert_string_equal(r->agency.name, "U.S. Immigration and Customs Enforcement");
  assert_int_equal(r->agency.level, CUSTOS_LEVEL_FEDERAL);
  assert_string_equal(r->agency.department, "DHS");
  assert_string_equal(r->agency.component, "ICE");
  assert_string_equal(r->requester.name, "J. Doe");
  assert_string_equal(r->requester.title, "Special Agent");
  assert_string_equal(r->requester.contact, "jdoe@example.gov");
  assert_string_equal(r->case_number, "HSI-SE-2019-0042");
  assert_int_equal(r->legal_process.type, CUSTOS_LEGAL_COURT_ORDER);
  assert_int_equal(r->legal_process.court_system, CUSTOS_COURT_US_ARTICLE_III);
  assert_null(r->legal_process.form);
  assert_string_equal(r->legal_process.judge, "Hon. A. Judge");
  assert_int_equal(r->legal_process.is_signed, 1);
  assert_string_equal(r->legal_process.docket, "2:19-mj-00123");
  assert_string_equal(r->legal_process.issued, "2019-02-20");
  assert_string_equal(r->legal_process.expires, "2019-03-20");
  assert_string_equal(r->legal_process.document.path, "order.pdf");
  assert_string_equal(r->legal_process.document.kind, "pdf");
  assert_int_equal(strlen(r->legal_process.document.sha256), 64);
  assert_int_equal(r->noffenses, 1);
  assert_string_equal(r->offenses[0].citation, "18 U.S.C. 2252");
  assert_string_equal(r->offenses[0].description, "distribution of CSAM");
  assert_non_null(r->narrative);
  assert_string_equal(r->probe.image.kind, "jpeg");
  assert_int_equal(r->probe.source, CUSTOS_PROBE_SURVEILLANCE);
  /* The bytes kept are the file's. */
  char hex[CUSTOS_POLICY_SHA256_HEX];
  assert_int_equal(custos__policy_sha256_hex(r->probe.image.data, r->probe.image.len, hex, NULL),
                   CUSTOS_OK);
  assert_string_equal(hex, r->probe.image.sha256);
  custos_probe_facts facts = {1, 197, 116};
  custos_policy_result *res = NULL;
  assert_int_equal(custos_policy_check(p, r, &facts, "2019-03-02", &res, &err), CUSTOS_OK);
  assert_int_equal(res->decision, CUSTOS_POLICY_DECISION_REVIEW);
  assert_int_equal(res->nreasons, 1);
  assert_int_equal(res->reasons[0], CUSTOS_POLICY_FLAG_IMMIGRATION_AUTHORITY); /* GOV-07 */
  assert_true(custos_policy_result_has(res, CUSTOS_POLICY_FLAG_IMMIGRATION_AUTHORITY));
  assert_false(custos_policy_result_has(res, CUSTOS_POLICY_REJECT_EXPIRED));
  assert_int_equal(res->nreviews, 3);
  assert_string_equal(res->reviews[0], "intake");
  assert_string_equal(res->reviews[2], "governor");
  custos_policy_result_free(res);
  /* GOV-08 at its thresholds: 60 px and sharpness 10 pass, less does not, and
   * an unmeasured sharpness counts as too blurred. */
  static const struct {
    custos_probe_facts facts;
    bool low;
  } quality[] = {
      {{1, 60, 10}, false}, {{1, 59.9, 10}, true}, {{1, 60, 9.99}, true}, {{1, 197, -1}, true}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(quality); i++) {
    assert_int_equal(custos_policy_check(p, r, &quality[i].facts, "2019-03-02", &res, &err),
                     CUSTOS_OK);
    assert_int_equal(custos_policy_result_has(res, CUSTOS_POLICY_REJECT_PROBE_LOW_QUALITY),
                     quality[i].low);
    custos_policy_result_free(res);
  }
  /* check_file with no engine: the photo needs one (GOV-08). */
  assert_int_equal(custos_policy_check_file(p, path, NULL, "2019-03-02", &res, &err),
                   CUSTOS_EINVAL);
  assert_null(res);
  assert_non_null(strstr(err.message, "GOV-08"));
  assert_false(custos_policy_err_malformed(&err));
  /* Bad arguments. */
  assert_int_equal(custos_policy_check(p, r, &facts, "2019-02-30", &res, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_policy_check(p, r, NULL, "2019-03-02", &res, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "GOV-08"));
  assert_int_equal(custos_policy_check(NULL, r, &facts, NULL, &res, &err), CUSTOS_EINVAL);
  /* Today by default. */
  assert_int_equal(custos_policy_check(p, r, &facts, NULL, &res, &err), CUSTOS_OK);
  char today[11];
  custos_policy_today(today);
  assert_string_equal(res->on, today);
  custos_policy_result_free(res);
  custos_policy_request_free(r);
  custos_policy_request_free(NULL);
  custos_policy_free(p);
  static const char *const names[] = {"request.json", "order.pdf", "probe.jpg"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(names); i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

/* GOV-08 without facts: a sketch needs no analysis and check_file runs
 * without an engine. */
static void test_not_a_photo_needs_no_engine(void **state) {
  (void)state;
  custos_policy *p = default_policy();
  custos_policy_result *res = NULL;
  custos_err err;
  assert_int_equal(
      custos_policy_check_file(p, REQUESTS "/gov08_sketch.json", NULL, "2019-03-02", &res, &err),
      CUSTOS_OK);
  assert_int_equal(res->decision, CUSTOS_POLICY_DECISION_REJECT);
  assert_true(custos_policy_result_has(res, CUSTOS_POLICY_REJECT_PROBE_NOT_A_PHOTO));
  assert_false(res->probe_analyzed);
  custos_policy_result_free(res);
  /* A malformed request through check_file. */
  assert_int_equal(custos_policy_check_file(p, REQUESTS "/malformed_impossible_date.json", NULL,
                                            "2019-03-02", &res, &err),
                   CUSTOS_EINVAL);
  assert_true(custos_policy_err_malformed(&err));
  /* A missing request file is "not found", not malformed. */
  assert_int_equal(
      custos_policy_check_file(p, REQUESTS "/no-such-request.json", NULL, NULL, &res, &err),
      CUSTOS_ENOENT);
  assert_false(custos_policy_err_malformed(&err));
  char fieldname[8];
  assert_string_equal(custos_policy_err_field(&err, fieldname, sizeof fieldname), "");
  custos_policy_free(p);
}

/* A probe whose header is fine but whose pixels are cut off: MALFORMED when
 * it is analysed. */
static void test_corrupt_probe(void **state) {
  (void)state;
  custos_policy_request *r = NULL;
  custos_err err;
  custos_err_clear(&err);
  static const char doc[] =
      "{\"received\": \"2019-03-02\", \"agency\": {\"name\": \"FBI\", \"level\": \"federal\"},"
      " \"requester\": {\"name\": \"J. Doe\", \"contact\": \"x\"},"
      " \"probe\": {\"image\": \"probe-corrupt.png\", \"source\": \"booking\"}}";
  int rc = custos_policy_request_parse(doc, sizeof doc - 1, REQUESTS, &r, &err);
  if (rc != CUSTOS_OK) fail_msg("%s", err.message);
  assert_string_equal(r->probe.image.kind, "png");
  assert_int_equal(r->legal_process.type, CUSTOS_LEGAL_MISSING);
  assert_int_equal(r->legal_process.is_signed, -1);
  assert_null(r->legal_process.document.data);
  custos_probe_facts facts;
  assert_int_equal(custos_policy_probe_analyze(NULL, r, &facts, &err), CUSTOS_EINVAL);
  assert_true(custos_policy_err_malformed(&err));
  char fieldname[64];
  assert_string_equal(custos_policy_err_field(&err, fieldname, sizeof fieldname), "probe.image");
  custos_policy_request_free(r);
}

/* File references: symbolic links out of the folder or into /proc, FIFOs,
 * files over the limit; a link inside the folder is fine. */
static void test_file_references(void **state) {
  (void)state;
  char dir[] = "/tmp/custos-policy-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[512], target[512];
  snprintf(target, sizeof target, "%s/probe.png", REQUESTS);
  unsigned char *png = NULL;
  size_t png_len = 0;
  assert_int_equal(custos__read_file(target, 1 << 20, &png, &png_len, NULL), CUSTOS_OK);
  snprintf(path, sizeof path, "%s/probe.png", dir);
  assert_int_equal(custos__write_file_atomic(path, png, png_len, NULL), CUSTOS_OK);
  custos__free(png);
  snprintf(path, sizeof path, "%s/outside.png", dir);
  assert_int_equal(symlink(target, path), 0);
  snprintf(path, sizeof path, "%s/inside.png", dir);
  assert_int_equal(symlink("probe.png", path), 0);
  snprintf(path, sizeof path, "%s/environ.png", dir);
  assert_int_equal(symlink("/proc/self/environ", path), 0);
  snprintf(path, sizeof path, "%s/fifo.png", dir);
  assert_int_equal(mkfifo(path, 0600), 0);
  snprintf(path, sizeof path, "%s/big.png", dir);
  int fd = open(path, O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  assert_int_equal(ftruncate(fd, (off_t)CUSTOS_REQUEST_MAX_PROBE + 1), 0);
  close(fd);
  static const struct {
    const char *image;
    const char *want; /* NULL: accepted */
  } cases[] = {
      {"probe.png", NULL},
      {"inside.png", NULL},
      {"outside.png", "probe.image: leads outside the request's folder"},
      {"environ.png", "probe.image: leads outside the request's folder"},
      {"fifo.png", "probe.image: not a regular file"},
      {"big.png", "probe.image: larger than"},
      {"./probe.png", "'.' and '..' are not allowed"},
      {"sub//probe.png", "empty path component"},
      {"probe.png/", "empty path component"},
      {"a\\\\b.png", "backslash"},
      {"nothere/probe.png", "no such file"},
  };
  custos_policy *p = default_policy();
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    char doc[600];
    snprintf(
        doc, sizeof doc,
        "{\"received\": \"2019-03-02\", \"agency\": {\"name\": \"FBI\", \"level\": \"federal\"},"
        " \"requester\": {\"name\": \"J. Doe\", \"contact\": \"x\"},"
        " \"probe\": {\"image\": \"%s\", \"source\": \"booking\"}}",
        cases[i].image);
    custos_policy_request *r = NULL;
    custos_err err;
    custos_err_clear(&err);
    int rc = custos_policy_request_parse(doc, strlen(doc), dir, &r, &err);
    if (cases[i].want == NULL) {
      if (rc != CUSTOS_OK) fail_msg("%s: %s", cases[i].image, err.message);
      custos_probe_facts facts = {1, 100, 100};
      custos_policy_result *res = NULL;
      assert_int_equal(custos_policy_check(p, r, &facts, "2019-03-02", &res, &err), CUSTOS_OK);
      /* No legal process, no offense: GOV-01 and GOV-05 reject it. */
      assert_int_equal(res->nreasons, 2);
      assert_int_equal(res->reasons[0], CUSTOS_POLICY_REJECT_NO_COURT_ORDER);
      assert_int_equal(res->reasons[1], CUSTOS_POLICY_REJECT_NO_SPECIFIC_CRIME);
      assert_int_equal(res->nreviews, 0);
      custos_policy_result_free(res);
    } else if (rc != CUSTOS_EINVAL || strstr(err.message, cases[i].want) == NULL ||
               !custos_policy_err_malformed(&err)) {
      fail_msg("%s: rc %d '%s', expected '%s'", cases[i].image, rc, err.message, cases[i].want);
    }
    custos_policy_request_free(r);
  }
  custos_policy_free(p);
  /* A request file too large, and a missing base folder. */
  custos_policy_request *r = NULL;
  custos_err err;
  snprintf(path, sizeof path, "%s/big.png", dir);
  assert_int_equal(custos_policy_request_load(path, &r, &err), CUSTOS_EINVAL);
  assert_true(custos_policy_err_malformed(&err));
  assert_non_null(strstr(err.message, "request: larger than"));
  static const char names[][16] = {"probe.png",   "outside.png", "inside.png",
                                   "environ.png", "fifo.png",    "big.png"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(names); i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

/* ---- reasons and names --------------------------------------------------------------- */

static void test_reason_table(void **state) {
  (void)state;
  for (int i = 0; i < CUSTOS_POLICY_REASON_COUNT; i++) {
    const custos_policy_reason r = (custos_policy_reason)i;
    custos_policy_reason back;
    assert_int_equal(custos_policy_reason_parse(custos_policy_reason_name(r), &back), CUSTOS_OK);
    assert_int_equal(back, r);
    assert_true(strlen(custos_policy_reason_text(r)) > 0);
    if (r != CUSTOS_POLICY_MALFORMED)
      assert_int_equal(strncmp(custos_policy_reason_rule(r), "GOV-0", 5), 0);
  }
  custos_policy_reason back;
  assert_int_equal(custos_policy_reason_parse("REJECT_EVERYTHING", &back), CUSTOS_EINVAL);
  assert_int_equal(custos_policy_reason_parse(NULL, &back), CUSTOS_EINVAL);
  assert_string_equal(custos_policy_reason_name(CUSTOS_POLICY_REJECT_STALE), "REJECT_STALE");
  assert_string_equal(custos_policy_reason_rule(CUSTOS_POLICY_REJECT_STALE), "GOV-03");
  assert_string_equal(custos_policy_reason_name(CUSTOS_POLICY_REASON_COUNT), "?");
  assert_true(custos_policy_reason_rejects(CUSTOS_POLICY_MALFORMED));
  assert_true(custos_policy_reason_rejects(CUSTOS_POLICY_REJECT_PROBE_LOW_QUALITY));
  assert_false(custos_policy_reason_rejects(CUSTOS_POLICY_ESCALATE_LEGAL_REVIEW));
  assert_false(custos_policy_reason_rejects(CUSTOS_POLICY_ESCALATE_MIXED_OFFENSE));
  assert_false(custos_policy_reason_rejects(CUSTOS_POLICY_FLAG_IMMIGRATION_AUTHORITY));
  assert_string_equal(custos_policy_decision_name(CUSTOS_POLICY_DECISION_REJECT), "reject");
  assert_string_equal(custos_policy_decision_name(CUSTOS_POLICY_DECISION_REVIEW), "review");
  assert_string_equal(custos_policy_level_name(CUSTOS_LEVEL_OUT_OF_STATE), "out_of_state");
  assert_string_equal(custos_policy_legal_type_name(CUSTOS_LEGAL_MISSING), "missing");
  assert_string_equal(custos_policy_legal_type_name(CUSTOS_LEGAL_IMMIGRATION_JUDGE_ORDER),
                      "immigration_judge_order");
  assert_string_equal(custos_policy_legal_type_name(CUSTOS_LEGAL_NONE), "none");
  assert_string_equal(custos_policy_court_system_name(CUSTOS_COURT_US_ARTICLE_III),
                      "us_article_iii");
  assert_string_equal(custos_policy_court_system_name(CUSTOS_COURT_NONE), "none");
  assert_string_equal(custos_policy_probe_source_name(CUSTOS_PROBE_LOOKALIKE), "lookalike");
  assert_string_equal(custos_policy_probe_source_name((custos_probe_source)42), "?");
}

/* ---- failures on purpose ---------------------------------------------------------------- */

/* Every allocation of load, parse and check failing in turn: each fails
 * cleanly (ASan sees no leak) and the run after succeeds. */
static void test_allocation_failures(void **state) {
  (void)state;
  int failures = 0;
  for (long n = 0; n < 100000; n++) {
    custos_policy *p = NULL;
    custos_policy_request *r = NULL;
    custos_policy_result *res = NULL;
    custos_probe_facts facts = {1, 197, 116};
    custos_err err;
    custos__alloc_fail_after(n);
    int rc = custos_policy_load(NULL, &p, &err);
    if (rc == CUSTOS_OK) rc = custos_policy_request_load(REQUESTS "/gov06_mixed.json", &r, &err);
    if (rc == CUSTOS_OK) rc = custos_policy_check(p, r, &facts, "2019-03-02", &res, &err);
    custos__alloc_fail_after(-1);
    custos_policy_result_free(res);
    custos_policy_request_free(r);
    custos_policy_free(p);
    if (rc == CUSTOS_OK) break;
    /* jansson's own allocations do not go through the hook; any code but a
     * crash is fine as long as nothing leaks. */
    assert_int_not_equal(rc, CUSTOS_OK);
    failures++;
  }
  assert_true(failures > 10);
}

/* ---- the real face engine (GOV-08), when the models are present ------------------------ */

static void test_probe_through_engine(void **state) {
  (void)state;
  char demo[512];
  snprintf(demo, sizeof demo, "%s/demo/sample1.jpg", CUSTOS_MODELS_DIR);
  if (access(demo, R_OK) != 0) {
    printf("skipped: %s not found (make models)\n", demo);
    return;
  }
  custos_face_engine *e = NULL;
  custos_err err;
  custos_err_clear(&err);
  if (custos_face_engine_open(CUSTOS_MODELS_DIR, NULL, &e, &err) != CUSTOS_OK) {
    printf("skipped: %s\n", err.message);
    return;
  }
  /* A request folder whose probe is a demo photo of three people. */
  char dir[] = "/tmp/custos-policy-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[512], req[512];
  unsigned char *data = NULL;
  size_t len = 0;
  assert_int_equal(custos__read_file(demo, 64 << 20, &data, &len, NULL), CUSTOS_OK);
  snprintf(path, sizeof path, "%s/crowd.jpg", dir);
  assert_int_equal(custos__write_file_atomic(path, data, len, NULL), CUSTOS_OK);
  custos__free(data);
  assert_int_equal(custos__read_file(REQUESTS "/order.pdf", 1 << 20, &data, &len, NULL), CUSTOS_OK);
  snprintf(path, sizeof path, "%s/order.pdf", dir);
  assert_int_equal(custos__write_file_atomic(path, data, len, NULL), CUSTOS_OK);
  custos__free(data);
  assert_int_equal(custos__read_file(REQUESTS "/gov08_many_faces.json", 1 << 20, &data, &len, NULL),
                   CUSTOS_OK);
  json_t *doc = json_loadb((const char *)data, len, 0, NULL);
  custos__free(data);
  assert_non_null(doc);
  json_object_set_new(json_object_get(doc, "probe"), "image", json_string("crowd.jpg"));
  snprintf(req, sizeof req, "%s/request.json", dir);
  assert_int_equal(json_dump_file(doc, req, 0), 0);
  json_decref(doc);
  custos_policy *p = default_policy();
  custos_policy_result *res = NULL;
  int rc = custos_policy_check_file(p, req, e, "2019-03-02", &res, &err);
  if (rc != CUSTOS_OK) fail_msg("%s", err.message);
  assert_true(res->probe_analyzed);
  assert_int_equal(res->probe.faces, 3);
  assert_true(res->probe.face_px > 150);
  assert_true(res->probe.sharpness > 10);
  assert_int_equal(res->nreasons, 1);
  assert_int_equal(res->reasons[0], CUSTOS_POLICY_REJECT_PROBE_MANY_FACES); /* GOV-08 */
  custos_policy_result_free(res);
  custos_policy_free(p);
  custos_face_engine_close(e);
  static const char *const names[] = {"crowd.jpg", "order.pdf", "request.json"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(names); i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_text_is_the_file),
      cmocka_unit_test(test_default_values),
      cmocka_unit_test(test_policy_file_errors),
      cmocka_unit_test(test_policy_file_extends),
      cmocka_unit_test(test_citations),
      cmocka_unit_test(test_match_forms),
      cmocka_unit_test(test_dates),
      cmocka_unit_test(test_request_table),
      cmocka_unit_test(test_policy_md_example),
      cmocka_unit_test(test_not_a_photo_needs_no_engine),
      cmocka_unit_test(test_corrupt_probe),
      cmocka_unit_test(test_file_references),
      cmocka_unit_test(test_reason_table),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_probe_through_engine),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
