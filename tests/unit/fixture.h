/*
 * The database fixture the library's unit tests share: a fresh temporary
 * folder, a database in it initialised with administrator alice, and alice
 * logged in.  Header-only (static functions), included by each test file.
 */
#ifndef CUSTOS_TEST_FIXTURE_H
#define CUSTOS_TEST_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>

#include "custos/core.h"

#define FIXTURE_ADMIN "alice"

typedef struct fixture {
  char dir[64];          /* a fresh temporary folder */
  char db[128];          /* dir/custos.db */
  custos *c;             /* open instance (after fixture_init) */
  custos_session *admin; /* alice, logged in (after fixture_init) */
} fixture;

/* A new fixture with its folder /tmp/custos-NAME-test.XXXXXX in *state. */
static int fixture_dir(void **state, const char *name) {
  fixture *f = calloc(1, sizeof *f);
  if (f == NULL) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/custos-%s-test.XXXXXX", name);
  if (mkdtemp(f->dir) == NULL) return -1;
  snprintf(f->db, sizeof f->db, "%s/custos.db", f->dir);
  *state = f;
  return 0;
}

/* fixture_dir, then the database with alice (password admin_pw) logged in. */
static int fixture_init(void **state, const char *name, const char *admin_pw) {
  if (fixture_dir(state, name) != 0) return -1;
  fixture *f = *state;
  custos_err err;
  custos_init_opts o = {.admin_name = FIXTURE_ADMIN, .admin_password = admin_pw};
  if (custos_init(f->db, &o, &err) != CUSTOS_OK) return -1;
  if (custos_open(f->db, &f->c, &err) != CUSTOS_OK) return -1;
  if (custos_login(f->c, FIXTURE_ADMIN, admin_pw, &f->admin, &err) != CUSTOS_OK) return -1;
  return 0;
}

/* Logs out, closes, removes the folder and frees the fixture. */
static int fixture_teardown(void **state) {
  fixture *f = *state;
  custos_session_free(f->admin);
  custos_close(f->c);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  free(f);
  return 0;
}

#endif
