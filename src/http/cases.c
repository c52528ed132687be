/*
 * The request workflow over HTTP: cases, reviews, the search, the blind
 * examination, the response letter; the auditor's report and log; the
 * retention purge, on demand and on a schedule.
 *
 * Every handler here is a thin translation: parse the path, the query or the
 * body, take the session's database handle, call the one library function
 * the CLI calls for the same command, and turn its JSON or struct into the
 * reply.  The rules (roles, states, GOV-01..22) are the library's; the
 * route table's roles are only the first of two checks.
 *
 * Lock order: the face engine's lock, then a pool slot — never the other way
 * round.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "custos/audit.h"
#include "custos/cases.h"
#include "custos/image.h"
#include "httpInt.h"

#define PHOTO_MAX_BYTES ((size_t)32 << 20) /* a photo the examination reads back */

/* ---- shared pieces ------------------------------------------------------------------- */

/* Parses s as a whole number of 1..18 digits without a sign or leading
 * zeros ("0" itself only when zero_ok). */
static bool parse_index(const char *s, bool zero_ok, int64_t *out) {
  size_t n = strlen(s);
  bool ok = n > 0 && n <= 18 && (s[0] != '0' || (zero_ok && n == 1));
  int64_t v = 0;
  for (size_t i = 0; ok && i < n; i++) {
    ok = s[i] >= '0' && s[i] <= '9';
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return ok;
}

/* The {id} of /api/cases/{id}: a positive whole number, else 404. */
static bool case_id(http_req *r, int64_t *id) {
  if (parse_index(r->params[0], false, id)) return true;
  http_reply_error(r, 404, "not_found", "no such case (a case is a positive whole number)");
  return false;
}

/* The session's database handle (locked; unlock with unlock_db). */
static custos *lock_db(http_req *r) {
  return http_pool_lock(r->srv->pool, r->session->slot);
}

static void unlock_db(http_req *r) {
  http_pool_unlock(r->srv->pool, r->session->slot);
}

/* The review stage a case in state waits for, or NULL. */
static const char *waiting_for(const char *state) {
  static const char *const stages[] = {"legal", "intake", "manager", "governor"};
  for (size_t i = 0; state && i < 4; i++) {
    if (strcmp(state, stages[i]) == 0) return stages[i];
  }
  return NULL;
}

/* Replaces o's "reasons" array of codes by [{"code", "rule", "text"}]. */
static void expand_reasons(json_t *o) {
  json_t *codes = json_object_get(o, "reasons");
  if (!json_is_array(codes)) return;
  json_t *out = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(codes, i, x) {
    custos_policy_reason why;
    const char *code = json_string_value(x);
    if (code == NULL) continue;
    if (custos_policy_reason_parse(code, &why) == CUSTOS_OK) {
      json_array_append_new(
          out, json_pack("{s:s, s:s, s:s}", "code", code, "rule", custos_policy_reason_rule(why),
                         "text", custos_policy_reason_text(why)));
    } else {
      json_array_append_new(out, json_pack("{s:s, s:n, s:n}", "code", code, "rule", "text"));
    }
  }
  json_object_set_new(o, "reasons", out);
}

/* The case's JSON as custos_case_show gives it, with the reasons expanded
 * and the stage it waits for; NULL with the reply set on failure.  The
 * caller holds the database handle. */
static json_t *case_json(http_req *r, custos *c, int64_t id) {
  custos_err err;
  char *text = NULL;
  custos_err_clear(&err);
  int rc = custos_case_show(c, r->session->cs, id, &text, &err);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return NULL;
  }
  json_t *o = json_loads(text, 0, NULL);
  free(text);
  if (o == NULL) {
    http_reply_custos_error(r, CUSTOS_ENOMEM, NULL);
    return NULL;
  }
  expand_reasons(o);
  const char *w = waiting_for(json_string_value(json_object_get(o, "state")));
  json_object_set_new(o, "waiting_for", w ? json_string(w) : json_null());
  return o;
}

/* Answers {"case", "state"} after an action on case id (the handle is not held). */
static void reply_state(http_req *r, int64_t id) {
  custos *c = lock_db(r);
  json_t *o = case_json(r, c, id);
  unlock_db(r);
  if (o == NULL) return;
  http_reply_json(
      r, 200,
      json_pack("{s:I, s:O}", "case", (json_int_t)id, "state", json_object_get(o, "state")));
  json_decref(o);
}

/* Ends an action on case id: its error, or {"case", "state"}. */
static void action_done(http_req *r, int64_t id, int rc, const custos_err *err) {
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, err);
    return;
  }
  reply_state(r, id);
}

/* The server's face engine, opened at first use (the models cost memory and
 * start-up time that a server without requests need not pay).  Takes the
 * engine lock; on failure answers 503 and releases it. */
static custos_face_engine *engine_take(http_req *r) {
  http_server *srv = r->srv;
  custos_err err;
  custos_err_clear(&err);
  pthread_mutex_lock(&srv->engine_lock);
  if (srv->engine == NULL) {
    custos_face_options o;
    custos_face_options_init(&o);
    int rc = custos_face_engine_open(srv->models_dir, &o, &srv->engine, &err);
    if (rc != CUSTOS_OK) {
      srv->engine = NULL;
      pthread_mutex_unlock(&srv->engine_lock);
      http_log("face models: %s", err.message[0] ? err.message : custos_strerror(rc));
      http_reply_error(r, 503, "unavailable", "the face models cannot be loaded; see the log");
      return NULL;
    }
  }
  return srv->engine;
}

static void engine_give(http_req *r) {
  pthread_mutex_unlock(&r->srv->engine_lock);
}

/* ---- GET /api/cases ------------------------------------------------------------------ */

void http_h_cases_list(http_req *r) {
  custos_err err;
  char *text = NULL;
  custos_err_clear(&err);
  const char *state = http_query(r, "state");
  if (state != NULL && state[0] == '\0') state = NULL;
  custos *c = lock_db(r);
  int rc = custos_case_list(c, r->session->cs, state, &text, &err);
  unlock_db(r);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  json_t *arr = json_loads(text, 0, NULL);
  free(text);
  json_t *out = json_array();
  if (arr == NULL || out == NULL) {
    json_decref(arr);
    json_decref(out);
    http_reply_custos_error(r, CUSTOS_ENOMEM, NULL);
    return;
  }
  /* Newest first, each with the stage it waits for. */
  for (size_t i = json_array_size(arr); i-- > 0;) {
    json_t *x = json_array_get(arr, i);
    const char *w = waiting_for(json_string_value(json_object_get(x, "state")));
    json_object_set_new(x, "waiting_for", w ? json_string(w) : json_null());
    json_array_append(out, x);
  }
  json_decref(arr);
  http_reply_json(r, 200, json_pack("{s:o}", "cases", out));
}

/* ---- POST /api/cases (multipart) ----------------------------------------------------------- */

/* What the upload's bytes are, from their first bytes: "pdf", "jpg", "png" or NULL. */
static const char *sniff(const http_part *p) {
  const unsigned char *d = (const unsigned char *)p->data;
  if (p->len >= 5 && memcmp(d, "%PDF-", 5) == 0) return "pdf";
  if (p->len >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return "jpg";
  if (p->len >= 8 && memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0) return "png";
  return NULL;
}

/* Checks an image upload by decoding it (the header alone can lie). */
static bool image_decodes(http_req *r, const http_part *p, const char *what) {
  custos_err err;
  custos_image *img = NULL;
  custos_err_clear(&err);
  int rc = custos_image_decode(p->data, p->len, NULL, &img, NULL, &err);
  custos_image_free(img);
  if (rc == CUSTOS_OK) return true;
  if (rc == CUSTOS_EIMAGE_TOO_LARGE) {
    http_reply_error(r, 413, "too_large", "%s: %s", what, err.message);
  } else if (rc == CUSTOS_ENOMEM) {
    http_reply_custos_error(r, rc, &err);
  } else {
    http_reply_error(r, 400, "malformed", "%s: the image does not decode (%s)", what,
                     err.message[0] ? err.message : custos_strerror(rc));
  }
  return false;
}

/* Writes len bytes to dir/name, mode 0600, never over an existing file. */
static int write_file(const char *dir, const char *name, const void *data, size_t len, char *path,
                      size_t cap) {
  snprintf(path, cap, "%s/%s", dir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return CUSTOS_EIO;
  const char *p = data;
  size_t left = len;
  while (left > 0) {
    ssize_t w = write(fd, p, left);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      close(fd);
      return CUSTOS_EIO;
    }
    p += w;
    left -= (size_t)w;
  }
  return close(fd) == 0 ? CUSTOS_OK : CUSTOS_EIO;
}

/* Removes a private folder and the files in it (no sub-folders are made). */
static void remove_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (d != NULL) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
      if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
      char path[4400];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
    closedir(d);
  }
  rmdir(dir);
}

/* A private temporary folder (0700) into dir[cap]; false when none can be made. */
static bool make_private_dir(char *dir, size_t cap, const char *what) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  snprintf(dir, cap, "%s/custos-%s-XXXXXX", base, what);
  if (mkdtemp(dir) == NULL) {
    http_log("%s: cannot make a private folder in %s: %s", what, base, strerror(errno));
    return false;
  }
  return true;
}

/* Finds the three parts of the upload; false with the reply set. */
static bool upload_parts(http_req *r, const http_part *parts, size_t n, const http_part **req,
                         const http_part **order, const http_part **probe) {
  *req = *order = *probe = NULL;
  for (size_t i = 0; i < n; i++) {
    const http_part **slot = strcmp(parts[i].name, "request") == 0 ? req
                             : strcmp(parts[i].name, "order") == 0 ? order
                             : strcmp(parts[i].name, "probe") == 0 ? probe
                                                                   : NULL;
    if (slot == NULL) {
      http_reply_error(r, 400, "malformed",
                       "unknown part '%.64s' (the parts are request, order and probe)",
                       parts[i].name);
      return false;
    }
    if (*slot != NULL) {
      http_reply_error(r, 400, "malformed", "the part '%s' is sent twice", parts[i].name);
      return false;
    }
    *slot = &parts[i];
  }
  const char *missing = *req == NULL     ? "request"
                        : *order == NULL ? "order"
                        : *probe == NULL ? "probe"
                                         : NULL;
  if (missing != NULL) {
    http_reply_error(r, 400, "malformed", "the part '%s' is missing", missing);
    return false;
  }
  return true;
}

/* The request document of the upload with its file references pointed at
 * the uploaded files; NULL with the reply set. */
static char *request_text(http_req *r, const http_part *req, const char *order_name,
                          const char *probe_name) {
  json_error_t jerr;
  if (http_json_too_deep(req->data, req->len, HTTP_JSON_MAX_DEPTH)) {
    http_reply_error(r, 400, "malformed", "request: nested deeper than %d levels",
                     HTTP_JSON_MAX_DEPTH);
    return NULL;
  }
  json_t *doc = json_loadb(req->data, req->len, JSON_REJECT_DUPLICATES, &jerr);
  if (doc == NULL || !json_is_object(doc)) {
    if (doc == NULL) {
      http_reply_error(r, 400, "malformed", "request: not JSON (line %d, column %d)", jerr.line,
                       jerr.column);
    } else {
      http_reply_error(r, 400, "malformed", "request: expected a JSON object");
    }
    json_decref(doc);
    return NULL;
  }
  /* The uploads replace whatever file names the document gives; a missing
   * or mistyped object is left for the checks to name (MALFORMED). */
  json_t *lp = json_object_get(doc, "legal_process");
  if (json_is_object(lp)) json_object_set_new(lp, "document", json_string(order_name));
  json_t *pr = json_object_get(doc, "probe");
  if (json_is_object(pr)) json_object_set_new(pr, "image", json_string(probe_name));
  char *text = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(doc);
  if (text == NULL) http_reply_custos_error(r, CUSTOS_ENOMEM, NULL);
  return text;
}

void http_h_cases_create(http_req *r) {
  http_part parts[HTTP_MAX_PARTS];
  size_t n = 0;
  char why[256];
  const http_part *req, *order, *probe;
  if (!http_multipart_parse(r->content_type, r->body, r->body_len, parts, HTTP_MAX_PARTS, &n, why,
                            sizeof why)) {
    http_reply_error(r, 400, "malformed", "%s", why);
    return;
  }
  if (!upload_parts(r, parts, n, &req, &order, &probe)) return;
  const char *order_ext = sniff(order), *probe_ext = sniff(probe);
  if (order_ext == NULL) {
    http_reply_error(r, 400, "malformed", "order: not a PDF, JPEG or PNG file");
    return;
  }
  if (probe_ext == NULL || strcmp(probe_ext, "pdf") == 0) {
    http_reply_error(r, 400, "malformed", "probe: not a JPEG or PNG image");
    return;
  }
  if (strcmp(order_ext, "pdf") != 0 && !image_decodes(r, order, "order")) return;
  if (!image_decodes(r, probe, "probe")) return;

  char order_name[16], probe_name[16];
  snprintf(order_name, sizeof order_name, "order.%s", order_ext);
  snprintf(probe_name, sizeof probe_name, "probe.%s", probe_ext);
  char *text = request_text(r, req, order_name, probe_name);
  if (text == NULL) return;

  char dir[4096], path[4200];
  bool have_dir = make_private_dir(dir, sizeof dir, "upload");
  int rc = have_dir ? CUSTOS_OK : CUSTOS_EIO;
  if (rc == CUSTOS_OK) rc = write_file(dir, order_name, order->data, order->len, path, sizeof path);
  if (rc == CUSTOS_OK) rc = write_file(dir, probe_name, probe->data, probe->len, path, sizeof path);
  if (rc == CUSTOS_OK) rc = write_file(dir, "request.json", text, strlen(text), path, sizeof path);
  free(text);
  if (rc != CUSTOS_OK) {
    if (have_dir) remove_dir(dir);
    http_log("upload: cannot write the request's files: %s", strerror(errno));
    http_reply_error(r, 500, "internal", "the upload could not be stored; the server log has why");
    return;
  }

  custos_err err;
  custos_policy_result *res = NULL;
  int64_t id = 0;
  custos_err_clear(&err);
  custos_face_engine *e = engine_take(r);
  if (e == NULL) {
    remove_dir(dir);
    return;
  }
  custos *c = lock_db(r);
  rc = custos_case_submit(c, r->session->cs, r->srv->policy, path, e, &id, &res, &err);
  json_t *kase = rc == CUSTOS_OK ? case_json(r, c, id) : NULL;
  unlock_db(r);
  engine_give(r);
  remove_dir(dir);
  if (rc != CUSTOS_OK) {
    if (custos_policy_err_malformed(&err)) {
      http_reply_error(r, 400, "malformed", "%s (nothing was stored)", err.message);
    } else {
      http_reply_action_failed(r, rc, &err);
    }
    goto out;
  }
  if (kase == NULL) goto out; /* the reply is set */
  http_reply_json(r, 201,
                  json_pack("{s:I, s:O, s:s, s:O}", "case", (json_int_t)id, "state",
                            json_object_get(kase, "state"), "decision",
                            custos_policy_decision_name(res->decision), "reasons",
                            json_object_get(kase, "reasons")));
out:
  json_decref(kase);
  custos_policy_result_free(res);
}

/* ---- GET /api/cases/{id} ------------------------------------------------------------------ */

void http_h_case_show(http_req *r) {
  int64_t id;
  if (!case_id(r, &id)) return;
  custos *c = lock_db(r);
  json_t *o = case_json(r, c, id);
  unlock_db(r);
  if (o != NULL) http_reply_json(r, 200, o);
}

/* ---- GET /api/cases/{id}/order --------------------------------------------------------- */

/* The order document for the reviewers, as a download: a browser never
 * renders a stored file inside the application's origin. */
void http_h_case_order(http_req *r) {
  int64_t id;
  char *data = NULL;
  size_t len = 0;
  custos_err err;
  custos_err_clear(&err);
  if (!case_id(r, &id)) return;
  custos *c = lock_db(r);
  int rc = custos_case_document(c, r->session->cs, id, &data, &len, &err);
  unlock_db(r);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  http_part p = {.data = data, .len = len};
  const char *ext = sniff(&p);
  r->reply.status = 200;
  r->reply.type = ext == NULL               ? "application/octet-stream"
                  : strcmp(ext, "pdf") == 0 ? "application/pdf"
                  : strcmp(ext, "jpg") == 0 ? "image/jpeg"
                                            : "image/png";
  snprintf(r->reply.disposition, sizeof r->reply.disposition,
           "attachment; filename=\"case-%lld-order.%s\"", (long long)id, ext ? ext : "bin");
  r->reply.body = data;
  r->reply.len = len;
}

/* ---- POST /api/cases/{id}/reviews ----------------------------------------------------------- */

void http_h_case_review(http_req *r) {
  static const char *const fields[] = {"stage", "decision", "immigration_related",
                                       "note",  "rests_on", NULL};
  int64_t id;
  const char *stage, *decision, *note, *rests_on;
  custos_err err;
  custos_err_clear(&err);
  if (!case_id(r, &id)) return;
  json_t *o = http_body_object(r, fields);
  if (o == NULL) return;
  if (!http_json_string(r, o, "stage", true, false, &stage) ||
      !http_json_string(r, o, "decision", true, false, &decision) ||
      !http_json_string(r, o, "note", true, false, &note) ||
      !http_json_string(r, o, "rests_on", false, true, &rests_on))
    goto out;
  json_t *imm = json_object_get(o, "immigration_related");
  if (!json_is_boolean(imm)) {
    http_reply_error(r, 400, "malformed", "immigration_related: expected true or false");
    goto out;
  }
  if (strcmp(decision, "approve") != 0 && strcmp(decision, "reject") != 0) {
    http_reply_error(r, 400, "invalid", "decision: expected \"approve\" or \"reject\"");
    goto out;
  }
  custos_case_review_in in = {.stage = stage,
                              .approve = strcmp(decision, "approve") == 0,
                              .immigration_related = json_is_true(imm),
                              .note = note,
                              .rests_on = rests_on};
  custos *c = lock_db(r);
  int rc = custos_case_review(c, r->session->cs, id, &in, &err);
  unlock_db(r);
  action_done(r, id, rc, &err);
out:
  json_decref(o);
}

/* ---- POST /api/cases/{id}/search ---------------------------------------------------------------
 */

void http_h_case_search(http_req *r) {
  int64_t id;
  custos_err err;
  custos_case_search_info info;
  custos_err_clear(&err);
  memset(&info, 0, sizeof info);
  if (!case_id(r, &id)) return;
  custos_face_engine *e = engine_take(r);
  if (e == NULL) return;
  custos *c = lock_db(r);
  int rc =
      custos_case_search(c, r->session->cs, id, r->srv->policy, e, r->srv->models_dir, &info, &err);
  unlock_db(r);
  engine_give(r);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  /* GOV-14: counts only; the list stays with the case for the blind examination. */
  http_reply_json(
      r, 200,
      json_pack("{s:I, s:s, s:I, s:I, s:I}", "case", (json_int_t)id, "state",
                custos_case_state_name(CUSTOS_CASE_SEARCHED), "gallery_size",
                (json_int_t)info.gallery_size, "candidates", (json_int_t)info.candidates,
                "checkpoint", (json_int_t)info.checkpoint));
}

/* ---- POST /api/cases/{id}/examination
 * ------------------------------------------------------------ */

/* A data: URL of the image file at path (JPEG or PNG), or NULL. */
static json_t *data_url(const char *path) {
  FILE *f = path ? fopen(path, "rb") : NULL;
  if (f == NULL) return NULL;
  struct stat st;
  json_t *out = NULL;
  unsigned char *buf = NULL;
  size_t n = 0;
  if (fstat(fileno(f), &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= PHOTO_MAX_BYTES &&
      (buf = malloc((size_t)st.st_size)) != NULL)
    n = fread(buf, 1, (size_t)st.st_size, f);
  fclose(f);
  const char *type = NULL;
  if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8) type = "image/jpeg";
  if (n >= 8 && memcmp(buf, "\x89PNG", 4) == 0) type = "image/png";
  if (type != NULL && n == (size_t)st.st_size) {
    size_t b64 = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
    size_t head = strlen("data:;base64,") + strlen(type);
    char *s = malloc(head + b64);
    if (s != NULL) {
      snprintf(s, head + 1, "data:%s;base64,", type);
      sodium_bin2base64(s + head, b64, buf, n, sodium_base64_VARIANT_ORIGINAL);
      out = json_string(s);
      free(s);
    }
  }
  free(buf);
  return out;
}

void http_h_case_examine(http_req *r) {
  int64_t id;
  custos_err err;
  char *text = NULL;
  custos_err_clear(&err);
  if (!case_id(r, &id)) return;
  const char *photos = r->srv->cfg->photos;
  if (photos == NULL || photos[0] == '\0') {
    /* Refused before the library records a view the examiner could not see. */
    http_reply_error(r, 503, "unavailable",
                     "the server was started without --photos: no photos to examine");
    return;
  }
  char dir[4096];
  if (!make_private_dir(dir, sizeof dir, "examine")) {
    http_reply_error(r, 500, "internal", "no private folder for the photos; see the log");
    return;
  }
  custos *c = lock_db(r);
  int rc = custos_case_examine(c, r->session->cs, id, photos, dir, &text, &err);
  unlock_db(r);
  json_t *doc = rc == CUSTOS_OK ? json_loads(text, 0, NULL) : NULL;
  free(text);
  if (rc != CUSTOS_OK) {
    remove_dir(dir);
    http_reply_action_failed(r, rc, &err);
    return;
  }
  json_t *out = json_pack("{s:I, s:o}", "case", (json_int_t)id, "probe",
                          data_url(json_string_value(json_object_get(doc, "probe"))));
  json_t *list = json_array();
  size_t i;
  json_t *x;
  json_array_foreach(json_object_get(doc, "candidates"), i, x) {
    const char *photo = json_string_value(json_object_get(x, "photo"));
    json_t *url = photo ? data_url(photo) : NULL;
    json_array_append_new(list, json_pack("{s:O, s:o, s:O}", "label", json_object_get(x, "label"),
                                          "photo", url ? url : json_null(), "photo_sha256",
                                          json_object_get(x, "photo_sha256")));
  }
  /* The library wrote the photos into a folder inside ours. */
  json_t *probe = json_object_get(doc, "probe");
  if (json_is_string(probe)) {
    char *sub = strdup(json_string_value(probe));
    char *slash = sub ? strrchr(sub, '/') : NULL;
    if (slash != NULL) {
      *slash = '\0';
      if (strncmp(sub, dir, strlen(dir)) == 0) remove_dir(sub);
    }
    free(sub);
  }
  remove_dir(dir);
  json_decref(doc);
  if (out == NULL || list == NULL || json_object_get(out, "probe") == NULL) {
    json_decref(out);
    json_decref(list);
    http_reply_custos_error(r, CUSTOS_ENOMEM, NULL);
    return;
  }
  json_object_set_new(out, "candidates", list);
  http_reply_json(r, 200, out);
}

/* ---- POST /api/cases/{id}/adjudication
 * --------------------------------------------------------------- */

void http_h_case_adjudicate(http_req *r) {
  static const char *const fields[] = {"candidate", NULL};
  int64_t id;
  const char *label;
  custos_err err;
  custos_err_clear(&err);
  if (!case_id(r, &id)) return;
  json_t *o = http_body_object(r, fields);
  if (o == NULL) return;
  if (json_object_get(o, "candidate") == NULL) {
    http_reply_error(r, 400, "malformed", "candidate: missing (a label, or null for none)");
    goto out;
  }
  if (!http_json_string(r, o, "candidate", false, true, &label)) goto out;
  custos *c = lock_db(r);
  int rc = custos_case_adjudicate(c, r->session->cs, id, label, &err);
  unlock_db(r);
  action_done(r, id, rc, &err);
out:
  json_decref(o);
}

/* ---- POST /api/cases/{id}/letter
 * ------------------------------------------------------------------ */

void http_h_case_letter(http_req *r) {
  int64_t id;
  custos_err err;
  custos_case_letter *l = NULL;
  custos_err_clear(&err);
  if (!case_id(r, &id)) return;
  custos *c = lock_db(r);
  int rc = custos_case_respond(c, r->session->cs, id, &l, &err);
  unlock_db(r);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  /* GOV-17: the five fields, or none; nothing else about the holder. */
  char *text = custos_case_letter_json(l);
  json_t *o = text ? json_loads(text, 0, NULL) : NULL;
  if (text != NULL) {
    sodium_memzero(text, strlen(text));
    free(text);
  }
  if (o != NULL)
    json_object_set_new(o, "case_number",
                        l->case_number[0] ? json_string(l->case_number) : json_null());
  http_reply_json(r, 200, o);
  custos_case_letter_free(l);
}

/* ---- close, withdraw ------------------------------------------------------------------------- */

void http_h_case_close(http_req *r) {
  int64_t id;
  custos_err err;
  custos_err_clear(&err);
  if (!case_id(r, &id)) return;
  custos *c = lock_db(r);
  int rc = custos_case_close(c, r->session->cs, id, &err);
  unlock_db(r);
  action_done(r, id, rc, &err);
}

void http_h_case_withdraw(http_req *r) {
  static const char *const fields[] = {"note", NULL};
  int64_t id;
  const char *note;
  custos_err err;
  custos_err_clear(&err);
  if (!case_id(r, &id)) return;
  json_t *o = http_body_object(r, fields);
  if (o == NULL) return;
  if (http_json_string(r, o, "note", true, false, &note)) {
    custos *c = lock_db(r);
    int rc = custos_case_withdraw(c, r->session->cs, id, note, &err);
    unlock_db(r);
    action_done(r, id, rc, &err);
  }
  json_decref(o);
}

/* ---- GET /api/report (auditor) ----------------------------------------------------------------
 */

/* A year argument: absent (0) or four digits; false with the reply set. */
static bool year_arg(http_req *r, const char *key, int *out) {
  const char *s = http_query(r, key);
  *out = 0;
  if (s == NULL || s[0] == '\0') return true;
  bool ok = strlen(s) == 4;
  for (size_t i = 0; ok && i < 4; i++) ok = s[i] >= '0' && s[i] <= '9';
  if (!ok) {
    http_reply_error(r, 400, "invalid", "%s: expected a year (four digits)", key);
    return false;
  }
  *out = atoi(s);
  return true;
}

void http_h_report(http_req *r) {
  int from, to;
  custos_err err;
  char *text = NULL;
  custos_err_clear(&err);
  if (!year_arg(r, "from", &from) || !year_arg(r, "to", &to)) return;
  custos *c = lock_db(r);
  int rc = custos_report(c, r->session->cs, from, to, &text, &err);
  unlock_db(r);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  json_t *o = json_loads(text, 0, NULL);
  free(text);
  http_reply_json(r, 200, o);
}

/* ---- the audit log (auditor)
 * --------------------------------------------------------------------- */

static void hex32(const unsigned char *h, char out[65]) {
  sodium_bin2hex(out, 65, h, 32);
}

/* The latest signed checkpoint (with sign: of the tree as it is now, signed
 * first when it has grown) as {"size", "root", "origin", "key", "checkpoint",
 * "signed_now"}. */
static void reply_checkpoint(http_req *r, bool sign) {
  custos_err err;
  custos_status st;
  custos_audit_checkpoint cp;
  size_t len = 0;
  bool signed_now = false;
  custos_err_clear(&err);
  char *note = malloc(CUSTOS_AUDIT_NOTE_MAX + 1);
  if (note == NULL) {
    http_reply_custos_error(r, CUSTOS_ENOMEM, NULL);
    return;
  }
  custos *c = lock_db(r);
  int rc = custos_get_status(c, &st, &err);
  if (rc == CUSTOS_OK)
    rc = custos_audit_latest_checkpoint(c, sign, note, CUSTOS_AUDIT_NOTE_MAX + 1, &len, &signed_now,
                                        &err);
  unlock_db(r);
  /* The note's body ends at its blank line; its signatures follow. */
  const char *blank = rc == CUSTOS_OK ? strstr(note, "\n\n") : NULL;
  if (rc == CUSTOS_OK && blank == NULL) rc = CUSTOS_ECORRUPT;
  if (rc == CUSTOS_OK)
    rc = custos_audit_checkpoint_parse(note, (size_t)(blank - note) + 1, &cp, &err);
  if (rc != CUSTOS_OK) {
    free(note);
    http_reply_custos_error(r, rc, &err);
    return;
  }
  char root[65];
  hex32(cp.root.b, root);
  http_reply_json(r, 200,
                  json_pack("{s:I, s:s, s:s, s:s, s:s, s:b}", "size", (json_int_t)cp.size, "root",
                            root, "origin", cp.origin, "key", st.log_key, "checkpoint", note,
                            "signed_now", signed_now));
  free(note);
}

void http_h_audit(http_req *r) {
  reply_checkpoint(r, false);
}

void http_h_audit_checkpoint(http_req *r) {
  reply_checkpoint(r, true);
}

void http_h_audit_verify(http_req *r) {
  custos_err err;
  custos_audit_verify_report rep;
  custos_err_clear(&err);
  memset(&rep, 0, sizeof rep);
  custos *c = lock_db(r);
  int rc = custos_audit_verify(c, NULL, NULL, 0, &rep, &err);
  unlock_db(r);
  if (rc == CUSTOS_EVERIFY) {
    http_reply_json(r, 200,
                    json_pack("{s:b, s:I, s:I, s:s}", "ok", 0, "entries", (json_int_t)rep.entries,
                              "checkpoints", (json_int_t)rep.checkpoints, "problem",
                              rep.first_problem[0] ? rep.first_problem : err.message));
    return;
  }
  if (rc != CUSTOS_OK) {
    http_reply_custos_error(r, rc, &err);
    return;
  }
  char root[65];
  hex32(rep.root.b, root);
  http_reply_json(
      r, 200,
      json_pack("{s:b, s:I, s:I, s:I, s:s}", "ok", 1, "entries", (json_int_t)rep.entries,
                "checkpoints", (json_int_t)rep.checkpoints, "consistency_proofs",
                (json_int_t)rep.consistency_proofs, "root", root));
}

void http_h_audit_entry(http_req *r) {
  int64_t index;
  if (!parse_index(r->params[0], true, &index)) {
    http_reply_error(r, 404, "not_found", "no such entry (an entry is a whole number from 0)");
    return;
  }
  custos_err err;
  custos_err_clear(&err);
  custos_audit_evidence *ev = malloc(sizeof *ev);
  char *proof = malloc(CUSTOS_AUDIT_PROOF_FILE_MAX);
  size_t plen = 0;
  int rc = ev && proof ? CUSTOS_OK : CUSTOS_ENOMEM;
  if (rc == CUSTOS_OK) {
    custos *c = lock_db(r);
    rc = custos_audit_prove(c, (uint64_t)index, false, ev, &err);
    unlock_db(r);
  }
  if (rc == CUSTOS_OK)
    rc = custos_audit_proof_encode(&ev->proof, proof, CUSTOS_AUDIT_PROOF_FILE_MAX, &plen, &err);
  if (rc != CUSTOS_OK) {
    http_reply_custos_error(r, rc, &err);
  } else {
    json_t *p = json_loadb(proof, plen, 0, NULL);
    http_reply_json(
        r, 200,
        json_pack("{s:I, s:s%, s:s%, s:o?}", "index", (json_int_t)index, "entry", ev->entry,
                  ev->entry_len, "checkpoint", ev->checkpoint, ev->checkpoint_len, "proof", p));
  }
  free(ev);
  free(proof);
}

/* ---- the retention purge (GOV-21) ------------------------------------------------------------ */

void http_h_purge(http_req *r) {
  custos_err err;
  int64_t purged = 0;
  custos_err_clear(&err);
  custos *c = lock_db(r);
  int rc = custos_case_purge_expired(c, r->session->cs, r->srv->policy, &purged, &err);
  unlock_db(r);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  http_reply_json(r, 200, json_pack("{s:I}", "purged", (json_int_t)purged));
}

void *http_purge_thread(void *arg) {
  http_server *srv = arg;
  static char note[CUSTOS_AUDIT_NOTE_MAX + 1]; /* one such thread per process */
  for (;;) {
    custos_err err;
    int64_t purged = 0;
    custos_err_clear(&err);
    custos *c = NULL;
    unsigned slot = http_pool_lock_any(srv->pool, &c);
    int rc = custos_case_purge_scheduled(c, srv->policy, &purged, &err);
    http_pool_unlock(srv->pool, slot);
    if (rc != CUSTOS_OK) {
      http_log("retention purge failed: %s", err.message[0] ? err.message : custos_strerror(rc));
    } else if (purged > 0) {
      http_log("retention purge: %lld cases purged", (long long)purged);
    }
    /* The same schedule signs a checkpoint of the log when it has grown, so
     * the public page and the auditors' proofs never lag far behind. */
    bool signed_now = false;
    size_t len = 0;
    custos_err_clear(&err);
    slot = http_pool_lock_any(srv->pool, &c);
    rc = custos_audit_latest_checkpoint(c, true, note, CUSTOS_AUDIT_NOTE_MAX + 1, &len, &signed_now,
                                        &err);
    http_pool_unlock(srv->pool, slot);
    if (rc != CUSTOS_OK) {
      http_log("signing a checkpoint failed: %s",
               err.message[0] ? err.message : custos_strerror(rc));
    } else if (signed_now) {
      http_log("signed a checkpoint of the audit log");
    }
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)srv->cfg->purge_every_s;
    pthread_mutex_lock(&srv->purge_lock);
    int w = 0;
    while (!srv->purge_stop && w != ETIMEDOUT)
      w = pthread_cond_timedwait(&srv->purge_wake, &srv->purge_lock, &until);
    bool stop = srv->purge_stop;
    pthread_mutex_unlock(&srv->purge_lock);
    if (stop) return NULL;
  }
}
