/* sar-private.h: what sar-reader.c shares with sar-verify.c (the rest of
 * the reader's API is public, in sar.h). */
#pragma once

#include "sar.h"

/* The SarReadFunc of sar_reader_open_fd(): read(2) on the fd in
 * user_data (GINT_TO_POINTER), retried on EINTR. */
gssize sar_read_fd (guint8 *buffer, gsize size, gpointer user_data, GError **error);

/* Reads manifest.ini and SHA256SUMS, the first two members, from a reader
 * just opened (the reading locale pushed): sar_read_header() on a reader
 * of one's own. */
SarHeader *sar_reader_read_header (SarReader *reader, GError **error);
