/*
 * custos init | status | user add | user list | user unlock | user set-training:
 * setting up a database and administering its users.
 *
 * Passwords never come from the command line (it is visible to every user of
 * the machine): the acting user's from $CUSTOS_PASSWORD, a new one from
 * $CUSTOS_NEW_PASSWORD, else from the terminal with echo off (the new one
 * twice).  Without either there is nothing to read them from: exit 2.
 * Buffers that held a password are wiped before they are released.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "custos/core.h"

/* ---- custos init ---------------------------------------------------------------- */

static const char *init_admin, *init_policy, *init_origin;
static const cli_opt init_opts[] = {
    {"--admin", "NAME", &init_admin, "the first administrator (required)"},
    {"--policy", "FILE", &init_policy,
     "policy file: checked, its SHA-256 recorded (every later action must use it) and its "
     "checkpoint interval applied to the log"},
    {"--log-origin", "NAME", &init_origin,
     "the audit log's name in its checkpoints (default custos.local/audit/<random>)"},
    {NULL, NULL, NULL, NULL},
};

static bool is_postgres(const char *db) {
  return strncmp(db, "postgresql://", 13) == 0 || strncmp(db, "postgres://", 11) == 0;
}

static int run_init(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_err err;
  char pw[CLI_PASSWORD_CAP];
  custos_err_clear(&err);
  if (init_admin == NULL) {
    cli_error(cmd->words, "--admin NAME is required", "see 'custos init --help'");
    return CLI_USAGE;
  }
  int rc = custos_user_name_check(init_admin, &err);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  /* Say so before asking for a password; custos_init refuses it anyway. */
  if (!is_postgres(common->db) && access(common->db, F_OK) == 0) {
    cli_error(common->db, "a database already exists; it is left as it is",
              "choose another --db, or move the existing database away first");
    return CLI_REFUSED;
  }
  char key_path[4096];
  rc = custos_audit_key_path(common->db, key_path, sizeof key_path, &err);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (access(key_path, F_OK) == 0) {
    cli_error(key_path, "an audit log key file already exists; it is left as it is",
              "choose another --db or $CUSTOS_AUDIT_KEY, or move the file away first");
    return CLI_REFUSED;
  }
  char prompt[CUSTOS_USER_NAME_MAX + 40];
  snprintf(prompt, sizeof prompt, "New password for %s: ", init_admin);
  int status = cli_read_password(cmd->words, "CUSTOS_NEW_PASSWORD", prompt, true, pw);
  if (status != CLI_OK) return status;
  custos_init_opts o = {.admin_name = init_admin,
                        .admin_password = pw,
                        .policy_path = init_policy,
                        .log_origin = init_origin};
  rc = custos_init(common->db, &o, &err);
  explicit_bzero(pw, sizeof pw);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  /* The log's public key, for auditors to pin now. */
  custos *c = NULL;
  custos_status st;
  rc = custos_open(common->db, &c, &err);
  if (rc == CUSTOS_OK) rc = custos_get_status(c, &st, &err);
  custos_close(c);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (common->json) {
    cli_print_json(json_pack("{s:s, s:s, s:s, s:s}", "db", common->db, "admin", init_admin,
                             "log_key", st.log_key, "log_key_file", key_path));
  } else {
    printf("created %s with administrator %s\n", common->db, init_admin);
    printf("audit log signing key written to %s (mode 0600; keep it secret, back it up)\n",
           key_path);
    printf("audit log key (give it to auditors to pin): %s\n", st.log_key);
  }
  return CLI_OK;
}

/* ---- custos status ------------------------------------------------------------------ */

static int run_status(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_err err;
  custos *c = NULL;
  custos_status st;
  custos_err_clear(&err);
  int rc = custos_open(common->db, &c, &err);
  if (rc == CUSTOS_OK) rc = custos_get_status(c, &st, &err);
  /* The face models this installation would enrol and search with; absent
   * when their folder cannot be read. */
  char models[128];
  custos_err merr;
  if (custos_models_version(common->models, models, sizeof models, &merr) != CUSTOS_OK) {
    models[0] = '\0';
  }
  custos_close(c);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (common->json) {
    /* Fields of parts that do not exist (a database without an audit log,
     * no policy file) are absent rather than zero. */
    json_t *o = json_pack("{s:I, s:I, s:I, s:I, s:I, s:i, s:s}", "holders", (json_int_t)st.holders,
                          "photos", (json_int_t)st.photos, "templates", (json_int_t)st.templates,
                          "users", (json_int_t)st.users, "cases", (json_int_t)st.cases,
                          "schema_version", st.schema_version, "backend", st.backend);
    if (o != NULL && models[0] != '\0') json_object_set_new(o, "models", json_string(models));
    if (o != NULL && st.policy_sha256[0] != '\0') {
      json_object_set_new(o, "policy_sha256", json_string(st.policy_sha256));
    }
    if (o != NULL && st.audit_log) {
      json_object_set_new(o, "audit_entries", json_integer((json_int_t)st.audit_entries));
      json_object_set_new(o, "checkpoint",
                          st.checkpoint_size < 0
                              ? json_null()
                              : json_pack("{s:I, s:s}", "size", (json_int_t)st.checkpoint_size,
                                          "root", st.checkpoint_root));
      json_object_set_new(o, "log_key", json_string(st.log_key));
    }
    cli_print_json(o);
  } else {
    printf("database        %s (%s, schema version %d)\n", common->db, st.backend,
           st.schema_version);
    printf("holders         %lld\n", (long long)st.holders);
    printf("photos          %lld\n", (long long)st.photos);
    printf("templates       %lld\n", (long long)st.templates);
    printf("users           %lld\n", (long long)st.users);
    printf("cases           %lld\n", (long long)st.cases);
    printf("models          %s\n", models[0] ? models : "not found");
    printf("policy sha256   %s\n", st.policy_sha256[0] ? st.policy_sha256 : "none recorded");
    if (!st.audit_log) {
      printf("audit log       none (a database from before it: 'custos audit setup')\n");
    } else {
      printf("audit entries   %lld\n", (long long)st.audit_entries);
      if (st.checkpoint_size < 0) {
        printf("checkpoint      none signed yet\n");
      } else {
        printf("checkpoint      size %lld, root %s\n", (long long)st.checkpoint_size,
               st.checkpoint_root);
      }
      printf("log key         %s\n", st.log_key);
    }
  }
  return CLI_OK;
}

/* ---- custos user ... ------------------------------------------------------------------ */

static const char *add_role, *add_trained;
static const cli_opt user_add_opts[] = {
    {"--role", "ROLE", &add_role,
     "admin, intake, manager, governor, legal, examiner or auditor (required)"},
    {"--trained-until", "YYYY-MM-DD", &add_trained, "end of the training certification"},
    {NULL, NULL, NULL, NULL},
};

static int run_user_add(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  custos_err err;
  custos_role role;
  custos *c = NULL;
  custos_session *as = NULL;
  char pw[CLI_PASSWORD_CAP];
  const char *name = argv[0];
  custos_err_clear(&err);
  /* Check the arguments before asking anyone for a password. */
  if (add_role == NULL) {
    cli_error(cmd->words, "--role ROLE is required", "see 'custos user add --help'");
    return CLI_USAGE;
  }
  int rc = custos_user_name_check(name, &err);
  if (rc == CUSTOS_OK) rc = custos_role_parse(add_role, &role, &err);
  if (rc == CUSTOS_OK && add_trained != NULL) {
    rc = custos_date_check(add_trained, "--trained-until", &err);
  }
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);

  int status = cli_login(cmd, common, &c, &as);
  if (status != CLI_OK) return status;
  char prompt[CUSTOS_USER_NAME_MAX + 40];
  snprintf(prompt, sizeof prompt, "New password for %s: ", name);
  status = cli_read_password(cmd->words, "CUSTOS_NEW_PASSWORD", prompt, true, pw);
  if (status == CLI_OK) {
    rc = custos_user_add(c, as, name, role, add_trained, pw, &err);
    if (rc != CUSTOS_OK) status = cli_fail(cmd->words, rc, &err);
  }
  explicit_bzero(pw, sizeof pw);
  cli_logout(c, as);
  if (status != CLI_OK) return status;
  if (common->json) {
    cli_print_json(json_pack("{s:s, s:s, s:s?}", "user", name, "role", custos_role_name(role),
                             "trained_until", add_trained));
  } else {
    printf("added user %s (%s)\n", name, custos_role_name(role));
  }
  return CLI_OK;
}

static int run_user_list(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_err err;
  custos *c = NULL;
  custos_session *as = NULL;
  custos_user_info *users = NULL;
  size_t n = 0;
  custos_err_clear(&err);
  int status = cli_login(cmd, common, &c, &as);
  if (status != CLI_OK) return status;
  int rc = custos_user_list(c, as, &users, &n, &err);
  cli_logout(c, as);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (common->json) {
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < n; i++) {
      const custos_user_info *u = &users[i];
      json_array_append_new(
          arr, json_pack("{s:s, s:s, s:s?, s:b, s:i, s:s}", "name", u->name, "role",
                         custos_role_name(u->role), "trained_until",
                         u->trained_until[0] ? u->trained_until : NULL, "locked", u->locked,
                         "failed_logins", u->failed_logins, "created", u->created));
    }
    cli_print_json(json_pack("{s:o?}", "users", arr));
  } else {
    printf("%-24s %-9s %-14s %-8s %s\n", "NAME", "ROLE", "TRAINED UNTIL", "LOCKED", "CREATED");
    for (size_t i = 0; i < n; i++) {
      const custos_user_info *u = &users[i];
      printf("%-24s %-9s %-14s %-8s %s\n", u->name, custos_role_name(u->role),
             u->trained_until[0] ? u->trained_until : "-", u->locked ? "yes" : "no", u->created);
    }
  }
  custos_user_list_free(users);
  return CLI_OK;
}

static int run_user_unlock(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  custos_err err;
  custos *c = NULL;
  custos_session *as = NULL;
  custos_err_clear(&err);
  int status = cli_login(cmd, common, &c, &as);
  if (status != CLI_OK) return status;
  int rc = custos_user_unlock(c, as, argv[0], &err);
  cli_logout(c, as);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (common->json) {
    cli_print_json(json_pack("{s:s, s:b}", "user", argv[0], "locked", 0));
  } else {
    printf("unlocked user %s\n", argv[0]);
  }
  return CLI_OK;
}

static const char *training_until;
static const cli_opt set_training_opts[] = {
    {"--until", "YYYY-MM-DD|none", &training_until,
     "end of the training certification, or none (required)"},
    {NULL, NULL, NULL, NULL},
};

static int run_user_set_training(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  custos_err err;
  custos *c = NULL;
  custos_session *as = NULL;
  custos_err_clear(&err);
  if (training_until == NULL) {
    cli_error(cmd->words, "--until YYYY-MM-DD|none is required",
              "see 'custos user set-training --help'");
    return CLI_USAGE;
  }
  const char *until = strcmp(training_until, "none") == 0 ? NULL : training_until;
  if (until != NULL) {
    int rc = custos_date_check(until, "--until", &err);
    if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  }
  int status = cli_login(cmd, common, &c, &as);
  if (status != CLI_OK) return status;
  int rc = custos_user_set_training(c, as, argv[0], until, &err);
  cli_logout(c, as);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (common->json) {
    cli_print_json(json_pack("{s:s, s:s?}", "user", argv[0], "trained_until", until));
  } else {
    printf("user %s: training certification %s%s\n", argv[0], until ? "until " : "cleared",
           until ? until : "");
  }
  return CLI_OK;
}

const cli_cmd cli_admin_cmds[] = {
    {"init", "--admin NAME [--policy FILE] [--log-origin NAME]",
     "create a database, its first administrator and its audit log",
     "Creates the database named by --db (else $CUSTOS_DB, else ./custos.db) with its\n"
     "schema, and the administrator NAME.  The password is read from\n"
     "$CUSTOS_NEW_PASSWORD, else asked twice on the terminal; it needs at least 12\n"
     "characters.  An existing database is never overwritten (exit 3).\n"
     "--policy FILE: until the policy module exists, only the file's SHA-256 is\n"
     "recorded (shown by 'custos status'); the file is not read for rules yet and the\n"
     "defaults of POLICY.md apply.\n"
     "Init also creates the audit log: its Ed25519 signing key is written to\n"
     "<db>.logkey (or $CUSTOS_AUDIT_KEY), mode 0600, sealed when $CUSTOS_AUDIT_SEAL_KEY\n"
     "is set; every later change needs it.  The log's public key is printed for\n"
     "auditors to pin.  An existing key file is never overwritten (exit 3).",
     0, 0, init_opts, run_init},
    {"status", "[--json]", "counts and versions of a database",
     "Prints the numbers of holders, photos, templates and users, the schema version,\n"
     "the SHA-256 of the policy file recorded at init, the audit log's size, latest\n"
     "signed checkpoint and public key.  With --json: {\"holders\", \"photos\",\n"
     "\"templates\", \"users\", \"cases\", \"models\", \"schema_version\", \"backend\",\n"
     "\"policy_sha256\", \"audit_entries\", \"checkpoint\": {\"size\", \"root\"} or null,\n"
     "\"log_key\"}; models is absent when the models folder cannot be read, and\n"
     "policy_sha256 when none was recorded.  Opening a database written by an older custos "
     "migrates it; a\n"
     "newer one is refused (exit 3).",
     0, 0, NULL, run_status},
    {"user add", "NAME --role ROLE [--trained-until YYYY-MM-DD] --as ADMIN", "add a user",
     "NAME: a lower-case letter, then a-z, 0-9, '.', '_', '-' (64 at most).  The acting\n"
     "administrator's password comes from $CUSTOS_PASSWORD or a prompt; the new user's\n"
     "from $CUSTOS_NEW_PASSWORD or two prompts (at least 12 characters).  Exit 3 for a\n"
     "bad name, role or date or a name already taken, 4 when the acting user is not an\n"
     "administrator or the password is wrong.",
     1, 1, user_add_opts, run_user_add},
    {"user list", "--as ADMIN", "list users, their roles, training and locks", NULL, 0, 0, NULL,
     run_user_list},
    {"user unlock", "NAME --as ADMIN", "unlock an account locked by failed logins",
     "An account locks after 5 consecutive wrong passwords; unlocking also resets the\n"
     "count.",
     1, 1, NULL, run_user_unlock},
    {"user set-training", "NAME --until YYYY-MM-DD|none --as ADMIN",
     "set or clear a user's training certification date",
     "Examiners may search only while their certification is current (GOV-13).", 1, 1,
     set_training_opts, run_user_set_training},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
