/*
 * The case state machine: one transition table, and the rules of the human
 * steps that need no database (GOV-10, GOV-11, GOV-15, GOV-16).
 *
 * The table is the only place a case's next state is decided; every action of
 * src/core/cases_api.c asks it before changing anything, so a front end
 * cannot move a case any other way.
 */
#include <string.h>

#include <sodium.h>

#include "cases/cases.h"
#include "util/util.h"

#define MOD "cases"

static const char *const STATE_NAMES[CUSTOS_CASE_STATE_COUNT] = {
    "legal",    "intake",    "manager", "governor", "approved", "searched",
    "examined", "responded", "closed",  "rejected", "withdrawn"};

static const char *const ACTION_NAMES[CUSTOS_CASE_ACTION_COUNT] = {
    "approve", "reject", "search", "mark", "mark_final", "respond", "close", "withdraw"};

/* THE transition table: TABLE[state][action] is the next state (+1; 0: none).
 *   GOV-10/11: approve walks legal -> intake -> manager -> governor -> approved;
 *   reject from any state before the search (a review, or GOV-12 at search);
 *   GOV-13: search only from approved, once; GOV-15: two marks;
 *   GOV-17: respond only after the examination; withdraw from any open state. */
#define T_(to) ((unsigned char)((to) + 1)) /* stored +1: 0 means no transition */
#define APPROVE_(to) [CUSTOS_CASE_APPROVE] = T_(to)
#define REJECT_ [CUSTOS_CASE_REJECT] = T_(CUSTOS_CASE_REJECTED)
#define WITHDRAW_ [CUSTOS_CASE_WITHDRAW] = T_(CUSTOS_CASE_WITHDRAWN)
static const unsigned char TABLE[CUSTOS_CASE_STATE_COUNT][CUSTOS_CASE_ACTION_COUNT] = {
    [CUSTOS_CASE_LEGAL] = {APPROVE_(CUSTOS_CASE_INTAKE), REJECT_, WITHDRAW_},
    [CUSTOS_CASE_INTAKE] = {APPROVE_(CUSTOS_CASE_MANAGER), REJECT_, WITHDRAW_},
    [CUSTOS_CASE_MANAGER] = {APPROVE_(CUSTOS_CASE_GOVERNOR), REJECT_, WITHDRAW_},
    [CUSTOS_CASE_GOVERNOR] = {APPROVE_(CUSTOS_CASE_APPROVED), REJECT_, WITHDRAW_},
    [CUSTOS_CASE_APPROVED] = {[CUSTOS_CASE_SEARCH] = T_(CUSTOS_CASE_SEARCHED), REJECT_, WITHDRAW_},
    [CUSTOS_CASE_SEARCHED] = {[CUSTOS_CASE_MARK] = T_(CUSTOS_CASE_SEARCHED),
                              [CUSTOS_CASE_MARK_FINAL] = T_(CUSTOS_CASE_EXAMINED),
                              WITHDRAW_},
    [CUSTOS_CASE_EXAMINED] = {[CUSTOS_CASE_RESPOND] = T_(CUSTOS_CASE_RESPONDED), WITHDRAW_},
    [CUSTOS_CASE_RESPONDED] = {[CUSTOS_CASE_CLOSE] = T_(CUSTOS_CASE_CLOSED)},
    /* closed, rejected, withdrawn: final */
};

const char *custos_case_state_name(custos_case_state s) {
  return (unsigned)s < CUSTOS_CASE_STATE_COUNT ? STATE_NAMES[s] : "?";
}

const char *custos_case_action_name(custos_case_action a) {
  return (unsigned)a < CUSTOS_CASE_ACTION_COUNT ? ACTION_NAMES[a] : "?";
}

int custos_case_state_parse(const char *name, custos_case_state *out, custos_err *err) {
  for (int i = 0; name != NULL && i < CUSTOS_CASE_STATE_COUNT; i++) {
    if (strcmp(name, STATE_NAMES[i]) == 0) {
      *out = (custos_case_state)i;
      return CUSTOS_OK;
    }
  }
  return custos__err(err, CUSTOS_EINVAL, MOD,
                     "state: expected one of legal, intake, manager, governor, approved, "
                     "searched, examined, responded, closed, rejected, withdrawn");
}

bool custos_case_state_open(custos_case_state s) {
  return (unsigned)s < CUSTOS_CASE_CLOSED;
}

int custos_case_transition(custos_case_state s, custos_case_action a, custos_case_state *to,
                           custos_err *err) {
  if ((unsigned)s >= CUSTOS_CASE_STATE_COUNT || (unsigned)a >= CUSTOS_CASE_ACTION_COUNT ||
      TABLE[s][a] == 0) {
    return custos__err(err, CUSTOS_EPOLICY, MOD, "a case in state %s cannot %s",
                       custos_case_state_name(s), custos_case_action_name(a));
  }
  *to = (custos_case_state)(TABLE[s][a] - 1);
  return CUSTOS_OK;
}

int custos__cases_stage_state(const char *stage, custos_case_state *out, custos_err *err) {
  for (int i = CUSTOS_CASE_LEGAL; i <= CUSTOS_CASE_GOVERNOR; i++) {
    if (stage != NULL && strcmp(stage, STATE_NAMES[i]) == 0) {
      *out = (custos_case_state)i;
      return CUSTOS_OK;
    }
  }
  return custos__err(err, CUSTOS_EINVAL, MOD, "stage: expected intake, legal, manager or governor");
}

custos_role custos__cases_stage_role(custos_case_state stage) {
  switch (stage) {
    case CUSTOS_CASE_LEGAL:
      return CUSTOS_ROLE_LEGAL;
    case CUSTOS_CASE_INTAKE:
      return CUSTOS_ROLE_INTAKE;
    case CUSTOS_CASE_MANAGER:
      return CUSTOS_ROLE_MANAGER;
    case CUSTOS_CASE_GOVERNOR:
      return CUSTOS_ROLE_GOVERNOR;
    default:
      return CUSTOS_ROLE_NONE;
  }
}

int custos__cases_review_allowed(const char *stage, custos_case_state s, custos_role role,
                                 const char *user, const char *submitter, const char *const *prior,
                                 size_t nprior, custos_err *err) {
  custos_case_state st;
  int rc = custos__cases_stage_state(stage, &st, err);
  if (rc != CUSTOS_OK) return rc;
  /* GOV-10: the reviews come in order; the case must wait for this one. */
  if (s != st) {
    return custos__err(err, CUSTOS_EPOLICY, MOD,
                       "GOV-10: the case is %s, not waiting for the %s review",
                       custos_case_state_name(s), stage);
  }
  /* GOV-11: each reviewer holds the stage's role. */
  custos_role need = custos__cases_stage_role(st);
  if (role != need) {
    return custos__err(err, CUSTOS_EPERM, MOD, "GOV-11: the %s review needs the role %s", stage,
                       custos_role_name(need));
  }
  /* GOV-11: distinct users; the submitter may do the intake review only. */
  for (size_t i = 0; i < nprior; i++) {
    if (prior[i] != NULL && strcmp(prior[i], user) == 0) {
      return custos__err(err, CUSTOS_EPERM, MOD,
                         "GOV-11: '%s' already reviewed this case; each review needs another user",
                         user);
    }
  }
  if (st != CUSTOS_CASE_INTAKE && submitter != NULL && strcmp(submitter, user) == 0) {
    return custos__err(err, CUSTOS_EPERM, MOD,
                       "GOV-11: '%s' registered this request and may do only its intake review",
                       user);
  }
  return CUSTOS_OK;
}

bool custos__cases_review_approves(bool approve, bool immigration_related) {
  return approve && !immigration_related; /* GOV-10 */
}

const char *custos__cases_outcome(int mark_a, int mark_b) {
  /* GOV-15 */
  if (mark_a >= 0 && mark_a == mark_b) return "possible_match";
  if (mark_a < 0 && mark_b < 0) return "no_identification";
  return "inconclusive";
}

bool custos__cases_releasable(double distance, double threshold) {
  return distance >= 0 && distance <= threshold; /* GOV-16 */
}

void custos__cases_label(char out[CUSTOS__CASE_LABEL_LEN + 1]) {
  static const char ALPHABET[] = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  for (int i = 0; i < CUSTOS__CASE_LABEL_LEN; i++) {
    out[i] = ALPHABET[randombytes_uniform((uint32_t)(sizeof ALPHABET - 1))];
  }
  out[CUSTOS__CASE_LABEL_LEN] = '\0';
}

void custos__cases_shuffle(int *perm, size_t n) {
  for (size_t i = 0; i < n; i++) perm[i] = (int)i;
  for (size_t i = n; i > 1; i--) {
    size_t j = randombytes_uniform((uint32_t)i);
    int tmp = perm[i - 1];
    perm[i - 1] = perm[j];
    perm[j] = tmp;
  }
}
