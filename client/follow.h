/* follow.h: following a job of the service to its end.
 *
 * job_subscribe() must run before the call that starts the job, so that
 * no signal of the job can be missed.  job_follow() shows the progress,
 * offers to cancel on Ctrl-C (asks on a terminal, cancels otherwise),
 * notices the service going away, and falls back to the job's properties
 * should the Finished signal never come.
 */
#pragma once

#include "connection.h"
#include "output.h"

typedef struct {
  char *path;
  char *result;     /* done, failed or canceled */
  char *error_name; /* "" when done */
  char *message;
  GVariant *details; /* a{sv}: the job's Details, empty when unknown */
} JobOutcome;

void job_outcome_free (JobOutcome *outcome);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (JobOutcome, job_outcome_free)

/* Match rules for the service's Progress and Finished signals and for its
 * name changing owner. */
gboolean job_subscribe (Bus *bus, GError **error);

/* what names the job for people, in the middle of a sentence ("the
 * restore of New.sar", message_job_title()).  Fails with
 * EXIT_UNAVAILABLE when the service (or the bus) goes away, and with
 * EXIT_CANCELED when the user stops waiting. */
JobOutcome *job_follow (Bus *bus, const char *path, const char *what, Progress *progress,
                        GError **error);

/* The exit status of an outcome: 0 for done, else by its error name. */
int job_outcome_status (const JobOutcome *outcome);

/* The outcome as the JSON object of restore and upload (without details
 * when details_too is FALSE). */
JsonNode *job_outcome_to_json (const JobOutcome *outcome, const char *operation,
                               const char *backup);
