"""bandit inside the scan: in-process on the already-parsed AST, only on files where one of its tests can fire. The
results must be bandit's own (compared with the bandit command line), and the prefilter must never skip a file the
command line finds something in."""

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from developers import scanner
from tests.publishing.packages import GOOD_SOURCE, build
from tests.publishing.test_scan import rules, scan_file

SAMPLES = {
    "shell.py": "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
    "hashes.py": "import hashlib\n\ndef digest(data):\n    return hashlib.md5(data).hexdigest()\n",
    "yaml_load.py": "import yaml\n\ndef load(text):\n    return yaml.load(text)\n",
    "requests_get.py": "import requests\n\ndef fetch(url):\n    return requests.get(url)\n",
    "swallow.py": "def f(x):\n    try:\n        return int(x)\n    except Exception:\n        pass\n",
    "password.py": "def connect(db):\n    password = 'hunter2'\n    return db.login(user='me', password='hunter2')\n",
    "default_pw.py": "def login(user, password='hunter2'):\n    return user, password\n",
    "sql.py": "def q(cursor, name):\n    cursor.execute('SELECT * FROM users WHERE name = %s' % name)\n",
    "escaped_sql.py": "def q(cursor, name):\n    cursor.execute('\\x53ELECT * FROM users WHERE name = %s' % name)\n",
    "tmp.py": "def path():\n    return '/tmp/cache.json'\n",
    "bind.py": "HOST = '0.0.0.0'\n",
    "bidi.py": "access = 'user\u202e \u2066# admin\u2069 \u2066'\nprint(access)\n",
    "nosec.py": "import hashlib\n\ndef digest(data):\n    return hashlib.md5(data).hexdigest()  # nosec B324\n",
    "random_token.py": "import random\n\ndef token():\n    return random.randint(0, 10**6)\n",
    "tarfile_all.py": "import tarfile\n\ndef unpack(path):\n    tarfile.open(path).extractall('out')\n",
    "plain.py": GOOD_SOURCE,
    "maths.py": "import math\n\n\ndef norm(values):\n    return math.sqrt(sum(v * v for v in values))\n",
}


def cli_findings(root: Path, paths: list[str]) -> dict[str, set[tuple[str, int]]]:
    bandit = Path(sys.executable).with_name("bandit")
    done = subprocess.run([str(bandit), "-f", "json", "-q", "--exit-zero", "--skip", "B101", *paths],
                          capture_output=True, cwd=root, timeout=300)
    report = json.loads(done.stdout)
    found: dict[str, set[tuple[str, int]]] = {p: set() for p in paths}
    for issue in report["results"]:
        found[os.path.normpath(issue["filename"])].add((issue["test_id"], issue["line_number"]))
    return found


class _Clock:
    def check_deadline(self):
        pass


def in_process(path: str, content: bytes) -> set[tuple[str, int]]:
    import ast

    engine = scanner._bandit_engine()
    text = content.decode()
    return {(i["test_id"], i["line_number"]) for i in engine.run(_Clock(), path, content, text, ast.parse(text))}


def gate(content: bytes) -> bool:
    import unicodedata

    text = content.decode("utf-8", "replace")
    normalized = text if text.isascii() else unicodedata.normalize("NFKC", text)
    return scanner._bandit_engine().needed(frozenset(scanner.IDENTIFIER_RE.findall(normalized)), normalized)


def test_in_process_results_are_the_command_lines(tmp_path):
    for name, source in SAMPLES.items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    expected = cli_findings(tmp_path, list(SAMPLES))
    # The samples do exercise bandit (blacklists, plugins, string tests, File tests, nosec).
    assert {"B602", "B324", "B506", "B113", "B110", "B105", "B106", "B107", "B608", "B108", "B104", "B613",
            "B311", "B202"} <= {test for found in expected.values() for test, _ in found}
    assert expected["nosec.py"] == set()
    for name, source in SAMPLES.items():
        assert in_process(name, source.encode()) == expected[name], name


def test_the_prefilter_skips_only_files_bandit_finds_nothing_in(tmp_path):
    site = Path(scanner.__file__).resolve().parents[1] / ".venv" / "lib"
    real = sorted(glob.glob(str(site / "python3*/site-packages/django/**/*.py"), recursive=True))[::40]
    corpus = {name: source.encode() for name, source in SAMPLES.items()}
    for i, path in enumerate(real):
        corpus[f"real_{i}.py"] = Path(path).read_bytes()
    for name, content in corpus.items():
        (tmp_path / name).write_bytes(content)
    expected = cli_findings(tmp_path, list(corpus))
    skipped = [name for name, content in corpus.items() if not gate(content)]
    assert "maths.py" in skipped and len(skipped) > 1  # the prefilter does skip something
    assert {name: expected[name] for name in skipped if expected[name]} == {}


def test_the_pinned_patterns_are_bandits():
    import re

    from bandit.plugins import general_hardcoded_password, injection_sql

    engine = scanner._bandit_engine()
    modules = {sys.modules[t.__module__] for tests in engine.testset.tests.values() for t in tests}
    patterns = {f"{m.__name__}.{name}" for m in modules for name, value in vars(m).items()
                if isinstance(value, re.Pattern)}
    # Every regex a bandit test matches with is accounted for by the prefilter: the two below by their literals,
    # injection_shell's path pattern applies to the arguments of process calls (gated by their names). A new one
    # must be looked at before upgrading bandit.
    assert patterns == {"bandit.plugins.general_hardcoded_password.RE_CANDIDATES",
                        "bandit.plugins.injection_sql.SIMPLE_SQL_RE", "bandit.plugins.injection_shell.full_path_match"}

    # The literals the prefilter requires were derived from these patterns: an upgrade that changes them must
    # re-derive BANDIT_PASSWORD_LITERALS / BANDIT_SQL_LITERALS.
    assert general_hardcoded_password.RE_CANDIDATES.pattern == scanner.BANDIT_PASSWORD_PATTERN
    assert injection_sql.SIMPLE_SQL_RE.pattern == scanner.BANDIT_SQL_PATTERN


@pytest.mark.django_db
def test_a_blocking_bandit_finding_still_rejects(tmp_path):
    code, report = scan_file(tmp_path, build(GOOD_SOURCE + "\nimport hashlib\n\n\ndef h(d):\n"
                                             "    return hashlib.md5(d).hexdigest()\n"))
    assert code == 1 and report["verdict"] == "rejected"
    assert "bandit" in rules(report)
    finding = next(f for f in report["findings"] if f["rule"] == "bandit")
    assert "B324" in finding["message"] and finding["file"] == "plugin.py" and finding["line"] > 1


@pytest.mark.django_db
def test_bandit_failing_errors_the_scan(tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("bandit exploded")

    monkeypatch.setattr(scanner._BanditEngine, "run", explode)
    code, report = scan_file(tmp_path, build(GOOD_SOURCE + "\nimport hashlib\nhashlib.md5(b'')\n"))
    assert code == 1 and report["verdict"] == "errored" and "bandit exploded" in report["error"]
