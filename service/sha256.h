/* sha256.h: SHA-256, the one checksum of the SAR format.
 *
 * A thin wrapper around nettle, which uses the CPU's SHA extensions where
 * there are any (several times faster than GChecksum).  Every SHA-256 in
 * the service goes through here.
 */
#pragma once

#include <glib.h>
#include <nettle/sha2.h>

#define SAR_SHA256_SIZE 32

typedef struct {
  struct sha256_ctx ctx;
} SarSha256;

void sar_sha256_init (SarSha256 *sha);
void sar_sha256_update (SarSha256 *sha, const void *data, gsize len);
/* Writes the digest and resets sha for a new message. */
void sar_sha256_digest (SarSha256 *sha, guint8 digest[SAR_SHA256_SIZE]);
