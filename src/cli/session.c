/*
 * Acting as a person: reading passwords and logging the acting user in, for
 * every command that takes --as.
 *
 * Passwords never come from the command line (it is visible to every user of
 * the machine): from an environment variable ($CUSTOS_PASSWORD for the acting
 * user), else from the terminal with echo off, restored on a signal too.
 * Buffers that held a password are wiped before they are released.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"

/* The terminal whose echo is off, restored by the signal handler too. */
static volatile sig_atomic_t tty_fd = -1;
static struct termios tty_saved;

static void restore_tty_and_reraise(int sig) {
  if (tty_fd >= 0) tcsetattr(tty_fd, TCSAFLUSH, &tty_saved);
  signal(sig, SIG_DFL);
  raise(sig);
}

static void tty_write(int fd, const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

/* Prompts on fd with echo off and reads one line into out[CLI_PASSWORD_CAP].
 * Returns 0, or -1 when the line is longer than CUSTOS_PASSWORD_MAX or the
 * terminal fails. */
static int prompt_line(int fd, const char *prompt, char *out) {
  static const int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
  struct sigaction sa, old[5];
  struct termios raw;
  int rc = 0;
  size_t n = 0;
  bool too_long = false;

  if (tcgetattr(fd, &tty_saved) != 0) return -1;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = restore_tty_and_reraise;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < 5; i++) sigaction(sigs[i], &sa, &old[i]);
  raw = tty_saved;
  raw.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
  tty_fd = fd;
  if (tcsetattr(fd, TCSAFLUSH, &raw) != 0) rc = -1;
  /* The prompt appears only once echo is off, so nothing typed after it is
   * shown or discarded by the flush. */
  tty_write(fd, prompt);
  while (rc == 0) {
    char c;
    ssize_t r = read(fd, &c, 1);
    if (r < 0) {
      rc = -1;
      break;
    }
    if (r == 0 || c == '\n' || c == '\r') break;
    if (n < CUSTOS_PASSWORD_MAX) {
      out[n++] = c;
    } else {
      too_long = true;
    }
  }
  out[n] = '\0';
  tcsetattr(fd, TCSAFLUSH, &tty_saved);
  tty_fd = -1;
  for (size_t i = 0; i < 5; i++) sigaction(sigs[i], &old[i], NULL);
  tty_write(fd, "\n");
  return too_long ? -1 : rc;
}

int cli_read_password(const char *what, const char *env, const char *prompt, bool confirm,
                      char *out) {
  const char *v = getenv(env);
  out[0] = '\0';
  if (v != NULL) {
    if (strlen(v) > CUSTOS_PASSWORD_MAX) {
      char why[96];
      snprintf(why, sizeof why, "$%s is longer than %d bytes", env, CUSTOS_PASSWORD_MAX);
      cli_error(what, why, NULL);
      return CLI_REFUSED;
    }
    snprintf(out, CLI_PASSWORD_CAP, "%s", v);
    return CLI_OK;
  }
  int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    char why[128], hint[128];
    snprintf(why, sizeof why, "no password: $%s is not set and there is no terminal to ask on",
             env);
    snprintf(hint, sizeof hint, "set $%s, or run on a terminal", env);
    cli_error(what, why, hint);
    return CLI_USAGE;
  }
  int status = CLI_OK;
  char again[CLI_PASSWORD_CAP];
  if (prompt_line(fd, prompt, out) != 0) {
    cli_error(what, "could not read the password (too long, or the terminal failed)", NULL);
    status = CLI_REFUSED;
  } else if (confirm) {
    if (prompt_line(fd, "Repeat it: ", again) != 0 || strcmp(out, again) != 0) {
      cli_error(what, "the two passwords differ", NULL);
      status = CLI_REFUSED;
    }
  }
  explicit_bzero(again, sizeof again);
  close(fd);
  if (status != CLI_OK) explicit_bzero(out, CLI_PASSWORD_CAP);
  return status;
}

int cli_login(const cli_cmd *cmd, const cli_common *common, custos **c, custos_session **as) {
  custos_err err;
  char pw[CLI_PASSWORD_CAP];
  custos_err_clear(&err);
  *c = NULL;
  *as = NULL;
  if (common->as == NULL || common->as[0] == '\0') {
    char hint[96];
    snprintf(hint, sizeof hint, "see 'custos %s --help'", cmd->words);
    cli_error(cmd->words, "--as USER is required: this command acts as a person", hint);
    return CLI_USAGE;
  }
  int rc = custos_open(common->db, c, &err);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  char prompt[CUSTOS_USER_NAME_MAX + 32];
  snprintf(prompt, sizeof prompt, "Password for %.64s: ", common->as);
  int status = cli_read_password(cmd->words, "CUSTOS_PASSWORD", prompt, false, pw);
  if (status == CLI_OK) {
    rc = custos_login(*c, common->as, pw, as, &err);
    if (rc != CUSTOS_OK) status = cli_fail(cmd->words, rc, &err);
  }
  explicit_bzero(pw, sizeof pw);
  if (status != CLI_OK) {
    custos_close(*c);
    *c = NULL;
  }
  return status;
}

void cli_logout(custos *c, custos_session *as) {
  custos_session_free(as);
  custos_close(c);
}
