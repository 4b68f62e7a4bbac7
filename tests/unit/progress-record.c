/* progress-record.c: what a ProgressFunc was told (see progress-record.h). */
#include "progress-record.h"

void
seen_init (Seen *seen)
{
  seen->percents = g_array_new (FALSE, FALSE, sizeof (guint));
  seen->stages = g_ptr_array_new_with_free_func (g_free);
  seen->messages = g_ptr_array_new_with_free_func (g_free);
}

void
seen_clear (Seen *seen)
{
  g_array_unref (seen->percents);
  g_ptr_array_unref (seen->stages);
  g_ptr_array_unref (seen->messages);
}

void
seen_record (guint percent, const char *stage, const char *message, gpointer data)
{
  Seen *seen = data;

  g_array_append_val (seen->percents, percent);
  g_ptr_array_add (seen->stages, g_strdup (stage));
  g_ptr_array_add (seen->messages, g_strdup (message));
}

guint
seen_percent (const Seen *seen, guint i)
{
  g_assert_cmpuint (i, <, seen->percents->len);
  return g_array_index (seen->percents, guint, i);
}

guint
seen_last_percent (const Seen *seen)
{
  g_assert_cmpuint (seen->percents->len, >, 0);
  return seen_percent (seen, seen->percents->len - 1);
}
