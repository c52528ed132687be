/*
 * Policy: the policy file, the request document and the automatic checks of a
 * request (POLICY.md GOV-01..09).
 *
 * A policy (custos_policy) holds every parameter and table of POLICY.md: the
 * largest age of an order without an expiry date, the statute classes, the
 * immigration-authority agencies, the probe quality thresholds, the search
 * and de-duplication thresholds, the candidate list size, the retention
 * period, the fields not collected, the audit checkpoint interval and the
 * failed-login limit.  It is read from a policy file (docs/policy.md: a
 * small, strict subset of TOML with comments) on top of the built-in default
 * policy, whose text is policy/default.policy byte for byte.  Scalars in a
 * file replace the default; tables (statutes, aliases, forms, agencies,
 * fields) can only be extended: a file cannot drop or reclassify a default
 * entry, so no policy file can weaken the rules of POLICY.md by omission.
 *
 * A request (custos_policy_request) is the JSON document of POLICY.md "The
 * request document", parsed strictly: an unknown key, a wrong type, an
 * impossible date, an oversized field, a value outside an enumeration or a
 * file reference that is missing, unreadable or of the wrong kind refuses the
 * whole request as MALFORMED, with the field named.  There is no field for
 * nationality, birthplace, citizenship or immigration status, and the unknown
 * key rule refuses any such key (GOV-09).
 *
 * A check (custos_policy_check) applies GOV-01..08 to a parsed request, on a
 * given day, with the facts of the probe photo (number of faces, size and
 * sharpness of the face) as an input; custos_policy_probe_analyze computes
 * those facts with the face engine, and custos_policy_check_file does all
 * three steps.  Checks have no side effects.
 *
 * Dates are calendar dates "YYYY-MM-DD" (UTC days), years 1800..2999.
 */
#ifndef CUSTOS_POLICY_H
#define CUSTOS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "custos/error.h"
#include "custos/face.h"

/* ---- the policy ------------------------------------------------------------ */

typedef struct custos_policy custos_policy;

#define CUSTOS_POLICY_MAX_BYTES ((size_t)1 << 20) /* largest policy file read */
#define CUSTOS_POLICY_SHA256_HEX 65               /* 64 hex digits and the NUL */

/* The scalar parameters of a policy (docs/policy.md names each key). */
typedef struct custos_policy_params {
  int order_max_age_days;     /* GOV-03: days an order without expiry stays valid; 14 */
  int candidates;             /* GOV-14: candidate list size; 10 */
  double search_threshold;    /* GOV-16: largest descriptor distance a released candidate may
                                 have; 0.6 */
  double dedup_threshold;     /* enrolment de-duplication: distance below which two photos are
                                 taken for one person; 0.44 */
  double probe_min_face_px;   /* GOV-08: smallest face (smaller box side) in px; 60 */
  double probe_min_sharpness; /* GOV-08: smallest sharpness (custos_face_quality); 10 */
  int retention_days;         /* GOV-21: days after closing before probes are purged; 90 */
  int checkpoint_every;       /* audit log: sign a checkpoint every N entries; 1 */
  int max_failed_logins;      /* consecutive failed logins that lock an account; 5 */
} custos_policy_params;

/* Loads the policy file at path on top of the built-in default policy; path
 * NULL gives the default policy itself.  Errors (the message names the file,
 * the line and the key, e.g. "site.policy:12: requests.order_max_age_days:
 * expected an integer"): CUSTOS_EINVAL for a syntax error, an unknown section
 * or key, a duplicate key, a wrong type, a value out of range, or an entry
 * that would reclassify or drop a default; CUSTOS_ETOOBIG beyond
 * CUSTOS_POLICY_MAX_BYTES; CUSTOS_ENOENT when the file is missing; CUSTOS_EIO.
 * The caller frees *out with custos_policy_free. */
CUSTOS_API int custos_policy_load(const char *path, custos_policy **out, custos_err *err);

/* Same, from text in memory; name is what errors call it ("site.policy"). */
CUSTOS_API int custos_policy_parse(const char *text, size_t len, const char *name,
                                   custos_policy **out, custos_err *err);

/* The built-in default policy's text (static; *len receives its length when
 * not NULL).  It is policy/default.policy byte for byte. */
CUSTOS_API const char *custos_policy_default_text(size_t *len);

/* Frees a policy; NULL-safe. */
CUSTOS_API void custos_policy_free(custos_policy *p);

/* SHA-256 (lower-case hex) of the policy file's bytes, or of the default text
 * when no file was given: the policy's identity for `custos status` and the
 * audit log.  Owned by the policy. */
CUSTOS_API const char *custos_policy_sha256(const custos_policy *p);

/* The file name the policy was loaded from; "built-in default" for none. */
CUSTOS_API const char *custos_policy_source(const custos_policy *p);

/* The scalar parameters (owned by the policy). */
CUSTOS_API const custos_policy_params *custos_policy_get_params(const custos_policy *p);

/* Whether an import column is marked not collected (GOV-19): "birthplace" by
 * default.  Column names as in CLI.md's import header. */
CUSTOS_API bool custos_policy_not_collected(const custos_policy *p, const char *field);

/* The fields marked not collected: count, and the i-th name (owned by the
 * policy; NULL past the end). */
CUSTOS_API size_t custos_policy_not_collected_count(const custos_policy *p);
CUSTOS_API const char *custos_policy_not_collected_field(const custos_policy *p, size_t i);

/* ---- statutes (GOV-05, GOV-06) --------------------------------------------- */

typedef enum custos_offense_class {
  CUSTOS_OFFENSE_NONE = 0,       /* does not parse as a statute: counts as no citation */
  CUSTOS_OFFENSE_CRIMINAL = 1,   /* everything else that parses as a statute */
  CUSTOS_OFFENSE_MIXED = 2,      /* immigration-related crime: escalate */
  CUSTOS_OFFENSE_IMMIGRATION = 3 /* immigration violation only */
} custos_offense_class;

#define CUSTOS_POLICY_STATUTE_MAX 96 /* bytes of a normalised citation, with the NUL */

/* Normalises a citation and classifies it by the policy's statute table:
 * "8 USC 1326", "8 U.S.C. § 1326(a)" and "8 u.s.c. sec. 1326" all give
 * "8 U.S.C. 1326", immigration.  statute (size bytes, at least
 * CUSTOS_POLICY_STATUTE_MAX) receives the normalised citation, or "" when the
 * text does not parse as a statute (class CUSTOS_OFFENSE_NONE).  Never fails. */
CUSTOS_API custos_offense_class custos_policy_classify(const custos_policy *p, const char *citation,
                                                       char *statute, size_t size);

/* "none", "criminal", "mixed", "immigration". */
CUSTOS_API const char *custos_policy_class_name(custos_offense_class c);

/* ---- the request document --------------------------------------------------- */

typedef enum custos_agency_level {
  CUSTOS_LEVEL_FEDERAL = 0,
  CUSTOS_LEVEL_STATE = 1,
  CUSTOS_LEVEL_LOCAL = 2,
  CUSTOS_LEVEL_TRIBAL = 3,
  CUSTOS_LEVEL_OUT_OF_STATE = 4,
  CUSTOS_LEVEL_FOREIGN = 5
} custos_agency_level;

typedef enum custos_legal_type {
  CUSTOS_LEGAL_MISSING = 0, /* no legal_process, or no type in it */
  CUSTOS_LEGAL_COURT_ORDER = 1,
  CUSTOS_LEGAL_JUDICIAL_WARRANT = 2,
  CUSTOS_LEGAL_JUDICIAL_SUBPOENA = 3,
  CUSTOS_LEGAL_GRAND_JURY_SUBPOENA = 4,
  CUSTOS_LEGAL_ADMINISTRATIVE_WARRANT = 5,
  CUSTOS_LEGAL_ADMINISTRATIVE_SUBPOENA = 6,
  CUSTOS_LEGAL_DETAINER = 7,
  CUSTOS_LEGAL_IMMIGRATION_JUDGE_ORDER = 8,
  CUSTOS_LEGAL_NONE = 9 /* "none" */
} custos_legal_type;

typedef enum custos_court_system {
  CUSTOS_COURT_MISSING = 0, /* not given */
  CUSTOS_COURT_US_ARTICLE_III = 1,
  CUSTOS_COURT_WASHINGTON = 2,
  CUSTOS_COURT_OTHER_STATE = 3,
  CUSTOS_COURT_IMMIGRATION_COURT = 4,
  CUSTOS_COURT_AGENCY = 5,
  CUSTOS_COURT_NONE = 6 /* "none" */
} custos_court_system;

typedef enum custos_probe_source {
  CUSTOS_PROBE_SURVEILLANCE = 0,
  CUSTOS_PROBE_BOOKING = 1,
  CUSTOS_PROBE_SOCIAL_MEDIA = 2,
  CUSTOS_PROBE_IDENTITY_DOCUMENT = 3,
  CUSTOS_PROBE_WITNESS_PHOTO = 4,
  CUSTOS_PROBE_OTHER_PHOTO = 5,
  CUSTOS_PROBE_SKETCH = 6,
  CUSTOS_PROBE_COMPOSITE = 7,
  CUSTOS_PROBE_EDITED = 8,
  CUSTOS_PROBE_LOOKALIKE = 9
} custos_probe_source;

/* Names as in the request document ("out_of_state", "court_order", ...);
 * "missing" for the MISSING values, "?" for others. */
CUSTOS_API const char *custos_policy_level_name(custos_agency_level v);
CUSTOS_API const char *custos_policy_legal_type_name(custos_legal_type v);
CUSTOS_API const char *custos_policy_court_system_name(custos_court_system v);
CUSTOS_API const char *custos_policy_probe_source_name(custos_probe_source v);

/* Limits of a request document (bytes, without the NUL). */
#define CUSTOS_REQUEST_MAX_BYTES ((size_t)256 << 10)   /* the JSON document */
#define CUSTOS_REQUEST_MAX_TEXT 256                    /* names, titles, contact, court ... */
#define CUSTOS_REQUEST_MAX_ID 128                      /* case_number, docket, form */
#define CUSTOS_REQUEST_MAX_CITATION 256                /* offenses[i].citation */
#define CUSTOS_REQUEST_MAX_DESCRIPTION 2048            /* offenses[i].description */
#define CUSTOS_REQUEST_MAX_NARRATIVE 16384             /* narrative */
#define CUSTOS_REQUEST_MAX_PATH 1024                   /* a file reference */
#define CUSTOS_REQUEST_MAX_OFFENSES 32                 /* items of offenses */
#define CUSTOS_REQUEST_MAX_DOCUMENT ((size_t)64 << 20) /* legal_process.document file */
#define CUSTOS_REQUEST_MAX_PROBE ((size_t)32 << 20)    /* probe.image file */

/* A file a request refers to, read and checked at parse time: these bytes are
 * what was checked, and what a case must store. */
typedef struct custos_request_file {
  const char *path;    /* as written in the request; NULL when absent */
  unsigned char *data; /* the file's bytes (owned by the request); NULL when absent */
  size_t len;          /* bytes */
  const char *kind;    /* static: "pdf", "jpeg" or "png" */
  char sha256[CUSTOS_POLICY_SHA256_HEX]; /* of data, lower-case hex */
} custos_request_file;

typedef struct custos_request_offense {
  const char *citation;    /* as written */
  const char *description; /* NULL when absent */
} custos_request_offense;

/* A parsed request.  Strings are owned by the request; optional strings are
 * NULL when absent. */
typedef struct custos_policy_request {
  char received[11]; /* YYYY-MM-DD */
  struct {
    const char *name;          /* required */
    custos_agency_level level; /* required */
    const char *department;    /* e.g. "DHS" */
    const char *component;     /* e.g. "ICE" */
  } agency;
  struct {
    const char *name; /* required */
    const char *title;
    const char *contact; /* required */
  } requester;
  const char *case_number;
  struct {
    custos_legal_type type; /* CUSTOS_LEGAL_MISSING when absent */
    const char *form;       /* e.g. "I-200" */
    custos_court_system court_system;
    const char *court;
    const char *judge;
    int is_signed; /* "signed": 1 true, 0 false, -1 absent */
    const char *docket;
    char issued[11];              /* "" when absent */
    char expires[11];             /* "" when absent */
    custos_request_file document; /* required unless type is missing or none */
  } legal_process;
  size_t noffenses;
  custos_request_offense *offenses; /* noffenses items; NULL when 0 */
  const char *narrative;
  struct {
    custos_request_file image;  /* required; JPEG or PNG */
    custos_probe_source source; /* required */
  } probe;
  void *internal; /* the parsed JSON the strings point into */
} custos_policy_request;

/* Reads and parses the request file at path; file references are relative
 * to the folder holding it.  Errors: CUSTOS_ENOENT when the request file
 * itself is missing; CUSTOS_EINVAL (module "request") for every kind of
 * malformed request, the message "FIELD: why" naming the field
 * ("legal_process.expires: not a date (2019-02-30)"; "request: ..." for the
 * document as a whole); CUSTOS_ENOMEM, CUSTOS_EIO.  The caller frees *out
 * with custos_policy_request_free.
 *
 * File references: a relative path without "." or ".." components, not
 * empty, without NUL or control characters, that stays inside the request's
 * folder once symbolic links are resolved, and names a regular file no larger
 * than its limit; the document must be a PDF, JPEG or PNG and the probe a
 * JPEG or PNG (by content, not by name). */
CUSTOS_API int custos_policy_request_load(const char *path, custos_policy_request **out,
                                          custos_err *err);

/* Same, from a JSON text in memory; base_dir is the folder file references
 * are relative to (the web form writes its uploads into one). */
CUSTOS_API int custos_policy_request_parse(const char *json, size_t len, const char *base_dir,
                                           custos_policy_request **out, custos_err *err);

/* Frees a request; NULL-safe. */
CUSTOS_API void custos_policy_request_free(custos_policy_request *r);

/* Whether an error came from a malformed request (the MALFORMED outcome). */
CUSTOS_API bool custos_policy_err_malformed(const custos_err *err);

/* The field a MALFORMED error names ("legal_process.expires"), copied into
 * buf; "" when err is not a MALFORMED error.  Returns buf. */
CUSTOS_API const char *custos_policy_err_field(const custos_err *err, char *buf, size_t size);

/* ---- the checks (GOV-01..09) ----------------------------------------------- */

/* Reason codes: X(NAME, rule, what it means). */
#define CUSTOS_POLICY_REASON_MAP(X)                                                        \
  X(MALFORMED, "", "the request document is malformed")                                    \
  X(REJECT_NO_COURT_ORDER, "GOV-01", "no legal process")                                   \
  X(REJECT_NOT_JUDICIAL, "GOV-02", "the legal process is not an order signed by a judge")  \
  X(REJECT_EXPIRED, "GOV-03", "the order has expired")                                     \
  X(REJECT_STALE, "GOV-03", "the order has no expiry date and is too old")                 \
  X(ESCALATE_LEGAL_REVIEW, "GOV-04", "needs a legal review first")                         \
  X(REJECT_NO_SPECIFIC_CRIME, "GOV-05", "no offense cites a statute")                      \
  X(REJECT_SOLELY_IMMIGRATION, "GOV-06", "every offense is an immigration violation")      \
  X(ESCALATE_MIXED_OFFENSE, "GOV-06",                                                      \
    "an offense is an immigration-related crime: the governor's-office reviewer records "  \
    "the non-immigration crime the case rests on")                                         \
  X(FLAG_IMMIGRATION_AUTHORITY, "GOV-07", "the agency is a federal immigration authority") \
  X(REJECT_PROBE_NOT_A_PHOTO, "GOV-08", "the probe is not a photo")                        \
  X(REJECT_PROBE_NO_FACE, "GOV-08", "no face in the probe photo")                          \
  X(REJECT_PROBE_MANY_FACES, "GOV-08", "more than one face in the probe photo")            \
  X(REJECT_PROBE_LOW_QUALITY, "GOV-08", "the face in the probe photo is too small or too blurred")

typedef enum custos_policy_reason {
#define CUSTOS_POLICY_REASON_ENUM_(name, rule, text) CUSTOS_POLICY_##name,
  CUSTOS_POLICY_REASON_MAP(CUSTOS_POLICY_REASON_ENUM_)
#undef CUSTOS_POLICY_REASON_ENUM_
      CUSTOS_POLICY_REASON_COUNT
} custos_policy_reason;

/* "REJECT_EXPIRED"; "?" for others. */
CUSTOS_API const char *custos_policy_reason_name(custos_policy_reason r);
/* "GOV-03"; "" for MALFORMED and others. */
CUSTOS_API const char *custos_policy_reason_rule(custos_policy_reason r);
/* One line saying what it means. */
CUSTOS_API const char *custos_policy_reason_text(custos_policy_reason r);
/* Parses a reason name; CUSTOS_EINVAL when it is not one. */
CUSTOS_API int custos_policy_reason_parse(const char *name, custos_policy_reason *out);
/* Whether the reason rejects the request (MALFORMED and every REJECT_*). */
CUSTOS_API bool custos_policy_reason_rejects(custos_policy_reason r);

/* What the probe photo shows (GOV-08), computed by custos_policy_probe_analyze
 * or given by the caller. */
typedef struct custos_probe_facts {
  int faces;        /* faces found in the photo */
  double face_px;   /* the best face's size: the smaller side of its box, px */
  double sharpness; /* the best face's sharpness (custos_face_quality.sharpness); < 0 unknown */
} custos_probe_facts;

typedef enum custos_policy_decision {
  CUSTOS_POLICY_DECISION_REVIEW = 0, /* goes to the human reviews */
  CUSTOS_POLICY_DECISION_REJECT = 1  /* rejected at once */
} custos_policy_decision;

/* "review", "reject". */
CUSTOS_API const char *custos_policy_decision_name(custos_policy_decision d);

/* One offense of a checked request. */
typedef struct custos_policy_offense {
  char *citation;                          /* as written (owned by the result) */
  char statute[CUSTOS_POLICY_STATUTE_MAX]; /* normalised; "" when it does not parse */
  custos_offense_class cls;                /* CUSTOS_OFFENSE_NONE when it does not parse */
} custos_policy_offense;

/* The outcome of the checks. */
typedef struct custos_policy_result {
  custos_policy_decision decision;                          /* REJECT when any reason rejects */
  size_t nreasons;                                          /* reasons found */
  custos_policy_reason reasons[CUSTOS_POLICY_REASON_COUNT]; /* each once, in GOV order */
  size_t noffenses;
  custos_policy_offense *offenses; /* one per offense of the request, in its order */
  size_t nreviews;                 /* 0 when rejected */
  const char *reviews[4];          /* static stage names in order: "legal" (only when
                                      escalated, GOV-04/11), "intake", "manager",
                                      "governor" (GOV-10) */
  char on[11];                     /* the day of the check */
  bool probe_analyzed;             /* GOV-08's face checks ran (the source is a photo) */
  custos_probe_facts probe;        /* the facts they ran on */
  char policy_sha256[CUSTOS_POLICY_SHA256_HEX]; /* the policy checked against */
} custos_policy_result;

/* Whether the result holds reason r. */
CUSTOS_API bool custos_policy_result_has(const custos_policy_result *res, custos_policy_reason r);

/* Whether GOV-08's face checks need facts for this request: false when the
 * probe's source already rejects it (sketch, composite, edited, lookalike). */
CUSTOS_API bool custos_policy_request_needs_probe_facts(const custos_policy_request *r);

/* Computes the probe facts of a request with the face engine: decodes the
 * probe (a broken or oversized image is MALFORMED: CUSTOS_EINVAL, module
 * "request", field probe.image), finds every face and measures the best one.
 * Errors of the engine are passed on. */
CUSTOS_API int custos_policy_probe_analyze(custos_face_engine *e, const custos_policy_request *r,
                                           custos_probe_facts *out, custos_err *err);

/* Runs GOV-01..09 on a parsed request on day `on` (YYYY-MM-DD; NULL: today,
 * UTC).  facts may be NULL only when custos_policy_request_needs_probe_facts
 * is false.  No side effects.  Errors: CUSTOS_EINVAL for a bad `on` date or
 * missing facts, CUSTOS_ENOMEM.  The caller frees *out with
 * custos_policy_result_free. */
CUSTOS_API int custos_policy_check(const custos_policy *p, const custos_policy_request *r,
                                   const custos_probe_facts *facts, const char *on,
                                   custos_policy_result **out, custos_err *err);

/* The front ends' entry point: custos_policy_request_load, then
 * custos_policy_probe_analyze with engine e when the probe needs it (e may be
 * NULL otherwise; CUSTOS_EINVAL "GOV-08: ..." when it is needed and NULL),
 * then custos_policy_check.  Errors as those three. */
CUSTOS_API int custos_policy_check_file(const custos_policy *p, const char *request_path,
                                        custos_face_engine *e, const char *on,
                                        custos_policy_result **out, custos_err *err);

/* Frees a result; NULL-safe. */
CUSTOS_API void custos_policy_result_free(custos_policy_result *res);

/* Today's date in UTC as YYYY-MM-DD into out (11 bytes). */
CUSTOS_API void custos_policy_today(char out[11]);

#endif
