/* Unit tests of the client's translations: the service's codes (job
 * stages, Preflight checks with their arguments, List problems, D-Bus
 * error names) as sentences, in German from the build's catalog and in
 * English without one; and how a Preflight reply's checks and English
 * sentences are combined. */
#include "errors.h"
#include "exit-status.h"
#include "messages.h"
#include "output.h"

#include <glib/gi18n.h>
#include <locale.h>
#include <string.h>

static void
in_german (void)
{
  if (setlocale (LC_ALL, "de_DE.UTF-8") == NULL)
    g_error ("the locale de_DE.UTF-8 is missing: tools/setup generates it");
}

static void
in_c (void)
{
  g_assert_nonnull (setlocale (LC_ALL, "C.UTF-8"));
}

static void
assert_contains (const char *haystack, const char *needle)
{
  if (haystack == NULL || strstr (haystack, needle) == NULL)
    g_error ("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* --- stages --------------------------------------------------------------- */

static const char *const stages[] = {
  "starting",     "receiving",  "verifying",    "publishing",      "extracting",
  "stopping-pbx", "activating", "starting-pbx", "saving-previous", "cleanup",
};

static void
test_stages_in_german (void)
{
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);

  in_german ();
  for (gsize i = 0; i < G_N_ELEMENTS (stages); i++) {
    const char *label = message_stage (stages[i]);

    g_assert_nonnull (label);
    g_assert_cmpstr (label, !=, stages[i]);
    /* one phrase per stage */
    g_assert_true (g_hash_table_add (seen, (gpointer) label));
  }
  g_assert_cmpstr (message_stage ("stopping-pbx"), ==, "Telefonanlage wird angehalten");
  g_assert_cmpstr (message_stage ("extracting"), ==, "Sicherung wird entpackt");
  g_assert_null (message_stage ("frobnicating"));
}

static void
test_stages_without_translation_are_the_ids (void)
{
  in_c ();
  for (gsize i = 0; i < G_N_ELEMENTS (stages); i++)
    g_assert_null (message_stage (stages[i]));
}

static void
test_operations_results_and_titles (void)
{
  g_autofree char *title = NULL;
  g_autofree char *bare = NULL;
  g_autofree char *english = NULL;

  in_german ();
  g_assert_cmpstr (message_operation ("restore"), ==, "Wiederherstellung");
  g_assert_cmpstr (message_operation ("upload"), ==, "Hochladen");
  g_assert_cmpstr (message_operation ("frobnicate"), ==, "frobnicate");
  g_assert_cmpstr (message_result ("done"), ==, "erledigt");
  g_assert_cmpstr (message_result ("canceled"), ==, "abgebrochen");
  title = message_job_title ("restore", "A.sar", TRUE);
  g_assert_cmpstr (title, ==, "die Wiederherstellung von A.sar");
  bare = message_job_title ("upload", "A.sar", FALSE);
  g_assert_cmpstr (bare, ==, "Hochladen von A.sar");
  in_c ();
  g_assert_cmpstr (message_result ("failed"), ==, "failed");
  english = message_job_title ("restore", "A.sar", TRUE);
  g_assert_cmpstr (english, ==, "the restore of A.sar");
}

/* --- checks --------------------------------------------------------------- */

typedef struct {
  const char *code;
  const char *args; /* GVariant text format of the a{sv} */
  const char *german[4];
  const char *english[4];
} Check;

/* Every code of the contract with its arguments; what the sentence must
 * say (sizes as format_size() writes them: "5.0 GB", "1.0 kB" in C). */
static const Check checks[] = {
  { "version-newer",
    "{'backup-version': <'9.0.0.0'>, 'installed-version': <'8.1.2.3'>}",
    { "STARFACE 9.0.0.0", "8.1.2.3", "neueren" },
    { "STARFACE 9.0.0.0", "8.1.2.3", "newer" } },
  { "version-unknown",
    "{'reason': <'no version file'>}",
    { "STARFACE-Version ist unbekannt", "no version file" },
    { "version is unknown", "no version file" } },
  { "no-space",
    "{'required': <uint64 5000000000>, 'available': <uint64 1000>}",
    { "Speicherplatz", "SIZE:5000000000", "SIZE:1000" },
    { "disk space", "SIZE:5000000000", "SIZE:1000" } },
  { "no-space-backup-directory",
    "{'required': <uint64 7000000>, 'available': <uint64 2000>}",
    { "Sicherungsverzeichnis", "SIZE:7000000", "SIZE:2000" },
    { "backup directory", "SIZE:7000000", "SIZE:2000" } },
  { "live-data-unsavable",
    "{'component': <'core'>, 'reason': <'core/dev is a FIFO'>}",
    { "core (Kerndaten)", "core/dev is a FIFO", "rückgängig" },
    { "of core ", "core/dev is a FIFO", "undoes" } },
  { "live-data-unsavable",
    "{'component': <''>, 'reason': <'a socket'>}",
    { "Die aktuellen Daten können", "a socket" },
    { "The current data cannot", "a socket" } },
  { "undo-too-large",
    "{'component': <'cdr-voicemail'>, 'limit': <'MaxEntries'>, 'value': <uint64 1000001>, "
    "'maximum': <uint64 1000000>}",
    { "1000001 Einträge", "cdr-voicemail (CDR und Voicemails)", "MaxEntries", "(1000000)" },
    { "1000001 entries", "cdr-voicemail", "MaxEntries", "(1000000)" } },
  { "undo-too-large",
    "{'component': <'announcements'>, 'limit': <'MaxUnpackedSize'>, 'value': <uint64 3000000>, "
    "'maximum': <uint64 2000000>}",
    { "SIZE:3000000", "announcements (Voicemail-Ansagen)", "MaxUnpackedSize", "SIZE:2000000" },
    { "SIZE:3000000", "announcements", "MaxUnpackedSize", "SIZE:2000000" } },
  { "undo-too-large",
    "{'component': <'core'>, 'limit': <'SHA256SUMS'>, 'value': <uint64 90000000>, "
    "'maximum': <uint64 67108864>}",
    { "Prüfsummenliste", "SIZE:90000000", "für core (Kerndaten)", "SIZE:67108864" },
    { "checksum list", "SIZE:90000000", "for core", "SIZE:67108864" } },
  { "restore-unresolved",
    "{'backup': <'Old.sar'>, 'reason': <'the PBX did not start'>}",
    { "Wiederherstellung von Old.sar", "the PBX did not start" },
    { "restore of Old.sar", "the PBX did not start" } },
  { "other-host",
    "{'hostname': <'pbx-hamburg'>, 'ip-address': <'203.0.113.9'>, 'this-host': <'pbx-berlin'>}",
    { "Rechner pbx-hamburg", "IP-Adresse 203.0.113.9", "(pbx-berlin)", "--ignore-ip" },
    { "host pbx-hamburg", "IP address 203.0.113.9", "(pbx-berlin)", "--ignore-ip" } },
  { "other-host",
    "{'hostname': <'pbx-hamburg'>, 'this-host': <'pbx-berlin'>}",
    { "Rechner pbx-hamburg erstellt", "(pbx-berlin)" },
    { "host pbx-hamburg, not", "(pbx-berlin)" } },
  { "component-not-configured",
    "{'component': <'faxes'>}",
    { "Komponente faxes", "nicht eingerichtet" },
    { "component faxes", "not configured" } },
  { "sessions-unknown",
    "{'reason': <'sessions command failed'>}",
    { "angemeldeten Benutzer", "sessions command failed" },
    { "logged-in users", "sessions command failed" } },
  { "database-unreachable",
    "{'component': <'core'>, 'database': <'asterisk'>, 'reason': <'connection refused'>}",
    { "Datenbank asterisk von core (Kerndaten)", "Datenbankserver nicht erreichbar",
      "(connection refused)" },
    { "database asterisk of core ", "cannot be reached", "(connection refused)" } },
  { "database-missing",
    "{'component': <'core'>, 'database': <'asterisk'>}",
    { "Die Datenbank asterisk von core (Kerndaten)", "existiert" },
    { "The database asterisk of core ", "does not exist" } },
  { "database-owner-superuser",
    "{'component': <'core'>, 'database': <'asterisk'>, 'owner': <'postgres'>}",
    { "Datenbank asterisk von core (Kerndaten)", "Rolle postgres", "Superuser" },
    { "database asterisk of core ", "owned by postgres", "superuser" } },
  { "database-previous-exists",
    "{'component': <'core'>, 'database': <'asterisk'>, 'name': <'asterisk__sf_previous'>}",
    { "Datenbank asterisk von core (Kerndaten)", "Datenbank asterisk__sf_previous",
      "sichern oder löschen Sie sie" },
    { "database asterisk of core ", "database asterisk__sf_previous", "save or drop it" } },
  { "database-no-space",
    "{'component': <'cdr-voicemail'>, 'database': <'cdr'>, 'required': <uint64 8000000000>, "
    "'available': <uint64 3000>}",
    { "Datenbankserver benötigt", "SIZE:8000000000", "Datenbank cdr von cdr-voicemail (CDR",
      "SIZE:3000" },
    { "database server needs", "SIZE:8000000000", "database cdr of cdr-voicemail", "SIZE:3000" } },
  { "database-dump-unreadable",
    "{'reason': <'pg_restore: input file is too short'>}",
    { "Datenbank-Dump in der Sicherung", "(pg_restore: input file is too short)" },
    { "database dump in the backup", "(pg_restore: input file is too short)" } },
  { "database-dump-superuser",
    "{'component': <'core'>, 'detail': <'ALTER SYSTEM'>}",
    { "Datenbank-Dump von core (Kerndaten)", "Superuser", ": ALTER SYSTEM" },
    { "database dump of core ", "superuser", ": ALTER SYSTEM" } },
  { "database-role-missing",
    "{'component': <'core'>, 'detail': <'ghost'>}",
    { "Datenbank-Dump von core (Kerndaten)", "Rolle ghost", "nicht gibt" },
    { "database dump of core ", "role ghost", "does not have" } },
  { "database-extension-missing",
    "{'component': <'core'>, 'detail': <'pg_trgm'>}",
    { "Datenbank-Dump von core (Kerndaten)", "Erweiterung pg_trgm", "nicht installiert" },
    { "database dump of core ", "extension pg_trgm", "not installed" } },
  { "database-sessions",
    "{'component': <'core'>, 'database': <'asterisk'>, 'sessions': <uint32 3>}",
    { "Datenbank asterisk von core (Kerndaten)", "3 Sitzungen offen", "Telefonanlage" },
    { "3 sessions are open", "database asterisk of core;", "ends them" } },
  { "database-sessions",
    "{'component': <'core'>, 'database': <'asterisk'>, 'sessions': <uint32 1>}",
    { "ist 1 Sitzung offen", "beendet sie" },
    { "1 session is open", "ends it" } },
  { "database-not-in-backup",
    "{'component': <'core'>, 'database': <'asterisk'>}",
    { "keine Datenbank für core (Kerndaten)", "Datenbank asterisk bleibt" },
    { "no database for core:", "database asterisk stays" } },
  { "database-not-configured",
    "{'component': <'faxes'>, 'database': <'fax'>}",
    { "Datenbank fax für faxes", "keine Datenbank eingerichtet", "Nur die Dateien" },
    { "database fax for faxes", "configures no database", "only its files" } },
};

/* "SIZE:n" stands for format_size (n) in the current locale */
static void
assert_says (const char *sentence, const char *expected)
{
  if (g_str_has_prefix (expected, "SIZE:")) {
    g_autofree char *size = format_size (g_ascii_strtoull (expected + 5, NULL, 10));

    assert_contains (sentence, size);
  } else {
    assert_contains (sentence, expected);
  }
}

static void
assert_checks (gboolean german)
{
  for (gsize i = 0; i < G_N_ELEMENTS (checks); i++) {
    g_autoptr (GVariant) args = g_variant_ref_sink (g_variant_new_parsed (checks[i].args));
    gboolean translated = !german;
    g_autofree char *sentence = message_check (checks[i].code, args, &translated);
    const char *const *expected = german ? checks[i].german : checks[i].english;

    g_test_message ("%s: %s", checks[i].code, sentence);
    g_assert_nonnull (sentence);
    g_assert_cmpint (translated, ==, german);
    for (guint j = 0; j < G_N_ELEMENTS (checks[i].german) && expected[j] != NULL; j++)
      assert_says (sentence, expected[j]);
    g_assert_null (strstr (sentence, "%"));
    g_assert_null (strstr (sentence, "(null)"));
  }
}

static void
test_checks_in_german (void)
{
  in_german ();
  assert_checks (TRUE);
}

static void
test_checks_in_english_without_translation (void)
{
  in_c ();
  assert_checks (FALSE);
}

/* Without an argument it needs, or with one of another type, a check is
 * not rendered (the service's English sentence is shown instead). */
static void
test_checks_with_missing_or_wrong_arguments_are_not_rendered (void)
{
  in_german ();
  for (gsize i = 0; i < G_N_ELEMENTS (checks); i++) {
    g_autoptr (GVariant) args = g_variant_ref_sink (g_variant_new_parsed (checks[i].args));
    GVariantIter iter;
    const char *key;
    GVariant *value;

    g_variant_iter_init (&iter, args);
    while (g_variant_iter_loop (&iter, "{&sv}", &key, &value)) {
      g_auto (GVariantDict) fewer, retyped;
      g_autoptr (GVariant) without = NULL;
      g_autoptr (GVariant) wrong = NULL;
      g_autofree char *sentence = NULL;
      g_autofree char *mistyped = NULL;
      gboolean translated;

      /* the one optional argument */
      if (strcmp (checks[i].code, "other-host") == 0 && strcmp (key, "ip-address") == 0)
        continue;
      g_variant_dict_init (&fewer, args);
      g_variant_dict_remove (&fewer, key);
      without = g_variant_ref_sink (g_variant_dict_end (&fewer));
      sentence = message_check (checks[i].code, without, &translated);
      if (sentence != NULL)
        g_error ("%s without %s: \"%s\"", checks[i].code, key, sentence);
      g_variant_dict_init (&retyped, args);
      g_variant_dict_insert_value (&retyped, key,
                                   g_variant_is_of_type (value, G_VARIANT_TYPE_STRING)
                                       ? g_variant_new_uint32 (1)
                                       : g_variant_new_string ("1"));
      wrong = g_variant_ref_sink (g_variant_dict_end (&retyped));
      mistyped = message_check (checks[i].code, wrong, &translated);
      if (mistyped != NULL)
        g_error ("%s with %s of another type: \"%s\"", checks[i].code, key, mistyped);
    }
  }
}

static void
test_unknown_checks_are_not_rendered (void)
{
  g_autoptr (GVariant) limit = g_variant_ref_sink (g_variant_new_parsed (
      "{'component': <'core'>, 'limit': <'MaxFoo'>, 'value': <uint64 2>, 'maximum': <uint64 1>}"));
  g_autoptr (GVariant) empty = g_variant_ref_sink (g_variant_new_parsed ("@a{sv} {}"));
  gboolean translated = TRUE;

  in_german ();
  g_assert_null (message_check ("undo-too-large", limit, &translated));
  g_assert_false (translated);
  g_assert_null (message_check ("frobnicated", empty, &translated));
  g_assert_null (message_check ("version-newer", NULL, &translated));
}

/* --- a Preflight reply ---------------------------------------------------- */

#define REPORT                                                                                     \
  "{'blockers': <['The backup was made by STARFACE 9.0.0.0 (English)', 'Something new']>, "        \
  "'warnings': <['Another host (English)']>, "                                                     \
  "'checks': <[('blocker', 'version-newer', {'backup-version': <'9.0.0.0'>, "                      \
  "'installed-version': <'8.1.2.3'>}), ('warning', 'other-host', {'hostname': <'pbx-hamburg'>, "   \
  "'this-host': <'pbx-berlin'>}), ('blocker', 'something-new', @a{sv} {})]>}"

static void
test_findings_translate_known_codes_and_keep_the_rest (void)
{
  g_autoptr (GVariant) report = g_variant_ref_sink (g_variant_new_parsed (REPORT));
  g_autoptr (GPtrArray) blockers = NULL;
  g_autoptr (GPtrArray) warnings = NULL;

  in_german ();
  blockers = message_findings (report, "blocker");
  warnings = message_findings (report, "warning");
  g_assert_cmpuint (blockers->len, ==, 2);
  assert_contains (blockers->pdata[0], "Die Sicherung wurde mit STARFACE 9.0.0.0 erstellt");
  /* an unknown code: the service's sentence at its place */
  g_assert_cmpstr (blockers->pdata[1], ==, "Something new");
  g_assert_cmpuint (warnings->len, ==, 1);
  assert_contains (warnings->pdata[0], "Rechner pbx-hamburg");
}

static void
test_findings_without_translation_are_the_services_sentences (void)
{
  g_autoptr (GVariant) report = g_variant_ref_sink (g_variant_new_parsed (REPORT));
  g_autoptr (GVariant) old = g_variant_ref_sink (
      g_variant_new_parsed ("{'blockers': <['Too new']>, 'warnings': <@as []>}"));
  g_autoptr (GPtrArray) blockers = NULL;
  g_autoptr (GPtrArray) warnings = NULL;
  g_autoptr (GPtrArray) old_blockers = NULL;

  in_c ();
  blockers = message_findings (report, "blocker");
  warnings = message_findings (report, "warning");
  g_assert_cmpuint (blockers->len, ==, 2);
  g_assert_cmpstr (blockers->pdata[0], ==, "The backup was made by STARFACE 9.0.0.0 (English)");
  g_assert_cmpstr (blockers->pdata[1], ==, "Something new");
  g_assert_cmpstr (warnings->pdata[0], ==, "Another host (English)");
  /* a service without checks, in any language */
  in_german ();
  old_blockers = message_findings (old, "blocker");
  g_assert_cmpuint (old_blockers->len, ==, 1);
  g_assert_cmpstr (old_blockers->pdata[0], ==, "Too new");
}

/* --- List problems, components, errors, plurals --------------------------- */

static void
test_problems (void)
{
  const char *const codes[]
      = { "invalid-backup", "unreadable", "name-not-utf8", "created-in-future" };
  gboolean translated;

  in_german ();
  for (gsize i = 0; i < G_N_ELEMENTS (codes); i++) {
    g_assert_nonnull (message_problem (codes[i], &translated));
    g_assert_true (translated);
  }
  g_assert_cmpstr (message_problem ("invalid-backup", &translated), ==,
                   "Dies ist keine gültige Sicherung");
  g_assert_null (message_problem ("frobnicated", &translated));
  g_assert_false (translated);
  in_c ();
  g_assert_nonnull (message_problem ("unreadable", &translated));
  g_assert_false (translated);
}

static void
test_components (void)
{
  in_german ();
  g_assert_cmpstr (message_component ("core"), ==, "Kerndaten");
  g_assert_cmpstr (message_component ("cdr-voicemail"), ==, "CDR und Voicemails");
  g_assert_cmpstr (message_component ("announcements"), ==, "Voicemail-Ansagen");
  g_assert_null (message_component ("faxes"));
  /* a backup's own label is translated only when it is the product's */
  g_assert_cmpstr (message_component_label ("core", "Core data"), ==, "Kerndaten");
  g_assert_cmpstr (message_component_label ("core", "Stammdaten"), ==, "Stammdaten");
  g_assert_cmpstr (message_component_label ("faxes", "Faxes"), ==, "Faxes");
  in_c ();
  g_assert_null (message_component ("core"));
  g_assert_cmpstr (message_component_label ("core", "Core data"), ==, "Core data");
}

/* Every error name the daemon can send has a sentence. */
static void
test_every_error_of_the_service_has_a_sentence (void)
{
  in_german ();
  for (int code = BACKUP_ERROR_FAILED; code <= BACKUP_ERROR_UNKNOWN_OBJECT; code++) {
    g_autoptr (GError) error = g_error_new_literal (BACKUP_ERROR, code, "x");
    const char *name = backup_error_dbus_name (error);

    if (dbus_error_sentence (name) == NULL)
      g_error ("%s has no German sentence", name);
  }
  g_assert_cmpstr (dbus_error_sentence ("de.starface.Backup.Error.NotFound"), ==,
                   "Die Sicherung wurde nicht gefunden.");
  g_assert_null (dbus_error_sentence ("org.example.Error.Frobnicated"));
  in_c ();
  g_assert_null (dbus_error_sentence ("de.starface.Backup.Error.NotFound"));
}

static void
test_plurals (void)
{
  g_autofree char *one = NULL;
  g_autofree char *none = NULL;
  g_autofree char *three = NULL;

  in_german ();
  one = g_strdup_printf (ngettext ("%u logged-in user", "%u logged-in users", 1), 1);
  none = g_strdup_printf (ngettext ("%u active call", "%u active calls", 0), 0);
  three = g_strdup_printf (ngettext ("%u logged-in user", "%u logged-in users", 3), 3);
  g_assert_cmpstr (one, ==, "1 angemeldeter Benutzer");
  g_assert_cmpstr (none, ==, "0 aktive Gespräche");
  g_assert_cmpstr (three, ==, "3 angemeldete Benutzer");
}

int
main (int argc, char **argv)
{
  const char *localedir = g_getenv ("STARFACE_BACKUP_LOCALEDIR");

  g_test_init (&argc, &argv, NULL);
  if (localedir == NULL)
    g_error ("STARFACE_BACKUP_LOCALEDIR must name the build's po directory");
  /* LANGUAGE would take precedence over the locale */
  g_unsetenv ("LANGUAGE");
  bindtextdomain (GETTEXT_PACKAGE, localedir);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  g_test_add_func ("/messages/stages/german", test_stages_in_german);
  g_test_add_func ("/messages/stages/untranslated", test_stages_without_translation_are_the_ids);
  g_test_add_func ("/messages/operations", test_operations_results_and_titles);
  g_test_add_func ("/messages/checks/german", test_checks_in_german);
  g_test_add_func ("/messages/checks/english", test_checks_in_english_without_translation);
  g_test_add_func ("/messages/checks/arguments",
                   test_checks_with_missing_or_wrong_arguments_are_not_rendered);
  g_test_add_func ("/messages/checks/unknown", test_unknown_checks_are_not_rendered);
  g_test_add_func ("/messages/findings/german",
                   test_findings_translate_known_codes_and_keep_the_rest);
  g_test_add_func ("/messages/findings/untranslated",
                   test_findings_without_translation_are_the_services_sentences);
  g_test_add_func ("/messages/problems", test_problems);
  g_test_add_func ("/messages/components", test_components);
  g_test_add_func ("/messages/errors", test_every_error_of_the_service_has_a_sentence);
  g_test_add_func ("/messages/plurals", test_plurals);
  return g_test_run ();
}
