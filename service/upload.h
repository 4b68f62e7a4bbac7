/* upload.h: taking a .sar file from a client's file descriptor into the
 * backup directory.
 *
 * The data goes to a hidden temporary file in the backup directory
 * (".upload-*") and is validated completely while it arrives (a second
 * thread runs sar_verify_stream() over what is in, so a damaged upload
 * fails early); once it is all in, valid and fsynced it is published
 * under its name with one rename, so the catalog never sees a partial or
 * invalid file.  Every failure removes the temporary; temporaries left by
 * a crash are swept at start.
 */
#pragma once

#include "progress.h"
#include "sar.h"

#define UPLOAD_TEMP_PREFIX ".upload-"

typedef struct {
  const char *directory; /* the backup directory */
  const char *name;      /* already checked with sar_name_validate() */
  gboolean replace;
  int source_fd;              /* checked with upload_check_source() */
  guint64 source_size;        /* bytes expected, 0 when unknown (pipe) */
  guint64 max_size;           /* TOO_LARGE beyond this */
  guint idle_timeout_seconds; /* a pipe silent this long fails the upload */
  guint timeout_seconds;      /* all data must have arrived this long after the start */
  SarLimits limits;
} UploadRequest;

/* Refuses what cannot be read as a stream of bytes: directories, devices,
 * write-only and O_PATH descriptors.  On success *size is the size of a
 * regular file (a hint for progress only) or 0.  An fstat(): it may wait
 * for the file's file system (a FUSE server may never answer), so not on
 * the main loop. */
gboolean upload_check_source (int fd, guint64 *size, GError **error);
/* Only the part that asks the kernel about the descriptor, not its file:
 * write-only and O_PATH descriptors are refused. */
gboolean upload_check_access (int fd, GError **error);

/* Runs the whole upload; blocking, for a worker thread.  progress (may be
 * NULL) is called from this thread only (progress.h: weighted steps, below
 * 100), with the stages in order: "receiving" while data arrives
 * (verification runs meanwhile), "verifying" for what is left of it after
 * the last byte, then "publishing".  Receiving a regular file is most of
 * the work; from a pipe, whose size is unknown, only verification (whose
 * size is known by then) moves the bar. */
gboolean upload_run (const UploadRequest *request, ProgressFunc progress, gpointer progress_data,
                     GCancellable *cancellable, GError **error);

/* Removes temporaries left behind by an earlier run. */
void upload_sweep_temporaries (const char *directory);
