/*
 * Unit tests of the server's parts that need no socket: route matching and
 * the routing table's invariants (every state-changing route behind a
 * session needs CSRF), the JSON depth scan, Cookie and Content-Length
 * parsing, the login token buckets and the session store with its idle and
 * absolute expiry on an injected clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>

#include "httpInt.h"

/* ---- routes --------------------------------------------------------------------------- */

static void test_route_find(void **state) {
  (void)state;
  const http_route *r = NULL;
  char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX + 1];
  char allow[64];
  assert_int_equal(http_route_find(http_routes, "GET", "/api/me", &r, params, allow, sizeof allow),
                   HTTP_MATCH_ROUTE);
  assert_string_equal(r->pattern, "/api/me");
  assert_int_equal(http_route_find(http_routes, "HEAD", "/api/me", &r, params, allow, sizeof allow),
                   HTTP_MATCH_ROUTE);
  assert_int_equal(http_route_find(http_routes, "POST", "/api/users/emil.b_2-x/unlock", &r, params,
                                   allow, sizeof allow),
                   HTTP_MATCH_ROUTE);
  assert_string_equal(params[0], "emil.b_2-x");
  assert_int_equal(http_route_find(http_routes, "GET", "/api/users/emil/unlock", &r, params, allow,
                                   sizeof allow),
                   HTTP_MATCH_METHOD);
  assert_string_equal(allow, "POST");
  assert_int_equal(
      http_route_find(http_routes, "PATCH", "/api/session", &r, params, allow, sizeof allow),
      HTTP_MATCH_METHOD);
  assert_string_equal(allow, "POST, DELETE");
  assert_int_equal(
      http_route_find(http_routes, "DELETE", "/api/users", &r, params, allow, sizeof allow),
      HTTP_MATCH_METHOD);
  assert_string_equal(allow, "GET, HEAD, POST");
  static const char *const none[] = {"/api/me/",
                                     "/api/users//unlock",
                                     "/api/users/a%2fb/unlock",
                                     "/api/users/a b/unlock",
                                     "/api/users/../unlock",
                                     "/api/users/x/unlock/",
                                     "/API/me",
                                     "",
                                     "/",
                                     "/healthz/"};
  for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
    http_match m = http_route_find(http_routes, "GET", none[i], &r, params, allow, sizeof allow);
    if (strcmp(none[i], "/api/users/../unlock") == 0) {
      /* ".." is made of unreserved characters: it matches {name} as a
       * name, which the library then looks up (and does not find). */
      assert_int_equal(m, HTTP_MATCH_METHOD);
      continue;
    }
    assert_int_equal(m, HTTP_MATCH_NONE);
  }
  char longname[HTTP_PARAM_MAX + 40];
  int n = snprintf(longname, sizeof longname, "/api/users/");
  memset(longname + n, 'a', HTTP_PARAM_MAX + 1);
  snprintf(longname + n + HTTP_PARAM_MAX + 1, sizeof longname - (size_t)n - HTTP_PARAM_MAX - 1,
           "/unlock");
  assert_int_equal(http_route_find(http_routes, "POST", longname, &r, params, allow, sizeof allow),
                   HTTP_MATCH_NONE);
}

/* Every route that changes state and acts for a session needs the CSRF
 * token; the only public state-changing route is the sign-in. */
static void test_route_table(void **state) {
  (void)state;
  int rows = 0;
  for (const http_route *r = http_routes; r->method != NULL; r++, rows++) {
    bool reads = strcmp(r->method, "GET") == 0;
    if (!reads && r->roles != HTTP_PUBLIC) assert_true(r->csrf);
    if (!reads && r->roles == HTTP_PUBLIC) {
      assert_string_equal(r->method, "POST");
      assert_string_equal(r->pattern, "/api/session");
    }
    if (reads) assert_int_equal(r->max_body, 0);
    if (r->body != HTTP_BODY_NONE) assert_true(r->max_body > 0);
    assert_true(r->max_body <=
                (r->body == HTTP_BODY_MULTIPART ? HTTP_BODY_UPLOAD : HTTP_BODY_JSON));
    if (r->body == HTTP_BODY_MULTIPART) assert_true(r->csrf);
    assert_non_null(r->handler);
    assert_int_equal(r->pattern[0], '/');
    assert_int_equal(r->roles & ~HTTP_SIGNED_IN, 0);
  }
  assert_true(rows >= 8);
}

/* ---- parsing ------------------------------------------------------------------------- */

static void test_json_depth(void **state) {
  (void)state;
  const char *ok = "{\"a\":[[{\"b\":\"[[[[[[[[\"}]]}";
  assert_false(http_json_too_deep(ok, strlen(ok), 4));
  assert_true(http_json_too_deep(ok, strlen(ok), 3));
  const char *esc = "{\"a\":\"\\\"[[[[[\"}";
  assert_false(http_json_too_deep(esc, strlen(esc), 1));
  char deep[200];
  memset(deep, '[', sizeof deep);
  assert_true(http_json_too_deep(deep, sizeof deep, HTTP_JSON_MAX_DEPTH));
  assert_false(http_json_too_deep(deep, HTTP_JSON_MAX_DEPTH, HTTP_JSON_MAX_DEPTH));
}

static void test_cookie(void **state) {
  (void)state;
  char v[64];
  assert_true(http_cookie_find("custos_session=abc", "custos_session", v, sizeof v));
  assert_string_equal(v, "abc");
  assert_true(http_cookie_find("a=1; custos_session=xyz ;b=2", "custos_session", v, sizeof v));
  assert_string_equal(v, "xyz");
  assert_true(
      http_cookie_find("xcustos_session=no; custos_session=yes", "custos_session", v, sizeof v));
  assert_string_equal(v, "yes");
  assert_false(http_cookie_find("custos_sessionx=1; a=b", "custos_session", v, sizeof v));
  assert_false(http_cookie_find("", "custos_session", v, sizeof v));
  assert_false(http_cookie_find("custos_session", "custos_session", v, sizeof v));
  char longc[200];
  snprintf(longc, sizeof longc, "custos_session=%0120d", 7);
  assert_false(http_cookie_find(longc, "custos_session", v, sizeof v));
}

static void test_length_and_type(void **state) {
  (void)state;
  uint64_t n;
  assert_true(http_parse_length("0", &n) && n == 0);
  assert_true(http_parse_length("104857600", &n) && n == 104857600u);
  assert_true(http_parse_length("18446744073709551615", &n) && n == UINT64_MAX);
  assert_false(http_parse_length("18446744073709551616", &n));
  assert_false(http_parse_length("", &n));
  assert_false(http_parse_length("-1", &n));
  assert_false(http_parse_length("+1", &n));
  assert_false(http_parse_length("1 ", &n));
  assert_false(http_parse_length("0x10", &n));
  assert_true(http_is_json_type("application/json"));
  assert_true(http_is_json_type("Application/JSON; charset=utf-8"));
  assert_false(http_is_json_type("application/jsonx"));
  assert_false(http_is_json_type("text/plain"));
  assert_false(http_is_json_type(NULL));
}

static void test_random_token(void **state) {
  (void)state;
  char a[HTTP_TOKEN_LEN + 1], b[HTTP_TOKEN_LEN + 1];
  assert_int_equal(http_random_token(a), CUSTOS_OK);
  assert_int_equal(http_random_token(b), CUSTOS_OK);
  assert_int_equal(strlen(a), HTTP_TOKEN_LEN);
  assert_string_not_equal(a, b);
  assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                   HTTP_TOKEN_LEN);
}

/* ---- rate limits ------------------------------------------------------------------------ */

static void test_ratelimit(void **state) {
  (void)state;
  http_ratelimit *r = NULL;
  assert_int_equal(http_ratelimit_new(6, 64, &r), CUSTOS_OK); /* 6 a minute: one per 10 s */
  int64_t t = 1000000;
  for (int i = 0; i < 6; i++) assert_int_equal(http_ratelimit_take(r, "10.0.0.1", t), 0);
  unsigned wait = http_ratelimit_take(r, "10.0.0.1", t);
  assert_true(wait >= 9 && wait <= 10);
  assert_int_equal(http_ratelimit_take(r, "10.0.0.2", t), 0); /* another key */
  assert_true(http_ratelimit_take(r, "10.0.0.1", t + 5000) > 0);
  assert_int_equal(http_ratelimit_take(r, "10.0.0.1", t + 10001), 0); /* refilled one */
  assert_true(http_ratelimit_take(r, "10.0.0.1", t + 10002) > 0);
  assert_int_equal(http_ratelimit_take(r, "10.0.0.1", t + 60000 * 10), 0); /* full again */
  /* Many keys: memory stays bounded, the table keeps working. */
  char key[32];
  for (int i = 0; i < 10000; i++) {
    snprintf(key, sizeof key, "u%d", i);
    assert_int_equal(http_ratelimit_take(r, key, t), 0);
  }
  http_ratelimit_free(r);
  assert_int_equal(http_ratelimit_new(0, 64, &r), CUSTOS_OK); /* no limit */
  for (int i = 0; i < 1000; i++) assert_int_equal(http_ratelimit_take(r, "k", t), 0);
  http_ratelimit_free(r);
  http_ratelimit_free(NULL);
}

/* ---- sessions --------------------------------------------------------------------------- */

typedef struct fixture {
  char dir[64]; /* temporary folder */
  char db[96];  /* its database */
  custos *c;    /* open on db */
} fixture;

static int setup_db(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_non_null(f);
  snprintf(f->dir, sizeof f->dir, "/tmp/custos-http-unit.XXXXXX");
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->db, sizeof f->db, "%s/t.db", f->dir);
  setenv("CUSTOS_TEST_FAST_KDF", "1", 1);
  custos_init_opts o = {.admin_name = "alice", .admin_password = "alice password 123"};
  custos_err err;
  assert_int_equal(custos_init(f->db, &o, &err), CUSTOS_OK);
  assert_int_equal(custos_open(f->db, &f->c, &err), CUSTOS_OK);
  *state = f;
  return 0;
}

static int teardown_db(void **state) {
  fixture *f = *state;
  char cmd[128];
  custos_close(f->c);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  assert_int_equal(system(cmd), 0);
  free(f);
  return 0;
}

static custos_session *login(fixture *f) {
  custos_session *cs = NULL;
  custos_err err;
  assert_int_equal(custos_login(f->c, "alice", "alice password 123", &cs, &err), CUSTOS_OK);
  return cs;
}

static void test_sessions(void **state) {
  fixture *f = *state;
  http_sessions *s = NULL;
  char id[HTTP_TOKEN_LEN + 1], id2[HTTP_TOKEN_LEN + 1];
  http_session *x = NULL, *y = NULL;
  const int64_t idle = 2000, max = 5000;
  int64_t t = 500000;
  assert_int_equal(http_sessions_new(3, idle, max, &s), CUSTOS_OK);

  assert_int_equal(http_sessions_create(s, login(f), 2, t, id, &x), CUSTOS_OK);
  assert_int_equal(strlen(id), HTTP_TOKEN_LEN);
  assert_string_equal(x->user, "alice");
  assert_int_equal(x->role, CUSTOS_ROLE_ADMIN);
  assert_int_equal(x->slot, 2);
  http_sessions_release(s, x);
  assert_int_equal(http_sessions_count(s), 1);

  /* Found by its id only. */
  y = http_sessions_get(s, id, t + 1000);
  assert_ptr_equal(y, x);
  http_sessions_release(s, y);
  char wrong[HTTP_TOKEN_LEN + 1];
  memcpy(wrong, id, sizeof wrong);
  wrong[0] = wrong[0] == 'A' ? 'B' : 'A';
  assert_null(http_sessions_get(s, wrong, t + 1000));
  assert_null(http_sessions_get(s, "short", t + 1000));
  assert_null(http_sessions_get(s, NULL, t + 1000));

  /* Idle expiry: 2 s after the last use (t + 1000). */
  y = http_sessions_get(s, id, t + 2999);
  assert_non_null(y);
  http_sessions_release(s, y);
  assert_null(http_sessions_get(s, id, t + 2999 + idle));
  assert_int_equal(http_sessions_count(s), 0);

  /* Absolute expiry: used every second, still ends 5 s after sign-in. */
  assert_int_equal(http_sessions_create(s, login(f), 0, t, id, &x), CUSTOS_OK);
  http_sessions_release(s, x);
  for (int64_t dt = 1000; dt < max; dt += 1000) {
    y = http_sessions_get(s, id, t + dt);
    assert_non_null(y);
    http_sessions_release(s, y);
  }
  assert_null(http_sessions_get(s, id, t + max));

  /* Ending a session another request holds: gone from the table at once,
   * freed by the last release (ASan checks both). */
  assert_int_equal(http_sessions_create(s, login(f), 0, t, id, &x), CUSTOS_OK);
  y = http_sessions_get(s, id, t);
  http_sessions_end(s, x);
  assert_null(http_sessions_get(s, id, t));
  assert_string_equal(y->user, "alice");
  http_sessions_release(s, x);
  assert_string_equal(y->user, "alice");
  http_sessions_release(s, y);
  assert_int_equal(http_sessions_count(s), 0);

  /* At most 3; expired ones make room. */
  for (int i = 0; i < 3; i++) {
    assert_int_equal(http_sessions_create(s, login(f), 0, t, id, &x), CUSTOS_OK);
    http_sessions_release(s, x);
  }
  assert_int_equal(http_sessions_create(s, login(f), 0, t + 10, id2, &x), CUSTOS_ETOOBIG);
  assert_null(x);
  assert_int_equal(http_sessions_create(s, login(f), 0, t + idle, id2, &x), CUSTOS_OK);
  http_sessions_release(s, x);
  assert_int_equal(http_sessions_count(s), 1);

  /* Ending a user's sessions. */
  assert_int_equal(http_sessions_create(s, login(f), 0, t + idle, id, &x), CUSTOS_OK);
  http_sessions_release(s, x);
  assert_int_equal(http_sessions_end_user(s, "bob"), 0);
  assert_int_equal(http_sessions_end_user(s, "alice"), 2);
  assert_null(http_sessions_get(s, id, t + idle));
  assert_null(http_sessions_get(s, id2, t + idle));

  /* Freed with sessions still in it. */
  assert_int_equal(http_sessions_create(s, login(f), 0, t, id, &x), CUSTOS_OK);
  http_sessions_release(s, x);
  http_sessions_free(s);
  http_sessions_free(NULL);
}

/* ---- the pool of handles ------------------------------------------------------------ */

typedef struct waiter {
  http_pool *p;  /* the pool */
  unsigned slot; /* what lock_any gave */
} waiter;

static void *take_any(void *arg) {
  waiter *w = arg;
  custos *c = NULL;
  w->slot = http_pool_lock_any(w->p, &c);
  assert_non_null(c);
  http_pool_unlock(w->p, w->slot);
  return NULL;
}

static void test_pool(void **state) {
  fixture *f = *state;
  http_pool *p = NULL;
  custos_err err;
  custos *a = NULL, *b = NULL;
  assert_int_equal(http_pool_open(f->db, 2, &p, &err), CUSTOS_OK);
  unsigned sa = http_pool_lock_any(p, &a);
  unsigned sb = http_pool_lock_any(p, &b);
  assert_int_not_equal(sa, sb);
  assert_ptr_not_equal(a, b);
  /* Both busy: a third waits until one is released. */
  waiter w = {p, 99};
  pthread_t t;
  assert_int_equal(pthread_create(&t, NULL, take_any, &w), 0);
  usleep(50000);
  assert_int_equal(w.slot, 99);
  http_pool_unlock(p, sb);
  assert_int_equal(pthread_join(t, NULL), 0);
  assert_int_equal(w.slot, sb);
  /* A session's own slot. */
  assert_ptr_equal(http_pool_lock(p, sb), b);
  http_pool_unlock(p, sb);
  http_pool_unlock(p, sa);
  http_pool_close(p);
  http_pool_close(NULL);
  assert_int_equal(http_pool_open("/nonexistent/dir/x.db", 2, &p, &err), CUSTOS_ENOENT);
  assert_null(p);
}

/* ---- multipart bodies ------------------------------------------------------------------- */

#define CT "multipart/form-data; boundary=XyZ"

/* Parses body (a C string) with CT; returns whether it parsed, parts in p. */
static bool mp(const char *type, const char *body, http_part *p, size_t max, size_t *n, char *why) {
  return http_multipart_parse(type, body, strlen(body), p, max, n, why, 256);
}

static void test_multipart(void **state) {
  (void)state;
  http_part p[4];
  size_t n = 0;
  char why[256];
  const char *good =
      "--XyZ\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{\"a\":1}\r\n"
      "--XyZ\r\nContent-Disposition: form-data; name=\"probe\"; filename=\"p.png\"\r\n"
      "Content-Type: image/png\r\n\r\nPNG\r\n--XyZ\r\nbytes\r\n--XyZ--\r\n";
  /* The third part's data holds "--XyZ" but not after CRLF: it stays data. */
  assert_false(mp(CT, good, p, 4, &n, why)); /* "bytes" part has no headers */
  assert_non_null(strstr(why, "part 3"));
  const char *two =
      "--XyZ\r\nContent-Disposition: form-data; name=\"request\"\r\n\r\n{\"a\":1}\r\n"
      "--XyZ\r\ncontent-disposition: form-data; name=probe; filename=\"p.png\"\r\n"
      "Content-Type: image/png\r\n\r\nPNG--XyZ\r\n\r\n--XyZ--";
  assert_true(mp(CT, two, p, 4, &n, why));
  assert_int_equal(n, 2);
  assert_string_equal(p[0].name, "request");
  assert_int_equal(p[0].len, 7);
  assert_memory_equal(p[0].data, "{\"a\":1}", 7);
  assert_string_equal(p[0].filename, "");
  assert_string_equal(p[1].name, "probe");
  assert_string_equal(p[1].filename, "p.png");
  assert_string_equal(p[1].type, "image/png");
  assert_int_equal(p[1].len, 10); /* "PNG--XyZ\r\n" */
  /* A quoted boundary, a preamble, an empty part. */
  assert_true(mp("multipart/form-data; charset=x; boundary=\"XyZ\"",
                 "preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"e\"\r\n\r\n\r\n"
                 "--XyZ--\r\nepilogue",
                 p, 4, &n, why));
  assert_int_equal(n, 1);
  assert_int_equal(p[0].len, 0);
  /* Refusals, each naming the problem. */
  static const struct {
    const char *type, *body, *says;
  } bad[] = {
      {"application/json", "{}", "multipart/form-data"},
      {NULL, "", "multipart/form-data"},
      {"multipart/form-data", "--\r\n", "boundary"},
      {"multipart/form-data; boundary=", "--\r\n", "boundary"},
      {"multipart/form-database; boundary=XyZ", "", "multipart/form-data"},
      {CT, "", "no multipart boundary"},
      {CT, "junk without a boundary", "no multipart boundary"},
      {CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end", "cut short"},
      {CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--XyZ",
       "closing boundary"},
      {CT, "--XyZ\r\nContent-Disposition: attachment; name=\"a\"\r\n\r\nx\r\n--XyZ--",
       "not form-data"},
      {CT, "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--", "no usable name"},
      {CT, "--XyZ\r\nContent-Disposition: form-data; name=\"\"\r\n\r\nx\r\n--XyZ--",
       "no usable name"},
      {CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\r\n\r\nx\r\n--XyZ--",
       "no usable name"},
      {CT, "--XyZ\r\nContent-Type: text/plain\r\n\r\nx\r\n--XyZ--", "no Content-Disposition"},
      {CT, "--XyZ\r\nno colon here\r\n\r\nx\r\n--XyZ--", "no ':'"},
      {CT, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nx\r\n--XyZ--", "blank line"},
      {CT,
       "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; "
       "name=\"b\"\r\n\r\nx\r\n--XyZ--",
       "two Content-Disposition"},
      {CT, "--XyZ junk\r\n", "closing boundary"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why[0] = '\0';
    bool ok = mp(bad[i].type, bad[i].body, p, 4, &n, why);
    if (ok || strstr(why, bad[i].says) == NULL)
      fail_msg("case %zu: ok %d, why '%s', expected '%s'", i, ok, why, bad[i].says);
  }
  /* More parts than room. */
  char many[1024] = "";
  for (int i = 0; i < 5; i++)
    strcat(many, "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n");
  strcat(many, "--XyZ--");
  assert_false(mp(CT, many, p, 4, &n, why));
  assert_non_null(strstr(why, "more than 4 parts"));
  assert_true(mp(CT, many, (http_part[5]){0}, 5, &n, why));
  assert_int_equal(n, 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_route_find),
      cmocka_unit_test(test_route_table),
      cmocka_unit_test(test_json_depth),
      cmocka_unit_test(test_cookie),
      cmocka_unit_test(test_length_and_type),
      cmocka_unit_test(test_random_token),
      cmocka_unit_test(test_ratelimit),
      cmocka_unit_test(test_multipart),
      cmocka_unit_test_setup_teardown(test_sessions, setup_db, teardown_db),
      cmocka_unit_test_setup_teardown(test_pool, setup_db, teardown_db),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
