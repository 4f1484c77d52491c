"""The scan's prefilters, as an attacker would try to slip past them. The AST rules analyse only the top-level
statements of a file that hold one of their trigger words (found by grep), with the imports and what uses their
aliases; a file with non-ASCII text, a declared encoding or unusual line ends is analysed whole. Whatever the
prefilter leaves out, the whole-file analysis must find nothing more in."""

import glob
from pathlib import Path

import pytest

from developers import scanner
from tests.publishing.packages import GOOD_SOURCE, build
from tests.publishing.test_scan import scan_file

pytestmark = pytest.mark.django_db

EVAL_BY_NAME = "getattr(__builtins__, 'ev' + 'al')('1')"

# (source appended to a benign plugin, the rule that must fire, the line it must point at (None: any))
HOSTILE = {
    # A part that starts inside a string: alone, the code would read as the string's text.
    "code between two strings": (
        's = """\n""" ; ' + EVAL_BY_NAME + ' ; t = """\n"""\n', "builtins-trick", 2),
    "code after a continued one-line string": (
        "s = 'a\\\n' ; " + EVAL_BY_NAME + " ; t = 'b\\\n'\n", "builtins-trick", 2),
    "code between two triple-single-quoted strings": (
        "s = '''\n''' ; " + EVAL_BY_NAME + " ; t = '''\n'''\n", "builtins-trick", 2),
    # Aliases defined in one statement and used in another that holds no trigger word.
    "an alias copied twice": ("import os\nrun = os.system\n\n\nalias = run\n\n\ndef go():\n    alias('id')\n",
                              "dangerous-call", 9),
    "an alias used before it is defined": (
        "def go():\n    later('id')\n\n\nlater = first\nimport os\nfirst = os.system\n", "dangerous-call", 2),
    "an import alias used far away": ("import os as q\n" + "def f():\n    return 1\n\n\n" * 40 +
                                      "def g():\n    q.system('id')\n", "dangerous-call", 163),
    # Where statements continue across lines that start at the first column.
    "a decorated function": ("import functools\n@functools.cache\ndef f():\n    return eval('1')\n",
                             "dangerous-call", 4),
    "an else branch": ("if context:\n    pass\nelse:\n    eval(input())\n", "dangerous-call", 4),
    "a star import over a line continuation": ("from os import \\\n *\n", "dangerous-import", 1),
    "an argument on a line of its own": ("print(\n" + EVAL_BY_NAME + "\n)\n", "builtins-trick", 2),
    # Names a word list could miss.
    "os.exec* by prefix": ("import os\nos.execvpe('/bin/sh', ['sh'], {})\n", "dangerous-call", 2),
    "os.spawn* by prefix": ("import os\nos.spawnlp(os.P_WAIT, 'sh', 'sh')\n", "dangerous-call", 2),
    "a trigger at the end of a long file": ("def a():\n    return 1\n\n\n" * 300 + EVAL_BY_NAME + "\n",
                                            "builtins-trick", 1201),
    # Text that grep and Python read differently: analysed whole.
    "carriage returns as line ends": ("x = 1\rimport ctypes\r", "dangerous-import", None),
    "fullwidth letters (NFKC)": ("\uff45\uff56\uff41\uff4c(input())\n", "dangerous-call", 1),
    "a NUL byte": ("x = 1\0\nimport ctypes\n", "syntax-error", None),
    "a declared encoding": ("# -*- coding: utf-7 -*-\nimport ctypes\n", "obfuscated-blob", None),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_code_is_found_wherever_it_hides(tmp_path, name):
    source, rule, line = HOSTILE[name]
    offset = GOOD_SOURCE.count("\n") + 1
    code, report = scan_file(tmp_path, build(files={"helper.py": source.encode()}), "--no-bandit")
    assert code == 1, report
    found = {(f["rule"], f["line"]) for f in report["findings"] if f["file"] == "helper.py"}
    assert any(r == rule and (line is None or n == line) for r, n in found), (found, offset)


def _ast_findings(report: dict) -> set[tuple]:
    ast_rules = {"dangerous-import", "dangerous-call", "dynamic-import", "builtins-trick", "write-outside-data",
                 "syntax-error", "dynamic-api-call"}
    return {(f["rule"], f["file"], f["line"], f["message"]) for f in report["findings"] if f["rule"] in ast_rules}


def test_the_parts_find_what_the_whole_files_do(tmp_path, monkeypatch):
    # Real code (a sample of Django's source: imports of os and sys, getattr, open, importlib...) and the hostile
    # samples, scanned with the prefilter and then with every file analysed whole (as without grep).
    site = Path(scanner.__file__).resolve().parents[1] / ".venv" / "lib"
    real = sorted(glob.glob(str(site / "python3*/site-packages/django/**/*.py"), recursive=True))[::25]
    files = {f"real/{i}_{Path(p).name}": Path(p).read_bytes() for i, p in enumerate(real)}
    files.update({f"hostile/{i}.py": source.encode() for i, (source, _, _) in enumerate(HOSTILE.values())})
    files["hostile/api.py"] = b"def run(context, method):\n    return context.call(method)\n"
    package = build(files=files)
    code, parts = scan_file(tmp_path, package, "--no-bandit")
    monkeypatch.setattr(scanner, "GREP_BINARY", None)
    code, whole = scan_file(tmp_path, package, "--no-bandit")
    assert len(_ast_findings(whole)) > len(HOSTILE)  # the real code does have findings of every kind
    assert {rule for rule, *_ in _ast_findings(whole)} >= {"dangerous-import", "dangerous-call", "builtins-trick",
                                                           "dynamic-import"}
    assert _ast_findings(parts) == _ast_findings(whole)


def test_files_without_trigger_words_are_not_parsed_but_still_checked(tmp_path):
    # No AST rule can fire on this file, so it is not parsed: its syntax error comes from ruff (bandit's pass) only.
    plain = "def f(:\n    return 1\n"
    code, report = scan_file(tmp_path, build(files={"plain.py": plain}), "--no-bandit")
    assert not [f for f in report["findings"] if f["file"] == "plain.py"]
    code, report = scan_file(tmp_path, build(files={"plain.py": plain}))
    assert code == 1 and ("syntax-error", "plain.py") in {(f["rule"], f["file"]) for f in report["findings"]}


@pytest.mark.parametrize("secret", [
    "aWs_SeCrEt_KeY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'\n",
    "token = 'xoxb-1234567890-abcdefghij'\n",
    "KEY = '-----BEGIN OPENSSH PRIVATE KEY-----'\n",
])
def test_secrets_in_any_case_and_any_file_are_found(tmp_path, secret):
    for name in ("settings.py", "config/.env", "notes"):
        code, report = scan_file(tmp_path, build(files={name: secret}), "--no-bandit")
        assert code == 1 and ("secret", name) in {(f["rule"], f["file"]) for f in report["findings"]}, name


def test_a_long_chain_of_aliases_is_followed_forward_and_cannot_stall_the_scan(tmp_path, settings):
    forward = "import os\nlink0 = os.system\n" + "".join(f"link{i} = link{i - 1}\n\n" for i in range(1, 40)) + \
        "link39('id')\n"
    code, report = scan_file(tmp_path, build(files={"helper.py": forward}), "--no-bandit")
    assert ("dangerous-call", 81) in {(f["rule"], f["line"]) for f in report["findings"] if f["file"] == "helper.py"}
    # Thousands of aliases, each defined after the one it copies: followed a bounded number of steps back, in time.
    settings.SCAN_TIMEOUT_SECONDS = 20
    backward = "import os\n" + "".join(f"a{i} = a{i + 1}\n\n" for i in range(3000)) + "a3000 = os.system\na0('id')\n"
    code, report = scan_file(tmp_path, build(files={"helper.py": backward}), "--no-bandit")
    assert report["verdict"] != "errored", report["error"]


def test_a_failing_grep_errors_the_scan(tmp_path, monkeypatch):
    # Without grep every file is analysed whole (slower, as sound); a grep that fails must not pass anything.
    failing = tmp_path / "grep"
    failing.write_text("#!/bin/sh\necho 'grep: out of memory' >&2\nexit 2\n")
    failing.chmod(0o755)
    monkeypatch.setattr(scanner, "GREP_BINARY", str(failing))
    code, report = scan_file(tmp_path, build(GOOD_SOURCE), "--no-bandit")
    assert code == 1 and report["verdict"] == "errored" and "out of memory" in report["error"]


@pytest.mark.parametrize("source", [
    "def run(context, method):\n    return context.call(method)\n",
    "def run(context, method):\n    return context . call (\n        method, x=1)\n",
])
def test_a_plugin_api_call_by_computed_name_is_seen_without_any_other_trigger(tmp_path, source):
    code, report = scan_file(tmp_path, build(files={"helper.py": source}), "--no-bandit")
    assert ("dynamic-api-call", "helper.py") in {(f["rule"], f["file"]) for f in report["findings"]}


def test_a_plugin_api_call_by_a_folded_name_needs_its_scope(tmp_path):
    # The text shows no method name; the AST folds it, and the scope it needs is not declared.
    code, report = scan_file(tmp_path, build(files={"helper.py": "def run(context):\n"
                                                                 "    return context.call('content.' + 'create')\n"}),
                             "--no-bandit")
    assert code == 1
    assert ("undeclared-scope", "helper.py", 2) in {(f["rule"], f["file"], f["line"]) for f in report["findings"]}


@pytest.mark.parametrize("source", [
    "def run(context):\n    create = context.api.content.create\n    return create(title='x')\n",
    "def setup(context):\n    global api\n    api = context.api  # the Plugin API\n\n\n"
    "def run():\n    return api.content.create(title='x')\n",
    "def run(context):\n    return context.api .content.create(title='x')\n",
])
def test_a_plugin_api_scope_used_through_an_alias_or_odd_spacing_needs_declaring(tmp_path, source):
    code, report = scan_file(tmp_path, build(files={"helper.py": source}), "--no-bandit")
    assert code == 1
    assert ("undeclared-scope", "helper.py") in {(f["rule"], f["file"]) for f in report["findings"]}, report
