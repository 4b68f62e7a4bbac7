#!/usr/bin/python3
"""po2js: turns a gettext .po catalog into the po.<lang>.js file that
Cockpit serves to a page for its language (the page loads "po.js"; Cockpit
picks po.<lang>.js from the CockpitLang cookie or Accept-Language).

The output calls cockpit.locale() with one entry per translated message:

    cockpit.locale({
      "": {"plural-forms": function (n) { return ...; }, "language": "de", ...},
      "msgid": [null, "msgstr"],
      "msgid": ["msgid_plural", "msgstr[0]", "msgstr[1]"],
      "context\\u0004msgid": [...]
    });

Fuzzy and untranslated entries are left out (the page then shows the
English text). A translation whose placeholders ($0, $name, ${0}) differ
from its msgid's is an error: the build stops rather than ship a sentence
that loses or invents a value.

Usage: po2js.py INPUT.po OUTPUT.js
"""

import json
import re
import sys

ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "a": "\a", "b": "\b",
           "f": "\f", "v": "\v"}
PLACEHOLDER = re.compile(r"\$\{([^}]+)\}|\$([a-zA-Z0-9_]+)")
# what a Plural-Forms expression may contain: n, numbers, C operators
PLURAL_EXPRESSION = re.compile(r"^[\sn0-9()!=<>&|?:%+\-*/]+$")


class PoError(Exception):
    pass


def unquote(text, where):
    text = text.strip()
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise PoError(f"{where}: expected a quoted string, got {text!r}")
    out = []
    body = text[1:-1]
    i = 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            if i + 1 >= len(body) or body[i + 1] not in ESCAPES:
                raise PoError(f"{where}: unknown escape in {text!r}")
            out.append(ESCAPES[body[i + 1]])
            i += 2
        elif c == '"':
            raise PoError(f"{where}: unescaped quote in {text!r}")
        else:
            out.append(c)
            i += 1
    return "".join(out)


def parse(path):
    """The entries of a .po file: dicts with msgctxt, msgid, msgid_plural,
    msgstr (a list), fuzzy."""
    entries = []
    entry = None
    field = None

    def finish():
        nonlocal entry
        if entry is not None and "msgid" in entry:
            entries.append(entry)
        entry = None

    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            where = f"{path}:{number}"
            line = line.rstrip("\n")
            stripped = line.strip()
            if not stripped:
                finish()
                field = None
                continue
            if stripped.startswith("#~"):
                continue  # obsolete
            if stripped.startswith("#"):
                if entry is not None and "msgid" in entry:
                    finish()
                if entry is None:
                    entry = {"msgstr": [], "fuzzy": False}
                if stripped.startswith("#,"):
                    flags = [flag.strip() for flag in stripped[2:].split(",")]
                    entry["fuzzy"] = entry["fuzzy"] or "fuzzy" in flags
                continue
            if stripped.startswith('"'):
                if entry is None or field is None:
                    raise PoError(f"{where}: a continuation line without a keyword")
                value = unquote(stripped, where)
                if field[0] == "msgstr":
                    entry["msgstr"][field[1]] += value
                else:
                    entry[field[0]] += value
                continue
            keyword, _, rest = stripped.partition(" ")
            if keyword in ("msgctxt", "msgid") and entry is not None and "msgid" in entry:
                finish()
            if entry is None:
                entry = {"msgstr": [], "fuzzy": False}
            if keyword in ("msgctxt", "msgid", "msgid_plural"):
                entry[keyword] = unquote(rest, where)
                field = (keyword, None)
            elif keyword == "msgstr":
                entry["msgstr"] = [unquote(rest, where)]
                field = ("msgstr", 0)
            elif re.fullmatch(r"msgstr\[\d+\]", keyword):
                index = int(keyword[7:-1])
                if index != len(entry["msgstr"]):
                    raise PoError(f"{where}: {keyword} out of order")
                entry["msgstr"].append(unquote(rest, where))
                field = ("msgstr", index)
            else:
                raise PoError(f"{where}: unknown keyword {keyword!r}")
    finish()
    return entries


def header_fields(entries):
    for entry in entries:
        if entry["msgid"] == "" and "msgctxt" not in entry:
            fields = {}
            for line in entry["msgstr"][0].split("\n"):
                name, sep, value = line.partition(":")
                if sep:
                    fields[name.strip().lower()] = value.strip()
            return fields
    raise PoError("the catalog has no header entry")


def plural_function(fields):
    forms = fields.get("plural-forms", "nplurals=2; plural=(n != 1);")
    match = re.search(r"nplurals\s*=\s*(\d+)\s*;\s*plural\s*=\s*([^;]+);?", forms)
    if not match or not PLURAL_EXPRESSION.match(match.group(2)):
        raise PoError(f"unusable Plural-Forms: {forms!r}")
    return int(match.group(1)), "function (n) { return " + match.group(2).strip() + "; }"


def placeholders(text):
    return sorted(a or b for a, b in PLACEHOLDER.findall(text))


def convert(po_path):
    entries = parse(po_path)
    fields = header_fields(entries)
    language = fields.get("language")
    if not language or not re.fullmatch(r"[a-zA-Z]{2,3}(_[A-Za-z0-9]+)?", language):
        raise PoError(f"{po_path}: the header names no usable Language")
    nplurals, plural = plural_function(fields)
    messages = {}
    for entry in entries:
        if entry["msgid"] == "" or entry["fuzzy"]:
            continue
        strings = entry["msgstr"]
        if not strings or not all(strings):
            continue  # untranslated: the page shows the English text
        if "msgid_plural" in entry and len(strings) != nplurals:
            raise PoError(f"{po_path}: {entry['msgid']!r} has {len(strings)} plural forms, "
                          f"the header says {nplurals}")
        expected = placeholders(entry["msgid"])
        for s in strings:
            if placeholders(s) != expected:
                raise PoError(f"{po_path}: the translation of {entry['msgid']!r} has the "
                              f"placeholders {placeholders(s)}, the message {expected}")
        key = entry["msgid"]
        if "msgctxt" in entry:
            key = entry["msgctxt"] + "\u0004" + key
        messages[key] = [entry.get("msgid_plural")] + strings
    header = ('{"plural-forms": ' + plural + ', "language": ' + json.dumps(language)
              + ', "language-direction": "ltr"}')
    body = ",\n".join(json.dumps(k, ensure_ascii=False) + ": " + json.dumps(v, ensure_ascii=False)
                      for k, v in sorted(messages.items()))
    return ("/* generated from " + po_path.rsplit("/", 1)[-1] + " by po2js.py: do not edit */\n"
            "cockpit.locale({\n\"\": " + header + (",\n" + body if body else "") + "\n});\n")


def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: po2js.py INPUT.po OUTPUT.js\n")
        return 2
    try:
        text = convert(argv[1])
    except (PoError, OSError, UnicodeDecodeError) as e:
        sys.stderr.write(f"po2js: {e}\n")
        return 1
    with open(argv[2], "w", encoding="utf-8") as f:
        f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
