# SPDX-License-Identifier: MIT
"""The documentation against the code, so that drift fails a test: every key table of the
loader (the `static const char *const *_keys[]` arrays of src/config/config_yaml.c) is
documented key for key, no more and no fewer, in its table of docs/configuration.md and in its
place of docs/man/sluice.yaml.5; every long flag `sluice --help` lists and every long option of
app/sluice/cli.c is in docs/man/sluice.8, and the OPTIONS of sluice(8) name no flag sluice
lacks. The packaged pages are checked for rendering by
tests/packaging/deb_test.sh; this file reads the sources, so it runs in every flavour."""
import os
import re
import subprocess
import unittest

from harness import SLUICE

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LOADER = os.path.join(ROOT, "src", "config", "config_yaml.c")
CLI = os.path.join(ROOT, "app", "sluice", "cli.c")
CONFIG_MD = os.path.join(ROOT, "docs", "configuration.md")
YAML_5 = os.path.join(ROOT, "docs", "man", "sluice.yaml.5")
SLUICE_8 = os.path.join(ROOT, "docs", "man", "sluice.8")

# Where each key table of the loader is documented. configuration.md: the table whose title
# (the nearest non-blank line above its header row) matches the pattern. sluice.yaml(5): the
# .TP entries of the .SH section, nested under the entries named (a mapping's keys sit in an
# .RS/.RE block after its own entry). A new key table needs a line here, and a table in each.
PLACES = {
    "top_keys": (r"## Top level", ("TOP LEVEL", ())),
    "log_keys": (r"`log:`", ("TOP LEVEL", ("log",))),
    "listener_keys": (r"## Listener", ("LISTENERS", ())),
    "timeout_keys": (r"`timeouts:`", ("LISTENERS", ("timeouts",))),
    "proxy_in_keys": (r"`proxy_protocol:`", ("LISTENERS", ("proxy_protocol",))),
    "rate_keys": (r"`rate:`", ("LISTENERS", ("rate",))),
    "source_keys": (r"`source_limits:`", ("LISTENERS", ("source_limits",))),
    "group_keys": (r"## Group", ("GROUPS", ())),
    "health_keys": (r"`health:`", ("GROUPS", ("health",))),
    "passive_keys": (r"`passive:`", ("GROUPS", ("passive",))),
    "warm_keys": (r"`warm_pool:`", ("GROUPS", ("warm_pool",))),
    "backend_keys": (r"Backend \(`backends:` items\)", ("BACKENDS", ())),
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_c_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def loader_key_tables():
    """{"listener_keys": ["name", "address", ...], ...} from the C arrays, in their order."""
    text = strip_c_comments(read(LOADER))
    tables = {}
    for m in re.finditer(r"static\s+const\s+char\s*\*\s*const\s+(\w+_keys)\s*\[\s*\]\s*=\s*\{(.*?)\};",
                         text, flags=re.S):
        tables[m.group(1)] = re.findall(r'"([^"\\]*)"', m.group(2))
    return tables


def markdown_key_tables(text):
    """[(title, [key, ...])] for every table of <text> whose first column is "key" (outside
    code fences); a row whose first cell is not one `key` is listed as its raw first cell."""
    lines = text.splitlines()
    tables, fenced = [], False
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not re.match(r"^\|\s*key\s*\|", line):
            continue
        j = i - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        title = lines[j] if j >= 0 else ""
        keys = []
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            cell = row.split("|")[1].strip()
            m = re.fullmatch(r"`([^`]+)`", cell)
            keys.append(m.group(1) if m else cell)
        tables.append((title, keys))
    return tables


def troff_text(line):
    """A troff line as read: font escapes dropped, \\- as -, quotes and \\(dq as "."""
    line = re.sub(r"\\f[BIRP]", "", line)
    return line.replace("\\-", "-").replace("\\(dq", '"').replace("\\&", "")


def man_entries(text):
    """{(SECTION, (parent, ...)): [key, ...]}: the first word of each .TP tag, by .SH section
    and by the entries whose .RS block holds it."""
    entries = {}
    section, stack, last, tag_next = None, [], None, False
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.startswith(".SH "):
            section, stack, last = line[4:].strip().strip('"'), [], None
            continue
        if line == ".TP":
            tag_next = True
            continue
        if tag_next:
            tag_next = False
            m = re.match(r"^\.(?:B|BR|I|IR|BI)\s+(\S+)", line)
            if m:
                last = troff_text(m.group(1)).strip('"')
                entries.setdefault((section, tuple(stack)), []).append(last)
            continue
        if line.startswith(".RS"):
            stack.append(last)
            last = None
        elif line.startswith(".RE") and stack:
            last = stack.pop()
    return entries


class LoaderKeysInDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tables = loader_key_tables()

    def test_the_loader_has_key_tables_to_check(self):
        # a parse that finds nothing would let every other test pass on nothing
        self.assertIn("listener_keys", self.tables)
        self.assertIn("source_limits", self.tables["listener_keys"])
        self.assertIn("per_second", self.tables["rate_keys"])

    def test_every_key_table_of_the_loader_has_a_documented_place(self):
        self.assertEqual(sorted(PLACES), sorted(self.tables),
                         "a key table of config_yaml.c without a place in PLACES (or a place "
                         "for a table that is gone): document it, then add it there")

    def test_configuration_md_documents_exactly_the_keys_the_loader_takes(self):
        docs = markdown_key_tables(read(CONFIG_MD))
        for name, keys in sorted(self.tables.items()):
            with self.subTest(table=name):
                pattern = PLACES[name][0]
                found = [k for title, k in docs if re.match(pattern, title)]
                self.assertEqual(1, len(found),
                                 f"configuration.md: want one key table titled /{pattern}/")
                self.assertEqual(sorted(keys), sorted(found[0]),
                                 f"configuration.md, table /{pattern}/ vs {name} in config_yaml.c")

    def test_sluice_yaml_5_documents_exactly_the_keys_the_loader_takes(self):
        entries = man_entries(read(YAML_5))
        for name, keys in sorted(self.tables.items()):
            with self.subTest(table=name):
                place = PLACES[name][1]
                self.assertEqual(sorted(keys), sorted(entries.get(place, [])),
                                 f"sluice.yaml(5), section {place[0]} under {place[1]} vs "
                                 f"{name} in config_yaml.c")


class FlagsInDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = subprocess.run([SLUICE, "--help"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        cls.help_flags = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", r.stdout))
        text = strip_c_comments(read(CLI))
        table = re.search(r"struct\s+option\s+long_options\[\]\s*=\s*\{(.*?)\n\};", text, re.S)
        cls.cli_flags = {"--" + n for n in re.findall(r'\{\s*"([a-z-]+)"\s*,', table.group(1))}
        cls.page = "\n".join(troff_text(l) for l in read(SLUICE_8).splitlines())

    def test_sluice_8_names_every_long_option_the_parser_takes(self):
        # --help shows some options by their short form only (-c, -l, -b): the parser's table
        # is the whole list
        self.assertIn("--config", self.cli_flags)
        missing = {f for f in self.cli_flags
                   if not re.search(r"(?<![\w-])" + re.escape(f) + r"(?![\w-])", self.page)}
        self.assertEqual(set(), missing, "long options of cli.c missing from sluice(8)")

    def test_sluice_8_names_every_long_flag_of_help(self):
        self.assertIn("--drain-timeout", self.help_flags)
        missing = {f for f in self.help_flags
                   if not re.search(r"(?<![\w-])" + re.escape(f) + r"(?![\w-])", self.page)}
        self.assertEqual(set(), missing, "flags of `sluice --help` missing from sluice(8)")

    def test_sluice_8_options_name_no_flag_sluice_lacks(self):
        options = re.search(r"^\.SH OPTIONS\n(.*?)^\.SH ", self.page, re.S | re.M)
        self.assertIsNotNone(options, "sluice(8) has no OPTIONS section")
        named = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", options.group(1)))
        self.assertEqual(set(), named - self.cli_flags,
                         "sluice(8) OPTIONS names flags that cli.c does not take")


if __name__ == "__main__":
    unittest.main(verbosity=2)
