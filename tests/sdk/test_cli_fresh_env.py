"""In a fresh virtual environment with only the SDK: init → validate → test → build, and the CLI's error paths
(invalid manifest, missing token, server down) as one clear line each with the documented exit code.
The package it builds is checked with the server's own package reader and scanner."""

import hashlib
import io
import json
import socket
import zipfile
from contextlib import redirect_stdout

import pytest
from django.core.management import call_command

from runtime.api import read_package


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error: ")]


def scan(path) -> tuple[int, dict]:
    """The publishing pipeline's `scan_package` (validation, security scan, quality score), as CI would run it."""
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit) as exited:
        call_command("scan_package", str(path), "--no-bandit", stdout=out)
    return exited.value.code, json.loads(out.getvalue())


@pytest.mark.django_db
def test_init_validate_test_build_in_a_fresh_venv(sdk_env, tmp_path):
    assert sdk_env.run("--version", cwd=tmp_path).stdout.strip() == "aisquare-plugin 0.1.0"

    created = sdk_env.run("init", "Essay Grader", "--template", "assessment", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    project = tmp_path / "essay-grader"

    validated = sdk_env.run("validate", cwd=project)
    assert validated.returncode == 0, validated.stderr
    assert "Plugin validation passed: essay-grader 0.1.0" in validated.stdout

    tested = sdk_env.run("test", cwd=project)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "unittest (pytest is not installed)" in tested.stdout  # the venv has the SDK and nothing else
    assert "Ran 3 tests" in tested.stderr and "OK" in tested.stderr

    coverage = sdk_env.run("test", "--coverage", cwd=project)
    assert coverage.returncode == 2
    assert coverage.stderr == "error: --coverage needs the coverage package: pip install coverage\n"

    built = sdk_env.run("build", cwd=project)
    assert built.returncode == 0, built.stderr
    package = project / "dist" / "essay-grader-0.1.0.zip"
    data = package.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert f"sha256 {digest}" in built.stdout
    assert (project / "dist" / "essay-grader-0.1.0.zip.sha256").read_text().split()[0] == digest
    with zipfile.ZipFile(package) as zf:
        assert sorted(zf.namelist()) == ["README.md", "icon.svg", "plugin.json", "plugin.py", "tests/test_plugin.py"]

    # The server reads it, and the publishing scanner passes it.
    assert read_package(data).manifest.id == "essay-grader"
    code, report = scan(package)
    assert (code, report["verdict"]) == (0, "passed"), report


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["advanced-assessment-suite", "lesson-summaries", "midnight-theme"])
def test_each_example_validates_tests_builds_and_passes_the_scan(sdk_env, example_copy, name):
    project = example_copy(name)
    for command in ("validate", "test", "build"):
        result = sdk_env.run(command, cwd=project)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    [package] = (project / "dist").glob("*.zip")
    assert read_package(package.read_bytes()).manifest.id == name
    code, report = scan(package)
    assert (code, report["verdict"]) == (0, "passed"), report
    assert [f for f in report["findings"] if f.get("severity") in ("high", "critical")] == []


@pytest.mark.django_db
def test_coverage_once_the_coverage_package_is_installed(sdk_env, example_copy, tmp_path):
    import subprocess

    venv = tmp_path / "venv-coverage"
    subprocess.run([sdk_env.python, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(sdk_env.venv.parent / "sdk"),
                                "coverage"], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stderr
    project = example_copy("lesson-summaries")
    result = subprocess.run([str(venv / "bin" / "python"), "-m", "aisquare_plugin_sdk.cli", "test", "--coverage"],
                            cwd=project, capture_output=True, text=True, timeout=300,
                            env={"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "plugin.py" in result.stdout and "TOTAL" in result.stdout  # coverage's report, tests/ left out
    assert "tests/test_plugin.py" not in result.stdout


def test_an_invalid_manifest_gives_one_line_per_error_and_exit_1(sdk_env, example_copy):
    project = example_copy("midnight-theme")
    data = json.loads((project / "plugin.json").read_text())
    data.update(version="one", permissions=[{"scope": "files:everything", "reason": "x"}])
    (project / "plugin.json").write_text(json.dumps(data))

    for command in ("validate", "build", "publish"):
        result = sdk_env.run(command, cwd=project)
        assert result.returncode == 1, command
        assert error_lines(result.stderr) == [
            "error: plugin.json: version: a semantic version such as 1.0.0 (each part below 10000)",
            "error: plugin.json: permissions[0].scope: unknown scope 'files:everything'",
        ], command
    assert not (project / "dist").exists()


def test_not_a_plugin_folder_is_a_usage_error(sdk_env, tmp_path):
    result = sdk_env.run("validate", cwd=tmp_path)
    assert result.returncode == 2 and len(error_lines(result.stderr)) == 1
    assert "no plugin.json" in result.stderr
    result = sdk_env.run("publish", "--bogus", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.count("\n") == 1


def test_missing_token_exits_2_with_one_line(sdk_env, example_copy):
    project = example_copy("midnight-theme")
    result = sdk_env.run("publish", cwd=project, env={"AISQUARE_URL": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert error_lines(result.stderr) == [
        "error: no developer token: set AISQUARE_TOKEN or put \"token\" in ~/.config/aisquare/config.json "
        "(create one at http://127.0.0.1:9/developer/tokens/)"]
    assert result.stderr.count("\n") == 1


def test_server_down_exits_3_with_one_line(sdk_env, example_copy):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens on it once the socket closes
    project = example_copy("midnight-theme")
    result = sdk_env.run("publish", cwd=project, env={"AISQUARE_URL": f"http://127.0.0.1:{port}",
                                                      "AISQUARE_TOKEN": "aisq_whatever"})
    assert result.returncode == 3
    errors = error_lines(result.stderr)
    assert len(errors) == 1 and errors[0].startswith(f"error: cannot reach http://127.0.0.1:{port}: ")
