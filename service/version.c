/* version.c: STARFACE versions, parsed strictly and compared numerically. */
#include "version.h"

#include "errors.h"
#include "names.h"

#include <string.h>

#define PART_MAX 999999999u

static gboolean
malformed (GError **error, const char *text, const char *why)
{
  g_autofree char *quoted = sar_quote (text);

  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP,
               "%s is not a STARFACE version (%s; expected up to four dot-separated numbers "
               "such as 8.1.2.3)",
               quoted, why);
  return FALSE;
}

gboolean
sf_version_parse (const char *text, SfVersion *out, GError **error)
{
  SfVersion version = { { 0 }, 0 };
  const char *p = text;

  if (text == NULL || *text == '\0')
    return malformed (error, text != NULL ? text : "", "empty");

  for (;;) {
    guint64 value = 0;
    const char *start = p;

    if (version.n_parts == SF_VERSION_MAX_PARTS)
      return malformed (error, text, "more than four parts");
    while (g_ascii_isdigit (*p)) {
      value = value * 10 + (guint64) (*p - '0');
      if (value > PART_MAX)
        return malformed (error, text, "a part is larger than 999999999");
      p++;
    }
    if (p == start)
      return malformed (error, text, *p == '.' || *p == '\0' ? "empty part" : "not a number");
    version.part[version.n_parts++] = (guint32) value;
    if (*p == '\0')
      break;
    if (*p != '.')
      return malformed (error, text, "not a number");
    p++;
  }

  *out = version;
  return TRUE;
}

int
sf_version_compare (const SfVersion *a, const SfVersion *b)
{
  for (guint i = 0; i < SF_VERSION_MAX_PARTS; i++) {
    guint32 pa = i < a->n_parts ? a->part[i] : 0;
    guint32 pb = i < b->n_parts ? b->part[i] : 0;

    if (pa != pb)
      return pa < pb ? -1 : 1;
  }
  return 0;
}

gboolean
sf_version_read_file (const char *path, SfVersion *out, char **text, GError **error)
{
  g_autofree char *contents = NULL;
  g_autoptr (GError) local_error = NULL;
  char *newline;

  if (!g_file_get_contents (path, &contents, NULL, &local_error)) {
    g_set_error (error, BACKUP_ERROR,
                 local_error->code == G_FILE_ERROR_NOENT ? BACKUP_ERROR_NOT_FOUND
                                                         : BACKUP_ERROR_FAILED,
                 "reading the installed STARFACE version: %s", local_error->message);
    return FALSE;
  }
  newline = strchr (contents, '\n');
  if (newline != NULL)
    *newline = '\0';
  g_strstrip (contents);
  /* A broken version file is the installation's problem, not a backup's. */
  if (!sf_version_parse (contents, out, &local_error)) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s: %s", path, local_error->message);
    return FALSE;
  }
  if (text != NULL)
    *text = g_steal_pointer (&contents);
  return TRUE;
}
