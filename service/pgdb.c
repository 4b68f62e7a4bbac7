/* pgdb.c: the PBX's PostgreSQL databases, through the helper
 * starface-backupd-pg (libpq) and the server's own pg_dump and pg_restore.
 *
 * Every program runs as a child of the calling thread: its own process
 * group, a clean environment, the OS user it must be (when we are root),
 * and its stderr (and any output we keep) in a memfd of a fixed size
 * (sealed against growing), so a hostile dump can neither block it on a
 * full pipe nor make what we keep grow without bound.  (A seal, not
 * RLIMIT_FSIZE: it needs no setrlimit() in the child, which the systemd
 * unit's system call filter keeps out with the rest of @resources.)  The caller waits for it
 * through a pidfd and the cancellable; a cancellation kills the process group. Every child is
 * reaped on every path.
 */
#include "pgdb.h"

#include "autofd.h"
#include "errors.h"
#include "sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PGDB_HELPER_PATH
#define PGDB_HELPER_PATH "/usr/libexec/starface-backupd-pg"
#endif
#define HELPER_NAME "starface-backupd-pg"

/* What we keep of a program's stderr, of the helper's answer and of a
 * dump's schema script. */
#define STDERR_MAX (1024 * 1024)
#define ANSWER_MAX (16 * 1024 * 1024)
#define SCRIPT_MAX (64 * 1024 * 1024)
/* Of stderr, this much ends up in an error message. */
#define MESSAGE_MAX 1500
/* Pipes to and from pg_dump and pg_restore. */
#define PIPE_SIZE (1024 * 1024)
#define COPY_BUFFER (1024 * 1024)

/* The exit status of a child that could not become who it must be. */
#define SETUP_FAILED 126

/* The helper's exit statuses (pg-helper.c). */
#define HELPER_UNREACHABLE 3
#define HELPER_OTHER_OID 4

static const char *const child_env[] = { "PATH=/usr/bin:/bin", "LC_ALL=C", "PGCONNECT_TIMEOUT=10",
                                         "PGAPPNAME=starface-backupd", NULL };

static GMutex helper_lock;
static char *helper_override;

void
pgdb_set_helper (const char *path)
{
  g_mutex_lock (&helper_lock);
  g_free (helper_override);
  helper_override = g_strdup (path);
  g_mutex_unlock (&helper_lock);
}

/* Next to our executable (the build tree), else in libexecdir. */
static char *
helper_path (void)
{
  g_autofree char *self = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *beside = NULL;

  g_mutex_lock (&helper_lock);
  if (helper_override != NULL) {
    char *path = g_strdup (helper_override);
    g_mutex_unlock (&helper_lock);
    return path;
  }
  g_mutex_unlock (&helper_lock);
  self = g_file_read_link ("/proc/self/exe", NULL);
  if (self != NULL) {
    dir = g_path_get_dirname (self);
    beside = g_build_filename (dir, HELPER_NAME, NULL);
    if (access (beside, X_OK) == 0)
      return g_steal_pointer (&beside);
  }
  return g_strdup (PGDB_HELPER_PATH);
}

/* A dead reader of one of our pipes must be an error (EPIPE), never the
 * end of the process: SIGPIPE is ignored from the first use on (libdbus
 * does the same when it connects). */
static void
ignore_sigpipe (void)
{
  static gsize done = 0;

  if (g_once_init_enter (&done)) {
    struct sigaction old;

    if (sigaction (SIGPIPE, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
      signal (SIGPIPE, SIG_IGN);
    g_once_init_leave (&done, 1);
  }
}

/* Database names we hand to the tools: never a connection string. */
static gboolean
check_name (const char *name, GError **error)
{
  gsize len = name != NULL ? strlen (name) : 0;

  if (len == 0 || len > 63 || !(g_ascii_islower (name[0]) || name[0] == '_')
      || strspn (name, "abcdefghijklmnopqrstuvwxyz0123456789_") != len) {
    g_autofree char *shown = name != NULL ? g_utf8_make_valid (name, MIN (len, 80)) : NULL;
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "\"%s\" is not a database name this service uses", shown ? shown : "");
    return FALSE;
  }
  return TRUE;
}

/* Who a child runs as. */
typedef struct {
  gboolean change; /* FALSE: as we are (we are not root) */
  uid_t uid;
  gid_t gid;
  gid_t *groups;
  int n_groups;
} Identity;

static void
identity_clear (Identity *id)
{
  g_clear_pointer (&id->groups, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Identity, identity_clear)

static gboolean
identity_for (const char *user, const char *why, Identity *id, GError **error)
{
  struct passwd pw, *found = NULL;
  char buffer[4096];
  int n = 16;
  int err;

  memset (id, 0, sizeof *id);
  if (geteuid () != 0)
    return TRUE;
  err = getpwnam_r (user, &pw, buffer, sizeof buffer, &found);
  if (found == NULL) {
    g_autofree char *shown = g_utf8_make_valid (user, -1);
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "there is no OS user %s (%s)%s%s", shown,
                 why, err != 0 ? ": " : "", err != 0 ? g_strerror (err) : "");
    return FALSE;
  }
  if (pw.pw_uid == 0) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "the OS user %s (%s) is root: PostgreSQL's tools never run as root here",
                 pw.pw_name, why);
    return FALSE;
  }
  id->change = TRUE;
  id->uid = pw.pw_uid;
  id->gid = pw.pw_gid;
  id->groups = g_new (gid_t, n);
  if (getgrouplist (pw.pw_name, pw.pw_gid, id->groups, &n) < 0) {
    id->groups = g_renew (gid_t, id->groups, n);
    if (getgrouplist (pw.pw_name, pw.pw_gid, id->groups, &n) < 0)
      n = 0;
  }
  id->n_groups = n;
  return TRUE;
}

/* RunAs: the helper, pg_dump and reading dumps. */
static gboolean
identity_run_as (const ConfigDatabase *db, Identity *id, GError **error)
{
  return identity_for (db->run_as, "[Database] RunAs", id, error);
}

typedef struct {
  const Identity *id;
} ChildSetup;

static void
setup_failed (const char *what)
{
  /* async-signal-safe: write() to the child's stderr (our memfd) */
  const char *prefix = "starface-backupd: in the child: ";
  ssize_t ignored = write (2, prefix, strlen (prefix));
  ignored = write (2, what, strlen (what));
  ignored = write (2, "\n", 1);
  (void) ignored;
  _exit (SETUP_FAILED);
}

/* Runs in the child between fork() and exec(): async-signal-safe calls
 * only.  The credential calls are the raw system calls: they change the
 * one thread there is (the libc wrappers signal every thread they know
 * of, which in a forked child may be a lie). */
static void
child_setup (gpointer user_data)
{
  const ChildSetup *setup = user_data;
  struct sigaction dfl = { .sa_handler = SIG_DFL };
  sigset_t none;

  sigemptyset (&none);
  sigprocmask (SIG_SETMASK, &none, NULL);
  sigaction (SIGPIPE, &dfl, NULL);
  /* its own process group: a cancellation kills what it started too */
  setpgid (0, 0);
  if (setup->id != NULL && setup->id->change) {
    if (syscall (SYS_setgroups, (size_t) setup->id->n_groups, setup->id->groups) < 0)
      setup_failed ("setgroups() failed");
    if (syscall (SYS_setresgid, setup->id->gid, setup->id->gid, setup->id->gid) < 0)
      setup_failed ("setresgid() failed");
    if (syscall (SYS_setresuid, setup->id->uid, setup->id->uid, setup->id->uid) < 0)
      setup_failed ("setresuid() failed");
  }
}

static int
memfd_new (const char *name, GError **error)
{
  int fd = memfd_create (name, MFD_CLOEXEC);

  if (fd < 0)
    backup_error_set_errno (error, errno, "memfd_create");
  return fd;
}

/* A memfd for a child's output: size bytes (sparse: memory is taken only
 * as they are written), sealed so that it cannot grow; a write past the
 * end fails (EPERM).  How much was written is the file offset, which the
 * child's descriptor shares with ours. */
static int
memfd_bounded (const char *name, gsize size, GError **error)
{
  int fd = memfd_create (name, MFD_CLOEXEC | MFD_ALLOW_SEALING);

  if (fd < 0) {
    backup_error_set_errno (error, errno, "memfd_create");
    return -1;
  }
  if (ftruncate (fd, (off_t) size) < 0
      || fcntl (fd, F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0) {
    backup_error_set_errno (error, errno, "sizing a memfd");
    close (fd);
    return -1;
  }
  return fd;
}

static int
dev_null (GError **error)
{
  int fd = open ("/dev/null", O_RDWR | O_CLOEXEC);

  if (fd < 0)
    backup_error_set_errno (error, errno, "/dev/null");
  return fd;
}

static gboolean
make_pipe (int fds[2], GError **error)
{
  if (pipe2 (fds, O_CLOEXEC) < 0)
    return backup_error_set_errno (error, errno, "pipe");
  /* fewer, larger transfers; the default size where this fails */
  fcntl (fds[1], F_SETPIPE_SZ, PIPE_SIZE);
  return TRUE;
}

/* A running child. */
typedef struct {
  GPid pid; /* 0 once reaped */
  int pid_fd;
  int out_fd;    /* memfd of its stdout, or -1 */
  int err_fd;    /* memfd of its stderr */
  char *program; /* its file name, for messages */
} Child;

/* Kills a child that has not been reaped and reaps it. */
static void
child_kill (Child *child)
{
  int status;

  if (child->pid <= 0)
    return;
  kill (-child->pid, SIGKILL);
  kill (child->pid, SIGKILL);
  while (waitpid (child->pid, &status, 0) < 0 && errno == EINTR)
    ;
  child->pid = 0;
}

static void
child_clear (Child *child)
{
  child_kill (child);
  if (child->pid_fd >= 0)
    close (g_steal_fd (&child->pid_fd));
  if (child->out_fd >= 0)
    close (g_steal_fd (&child->out_fd));
  if (child->err_fd >= 0)
    close (g_steal_fd (&child->err_fd));
  g_clear_pointer (&child->program, g_free);
}

static void
child_init (Child *child)
{
  memset (child, 0, sizeof *child);
  child->pid_fd = child->out_fd = child->err_fd = -1;
}

/* Starts argv with stdin from in_fd; its stdout goes to out_fd (or, if
 * -1, to a new memfd of out_max bytes kept in child->out_fd), its stderr
 * to a new memfd of STDERR_MAX bytes. */
static gboolean
child_start (Child *child, const char *const *argv, const Identity *id, int in_fd, int out_fd,
             gsize out_max, GError **error)
{
  ChildSetup setup = { id };
  g_autoptr (GError) local = NULL;

  ignore_sigpipe ();
  child_init (child);
  child->program = g_path_get_basename (argv[0]);
  child->err_fd = memfd_bounded ("stderr", STDERR_MAX, error);
  if (child->err_fd < 0)
    return FALSE;
  if (out_fd < 0) {
    child->out_fd = memfd_bounded ("stdout", out_max, error);
    if (child->out_fd < 0)
      return FALSE;
    out_fd = child->out_fd;
  }
  if (!g_spawn_async_with_pipes_and_fds ("/", argv, child_env, G_SPAWN_DO_NOT_REAP_CHILD,
                                         child_setup, &setup, in_fd, out_fd, child->err_fd, NULL,
                                         NULL, 0, &child->pid, NULL, NULL, NULL, &local)) {
    child->pid = 0;
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s could not be started: %s", argv[0],
                 local->message);
    return FALSE;
  }
  child->pid_fd = (int) syscall (SYS_pidfd_open, child->pid, 0);
  return TRUE;
}

/* Waits for the child to exit; on cancellation kills it. */
static gboolean
child_wait (Child *child, GCancellable *cancellable, int *status, GError **error)
{
  GPollFD cancel_poll;
  gboolean have_cancel_poll
      = cancellable != NULL && g_cancellable_make_pollfd (cancellable, &cancel_poll);
  gboolean exited = FALSE;

  while (!exited) {
    GPollFD fds[2];
    guint n = 0;
    pid_t got;

    if (g_cancellable_is_cancelled (cancellable))
      break;
    got = waitpid (child->pid, status, WNOHANG);
    if (got == child->pid) {
      exited = TRUE;
      break;
    }
    if (got < 0 && errno != EINTR) {
      g_warning ("waitpid(%s): %s", child->program, g_strerror (errno));
      break;
    }
    if (child->pid_fd >= 0)
      fds[n++] = (GPollFD){ .fd = child->pid_fd, .events = G_IO_IN };
    if (have_cancel_poll)
      fds[n++] = cancel_poll;
    g_poll (fds, n, child->pid_fd >= 0 ? 1000 : 20);
  }
  if (have_cancel_poll)
    g_cancellable_release_fd (cancellable);
  if (exited) {
    child->pid = 0;
    return TRUE;
  }
  child_kill (child);
  if (!g_cancellable_set_error_if_cancelled (cancellable, error))
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "lost track of %s", child->program);
  return FALSE;
}

/* What a child wrote into a memfd_bounded() of max bytes; TOO_LARGE if
 * it filled it (it was stopped, or would have written more). */
static GBytes *
memfd_read (int fd, gsize max, GError **error)
{
  off_t end = lseek (fd, 0, SEEK_CUR);
  g_autofree char *data = NULL;
  gsize done = 0;

  if (end < 0) {
    backup_error_set_errno (error, errno, "lseek on a memfd");
    return NULL;
  }
  if ((guint64) end >= max) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_TOO_LARGE, "%" G_GSIZE_FORMAT " bytes or more",
                 max);
    return NULL;
  }
  data = g_malloc ((gsize) end + 1);
  while (done < (gsize) end) {
    ssize_t n = pread (fd, data + done, (gsize) end - done, (off_t) done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    done += (gsize) n;
  }
  data[done] = '\0';
  return g_bytes_new_take (g_steal_pointer (&data), done);
}

/* What the child said on stderr, on one line, valid UTF-8, bounded: for
 * an error message. */
static char *
child_stderr (const Child *child)
{
  /* a full stderr is read as far as it goes (the message keeps its start) */
  g_autoptr (GBytes) bytes = memfd_read (child->err_fd, STDERR_MAX + 1, NULL);
  g_autofree char *valid = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GString) text = g_string_new (NULL);
  const char *data;
  gsize size;

  if (bytes == NULL)
    return g_strdup ("");
  data = g_bytes_get_data (bytes, &size);
  valid = g_utf8_make_valid (data != NULL ? data : "", (gssize) size);
  lines = g_strsplit (valid, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++) {
    char *line = g_strstrip (lines[i]);
    if (g_str_has_prefix (line, HELPER_NAME ": "))
      line += strlen (HELPER_NAME ": ");
    if (line[0] == '\0')
      continue;
    for (char *p = line; *p != '\0'; p++)
      if ((guchar) *p < 0x20)
        *p = ' ';
    if (text->len > 0)
      g_string_append_c (text, ' ');
    g_string_append (text, line);
    if (text->len > MESSAGE_MAX)
      break;
  }
  if (text->len > MESSAGE_MAX) {
    const char *end = g_utf8_find_prev_char (text->str, text->str + MESSAGE_MAX);
    g_string_truncate (text, end != NULL ? (gsize) (end - text->str) : 0);
    g_string_append (text, "…");
  }
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* "exited with status 1: <stderr>", "was killed by signal 9" ... */
static char *
describe_status (const Child *child, int status)
{
  g_autofree char *said = child_stderr (child);
  g_autofree char *what = NULL;

  if (WIFEXITED (status))
    what = g_strdup_printf ("%s exited with status %d", child->program, WEXITSTATUS (status));
  else if (WIFSIGNALED (status))
    what = g_strdup_printf ("%s was killed by signal %d (%s)", child->program, WTERMSIG (status),
                            g_strsignal (WTERMSIG (status)));
  else
    what = g_strdup_printf ("%s ended abnormally", child->program);
  if (said[0] != '\0')
    return g_strdup_printf ("%s: %s", what, said);
  return g_steal_pointer (&what);
}

static char *
tool_path (const ConfigDatabase *db, const char *tool)
{
  return g_build_filename (db->tools_directory, tool, NULL);
}

static char *
host_arg (const ConfigDatabase *db)
{
  return g_strdup_printf ("--host=%s", db->host);
}

static char *
port_arg (const ConfigDatabase *db)
{
  return g_strdup_printf ("--port=%u", db->port);
}

/* --- the helper ----------------------------------------------------- */

typedef struct {
  char *key;
  char *value;
} Pair;

static void
pair_free (Pair *pair)
{
  g_free (pair->key);
  g_free (pair->value);
  g_free (pair);
}

/* The helper's escaping (pg-helper.c), for stdin. */
static void
escape_into (GString *out, const char *value)
{
  for (const guchar *p = (const guchar *) value; *p != '\0'; p++) {
    if (*p >= 0x20 && *p < 0x7f && *p != '\\')
      g_string_append_c (out, (char) *p);
    else
      g_string_append_printf (out, "\\x%02x", *p);
  }
}

static char *
unescape_value (const char *text, gsize len)
{
  g_autoptr (GString) out = g_string_sized_new (len);

  for (gsize i = 0; i < len; i++) {
    int hi, lo;

    if (text[i] != '\\') {
      if ((guchar) text[i] < 0x20 || (guchar) text[i] >= 0x7f)
        return NULL;
      g_string_append_c (out, text[i]);
      continue;
    }
    if (i + 3 >= len || text[i + 1] != 'x' || (hi = g_ascii_xdigit_value (text[i + 2])) < 0
        || (lo = g_ascii_xdigit_value (text[i + 3])) < 0 || hi * 16 + lo == 0)
      return NULL;
    g_string_append_c (out, (char) (hi * 16 + lo));
    i += 3;
  }
  return g_string_free (g_steal_pointer (&out), FALSE);
}

/* Parses "key=value" lines strictly: every line ends in a newline, keys
 * are lower-case letters and '_', values are escaped. */
static GPtrArray *
parse_answer (GBytes *bytes, GError **error)
{
  g_autoptr (GPtrArray) pairs = g_ptr_array_new_with_free_func ((GDestroyNotify) pair_free);
  gsize size;
  const char *data = g_bytes_get_data (bytes, &size);
  gsize pos = 0;

  while (pos < size) {
    const char *line = data + pos;
    const char *end = memchr (line, '\n', size - pos);
    const char *eq;
    gsize key_len;
    Pair *pair;

    if (end == NULL)
      goto bad;
    eq = memchr (line, '=', (gsize) (end - line));
    if (eq == NULL || eq == line)
      goto bad;
    key_len = (gsize) (eq - line);
    for (gsize i = 0; i < key_len; i++)
      if (!(g_ascii_islower (line[i]) || line[i] == '_'))
        goto bad;
    pair = g_new0 (Pair, 1);
    pair->key = g_strndup (line, key_len);
    pair->value = unescape_value (eq + 1, (gsize) (end - eq - 1));
    g_ptr_array_add (pairs, pair);
    if (pair->value == NULL)
      goto bad;
    pos = (gsize) (end - data) + 1;
  }
  return g_steal_pointer (&pairs);

bad:
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s gave an answer it should not give",
               HELPER_NAME);
  return NULL;
}

/* Runs the helper as RunAs with args after --host and --port; input (or
 * NULL) is its stdin. */
static GPtrArray *
run_helper (const ConfigDatabase *db, const char *const *args, const char *input,
            GCancellable *cancellable, GError **error)
{
  g_auto (Identity) id = { 0 };
  g_autofree char *helper = helper_path ();
  g_autofree char *host = host_arg (db);
  g_autofree char *port = port_arg (db);
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  g_autoptr (GBytes) answer = NULL;
  g_autoptr (GError) local = NULL;
  g_auto (AutoFd) in_fd = -1;
  Child child;
  int status = 0;
  GPtrArray *pairs = NULL;

  if (!identity_run_as (db, &id, error))
    return NULL;
  if (input != NULL) {
    gsize len = strlen (input);
    in_fd = memfd_new ("stdin", error);
    if (in_fd < 0)
      return NULL;
    if (write (in_fd, input, len) != (ssize_t) len || lseek (in_fd, 0, SEEK_SET) != 0) {
      backup_error_set_errno (error, errno, "writing the helper's input");
      return NULL;
    }
  } else {
    in_fd = dev_null (error);
    if (in_fd < 0)
      return NULL;
  }
  g_ptr_array_add (argv, helper);
  g_ptr_array_add (argv, host);
  g_ptr_array_add (argv, port);
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);

  if (!child_start (&child, (const char *const *) argv->pdata, &id, in_fd, -1, ANSWER_MAX, error)) {
    child_clear (&child);
    return NULL;
  }
  if (!child_wait (&child, cancellable, &status, error)) {
    child_clear (&child);
    return NULL;
  }
  if (WIFEXITED (status) && WEXITSTATUS (status) == HELPER_UNREACHABLE) {
    g_autofree char *said = child_stderr (&child);
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "cannot reach the PostgreSQL server (host %s, port %u): %s", db->host, db->port,
                 said);
  } else if (WIFEXITED (status) && WEXITSTATUS (status) == HELPER_OTHER_OID) {
    g_autofree char *said = child_stderr (&child);
    g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, said);
  } else if (!WIFEXITED (status) || WEXITSTATUS (status) != 0) {
    g_autofree char *why = describe_status (&child, status);
    g_set_error_literal (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, why);
  } else if ((answer = memfd_read (child.out_fd, ANSWER_MAX, &local)) == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s's answer: %s", HELPER_NAME,
                 local->message);
  } else {
    pairs = parse_answer (answer, error);
  }
  child_clear (&child);
  return pairs;
}

/* Prefixes an error with "database NAME: ". */
static gboolean
database_error (GError **error, const char *name, GError *local)
{
  g_set_error (error, BACKUP_ERROR,
               local->domain == BACKUP_ERROR ? local->code : BACKUP_ERROR_FAILED, "database %s: %s",
               name, local->message);
  g_error_free (local);
  return FALSE;
}

/* Every pair's key must be one of keys; single keys at most once. */
static const char *
answer_get (GPtrArray *pairs, const char *key)
{
  for (guint i = 0; i < pairs->len; i++) {
    const Pair *pair = pairs->pdata[i];
    if (g_str_equal (pair->key, key))
      return pair->value;
  }
  return NULL;
}

static gboolean
answer_check_keys (GPtrArray *pairs, const char *const *single, const char *const *multiple,
                   GError **error)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < pairs->len; i++) {
    const Pair *pair = pairs->pdata[i];
    if (single != NULL && g_strv_contains (single, pair->key)) {
      if (!g_hash_table_add (seen, pair->key))
        goto bad;
    } else if (multiple == NULL || !g_strv_contains (multiple, pair->key)) {
      goto bad;
    }
  }
  return TRUE;

bad:
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s gave an answer it should not give",
               HELPER_NAME);
  return FALSE;
}

static gboolean
parse_uint64 (const char *text, guint64 max, guint64 *out)
{
  return text != NULL && text[0] != '\0' && strspn (text, "0123456789") == strlen (text)
         && strlen (text) <= 20 && g_ascii_string_to_unsigned (text, 10, 0, max, out, NULL);
}

static gboolean
parse_flag (const char *text, gboolean *out)
{
  if (g_strcmp0 (text, "1") == 0 || g_strcmp0 (text, "0") == 0) {
    *out = text[0] == '1';
    return TRUE;
  }
  return FALSE;
}

static gboolean
bad_answer (GError **error)
{
  g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "%s gave an answer it should not give",
               HELPER_NAME);
  return FALSE;
}

/* A name from the server as a value we keep: valid UTF-8. */
static char *
server_text (const char *value)
{
  return g_utf8_make_valid (value, -1);
}

/* --- the calls ------------------------------------------------------ */

void
pgdb_info_clear (PgdbInfo *info)
{
  g_clear_pointer (&info->owner, g_free);
  g_clear_pointer (&info->encoding, g_free);
  g_clear_pointer (&info->collate, g_free);
  g_clear_pointer (&info->ctype, g_free);
  g_clear_pointer (&info->data_directory, g_free);
  memset (info, 0, sizeof *info);
}

static gboolean
info_from_answer (GPtrArray *pairs, PgdbInfo *info, GError **error)
{
  static const char *const keys[]
      = { "exists",          "oid",      "owner",          "owner_superuser",
          "owner_can_login", "encoding", "collate",        "ctype",
          "sessions",        "size",     "data_directory", NULL };
  const char *dir;
  guint64 oid, sessions;

  if (!answer_check_keys (pairs, keys, NULL, error)
      || !parse_flag (answer_get (pairs, "exists"), &info->exists))
    return bad_answer (error);
  dir = answer_get (pairs, "data_directory");
  if (dir != NULL)
    info->data_directory = g_strdup (dir);
  if (!info->exists)
    return pairs->len == (dir != NULL ? 2 : 1) ? TRUE : bad_answer (error);
  if (!parse_uint64 (answer_get (pairs, "oid"), G_MAXUINT32, &oid) || oid == 0
      || answer_get (pairs, "owner") == NULL
      || !parse_flag (answer_get (pairs, "owner_superuser"), &info->owner_superuser)
      || !parse_flag (answer_get (pairs, "owner_can_login"), &info->owner_can_login)
      || answer_get (pairs, "encoding") == NULL || answer_get (pairs, "collate") == NULL
      || answer_get (pairs, "ctype") == NULL
      || !parse_uint64 (answer_get (pairs, "sessions"), G_MAXUINT, &sessions)
      || !parse_uint64 (answer_get (pairs, "size"), G_MAXUINT64, &info->size))
    return bad_answer (error);
  info->oid = (guint32) oid;
  info->sessions = (guint) sessions;
  info->owner = server_text (answer_get (pairs, "owner"));
  info->encoding = server_text (answer_get (pairs, "encoding"));
  info->collate = server_text (answer_get (pairs, "collate"));
  info->ctype = server_text (answer_get (pairs, "ctype"));
  return TRUE;
}

gboolean
pgdb_info (const ConfigDatabase *db, const char *name, PgdbInfo *info, GCancellable *cancellable,
           GError **error)
{
  const char *args[] = { "info", name, NULL };
  g_autoptr (GPtrArray) pairs = NULL;
  GError *local = NULL;

  memset (info, 0, sizeof *info);
  if (!check_name (name, error))
    return FALSE;
  pairs = run_helper (db, args, NULL, cancellable, &local);
  if (pairs == NULL || !info_from_answer (pairs, info, &local)) {
    pgdb_info_clear (info);
    return database_error (error, name, local);
  }
  return TRUE;
}

/* The answer "oid=N" (N may be 0 when zero_ok). */
static gboolean
oid_from_answer (GPtrArray *pairs, gboolean zero_ok, guint32 *oid, GError **error)
{
  static const char *const keys[] = { "oid", NULL };
  guint64 value;

  if (!answer_check_keys (pairs, keys, NULL, error))
    return FALSE;
  if (!parse_uint64 (answer_get (pairs, "oid"), G_MAXUINT32, &value) || (value == 0 && !zero_ok))
    return bad_answer (error);
  *oid = (guint32) value;
  return TRUE;
}

gboolean
pgdb_oid (const ConfigDatabase *db, const char *name, guint32 *oid, GCancellable *cancellable,
          GError **error)
{
  const char *args[] = { "oid", name, NULL };
  g_autoptr (GPtrArray) pairs = NULL;
  GError *local = NULL;

  *oid = 0;
  if (!check_name (name, error))
    return FALSE;
  pairs = run_helper (db, args, NULL, cancellable, &local);
  if (pairs == NULL || !oid_from_answer (pairs, TRUE, oid, &local))
    return database_error (error, name, local);
  return TRUE;
}

/* A helper command that answers the oid of the database it made or
 * renamed; errors name subject. */
static gboolean
run_ddl (const ConfigDatabase *db, const char *const *args, const char *subject,
         GCancellable *cancellable, GError **error)
{
  g_autoptr (GPtrArray) pairs = NULL;
  GError *local = NULL;
  guint32 oid;

  if (!check_name (args[1], error) || !check_name (args[2], error))
    return FALSE;
  pairs = run_helper (db, args, NULL, cancellable, &local);
  if (pairs == NULL || !oid_from_answer (pairs, FALSE, &oid, &local))
    return database_error (error, subject, local);
  return TRUE;
}

gboolean
pgdb_create_like (const ConfigDatabase *db, const char *like, const char *name,
                  GCancellable *cancellable, GError **error)
{
  const char *args[] = { "create-like", like, name, NULL };

  return run_ddl (db, args, name, cancellable, error);
}

gboolean
pgdb_rename (const ConfigDatabase *db, const char *from, const char *to, GCancellable *cancellable,
             GError **error)
{
  const char *args[] = { "rename", from, to, NULL };

  return run_ddl (db, args, from, cancellable, error);
}

gboolean
pgdb_drop (const ConfigDatabase *db, const char *name, guint32 expected_oid,
           GCancellable *cancellable, GError **error)
{
  static const char *const keys[] = { "dropped", NULL };
  g_autofree char *oid_text = g_strdup_printf ("%" G_GUINT32_FORMAT, expected_oid);
  const char *args[] = { "drop", name, expected_oid != 0 ? oid_text : NULL, NULL };
  g_autoptr (GPtrArray) pairs = NULL;
  GError *local = NULL;
  gboolean dropped;

  if (!check_name (name, error))
    return FALSE;
  pairs = run_helper (db, args, NULL, cancellable, &local);
  if (pairs == NULL || !answer_check_keys (pairs, keys, NULL, &local))
    return database_error (error, name, local);
  if (!parse_flag (answer_get (pairs, "dropped"), &dropped)) {
    bad_answer (&local);
    return database_error (error, name, local);
  }
  return TRUE;
}

/* The role a dump is loaded as: it must exist, log in, and not be (or be
 * able to become) a superuser. */
static gboolean
check_load_role (const ConfigDatabase *db, const char *owner, GError **error)
{
  static const char *const keys[] = { "exists", "superuser", "can_login", NULL };
  const char *args[] = { "role", owner, NULL };
  g_autoptr (GPtrArray) pairs = run_helper (db, args, NULL, NULL, error);
  g_autofree char *shown = g_utf8_make_valid (owner, -1);
  gboolean exists, superuser = FALSE, can_login = FALSE;

  if (pairs == NULL)
    return FALSE;
  if (!answer_check_keys (pairs, keys, NULL, error)
      || !parse_flag (answer_get (pairs, "exists"), &exists)
      || (exists
          && (!parse_flag (answer_get (pairs, "superuser"), &superuser)
              || !parse_flag (answer_get (pairs, "can_login"), &can_login))))
    return bad_answer (error);
  if (!exists) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "there is no role %s to load as", shown);
    return FALSE;
  }
  if (superuser) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED,
                 "the role %s is or can become a superuser: a backup's dump is never loaded as "
                 "one",
                 shown);
    return FALSE;
  }
  if (!can_login) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "the role %s cannot log in", shown);
    return FALSE;
  }
  return TRUE;
}

static gboolean
check_role_name (const char *owner, GError **error)
{
  gsize len = owner != NULL ? strlen (owner) : 0;

  if (len == 0 || len > 63) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "not a role name");
    return FALSE;
  }
  for (gsize i = 0; i < len; i++)
    if ((guchar) owner[i] < 0x20 || owner[i] == 0x7f) {
      g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "not a role name");
      return FALSE;
    }
  return TRUE;
}

struct _PgdbLoad {
  Child child;
  char *name;
};

static void
load_free (PgdbLoad *load)
{
  child_clear (&load->child);
  g_free (load->name);
  g_free (load);
}

PgdbLoad *
pgdb_load_start (const ConfigDatabase *db, const char *name, const char *owner, int *input_fd,
                 GError **error)
{
  g_auto (Identity) id = { 0 };
  g_autofree char *pg_restore = tool_path (db, "pg_restore");
  g_autofree char *host = host_arg (db);
  g_autofree char *port = port_arg (db);
  g_autofree char *user = NULL;
  g_autofree char *dbname = NULL;
  g_auto (AutoFd) null_fd = -1;
  g_auto (AutoFd) read_end = -1;
  g_auto (AutoFd) write_end = -1;
  GError *local = NULL;
  PgdbLoad *load;
  int fds[2];

  *input_fd = -1;
  if (!check_name (name, error))
    return NULL;
  if (!check_role_name (owner, &local) || !check_load_role (db, owner, &local)
      || !identity_for (db->load_as != NULL ? db->load_as : owner,
                        db->load_as != NULL ? "[Database] LoadAs" : "named like the owner role",
                        &id, &local)) {
    database_error (error, name, local);
    return NULL;
  }
  user = g_strdup_printf ("--username=%s", owner);
  dbname = g_strdup_printf ("--dbname=%s", name);
  null_fd = dev_null (error);
  if (null_fd < 0 || !make_pipe (fds, error))
    return NULL;
  read_end = fds[0];
  write_end = fds[1];

  {
    const char *argv[] = { pg_restore,
                           "--exit-on-error",
                           "--no-owner",
                           "--no-tablespaces",
                           "--no-password",
                           host,
                           port,
                           user,
                           dbname,
                           NULL };
    load = g_new0 (PgdbLoad, 1);
    load->name = g_strdup (name);
    if (!child_start (&load->child, argv, &id, read_end, null_fd, STDERR_MAX, &local)) {
      load_free (load);
      database_error (error, name, local);
      return NULL;
    }
  }
  *input_fd = g_steal_fd (&write_end);
  return load;
}

gboolean
pgdb_load_finish (PgdbLoad *load, GCancellable *cancellable, GError **error)
{
  int status = 0;
  GError *local = NULL;
  gboolean ok;

  ok = child_wait (&load->child, cancellable, &status, &local);
  if (ok && !(WIFEXITED (status) && WEXITSTATUS (status) == 0)) {
    g_autofree char *why = describe_status (&load->child, status);
    local = g_error_new (BACKUP_ERROR, BACKUP_ERROR_FAILED, "loading the dump failed: %s", why);
    ok = FALSE;
  }
  if (!ok)
    database_error (error, load->name, local);
  load_free (load);
  return ok;
}

void
pgdb_load_abort (PgdbLoad *load)
{
  if (load != NULL)
    load_free (load);
}

gboolean
pgdb_dump (const ConfigDatabase *db, const char *name, int out_fd, guint64 *size,
           guint8 digest[SAR_SHA256_SIZE], GCancellable *cancellable, GError **error)
{
  g_auto (Identity) id = { 0 };
  g_autofree char *pg_dump = tool_path (db, "pg_dump");
  g_autofree char *host = host_arg (db);
  g_autofree char *port = port_arg (db);
  g_autofree char *dbname = NULL;
  g_autofree guint8 *buffer = NULL;
  g_auto (AutoFd) null_fd = -1;
  g_auto (AutoFd) read_end = -1;
  g_auto (AutoFd) write_end = -1;
  GPollFD cancel_poll;
  gboolean have_cancel_poll = FALSE;
  GError *local = NULL;
  SarSha256 sha;
  guint64 total = 0;
  Child child;
  int fds[2];
  int status = 0;
  gboolean ok = FALSE;

  *size = 0;
  if (!check_name (name, error))
    return FALSE;
  if (!identity_run_as (db, &id, &local))
    return database_error (error, name, local);
  null_fd = dev_null (error);
  if (null_fd < 0 || !make_pipe (fds, error))
    return FALSE;
  read_end = fds[0];
  write_end = fds[1];
  dbname = g_strdup_printf ("--dbname=%s", name);
  {
    const char *argv[]
        = { pg_dump, "--format=custom", "--compress=0", "--no-password", host, port, dbname, NULL };
    if (!child_start (&child, argv, &id, null_fd, write_end, STDERR_MAX, &local)) {
      child_clear (&child);
      return database_error (error, name, local);
    }
  }
  close (g_steal_fd (&write_end));

  sar_sha256_init (&sha);
  buffer = g_malloc (COPY_BUFFER);
  have_cancel_poll = cancellable != NULL && g_cancellable_make_pollfd (cancellable, &cancel_poll);
  for (;;) {
    GPollFD fds_poll[2] = { { .fd = read_end, .events = G_IO_IN } };
    guint n_poll = 1;
    ssize_t n;

    if (g_cancellable_set_error_if_cancelled (cancellable, &local))
      break;
    if (have_cancel_poll)
      fds_poll[n_poll++] = cancel_poll;
    if (g_poll (fds_poll, n_poll, -1) < 0 && errno != EINTR) {
      backup_error_set_errno (&local, errno, "poll");
      break;
    }
    if (fds_poll[0].revents == 0)
      continue;
    n = read (read_end, buffer, COPY_BUFFER);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
      continue;
    if (n < 0) {
      backup_error_set_errno (&local, errno, "reading from pg_dump");
      break;
    }
    if (n == 0) {
      ok = TRUE;
      break;
    }
    sar_sha256_update (&sha, buffer, (gsize) n);
    if (!fd_write_all (out_fd, buffer, (gsize) n)) {
      backup_error_set_errno (&local, errno, "writing the dump");
      break;
    }
    total += (guint64) n;
  }
  if (have_cancel_poll)
    g_cancellable_release_fd (cancellable);
  close (g_steal_fd (&read_end));
  if (!ok) {
    child_clear (&child);
    return database_error (error, name, local);
  }
  if (!child_wait (&child, cancellable, &status, &local)) {
    child_clear (&child);
    return database_error (error, name, local);
  }
  if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0)) {
    g_autofree char *why = describe_status (&child, status);
    child_clear (&child);
    local = g_error_new (BACKUP_ERROR, BACKUP_ERROR_FAILED, "dumping failed: %s", why);
    return database_error (error, name, local);
  }
  child_clear (&child);
  sar_sha256_digest (&sha, digest);
  *size = total;
  return TRUE;
}

/* --- checking a dump ------------------------------------------------ */

struct _PgdbCheck {
  Child child;
  ConfigDatabase db; /* a copy: the caller's may go before the check */
};

static void
check_free (PgdbCheck *check)
{
  child_clear (&check->child);
  g_free (check->db.host);
  g_free (check->db.run_as);
  g_free (check->db.load_as);
  g_free (check->db.tools_directory);
  g_free (check);
}

PgdbCheck *
pgdb_check_start (const ConfigDatabase *db, int *input_fd, GError **error)
{
  g_auto (Identity) id = { 0 };
  g_autofree char *pg_restore = tool_path (db, "pg_restore");
  g_auto (AutoFd) read_end = -1;
  g_auto (AutoFd) write_end = -1;
  PgdbCheck *check;
  int fds[2];

  *input_fd = -1;
  if (!identity_run_as (db, &id, error) || !make_pipe (fds, error))
    return NULL;
  read_end = fds[0];
  write_end = fds[1];
  {
    /* the script the load would run, without its data */
    const char *argv[]
        = { pg_restore, "--schema-only", "--no-owner", "--no-tablespaces", "--file=-", NULL };
    check = g_new0 (PgdbCheck, 1);
    check->db = *db;
    check->db.host = g_strdup (db->host);
    check->db.run_as = g_strdup (db->run_as);
    check->db.load_as = g_strdup (db->load_as);
    check->db.tools_directory = g_strdup (db->tools_directory);
    if (!child_start (&check->child, argv, &id, read_end, -1, SCRIPT_MAX, error)) {
      check_free (check);
      return NULL;
    }
  }
  *input_fd = g_steal_fd (&write_end);
  return check;
}

void
pgdb_check_abort (PgdbCheck *check)
{
  if (check != NULL)
    check_free (check);
}

static void
add_problem (GPtrArray *problems, const char *code, const char *detail)
{
  PgdbProblem *problem;

  for (guint i = 0; i < problems->len; i++) {
    const PgdbProblem *p = problems->pdata[i];
    if (g_str_equal (p->code, code) && g_str_equal (p->detail, detail))
      return;
  }
  problem = g_new0 (PgdbProblem, 1);
  problem->code = g_strdup (code);
  problem->detail = g_utf8_make_valid (detail, -1);
  g_ptr_array_add (problems, problem);
}

/* The values of key in a helper's answer, as a set. */
static GHashTable *
answer_set (GPtrArray *pairs, const char *key)
{
  GHashTable *set = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < pairs->len; i++) {
    const Pair *pair = pairs->pdata[i];
    if (g_str_equal (pair->key, key))
      g_hash_table_add (set, pair->value);
  }
  return set;
}

static gboolean
has_items (const GPtrArray *array)
{
  return array != NULL && array->len > 0;
}

/* Names that are no role of their own in GRANT and the like. */
static gboolean
is_pseudo_role (const char *role)
{
  static const char *const pseudo[]
      = { "public", "current_user", "session_user", "current_role", NULL };
  return g_strv_contains (pseudo, role);
}

gboolean
pgdb_check_scan (const ConfigDatabase *db, const char *live, const PgdbScan *scan,
                 GPtrArray *problems, GCancellable *cancellable, GError **error)
{
  GError *local = NULL;

  if (!check_name (live, error))
    return FALSE;
  for (guint i = 0; scan->superuser != NULL && i < scan->superuser->len; i++)
    add_problem (problems, "database-dump-superuser", scan->superuser->pdata[i]);

  if (has_items (scan->roles)) {
    const char *args[] = { "roles", NULL };
    g_autoptr (GString) input = g_string_new (NULL);
    g_autoptr (GPtrArray) pairs = NULL;
    g_autoptr (GHashTable) exist = NULL;
    g_autoptr (GHashTable) asked = g_hash_table_new (g_str_hash, g_str_equal);

    for (guint i = 0; i < scan->roles->len; i++) {
      const char *role = scan->roles->pdata[i];
      if (is_pseudo_role (role) || role[0] == '\0' || !g_hash_table_add (asked, (char *) role))
        continue;
      escape_into (input, role);
      g_string_append_c (input, '\n');
    }
    if (g_hash_table_size (asked) > 0) {
      static const char *const keys[] = { "exists", NULL };
      pairs = run_helper (db, args, input->str, cancellable, &local);
      if (pairs == NULL || !answer_check_keys (pairs, NULL, keys, &local))
        return database_error (error, live, local);
      exist = answer_set (pairs, "exists");
      for (guint i = 0; i < scan->roles->len; i++) {
        const char *role = scan->roles->pdata[i];
        if (g_hash_table_contains (asked, role) && !g_hash_table_contains (exist, role))
          add_problem (problems, "database-role-missing", role);
      }
    }
  }

  if (has_items (scan->extensions)) {
    static const char *const keys[] = { "installed", "creatable", NULL };
    const char *args[] = { "extensions", live, NULL };
    g_autoptr (GPtrArray) pairs = run_helper (db, args, NULL, cancellable, &local);
    g_autoptr (GHashTable) installed = NULL;
    g_autoptr (GHashTable) creatable = NULL;

    if (pairs == NULL || !answer_check_keys (pairs, NULL, keys, &local))
      return database_error (error, live, local);
    installed = answer_set (pairs, "installed");
    creatable = answer_set (pairs, "creatable");
    for (guint i = 0; i < scan->extensions->len; i++) {
      const char *extension = scan->extensions->pdata[i];
      if (!g_hash_table_contains (installed, extension)) {
        add_problem (problems, "database-extension-missing", extension);
      } else if (!g_hash_table_contains (creatable, extension)) {
        g_autofree char *detail
            = g_strdup_printf ("CREATE EXTENSION %s (not a trusted extension)", extension);
        add_problem (problems, "database-dump-superuser", detail);
      }
    }
  }

  if (has_items (scan->languages)) {
    static const char *const keys[] = { "trusted", NULL };
    const char *args[] = { "languages", live, NULL };
    g_autoptr (GPtrArray) pairs = run_helper (db, args, NULL, cancellable, &local);
    g_autoptr (GHashTable) trusted = NULL;

    if (pairs == NULL || !answer_check_keys (pairs, NULL, keys, &local))
      return database_error (error, live, local);
    trusted = answer_set (pairs, "trusted");
    for (guint i = 0; i < scan->languages->len; i++) {
      const char *language = scan->languages->pdata[i];
      if (!g_hash_table_contains (trusted, language)) {
        g_autofree char *detail
            = g_strdup_printf ("functions in the language %s (not trusted)", language);
        add_problem (problems, "database-dump-superuser", detail);
      }
    }
  }
  return TRUE;
}

gboolean
pgdb_check_finish (PgdbCheck *check, const char *live, GPtrArray *problems,
                   GCancellable *cancellable, GError **error)
{
  g_auto (PgdbScan) scan = { 0 };
  g_autoptr (GBytes) script = NULL;
  GError *local = NULL;
  int status = 0;
  gboolean ok = FALSE;

  if (!child_wait (&check->child, cancellable, &status, &local)) {
    g_propagate_error (error, local);
  } else if (lseek (check->child.out_fd, 0, SEEK_CUR) >= SCRIPT_MAX) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP,
                 "the database dump's schema is larger than %d MiB", SCRIPT_MAX >> 20);
  } else if (!(WIFEXITED (status) && WEXITSTATUS (status) == 0)) {
    g_autofree char *why = describe_status (&check->child, status);
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_INVALID_BACKUP,
                 "the database dump cannot be read: %s", why);
  } else if ((script = memfd_read (check->child.out_fd, SCRIPT_MAX, &local)) == NULL) {
    g_set_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED, "the database dump's schema: %s",
                 local->message);
    g_error_free (local);
  } else {
    gsize length;
    const char *text = g_bytes_get_data (script, &length);

    pgdb_scan_script (text != NULL ? text : "", length, &scan);
    ok = pgdb_check_scan (&check->db, live, &scan, problems, cancellable, error);
  }
  check_free (check);
  return ok;
}
