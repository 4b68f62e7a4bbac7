#!/usr/bin/python3
"""messages.py: the page's translatable messages.

    messages.py                  prints a .pot template of every message
    messages.py --check FILE.po  lists messages the catalog lacks or leaves
                                 untranslated, and entries no longer used;
                                 exit status 1 if there are any
    messages.py --update FILE.po rewrites the catalog in the order of the
                                 sources: translations kept, new messages
                                 added untranslated, unused ones dropped

Messages are the string literals in _("..."), N_("...") and
cockpit.ngettext("...", "...", n) of the page's JavaScript, and the text of
the elements of index.html marked translate="yes".
"""

import html.parser
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCES = [HERE / "starface-backup.js"]
HTML = [HERE / "index.html"]

STRING = r'"((?:[^"\\\n]|\\.)*)"'
SINGULAR = re.compile(r"(?<![\w.])N?_\(\s*" + STRING + r"\s*\)")
PLURAL = re.compile(r"cockpit\.ngettext\(\s*" + STRING + r"\s*,\s*" + STRING)


def js_string(text):
    return json.loads('"' + text + '"')


class Translatable(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.found = []

    def handle_starttag(self, tag, attrs):
        self.stack.append([tag, dict(attrs).get("translate") == "yes", ""])

    def handle_startendtag(self, tag, attrs):
        pass

    def handle_data(self, data):
        if self.stack:
            self.stack[-1][2] += data

    def handle_endtag(self, tag):
        while self.stack:
            name, marked, text = self.stack.pop()
            if marked and text:
                self.found.append(text)
            if name == tag:
                break


def messages():
    """{(msgid, msgid_plural or None): [source files]}, the JavaScript's in
    the order they appear, then the HTML's."""
    found = {}
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        for regex, plural in ((SINGULAR, False), (PLURAL, True)):
            for match in regex.finditer(text):
                key = (js_string(match.group(1)), js_string(match.group(2)) if plural else None)
                found.setdefault(key, []).append(path.name)
    for path in HTML:
        parser = Translatable()
        parser.feed(path.read_text(encoding="utf-8"))
        for text in parser.found:
            found.setdefault((text, None), []).append(path.name)
    return found


def po_string(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def entries(translations=None, nplurals=2):
    """The catalog's entries for every message, with the translations given
    ({(msgid, msgid_plural): [msgstr, ...]})."""
    out = []
    for key, where in messages().items():
        msgid, plural = key
        strings = (translations or {}).get(key) or [""] * (1 if plural is None else nplurals)
        out.append("#: " + " ".join(sorted(set(where))))
        out.append("msgid " + po_string(msgid))
        if plural is None:
            out.append("msgstr " + po_string(strings[0]))
        else:
            out.append("msgid_plural " + po_string(plural))
            out += [f"msgstr[{i}] " + po_string(s) for i, s in enumerate(strings)]
        out.append("")
    return out


def template():
    header = ['msgid ""', 'msgstr ""', '"Content-Type: text/plain; charset=UTF-8\\n"', ""]
    return "\n".join(header + entries())


def update(po_path):
    sys.path.insert(0, str(HERE))
    import po2js
    text = Path(po_path).read_text(encoding="utf-8")
    # the file's comments and header entry stay as they are
    head = text[:text.index("\n\n", text.index('msgid ""')) + 2]
    parsed = po2js.parse(po_path)
    nplurals, _ = po2js.plural_function(po2js.header_fields(parsed))
    kept = {(e["msgid"], e.get("msgid_plural")): e["msgstr"]
            for e in parsed if e["msgid"] != "" and not e["fuzzy"]}
    Path(po_path).write_text(head + "\n".join(entries(kept, nplurals)), encoding="utf-8")


def check(po_path):
    sys.path.insert(0, str(HERE))
    import po2js
    entries = [e for e in po2js.parse(po_path) if e["msgid"] != ""]
    catalog = {(e["msgid"], e.get("msgid_plural")): e for e in entries}
    problems = []
    for key in messages():
        entry = catalog.get(key)
        if entry is None:
            problems.append(f"missing: {key[0]!r}")
        elif entry["fuzzy"] or not entry["msgstr"] or not all(entry["msgstr"]):
            problems.append(f"untranslated: {key[0]!r}")
    used = set(messages())
    for key in catalog:
        if key not in used:
            problems.append(f"no longer used: {key[0]!r}")
    return problems


def main(argv):
    if len(argv) == 3 and argv[1] == "--update":
        update(argv[2])
        return 0
    if len(argv) == 3 and argv[1] == "--check":
        problems = check(argv[2])
        for p in problems:
            print(p)
        return 1 if problems else 0
    if len(argv) == 1:
        sys.stdout.write(template())
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
