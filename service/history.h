/* history.h: what every upload and restore did, kept across restarts.
 *
 * One record per job, written when the job ends: an a{sv} with the keys of
 * GetHistory (docs/dbus-api.md).  The records live in one file in the
 * state directory, a line each, every line carrying the SHA-256 of its
 * text; a line is appended and fsynced before the record counts (or,
 * history_append_later(), soon after).  At open,
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
/* Appends a record that history_list() returns at once, and writes it to
 * the file in a thread of the history's own (in order, fsynced; a failure
 * is logged and the record written with the next), so the caller (the
 * main loop) never waits for the disk.  history_free() waits for what is
 * still to be written.  Not from several threads at once with
 * history_free(). */
void history_append_later (History *history, GVariant *record);

/* The newest limit records (0: all kept), newest first: aa{sv}. */
GVariant *history_list (History *history, guint limit);
