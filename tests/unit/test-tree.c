/* Unit tests of tree.c: paths resolved beneath a directory without links,
 * trees removed without following links, however deep. */
#include "errors.h"
#include "sandbox.h"
#include "tree.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

/* No "..", no absolute path, no symlink anywhere on the way. */
static void
test_open_beneath_refuses_escapes (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autofree char *outside = g_build_filename (sandbox->root, "outside", NULL);
  int fd;

  g_assert_cmpint (mkdirat (sandbox->root_fd, "work", 0755), ==, 0);
  g_assert_cmpint (symlinkat (outside, sandbox->root_fd, "work/link"), ==, 0);
  fd = tree_open_beneath (sandbox->root_fd, "work/new.txt", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  g_assert_cmpint (tree_open_beneath (sandbox->root_fd, "../passwd", O_RDONLY | O_CLOEXEC, 0), <,
                   0);
  g_assert_cmpint (tree_open_beneath (sandbox->root_fd, "/etc/passwd", O_RDONLY | O_CLOEXEC, 0), <,
                   0);
  g_assert_cmpint (
      tree_open_beneath (sandbox->root_fd, "work/link/passwd", O_RDONLY | O_CLOEXEC, 0), <, 0);
  g_assert_cmpint (
      tree_open_beneath (sandbox->root_fd, "work/link", O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0), <,
      0);
  sandbox_assert_outside_untouched (sandbox, "outside work");
}

static void
test_list (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GPtrArray) names = NULL;
  int errsv = 0;
  int fd;

  fd = openat (sandbox->root_fd, "outside", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  sandbox_write (fd, ".hidden", "x");
  names = tree_list (fd, &errsv);
  g_assert_nonnull (names);
  g_ptr_array_sort (names, sandbox_compare_names);
  g_assert_cmpuint (names->len, ==, 2);
  g_assert_cmpstr (names->pdata[0], ==, ".hidden");
  g_assert_cmpstr (names->pdata[1], ==, "passwd");
  /* the fd stays open and usable */
  g_assert_cmpint (faccessat (fd, "passwd", F_OK, 0), ==, 0);
  close (fd);
}

static void
test_remove_tree_does_not_follow_symlinks (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *outside = g_build_filename (sandbox->root, "outside", NULL);
  int fd;

  g_assert_cmpint (mkdirat (sandbox->root_fd, "tree", 0755), ==, 0);
  g_assert_cmpint (mkdirat (sandbox->root_fd, "tree/sub", 0555), ==, 0);
  g_assert_cmpint (symlinkat (outside, sandbox->root_fd, "tree/absolute"), ==, 0);
  g_assert_cmpint (symlinkat ("../../outside", sandbox->root_fd, "tree/relative"), ==, 0);
  fd = openat (sandbox->root_fd, "tree", O_RDONLY | O_DIRECTORY);
  sandbox_write (fd, "file", "x");
  close (fd);
  g_assert_cmpint (mkfifoat (sandbox->root_fd, "tree/fifo", 0600), ==, 0);
  g_assert_cmpint (symlinkat (outside, sandbox->root_fd, "toplink"), ==, 0);

  g_assert_true (tree_remove (sandbox->root_fd, "tree", &error));
  g_assert_no_error (error);
  /* A symlink as the tree itself is removed, not followed. */
  g_assert_true (tree_remove (sandbox->root_fd, "toplink", &error));
  g_assert_no_error (error);
  sandbox_assert_outside_untouched (sandbox, "outside");
}

static void
test_remove_tree_missing_is_success (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;

  g_assert_true (tree_remove (sandbox->root_fd, "nothing-here", &error));
  g_assert_true (tree_remove (sandbox->root_fd, "nothing/here", &error));
  g_assert_no_error (error);
  g_assert_false (tree_remove (sandbox->root_fd, "..", &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS);
}

/* Far deeper than any path could be spelled out, or fds held per level. */
static void
test_remove_tree_deep (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  int fd = dup (sandbox->root_fd);
  guint fds_before;

  g_assert_cmpint (mkdirat (fd, "deep", 0755), ==, 0);
  for (guint i = 0; i < 5000; i++) {
    int next = openat (fd, i == 0 ? "deep" : "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    g_assert_cmpint (next, >=, 0);
    close (fd);
    fd = next;
    g_assert_cmpint (mkdirat (fd, "d", 0755), ==, 0);
    if (i % 100 == 0)
      sandbox_write (fd, "f", "x");
  }
  close (fd);
  fds_before = count_open_fds ();
  g_assert_true (tree_remove (sandbox->root_fd, "deep", &error));
  g_assert_cmpuint (count_open_fds (), ==, fds_before);
  g_assert_no_error (error);
  sandbox_assert_outside_untouched (sandbox, "outside");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/tree/open-beneath/refuses-escapes", test_open_beneath_refuses_escapes);
  g_test_add_func ("/tree/list", test_list);
  g_test_add_func ("/tree/remove/no-symlinks-followed", test_remove_tree_does_not_follow_symlinks);
  g_test_add_func ("/tree/remove/missing", test_remove_tree_missing_is_success);
  g_test_add_func ("/tree/remove/deep", test_remove_tree_deep);
  return g_test_run ();
}
