/* sar-paths.h: the rules every member path and component id of a SAR
 * archive obeys (docs/sar-format.md, section 5), in one place for the
 * reader, the writer, the extractor and the journal. */
#pragma once

#include <glib.h>

#define SAR_PATH_MAX 1024
#define SAR_PATH_DEPTH_MAX 32
/* Bytes in one component of a path: NAME_MAX of Linux file systems. */
#define SAR_PATH_COMPONENT_MAX 255

/* C0 and C1 control characters, which no path or manifest text may hold. */
gboolean sar_is_control (gunichar c);

/* The one path-safety routine for member paths: relative, UTF-8, no empty,
 * "." or ".." component, no control characters or backslashes, at most
 * SAR_PATH_MAX bytes and SAR_PATH_DEPTH_MAX components of at most
 * SAR_PATH_COMPONENT_MAX bytes each.  A trailing '/' (as
 * tar writes for directories) is accepted and ignored. */
gboolean sar_path_check (const char *path, GError **error);

/* Component ids: [a-z0-9][a-z0-9-]*, at most 64 bytes. */
gboolean sar_component_id_check (const char *id, GError **error);
