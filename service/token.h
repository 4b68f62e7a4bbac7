/* token.h: Preflight tokens.
 *
 * A token proves that its holder ran Preflight on exactly this backup file
 * (device, inode, size and modification time, not just its name) with
 * exactly these components, as this uid, a short while ago.  It can be
 * redeemed once.  Thread-safe.
 */
#pragma once

#include <glib.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef struct _TokenStore TokenStore;

TokenStore *token_store_new (guint lifetime_seconds);
void token_store_free (TokenStore *store);

char *token_store_issue (TokenStore *store, const char *backup, const char *components,
                         const struct stat *file, uid_t uid);

/* Consumes the token if everything matches; BACKUP_ERROR_INVALID_TOKEN
 * with the reason otherwise (an unknown or used token is not consumed). */
gboolean token_store_redeem (TokenStore *store, const char *token, const char *backup,
                             const char *components, const struct stat *file, uid_t uid,
                             GError **error);

/* Whether a token exists and is unexpired (without consuming it). */
gboolean token_store_peek (TokenStore *store, const char *token, GError **error);
