/* sar-fixture.h: hand-made archives for the unit tests of the reader and
 * the extractor.
 *
 * Broken and hostile archives are written member by member with
 * libarchive's writer, so each test shows exactly what is wrong with its
 * archive.  The metadata describes the regular files below core/ and
 * cdr-voicemail/ of a list of members.
 */
#pragma once

#include <archive.h>
#include <glib.h>

#define CREATED G_GINT64_CONSTANT (1795140000) /* 2026-11-20T02:00:00Z */

typedef struct {
  const char *path;
  char type;        /* 'f' file, 'd' directory, 'l' symlink, 'h' hard link, 'p' FIFO, 'c' device */
  const char *data; /* content, or the link target */
  guint mode;       /* 0: 0644 for files, 0755 for directories */
  gsize size;       /* 'f' with data NULL: this many zero bytes */
} Member;

void assert_contains (const char *haystack, const char *needle);

/* An unlinked temporary file, open for reading and writing. */
int temp_fd (void);
void rewind_fd (int fd);

/* One member into an archive being written (in a UTF-8 locale). */
void write_member (struct archive *archive, const Member *member);

/* An archive of the members, returned rewound. */
int write_members (int format, int filter, const Member *members, gsize n);

/* manifest.ini and SHA256SUMS describing the regular files of described[]
 * below core/ and cdr-voicemail/; other members are left out. */
void metadata_for (const Member *described, gsize n, char **manifest, char **sums);

/* Metadata describing described[], then the members of body[]. */
int write_sar_as (int format, int filter, const Member *described, gsize n_described,
                  const Member *body, gsize n_body);
