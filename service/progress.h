/* progress.h: one progress model for long work: weighted steps, each
 * step's share of its parent's range, and child ranges within a step (as
 * a restore's "saving-previous" step contains packing and reading back).
 *
 *   static const ProgressStep steps[] = { { "extracting", 70 }, { "stopping-pbx", 1 }, ... };
 *   Progress p;
 *   progress_init (&p, steps, G_N_ELEMENTS (steps), report, data);
 *   progress_step (&p, "extracting", "Extracting %u components", n);
 *   progress_fraction (&p, done, total, "%s read", ...);
 *
 * Percent only goes up and stays below 100: 100 means done, and only the
 * job says that (job_finish()).  The domain code reports through this;
 * the D-Bus layer only passes the numbers on.
 */
#pragma once

#include <glib.h>

typedef void (*ProgressFunc) (guint percent, const char *stage, const char *message, gpointer data);

typedef struct {
  const char *stage; /* the stage name announced while the step runs */
  guint weight;      /* its share, relative to the other steps' weights */
} ProgressStep;

typedef struct _Progress Progress;
struct _Progress {
  ProgressFunc func;
  gpointer data;
  Progress *parent; /* reports go through the parent (child ranges) */
  const ProgressStep *steps;
  guint n_steps;
  guint total_weight;
  guint current;   /* index of the running step */
  guint announced; /* index of the step whose stage is announced (a step named again after a
                    * later one, e.g. a rollback: its name, the percent where it was) */
  double lo, hi;   /* this progress's range, in percent of the whole */
  double fraction; /* of the current step */
};

/* func may be NULL (nothing is reported). */
void progress_init (Progress *progress, const ProgressStep *steps, guint n_steps, ProgressFunc func,
                    gpointer data);
/* A progress whose 0..100 % is the rest of the parent's current step.  Its
 * steps' names only identify them: reports carry the parent's stage. */
void progress_init_child (Progress *child, Progress *parent, const ProgressStep *steps,
                          guint n_steps);

/* Enters the step with this stage name (an unknown stage is a programming
 * error) and reports its start. */
void progress_step (Progress *progress, const char *stage, const char *format, ...)
    G_GNUC_PRINTF (3, 4);
/* done of total within the current step. */
void progress_fraction (Progress *progress, guint64 done, guint64 total, const char *format, ...)
    G_GNUC_PRINTF (4, 5);
/* Both in one report: enters the step (unless it is behind, as
 * progress_step()) and sets done of total within it, for work that learns
 * of a step's start only with its first numbers. */
void progress_step_fraction (Progress *progress, const char *stage, guint64 done, guint64 total,
                             const char *format, ...) G_GNUC_PRINTF (5, 6);
/* The percent of the whole that the current position stands for. */
guint progress_percent (const Progress *progress);
