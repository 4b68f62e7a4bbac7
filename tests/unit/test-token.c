/* Unit tests of Preflight tokens: bound to the backup file, its components
 * and the uid, redeemed once, expiring. */
#include "errors.h"
#include "token.h"

#include <string.h>

static struct stat
file_stat (void)
{
  struct stat st;

  memset (&st, 0, sizeof st);
  st.st_dev = 8;
  st.st_ino = 1234;
  st.st_size = 4096;
  st.st_mtim.tv_sec = 1795140000;
  st.st_mtim.tv_nsec = 5;
  return st;
}

static void
assert_refused (TokenStore *store, const char *token, const char *backup, const char *components,
                const struct stat *st, uid_t uid, const char *why)
{
  g_autoptr (GError) error = NULL;

  g_assert_false (token_store_redeem (store, token, backup, components, st, uid, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_TOKEN);
  g_assert_nonnull (strstr (error->message, why));
}

static void
test_redeemed_once (void)
{
  TokenStore *store = token_store_new (300);
  struct stat st = file_stat ();
  g_autofree char *token = token_store_issue (store, "a.sar", "core", &st, 1000);
  g_autofree char *other = token_store_issue (store, "a.sar", "core", &st, 1000);
  g_autoptr (GError) error = NULL;

  /* 128 bits in hexadecimal, a new one each time */
  g_assert_cmpuint (strlen (token), ==, 32);
  g_assert_cmpstr (token, !=, other);
  g_assert_true (token_store_peek (store, token, &error));
  g_assert_true (token_store_redeem (store, token, "a.sar", "core", &st, 1000, &error));
  g_assert_no_error (error);
  g_assert_false (token_store_peek (store, token, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_TOKEN);
  assert_refused (store, token, "a.sar", "core", &st, 1000, "already used");
  assert_refused (store, "00", "a.sar", "core", &st, 1000, "unknown");
  token_store_free (store);
}

/* A token that does not match is refused with the reason, and is not used
 * up: the right caller may still redeem it. */
static void
test_bound_to_what_was_checked (void)
{
  TokenStore *store = token_store_new (300);
  struct stat st = file_stat ();
  struct stat changed = st;
  g_autofree char *token = token_store_issue (store, "a.sar", "core", &st, 1000);

  assert_refused (store, token, "a.sar", "core", &st, 1001, "another user");
  assert_refused (store, token, "b.sar", "core", &st, 1000, "another backup");
  assert_refused (store, token, "a.sar", "core,cdr-voicemail", &st, 1000, "other components");
  changed.st_mtim.tv_nsec++;
  assert_refused (store, token, "a.sar", "core", &changed, 1000, "has changed");
  changed = st;
  changed.st_ino++;
  assert_refused (store, token, "a.sar", "core", &changed, 1000, "has changed");
  g_assert_true (token_store_redeem (store, token, "a.sar", "core", &st, 1000, NULL));
  token_store_free (store);
}

static void
test_expires (void)
{
  TokenStore *store = token_store_new (0);
  struct stat st = file_stat ();
  g_autofree char *token = token_store_issue (store, "a.sar", "core", &st, 1000);
  g_autoptr (GError) error = NULL;

  g_usleep (1000);
  g_assert_false (token_store_peek (store, token, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_TOKEN);
  assert_refused (store, token, "a.sar", "core", &st, 1000, "expired");
  token_store_free (store);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/token/redeemed-once", test_redeemed_once);
  g_test_add_func ("/token/bound-to-what-was-checked", test_bound_to_what_was_checked);
  g_test_add_func ("/token/expires", test_expires);
  return g_test_run ();
}
