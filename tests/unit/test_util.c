/*
 * Unit tests of src/util: the error table, checked allocation, the bounded
 * buffer, file helpers and the JSON helpers with their limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "custos/custos.h"
#include "util/json.h"
#include "util/util.h"

static void test_error_table(void **state) {
  (void)state;
  assert_string_equal(custos_strerror(CUSTOS_OK), "success");
  assert_string_equal(custos_err_name(CUSTOS_EIMAGE_TOO_LARGE), "CUSTOS_EIMAGE_TOO_LARGE");
  assert_string_equal(custos_strerror(CUSTOS_EIMAGE_TOO_LARGE), "image too large");
  assert_string_equal(custos_strerror(12345), "unknown error");
  assert_string_equal(custos_err_name(-9999), "CUSTOS_E?");
  assert_int_equal(custos_err_class_of(CUSTOS_OK), CUSTOS_CLASS_OK);
  assert_int_equal(custos_err_class_of(CUSTOS_ENOMEM), CUSTOS_CLASS_INTERNAL);
  assert_int_equal(custos_err_class_of(CUSTOS_EIMAGE_CORRUPT), CUSTOS_CLASS_REFUSED);
  assert_int_equal(custos_err_class_of(CUSTOS_EPERM), CUSTOS_CLASS_DENIED);
  assert_int_equal(custos_err_class_of(CUSTOS_ENOENT), CUSTOS_CLASS_NOT_FOUND);
  assert_int_equal(custos_err_class_of(-9999), CUSTOS_CLASS_INTERNAL);
  /* Every code is negative, distinct and named. */
  static const int codes[] = {
#define CODE_(name, value, cls, text) CUSTOS_##name,
      CUSTOS_ERRNO_MAP(CODE_)
#undef CODE_
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(codes); i++) {
    assert_true(codes[i] <= 0);
    assert_string_not_equal(custos_err_name(codes[i]), "CUSTOS_E?");
    for (size_t j = i + 1; j < CUSTOS_ARRAY_LEN(codes); j++) assert_int_not_equal(codes[i], codes[j]);
  }
  assert_string_equal(custos_version(), CUSTOS_VERSION_STRING);
}

static void test_err_detail(void **state) {
  (void)state;
  custos_err err;
  custos_err_clear(&err);
  assert_int_equal(err.code, CUSTOS_OK);
  int rc = custos__err(&err, CUSTOS_EINVAL, "json", "field %s: bad\nsecond line", "x");
  assert_int_equal(rc, CUSTOS_EINVAL);
  assert_int_equal(err.code, CUSTOS_EINVAL);
  assert_string_equal(err.module, "json");
  assert_null(strchr(err.message, '\n')); /* forced onto one line */
  assert_non_null(strstr(err.message, "field x: bad"));
  /* A NULL err is allowed and the code still comes back. */
  assert_int_equal(custos__err(NULL, CUSTOS_EIO, "io", "x"), CUSTOS_EIO);
  /* Long messages are truncated, not overflowed. */
  char big[2000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  custos__err(&err, CUSTOS_EIO, "a-module-name-longer-than-the-field", "%s", big);
  assert_int_equal(strlen(err.message), CUSTOS_ERR_MESSAGE_MAX - 1);
  assert_int_equal(strlen(err.module), CUSTOS_ERR_MODULE_MAX - 1);
  custos_err_clear(NULL);
}

static void test_alloc(void **state) {
  (void)state;
  size_t out;
  assert_true(custos__mul_size(3, 4, &out));
  assert_int_equal(out, 12);
  assert_false(custos__mul_size(SIZE_MAX / 2, 3, &out));
  assert_null(custos__mallocarray(SIZE_MAX / 2, 3));
  assert_null(custos__calloc(SIZE_MAX / 2, 3));
  void *p = custos__reallocarray(NULL, 4, 4);
  assert_non_null(p);
  assert_null(custos__reallocarray(p, SIZE_MAX / 2, 3)); /* p stays valid */
  custos__free(p);
  custos__alloc_fail_after(1);
  p = custos__malloc(8);
  assert_non_null(p);
  assert_null(custos__malloc(8));
  assert_null(custos__strdup("x"));
  custos__alloc_fail_after(-1);
  char *s = custos__strdup("hello");
  assert_string_equal(s, "hello");
  custos__free(s);
  custos__free(p);
  custos__free(NULL);
}

static void test_buf(void **state) {
  (void)state;
  custos_buf b;
  custos__buf_init(&b, 10);
  assert_int_equal(custos__buf_append(&b, "hello", 5), CUSTOS_OK);
  assert_int_equal(custos__buf_appendf(&b, "%d", 12345), CUSTOS_OK);
  assert_string_equal(b.data, "hello12345");
  assert_int_equal(b.len, 10);
  /* Full: one more byte is refused and changes nothing. */
  assert_int_equal(custos__buf_append(&b, "x", 1), CUSTOS_ETOOBIG);
  assert_int_equal(custos__buf_appendf(&b, "%s", "y"), CUSTOS_ETOOBIG);
  assert_string_equal(b.data, "hello12345");
  custos__buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_string_equal(b.data, "");
  assert_int_equal(custos__buf_append(&b, "ab", 2), CUSTOS_OK);
  size_t len;
  char *s = custos__buf_steal(&b, &len);
  assert_string_equal(s, "ab");
  assert_int_equal(len, 2);
  assert_null(b.data);
  custos__free(s);
  /* Growth across many appends, and an allocation failure leaves it intact. */
  custos__buf_init(&b, 1 << 20);
  for (int i = 0; i < 1000; i++) assert_int_equal(custos__buf_appendf(&b, "%04d", i), CUSTOS_OK);
  assert_int_equal(b.len, 4000);
  assert_memory_equal(b.data + 3996, "0999", 4);
  custos__alloc_fail_after(0);
  assert_int_equal(custos__buf_reserve(&b, 100000), CUSTOS_ENOMEM);
  custos__alloc_fail_after(-1);
  assert_int_equal(b.len, 4000);
  assert_int_equal(custos__buf_reserve(&b, SIZE_MAX), CUSTOS_ETOOBIG);
  custos__buf_free(&b);
  custos__buf_free(&b); /* twice is harmless */
}

static void test_files(void **state) {
  (void)state;
  char path[] = "/tmp/custos-test-util-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  close(fd);
  custos_err err;
  assert_int_equal(custos__write_file_atomic(path, "0123456789", 10, &err), CUSTOS_OK);
  unsigned char *data;
  size_t len;
  assert_int_equal(custos__read_file(path, 100, &data, &len, &err), CUSTOS_OK);
  assert_int_equal(len, 10);
  assert_memory_equal(data, "0123456789", 10);
  assert_int_equal(data[10], 0);
  custos__free(data);
  assert_int_equal(custos__read_file(path, 9, &data, &len, &err), CUSTOS_ETOOBIG);
  assert_null(data);
  assert_non_null(strstr(err.message, "limit"));
  unlink(path);
  assert_int_equal(custos__read_file(path, 100, &data, &len, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__read_file("/tmp", 100, &data, &len, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__write_file_atomic("/nonexistent-dir/x", "a", 1, &err), CUSTOS_EIO);
}

static void test_json_limits(void **state) {
  (void)state;
  custos_err err;
  json_t *v = NULL;
  const char *ok = "{\"a\": [1, 2, {\"b\": \"[[[[\"}]}";
  assert_int_equal(custos__json_depth(ok, strlen(ok), 32), 3); /* brackets in strings ignored */
  assert_int_equal(custos__json_parse(ok, strlen(ok), NULL, &v, &err), CUSTOS_OK);
  json_decref(v);

  custos_json_limits lim = {16, 2};
  assert_int_equal(custos__json_parse(ok, strlen(ok), &lim, &v, &err), CUSTOS_ETOOBIG);
  assert_null(v);
  lim.max_bytes = 1000;
  assert_int_equal(custos__json_parse(ok, strlen(ok), &lim, &v, &err), CUSTOS_ETOOBIG);
  assert_non_null(strstr(err.message, "deeper"));

  /* A deeply nested document is refused before the parser sees it. */
  size_t n = 100000;
  char *deep = malloc(2 * n + 1);
  memset(deep, '[', n);
  memset(deep + n, ']', n);
  deep[2 * n] = '\0';
  custos_json_limits big = {1 << 20, 32};
  assert_int_equal(custos__json_parse(deep, 2 * n, &big, &v, &err), CUSTOS_ETOOBIG);
  free(deep);

  const char *dup = "{\"a\": 1, \"a\": 2}";
  assert_int_equal(custos__json_parse(dup, strlen(dup), NULL, &v, &err), CUSTOS_EJSON);
  const char *bad = "{\"a\": 1,\n \"b\": }";
  assert_int_equal(custos__json_parse(bad, strlen(bad), NULL, &v, &err), CUSTOS_EJSON);
  assert_non_null(strstr(err.message, "line 2"));
  assert_int_equal(custos__json_parse("", 0, NULL, &v, &err), CUSTOS_EJSON);
  /* A NUL inside a string is refused (it would cut C strings short). */
  const char *nul = "{\"a\": \"x\\u0000y\"}";
  assert_int_equal(custos__json_parse(nul, strlen(nul), NULL, &v, &err), CUSTOS_EJSON);
  const char *trailing = "{} x";
  assert_int_equal(custos__json_parse(trailing, strlen(trailing), NULL, &v, &err), CUSTOS_EJSON);
}

static void test_json_getters(void **state) {
  (void)state;
  custos_err err;
  json_t *v = NULL;
  const char *doc = "{\"s\": \"text\", \"i\": 42, \"r\": 1.5, \"b\": true, \"o\": {}, "
                    "\"a\": [1, 2, 3]}";
  assert_int_equal(custos__json_parse(doc, strlen(doc), NULL, &v, &err), CUSTOS_OK);
  const char *s = NULL;
  long long i = 0;
  double r = 0;
  bool b = false;
  const json_t *o = NULL, *a = NULL;
  assert_int_equal(custos__json_get_string(v, "req", "s", true, 10, &s, &err), CUSTOS_OK);
  assert_string_equal(s, "text");
  assert_int_equal(custos__json_get_string(v, "req", "s", true, 3, &s, &err), CUSTOS_EINVAL);
  assert_string_equal(err.message, "req.s: longer than 3 bytes");
  assert_int_equal(custos__json_get_string(v, "req", "i", true, 10, &s, &err), CUSTOS_EINVAL);
  assert_string_equal(err.message, "req.i: expected a string");
  assert_int_equal(custos__json_get_string(v, "", "missing", true, 10, &s, &err), CUSTOS_ENOENT);
  assert_string_equal(err.message, "missing: missing");
  s = "untouched";
  assert_int_equal(custos__json_get_string(v, "", "missing", false, 10, &s, &err), CUSTOS_OK);
  assert_string_equal(s, "untouched");
  assert_int_equal(custos__json_get_int(v, "", "i", true, 0, 100, &i, &err), CUSTOS_OK);
  assert_int_equal(i, 42);
  assert_int_equal(custos__json_get_int(v, "", "i", true, 0, 10, &i, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__json_get_int(v, "", "r", true, 0, 10, &i, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__json_get_real(v, "", "r", true, &r, &err), CUSTOS_OK);
  assert_true(r == 1.5);
  assert_int_equal(custos__json_get_real(v, "", "i", true, &r, &err), CUSTOS_OK);
  assert_true(r == 42.0);
  assert_int_equal(custos__json_get_real(v, "", "s", true, &r, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__json_get_bool(v, "", "b", true, &b, &err), CUSTOS_OK);
  assert_true(b);
  assert_int_equal(custos__json_get_bool(v, "", "i", true, &b, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__json_get_object(v, "", "o", true, &o, &err), CUSTOS_OK);
  assert_int_equal(custos__json_get_object(v, "", "a", true, &o, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__json_get_array(v, "", "a", true, 3, &a, &err), CUSTOS_OK);
  assert_int_equal(custos__json_get_array(v, "", "a", true, 2, &a, &err), CUSTOS_EINVAL);
  static const char *const allowed[] = {"s", "i", "r", "b", "o", "a"};
  assert_int_equal(custos__json_check_keys(v, "req", allowed, 6, &err), CUSTOS_OK);
  assert_int_equal(custos__json_check_keys(v, "req", allowed, 5, &err), CUSTOS_EINVAL);
  assert_string_equal(err.message, "req.a: unknown key");
  /* Getters on a non-object behave as "absent". */
  assert_int_equal(custos__json_get_int(a, "", "x", true, 0, 1, &i, &err), CUSTOS_ENOENT);

  custos_buf out;
  custos__buf_init(&out, 1000);
  assert_int_equal(custos__json_dump(o, &out), CUSTOS_OK);
  assert_string_equal(out.data, "{}");
  custos__buf_reset(&out);
  json_t *f = json_real(0.1f);
  assert_int_equal(custos__json_dump(f, &out), CUSTOS_OK);
  assert_true((float)strtod(out.data, NULL) == 0.1f); /* floats round-trip */
  json_decref(f);
  custos_buf tiny;
  custos__buf_init(&tiny, 5);
  assert_int_equal(custos__json_dump(v, &tiny), CUSTOS_ETOOBIG);
  assert_int_equal(tiny.len, 0);
  custos__buf_free(&tiny);
  custos__buf_free(&out);
  json_decref(v);
}

static void test_json_file(void **state) {
  (void)state;
  char path[] = "/tmp/custos-test-json-XXXXXX";
  int fd = mkstemp(path);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "{\"x\": [", 7), 7);
  close(fd);
  custos_err err;
  json_t *v = NULL;
  assert_int_equal(custos__json_parse_file(path, NULL, &v, &err), CUSTOS_EJSON);
  assert_non_null(strstr(err.message, path));
  unlink(path);
  assert_int_equal(custos__json_parse_file(path, NULL, &v, &err), CUSTOS_ENOENT);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_error_table), cmocka_unit_test(test_err_detail),
      cmocka_unit_test(test_alloc),       cmocka_unit_test(test_buf),
      cmocka_unit_test(test_files),       cmocka_unit_test(test_json_limits),
      cmocka_unit_test(test_json_getters), cmocka_unit_test(test_json_file),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
