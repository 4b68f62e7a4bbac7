/* version.h: STARFACE versions ("8.1.2.3"), parsed and compared numerically.
 *
 * A version is one to four dot-separated decimal numbers; missing trailing
 * parts count as 0 (so "8.1" equals "8.1.0.0").  Anything else (empty parts,
 * signs, spaces, letters, more than four parts, a part above 999999999) is
 * malformed and reported as an error, never guessed.
 */
#pragma once

#include <glib.h>

#define SF_VERSION_MAX_PARTS 4

typedef struct {
  guint32 part[SF_VERSION_MAX_PARTS];
  guint n_parts;
} SfVersion;

/* Error: BACKUP_ERROR_INVALID_BACKUP with a message naming the text. */
gboolean sf_version_parse (const char *text, SfVersion *out, GError **error);

/* <0, 0, >0 like strcmp, part by part numerically. */
int sf_version_compare (const SfVersion *a, const SfVersion *b);

/* Reads the installed version from a file (first line, whitespace trimmed). */
gboolean sf_version_read_file (const char *path, SfVersion *out, char **text, GError **error);
