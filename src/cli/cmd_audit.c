/*
 * custos audit verify | checkpoint | prove | setup: checking the audit log
 * (GOV-20) and giving a third party what it needs to check one entry.
 *
 * None of these acts as a person (no --as): the log is public by design and
 * holds no personal data, so anyone who can read the database may verify it
 * and prove entries.  Signing a new checkpoint needs the log's signing key
 * file (beside the database, mode 0600, or $CUSTOS_AUDIT_KEY), so the file's
 * permissions decide who may sign.  A verification that finds the log
 * altered exits 3 with the first problem on stderr.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "custos/core.h"

#define KEY_FILE_MAX 1024 /* bytes of a --key @FILE */

/* Reads a whole small file into a new NUL-terminated string (caller frees);
 * prints why and returns NULL on failure. */
static char *slurp(const char *words, const char *path, size_t max) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    char why[160];
    snprintf(why, sizeof why, "%.100s: %s", path, strerror(errno));
    cli_error(words, why, NULL);
    return NULL;
  }
  char *buf = malloc(max + 2);
  size_t n = buf ? fread(buf, 1, max + 1, f) : 0;
  bool bad = buf == NULL || ferror(f) || n > max;
  fclose(f);
  if (bad) {
    char why[160];
    snprintf(why, sizeof why, "%.100s: unreadable or larger than %zu bytes", path, max);
    cli_error(words, why, NULL);
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

/* Opens the database; a CLI status, errors printed. */
static int open_db(const cli_cmd *cmd, const cli_common *common, custos **c) {
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_open(common->db, c, &err);
  return rc == CUSTOS_OK ? CLI_OK : cli_fail(cmd->words, rc, &err);
}

static void hex(const uint8_t *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * n] = '\0';
}

/* ---- custos audit verify ----------------------------------------------------------- */

static const char *verify_key, *verify_checkpoint;
static const cli_opt verify_opts[] = {
    {"--key", "KEY|@FILE", &verify_key,
     "the log's verifier key you pinned (else the one the database states)"},
    {"--checkpoint", "FILE", &verify_checkpoint,
     "a signed checkpoint you kept; the log must match it"},
    {NULL, NULL, NULL, NULL},
};

static int run_verify(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_err err;
  custos *c = NULL;
  custos_audit_verify_report rep;
  char *key_file = NULL, *pinned = NULL;
  const char *key = verify_key;
  custos_err_clear(&err);
  if (key != NULL && key[0] == '@') {
    if ((key_file = slurp(cmd->words, key + 1, KEY_FILE_MAX)) == NULL) return CLI_REFUSED;
    key_file[strcspn(key_file, "\r\n")] = '\0';
    key = key_file;
  }
  if (verify_checkpoint != NULL &&
      (pinned = slurp(cmd->words, verify_checkpoint, CUSTOS_AUDIT_NOTE_MAX)) == NULL) {
    free(key_file);
    return CLI_REFUSED;
  }
  int status = open_db(cmd, common, &c);
  if (status != CLI_OK) goto out;
  const char *const pins[1] = {pinned};
  int rc = custos_audit_verify(c, key, pins, pinned ? 1 : 0, &rep, &err);
  if (rc != CUSTOS_OK && rc != CUSTOS_EVERIFY) {
    status = cli_fail(cmd->words, rc, &err);
    goto out;
  }
  char root[65];
  hex(rep.root.b, sizeof rep.root.b, root);
  if (common->json) {
    json_t *o =
        json_pack("{s:b, s:I, s:I, s:s, s:I, s:I, s:I, s:s, s:s}", "intact", rc == CUSTOS_OK,
                  "entries", (json_int_t)rep.entries, "tree_size", (json_int_t)rep.tree_size,
                  "root", root, "checkpoints", (json_int_t)rep.checkpoints, "consistency_proofs",
                  (json_int_t)rep.consistency_proofs, "problems", (json_int_t)rep.problems, "key",
                  key ? "pinned" : "database", "first_problem", rep.first_problem);
    if (o != NULL) {
      json_object_set_new(o, "first_bad_entry",
                          rep.first_bad_entry == UINT64_MAX
                              ? json_null()
                              : json_integer((json_int_t)rep.first_bad_entry));
    }
    cli_print_json(o);
  } else if (rc == CUSTOS_OK) {
    printf("audit log intact: %llu entries, root %s\n", (unsigned long long)rep.entries, root);
    printf("%llu signed checkpoints checked, %llu consistency proofs between them; key %s%s\n",
           (unsigned long long)rep.checkpoints, (unsigned long long)rep.consistency_proofs,
           key ? "pinned" : "as the database states it",
           pinned ? "; the kept checkpoint matches" : "");
  }
  if (rc == CUSTOS_EVERIFY) {
    char why[CUSTOS_ERR_MESSAGE_MAX + 64];
    snprintf(why, sizeof why, "the log was altered: %s", rep.first_problem);
    cli_error(cmd->words, why, rep.problems > 1 ? "more problems follow from the first" : NULL);
    status = CLI_REFUSED;
  } else if (key == NULL && !common->json) {
    printf("(pin the key with --key to check the log against more than itself)\n");
  }
out:
  custos_close(c);
  free(key_file);
  free(pinned);
  return status;
}

/* ---- custos audit checkpoint ---------------------------------------------------------- */

static const char *checkpoint_no_sign;
static const cli_opt checkpoint_opts[] = {
    {"--no-sign", NULL, &checkpoint_no_sign, "only print the latest; sign nothing"},
    {NULL, NULL, NULL, NULL},
};

static int run_checkpoint(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_err err;
  custos *c = NULL;
  static char note[CUSTOS_AUDIT_NOTE_MAX + 1];
  size_t len = 0;
  bool fresh = false;
  custos_err_clear(&err);
  int status = open_db(cmd, common, &c);
  if (status != CLI_OK) return status;
  int rc = custos_audit_latest_checkpoint(c, checkpoint_no_sign == NULL, note, sizeof note, &len,
                                          &fresh, &err);
  custos_close(c);
  if (rc != CUSTOS_OK) {
    cli_error(cmd->words, err.message[0] ? err.message : custos_strerror(rc),
              checkpoint_no_sign ? NULL : "--no-sign prints the latest without the key");
    return cli_status_of(rc);
  }
  if (common->json) {
    custos_audit_checkpoint cp;
    char root[65] = "";
    /* The checkpoint is the note's text, up to the blank line. */
    const char *blank = strstr(note, "\n\n");
    if (blank &&
        custos_audit_checkpoint_parse(note, (size_t)(blank - note) + 1, &cp, &err) == CUSTOS_OK) {
      hex(cp.root.b, sizeof cp.root.b, root);
    }
    cli_print_json(json_pack("{s:s, s:I, s:s, s:b}", "checkpoint", note, "size",
                             (json_int_t)(root[0] ? cp.size : 0), "root", root, "signed_new",
                             fresh));
  } else {
    fwrite(note, 1, len, stdout);
  }
  return CLI_OK;
}

/* ---- custos audit prove ---------------------------------------------------------------- */

static const char *prove_out, *prove_no_sign;
static const cli_opt prove_opts[] = {
    {"--out", "DIR", &prove_out,
     "write entry-N.json, proof-N.json and checkpoint-M.txt there (created if missing)"},
    {"--no-sign", NULL, &prove_no_sign, "do not sign a checkpoint when none covers the entry yet"},
    {NULL, NULL, NULL, NULL},
};

/* Writes data to dir/name; prints why on failure. */
static int write_out(const char *words, const char *dir, const char *name, const char *data,
                     size_t len, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  bool ok = f != NULL && fwrite(data, 1, len, f) == len;
  if (f != NULL && fclose(f) != 0) ok = false;
  if (!ok) {
    char why[512];
    snprintf(why, sizeof why, "%.400s: %s", path, strerror(errno));
    cli_error(words, why, NULL);
    return CLI_INTERNAL;
  }
  return CLI_OK;
}

static int run_prove(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  custos_err err;
  custos *c = NULL;
  static custos_audit_evidence ev;
  static char proof[CUSTOS_AUDIT_PROOF_FILE_MAX];
  size_t proof_len = 0;
  custos_err_clear(&err);
  char *end = NULL;
  errno = 0;
  unsigned long long index = strtoull(argv[0], &end, 10);
  if (argv[0][0] < '0' || argv[0][0] > '9' || *end != '\0' || errno != 0) {
    cli_error(cmd->words, "ENTRY: expected the entry's number (its seq), from 0",
              "see 'custos audit prove --help'");
    return CLI_USAGE;
  }
  int status = open_db(cmd, common, &c);
  if (status != CLI_OK) return status;
  int rc = custos_audit_prove(c, index, prove_no_sign == NULL, &ev, &err);
  custos_close(c);
  if (rc == CUSTOS_OK)
    rc = custos_audit_proof_encode(&ev.proof, proof, sizeof proof, &proof_len, &err);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);

  char entry_path[4200] = "", proof_path[4200] = "", cp_path[4200] = "";
  if (prove_out != NULL) {
    if (mkdir(prove_out, 0700) != 0 && errno != EEXIST) {
      char why[512];
      snprintf(why, sizeof why, "%.400s: %s", prove_out, strerror(errno));
      cli_error(cmd->words, why, NULL);
      return CLI_INTERNAL;
    }
    char name[64];
    snprintf(name, sizeof name, "entry-%llu.json", index);
    status = write_out(cmd->words, prove_out, name, ev.entry, ev.entry_len, entry_path,
                       sizeof entry_path);
    snprintf(name, sizeof name, "proof-%llu.json", index);
    if (status == CLI_OK) {
      status =
          write_out(cmd->words, prove_out, name, proof, proof_len, proof_path, sizeof proof_path);
    }
    snprintf(name, sizeof name, "checkpoint-%llu.txt", (unsigned long long)ev.cp.size);
    if (status == CLI_OK) {
      status = write_out(cmd->words, prove_out, name, ev.checkpoint, ev.checkpoint_len, cp_path,
                         sizeof cp_path);
    }
    if (status != CLI_OK) return status;
  }
  if (common->json) {
    json_error_t jerr;
    json_t *p = json_loadb(proof, proof_len, 0, &jerr);
    json_t *o =
        json_pack("{s:I, s:s, s:o?, s:s, s:I}", "entry_index", (json_int_t)index, "entry", ev.entry,
                  "proof", p, "checkpoint", ev.checkpoint, "tree_size", (json_int_t)ev.cp.size);
    if (o != NULL && prove_out != NULL) {
      json_object_set_new(o, "files",
                          json_pack("{s:s, s:s, s:s}", "entry", entry_path, "proof", proof_path,
                                    "checkpoint", cp_path));
    }
    cli_print_json(o);
  } else if (prove_out != NULL) {
    printf("entry %llu is in the log of %llu entries (checked here); files for a third party:\n",
           index, (unsigned long long)ev.cp.size);
    printf("  %s\n  %s\n  %s\n", entry_path, proof_path, cp_path);
    printf(
        "check with the log key you pinned:\n"
        "  verify-proof --key @PINNED_KEY --checkpoint %s --entry %s --proof %s\n",
        cp_path, entry_path, proof_path);
  } else {
    printf("entry:\n%s\n\nproof:\n%.*s\ncheckpoint:\n%s", ev.entry, (int)proof_len, proof,
           ev.checkpoint);
  }
  return CLI_OK;
}

/* ---- custos audit setup --------------------------------------------------------------------- */

static const char *setup_origin;
static const cli_opt setup_opts[] = {
    {"--log-origin", "NAME", &setup_origin,
     "the log's name in its checkpoints (default custos.local/audit/<random>)"},
    {NULL, NULL, NULL, NULL},
};

static int run_setup(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_err err;
  custos *c = NULL;
  custos_status st;
  char key_path[4096] = "";
  custos_err_clear(&err);
  int status = open_db(cmd, common, &c);
  if (status != CLI_OK) return status;
  int rc = custos_audit_setup(c, setup_origin, &err);
  if (rc == CUSTOS_OK) rc = custos_get_status(c, &st, &err);
  if (rc == CUSTOS_OK) rc = custos_audit_key_path(common->db, key_path, sizeof key_path, &err);
  custos_close(c);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (common->json) {
    cli_print_json(json_pack("{s:s, s:s}", "log_key", st.log_key, "log_key_file", key_path));
  } else {
    printf("audit log set up; signing key written to %s (keep it secret)\n", key_path);
    printf("log key (give it to auditors to pin): %s\n", st.log_key);
  }
  return CLI_OK;
}

const cli_cmd cli_audit_cmds[] = {
    {"audit verify", "[--key KEY|@FILE] [--checkpoint FILE] [--json]",
     "recompute the audit log's Merkle tree and check every checkpoint",
     "Recomputes the tree from the stored entries and checks every stored subtree hash,\n"
     "the head, every signed checkpoint (signature, origin, root) and a consistency\n"
     "proof between each pair of consecutive checkpoints.  Exit 0 when intact; exit 3\n"
     "naming the first problem when anything was edited, removed, inserted, reordered\n"
     "or re-signed.  --key: the verifier key you pinned when the system was set up (what\n"
     "'custos init' printed); without it the key the database states is used, which\n"
     "shows only that the log agrees with itself.  --checkpoint FILE: a checkpoint you\n"
     "kept; a log cut back together with its checkpoints no longer matches it.  Needs no\n"
     "login: the log is public.  With --json: {\"intact\", \"entries\", \"tree_size\",\n"
     "\"root\", \"checkpoints\", \"consistency_proofs\", \"problems\", \"key\",\n"
     "\"first_problem\", \"first_bad_entry\"}.",
     0, 0, verify_opts, run_verify},
    {"audit checkpoint", "[--no-sign] [--json]",
     "the latest signed checkpoint (C2SP tlog-checkpoint text)",
     "Signs a checkpoint of the current tree when the log has grown since the latest,\n"
     "then prints the latest as a C2SP signed note.  Signing needs the log's key file\n"
     "(<db>.logkey, or $CUSTOS_AUDIT_KEY; mode 0600), so only its owner can sign;\n"
     "--no-sign only prints.  Keep the checkpoints you print: they are what shows later\n"
     "that nothing was removed.",
     0, 0, checkpoint_opts, run_checkpoint},
    {"audit prove", "ENTRY [--out DIR] [--no-sign] [--json]",
     "inclusion proof of one entry against the latest checkpoint",
     "ENTRY is the entry's number (its seq).  Prints the entry's exact bytes, the proof\n"
     "file and the checkpoint; --out DIR writes them as entry-N.json, proof-N.json and\n"
     "checkpoint-M.txt, which tools/verify-proof checks with only the log key you\n"
     "pinned.  When no checkpoint covers the entry yet one is signed first (as 'audit\n"
     "checkpoint' does), unless --no-sign.  Needs no login.",
     1, 1, prove_opts, run_prove},
    {"audit setup", "[--log-origin NAME]",
     "create the audit log of a database made before the log existed",
     "For a database from before schema version 3: creates the log's signing key (beside\n"
     "the database, or $CUSTOS_AUDIT_KEY), its settings and first entry, and prints the\n"
     "key to pin.  'custos init' does this for new databases.  Refused when the log\n"
     "exists or the key file does (exit 3).",
     0, 0, setup_opts, run_setup},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
