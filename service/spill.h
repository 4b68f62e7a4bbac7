/* spill.h: scratch data that grows with the number of files (lists of
 * paths and digests), kept in memory while it is small and in an unlinked
 * temporary file beyond that, so the daemon's memory stays the same
 * whatever the size of a backup.  The file's pages are the kernel's page
 * cache, which it writes out and drops under pressure.
 *
 *   g_autoptr (Spill) s = spill_new ();
 *   spill_append (s, record, sizeof record, &offset, error);
 *   ...
 *   spill_read (s, offset, record, sizeof record, error);
 *
 * Appends and reads go through buffers of their own (SPILL_BUFFER bytes
 * each), so many small records cost few system calls, reads in order
 * above all.  Not thread-safe: one user at a time. */
#pragma once

#include <glib.h>

/* Where the temporary files of every later spill_new() are made: the
 * daemon's state directory (main.c).  NULL: g_get_tmp_dir().  The
 * directory is opened at each switch to a file; nothing is kept open. */
void spill_set_directory (const char *path);

/* Data up to this many bytes stays in memory. */
#define SPILL_MEMORY_MAX (64 * 1024)
/* The append and read buffers of a spill that went to a file. */
#define SPILL_BUFFER (64 * 1024)

typedef struct _Spill Spill;

Spill *spill_new (void);
/* The same with another memory limit (tests: 0 goes to a file at once). */
Spill *spill_new_limit (gsize memory_max);
/* Adds len bytes at the end; *offset (optional) is where they start. */
gboolean spill_append (Spill *spill, const void *data, gsize len, guint64 *offset, GError **error);
/* Reads len bytes at offset, all of which were appended before. */
gboolean spill_read (Spill *spill, guint64 offset, void *out, gsize len, GError **error);
/* Bytes appended so far. */
guint64 spill_size (const Spill *spill);
/* Whether the data went to a file (tests). */
gboolean spill_in_file (const Spill *spill);
void spill_free (Spill *spill);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Spill, spill_free)
