/* progress.c: weighted steps with child ranges (see progress.h). */
#include "progress.h"

static void
set_range (Progress *progress, double lo, double hi)
{
  progress->lo = lo;
  progress->hi = hi;
}

static void
init_steps (Progress *progress, const ProgressStep *steps, guint n_steps)
{
  progress->steps = steps;
  progress->n_steps = n_steps;
  progress->total_weight = 0;
  for (guint i = 0; i < n_steps; i++)
    progress->total_weight += steps[i].weight;
  progress->current = 0;
  progress->announced = 0;
  progress->fraction = 0;
}

void
progress_init (Progress *progress, const ProgressStep *steps, guint n_steps, ProgressFunc func,
               gpointer data)
{
  g_return_if_fail (progress != NULL && steps != NULL && n_steps > 0);
  progress->func = func;
  progress->data = data;
  progress->parent = NULL;
  set_range (progress, 0, 100);
  init_steps (progress, steps, n_steps);
}

/* The range of the current step of p, in percent of the whole. */
static void
step_range (const Progress *p, double *lo, double *hi)
{
  guint before = 0;
  double span = p->hi - p->lo;

  for (guint i = 0; i < p->current; i++)
    before += p->steps[i].weight;
  if (p->total_weight == 0) {
    *lo = *hi = p->lo;
    return;
  }
  *lo = p->lo + span * before / p->total_weight;
  *hi = p->lo + span * (before + p->steps[p->current].weight) / p->total_weight;
}

void
progress_init_child (Progress *child, Progress *parent, const ProgressStep *steps, guint n_steps)
{
  double lo, hi;

  g_return_if_fail (child != NULL && parent != NULL && steps != NULL && n_steps > 0);
  child->func = NULL;
  child->data = NULL;
  child->parent = parent;
  step_range (parent, &lo, &hi);
  set_range (child, lo + (hi - lo) * parent->fraction, hi);
  init_steps (child, steps, n_steps);
}

guint
progress_percent (const Progress *progress)
{
  double lo, hi, at;

  step_range (progress, &lo, &hi);
  at = lo + (hi - lo) * progress->fraction;
  /* 100 is for done alone */
  return MIN ((guint) at, 99);
}

static void
report (Progress *progress, const char *message)
{
  Progress *root = progress;
  const char *stage;

  /* a child's steps are internal: the stage announced is the top-level
   * step's, which is what clients know */
  while (root->parent != NULL)
    root = root->parent;
  stage = root->steps[root->announced].stage;
  if (root->func != NULL)
    root->func (progress_percent (progress), stage, message, root->data);
}

static void report_valist (Progress *progress, const char *format, va_list args)
    G_GNUC_PRINTF (2, 0);

static void
report_valist (Progress *progress, const char *format, va_list args)
{
  g_autofree char *message = g_strdup_vprintf (format, args);

  report (progress, message);
}

/* Announces the step with this stage name and moves to it unless it is
 * behind: never back, a step named again (e.g. a retry, a rollback)
 * continues where the progress was, under its own name.  FALSE for an
 * unknown stage, a programming error. */
static gboolean
enter_step (Progress *progress, const char *stage)
{
  guint i;

  for (i = 0; i < progress->n_steps; i++)
    if (g_str_equal (progress->steps[i].stage, stage))
      break;
  g_return_val_if_fail (i < progress->n_steps, FALSE);
  if (i > progress->current) {
    progress->current = i;
    progress->fraction = 0;
  }
  progress->announced = i;
  return TRUE;
}

/* Never back: a smaller fraction leaves the bar where it is, and so do the
 * numbers of a step named again after a later one (a rollback). */
static void
set_fraction (Progress *progress, guint64 done, guint64 total)
{
  double fraction = total > 0 ? (double) MIN (done, total) / (double) total : 0;

  if (progress->announced == progress->current && fraction > progress->fraction)
    progress->fraction = fraction;
}

void
progress_step (Progress *progress, const char *stage, const char *format, ...)
{
  va_list args;

  g_return_if_fail (progress != NULL && stage != NULL && format != NULL);
  if (!enter_step (progress, stage))
    return;
  va_start (args, format);
  report_valist (progress, format, args);
  va_end (args);
}

void
progress_fraction (Progress *progress, guint64 done, guint64 total, const char *format, ...)
{
  va_list args;

  g_return_if_fail (progress != NULL && format != NULL);
  set_fraction (progress, done, total);
  va_start (args, format);
  report_valist (progress, format, args);
  va_end (args);
}

void
progress_step_fraction (Progress *progress, const char *stage, guint64 done, guint64 total,
                        const char *format, ...)
{
  va_list args;

  g_return_if_fail (progress != NULL && stage != NULL && format != NULL);
  if (!enter_step (progress, stage))
    return;
  /* numbers of a step already left behind move nothing */
  set_fraction (progress, done, total);
  va_start (args, format);
  report_valist (progress, format, args);
  va_end (args);
}
