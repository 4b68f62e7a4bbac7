/* names.c: backup file names: the upload rule, the writer's naming scheme,
 * and quoting untrusted text for messages. */
#include "names.h"

#include "errors.h"

#include <string.h>

#define SAR_SUFFIX ".sar"
/* "_YYYY-MM-DD_HH-MM-SS.sar" */
#define STAMP_LEN 19
#define STAMPED_SUFFIX_LEN (1 + STAMP_LEN + 4)
#define ALLOWED_TEXT "only ASCII letters, digits, '.', '-' and '_' are allowed"

static gboolean
is_name_char (gunichar c)
{
  return c < 0x80 && (g_ascii_isalnum (c) || c == '.' || c == '-' || c == '_');
}

static gboolean
is_control (gunichar c)
{
  return c < 0x20 || (c >= 0x7f && c <= 0x9f);
}

static void
append_quoted_char (GString *out, gunichar c)
{
  switch (c) {
  case '"':
    g_string_append (out, "\\\"");
    break;
  case '\\':
    g_string_append (out, "\\\\");
    break;
  case '\n':
    g_string_append (out, "\\n");
    break;
  case '\t':
    g_string_append (out, "\\t");
    break;
  case '\r':
    g_string_append (out, "\\r");
    break;
  default:
    if (is_control (c) || !g_unichar_isprint (c))
      g_string_append_printf (out, c <= 0xff ? "\\x%02X" : "\\u%04X", c);
    else
      g_string_append_unichar (out, c);
  }
}

char *
sar_quote (const char *text)
{
  GString *out = g_string_new ("\"");
  const char *p = text != NULL ? text : "";
  const char *end = p + strlen (p);
  guint n = 0;

  while (*p != '\0') {
    gunichar c = g_utf8_get_char_validated (p, end - p);

    if (n++ == SAR_QUOTE_MAX) {
      g_string_append (out, "...");
      break;
    }
    if (c == (gunichar) -1 || c == (gunichar) -2) {
      g_string_append_printf (out, "\\x%02X", (guchar) *p);
      p++;
      continue;
    }
    append_quoted_char (out, c);
    p = g_utf8_next_char (p);
  }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

char *
sar_escape_invalid (const char *text)
{
  const char *p = text != NULL ? text : "";
  const char *end = p + strlen (p);
  const char *bad;
  GString *out;

  if (g_utf8_validate (p, end - p, NULL))
    return g_strdup (p);
  out = g_string_new (NULL);
  while (!g_utf8_validate (p, end - p, &bad)) {
    g_string_append_len (out, p, bad - p);
    g_string_append_printf (out, "\\x%02X", (guchar) *bad);
    p = bad + 1;
  }
  g_string_append (out, p);
  return g_string_free (out, FALSE);
}

static gboolean invalid_name (GError **error, const char *name, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

static gboolean
invalid_name (GError **error, const char *name, const char *format, ...)
{
  g_autofree char *quoted = sar_quote (name);
  g_autofree char *why = NULL;
  va_list args;

  va_start (args, format);
  why = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_NAME, "invalid backup name %s: %s", quoted,
               why);
  return FALSE;
}

/* Names the first character a name may not hold, and where it is. */
static gboolean
check_characters (const char *name, GError **error)
{
  const char *end = name + strlen (name);
  guint position = 1;

  for (const char *p = name; *p != '\0'; p = g_utf8_next_char (p), position++) {
    gunichar c = g_utf8_get_char_validated (p, end - p);
    g_autofree char *what = NULL;
    g_autofree char *quoted = NULL;
    char utf8[8] = { 0 };

    if (c == (gunichar) -1 || c == (gunichar) -2)
      what = g_strdup_printf ("invalid byte 0x%02X (not UTF-8)", (guchar) *p);
    else if (is_name_char (c))
      continue;
    else if (is_control (c) || !g_unichar_isprint (c))
      what = g_strdup_printf ("invalid %scharacter U+%04X", is_control (c) ? "control " : "", c);
    else {
      g_unichar_to_utf8 (c, utf8);
      what = g_strdup_printf ("invalid character '%s' (U+%04X)", utf8, c);
    }
    quoted = sar_quote (name);
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_NAME,
                 "%s at position %u of %s: " ALLOWED_TEXT, what, position, quoted);
    return FALSE;
  }
  return TRUE;
}

gboolean
sar_name_validate (const char *name, GError **error)
{
  gsize len;

  if (name == NULL || *name == '\0') {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_NAME,
                 "the backup name is empty: give a file name ending in \".sar\"");
    return FALSE;
  }
  if (!check_characters (name, error))
    return FALSE;
  if (name[0] == '.')
    return invalid_name (error, name, "it starts with '.'; hidden names are not allowed");
  len = strlen (name);
  if (len > SAR_NAME_MAX)
    return invalid_name (error, name, "it is %zu characters long; at most %d are allowed", len,
                         SAR_NAME_MAX);
  if (len < strlen (SAR_SUFFIX) + 1 || !g_str_has_suffix (name, SAR_SUFFIX))
    return invalid_name (error, name, "it does not end in \"" SAR_SUFFIX "\"");
  return TRUE;
}

char *
sar_name_for (const char *process, gint64 created_utc)
{
  g_autoptr (GString) name = g_string_new (NULL);
  g_autoptr (GDateTime) time = NULL;
  g_autofree char *stamp = NULL;
  const char *p = process != NULL ? process : "";
  gboolean utf8 = g_utf8_validate (p, -1, NULL);
  const gsize max_process = SAR_NAME_MAX - STAMPED_SUFFIX_LEN;

  /* One '-' per character (not per byte) so "März" becomes "M-rz". */
  while (*p != '\0' && name->len < max_process) {
    gunichar c = utf8 ? g_utf8_get_char (p) : (guchar) *p;

    if (!is_name_char (c) || (name->len == 0 && c == '.'))
      c = '-';
    g_string_append_c (name, (char) c);
    p = utf8 ? g_utf8_next_char (p) : p + 1;
  }
  if (name->len == 0)
    g_string_append (name, "manual");

  time = g_date_time_new_from_unix_utc (created_utc);
  if (time == NULL)
    time = g_date_time_new_from_unix_utc (0);
  stamp = g_date_time_format (time, "%Y-%m-%d_%H-%M-%S");
  g_string_append_printf (name, "_%s" SAR_SUFFIX, stamp);
  return g_strdup (name->str);
}

static gboolean
parse_digits (const char *p, guint n, int *out)
{
  int value = 0;

  for (guint i = 0; i < n; i++) {
    if (!g_ascii_isdigit (p[i]))
      return FALSE;
    value = value * 10 + (p[i] - '0');
  }
  *out = value;
  return TRUE;
}

gboolean
sar_name_parse (const char *name, char **process, gint64 *created_utc)
{
  g_autoptr (GDateTime) time = NULL;
  const char *stamp;
  gsize len;
  int year, month, day, hour, minute, second;

  if (name == NULL)
    return FALSE;
  len = strlen (name);
  if (len <= STAMPED_SUFFIX_LEN || !g_str_has_suffix (name, SAR_SUFFIX))
    return FALSE;
  stamp = name + len - STAMPED_SUFFIX_LEN + 1;
  if (stamp[-1] != '_' || stamp[4] != '-' || stamp[7] != '-' || stamp[10] != '_' || stamp[13] != '-'
      || stamp[16] != '-')
    return FALSE;
  if (!parse_digits (stamp, 4, &year) || !parse_digits (stamp + 5, 2, &month)
      || !parse_digits (stamp + 8, 2, &day) || !parse_digits (stamp + 11, 2, &hour)
      || !parse_digits (stamp + 14, 2, &minute) || !parse_digits (stamp + 17, 2, &second))
    return FALSE;
  /* g_date_time_new_utc() would carry 60 seconds into the next minute. */
  if (second > 59)
    return FALSE;
  time = g_date_time_new_utc (year, month, day, hour, minute, second);
  if (time == NULL)
    return FALSE;

  if (process != NULL)
    *process = g_strndup (name, len - STAMPED_SUFFIX_LEN);
  if (created_utc != NULL)
    *created_utc = g_date_time_to_unix (time);
  return TRUE;
}

gboolean
sar_name_validate_upload (const char *name, GError **error)
{
  static const char reserved[] = SAR_PROCESS_PRE_RESTORE "_";

  if (!sar_name_validate (name, error))
    return FALSE;
  if (g_ascii_strncasecmp (name, reserved, sizeof reserved - 1) == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_NAME,
                 "Names starting with \"%s\" are reserved for the backups the service makes of "
                 "the state before a restore; choose another name",
                 reserved);
    return FALSE;
  }
  return TRUE;
}
