/* token.c: single-use, expiring Preflight tokens bound to a file. */
#include "token.h"

#include "errors.h"

#include <unistd.h>

typedef struct {
  char *backup;
  char *components;
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime;
  uid_t uid;
  gint64 expires; /* monotonic, microseconds */
} Token;

struct _TokenStore {
  GMutex lock;
  GHashTable *tokens; /* token string -> Token* */
  guint lifetime_seconds;
};

static void
token_free (Token *token)
{
  g_free (token->backup);
  g_free (token->components);
  g_free (token);
}

TokenStore *
token_store_new (guint lifetime_seconds)
{
  TokenStore *store = g_new0 (TokenStore, 1);

  g_mutex_init (&store->lock);
  store->tokens
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) token_free);
  store->lifetime_seconds = lifetime_seconds;
  return store;
}

void
token_store_free (TokenStore *store)
{
  if (store == NULL)
    return;
  g_hash_table_unref (store->tokens);
  g_mutex_clear (&store->lock);
  g_free (store);
}

static void
drop_expired (TokenStore *store)
{
  GHashTableIter iter;
  gpointer value;
  gint64 now = g_get_monotonic_time ();

  g_hash_table_iter_init (&iter, store->tokens);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    if (((Token *) value)->expires <= now)
      g_hash_table_iter_remove (&iter);
}

char *
token_store_issue (TokenStore *store, const char *backup, const char *components,
                   const struct stat *file, uid_t uid)
{
  Token *token;
  GString *text;
  guint8 bytes[16];

  g_return_val_if_fail (store != NULL && backup != NULL && components != NULL && file != NULL,
                        NULL);
  token = g_new0 (Token, 1);
  text = g_string_new (NULL);
  /* g_random is not cryptographic; tokens must be unguessable */
  if (getentropy (bytes, sizeof bytes) != 0)
    g_error ("no entropy for a token");
  for (guint i = 0; i < sizeof bytes; i++)
    g_string_append_printf (text, "%02x", bytes[i]);

  token->backup = g_strdup (backup);
  token->components = g_strdup (components);
  token->dev = file->st_dev;
  token->ino = file->st_ino;
  token->size = file->st_size;
  token->mtime = file->st_mtim;
  token->uid = uid;
  token->expires = g_get_monotonic_time () + (gint64) store->lifetime_seconds * G_USEC_PER_SEC;

  g_mutex_lock (&store->lock);
  drop_expired (store);
  g_hash_table_replace (store->tokens, g_strdup (text->str), token);
  g_mutex_unlock (&store->lock);
  return g_string_free (text, FALSE);
}

static gboolean
invalid (GError **error, const char *why)
{
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_TOKEN,
               "The token is not valid for this restore: %s; run Preflight again", why);
  return FALSE;
}

gboolean
token_store_peek (TokenStore *store, const char *token, GError **error)
{
  gboolean found;

  g_return_val_if_fail (store != NULL && token != NULL, FALSE);
  g_mutex_lock (&store->lock);
  drop_expired (store);
  found = g_hash_table_contains (store->tokens, token);
  g_mutex_unlock (&store->lock);
  return found || invalid (error, "it is unknown, expired or already used");
}

gboolean
token_store_redeem (TokenStore *store, const char *text, const char *backup, const char *components,
                    const struct stat *file, uid_t uid, GError **error)
{
  Token *token;
  gboolean ok = FALSE;

  g_return_val_if_fail (
      store != NULL && text != NULL && backup != NULL && components != NULL && file != NULL, FALSE);
  g_mutex_lock (&store->lock);
  drop_expired (store);
  token = g_hash_table_lookup (store->tokens, text);
  if (token == NULL)
    invalid (error, "it is unknown, expired or already used");
  else if (token->uid != uid)
    invalid (error, "it was issued to another user");
  else if (!g_str_equal (token->backup, backup))
    invalid (error, "it was issued for another backup");
  else if (!g_str_equal (token->components, components))
    invalid (error, "it was issued for other components");
  else if (token->dev != file->st_dev || token->ino != file->st_ino || token->size != file->st_size
           || token->mtime.tv_sec != file->st_mtim.tv_sec
           || token->mtime.tv_nsec != file->st_mtim.tv_nsec)
    invalid (error, "the backup file has changed since Preflight");
  else
    ok = g_hash_table_remove (store->tokens, text);
  g_mutex_unlock (&store->lock);
  return ok;
}
