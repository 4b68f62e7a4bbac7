/* Unit tests of the progress model: weighted steps, child ranges, never
 * down, never 100. */
#include "progress-record.h"

static const ProgressStep steps[] = {
  { "extracting", 70 },  { "stopping-pbx", 1 },     { "activating", 1 },
  { "starting-pbx", 1 }, { "saving-previous", 24 }, { "cleanup", 3 },
};

static void
test_weighted_steps (void)
{
  Seen seen;
  Progress p;

  seen_init (&seen);
  progress_init (&p, steps, G_N_ELEMENTS (steps), seen_record, &seen);
  progress_step (&p, "extracting", "go");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 0);
  progress_fraction (&p, 50, 100, "half");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 35);
  progress_step (&p, "stopping-pbx", "stop");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 70);
  progress_step (&p, "saving-previous", "save");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 73);
  progress_step (&p, "cleanup", "clean");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 97);
  progress_fraction (&p, 1, 1, "all");
  /* 100 only when the job is done */
  g_assert_cmpuint (seen_last_percent (&seen), ==, 99);
  g_assert_cmpstr (seen.stages->pdata[seen.stages->len - 1], ==, "cleanup");
  seen_clear (&seen);
}

static void
test_never_down (void)
{
  Seen seen;
  Progress p;

  seen_init (&seen);
  progress_init (&p, steps, G_N_ELEMENTS (steps), seen_record, &seen);
  progress_step (&p, "saving-previous", "late");
  progress_fraction (&p, 80, 100, "far");
  progress_fraction (&p, 10, 100, "back?");
  progress_step (&p, "extracting", "earlier step named again");
  progress_fraction (&p, 10, 0, "total 0");
  for (guint i = 1; i < seen.percents->len; i++)
    g_assert_cmpuint (g_array_index (seen.percents, guint, i), >=,
                      g_array_index (seen.percents, guint, i - 1));
  /* the step named is announced, at the percent already reached */
  g_assert_cmpstr (seen.stages->pdata[seen.stages->len - 1], ==, "extracting");
  seen_clear (&seen);
}

static void
test_child_range (void)
{
  static const ProgressStep save[] = { { "packing", 3 }, { "reading-back", 1 } };
  Seen seen;
  Progress p, child;

  seen_init (&seen);
  progress_init (&p, steps, G_N_ELEMENTS (steps), seen_record, &seen);
  progress_step (&p, "saving-previous", "save");
  progress_init_child (&child, &p, save, G_N_ELEMENTS (save));
  progress_step (&child, "packing", "pack");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 73);
  progress_fraction (&child, 1, 1, "packed");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 91);
  progress_step (&child, "reading-back", "check");
  progress_fraction (&child, 1, 2, "checking");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 94);
  /* the stage clients see is the parent's */
  g_assert_cmpstr (seen.stages->pdata[seen.stages->len - 1], ==, "saving-previous");
  progress_step (&p, "cleanup", "clean");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 97);
  seen_clear (&seen);
}

/* An upload's steps (upload.c): a step entered with its first numbers is
 * one report, as a single progress_fraction() would be. */
static void
test_step_with_fraction (void)
{
  static const ProgressStep upload[]
      = { { "receiving", 95 }, { "verifying", 4 }, { "publishing", 1 } };
  Seen seen;
  Progress p;

  seen_init (&seen);
  progress_init (&p, upload, G_N_ELEMENTS (upload), seen_record, &seen);
  progress_step_fraction (&p, "receiving", 40, 100, "40 bytes received");
  g_assert_cmpuint (seen.percents->len, ==, 1);
  g_assert_cmpuint (seen_last_percent (&seen), ==, 38);
  g_assert_cmpstr (seen.stages->pdata[0], ==, "receiving");
  progress_step_fraction (&p, "receiving", 100, 100, "all received");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 95);
  progress_step_fraction (&p, "verifying", 50, 100, "half verified");
  g_assert_cmpuint (seen.percents->len, ==, 3);
  g_assert_cmpuint (seen_last_percent (&seen), ==, 97);
  /* a step left behind, named again, is announced at the percent already
   * reached, and its numbers move nothing */
  progress_step_fraction (&p, "receiving", 100, 100, "late");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 97);
  g_assert_cmpstr (seen.stages->pdata[seen.stages->len - 1], ==, "receiving");
  progress_step (&p, "publishing", "%s", "");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 99);
  seen_clear (&seen);
}

/* A step of weight 0 (receiving from a pipe, whose size is unknown) does
 * not move the bar. */
static void
test_step_of_no_weight (void)
{
  static const ProgressStep pipe[]
      = { { "receiving", 0 }, { "verifying", 99 }, { "publishing", 1 } };
  Seen seen;
  Progress p;

  seen_init (&seen);
  progress_init (&p, pipe, G_N_ELEMENTS (pipe), seen_record, &seen);
  progress_step_fraction (&p, "receiving", 1000, 0, "1000 bytes received");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 0);
  progress_step_fraction (&p, "verifying", 1, 2, "half verified");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 49);
  progress_step_fraction (&p, "verifying", 2, 2, "verified");
  g_assert_cmpuint (seen_last_percent (&seen), ==, 99);
  seen_clear (&seen);
}

/* A rollback names an earlier step again: its stage is announced, the
 * percent stays where it was, and fractions of it do not move it. */
static void
test_earlier_step_named (void)
{
  Seen seen;
  Progress p;
  guint at;

  seen_init (&seen);
  progress_init (&p, steps, G_N_ELEMENTS (steps), seen_record, &seen);
  progress_step (&p, "starting-pbx", "start");
  at = seen_last_percent (&seen);
  progress_step (&p, "stopping-pbx", "stop again");
  g_assert_cmpstr (seen.stages->pdata[seen.stages->len - 1], ==, "stopping-pbx");
  g_assert_cmpuint (seen_last_percent (&seen), ==, at);
  progress_fraction (&p, 1, 2, "half");
  g_assert_cmpuint (seen_last_percent (&seen), ==, at);
  progress_step (&p, "cleanup", "clean");
  g_assert_cmpstr (seen.stages->pdata[seen.stages->len - 1], ==, "cleanup");
  g_assert_cmpuint (seen_last_percent (&seen), >, at);
  seen_clear (&seen);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/progress/weighted-steps", test_weighted_steps);
  g_test_add_func ("/progress/earlier-step-named", test_earlier_step_named);
  g_test_add_func ("/progress/never-down", test_never_down);
  g_test_add_func ("/progress/child-range", test_child_range);
  g_test_add_func ("/progress/step-with-fraction", test_step_with_fraction);
  g_test_add_func ("/progress/step-of-no-weight", test_step_of_no_weight);
  return g_test_run ();
}
