/* messages.h: the service's codes as text for people, in their language.
 *
 * The daemon speaks English on the bus; what it means is in stable codes:
 * job stages, operations and results, Preflight's checks, List's
 * problem codes, component ids (and D-Bus error names, exit-status.h).
 * These functions turn a code into the user's language (gettext domain
 * starface-backup).  Each says whether a translation was found
 * (*translated, or a NULL answer): without one the caller shows what the
 * daemon said, so English output stays the daemon's own words.
 */
#pragma once

#include <glib.h>

/* gettext's translation of msgid, or NULL when there is none (gettext then
 * answers with msgid itself). */
const char *message_translation (const char *msgid);

/* The stage of a job ("extracting") as a phrase ("Sicherung wird
 * entpackt"); NULL for an unknown stage or without a translation. */
const char *message_stage (const char *stage);

/* "restore"/"upload" and a backup: "the restore of NAME" (article and
 * all, for the middle of a sentence), or "restore of NAME" without
 * article; an unknown operation is shown as it is. */
char *message_job_title (const char *operation, const char *backup, gboolean article);

/* Short words for the history table and the monitor: "upload" ->
 * "Hochladen", "done" -> "erledigt"; the code itself when unknown. */
const char *message_operation (const char *operation);
const char *message_result (const char *result);

/* A Preflight check (code with its arguments, a{sv}) as a sentence:
 * translated, or the English sentence of the code when there is no
 * translation (*translated FALSE).  NULL when the code is unknown or an
 * argument it needs is missing or of another type. */
char *message_check (const char *code, GVariant *args, gboolean *translated);

/* A Preflight report's blockers or warnings (severity "blocker" or
 * "warning") as sentences: from its checks (a(ssa{sv})) in the user's
 * language; the service's English sentences (keys blockers, warnings)
 * without a translation, for unknown codes, or without checks. */
GPtrArray *message_findings (GVariant *report, const char *severity);

/* A List problem-code as a sentence; NULL when unknown.  *translated as
 * for message_check(). */
const char *message_problem (const char *code, gboolean *translated);

/* The product's label of a component id in the user's language ("core"
 * -> "Kerndaten"); NULL for other ids or without a translation. */
const char *message_component (const char *id);
/* A component's label from a backup in the user's language when it is the
 * product's English label of that id ("Core data" of core), else as it
 * is. */
const char *message_component_label (const char *id, const char *label);
