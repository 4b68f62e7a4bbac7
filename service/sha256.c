/* sha256.c: SHA-256 through nettle. */
#include "sha256.h"

G_STATIC_ASSERT (SAR_SHA256_SIZE == SHA256_DIGEST_SIZE);

void
sar_sha256_init (SarSha256 *sha)
{
  sha256_init (&sha->ctx);
}

void
sar_sha256_update (SarSha256 *sha, const void *data, gsize len)
{
  sha256_update (&sha->ctx, len, data);
}

void
sar_sha256_digest (SarSha256 *sha, guint8 digest[SAR_SHA256_SIZE])
{
  sha256_digest (&sha->ctx, SAR_SHA256_SIZE, digest);
}
