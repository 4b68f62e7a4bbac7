/* sar-paths.c: the rules every member path and component id obeys. */
#include "sar-paths.h"

#include "errors.h"
#include "names.h"

#include <string.h>

#define COMPONENT_ID_MAX 64

gboolean
sar_is_control (gunichar c)
{
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

static gboolean unsafe_path (GError **error, const char *path, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* "unsafe path <quoted>: <why>"; quoting only when it fails, since every
 * member and every SHA256SUMS line is checked. */
static gboolean
unsafe_path (GError **error, const char *path, const char *format, ...)
{
  g_autofree char *quoted = NULL;
  g_autofree char *why = NULL;
  va_list args;

  if (error == NULL)
    return FALSE;
  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  return backup_error_invalid (error, "unsafe path %s: %s", quoted = sar_quote (path), why);
}

gboolean
sar_path_check (const char *path, GError **error)
{
  gsize len = path != NULL ? strlen (path) : 0;
  guint depth = 0;
  const char *p;

  if (len == 0)
    return backup_error_invalid (error, "unsafe path \"\": the path is empty");
  if (len > SAR_PATH_MAX)
    return unsafe_path (error, path, "%zu bytes long; at most %d are allowed", len, SAR_PATH_MAX);
  if (!g_utf8_validate (path, len, NULL))
    return unsafe_path (error, path, "not valid UTF-8");
  if (path[0] == '/')
    return unsafe_path (error, path, "absolute paths are not allowed");
  if (path[len - 1] == '/')
    len--;

  for (p = path; p <= path + len; p++) {
    const char *start = p;
    gsize n;

    while (p < path + len && *p != '/')
      p++;
    n = p - start;
    if (n == 0)
      return unsafe_path (error, path, "empty path component");
    if ((n == 1 && start[0] == '.') || (n == 2 && start[0] == '.' && start[1] == '.'))
      return unsafe_path (error, path, "\"%.*s\" components are not allowed", (int) n, start);
    if (++depth > SAR_PATH_DEPTH_MAX)
      return unsafe_path (error, path, "more than %d levels deep", SAR_PATH_DEPTH_MAX);
    if (n > SAR_PATH_COMPONENT_MAX)
      return unsafe_path (error, path,
                          "a component is %zu bytes long; at most %d are allowed (the longest "
                          "file name a file system takes)",
                          n, SAR_PATH_COMPONENT_MAX);
    for (const char *q = start; q < p; q = g_utf8_next_char (q)) {
      gunichar c = g_utf8_get_char (q);

      if (sar_is_control (c))
        return unsafe_path (error, path, "control character U+%04X", c);
      if (c == '\\')
        return unsafe_path (error, path, "backslashes are not allowed");
    }
  }
  return TRUE;
}

gboolean
sar_component_id_check (const char *id, GError **error)
{
  g_autofree char *quoted = sar_quote (id);
  gsize len = id != NULL ? strlen (id) : 0;

  if (len == 0 || len > COMPONENT_ID_MAX || id[0] == '-')
    goto bad;
  for (const char *p = id; *p != '\0'; p++)
    if (!(g_ascii_islower (*p) || g_ascii_isdigit (*p) || *p == '-'))
      goto bad;
  return TRUE;

bad:
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_UNKNOWN_COMPONENT,
               "invalid component id %s: 1 to %d lowercase ASCII letters, digits and '-', "
               "not starting with '-'",
               quoted, COMPONENT_ID_MAX);
  return FALSE;
}
