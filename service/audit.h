/* audit.h: structured records of every privileged decision and every job.
 *
 * Each record is a GLib structured log message with a stable MESSAGE_ID
 * per kind and one field per fact, so that
 *
 *   journalctl MESSAGE_ID=<id>
 *
 * finds them all (the IDs and fields are listed in starface-backupd(8)).
 * audit_install_writer() makes the daemon's log go to the journal when its
 * standard error is connected to it, and otherwise writes every audit
 * record to standard error as one line: "AUDIT <kind> KEY=value ...", the
 * values quoted where they need it.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* an authorization decision on upload, restore or cancel: allowed */
#define AUDIT_ID_ALLOWED "c2c40b0466b146a7b53717f3e98ed079"
/* ... refused */
#define AUDIT_ID_DENIED "d7759bce8ad1432fa661d18095bd5942"
/* a job started */
#define AUDIT_ID_JOB_STARTED "eeec1c8e5cf44cecac6a3e878d12e7a7"
/* a job ended */
#define AUDIT_ID_JOB_FINISHED "db70d96b4e6c453d9ab989684d073f5e"

void audit_install_writer (void);

/* reason: why (AUDIT_REASON_*); backup and components may be NULL;
 * message: the refusal's text, NULL when allowed. */
void audit_authorization (const char *action, const char *sender, uid_t uid, const char *backup,
                          const char *components, gboolean allowed, const char *reason,
                          const char *message);

#define AUDIT_REASON_ROOT "root"
#define AUDIT_REASON_SESSION_OWNER "session-owner"
#define AUDIT_REASON_SESSION_OTHER "session-other-user"
#define AUDIT_REASON_POLKIT_YES "polkit-allowed"
#define AUDIT_REASON_POLKIT_NO "polkit-denied"
#define AUDIT_REASON_NOT_INTERACTIVE "interactive-authorization-required"
#define AUDIT_REASON_POLKIT_UNAVAILABLE "polkit-unavailable"
#define AUDIT_REASON_CALLER_UNKNOWN "caller-unknown"
#define AUDIT_REASON_STARTER "job-starter"

/* components: NULL or a NULL-terminated list. */
void audit_job_started (const char *job, const char *operation, const char *backup,
                        const char *const *components, const char *sender, uid_t uid);
/* result: done, failed or canceled; error_name/message "" when done. */
void audit_job_finished (const char *job, const char *operation, const char *backup,
                         const char *const *components, uid_t uid, const char *result,
                         const char *error_name, const char *error_message);
