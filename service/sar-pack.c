/* sar-pack.c: writing SAR archives with libarchive.
 *
 * Two passes over the component trees: the first finds the directories and
 * regular files and hashes the files (SHA256SUMS must precede them in the
 * archive), the second writes them and refuses any file that changed in
 * between.
 */
#include "autofd.h"
#include "sar.h"

#include "errors.h"
#include "names.h"
#include "sha256.h"
#include "tree.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Files are read, hashed and written in chunks of this size. */
#define IO_CHUNK (256 * 1024)

const char *
sar_default_label (const char *id)
{
  static const struct {
    const char *id;
    const char *label;
  } labels[] = {
    { "core", "Core data" },
    { "cdr-voicemail", "CDR and voicemails" },
    { "announcements", "Voicemail announcements" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (labels); i++)
    if (strcmp (labels[i].id, id) == 0)
      return labels[i].label;
  return id;
}

static gboolean pack_failed (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
pack_failed (GError **error, const char *format, ...)
{
  g_autofree char *message = NULL;
  g_autofree char *valid = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  /* it names files of the tree, whose names need not be UTF-8 */
  valid = sar_escape_invalid (message);
  g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, valid);
  return FALSE;
}

/* One directory or regular file of a component tree, as found by the
 * first pass; the second pass writes it and checks it did not change. */
typedef struct {
  char *name;
  gboolean is_dir;
  mode_t mode;
  gint64 mtime;
  guint64 size;
  guint8 digest[SAR_SHA256_SIZE];
  GPtrArray *children; /* PackNode*, sorted by name; directories only */
} PackNode;

static void
pack_node_free (PackNode *node)
{
  g_free (node->name);
  g_clear_pointer (&node->children, g_ptr_array_unref);
  g_free (node);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PackNode, pack_node_free)

static PackNode *
pack_node_new (const char *name, const struct stat *st)
{
  PackNode *node = g_new0 (PackNode, 1);

  node->name = g_strdup (name);
  node->is_dir = S_ISDIR (st->st_mode);
  node->mode = st->st_mode & 0777; /* no setuid, setgid or sticky bits */
  node->mtime = st->st_mtim.tv_sec;
  if (node->is_dir)
    node->children = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_node_free);
  return node;
}

typedef struct {
  GCancellable *cancellable;
  struct archive *archive; /* second pass only */
  int write_errno;
  int out_fd;
  guint8 *buffer;
  const SarPackSpec *spec; /* for progress */
  guint64 done, total;     /* file bytes, second pass */
} Packer;

static gboolean
write_failed (Packer *packer, GError **error)
{
  if (packer->write_errno != 0)
    return backup_error_set_errno (error, packer->write_errno, "writing the backup");
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "writing the backup: %s",
               archive_error_string (packer->archive));
  return FALSE;
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

static const char *
file_type_name (mode_t mode)
{
  if (S_ISLNK (mode))
    return "a symbolic link";
  if (S_ISCHR (mode) || S_ISBLK (mode))
    return "a device";
  if (S_ISFIFO (mode))
    return "a FIFO";
  if (S_ISSOCK (mode))
    return "a socket";
  return "of an unknown type";
}

/* Opens a regular file below dir_fd without following symlinks and without
 * blocking on a FIFO swapped in since it was looked at. */
static int
open_regular (int dir_fd, const char *name, const char *source, struct stat *st, GError **error)
{
  g_auto (AutoFd) fd
      = openat (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);

  if (fd < 0) {
    backup_error_set_errno (error, errno, "opening %s", source);
    return -1;
  }
  if (fstat (fd, st) < 0) {
    backup_error_set_errno (error, errno, "reading %s", source);
    return -1;
  }
  if (!S_ISREG (st->st_mode)) {
    pack_failed (error, "%s changed while packing (it is no longer a regular file)", source);
    return -1;
  }
  return g_steal_fd (&fd);
}

/* Reads the whole file, hashing it and, in the second pass, writing it to
 * the archive. */
static gboolean
pack_file_data (Packer *packer, int fd, const char *source, guint64 *size,
                guint8 digest[SAR_SHA256_SIZE], GError **error)
{
  SarSha256 sha;

  sar_sha256_init (&sha);
  *size = 0;
  for (;;) {
    ssize_t n = read (fd, packer->buffer, IO_CHUNK);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "reading %s", source);
    if (n == 0)
      break;
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error))
      return FALSE;
    sar_sha256_update (&sha, packer->buffer, (gsize) n);
    *size += n;
    if (packer->archive != NULL && archive_write_data (packer->archive, packer->buffer, n) != n) {
      return write_failed (packer, error);
    }
    if (packer->archive != NULL && packer->spec->progress != NULL) {
      packer->done += (guint64) n;
      packer->spec->progress (MIN (packer->done, packer->total), packer->total,
                              packer->spec->progress_data);
    }
  }
  sar_sha256_digest (&sha, digest);
  return TRUE;
}

static gboolean scan_directory (Packer *packer, int dir_fd, const char *source, const char *path,
                                PackNode *node, SarComponent *component, GError **error);

/* The writer's rules for one entry of a tree: its member path passes the
 * reader's path rules and it is a directory or a regular file.  The same
 * check serves packing and sar_pack_survey(), so a survey predicts every
 * refusal of the writer. */
static gboolean
check_packable (const char *source, const char *path, const struct stat *st, GError **error)
{
  g_autoptr (GError) local = NULL;

  if (!sar_path_check (path, &local))
    return pack_failed (error, "cannot pack %s: %s", source, local->message);
  if (!S_ISDIR (st->st_mode) && !S_ISREG (st->st_mode))
    return pack_failed (error,
                        "cannot pack %s: it is %s; only directories and regular files can be "
                        "packed",
                        source, file_type_name (st->st_mode));
  return TRUE;
}

/* Reads the names in a directory, sorted. */
static GPtrArray *
directory_names (int dir_fd, const char *source, GError **error)
{
  int errsv = 0;
  GPtrArray *names = tree_list (dir_fd, &errsv);

  if (names == NULL) {
    backup_error_set_errno (error, errsv, "reading directory %s", source);
    return NULL;
  }
  g_ptr_array_sort (names, compare_names);
  return names;
}

/* First pass over one directory entry. */
static gboolean
scan_entry (Packer *packer, int dir_fd, const char *name, const char *source, const char *path,
            PackNode *parent, SarComponent *component, GError **error)
{
  g_autofree char *child_source = g_build_filename (source, name, NULL);
  g_autofree char *child_path = g_strconcat (path, "/", name, NULL);
  g_autoptr (PackNode) node = NULL;
  struct stat st;

  if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return backup_error_set_errno (error, errno, "reading %s", child_source);
  if (!check_packable (child_source, child_path, &st, error))
    return FALSE;

  node = pack_node_new (name, &st);
  if (node->is_dir) {
    g_auto (AutoFd) fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening %s", child_source);
    if (!scan_directory (packer, fd, child_source, child_path, node, component, error))
      return FALSE;
  } else {
    g_auto (AutoFd) fd = open_regular (dir_fd, name, child_source, &st, error);

    if (fd < 0 || !pack_file_data (packer, fd, child_source, &node->size, node->digest, error))
      return FALSE;
    node->mtime = st.st_mtim.tv_sec;
    component->files++;
    component->bytes += node->size;
  }
  g_ptr_array_add (parent->children, g_steal_pointer (&node));
  return TRUE;
}

/* First pass: finds the directories and regular files below dir_fd, in
 * name order, and hashes the files.  Takes ownership of nothing. */
static gboolean
scan_directory (Packer *packer, int dir_fd, const char *source, const char *path, PackNode *node,
                SarComponent *component, GError **error)
{
  g_autoptr (GPtrArray) names = directory_names (dir_fd, source, error);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error)
        || !scan_entry (packer, dir_fd, g_ptr_array_index (names, i), source, path, node, component,
                        error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
write_header (Packer *packer, const char *path, mode_t type, mode_t mode, gint64 mtime,
              guint64 size, GError **error)
{
  struct archive_entry *entry = archive_entry_new ();
  int ret;

  /* The bytes of the name as they are, into a pax header as UTF-8 (the
   * locale is UTF-8).  Given with archive_entry_set_pathname_utf8(),
   * libarchive would compose a decomposed name (NFD: "a" + U+0308 for
   * "ä", as macOS writes names) into another name (NFC). */
  archive_entry_set_pathname (entry, path);
  archive_entry_set_filetype (entry, type);
  archive_entry_set_perm (entry, mode);
  archive_entry_set_uid (entry, 0);
  archive_entry_set_gid (entry, 0);
  archive_entry_set_uname (entry, "root");
  archive_entry_set_gname (entry, "root");
  archive_entry_set_mtime (entry, mtime, 0);
  archive_entry_set_size (entry, type == AE_IFREG ? (la_int64_t) size : 0);
  ret = archive_write_header (packer->archive, entry);
  archive_entry_free (entry);
  /* A warning means the header could not be written as given. */
  return ret == ARCHIVE_OK || write_failed (packer, error);
}

static gboolean
write_metadata (Packer *packer, const char *name, const char *data, gsize len, gint64 mtime,
                GError **error)
{
  if (!write_header (packer, name, AE_IFREG, 0644, mtime, len, error))
    return FALSE;
  if (len > 0 && archive_write_data (packer->archive, data, len) != (la_ssize_t) len)
    return write_failed (packer, error);
  return TRUE;
}

/* Second pass: writes node (found below dir_fd by the first pass) and its
 * tree, re-reading each file and refusing files that changed. */
static gboolean
write_node (Packer *packer, int dir_fd, const PackNode *node, const char *source, const char *path,
            GError **error)
{
  g_autofree char *child_source = g_build_filename (source, node->name, NULL);
  g_autofree char *child_path = g_strconcat (path, "/", node->name, NULL);
  struct stat st;
  guint8 digest[SAR_SHA256_SIZE];
  guint64 size;

  if (g_cancellable_set_error_if_cancelled (packer->cancellable, error))
    return FALSE;
  if (node->is_dir) {
    g_autofree char *dir_path = g_strconcat (child_path, "/", NULL);
    g_auto (AutoFd) fd
        = openat (dir_fd, node->name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening %s", child_source);
    if (!write_header (packer, dir_path, AE_IFDIR, node->mode, node->mtime, 0, error))
      return FALSE;
    for (guint i = 0; i < node->children->len; i++)
      if (!write_node (packer, fd, g_ptr_array_index (node->children, i), child_source, child_path,
                       error))
        return FALSE;
    return TRUE;
  }

  g_auto (AutoFd) fd = open_regular (dir_fd, node->name, child_source, &st, error);
  if (fd < 0)
    return FALSE;
  if ((guint64) st.st_size != node->size)
    return pack_failed (error, "%s changed while packing (its size changed); try again",
                        child_source);
  if (!write_header (packer, child_path, AE_IFREG, node->mode, node->mtime, node->size, error)
      || !pack_file_data (packer, fd, child_source, &size, digest, error))
    return FALSE;
  if (size != node->size || memcmp (digest, node->digest, sizeof digest) != 0)
    return pack_failed (error, "%s changed while packing (its content changed); try again",
                        child_source);
  return TRUE;
}

static la_ssize_t
packer_write (struct archive *archive, void *data, const void *buffer, size_t len)
{
  Packer *packer = data;
  const char *p = buffer;
  size_t left = len;

  while (left > 0) {
    ssize_t n = write (packer->out_fd, p, left);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      packer->write_errno = errno;
      archive_set_error (archive, packer->write_errno, "%s", g_strerror (packer->write_errno));
      return -1;
    }
    p += n;
    left -= n;
  }
  return len;
}

static gboolean
open_writer (Packer *packer, SarCompression compression, GError **error)
{
  int ret = ARCHIVE_OK;

  packer->archive = archive_write_new ();
  archive_write_set_format_pax_restricted (packer->archive);
  switch (compression) {
  case SAR_COMPRESSION_ZSTD:
    ret = archive_write_add_filter_zstd (packer->archive);
    break;
  case SAR_COMPRESSION_GZIP:
    ret = archive_write_add_filter_gzip (packer->archive);
    /* No time in the gzip header, so the output is reproducible. */
    if (ret == ARCHIVE_OK)
      ret = archive_write_set_filter_option (packer->archive, "gzip", "timestamp", NULL);
    break;
  case SAR_COMPRESSION_NONE:
    break;
  }
  /* Padding belongs to the tar stream, not after the compressed data. */
  if (compression != SAR_COMPRESSION_NONE)
    archive_write_set_bytes_in_last_block (packer->archive, 1);
  if (ret != ARCHIVE_OK
      || archive_write_open (packer->archive, packer, NULL, packer_write, NULL) != ARCHIVE_OK)
    return write_failed (packer, error);
  return TRUE;
}

/* The manifest of the spec, checked by the reader's own rules so the
 * writer never writes what the reader refuses.  Counts are filled in by
 * the first pass. */
static SarManifest *
manifest_for_spec (const SarPackSpec *spec, GError **error)
{
  g_autoptr (SarManifest) manifest = g_new0 (SarManifest, 1);
  g_autoptr (SarManifest) check = NULL;
  g_autoptr (GError) local = NULL;
  g_autofree char *data = NULL;
  gsize len;

  manifest->format = SAR_FORMAT_VERSION;
  manifest->version = g_strdup (spec->version != NULL ? spec->version : "");
  manifest->created = spec->created != 0 ? spec->created : g_get_real_time () / G_USEC_PER_SEC;
  manifest->process = g_strdup (spec->process != NULL ? spec->process : "manual");
  manifest->hostname = g_strdup (spec->hostname != NULL ? spec->hostname : g_get_host_name ());
  manifest->ip_address = g_strdup (spec->ip_address);
  manifest->components = g_ptr_array_new_with_free_func ((GDestroyNotify) sar_component_free);
  for (guint i = 0; spec->components != NULL && i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    SarComponent *component = g_new0 (SarComponent, 1);

    component->id = g_strdup (pack->id);
    component->label = g_strdup (pack->label != NULL ? pack->label : sar_default_label (pack->id));
    g_ptr_array_add (manifest->components, component);
  }

  data = sar_manifest_to_data (manifest, &len);
  check = sar_manifest_parse (data, len, &local);
  if (check == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "cannot pack: %s", local->message);
    return NULL;
  }
  manifest->parsed_version = check->parsed_version;
  return g_steal_pointer (&manifest);
}

/* SHA256SUMS from the first pass, in the order the files are written. */
static void
collect_checksums (const PackNode *node, const char *path, SarChecksums *sums)
{
  for (guint i = 0; i < node->children->len; i++) {
    const PackNode *child = g_ptr_array_index (node->children, i);
    g_autofree char *child_path = g_strconcat (path, "/", child->name, NULL);

    if (child->is_dir)
      collect_checksums (child, child_path, sums);
    else
      sar_checksums_add (sums, child_path, child->digest);
  }
}

/* Writes the archive from the first pass's trees. */
static gboolean
write_archive (Packer *packer, const SarPackSpec *spec, const SarManifest *manifest,
               GPtrArray *roots, GError **error)
{
  g_autoptr (SarChecksums) sums = sar_checksums_new ();
  g_autofree char *manifest_data = NULL;
  g_autofree char *sums_data = NULL;
  gsize manifest_len, sums_len;

  for (guint i = 0; i < roots->len; i++) {
    const PackNode *root = g_ptr_array_index (roots, i);

    collect_checksums (root, root->name, sums);
  }
  manifest_data = sar_manifest_to_data (manifest, &manifest_len);
  sums_data = sar_checksums_to_data (sums, &sums_len);
  if (!open_writer (packer, spec->compression, error)
      || !write_metadata (packer, SAR_MANIFEST_MEMBER, manifest_data, manifest_len,
                          manifest->created, error)
      || !write_metadata (packer, SAR_CHECKSUMS_MEMBER, sums_data, sums_len, manifest->created,
                          error))
    return FALSE;

  for (guint i = 0; i < roots->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    const PackNode *root = g_ptr_array_index (roots, i);
    g_autofree char *root_path = g_strconcat (root->name, "/", NULL);
    g_auto (AutoFd) fd = open (pack->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening component directory %s", pack->path);
    if (!write_header (packer, root_path, AE_IFDIR, root->mode, root->mtime, 0, error))
      return FALSE;
    for (guint j = 0; j < root->children->len; j++)
      if (!write_node (packer, fd, g_ptr_array_index (root->children, j), pack->path, root->name,
                       error))
        return FALSE;
  }
  if (archive_write_close (packer->archive) != ARCHIVE_OK)
    return write_failed (packer, error);
  return TRUE;
}

gboolean
sar_pack (const SarPackSpec *spec, int out_fd, GCancellable *cancellable, GError **error)
{
  g_auto (SarLocale) previous = sar_locale_push ();
  g_autoptr (SarManifest) manifest = manifest_for_spec (spec, error);
  g_autoptr (GPtrArray) roots = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_node_free);
  g_autofree guint8 *buffer = g_malloc (IO_CHUNK);
  Packer packer = { cancellable, NULL, 0, out_fd, buffer, spec, 0, 0 };
  gboolean ok;

  if (manifest == NULL)
    return FALSE;
  if (manifest->components->len == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "cannot pack: no components");
    return FALSE;
  }

  /* First pass: what is there, and its checksums, which SHA256SUMS must
   * list before any file is written. */
  for (guint i = 0; i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    SarComponent *component = g_ptr_array_index (manifest->components, i);
    g_auto (AutoFd) fd = open (pack->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    PackNode *root;

    if (fd < 0 || fstat (fd, &st) < 0)
      return backup_error_set_errno (error, errno, "opening component directory %s", pack->path);
    root = pack_node_new (pack->id, &st);
    g_ptr_array_add (roots, root);
    if (!scan_directory (&packer, fd, pack->path, pack->id, root, component, error))
      return FALSE;
    packer.total += component->bytes;
  }

  ok = write_archive (&packer, spec, manifest, roots, error);
  if (packer.archive != NULL)
    archive_write_free (packer.archive);
  return ok;
}

/* --- predicting what the writer would write -------------------------------- */

static gboolean
survey_directory (int dir_fd, const char *source, const char *path, SarPackSurvey *survey,
                  GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) names = directory_names (dir_fd, source, error);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    const char *name = g_ptr_array_index (names, i);
    g_autofree char *child_source = g_build_filename (source, name, NULL);
    g_autofree char *child_path = g_strconcat (path, "/", name, NULL);
    struct stat st;

    if (g_cancellable_set_error_if_cancelled (cancellable, error))
      return FALSE;
    if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      return backup_error_set_errno (error, errno, "reading %s", child_source);
    if (!check_packable (child_source, child_path, &st, error))
      return FALSE;
    survey->entries++;
    if (S_ISDIR (st.st_mode)) {
      g_auto (AutoFd) fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      if (fd < 0)
        return backup_error_set_errno (error, errno, "opening %s", child_source);
      /* sar_path_check() bounds the depth long before the stack matters */
      if (!survey_directory (fd, child_source, child_path, survey, cancellable, error))
        return FALSE;
    } else {
      survey->files++;
      survey->bytes += (guint64) st.st_size;
      /* "<64 hex digits>  <path>\n" */
      survey->checksum_bytes += 2 * SAR_SHA256_SIZE + 2 + strlen (child_path) + 1;
    }
  }
  return TRUE;
}

gboolean
sar_pack_survey (const char *id, const char *path, SarPackSurvey *survey, GCancellable *cancellable,
                 GError **error)
{
  g_auto (AutoFd) fd = open (path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

  if (fd < 0)
    return backup_error_set_errno (error, errno, "opening component directory %s", path);
  survey->entries++; /* the component's own directory member */
  return survey_directory (fd, path, id, survey, cancellable, error);
}
