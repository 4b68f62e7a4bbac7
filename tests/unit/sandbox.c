/* sandbox.c: a temporary directory for tests that write trees (see
 * sandbox.h). */
#include "sandbox.h"

#include "tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
sandbox_write (int dir_fd, const char *name, const char *data)
{
  int fd = openat (dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, data, strlen (data)), ==, (ssize_t) strlen (data));
  close (fd);
}

Sandbox *
sandbox_new (void)
{
  g_autoptr (GError) error = NULL;
  Sandbox *sandbox = g_new0 (Sandbox, 1);
  int outside;

  sandbox->root = g_dir_make_tmp ("test-sandbox-XXXXXX", &error);
  g_assert_no_error (error);
  sandbox->root_fd = open (sandbox->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  g_assert_cmpint (sandbox->root_fd, >=, 0);
  g_assert_cmpint (mkdirat (sandbox->root_fd, "outside", 0755), ==, 0);
  outside = openat (sandbox->root_fd, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  sandbox_write (outside, "passwd", "root:x:0:0\n");
  close (outside);
  return sandbox;
}

void
sandbox_remove_path (const char *path)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *parent = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  int fd = open (parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

  g_assert_cmpint (fd, >=, 0);
  g_assert_true (tree_remove (fd, base, &error));
  g_assert_no_error (error);
  close (fd);
  g_assert_false (g_file_test (path, G_FILE_TEST_EXISTS));
}

void
sandbox_free (Sandbox *sandbox)
{
  sandbox_remove_path (sandbox->root);
  close (sandbox->root_fd);
  g_free (sandbox->root);
  g_free (sandbox);
}

gint
sandbox_compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

char *
sandbox_list (int dir_fd, const char *name)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  int fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *dir;
  struct dirent *dent;

  g_assert_cmpint (fd, >=, 0);
  dir = fdopendir (fd);
  while ((dent = readdir (dir)) != NULL)
    if (dent->d_name[0] != '.')
      g_ptr_array_add (names, g_strdup (dent->d_name));
  closedir (dir);
  g_ptr_array_sort (names, sandbox_compare_names);
  g_ptr_array_add (names, NULL);
  return g_strjoinv (" ", (char **) names->pdata);
}

void
sandbox_assert_outside_untouched (Sandbox *sandbox, const char *expected_root)
{
  g_autofree char *root = sandbox_list (sandbox->root_fd, ".");
  g_autofree char *outside = sandbox_list (sandbox->root_fd, "outside");
  g_autofree char *passwd = NULL;
  g_autofree char *path = g_build_filename (sandbox->root, "outside", "passwd", NULL);

  g_assert_cmpstr (root, ==, expected_root);
  g_assert_cmpstr (outside, ==, "passwd");
  g_assert_true (g_file_get_contents (path, &passwd, NULL, NULL));
  g_assert_cmpstr (passwd, ==, "root:x:0:0\n");
}

guint
count_open_fds (void)
{
  g_autoptr (GDir) dir = g_dir_open ("/proc/self/fd", 0, NULL);
  guint n = 0;

  g_assert_nonnull (dir);
  while (g_dir_read_name (dir) != NULL)
    n++;
  return n;
}
