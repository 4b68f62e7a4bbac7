/* progress-record.h: what a ProgressFunc (progress.h) was told, for the
 * unit tests of progress and of the domain code that reports it. */
#pragma once

#include "progress.h"

typedef struct {
  GArray *percents;    /* guint */
  GPtrArray *stages;   /* char* */
  GPtrArray *messages; /* char* */
} Seen;

void seen_init (Seen *seen);
void seen_clear (Seen *seen);
/* A ProgressFunc: data is the Seen. */
void seen_record (guint percent, const char *stage, const char *message, gpointer data);
guint seen_percent (const Seen *seen, guint i);
guint seen_last_percent (const Seen *seen);
