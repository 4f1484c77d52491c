"""bandit's checks in the scan, run by ruff (its flake8-bandit port): the findings must be bandit's own (compared with
the bandit command line, kept as a development tool for this), rated as bandit rates them, and a missing, crashing or
garbled ruff must error the scan, never pass it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from developers import scanner
from tests.publishing.packages import GOOD_SOURCE, build
from tests.publishing.test_scan import rules, scan_file

pytestmark = pytest.mark.django_db

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
    "nosec_other.py": "import hashlib\n\ndef digest(data):\n    return hashlib.md5(data).hexdigest()  # nosec B602\n",
    "random_token.py": "import random\n\ndef token():\n    return random.randint(0, 10**6)\n",
    "tarfile_all.py": "import tarfile\n\ndef unpack(path):\n    tarfile.open(path).extractall('out')\n",
    "telnet.py": "import telnetlib\n\ndef connect(host):\n    return telnetlib.Telnet(host)\n",
    "no_verify.py": "import requests\n\ndef fetch(url):\n    return requests.get(url, verify=False, timeout=5)\n",
    "jinja.py": "import jinja2\n\ndef env():\n    return jinja2.Environment(autoescape=False)\n",
    "xml_parse.py": "import xml.etree.ElementTree as ET\n\ndef parse(text):\n    return ET.fromstring(text)\n",
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


def scanned(tmp_path, files: dict[str, str | bytes]) -> dict:
    code, report = scan_file(tmp_path, build(files={f"lib/{name}": source for name, source in files.items()}))
    return report


def bandit_findings(report: dict, name: str) -> set[tuple[str, int]]:
    return {(f["message"].split()[1], f["line"]) for f in report["findings"]
            if f["rule"] == "bandit" and f["file"] == f"lib/{name}"}


def test_the_findings_are_the_bandit_command_lines(tmp_path):
    sources = tmp_path / "src"
    sources.mkdir()
    for name, source in SAMPLES.items():
        (sources / name).write_text(source, encoding="utf-8")
    expected = cli_findings(sources, list(SAMPLES))
    # The samples do exercise bandit: blacklists (calls, imports), plugins, string tests, file tests, nosec.
    assert {"B602", "B324", "B506", "B113", "B110", "B105", "B106", "B107", "B608", "B108", "B104", "B613",
            "B311", "B202", "B312", "B401", "B501", "B701", "B405", "B314", "B404"} <= {
        test for found in expected.values() for test, _ in found}
    assert expected["nosec.py"] == set() and expected["nosec_other.py"] != set()
    report = scanned(tmp_path, SAMPLES)
    assert {name: bandit_findings(report, name) for name in SAMPLES} == expected


def test_bandits_ratings_decide_what_blocks(tmp_path):
    report = scanned(tmp_path, {name: SAMPLES[name] for name in ("hashes.py", "telnet.py", "random_token.py",
                                                                 "swallow.py", "bidi.py")})
    found = [f for f in report["findings"] if f["rule"] == "bandit"]
    blocking = {f["message"].split()[1] for f in found if f["action"] == "reject"}
    advice = {f["message"].split()[1] for f in found if f["action"] == "warn"}
    assert blocking == {"B324", "B312", "B401", "B613"}  # high severity, medium or high confidence
    assert {"B311", "B110"} <= advice
    assert report["verdict"] == "rejected"


def test_every_rule_ruff_runs_has_bandits_rating():
    listing = subprocess.run([scanner.RUFF_BINARY, "rule", "--all", "--output-format", "json"], capture_output=True,
                             check=True, timeout=60)
    codes = {rule["code"] for rule in json.loads(listing.stdout) if rule["linter"] == "flake8-bandit"} - {"S101"}
    assert codes and {scanner.bandit_code(code) for code in codes} <= set(scanner.BANDIT_RATINGS)
    # bandit's own levels for its blacklists (B3xx calls, B4xx imports) are the ones the scan uses.
    from bandit.core import extension_loader

    for entries in extension_loader.MANAGER.blacklist.values():
        for entry in entries:
            if entry["id"] in scanner.BANDIT_RATINGS:
                assert scanner.BANDIT_RATINGS[entry["id"]] == (entry["level"].lower(), "high"), entry["id"]


def test_a_blocking_bandit_finding_still_rejects(tmp_path):
    code, report = scan_file(tmp_path, build(GOOD_SOURCE + "\nimport hashlib\n\n\ndef h(d):\n"
                                             "    return hashlib.md5(d).hexdigest()\n"))
    assert code == 1 and report["verdict"] == "rejected"
    assert "bandit" in rules(report)
    finding = next(f for f in report["findings"] if f["rule"] == "bandit")
    assert "B324" in finding["message"] and finding["file"] == "plugin.py" and finding["line"] > 1


def test_the_packages_own_tool_configuration_is_ignored(tmp_path):
    # A package that tries to switch ruff's checks off, or hide a file from it, gets nothing for it.
    files = {
        "pyproject.toml": '[tool.ruff]\nexclude = ["*"]\n[tool.ruff.lint]\nignore = ["S"]\n',
        "ruff.toml": 'extend-exclude = ["build"]\n[lint]\nselect = []\n',
        ".gitignore": "*\n",
        "build/--exit-zero.py": SAMPLES["hashes.py"],
        "-v.py": SAMPLES["telnet.py"],
    }
    code, report = scan_file(tmp_path, build(files=files))
    assert code == 1
    found = {(f["file"], f["message"].split()[1]) for f in report["findings"] if f["rule"] == "bandit"}
    assert {("build/--exit-zero.py", "B324"), ("-v.py", "B312"), ("-v.py", "B401")} <= found


def _fake_ruff(tmp_path, script: str) -> str:
    path = tmp_path / "ruff"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(0o755)
    return str(path)


@pytest.mark.parametrize("script, message", [
    ("echo 'ruff exploded' >&2\nexit 2\n", "ruff exploded"),
    ("echo 'warning: Failed to lint 0.py: Permission denied' >&2\necho '[]'\n", "Permission denied"),
    ("echo 'not json'\n", "not JSON"),
    ("echo '{\"results\": []}'\n", "not a list"),
    ("kill -9 $$\n", "exit -9"),
])
def test_a_failing_ruff_errors_the_scan(tmp_path, monkeypatch, script, message):
    monkeypatch.setattr(scanner, "RUFF_BINARY", _fake_ruff(tmp_path, script))
    code, report = scan_file(tmp_path, build(GOOD_SOURCE))
    assert code == 1 and report["verdict"] == "errored" and message in report["error"]


def test_a_file_that_is_not_utf8_is_one_syntax_error(tmp_path):
    code, report = scan_file(tmp_path, build(files={"latin.py": b"x = '\xff'\n"}))
    assert code == 1 and report["verdict"] == "rejected"
    assert [f["rule"] for f in report["findings"] if f["file"] == "latin.py"] == ["syntax-error"]


def test_a_missing_ruff_errors_the_scan_unless_bandit_is_skipped(tmp_path, monkeypatch):
    monkeypatch.setattr(scanner, "RUFF_BINARY", None)
    code, report = scan_file(tmp_path, build(GOOD_SOURCE))
    assert code == 1 and report["verdict"] == "errored" and "ruff is not installed" in report["error"]
    code, report = scan_file(tmp_path, build(GOOD_SOURCE), "--no-bandit")
    assert code == 0 and report["verdict"] == "passed"


def test_a_ruff_that_hangs_times_the_scan_out(tmp_path, monkeypatch, settings):
    monkeypatch.setattr(scanner, "RUFF_BINARY", _fake_ruff(tmp_path, "sleep 30\n"))
    settings.SCAN_TIMEOUT_SECONDS = 1
    code, report = scan_file(tmp_path, build(GOOD_SOURCE))
    assert code == 1 and report["verdict"] == "errored" and report["error"].startswith("timeout")
