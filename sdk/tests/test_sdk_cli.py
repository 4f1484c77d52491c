"""The `aisquare-plugin` CLI in-process: init, validate, build, docs, test; exit codes and one-line errors."""

import hashlib
import json
import zipfile

import pytest
import sdk_examples

from aisquare_plugin_sdk.cli import main
from aisquare_plugin_sdk.manifest import parse_manifest

example = sdk_examples.example  # the fixture: an example plugin copied into tmp_path


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("template,category,scopes", [
    ("basic", "productivity", []),
    ("assessment", "assessment", ["assessments:read", "assessments:grade", "ai:use"]),
    ("analytics", "analytics", ["assessments:read", "analytics:read", "analytics:write"]),
    ("ui-theme", "ui_theme", []),
])
def test_init_then_validate_then_test_then_build(tmp_path, monkeypatch, capsys, template, category, scopes):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "init", "Quiz Helper", "--template", template)[0] == 0
    project = tmp_path / "quiz-helper"
    manifest = parse_manifest((project / "plugin.json").read_bytes())
    assert (manifest.id, manifest.data["name"], manifest.data["category"]) == ("quiz-helper", "Quiz Helper", category)
    assert manifest.scopes == scopes

    code, out, err = run(capsys, "validate", "--path", str(project))
    assert code == 0, err
    assert "Plugin validation passed: quiz-helper 0.1.0" in out
    code, out, err = run(capsys, "test", "--path", str(project))
    assert code == 0, out + err
    code, out, err = run(capsys, "build", "--path", str(project))
    assert code == 0, err
    assert (project / "dist" / "quiz-helper-0.1.0.zip").is_file()


def test_init_category_override_and_refusals(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert run(capsys, "init", "Tutor", "-t", "basic", "-c", "language")[0] == 0
    assert json.loads((tmp_path / "tutor" / "plugin.json").read_text())["category"] == "language"

    code, _, err = run(capsys, "init", "Tutor")
    assert code == 2 and err.count("\n") == 1 and "already exists" in err
    code, _, err = run(capsys, "init", "!!!")
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exited:
        main(["init", "X", "--template", "nope"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_validate_reports_each_error_on_its_own_line(example, capsys):
    project = example("advanced-assessment-suite")
    data = json.loads((project / "plugin.json").read_text())
    data.update(version="1.0", category="games")
    data["permissions"] = [p for p in data["permissions"] if p["scope"] != "ai:use"]
    (project / "plugin.json").write_text(json.dumps(data))

    code, out, err = run(capsys, "validate", "-p", str(project))
    assert code == 1 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert any("version:" in line for line in errors)
    assert any("category:" in line for line in errors)
    assert len(errors) == 2  # the manifest is checked first; the code only once it is valid

    data.update(version="1.0.0", category="assessment")
    (project / "plugin.json").write_text(json.dumps(data))
    code, _, err = run(capsys, "validate", "-p", str(project))
    assert code == 1
    assert "error: permissions: the code calls ai.analyze_text (plugin.py:" in err and "needs ai:use" in err


def test_validate_catches_syntax_errors_and_a_missing_entry_point(example, capsys):
    project = example("midnight-theme")
    (project / "plugin.py").write_text("def broken(:\n")
    code, _, err = run(capsys, "validate", "-p", str(project))
    assert code == 1 and "syntax error in plugin.py:1" in err
    (project / "plugin.py").write_text("X = 1\n")
    code, _, err = run(capsys, "validate", "-p", str(project))
    assert code == 1 and "defines neither init(context) nor an @export-ed Plugin class" in err


def test_usage_errors_exit_2_with_one_line(tmp_path, capsys):
    code, _, err = run(capsys, "validate", "--path", str(tmp_path / "missing"))
    assert code == 2 and err == f"error: {tmp_path / 'missing'}: no such directory\n"
    code, _, err = run(capsys, "validate", "--path", str(tmp_path))
    assert code == 2 and err.startswith("error: no plugin.json in") and err.count("\n") == 1
    with pytest.raises(SystemExit) as exited:
        main(["build", "--bogus"])
    assert exited.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main([]) == 2


@pytest.mark.parametrize("command", ["init", "validate", "test", "dev", "build", "publish", "docs"])
def test_help_everywhere(capsys, command):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    assert "usage: aisquare-plugin " + command in capsys.readouterr().out


def test_build_is_reproducible_and_leaves_out_secrets_and_caches(example, capsys):
    project = example("advanced-assessment-suite")
    (project / ".env").write_text("SECRET=1")
    (project / "__pycache__").mkdir()
    (project / "__pycache__" / "plugin.cpython-311.pyc").write_bytes(b"x")
    (project / "notes.txt").write_text("private")
    (project / ".aisquareignore").write_text("# drafts\nnotes.txt\n")

    assert run(capsys, "build", "-p", str(project), "-o", str(project / "out1"))[0] == 0
    (project / "plugin.py").touch()  # a newer mtime must not change the package
    code, out, _ = run(capsys, "build", "-p", str(project), "-o", str(project / "out2"))
    assert code == 0
    first = (project / "out1" / "advanced-assessment-suite-1.0.0.zip").read_bytes()
    second = (project / "out2" / "advanced-assessment-suite-1.0.0.zip").read_bytes()
    assert first == second
    digest = hashlib.sha256(first).hexdigest()
    assert f"sha256 {digest}" in out
    assert (project / "out1" / "advanced-assessment-suite-1.0.0.zip.sha256").read_text() == \
        f"{digest}  advanced-assessment-suite-1.0.0.zip\n"
    with zipfile.ZipFile(project / "out1" / "advanced-assessment-suite-1.0.0.zip") as zf:
        infos = zf.infolist()
    assert [i.filename for i in infos] == ["plugin.json", "README.md", "icon.svg", "plugin.py", "tests/test_plugin.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 & 0o777 for i in infos} == {0o644}


def test_build_refuses_symlinks_and_an_invalid_project(example, capsys):
    project = example("midnight-theme")
    (project / "link.py").symlink_to("/etc/passwd")
    code, _, err = run(capsys, "build", "-p", str(project))
    assert code == 1 and "link.py: a symbolic link" in err
    assert not (project / "dist").exists()


def test_docs_markdown_and_html(example, capsys, tmp_path):
    project = example("advanced-assessment-suite")
    code, out, _ = run(capsys, "docs", "-p", str(project))
    assert code == 0
    assert "| `ai:use` | Use AI for automated grading | no | `ai.analyze_text` |" in out
    assert "### `set_auto_grading(assessment_id, enabled)`" in out
    assert "- listens to `assessment:submitted`" in out
    assert "- `on_install`" in out and "dashboard widget “Assessment Analytics”" in out

    target = tmp_path / "ref.html"
    assert run(capsys, "docs", "-p", str(project), "-o", str(target))[0] == 0
    page = target.read_text()
    assert page.startswith("<!doctype html>") and "<code>ai:use</code>" in page and "<script" not in page


def test_docs_of_a_module_style_plugin(example, capsys):
    code, out, _ = run(capsys, "docs", "-p", str(example("lesson-summaries")))
    assert code == 0
    assert "### `summarize(content_id)`" in out and "- listens to `content:created`" in out
    assert "toolbar action “Summarize”" in out


def test_test_command_passes_and_fails_with_the_right_exit_code(example, capsys):
    project = example("midnight-theme")
    code, out, _ = run(capsys, "test", "-p", str(project))
    assert code == 0 and "Running the tests with pytest" in out
    (project / "tests" / "test_plugin.py").write_text(
        (project / "tests" / "test_plugin.py").read_text().replace('"dark"', '"light"'))
    code, _, err = run(capsys, "test", "-p", str(project))
    assert code == 1 and "error: tests failed" in err


def test_test_command_without_tests_or_coverage(example, capsys, monkeypatch):
    project = example("midnight-theme")
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "coverage" else real(name, *a))
    code, _, err = run(capsys, "test", "-p", str(project), "--coverage")
    assert code == 2 and err == "error: --coverage needs the coverage package: pip install coverage\n"
    for path in (project / "tests").iterdir():
        path.unlink()
    (project / "tests").rmdir()
    code, _, err = run(capsys, "test", "-p", str(project))
    assert code == 2 and "no tests/ folder" in err


def test_validate_knows_the_platform_events_and_their_scopes(example, capsys):
    project = example("advanced-assessment-suite")
    data = json.loads((project / "plugin.json").read_text())
    data["permissions"] = [p for p in data["permissions"] if p["scope"] != "assessments:read"]
    (project / "plugin.json").write_text(json.dumps(data))
    source = (project / "plugin.py").read_text()
    (project / "plugin.py").write_text(source.replace(
        'context.events.on("assessment:submitted", self.on_submitted)',
        'context.events.on("assessment:submitted", self.on_submitted)\n'
        '        context.events.on("assessment:reviewed", self.on_submitted)\n'
        '        context.events.emit("content:created", {})'))
    code, _, err = run(capsys, "validate", "-p", str(project))
    assert code == 1
    assert "calls events.on(assessment:submitted) (plugin.py:" in err and "needs assessments:read" in err
    assert "error: events: assessment:reviewed is not a platform event" in err
    assert "a plugin emits only its own events, named advanced-assessment-suite:<name> (not content:created)" in err


def test_test_watch_runs_again_when_a_file_changes(example):
    import os
    import signal
    import subprocess
    import sys
    import time

    project = example("midnight-theme")
    proc = subprocess.Popen([sys.executable, "-m", "aisquare_plugin_sdk.cli", "test", "--watch", "-p", str(project)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []

    def wait_for(text, count):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if sum(text in seen for seen in lines) >= count:
                return
        raise AssertionError("".join(lines))

    try:
        wait_for("Watching for changes", 1)
        test_file = project / "tests" / "test_plugin.py"
        test_file.write_text(test_file.read_text().replace('"dark"', '"light"'))
        wait_for("Watching for changes", 2)
        assert sum("Running the tests" in line for line in lines) == 2
        assert any("1 failed" in line for line in lines)
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 1  # the exit code of the last run


def test_validate_warns_what_the_quality_score_will_miss(example, capsys):
    project = example("midnight-theme")
    data = json.loads((project / "plugin.json").read_text())
    data["description"] = "Dark."
    del data["icon"], data["changelog"]
    (project / "plugin.json").write_text(json.dumps(data))
    code, _, err = run(capsys, "validate", "-p", str(project))
    assert code == 0  # advice, not errors: the platform decides the minimum
    assert "warning: quality: the description has 5 characters; 200 or more earn full points" in err
    assert "warning: quality: no icon" in err and "warning: quality: add a changelog to plugin.json" in err
