/* sandbox.h: a temporary directory for the unit tests that write trees
 * (extraction, tree removal), with an "outside" tree beside what a test
 * works on, so that a test can show nothing outside was touched. */
#pragma once

#include <glib.h>

typedef struct {
  char *root;
  int root_fd;
} Sandbox;

/* root/outside/passwd stands for everything outside what is worked on. */
Sandbox *sandbox_new (void);
/* Removes the sandbox with tree_remove() (under test itself). */
void sandbox_free (Sandbox *sandbox);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Sandbox, sandbox_free)

/* Removes the temporary directory path with tree_remove(). */
void sandbox_remove_path (const char *path);

/* A new file name in dir_fd holding data. */
void sandbox_write (int dir_fd, const char *name, const char *data);
/* g_ptr_array_sort() of strings, by strcmp(). */
gint sandbox_compare_names (gconstpointer a, gconstpointer b);
/* The names in the directory name below dir_fd (hidden ones left out),
 * sorted, joined by spaces. */
char *sandbox_list (int dir_fd, const char *name);
/* The sandbox's root holds exactly expected_root (names as sandbox_list()
 * gives them), and outside/ is as it was. */
void sandbox_assert_outside_untouched (Sandbox *sandbox, const char *expected_root);
/* The file descriptors this process has open. */
guint count_open_fds (void);
