/* authority.h: who may do what, decided by polkit.
 *
 * The subject is always the caller's system-bus-name (never a PID).  The
 * caller's uid is asked of the bus first: root is allowed without polkit;
 * in session mode only the daemon's own uid is allowed and polkit is not
 * consulted.  Interactive authentication is allowed only when the call
 * asked for it; a "challenge" answer otherwise becomes
 * InteractiveAuthorizationRequired.  polkitd missing or failing means
 * NotAuthorized.  The check is asynchronous; if the caller leaves the bus
 * while it is pending, the check ends without calling back.
 */
#pragma once

#include <dbus/dbus.h>
#include <gio/gio.h>
#include <sys/types.h>

#define ACTION_READ "de.starface.backup.read"
#define ACTION_UPLOAD "de.starface.backup.upload"
#define ACTION_RESTORE "de.starface.backup.restore"
#define ACTION_CANCEL "de.starface.backup.cancel"

typedef struct _Authority Authority;

Authority *authority_new (DBusConnection *connection, gboolean session_mode);
void authority_free (Authority *authority);

/* error NULL: allowed.  uid is the caller's (or (uid_t) -1 if unknown). */
typedef void (*AuthorityFunc) (uid_t uid, const GError *error, gpointer user_data);

/* details: "backup" and "components" when not NULL.  If the caller
 * vanishes first, func is never called and free_data is (so nothing
 * happens on behalf of a caller that left). */
void authority_check (Authority *authority, const char *sender, const char *action,
                      const char *backup, const char *components, gboolean interactive,
                      AuthorityFunc func, gpointer user_data, GDestroyNotify free_data);

/* The caller's uid only (no policy), e.g. to recognise a job's starter. */
void authority_get_uid (Authority *authority, const char *sender, AuthorityFunc func,
                        gpointer user_data, GDestroyNotify free_data);
