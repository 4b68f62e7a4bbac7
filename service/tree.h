/* tree.h: the one path-safety routine for files below a directory fd.
 *
 * tree_open_beneath() resolves a relative path with openat2() and
 * RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS: no
 * absolute path, no "..", no symlink anywhere on the way (not even the
 * last component), so a link planted in the PBX data or an archive cannot
 * redirect a write.  tree_remove() deletes a tree the same way.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

/* openat2() below dir_fd; -1 with errno on failure.  mode is used with
 * O_CREAT only. */
int tree_open_beneath (int dir_fd, const char *path, int flags, mode_t mode);

/* Removes the tree "name" below dir_fd without following symlinks (a link
 * inside is unlinked, not followed) or crossing mount points.  A missing
 * name is success. */
gboolean tree_remove (int dir_fd, const char *name, GError **error);

/* The names in the directory dir_fd (without "." and ".."), in directory
 * order; NULL with *errsv set on failure.  dir_fd stays open and its
 * offset is not used. */
GPtrArray *tree_list (int dir_fd, int *errsv);
