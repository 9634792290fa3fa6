# SPDX-License-Identifier: MIT
"""The documentation against the code, so that drift fails a test: every section of the key
table (config_keys.h, printed by `sluice --list-keys`) is documented key for key, no more and no
fewer, in its table of docs/configuration.md and in its place of docs/man/sluice.yaml.5, and
each bound the table gives (integer and size ranges, a duration's floor or range, an enum's
names) is the one both documents give for that key; every long flag `sluice --help` lists and
every long option of app/sluice/cli.c is in docs/man/sluice.8, and the OPTIONS of sluice(8)
name no flag sluice lacks. The packaged pages are checked for rendering by
tests/packaging/deb_test.sh; this file reads the binary's table and the sources, so it runs in
every flavour."""
import os
import re
import subprocess
import unittest

from harness import SLUICE

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CLI = os.path.join(ROOT, "app", "sluice", "cli.c")
CONFIG_MD = os.path.join(ROOT, "docs", "configuration.md")
YAML_5 = os.path.join(ROOT, "docs", "man", "sluice.yaml.5")
SLUICE_8 = os.path.join(ROOT, "docs", "man", "sluice.8")

# Where each section of the key table is documented. configuration.md: the table whose title
# (the nearest non-blank line above its header row) matches the pattern. sluice.yaml(5): the
# .TP entries of the .SH section, nested under the entries named (a mapping's keys sit in an
# .RS/.RE block after its own entry). A new key table needs a line here, and a table in each.
PLACES = {
    "top_keys": (r"## Top level", ("TOP LEVEL", ())),
    "log_keys": (r"`log:`", ("TOP LEVEL", ("log",))),
    "admin_keys": (r"`admin:`", ("TOP LEVEL", ("admin",))),
    "control_keys": (r"`control:`", ("TOP LEVEL", ("control",))),
    "access_log_keys": (r"`access_log:`", ("TOP LEVEL", ("access_log",))),
    "alerts_keys": (r"`alerts:`", ("TOP LEVEL", ("alerts",))),
    "webhook_keys": (r"`alerts\.webhooks:` items", ("TOP LEVEL", ("alerts", "webhooks"))),
    "rule_keys": (r"`alerts\.rules:` items", ("TOP LEVEL", ("alerts", "rules"))),
    "profiling_keys": (r"`profiling:`", ("TOP LEVEL", ("profiling",))),
    "xdp_keys": (r"`xdp:`", ("TOP LEVEL", ("xdp",))),
    "listener_keys": (r"## Listener", ("LISTENERS", ())),
    "timeout_keys": (r"`timeouts:`", ("LISTENERS", ("timeouts",))),
    "min_rate_keys": (r"`min_rate:`", ("LISTENERS", ("timeouts", "min_rate"))),
    "proxy_in_keys": (r"`proxy_protocol:`", ("LISTENERS", ("proxy_protocol",))),
    "rate_keys": (r"`rate:`", ("LISTENERS", ("rate",))),
    "source_keys": (r"`source_limits:`", ("LISTENERS", ("source_limits",))),
    "ban_keys": (r"`source_limits\.ban:`", ("LISTENERS", ("source_limits", "ban"))),
    "bandwidth_keys": (r"`bandwidth:`", ("LISTENERS", ("bandwidth",))),
    "bandwidth_limit_keys": (r"`session:` and `source:`", ("LISTENERS", ("bandwidth", "session"))),
    "group_keys": (r"## Group", ("GROUPS", ())),
    "health_keys": (r"`health:`", ("GROUPS", ("health",))),
    "passive_keys": (r"`passive:`", ("GROUPS", ("passive",))),
    "warm_keys": (r"`warm_pool:`", ("GROUPS", ("warm_pool",))),
    "discover_keys": (r"`discover:`", ("GROUPS", ("discover",))),
    "backend_keys": (r"Backend \(`backends:` items\)", ("BACKENDS", ())),
}


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def strip_c_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", "", text, flags=re.S)


def list_keys():
    """The rows of `sluice --list-keys`, the key table the loader walks by: [{"section", "key",
    "type", "min", "max", "default", "reload"}, ...], in the table's order."""
    r = subprocess.run([SLUICE, "--list-keys"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    head = lines[0].split("\t")
    return [dict(zip(head, line.split("\t"))) for line in lines[1:]]


def loader_key_tables():
    """{"listener_keys": ["name", "address", ...], ...}: each section's keys, in their order."""
    tables = {}
    for row in list_keys():
        tables.setdefault(row["section"] + "_keys", []).append(row["key"])
    return tables


def ms_value(text):
    m = re.fullmatch(r"(\d+)(ms|s|m|h|)", text)
    return int(m.group(1)) * {"": 1, "ms": 1, "s": 1000, "m": 60000, "h": 3600000}[m.group(2)]


def loader_checks(rows):
    """[(table, key, kind, detail)] for each value check of the key table: kind "range" with
    (lo, hi) for integers and sizes, "ms" with the least duration for durations without an
    upper bound, "ms_range" with (lo, hi) texts for bounded ones, "enum" with the names."""
    checks = []
    for row in rows:
        table, key, kind = row["section"] + "_keys", row["key"], row["type"]
        if kind in ("integer", "size"):
            checks.append((table, key, "range", (int(row["min"]), int(row["max"]))))
        elif kind == "duration" and not row["max"]:
            checks.append((table, key, "ms", ms_value(row["min"])))
        elif kind == "duration":
            checks.append((table, key, "ms_range", (row["min"], row["max"])))
        elif kind.startswith("one of "):
            checks.append((table, key, "enum", kind[len("one of "):].split("|")))
    return checks


def size_value(number, unit):
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def documented_ranges(text):
    """Every "LO-HI" or "LO - HI" in <text> (sizes may end in k or m), as (lo, hi) integers."""
    pattern = r"(?<![\w.])(\d+)([kKmM]?)\s*-\s*(\d+)([kKmM]?)(?![\w.])"
    return {(size_value(a, ua), size_value(b, ub)) for a, ua, b, ub in re.findall(pattern, text)}


def markdown_key_tables(text):
    """[(title, [key, ...], {key: type cell}, {key: default cell})] for every table of <text>
    whose first column is "key" (outside code fences); a row whose first cell is not one `key`
    is listed as its raw first cell."""
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
        keys, types, defaults = [], {}, {}
        for row in lines[i + 2:]:
            if not row.startswith("|"):
                break
            cells = row.split("|")
            m = re.fullmatch(r"`([^`]+)`", cells[1].strip())
            keys.append(m.group(1) if m else cells[1].strip())
            types[keys[-1]] = cells[2].strip() if len(cells) > 2 else ""
            defaults[keys[-1]] = cells[3].strip() if len(cells) > 3 else ""
        tables.append((title, keys, types, defaults))
    return tables


def troff_text(line):
    """A troff line as read: font escapes dropped, \\- as -, quotes and \\(dq as "."""
    line = re.sub(r"\\f[BIRP]", "", line)
    return line.replace("\\-", "-").replace("\\(dq", '"').replace("\\&", "")


def man_entries(text):
    """{(SECTION, (parent, ...)): {key: tag}}: the first word of each .TP tag and the tag as
    read, by .SH section and by the entries whose .RS block holds it."""
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
                entries.setdefault((section, tuple(stack)), {})[last] = troff_text(line)
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

    def test_the_lists_a_reload_adds_to_and_removes_from_are_live(self):
        """A reload opens and closes listeners and adds and retires groups: neither list is
        "restart" in the reload column (each kept item's own keys say what they need)."""
        rows = {(r["section"], r["key"]): r["reload"] for r in list_keys()}
        self.assertEqual("live", rows[("top", "listeners")])
        self.assertEqual("live", rows[("top", "groups")])
        self.assertEqual("restart", rows[("group", "discover")])

    def test_every_key_table_of_the_loader_has_a_documented_place(self):
        self.assertEqual(sorted(PLACES), sorted(self.tables),
                         "a key table of config_yaml.c without a place in PLACES (or a place "
                         "for a table that is gone): document it, then add it there")

    def test_configuration_md_documents_exactly_the_keys_the_loader_takes(self):
        docs = markdown_key_tables(read(CONFIG_MD))
        for name, keys in sorted(self.tables.items()):
            with self.subTest(table=name):
                pattern = PLACES[name][0]
                found = [k for title, k, _, _ in docs if re.match(pattern, title)]
                self.assertEqual(1, len(found),
                                 f"configuration.md: want one key table titled /{pattern}/")
                self.assertEqual(sorted(keys), sorted(found[0]),
                                 f"configuration.md, table /{pattern}/ vs {name} in config_yaml.c")

    def test_sluice_yaml_5_documents_exactly_the_keys_the_loader_takes(self):
        entries = man_entries(read(YAML_5))
        for name, keys in sorted(self.tables.items()):
            with self.subTest(table=name):
                place = PLACES[name][1]
                self.assertEqual(sorted(keys), sorted(entries.get(place, {})),
                                 f"sluice.yaml(5), section {place[0]} under {place[1]} vs "
                                 f"{name} in config_yaml.c")


class LoaderBoundsInDocs(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.checks = loader_checks(list_keys())
        docs = markdown_key_tables(read(CONFIG_MD))
        man = man_entries(read(YAML_5))
        cls.md, cls.man = {}, {}
        for name, (pattern, place) in PLACES.items():
            for title, _, types, _ in docs:
                if re.match(pattern, title):
                    cls.md[name] = types
            cls.man[name] = man.get(place, {})

    def test_the_loader_checks_are_found(self):
        # a parse that finds nothing would let the other tests pass on nothing
        found = {(t, k): d for t, k, kind, d in self.checks}
        self.assertEqual((1, 10000000), found[("rate_keys", "per_second")])
        self.assertEqual((4096, 1 << 20), found[("listener_keys", "pipe_size")])
        self.assertEqual((3, 16777213), found[("group_keys", "maglev_table_size")])
        self.assertEqual(1, found[("timeout_keys", "connect")])
        self.assertEqual(["off", "v1", "v2"], found[("group_keys", "send_proxy")])
        self.assertGreater(len(self.checks), 30)

    def documented(self, table, key):
        return [("configuration.md", self.md.get(table, {}).get(key, "")),
                ("sluice.yaml(5)", self.man.get(table, {}).get(key, ""))]

    def test_each_range_the_loader_enforces_is_the_documented_one(self):
        for table, key, kind, (lo, hi) in (c for c in self.checks if c[2] == "range"):
            for doc, text in self.documented(table, key):
                with self.subTest(doc=doc, table=table, key=key):
                    self.assertIn((lo, hi), documented_ranges(text),
                                  f"{doc}: {key} ({table}) should say {lo}-{hi}, says: {text!r}")

    def test_each_duration_floor_is_documented_as_the_loader_has_it(self):
        for table, key, kind, lo in (c for c in self.checks if c[2] == "ms"):
            for doc, text in self.documented(table, key):
                with self.subTest(doc=doc, table=table, key=key):
                    self.assertIn("duration", text, f"{doc}: {key} ({table}): {text!r}")
                    self.assertEqual(lo == 1, "at least 1ms" in text,
                                     f"{doc}: {key} ({table}) takes durations from {lo}ms: {text!r}")

    def test_each_bounded_duration_is_documented_as_the_loader_has_it(self):
        for table, key, kind, (lo, hi) in (c for c in self.checks if c[2] == "ms_range"):
            for doc, text in self.documented(table, key):
                with self.subTest(doc=doc, table=table, key=key):
                    self.assertRegex(text, r"(?<![\w.])" + re.escape(lo) + r"\s*-\s*" +
                                     re.escape(hi) + r"(?![\w.])",
                                     f"{doc}: {key} ({table}) should say {lo}-{hi}: {text!r}")

    def test_each_choice_lists_the_names_the_loader_takes(self):
        for table, key, kind, names in (c for c in self.checks if c[2] == "enum"):
            md, man = self.md.get(table, {}).get(key, ""), self.man.get(table, {}).get(key, "")
            with self.subTest(doc="configuration.md", table=table, key=key):
                self.assertEqual(sorted(names), sorted(re.findall(r"`(\w+)`", md)), md)
            with self.subTest(doc="sluice.yaml(5)", table=table, key=key):
                choice = man.split("(", 1)[-1].split(";")[0]
                self.assertEqual(sorted(names), sorted(set(re.findall(r"\w+", choice)) - {"or"}), man)


def normal_default(kind, text):
    """A default as a comparable value: durations in ms, sizes in bytes, else the text."""
    try:
        if kind == "duration":
            return ms_value(text)
        if kind == "size":
            m = re.fullmatch(r"(\d+)([kKmM]?)", text)
            return size_value(m.group(1), m.group(2)) if m else text
        if kind == "integer":
            return int(text)
    except (ValueError, AttributeError):
        pass
    return text


class LoaderDefaultsInDocs(unittest.TestCase):
    """The default column of `sluice --list-keys` is configuration.md's: required keys are
    required on both sides, and a default the docs give as one value is the same value."""

    @classmethod
    def setUpClass(cls):
        docs = markdown_key_tables(read(CONFIG_MD))
        cls.rows = list_keys()
        cls.md = {}
        for name, (pattern, _) in PLACES.items():
            for title, _, _, defaults in docs:
                if re.match(pattern, title):
                    cls.md[name] = defaults

    def test_the_defaults_are_found(self):
        self.assertEqual("`16k`", self.md["listener_keys"]["buffer_size"])
        self.assertGreater(sum(len(c) for c in self.md.values()), 100)

    def test_required_keys_are_required_in_both(self):
        for row in self.rows:
            table, key = row["section"] + "_keys", row["key"]
            doc = self.md.get(table, {}).get(key)
            if doc is None:
                continue
            with self.subTest(table=table, key=key):
                self.assertEqual("**required**" in doc, row["default"].startswith("(required"),
                                 f"configuration.md says {doc!r}, --list-keys {row['default']!r}")

    def test_one_value_defaults_are_the_same_value(self):
        for row in self.rows:
            table, key = row["section"] + "_keys", row["key"]
            doc = self.md.get(table, {}).get(key, "")
            m = re.fullmatch(r"`([^`]+)`", doc)
            if m is None or row["default"] == "":
                continue
            kind = row["type"]
            with self.subTest(table=table, key=key):
                self.assertEqual(normal_default(kind, m.group(1)),
                                 normal_default(kind, row["default"]),
                                 f"configuration.md says {doc!r}, --list-keys {row['default']!r}")


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
