/* Unit tests of the restore journal: every field written and read back,
 * a second journal refused, and journals that are damaged or name places
 * outside their directory refused when read. */
#include "errors.h"
#include "journal.h"
#include "sandbox.h"

#include <string.h>
#include <unistd.h>

/* A journal in every state, with a files-only and a database component. */
static Journal *
full_journal (JournalState state)
{
  Journal *journal = journal_new ("b1.sar", "9.0.1");
  JournalComponent *c;

  journal->state = state;
  journal->pre_restore = g_strdup ("pre-restore_20261120T020000Z.sar");
  journal->pbx_stopped = TRUE;
  c = journal_add_component (journal, "core", "core", "data", ".sf-staging-core");
  c->old_ino = G_GUINT64_CONSTANT (18446744073709551615);
  c->new_ino = 42;
  c->database = g_strdup ("asterisk");
  c->db_old_oid = G_MAXUINT32;
  c->db_new_oid = 16384;
  c = journal_add_component (journal, "cdr-voicemail", ".", "voicemail",
                             ".sf-staging-cdr-voicemail");
  c->old_ino = 7;
  return journal;
}

static void
assert_same_journal (const Journal *a, const Journal *b)
{
  g_assert_cmpint (a->state, ==, b->state);
  g_assert_cmpstr (a->backup, ==, b->backup);
  g_assert_cmpstr (a->installed_version, ==, b->installed_version);
  g_assert_cmpstr (a->pre_restore, ==, b->pre_restore);
  g_assert_cmpint (a->pbx_stopped, ==, b->pbx_stopped);
  g_assert_cmpuint (a->components->len, ==, b->components->len);
  for (guint i = 0; i < a->components->len; i++) {
    const JournalComponent *x = a->components->pdata[i];
    const JournalComponent *y = b->components->pdata[i];

    g_assert_cmpstr (x->id, ==, y->id);
    g_assert_cmpstr (x->parent, ==, y->parent);
    g_assert_cmpstr (x->live, ==, y->live);
    g_assert_cmpstr (x->staging, ==, y->staging);
    g_assert_cmpuint (x->old_ino, ==, y->old_ino);
    g_assert_cmpuint (x->new_ino, ==, y->new_ino);
    g_assert_cmpstr (x->database, ==, y->database);
    g_assert_cmpuint (x->db_old_oid, ==, y->db_old_oid);
    g_assert_cmpuint (x->db_new_oid, ==, y->db_new_oid);
  }
}

static void
test_round_trip (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  static const JournalState states[]
      = { JOURNAL_EXTRACTING, JOURNAL_SWAPPING, JOURNAL_SWAPPED, JOURNAL_COMMITTED, JOURNAL_SAVED };

  for (guint s = 0; s < G_N_ELEMENTS (states); s++) {
    g_autoptr (Journal) written = full_journal (states[s]);
    g_autoptr (Journal) read = NULL;

    g_assert_true (journal_write (sandbox->root_fd, written, &error));
    g_assert_no_error (error);
    g_assert_true (journal_read (sandbox->root_fd, &read, &error));
    g_assert_no_error (error);
    g_assert_nonnull (read);
    assert_same_journal (written, read);
  }

  /* no undo chosen, PBX not stopped, no database: read back as such */
  {
    g_autoptr (Journal) written = journal_new ("b2.sar", "8.1");
    g_autoptr (Journal) read = NULL;

    journal_add_component (written, "core", ".", "core", ".sf-staging-core");
    g_assert_true (journal_write (sandbox->root_fd, written, &error));
    g_assert_true (journal_read (sandbox->root_fd, &read, &error));
    g_assert_no_error (error);
    assert_same_journal (written, read);
    g_assert_null (read->pre_restore);
    g_assert_null (((JournalComponent *) read->components->pdata[0])->database);
  }
  /* only the journal is left in the directory: no temporary */
  sandbox_assert_outside_untouched (sandbox, "outside");
  g_assert_true (faccessat (sandbox->root_fd, JOURNAL_FILE, F_OK, 0) == 0);
  g_assert_false (faccessat (sandbox->root_fd, JOURNAL_FILE ".new", F_OK, 0) == 0);
}

static void
test_create_refuses_a_second_journal (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (Journal) first = full_journal (JOURNAL_SWAPPED);
  g_autoptr (Journal) second = journal_new ("other.sar", "9.0.2");
  g_autoptr (Journal) read = NULL;

  g_assert_true (journal_create (sandbox->root_fd, first, &error));
  g_assert_no_error (error);
  g_assert_false (journal_create (sandbox->root_fd, second, &error));
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_BUSY);
  g_assert_nonnull (strstr (error->message, JOURNAL_FILE));
  g_clear_error (&error);

  /* the first journal is as it was, and no temporary is left */
  g_assert_true (journal_read (sandbox->root_fd, &read, &error));
  g_assert_no_error (error);
  assert_same_journal (first, read);
  sandbox_assert_outside_untouched (sandbox, "outside");
  g_assert_false (faccessat (sandbox->root_fd, JOURNAL_FILE ".new", F_OK, 0) == 0);

  /* journal_write replaces it */
  g_assert_true (journal_write (sandbox->root_fd, second, &error));
  g_clear_pointer (&read, journal_free);
  g_assert_true (journal_read (sandbox->root_fd, &read, &error));
  assert_same_journal (second, read);
}

static void
test_none_and_remove (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (Journal) written = full_journal (JOURNAL_EXTRACTING);
  Journal *read = written; /* must be set to NULL */

  g_assert_true (journal_read (sandbox->root_fd, &read, &error));
  g_assert_no_error (error);
  g_assert_null (read);

  /* removing none is fine */
  g_assert_true (journal_remove (sandbox->root_fd, &error));
  g_assert_no_error (error);

  g_assert_true (journal_create (sandbox->root_fd, written, &error));
  g_assert_true (journal_remove (sandbox->root_fd, &error));
  g_assert_no_error (error);
  g_assert_true (journal_read (sandbox->root_fd, &read, &error));
  g_assert_null (read);
  sandbox_assert_outside_untouched (sandbox, "outside");
  /* and a new one may be created */
  g_assert_true (journal_create (sandbox->root_fd, written, &error));
  g_assert_no_error (error);
}

static const char good_restore[] = "[Restore]\n"
                                   "State=swapping\n"
                                   "Backup=b1.sar\n"
                                   "InstalledVersion=9.0.1\n"
                                   "PbxStopped=true\n";

/* The journal text is refused with a damaged-journal error naming what. */
static void
assert_damaged (const char *text, const char *what)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  Journal *read = (Journal *) 1;

  sandbox_write (sandbox->root_fd, JOURNAL_FILE, text);
  g_assert_false (journal_read (sandbox->root_fd, &read, &error));
  g_assert_null (read);
  g_assert_error (error, BACKUP_ERROR, BACKUP_ERROR_FAILED);
  g_assert_nonnull (strstr (error->message, "damaged"));
  if (strstr (error->message, what) == NULL)
    g_error ("\"%s\" does not name %s", error->message, what);
}

/* good_restore and one component group with these lines. */
static void
assert_component_damaged (const char *lines)
{
  g_autofree char *text = g_strconcat (good_restore, "[Component core]\n", lines, NULL);

  assert_damaged (text, "Component core");
}

static void
test_damaged (void)
{
  assert_damaged ("this is not a key file\n\x01\x02", "damaged");
  assert_damaged ("", "[Restore] is incomplete");
  assert_damaged ("[Restore]\nState=swapping\nBackup=b1.sar\n", "[Restore] is incomplete");
  assert_damaged ("[Restore]\nBackup=b1.sar\nInstalledVersion=9\n", "[Restore] is incomplete");
  assert_damaged ("[Restore]\nState=committed\nBackup=b1.sar\nInstalledVersion=9\n",
                  "unknown state");
  assert_damaged ("[Restore]\nState=\nBackup=b1.sar\nInstalledVersion=9\n", "unknown state");
  {
    g_autofree char *text = g_strconcat (good_restore, "PreRestore=../b.sar\n", NULL);
    assert_damaged (text, "PreRestore");
  }

  /* a component without a place, or one outside its directory */
  assert_component_damaged ("Live=core\nStaging=.sf-staging-core\n");
  assert_component_damaged ("Parent=.\nStaging=.sf-staging-core\n");
  assert_component_damaged ("Parent=.\nLive=core\n");
  assert_component_damaged ("Parent=../x\nLive=core\nStaging=s\n");
  assert_component_damaged ("Parent=/etc\nLive=core\nStaging=s\n");
  assert_component_damaged ("Parent=a/../../x\nLive=core\nStaging=s\n");
  assert_component_damaged ("Parent=.\nLive=../x\nStaging=s\n");
  assert_component_damaged ("Parent=.\nLive=a/b\nStaging=s\n");
  assert_component_damaged ("Parent=.\nLive=..\nStaging=s\n");
  assert_component_damaged ("Parent=.\nLive=.\nStaging=s\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=a/b\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=../x\n");

  /* a database name the configuration could not give, or an oid over 32 bits */
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nDatabase=Asterisk\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nDatabase=a;drop\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nDatabase=asterisk__sf_previous\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nDatabase=\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nDatabase=asterisk\n"
                            "OldDatabaseOid=4294967296\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nDatabase=asterisk\n"
                            "NewDatabaseOid=18446744073709551615\n");

  /* a number that is not one would read as 0, "not yet known", and skip
   * the checks that inode and oid numbers make */
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nOldInode=abc\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nNewInode=-1\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nOldInode=\n");
  assert_component_damaged ("Parent=.\nLive=core\nStaging=s\nDatabase=asterisk\n"
                            "OldDatabaseOid=12x\n");
}

/* The limits themselves are accepted: the journal reads what it wrote. */
static void
test_edges_accepted (void)
{
  g_autoptr (Sandbox) sandbox = sandbox_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (Journal) read = NULL;
  g_autofree char *text = g_strconcat (good_restore,
                                       "[Component core]\nParent=a/b\nLive=core\nStaging=s\n"
                                       "Database=_asterisk9\nOldDatabaseOid=4294967295\n"
                                       "NewDatabaseOid=0\n",
                                       NULL);
  const JournalComponent *c;

  sandbox_write (sandbox->root_fd, JOURNAL_FILE, text);
  g_assert_true (journal_read (sandbox->root_fd, &read, &error));
  g_assert_no_error (error);
  g_assert_cmpint (read->state, ==, JOURNAL_SWAPPING);
  g_assert_true (read->pbx_stopped);
  g_assert_cmpuint (read->components->len, ==, 1);
  c = read->components->pdata[0];
  g_assert_cmpstr (c->id, ==, "core");
  g_assert_cmpstr (c->parent, ==, "a/b");
  g_assert_cmpstr (c->database, ==, "_asterisk9");
  g_assert_cmpuint (c->db_old_oid, ==, G_MAXUINT32);
  g_assert_cmpuint (c->db_new_oid, ==, 0);
  g_assert_cmpuint (c->old_ino, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/journal/round-trip", test_round_trip);
  g_test_add_func ("/journal/create-refuses-a-second-journal",
                   test_create_refuses_a_second_journal);
  g_test_add_func ("/journal/none-and-remove", test_none_and_remove);
  g_test_add_func ("/journal/damaged", test_damaged);
  g_test_add_func ("/journal/edges-accepted", test_edges_accepted);
  return g_test_run ();
}
