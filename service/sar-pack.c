/* sar-pack.c: writing SAR archives with libarchive.
 *
 * Two passes over the component trees: the first finds the directories and
 * regular files and hashes the files (SHA256SUMS must precede them in the
 * archive; two threads hash, a file each at a time), the second writes
 * them and refuses any file that changed in between: one whose size,
 * modification or change time differs, and, with sar_pack(), one whose
 * data hashes differently.  sar_pack_verified() does not hash a second
 * time: it reads the archive back while it is written, in a second
 * thread, and a file that changed no longer matches its checksum there.
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
#include <malloc.h>
#include <sched.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Files are read, hashed and written in chunks of this size. */
#define IO_CHUNK (256 * 1024)
/* tar's record: what an uncompressed archive is padded to */
#define RECORD (20 * 512)
/* The archive goes to the file in blocks of this size (250 KiB), a
 * whole number of records: the padding of the last block is counted from
 * the start of the block.  libarchive holds two buffers of it (the
 * block, and the compressor's output); larger blocks only made fewer
 * write() calls, which cost little next to compressing their data. */
#define OUT_BLOCK (25 * RECORD)
/* sar_pack_verified() hands the file's data to writeback in steps of this
 * size. */
#define WRITEBACK_STEP (32 * 1024 * 1024)
/* Threads hashing in the first pass, the calling one included. */
#define HASH_THREADS 2
/* ioprio_set(2): the calling thread, idle class (glibc has no wrapper) */
#define IOPRIO_WHO_PROCESS 1
#define IOPRIO_IDLE (3 << 13)
/* sar_pack_cache_start() keeps the digests of at most this many files. */
#define CACHE_FILES_MAX 1000000
/* Records that there are one of a file (the first pass's file list, the
 * digests made ahead) are stored in blocks of about this size, not one
 * allocation each: a block is above malloc's mmap threshold (main.c), so
 * freeing the list gives its memory back to the system at once, where
 * small records among others that stay would leave their pages resident. */
#define LIST_BLOCK (256 * 1024)
/* zstd's level for SarPackSpec.fast (libarchive's default is 3) */
#define FAST_ZSTD_LEVEL "1"

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

void
sar_pack_component_free (SarPackComponent *component)
{
  if (component == NULL)
    return;
  g_free (component->id);
  g_free (component->label);
  g_free (component->path);
  if (component->database != NULL)
    autofd_clear (&component->dump_fd);
  g_free (component->database);
  g_free (component);
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
 * first pass; the second pass writes it and checks it did not change.
 * There is one a file, held while the archive is written: kept small, its
 * name in the same allocation. */
typedef struct {
  GPtrArray *children;        /* PackNode*, sorted by name; directories only */
  struct timespec mtim, ctim; /* a file's as hashed; a directory's mtim as found */
  guint64 size;
  guint8 digest[SAR_SHA256_SIZE];
  guint16 mode; /* permissions */
  guint is_dir : 1;
  char name[];
} PackNode;

static void
pack_node_free (PackNode *node)
{
  g_clear_pointer (&node->children, g_ptr_array_unref);
  g_free (node);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (PackNode, pack_node_free)

static PackNode *
pack_node_new (const char *name, const struct stat *st)
{
  gsize name_size = strlen (name) + 1;
  PackNode *node = g_malloc0 (sizeof (PackNode) + name_size);

  memcpy (node->name, name, name_size);
  node->is_dir = S_ISDIR (st->st_mode);
  node->mode = st->st_mode & 0777; /* no setuid, setgid or sticky bits */
  node->mtim = st->st_mtim;
  if (node->is_dir)
    node->children = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_node_free);
  return node;
}

/* A regular file found by the first pass, to be hashed. */
typedef struct {
  PackNode *node;
  guint component;
  int root_fd;             /* its component's directory (borrowed) */
  const char *root_source; /* its path, for messages (borrowed) */
  const char *rel;         /* below it (in Packer.rels) */
} PackFile;

typedef struct _Readback Readback;
static gboolean readback_advance (Readback *rb, gsize n);

typedef struct {
  GCancellable *cancellable;
  struct archive *archive; /* second pass only */
  int write_errno;
  int out_fd;
  guint8 *buffer;
  const SarPackSpec *spec; /* for progress */
  guint64 done, total;     /* file bytes, second pass */
  gboolean rehash;         /* second pass: hash again, compare */
  GArray *files;           /* PackFile, first pass */
  GStringChunk *rels;      /* their rel, first pass */
  Readback *readback;      /* sar_pack_verified(): told of what is written */
  guint64 out_bytes;       /* written to out_fd */
  guint64 out_synced;      /* of those, handed to writeback */
  gint from_cache;         /* atomic: files whose digest was made ahead */
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

/* Opens a regular file below dir_fd (rel: a name, or a relative path)
 * without following symlinks and without blocking on a FIFO swapped in
 * since it was looked at. */
static int
open_regular (int dir_fd, const char *rel, const char *source, struct stat *st, GError **error)
{
  const int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
  /* reading a file must not write its inode (atime), where we may */
  g_auto (AutoFd) fd = tree_open_beneath (dir_fd, rel, flags | O_NOATIME, 0);

  if (fd < 0 && errno == EPERM)
    fd = tree_open_beneath (dir_fd, rel, flags, 0);

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

/* Reads the whole file into buffer, hashing it (digest not NULL) and, in
 * the second pass, writing it to the archive. */
static gboolean
pack_file_data (Packer *packer, guint8 *buffer, int fd, const char *source, guint64 *size,
                guint8 digest[SAR_SHA256_SIZE], GError **error)
{
  SarSha256 sha;

  sar_sha256_init (&sha);
  *size = 0;
  for (;;) {
    ssize_t n = read (fd, buffer, IO_CHUNK);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return backup_error_set_errno (error, errno, "reading %s", source);
    if (n == 0)
      break;
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error))
      return FALSE;
    if (digest != NULL)
      sar_sha256_update (&sha, buffer, (gsize) n);
    *size += n;
    if (packer->archive != NULL && archive_write_data (packer->archive, buffer, n) != n)
      return write_failed (packer, error);
    if (packer->archive != NULL && packer->spec->progress != NULL) {
      packer->done += (guint64) n;
      packer->spec->progress (MIN (packer->done, packer->total), packer->total,
                              packer->spec->progress_data);
    }
  }
  if (digest != NULL)
    sar_sha256_digest (&sha, digest);
  return TRUE;
}

static gboolean scan_directory (Packer *packer, int dir_fd, const char *source, const char *path,
                                PackNode *node, guint component, int root_fd,
                                const char *root_source, gsize root_len, GError **error);

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

/* First pass over one directory entry: files are only queued for
 * hash_files(). */
static gboolean
scan_entry (Packer *packer, int dir_fd, const char *name, const char *source, const char *path,
            PackNode *parent, guint component, int root_fd, const char *root_source, gsize root_len,
            GError **error)
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
    if (!scan_directory (packer, fd, child_source, child_path, node, component, root_fd,
                         root_source, root_len, error))
      return FALSE;
  } else {
    PackFile file = { node, component, root_fd, root_source,
                      g_string_chunk_insert (packer->rels, child_path + root_len + 1) };

    g_array_append_val (packer->files, file);
  }
  g_ptr_array_add (parent->children, g_steal_pointer (&node));
  return TRUE;
}

/* First pass: finds the directories and regular files below dir_fd, in
 * name order.  Takes ownership of nothing. */
static gboolean
scan_directory (Packer *packer, int dir_fd, const char *source, const char *path, PackNode *node,
                guint component, int root_fd, const char *root_source, gsize root_len,
                GError **error)
{
  g_autoptr (GPtrArray) names = directory_names (dir_fd, source, error);

  if (names == NULL)
    return FALSE;
  for (guint i = 0; i < names->len; i++) {
    if (g_cancellable_set_error_if_cancelled (packer->cancellable, error)
        || !scan_entry (packer, dir_fd, g_ptr_array_index (names, i), source, path, node, component,
                        root_fd, root_source, root_len, error))
      return FALSE;
  }
  return TRUE;
}

/* The first pass's files, hashed by HASH_THREADS threads taking the next
 * file in turn. */
typedef struct {
  Packer *packer;
  gint next;   /* atomic: index of the next file */
  gint failed; /* atomic */
  GMutex lock;
  GError *error; /* the first failure */
} HashWork;

static gboolean cache_lookup (SarPackCache *cache, const struct stat *st,
                              guint8 digest[SAR_SHA256_SIZE]);
static void cache_used_up (SarPackCache *cache);

static gboolean
hash_file (Packer *packer, PackFile *file, guint8 *buffer, GError **error)
{
  PackNode *node = file->node;
  g_autofree char *source = g_build_filename (file->root_source, file->rel, NULL);
  struct stat st;
  g_auto (AutoFd) fd = open_regular (file->root_fd, file->rel, source, &st, error);

  if (fd < 0)
    return FALSE;
  if (packer->spec->cache != NULL && cache_lookup (packer->spec->cache, &st, node->digest)) {
    node->size = (guint64) st.st_size;
    g_atomic_int_inc (&packer->from_cache);
  } else if (!pack_file_data (packer, buffer, fd, source, &node->size, node->digest, error)) {
    return FALSE;
  }
  node->mtim = st.st_mtim;
  node->ctim = st.st_ctim;
  return TRUE;
}

static gpointer
hash_worker (gpointer data)
{
  HashWork *work = data;
  g_autofree guint8 *buffer = g_malloc (IO_CHUNK);
  GArray *files = work->packer->files;

  for (;;) {
    guint i = (guint) g_atomic_int_add (&work->next, 1);
    GError *local = NULL;

    if (i >= files->len || g_atomic_int_get (&work->failed))
      break;
    if (!hash_file (work->packer, &g_array_index (files, PackFile, i), buffer, &local)) {
      g_mutex_lock (&work->lock);
      if (work->error == NULL)
        work->error = g_steal_pointer (&local);
      g_mutex_unlock (&work->lock);
      g_clear_error (&local);
      g_atomic_int_set (&work->failed, TRUE);
      break;
    }
  }
  return NULL;
}

static gboolean
hash_files (Packer *packer, SarManifest *manifest, GError **error)
{
  HashWork work = { packer, 0, FALSE };
  GThread *helpers[HASH_THREADS - 1] = { NULL };

  g_mutex_init (&work.lock);
  for (guint i = 0; i < G_N_ELEMENTS (helpers) && packer->files->len > i + 1; i++)
    helpers[i] = g_thread_try_new ("pack-hash", hash_worker, &work, NULL);
  hash_worker (&work);
  for (guint i = 0; i < G_N_ELEMENTS (helpers); i++)
    if (helpers[i] != NULL)
      g_thread_join (helpers[i]);
  g_mutex_clear (&work.lock);
  if (work.error != NULL) {
    g_propagate_error (error, work.error);
    return FALSE;
  }
  for (guint i = 0; i < packer->files->len; i++) {
    const PackFile *file = &g_array_index (packer->files, PackFile, i);
    SarComponent *component = g_ptr_array_index (manifest->components, file->component);

    component->files++;
    component->bytes += file->node->size;
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

static gboolean
same_time (const struct timespec *a, const struct timespec *b)
{
  return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
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
    if (!write_header (packer, dir_path, AE_IFDIR, node->mode, node->mtim.tv_sec, 0, error))
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
  if (!same_time (&st.st_mtim, &node->mtim) || !same_time (&st.st_ctim, &node->ctim))
    return pack_failed (error, "%s changed while packing (it was modified); try again",
                        child_source);
  if (!write_header (packer, child_path, AE_IFREG, node->mode, node->mtim.tv_sec, node->size, error)
      || !pack_file_data (packer, packer->buffer, fd, child_source, &size,
                          packer->rehash ? digest : NULL, error))
    return FALSE;
  if (size != node->size || (packer->rehash && memcmp (digest, node->digest, sizeof digest) != 0))
    return pack_failed (error, "%s changed while packing (its content changed); try again",
                        child_source);
  return TRUE;
}

static la_ssize_t
packer_write (struct archive *archive, void *data, const void *buffer, size_t len)
{
  Packer *packer = data;

  if (!fd_write_all (packer->out_fd, buffer, len)) {
    packer->write_errno = errno;
    archive_set_error (archive, packer->write_errno, "%s", g_strerror (packer->write_errno));
    return -1;
  }
  packer->out_bytes += len;
  if (packer->readback != NULL && !readback_advance (packer->readback, len)) {
    archive_set_error (archive, ECANCELED, "reading it back failed");
    return -1;
  }
  /* A file that is synced afterwards: its data starts on its way to the
   * disk now, so the fsync has little left to do (errors show there). */
  if (packer->readback != NULL && packer->out_bytes - packer->out_synced >= WRITEBACK_STEP) {
    sync_file_range (packer->out_fd, (off64_t) packer->out_synced,
                     (off64_t) (packer->out_bytes - packer->out_synced), SYNC_FILE_RANGE_WRITE);
    packer->out_synced = packer->out_bytes;
  }
  return len;
}

static gboolean
open_writer (Packer *packer, SarCompression compression, gboolean fast, GError **error)
{
  int ret = ARCHIVE_OK;

  packer->archive = archive_write_new ();
  archive_write_set_format_pax_restricted (packer->archive);
  /* few large writes instead of one per tar record */
  archive_write_set_bytes_per_block (packer->archive, OUT_BLOCK);
  switch (compression) {
  case SAR_COMPRESSION_ZSTD:
    ret = archive_write_add_filter_zstd (packer->archive);
    if (ret == ARCHIVE_OK && fast)
      ret = archive_write_set_filter_option (packer->archive, "zstd", "compression-level",
                                             FAST_ZSTD_LEVEL);
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
  /* Padding belongs to the tar stream, not after the compressed data; an
   * uncompressed archive ends with a whole tar record, as with the
   * default block size. */
  archive_write_set_bytes_in_last_block (packer->archive,
                                         compression != SAR_COMPRESSION_NONE ? 1 : RECORD);
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
    component->database = g_strdup (pack->database);
    component->database_bytes = pack->database != NULL ? pack->dump_size : 0;
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

/* SHA256SUMS is written from the first pass's trees as it is made, a
 * buffer at a time: neither a second list of every path and digest nor
 * the whole text (both grow with the number of files) is held. */
typedef struct {
  Packer *packer;
  char *buffer; /* IO_CHUNK bytes */
  gsize used;
  guint64 written; /* lines made so far, in bytes */
  GString *path;   /* the path of the node being listed */
} SumsWriter;

/* The bytes of the lines of the files below node, whose path is
 * path_len bytes long. */
static guint64
sums_length (const PackNode *node, gsize path_len)
{
  guint64 len = 0;

  for (guint i = 0; i < node->children->len; i++) {
    const PackNode *child = g_ptr_array_index (node->children, i);
    gsize child_len = path_len + 1 + strlen (child->name);

    len += child->is_dir ? sums_length (child, child_len) : SAR_CHECKSUMS_LINE_LEN (child_len);
  }
  return len;
}

static gboolean
sums_flush (SumsWriter *w, GError **error)
{
  if (w->used > 0
      && archive_write_data (w->packer->archive, w->buffer, w->used) != (la_ssize_t) w->used)
    return write_failed (w->packer, error);
  w->used = 0;
  return TRUE;
}

static gboolean
sums_line (SumsWriter *w, const guint8 digest[SAR_SHA256_SIZE], const char *path, gsize path_len,
           GError **error)
{
  gsize len = SAR_CHECKSUMS_LINE_LEN (path_len);

  /* a line is far shorter than the buffer: paths are at most SAR_PATH_MAX */
  G_STATIC_ASSERT (SAR_CHECKSUMS_LINE_LEN (SAR_PATH_MAX + 1) <= IO_CHUNK);
  if (len > IO_CHUNK - w->used && !sums_flush (w, error))
    return FALSE;
  sar_checksums_format_line (w->buffer + w->used, digest, path, path_len);
  w->used += len;
  w->written += len;
  return TRUE;
}

/* The lines of the files below node (w->path), in the order the files
 * are written. */
static gboolean
sums_write (SumsWriter *w, const PackNode *node, GError **error)
{
  gsize path_len = w->path->len;

  for (guint i = 0; i < node->children->len; i++) {
    const PackNode *child = g_ptr_array_index (node->children, i);
    gboolean ok;

    g_string_append_c (w->path, '/');
    g_string_append (w->path, child->name);
    ok = child->is_dir ? sums_write (w, child, error)
                       : sums_line (w, child->digest, w->path->str, w->path->len, error);
    g_string_truncate (w->path, path_len);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

/* The SHA256SUMS member: the dumps first (they come right after it),
 * then the files of each tree. */
static gboolean
write_checksums (Packer *packer, const SarPackSpec *spec, GPtrArray *roots, gint64 mtime,
                 GError **error)
{
  g_autoptr (GString) path = g_string_new (NULL);
  SumsWriter w = { packer, (char *) packer->buffer, 0, 0, path };
  guint64 len = 0;

  for (guint i = 0; i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    g_autofree char *member = pack->database != NULL ? sar_dump_member (pack->id) : NULL;

    if (member != NULL)
      len += SAR_CHECKSUMS_LINE_LEN (strlen (member));
  }
  for (guint i = 0; i < roots->len; i++) {
    const PackNode *root = g_ptr_array_index (roots, i);

    len += sums_length (root, strlen (root->name));
  }

  if (!write_header (packer, SAR_CHECKSUMS_MEMBER, AE_IFREG, 0644, mtime, len, error))
    return FALSE;
  for (guint i = 0; i < spec->components->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    g_autofree char *member = pack->database != NULL ? sar_dump_member (pack->id) : NULL;

    if (member != NULL && !sums_line (&w, pack->dump_digest, member, strlen (member), error))
      return FALSE;
  }
  for (guint i = 0; i < roots->len; i++) {
    const PackNode *root = g_ptr_array_index (roots, i);

    g_string_assign (path, root->name);
    if (!sums_write (&w, root, error))
      return FALSE;
  }
  if (!sums_flush (&w, error))
    return FALSE;
  /* the header's size and the lines come from two walks of the trees */
  if (w.written != len)
    return pack_failed (error,
                        "cannot pack: " SAR_CHECKSUMS_MEMBER " came out %" G_GUINT64_FORMAT
                        " bytes long, not %" G_GUINT64_FORMAT,
                        w.written, len);
  return TRUE;
}

/* A component's database dump, as made beforehand: its size and digest
 * are in the metadata already, so it must still be just that. */
static gboolean
write_dump (Packer *packer, const SarPackComponent *pack, gint64 mtime, GError **error)
{
  g_autofree char *member = NULL;
  g_autofree char *source = NULL;
  guint8 digest[SAR_SHA256_SIZE];
  guint64 size;

  if (pack->database == NULL)
    return TRUE;
  member = sar_dump_member (pack->id);
  source = g_strdup_printf ("the dump of database %s", pack->database);
  if (lseek (pack->dump_fd, 0, SEEK_SET) < 0)
    return backup_error_set_errno (error, errno, "reading %s", source);
  if (!write_header (packer, member, AE_IFREG, 0600, mtime, pack->dump_size, error)
      || !pack_file_data (packer, packer->buffer, pack->dump_fd, source, &size,
                          packer->rehash ? digest : NULL, error))
    return FALSE;
  if (size != pack->dump_size
      || (packer->rehash && memcmp (digest, pack->dump_digest, sizeof digest) != 0))
    return pack_failed (error, "%s changed while packing", source);
  return TRUE;
}

/* Writes the archive from the first pass's trees. */
static gboolean
write_archive (Packer *packer, const SarPackSpec *spec, const SarManifest *manifest,
               GPtrArray *roots, GError **error)
{
  g_autofree char *manifest_data = NULL;
  gsize manifest_len;

  manifest_data = sar_manifest_to_data (manifest, &manifest_len);
  if (!open_writer (packer, spec->compression, spec->fast, error)
      || !write_metadata (packer, SAR_MANIFEST_MEMBER, manifest_data, manifest_len,
                          manifest->created, error)
      || !write_checksums (packer, spec, roots, manifest->created, error))
    return FALSE;
  for (guint i = 0; i < spec->components->len; i++)
    if (!write_dump (packer, g_ptr_array_index (spec->components, i), manifest->created, error))
      return FALSE;

  for (guint i = 0; i < roots->len; i++) {
    const SarPackComponent *pack = g_ptr_array_index (spec->components, i);
    const PackNode *root = g_ptr_array_index (roots, i);
    g_autofree char *root_path = g_strconcat (root->name, "/", NULL);
    g_auto (AutoFd) fd = open (pack->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd < 0)
      return backup_error_set_errno (error, errno, "opening component directory %s", pack->path);
    if (!write_header (packer, root_path, AE_IFDIR, root->mode, root->mtim.tv_sec, 0, error))
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

static gboolean
pack (const SarPackSpec *spec, int out_fd, Readback *readback, GCancellable *cancellable,
      GError **error)
{
  g_auto (SarLocale) previous = sar_locale_push ();
  g_autoptr (SarManifest) manifest = manifest_for_spec (spec, error);
  g_autoptr (GPtrArray) roots = g_ptr_array_new_with_free_func ((GDestroyNotify) pack_node_free);
  g_autoptr (GArray) files = g_array_new (FALSE, FALSE, sizeof (PackFile));
  g_autoptr (GStringChunk) rels = g_string_chunk_new (LIST_BLOCK);
  g_autofree int *root_fds = NULL;
  g_autofree guint8 *buffer = g_malloc (IO_CHUNK);
  Packer packer = { cancellable, NULL, 0, out_fd, buffer, spec, 0, 0 };
  gint64 start = g_get_monotonic_time ();
  gboolean ok = TRUE;

  if (manifest == NULL)
    return FALSE;
  if (manifest->components->len == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_ARGS, "cannot pack: no components");
    return FALSE;
  }
  packer.files = files;
  packer.rels = rels;
  packer.readback = readback;
  /* read back, a file that changed fails its checksum there */
  packer.rehash = readback == NULL;

  /* First pass: what is there, and its checksums, which SHA256SUMS must
   * list before any file is written. */
  root_fds = g_new (int, spec->components->len);
  for (guint i = 0; i < spec->components->len; i++)
    root_fds[i] = -1;
  for (guint i = 0; ok && i < spec->components->len; i++) {
    const SarPackComponent *component = g_ptr_array_index (spec->components, i);
    struct stat st;
    PackNode *root;

    root_fds[i] = open (component->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root_fds[i] < 0 || fstat (root_fds[i], &st) < 0) {
      ok = backup_error_set_errno (error, errno, "opening component directory %s", component->path);
      break;
    }
    root = pack_node_new (component->id, &st);
    g_ptr_array_add (roots, root);
    ok = scan_directory (&packer, root_fds[i], component->path, component->id, root, i, root_fds[i],
                         component->path, strlen (component->id), error);
  }
  if (spec->cache != NULL)
    sar_pack_cache_stop (spec->cache);
  ok = ok && hash_files (&packer, manifest, error);
  cache_used_up (spec->cache);
  g_debug ("packing: found and hashed %u files (%d hashed ahead) in %.3f s", files->len,
           packer.from_cache, (double) (g_get_monotonic_time () - start) / G_USEC_PER_SEC);
  for (guint i = 0; i < spec->components->len; i++) {
    const SarComponent *component = g_ptr_array_index (manifest->components, i);

    packer.total += component->bytes + component->database_bytes;
    autofd_clear (&root_fds[i]);
  }
  /* not needed for the writing, which needs memory of its own (the
   * reader's list of checksums, compression) */
  packer.files = NULL;
  packer.rels = NULL;
  g_clear_pointer (&files, g_array_unref);
  g_clear_pointer (&rels, g_string_chunk_free);
  /* what the first pass freed among the trees' nodes, which stay */
  malloc_trim (0);

  ok = ok && write_archive (&packer, spec, manifest, roots, error);
  if (packer.archive != NULL)
    archive_write_free (packer.archive);
  return ok;
}

gboolean
sar_pack (const SarPackSpec *spec, int out_fd, GCancellable *cancellable, GError **error)
{
  return pack (spec, out_fd, NULL, cancellable, error);
}

/* --- digests made ahead ----------------------------------------------------- */

/* A file as it was hashed: the same before and after reading it.  Known
 * by its inode, whatever its name. */
typedef struct {
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtim, ctim;
  guint8 digest[SAR_SHA256_SIZE];
} CacheEntry;

struct _SarPackCache {
  guint n_roots;
  int *root_fds; /* the components' directories, -1 where there is none */
  GThread *thread;
  GHashTable *entries; /* CacheEntry* (by inode); the thread's until it is joined */
  GPtrArray *blocks;   /* of CACHE_BLOCK_ENTRIES CacheEntry each, holding the entries */
  guint last_used;     /* entries used of the last block */
  guint64 hashed;      /* bytes */

  GMutex lock;
  GCond cond;
  gboolean paused;
  gboolean stop;
};

/* An entry hashed before is good for a file with the same inode, size and
 * times.  A change that kept all of them (two writes within one tick of
 * the clock that stamps files, around our reading) is not noticed here;
 * sar_pack_verified()'s read-back notices it. */
static guint
cache_entry_hash (gconstpointer key)
{
  const CacheEntry *entry = key;

  return (guint) (entry->ino ^ (entry->ino >> 32) ^ entry->dev);
}

static gboolean
cache_entry_equal (gconstpointer a, gconstpointer b)
{
  const CacheEntry *x = a, *y = b;

  return x->ino == y->ino && x->dev == y->dev;
}

#define CACHE_BLOCK_ENTRIES (LIST_BLOCK / sizeof (CacheEntry))

static CacheEntry *
cache_entry_new (SarPackCache *cache)
{
  if (cache->blocks->len == 0 || cache->last_used == CACHE_BLOCK_ENTRIES) {
    g_ptr_array_add (cache->blocks, g_new (CacheEntry, CACHE_BLOCK_ENTRIES));
    cache->last_used = 0;
  }
  return (CacheEntry *) g_ptr_array_index (cache->blocks, cache->blocks->len - 1)
         + cache->last_used++;
}

static gboolean
cache_lookup (SarPackCache *cache, const struct stat *st, guint8 digest[SAR_SHA256_SIZE])
{
  CacheEntry key = { st->st_dev, st->st_ino };
  const CacheEntry *entry = g_hash_table_lookup (cache->entries, &key);

  if (entry == NULL || entry->size != st->st_size || !same_time (&entry->mtim, &st->st_mtim)
      || !same_time (&entry->ctim, &st->st_ctim))
    return FALSE;
  memcpy (digest, entry->digest, SAR_SHA256_SIZE);
  return TRUE;
}

/* After the first pass: the digests are not needed again. */
static void
cache_used_up (SarPackCache *cache)
{
  if (cache == NULL)
    return;
  g_hash_table_remove_all (cache->entries);
  g_ptr_array_set_size (cache->blocks, 0);
}

/* FALSE once stopped; waits while paused. */
static gboolean
cache_go_on (SarPackCache *cache)
{
  gboolean go_on;

  g_mutex_lock (&cache->lock);
  while (cache->paused && !cache->stop)
    g_cond_wait (&cache->cond, &cache->lock);
  go_on = !cache->stop;
  g_mutex_unlock (&cache->lock);
  return go_on;
}

static gboolean
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
         && same_time (&a->st_mtim, &b->st_mtim) && same_time (&a->st_ctim, &b->st_ctim);
}

static void
cache_file (SarPackCache *cache, int dir_fd, const char *name, guint8 *buffer)
{
  g_auto (AutoFd) fd = -1;
  struct stat before, after;
  SarSha256 sha;
  CacheEntry *entry;

  fd = tree_open_beneath (dir_fd, name,
                          O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOATIME, 0);
  if (fd < 0 && errno == EPERM)
    fd = tree_open_beneath (dir_fd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
                            0);
  if (fd < 0 || fstat (fd, &before) < 0 || !S_ISREG (before.st_mode))
    return;
  sar_sha256_init (&sha);
  for (;;) {
    ssize_t n;

    if (!cache_go_on (cache))
      return;
    n = read (fd, buffer, IO_CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return;
    if (n == 0)
      break;
    sar_sha256_update (&sha, buffer, (gsize) n);
    cache->hashed += (guint64) n;
  }
  if (fstat (fd, &after) < 0 || !same_file (&before, &after))
    return;
  entry = cache_entry_new (cache);
  entry->dev = after.st_dev;
  entry->ino = after.st_ino;
  entry->size = after.st_size;
  entry->mtim = after.st_mtim;
  entry->ctim = after.st_ctim;
  sar_sha256_digest (&sha, entry->digest);
  g_hash_table_add (cache->entries, entry);
}

/* Depth first through dir_fd; what cannot be read is left out. */
static void
cache_directory (SarPackCache *cache, int dir_fd, guint depth, guint8 *buffer)
{
  int errsv = 0;
  g_autoptr (GPtrArray) names = tree_list (dir_fd, &errsv);

  for (guint i = 0; names != NULL && i < names->len && cache_go_on (cache); i++) {
    const char *name = g_ptr_array_index (names, i);
    struct stat st;

    if (g_hash_table_size (cache->entries) >= CACHE_FILES_MAX)
      return;
    if (fstatat (dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
      continue;
    if (S_ISDIR (st.st_mode) && depth < SAR_PATH_DEPTH_MAX) {
      g_auto (AutoFd) fd = openat (dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

      if (fd >= 0)
        cache_directory (cache, fd, depth + 1, buffer);
    } else if (S_ISREG (st.st_mode)) {
      cache_file (cache, dir_fd, name, buffer);
    }
  }
}

static gpointer
cache_thread (gpointer data)
{
  SarPackCache *cache = data;
  struct sched_param idle = { 0 };
  g_autofree guint8 *buffer = g_malloc (IO_CHUNK);

  /* a core only when it would be idle, and the disk too where its
   * scheduler knows priorities */
  if (sched_setscheduler (0, SCHED_IDLE, &idle) < 0)
    g_debug ("hashing ahead at normal priority: %s", g_strerror (errno));
  syscall (SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, IOPRIO_IDLE);
  for (guint i = 0; i < cache->n_roots; i++)
    if (cache->root_fds[i] >= 0)
      cache_directory (cache, cache->root_fds[i], 1, buffer);
  return NULL;
}

SarPackCache *
sar_pack_cache_start (GPtrArray *components)
{
  SarPackCache *cache = g_new0 (SarPackCache, 1);

  g_mutex_init (&cache->lock);
  g_cond_init (&cache->cond);
  cache->entries = g_hash_table_new (cache_entry_hash, cache_entry_equal);
  cache->blocks = g_ptr_array_new_with_free_func (g_free);
  cache->n_roots = components->len;
  cache->root_fds = g_new (int, components->len);
  /* the trees are the ones there now, whatever their names later */
  for (guint i = 0; i < components->len; i++) {
    const SarPackComponent *component = g_ptr_array_index (components, i);

    cache->root_fds[i] = open (component->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  }
  cache->thread = g_thread_try_new ("pack-hash-ahead", cache_thread, cache, NULL);
  return cache;
}

void
sar_pack_cache_pause (SarPackCache *cache, gboolean paused)
{
  if (cache == NULL)
    return;
  g_mutex_lock (&cache->lock);
  cache->paused = paused;
  g_cond_broadcast (&cache->cond);
  g_mutex_unlock (&cache->lock);
}

static void
cache_join (SarPackCache *cache)
{
  g_thread_join (g_steal_pointer (&cache->thread));
  g_debug ("hashed %u files (%" G_GUINT64_FORMAT " bytes) ahead",
           g_hash_table_size (cache->entries), cache->hashed);
}

void
sar_pack_cache_stop (SarPackCache *cache)
{
  if (cache == NULL || cache->thread == NULL)
    return;
  g_mutex_lock (&cache->lock);
  cache->stop = TRUE;
  g_cond_broadcast (&cache->cond);
  g_mutex_unlock (&cache->lock);
  cache_join (cache);
}

void
sar_pack_cache_wait (SarPackCache *cache)
{
  if (cache == NULL || cache->thread == NULL)
    return;
  sar_pack_cache_pause (cache, FALSE);
  cache_join (cache);
}

void
sar_pack_cache_free (SarPackCache *cache)
{
  if (cache == NULL)
    return;
  sar_pack_cache_stop (cache);
  for (guint i = 0; i < cache->n_roots; i++)
    autofd_clear (&cache->root_fds[i]);
  g_free (cache->root_fds);
  g_hash_table_unref (cache->entries);
  g_ptr_array_unref (cache->blocks);
  g_mutex_clear (&cache->lock);
  g_cond_clear (&cache->cond);
  g_free (cache);
}

/* --- reading back while writing --------------------------------------------- */

/* What the writer has written of the file, and the reader's place in it. */
struct _Readback {
  int fd;
  const SarLimits *limits;
  GCancellable *cancellable;
  guint64 offset; /* the reader's next byte */

  GMutex lock;
  GCond cond;
  guint64 written;   /* bytes of fd that are complete */
  gboolean done;     /* the writer is done: written is final */
  gboolean stopped;  /* the writer failed, or the reader stops: no more reads */
  gboolean failed;   /* the reader failed: the writer stops */
  SarHeader *header; /* what the reader found */
  GError *error;     /* why it failed */
};

/* The writer: n more bytes are in the file.  FALSE once the reader has
 * failed (nothing written after that would count). */
static gboolean
readback_advance (Readback *rb, gsize n)
{
  gboolean failed;

  g_mutex_lock (&rb->lock);
  rb->written += n;
  failed = rb->failed;
  g_cond_signal (&rb->cond);
  g_mutex_unlock (&rb->lock);
  return !failed;
}

static gssize
readback_read (guint8 *buffer, gsize size, gpointer user_data, GError **error)
{
  Readback *rb = user_data;
  gboolean stopped;
  guint64 available;
  ssize_t n;

  g_mutex_lock (&rb->lock);
  while (!rb->stopped && !rb->done && rb->written == rb->offset)
    g_cond_wait (&rb->cond, &rb->lock);
  stopped = rb->stopped;
  available = rb->written - rb->offset;
  g_mutex_unlock (&rb->lock);

  if (stopped) {
    g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_CANCELLED, "writing the backup stopped");
    return -1;
  }
  if (available == 0)
    return 0;
  do
    n = pread (rb->fd, buffer, MIN (size, available), (off_t) rb->offset);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return backup_error_set_errno (error, errno, "reading back the backup"), -1;
  if (n == 0) {
    g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                         "the backup shrank while it was read back");
    return -1;
  }
  rb->offset += (guint64) n;
  return n;
}

static void
readback_stop (gpointer user_data)
{
  Readback *rb = user_data;

  g_mutex_lock (&rb->lock);
  rb->stopped = TRUE;
  g_cond_broadcast (&rb->cond);
  g_mutex_unlock (&rb->lock);
}

static gpointer
readback_thread (gpointer data)
{
  Readback *rb = data;
  SarSource source = { readback_read, readback_stop, rb };
  GError *local = NULL;
  SarHeader *header = sar_verify_stream (&source, rb->limits, NULL, NULL, rb->cancellable, &local);

  g_mutex_lock (&rb->lock);
  rb->header = header;
  rb->error = local;
  rb->failed = header == NULL;
  g_mutex_unlock (&rb->lock);
  return NULL;
}

SarHeader *
sar_pack_verified (const SarPackSpec *spec, int out_fd, const SarLimits *limits,
                   GCancellable *cancellable, GError **error)
{
  g_autoptr (GError) local = NULL;
  Readback rb = { out_fd, limits, cancellable };
  GThread *thread;
  gboolean ok;

  g_mutex_init (&rb.lock);
  g_cond_init (&rb.cond);
  thread = g_thread_try_new ("pack-readback", readback_thread, &rb, &local);
  if (thread == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "cannot start reading back: %s",
                 local->message);
    ok = FALSE;
  } else {
    ok = pack (spec, out_fd, &rb, cancellable, &local);
    g_mutex_lock (&rb.lock);
    rb.done = TRUE;
    rb.stopped = rb.stopped || !ok;
    g_cond_broadcast (&rb.cond);
    g_mutex_unlock (&rb.lock);
    g_thread_join (thread);
    /* the first failure: the reader's stops the writer */
    if (rb.failed
        && (ok || rb.error->domain != G_IO_ERROR || rb.error->code != G_IO_ERROR_CANCELLED)) {
      g_propagate_prefixed_error (error, g_steal_pointer (&rb.error),
                                  "the backup does not read back as a restorable backup: ");
      ok = FALSE;
    } else if (!ok) {
      g_propagate_error (error, g_steal_pointer (&local));
    }
  }
  g_clear_error (&rb.error);
  g_mutex_clear (&rb.lock);
  g_cond_clear (&rb.cond);
  if (!ok) {
    g_clear_pointer (&rb.header, sar_header_free);
    return NULL;
  }
  return rb.header;
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
