/* preflight.h: what a restore of some components of a backup would do.
 *
 * Version gate, component choice, disk space (staging plus the
 * pre-restore backup), logged-in users and active calls, and warnings
 * such as a backup taken on another host.  Blockers are reasons the
 * restore cannot run; warnings are things to know before it does.
 */
#pragma once

#include <sys/stat.h>

#include "config.h"
#include "pbx.h"
#include "sar.h"

#define PREFLIGHT_ALL_COMPONENTS "*"

typedef struct {
  char *backup;
  struct stat file; /* identity of the backup file */
  SarHeader *header;
  gboolean compatible;
  char *installed_version; /* "" when unknown */
  GPtrArray *components;   /* const ConfigComponent*, in the backup's order */
  char *components_key;    /* their ids, sorted, joined with "," */
  guint64 bytes_required;
  guint64 bytes_available;
  PbxSessions sessions;
  GPtrArray *blockers; /* char* */
  GPtrArray *warnings; /* char* */
  /* every blocker and warning as (severity, code, arguments): a(ssa{sv}),
   * built with preflight_report_add(); codes in docs/dbus-api.md */
  GVariantBuilder checks;
} PreflightReport;

#define PREFLIGHT_BLOCKER "blocker"
#define PREFLIGHT_WARNING "warning"

/* Adds a blocker or warning: its stable code and arguments (an a{sv},
 * floating, consumed) for frontends, and its English text. */
void preflight_report_add (PreflightReport *report, const char *severity, const char *code,
                           GVariant *args, const char *format, ...) G_GNUC_PRINTF (5, 6);
/* The checks so far, a(ssa{sv}); the report can be added to afterwards. */
GVariant *preflight_report_checks (PreflightReport *report);

void preflight_report_free (PreflightReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PreflightReport, preflight_report_free)

/* The ids as callers name them in polkit details: sorted, joined with
 * ","; PREFLIGHT_ALL_COMPONENTS for an empty request (every component). */
char *preflight_components_detail (const char *const *requested);

/* Opens the backup and resolves the requested component ids (empty: every
 * component in the backup that this machine knows) without the slow
 * checks.  Errors: INVALID_NAME, NOT_FOUND, INVALID_BACKUP,
 * UNKNOWN_COMPONENT, INVALID_ARGS (a component named twice).  *fd is the
 * open backup (the caller's to close, even on failure). */
PreflightReport *preflight_open (const Config *config, const char *backup,
                                 const char *const *requested, int *fd, GError **error);

/* The whole check (reads the live trees' sizes and asks the PBX). */
PreflightReport *preflight_run (const Config *config, const char *backup,
                                const char *const *requested, gboolean ignore_ip, GError **error);
