/* names.h: backup file names.
 *
 * Upload names: ASCII letters, digits, '.', '-', '_'; ending in ".sar"; no
 * leading dot; at most SAR_NAME_MAX bytes.  The writer names its files
 * "<Process>_<YYYY-MM-DD>_<HH-MM-SS>.sar" (UTC).
 */
#pragma once

#include <glib.h>

#define SAR_NAME_MAX 128

/* BACKUP_ERROR_INVALID_NAME with a message that names the offending
 * character (as Unicode, e.g. 'ä' U+00E4) and its 1-based character
 * position, or says what else is wrong (empty, too long, leading dot,
 * missing ".sar", invalid UTF-8). */
gboolean sar_name_validate (const char *name, GError **error);

/* The process of the backups the daemon writes of the state before a
 * restore (the undo).  Their names, "pre-restore_<...>.sar", belong to the
 * daemon: callers cannot upload under them, so no caller can take or
 * replace an undo. */
#define SAR_PROCESS_PRE_RESTORE "pre-restore"

/* sar_name_validate(), and not a name the daemon reserves for itself (any
 * name starting with "pre-restore_", in any case): BACKUP_ERROR_INVALID_NAME. */
gboolean sar_name_validate_upload (const char *name, GError **error);

/* "<process>_<YYYY-MM-DD>_<HH-MM-SS>.sar" for a UTC time; characters of
 * the process that a name may not hold become '-'; an empty process
 * becomes "manual". */
char *sar_name_for (const char *process, gint64 created_utc);

/* Splits a writer-made name into process and UTC time.  FALSE if the name
 * does not have that shape (then outputs are untouched). */
gboolean sar_name_parse (const char *name, char **process, gint64 *created_utc);

/* Untrusted text (a name, a member path, a manifest value) made safe for an
 * error message: in double quotes, with '"', '\\', control characters and
 * invalid UTF-8 bytes escaped, cut after SAR_QUOTE_MAX characters. */
#define SAR_QUOTE_MAX 80
char *sar_quote (const char *text);

/* Text that may come from the file system (names, messages naming files)
 * as valid UTF-8, for D-Bus strings: UTF-8 stays as it is, every other
 * byte becomes "\xNN" (hex, upper case).  Nothing is quoted or cut. */
char *sar_escape_invalid (const char *text);
