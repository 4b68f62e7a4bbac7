"""The Cockpit page's translations and files, without a browser: the German
catalog covers every message of the page, the build turns it into the
po.de.js Cockpit serves, the converter keeps placeholders honest, and the
page has nothing Cockpit's Content-Security-Policy would block."""

import html.parser
import json
import re
import subprocess
import sys

import pytest

from harness import BUILD_ROOT, SOURCE_ROOT

COCKPIT = SOURCE_ROOT / "cockpit"
sys.path.insert(0, str(COCKPIT))
import messages  # noqa: E402
import po2js  # noqa: E402

PO2JS = COCKPIT / "po2js.py"


def locale_data(js_text):
    """The object passed to cockpit.locale(), its plural function replaced
    by its expression (the rest is JSON)."""
    match = re.fullmatch(r"/\*[^\n]*\*/\ncockpit\.locale\((.*)\);\n", js_text, re.S)
    assert match, js_text[:200]
    body = re.sub(r'"plural-forms": function \(n\) \{ return (.*?); \}',
                  lambda m: '"plural-forms": ' + json.dumps(m.group(1)), match.group(1))
    return json.loads(body)


def test_german_catalog_has_every_message_of_the_page():
    found = messages.messages()
    assert len(found) > 100
    assert ("Restore a STARFACE backup", None) in found  # index.html
    assert ("$0 logged-in user will be logged out",
            "$0 logged-in users will be logged out") in found  # ngettext
    assert ("Core data", None) in found  # N_()
    assert messages.check(str(COCKPIT / "po" / "de.po")) == []


def test_built_po_de_js_is_the_converted_catalog():
    built = BUILD_ROOT / "cockpit" / "po.de.js"
    assert built.read_text(encoding="utf-8") == po2js.convert(str(COCKPIT / "po" / "de.po"))
    data = locale_data(built.read_text(encoding="utf-8"))
    assert data[""] == {"plural-forms": "(n != 1)", "language": "de",
                        "language-direction": "ltr"}
    assert data["Restore a STARFACE backup"] == [None, "STARFACE-Backup wiederherstellen"]
    assert data["Upload backup files for restore"][1] == \
        "Sicherungsdateien zur Wiederherstellung hochladen"
    assert data["$0 active call will be ended"] == [
        "$0 active calls will be ended", "$0 aktives Telefonat wird beendet",
        "$0 aktive Telefonate werden beendet"]


CATALOG = r'''# a comment
msgid ""
msgstr ""
"Language: de\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#: x.js
msgid "Plain"
msgstr "Schlicht"

msgid "Quote \"$0\"\n"
"continued"
msgstr "Zitat „$0“\n"
"fortgesetzt"

msgctxt "verb"
msgid "Restore"
msgstr "Wiederherstellen"

msgid "$0 file"
msgid_plural "$0 files"
msgstr[0] "$0 Datei"
msgstr[1] "$0 Dateien"

#, fuzzy
msgid "Guessed"
msgstr "Geraten"

#, c-format, fuzzy
msgid "Also guessed"
msgstr "Auch geraten"

msgid "Untranslated"
msgstr ""

#~ msgid "Obsolete"
#~ msgstr "Veraltet"
'''


def test_po2js_converts_entries_contexts_plurals_and_leaves_out_the_rest(tmp_path):
    po = tmp_path / "de.po"
    po.write_text(CATALOG, encoding="utf-8")
    out = tmp_path / "po.de.js"
    subprocess.run([sys.executable, str(PO2JS), str(po), str(out)], check=True)
    data = locale_data(out.read_text(encoding="utf-8"))
    assert data == {
        "": {"plural-forms": "(n != 1)", "language": "de", "language-direction": "ltr"},
        "Plain": [None, "Schlicht"],
        'Quote "$0"\ncontinued': [None, "Zitat „$0“\nfortgesetzt"],
        "verb\u0004Restore": [None, "Wiederherstellen"],
        "$0 file": ["$0 files", "$0 Datei", "$0 Dateien"],
    }


@pytest.mark.parametrize("entry, complaint", [
    ('msgid "Made by $0, newer than $1"\nmsgstr "Von $0"\n', "placeholders"),
    ('msgid "$0 of $1"\nmsgstr "$1 von $2"\n', "placeholders"),
    ('msgid "$0 file"\nmsgid_plural "$0 files"\nmsgstr[0] "$0 Datei"\n', "plural forms"),
    ('msgid "x"\nmsgstr "bad \\q escape"\n', "unknown escape"),
])
def test_po2js_refuses_a_catalog_that_would_lose_values(tmp_path, entry, complaint):
    po = tmp_path / "de.po"
    po.write_text(CATALOG + "\n" + entry, encoding="utf-8")
    result = subprocess.run([sys.executable, str(PO2JS), str(po), str(tmp_path / "out.js")],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert complaint in result.stderr
    assert not (tmp_path / "out.js").exists()


def test_po2js_takes_only_a_plural_expression(tmp_path):
    po = tmp_path / "de.po"
    po.write_text(CATALOG.replace("plural=(n != 1);", "plural=alert(1);"), encoding="utf-8")
    result = subprocess.run([sys.executable, str(PO2JS), str(po), str(tmp_path / "out.js")],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Plural-Forms" in result.stderr


class Scripts(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.sources = []
        self.inline = []
        self.handlers = []
        self.current = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [(tag, a) for a in attrs if a.startswith("on")]
        if tag == "script":
            self.current = attrs.get("src")
            if self.current:
                self.sources.append(self.current)
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.sources.append(attrs["href"])

    def handle_data(self, data):
        if self.current is None and self.lasttag == "script" and data.strip():
            self.inline.append(data)

    def handle_endtag(self, tag):
        if tag == "script":
            self.current = None


def test_page_has_nothing_the_content_security_policy_blocks():
    parser = Scripts()
    parser.feed((COCKPIT / "index.html").read_text(encoding="utf-8"))
    assert parser.inline == [] and parser.handlers == []
    assert parser.sources == ["starface-backup.css", "../base1/cockpit.js", "../base1/po.js",
                              "po.js", "starface-backup.js"]
    manifest = json.loads((COCKPIT / "manifest.json").read_text(encoding="utf-8"))
    assert "index" in manifest["menu"]
    # no eval and no HTML built from strings: text goes in as text
    js = (COCKPIT / "starface-backup.js").read_text(encoding="utf-8")
    for construct in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML",
                      "document.write"):
        assert construct not in js, construct
