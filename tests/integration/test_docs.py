"""The documentation cannot drift from what it documents.

docs/dbus-api.md is written by hand (prose does not come out of XML), so
these tests hold it to the sources: every method, signal and property of
the introspection XML with its exact signature, and nothing the XML does
not have; every error name of the daemon's one error table; every key the
daemon puts into a reply and every option it accepts; every polkit action.
The man page backupd.conf(5) and the shipped configuration must name every
group and key the configuration loader knows.
"""

import re
import xml.etree.ElementTree as ET

import pytest

from harness import SOURCE_ROOT

XML = SOURCE_ROOT / "dbus" / "de.starface.Backup.xml"
API_DOC = SOURCE_ROOT / "docs" / "dbus-api.md"
SERVICE = SOURCE_ROOT / "service"


def own_interfaces():
    return [i for i in ET.parse(XML).getroot().findall("interface")
            if i.get("name").startswith("de.starface.")]


def signature(member):
    """`Name(type arg, ...)` plus ` -> (type arg, ...)` for out arguments,
    as the reference writes its headings."""
    args = member.findall("arg")
    ins = [a for a in args if a.get("direction", "in") == "in" or member.tag == "signal"]
    outs = [a for a in args if a.get("direction") == "out" and member.tag == "method"]
    text = member.get("name") + "(" + ", ".join(f"{a.get('type')} {a.get('name')}"
                                                 for a in ins) + ")"
    if outs:
        text += " -> (" + ", ".join(f"{a.get('type')} {a.get('name')}" for a in outs) + ")"
    return text


def api_doc():
    return API_DOC.read_text()


def test_api_doc_has_every_method_and_signal_with_its_signature():
    doc = api_doc()
    for interface in own_interfaces():
        assert f"Interface `{interface.get('name')}`" in doc
        for member in interface.findall("method") + interface.findall("signal"):
            heading = f"#### `{signature(member)}`"
            assert heading in doc.splitlines(), f"missing heading: {heading}"


def test_api_doc_describes_nothing_the_interface_lacks():
    expected = {signature(m) for i in own_interfaces()
                for m in i.findall("method") + i.findall("signal")}
    documented = set(re.findall(r"^#### `(\w+\(.*\).*)`$", api_doc(), re.M))
    assert documented - expected == set(), "documented but not in the XML"


def test_api_doc_has_every_property_with_its_type_and_access():
    doc = api_doc()
    for interface in own_interfaces():
        for prop in interface.findall("property"):
            row = re.compile(rf"^\| `{prop.get('name')}` \| `{re.escape(prop.get('type'))}` "
                             rf"\| {prop.get('access')} \|", re.M)
            assert row.search(doc), f"no table row for property {prop.get('name')}"


def test_api_doc_names_the_standard_interfaces():
    doc = api_doc()
    for interface in ET.parse(XML).getroot().findall("interface"):
        assert f"`{interface.get('name')}`" in doc


def test_api_doc_explains_every_error_name():
    table = (SERVICE / "errors.c").read_text()
    names = [f"de.starface.Backup.Error.{own}" if own else standard
             for own, standard in re.findall(r'\{\s*BACKUP_ERROR_\w+,\s*(?:NS "(\w+)"|"([\w.]+)")',
                                             table)]
    assert len(names) >= 20
    doc = api_doc()
    for name in names:
        assert re.search(rf"^\| `{re.escape(name)}` \| \S", doc, re.M), \
            f"error {name} has no row in the error table"


def manager_code():
    """The D-Bus layer's method handlers (manager.c and its parts)."""
    return "".join(path.read_text() for path in sorted(SERVICE.glob("manager*.c")))


def reply_keys():
    """Keys the D-Bus layer puts into a{sv} replies and job details."""
    code = manager_code()
    # (whitespace and line breaks as clang-format may place them)
    keys = set(re.findall(r'g_variant_builder_add\s*\(\s*&\w+,\s*"\{sv\}",\s*"([\w-]+)"', code))
    keys |= set(re.findall(r'job_set_detail\s*\(\s*[\w>-]+,\s*"([\w-]+)"', code))
    # List's entries, appended with libdbus
    keys |= set(re.findall(r'append_(?:string|boolean|uint64)\s*\(\s*&\w+,\s*"([\w-]+)"', code))
    return keys


def test_api_doc_describes_every_reply_key():
    keys = reply_keys()
    assert {"latest", "installed-version", "token", "pbx-downtime-ms"} <= keys
    doc = api_doc()
    for key in keys:
        assert f"`{key}`" in doc, f"reply key {key} is not documented"


def test_api_doc_describes_every_option_with_its_type():
    code = manager_code()
    options = set(re.findall(r'\{\s*"([\w-]+)",\s*"(\w+)"\s*\}', code))
    assert ("token", "s") in options
    doc = api_doc()
    for key, type_ in options:
        assert re.search(rf"^\| `{key}` \| `{type_}` \|", doc, re.M), \
            f"option {key} ({type_}) has no table row"


def check_codes():
    """The codes of Preflight's checks, as the reference's table lists them."""
    section = api_doc().split("The codes of `checks`", 1)[1]
    table = re.search(r"^\|.*?(?=\n\n)", section, re.M | re.S).group(0)
    return re.findall(r"^\| `(?:blocker|warning)` \| `([\w-]+)` \|", table, re.M)


def test_api_doc_lists_every_check_code_of_the_service():
    code = "".join(path.read_text() for path in sorted(SERVICE.glob("*.c")))
    codes = set(re.findall(r'PREFLIGHT_(?:BLOCKER|WARNING),\s*"([\w-]+)"', code))
    codes |= set(re.findall(r'add_problem \(problems, "([\w-]+)"', code))
    assert {"version-newer", "database-sessions", "database-role-missing"} <= codes
    assert codes <= set(check_codes())


def test_both_clients_put_every_check_code_into_words():
    """The command-line client (with its unit test) and the Cockpit page
    translate every documented code; an unknown one would show the
    service's English."""
    client = (SOURCE_ROOT / "client" / "messages.c").read_text()
    unit = (SOURCE_ROOT / "tests" / "unit" / "test-messages.c").read_text()
    page = (SOURCE_ROOT / "cockpit" / "starface-backup.js").read_text()
    codes = check_codes()
    assert len(codes) > 20
    for code in codes:
        assert f'"{code}"' in client, f"client/messages.c has no sentence for {code}"
        assert f'{{ "{code}",' in unit, f"test-messages.c does not test {code}"
        assert f'case "{code}":' in page, f"the Cockpit page has no sentence for {code}"


def policy_actions():
    policy = SOURCE_ROOT / "polkit" / "de.starface.backup.policy.in"
    return [a.get("id") for a in ET.parse(policy).getroot().findall("action")]


@pytest.mark.parametrize("doc", ["dbus-api.md", "polkit.md"])
def test_docs_name_every_polkit_action(doc):
    text = (SOURCE_ROOT / "docs" / doc).read_text()
    for action in policy_actions():
        assert f"`{action}`" in text, f"{doc} does not mention {action}"


def config_keys():
    """{group: [keys]} from the loader's tables of known keys."""
    code = (SERVICE / "config.c").read_text()
    tables = dict(re.findall(r"static const char \*const (\w+)_keys\[\]\s*=\s*\{(.*?)\};", code,
                             re.S))
    groups = {"Paths": "paths", "Pbx": "pbx", "Limits": "limits", "Component ID": "component",
              "Database": "database"}
    return {group: re.findall(r'"(\w+)"', tables[name]) for group, name in groups.items()}


def test_config_man_page_documents_every_group_and_key():
    page = (SOURCE_ROOT / "docs" / "backupd.conf.5").read_text()
    # the text of each section: from its .SS heading to the next heading
    sections = dict(re.findall(r"^\.SS \\?\[(.+?)\\?\]\n(.*?)(?=^\.S[HS] |\Z)", page, re.M | re.S))
    for group, keys in config_keys().items():
        assert group in sections, f"backupd.conf(5) has no section [{group}]"
        for key in keys:
            assert re.search(rf"^\.B {key}=", sections[group], re.M), \
                f"backupd.conf(5) does not describe [{group}] {key}="


def test_shipped_configuration_mentions_every_key():
    shipped = (SOURCE_ROOT / "data" / "backupd.conf").read_text()
    for group, keys in config_keys().items():
        for key in keys:
            assert re.search(rf"^#?{key}=", shipped, re.M), f"data/backupd.conf lacks {key}"


def test_daemon_man_page_lists_its_options():
    page = (SOURCE_ROOT / "docs" / "starface-backupd.8").read_text()
    code = (SERVICE / "main.c").read_text()
    options = re.findall(r'\{\s*"([\w-]+)",\s*(?:\'\w\'|0),\s*\w+,\s*G_OPTION_ARG_', code)
    assert {"config", "session", "verbose"} <= set(options)
    for option in options:
        assert f"\\-\\-{option.replace('-', chr(92) + '-')}" in page, \
            f"starface-backupd(8) does not describe --{option}"
