/*
 * custos purge-field (GOV-19): erases one sensitive field of every holder and
 * makes sure the erased bytes are gone from the database's files.
 *
 * The erasure and its audit entry ("field.purge": the field's name and the
 * number of values, never a value) are one transaction, like every change.
 * secure_delete (docs/store.md) already overwrites the deleted rows in their
 * pages, but older copies of those pages can still sit in the write-ahead
 * log and in free pages; the compaction that follows (store
 * custos__store_compact: checkpoint the log into the file and truncate it,
 * VACUUM, checkpoint again) removes them.  If the compaction cannot finish
 * because another connection holds the log, the values are erased and
 * recorded already; running the purge again (it then erases nothing) repeats
 * the compaction.
 */
#include <stdio.h>

#include "core/coreInt.h"
#include "util/util.h"

#define MOD "purge"

int custos_purge_field(custos *c, const custos_session *as, const char *field, int64_t *erased,
                       custos_err *err) {
  custos__sensitive_field f;
  custos_txn *t = NULL;
  int64_t n = 0;
  if (erased != NULL) *erased = 0;
  /* Only the nine sensitive fields can be purged: a holder's name or date
   * of birth is part of the record, not an optional field. */
  int rc = custos__sensitive_field_parse(field, &f, err);
  if (rc != CUSTOS_OK) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "'%.64s' is not a sensitive field (ssn, mothers_maiden_name, birthplace, "
                       "twin_indicator, voter_indicator, testing_info, identity_documents, "
                       "previous_license, parental_id_document)",
                       field ? field : "");
  }
  if ((rc = custos__core_begin_as(c, as, CUSTOS_ROLE_ADMIN, true, &t, err))) return rc;
  /* GOV-19: erase, and record the erasure in the same transaction. */
  rc = custos__store_sensitive_purge(t, f, &n, err);
  if (rc == CUSTOS_OK) {
    char count[24];
    snprintf(count, sizeof count, "%lld", (long long)n);
    custos_audit_detail d[] = {{"count", count}, {"field", custos__sensitive_field_name(f)}};
    custos_audit_entry e = {.actor = custos_session_user(as),
                            .action = "field.purge",
                            .detail = d,
                            .n_detail = CUSTOS_ARRAY_LEN(d)};
    rc = custos__core_record(c, t, &e, err);
  }
  if (rc == CUSTOS_OK) {
    rc = custos__store_commit(t, err);
  } else {
    custos__store_rollback(t);
  }
  if (rc != CUSTOS_OK) return rc;
  if (erased != NULL) *erased = n;
  /* The bytes go from the files too. */
  return custos__store_compact(c->store, err);
}
