/*
 * The error table: names, descriptions and classes of every CUSTOS_E... code,
 * all generated from CUSTOS_ERRNO_MAP, and the helper that fills a custos_err.
 */
#include <stdio.h>
#include <string.h>

#include "custos/custos.h"
#include "util/util.h"

const char *custos_version(void) { return CUSTOS_VERSION_STRING; }

const char *custos_strerror(int code) {
  switch (code) {
#define CUSTOS_ERRNO_TEXT_(name, value, cls, text) \
  case CUSTOS_##name:                              \
    return text;
    CUSTOS_ERRNO_MAP(CUSTOS_ERRNO_TEXT_)
#undef CUSTOS_ERRNO_TEXT_
  default:
    return "unknown error";
  }
}

const char *custos_err_name(int code) {
  switch (code) {
#define CUSTOS_ERRNO_NAME_(name, value, cls, text) \
  case CUSTOS_##name:                              \
    return "CUSTOS_" #name;
    CUSTOS_ERRNO_MAP(CUSTOS_ERRNO_NAME_)
#undef CUSTOS_ERRNO_NAME_
  default:
    return "CUSTOS_E?";
  }
}

custos_err_class custos_err_class_of(int code) {
  switch (code) {
#define CUSTOS_ERRNO_CLASS_(name, value, cls, text) \
  case CUSTOS_##name:                               \
    return CUSTOS_CLASS_##cls;
    CUSTOS_ERRNO_MAP(CUSTOS_ERRNO_CLASS_)
#undef CUSTOS_ERRNO_CLASS_
  default:
    return CUSTOS_CLASS_INTERNAL;
  }
}

void custos_err_clear(custos_err *err) {
  if (err == NULL) return;
  err->code = CUSTOS_OK;
  err->module[0] = '\0';
  err->message[0] = '\0';
}

int custos__verr(custos_err *err, int code, const char *module, const char *fmt, va_list ap) {
  if (err == NULL) return code;
  err->code = code;
  snprintf(err->module, sizeof err->module, "%s", module ? module : "");
  if (fmt != NULL) {
    vsnprintf(err->message, sizeof err->message, fmt, ap);
  } else {
    snprintf(err->message, sizeof err->message, "%s", custos_strerror(code));
  }
  /* One line: a message built from outside input must not forge more lines. */
  for (char *p = err->message; *p; p++) {
    if (*p == '\n' || *p == '\r') *p = ' ';
  }
  return code;
}

int custos__err(custos_err *err, int code, const char *module, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = custos__verr(err, code, module, fmt, ap);
  va_end(ap);
  return rc;
}
