"""The security scan and quality score, through the `scan_package` command (the contract other tools rely on) and
through the pipeline's scan service (fail closed)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from developers.models import BlockedHash
from tests.factories import PluginFactory
from tests.publishing.packages import (
    AWS_KEY,
    BASE64_PAYLOAD,
    GOOD_SOURCE,
    SUBPROCESS_VIA_IMPORT,
    UNDECLARED_SCOPE,
    build,
    hostile_corpus,
)

pytestmark = pytest.mark.django_db


def scan_file(tmp_path, data, *args):
    path = tmp_path / "p.zip"
    path.write_bytes(data)
    with pytest.raises(SystemExit) as exit_info:
        from io import StringIO

        out = StringIO()
        call_command("scan_package", str(path), *args, stdout=out)
    return exit_info.value.code, json.loads(out.getvalue())


def rules(report, *, blocking=True):
    return {f["rule"] for f in report["findings"] if not blocking or (f["enforced"] and f["action"] != "warn")}


def test_a_benign_package_passes_with_full_quality(tmp_path):
    code, report = scan_file(tmp_path, build())
    assert code == 0, report
    assert report["verdict"] == "passed"
    assert report["quality"]["score"] == 100
    assert {i["item"] for i in report["quality"]["breakdown"]} >= {"description", "icon", "screenshots", "tests"}
    assert rules(report) == set()


def test_subprocess_through_a_computed_dunder_import_is_quarantined(tmp_path):
    code, report = scan_file(tmp_path, build(SUBPROCESS_VIA_IMPORT))
    assert code == 1
    assert report["verdict"] == "quarantined"
    finding = next(f for f in report["findings"] if f["rule"] == "dangerous-import")
    assert "subprocess" in finding["message"]
    assert finding["file"] == "plugin.py" and finding["line"] > 0


def test_a_base64_packed_payload_is_quarantined(tmp_path):
    code, report = scan_file(tmp_path, build(BASE64_PAYLOAD))
    assert code == 1
    assert report["verdict"] == "quarantined"
    assert {"obfuscated-blob", "dangerous-call"} <= rules(report)


def test_an_aws_key_is_rejected(tmp_path):
    code, report = scan_file(tmp_path, build(AWS_KEY))
    assert code == 1
    assert report["verdict"] == "rejected"
    secret = next(f for f in report["findings"] if f["rule"] == "secret")
    assert "AWS" in secret["message"] and secret["line"] > 1


def test_an_undeclared_scope_is_rejected_with_the_scope_to_add(tmp_path):
    code, report = scan_file(tmp_path, build(UNDECLARED_SCOPE))
    assert code == 1
    finding = next(f for f in report["findings"] if f["rule"] == "undeclared-scope")
    assert "content:delete" in finding["message"]


def test_a_typosquatted_name_is_rejected(tmp_path):
    PluginFactory(id="quiz-helper", name="Quiz Helper")
    code, report = scan_file(tmp_path, build(plugin_id="quiz-he1per", name="Quiz He1per"))
    assert code == 1
    assert "typosquatting" in rules(report)


@pytest.mark.parametrize("source, rule", [
    ("import ctypes\n", "dangerous-import"),
    ("from os import system\nsystem('id')\n", "dangerous-call"),
    ("import os\nos.execv('/bin/sh', ['sh'])\n", "dangerous-call"),
    ("import pickle\npickle.loads(b'')\n", "dangerous-import"),
    ("import importlib\nimportlib.import_module(name)\n", "dynamic-import"),
    ("getattr(__builtins__, 'ex' + 'ec')('1')\n", "builtins-trick"),
    ("().__class__.__bases__[0].__subclasses__()\n", "builtins-trick"),
    ("open('/etc/cron.d/x', 'w').write('x')\n", "write-outside-data"),
    ("open('../../outside', mode='a')\n", "write-outside-data"),
    ("eval(input())\n", "dangerous-call"),
    ("import socket\n", "dangerous-import"),
    ("\uff45\uff56\uff41\uff4c(input())\n", "dangerous-call"),  # fullwidth "eval": Python reads it as eval
    ("import sys\nsys.modules['os'].system('id')\n", "dangerous-import"),
    ("from builtins import *\n", "dangerous-import"),
    # bandit's B614 and B615, which ruff does not port: our own rules.
    ("import torch as t\nmodel = t.load('model.pt')\n", "dangerous-call"),
    ("from huggingface_hub import hf_hub_download\n", "dangerous-import"),
])
def test_dangerous_code(tmp_path, source, rule):
    code, report = scan_file(tmp_path, build(GOOD_SOURCE + "\n" + source), "--no-bandit")
    assert code == 1
    assert rule in rules(report), report["findings"]


def test_a_non_utf8_source_encoding_is_obfuscation(tmp_path):
    source = b"# -*- coding: utf-7 -*-\n+AGUAdgBhAGw-('1')\n"
    code, report = scan_file(tmp_path, build(files={"helper.py": source}), "--no-bandit")
    assert code == 1
    assert "obfuscated-blob" in rules(report)


def test_scope_use_through_aliases_is_found(tmp_path):
    source = GOOD_SOURCE + "\n\ndef tell(ctx, text):\n    comms = ctx.api.communication\n" \
                           "    comms.sendEmail(text)\n"
    code, report = scan_file(tmp_path, build(source), "--no-bandit")
    assert code == 1
    finding = next(f for f in report["findings"] if f["rule"] == "undeclared-scope")
    assert "users:message" in finding["message"]


def test_nested_archives_are_refused(tmp_path):
    from tests.publishing.packages import raw_zip

    code, report = scan_file(tmp_path, build(files={"vendor/lib.zip": raw_zip([("x.py", "import os")])}),
                             "--no-bandit")
    assert code == 1 and "compiled-file" in rules(report)


def test_compiled_and_minified_files_are_refused(tmp_path):
    code, report = scan_file(tmp_path, build(files={"helper.pyc": b"\x55\x0d\x0d\x0a" + b"\0" * 20}), "--no-bandit")
    assert code == 1 and "compiled-file" in rules(report)
    code, report = scan_file(tmp_path, build(files={"ui/app.min.js": "var a=1;"}), "--no-bandit")
    assert code == 1 and "minified-file" in rules(report)


def test_private_key_and_stripe_key(tmp_path):
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\n"
    code, report = scan_file(tmp_path, build(files={"certs/key.pem": key}), "--no-bandit")
    assert code == 1 and "secret" in rules(report)
    code, report = scan_file(tmp_path, build(GOOD_SOURCE + '\nSTRIPE = "sk_live_' + "a1B2" * 6 + '"\n'),
                             "--no-bandit")
    assert code == 1 and "secret" in rules(report)


def test_a_blocklisted_file_inside_the_package_is_quarantined(tmp_path):
    import hashlib

    payload = b"known bad payload"
    BlockedHash.objects.create(sha256=hashlib.sha256(payload).hexdigest(), reason="malware family X")
    code, report = scan_file(tmp_path, build(files={"data/blob.txt": payload}), "--no-bandit")
    assert code == 1
    assert report["verdict"] == "quarantined"
    assert "blocklisted-hash" in rules(report)


def test_monitor_only_rules_report_without_blocking(tmp_path, settings):
    settings.SCAN_MONITOR_ONLY_RULES = ["secret"]
    code, report = scan_file(tmp_path, build(AWS_KEY), "--no-bandit")
    assert code == 0
    secret = next(f for f in report["findings"] if f["rule"] == "secret")
    assert secret["enforced"] is False


def test_low_quality_is_rejected_with_reasons(tmp_path):
    from tests.publishing.packages import manifest

    data = manifest(description="Short.", screenshots=[])
    for key in ("icon", "documentationUrl", "supportUrl", "changelog"):
        data.pop(key)
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("plugin.json", json.dumps(data))
        zf.writestr("plugin.py", GOOD_SOURCE)
    code, report = scan_file(tmp_path, buffer.getvalue(), "--no-bandit")
    assert code == 1
    assert report["verdict"] == "rejected"
    assert report["quality"]["score"] < report["quality"]["minimum"]
    quality = next(f for f in report["findings"] if f["rule"] == "quality")
    assert "description" in quality["message"] and "README" in quality["message"]


@pytest.mark.parametrize("name", list(hostile_corpus()))
def test_unreadable_packages_exit_2(tmp_path, name):
    data, code = hostile_corpus()[name]
    exit_code, report = scan_file(tmp_path, data)
    assert exit_code == 2
    assert report["error"]["code"] == code


def test_the_command_as_a_process_keeps_its_exit_codes(tmp_path):
    """The contract, exactly as CI and the CLI call it."""
    env_python = sys.executable
    manage = Path(__file__).resolve().parents[2] / "manage.py"
    good, bad, broken = tmp_path / "good.zip", tmp_path / "bad.zip", tmp_path / "broken.zip"
    good.write_bytes(build())
    bad.write_bytes(build(SUBPROCESS_VIA_IMPORT))
    broken.write_bytes(b"not a zip")
    from django.db import connection

    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
                                         f"{db['NAME']}"} if db["ENGINE"].endswith("postgresql") else dict(os.environ)
    results = {}
    for path in (good, bad, broken):
        done = subprocess.run([env_python, str(manage), "scan_package", str(path)], capture_output=True, timeout=120,
                              env=env)
        results[path.name] = (done.returncode, json.loads(done.stdout)["verdict"])
    assert results == {"good.zip": (0, "passed"), "bad.zip": (1, "quarantined"), "broken.zip": (2, "unreadable")}
