/* history.h: what every upload and restore did, kept across restarts.
 *
 * One record per job, written when the job ends: an a{sv} with the keys of
 * GetHistory (docs/dbus-api.md).  The records live in one file in the
 * state directory, a line each, every line carrying the SHA-256 of its
 * text; a line is appended and fsynced before the record counts.  At open,
 * a file with a line that does not check out (a write torn by a crash,
 * damage, a hand edit) is set aside as history.damaged-<time> and a new
 * one started with the records before that line, with a warning: the
 * daemon never trusts or crashes on it.  The history
 * keeps at most "keep" records ([Limits] HistoryEntries); when appends have
 * made the file twice that, the newest "keep" are written to a new file that replaces it
 * atomically.  Records are kept in memory too, so reading the history
 * touches no file.
 */
#pragma once

#include <glib.h>

#define HISTORY_FILE "history"

typedef struct _History History;

/* Creates the directory if need be.  Fails only when the directory cannot
 * be used at all. */
History *history_open (const char *directory, guint keep, GError **error);
void history_free (History *history);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (History, history_free)

/* Appends a record (a{sv}; a floating reference is sunk).  Durable when it
 * returns TRUE. */
gboolean history_append (History *history, GVariant *record, GError **error);

/* The newest limit records (0: all kept), newest first: aa{sv}. */
GVariant *history_list (History *history, guint limit);
