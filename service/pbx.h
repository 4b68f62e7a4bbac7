/* pbx.h: the PBX adapter: logged-in users and active calls, stop, start.
 *
 * All three go through commands named in the configuration ([Pbx]); this
 * is the one place that runs external programs.  Commands run without a
 * shell, with a clean environment, stdin from /dev/null, a time limit, and
 * their output bounded.
 */
#pragma once

#include <gio/gio.h>

typedef struct {
  gboolean known; /* FALSE if the counts could not be determined */
  guint users;
  guint calls;
  char *problem; /* why not known (for a Preflight warning), or NULL */
} PbxSessions;

void pbx_sessions_clear (PbxSessions *sessions);

/* Runs SessionsCommand (argv) and parses its "users=N" and "calls=N"
 * lines (both required, decimal, other lines ignored).  Never fails: an
 * unset command, a failing command, a timeout or bad output leave
 * known=FALSE with a problem saying what happened. */
void pbx_query_sessions (char **argv, guint timeout_seconds, PbxSessions *out);

/* Runs StopCommand / StartCommand: success means exit status 0 within the
 * time limit.  An unset command (argv NULL) succeeds and does nothing.
 * Errors are BACKUP_ERROR_FAILED naming the command, the exit status or
 * signal, and the last line of its stderr. */
gboolean pbx_run_command (char **argv, const char *what, guint timeout_seconds,
                          GCancellable *cancellable, GError **error);
