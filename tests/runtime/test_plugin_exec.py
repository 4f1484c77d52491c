"""`manage.py plugin_exec`: its exit codes and output are a contract."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.runtime.packages import build_package

pytestmark = [pytest.mark.sandbox]

SOURCE = '''
import os
context = None

def init(c):
    global context
    context = c

def add(a, b=0):
    return a + b

def stored(key, value):
    context.storage.set(key, value)
    return context.storage.get(key)

def boom():
    raise ValueError("bad input")

def spin():
    while True:
        pass

def shell():
    os.system("id")

def hungry(mb):
    return len(bytearray(mb * 1024 * 1024))

def reads_content():
    return context.call("content.get", content_id="1")
'''


def run(tmp_path, *argv, package=None):
    path = tmp_path / "plugin.zip"
    path.write_bytes(package or build_package(SOURCE))
    return subprocess.run([sys.executable, "manage.py", "plugin_exec", str(path), *argv], capture_output=True,
                          text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])


@pytest.fixture
def tmp(sandbox, tmp_path):
    return tmp_path


def test_prints_the_json_result_and_exits_0(tmp):
    done = run(tmp, "add", "--args", "[2]", "--kwargs", '{"b": 40}')
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == 42
    done = run(tmp, "stored", "--args", '["k", {"a": [1, 2]}]')
    assert done.returncode == 0 and json.loads(done.stdout) == {"a": [1, 2]}


@pytest.mark.parametrize(("argv", "word"), [
    (["spin", "--timeout", "1"], "timeout"),
    (["shell"], "exec"),
    (["hungry", "--args", "[400]", "--memory", "128"], "memory"),
    (["reads_content"], "permission"),
])
def test_stopped_calls_exit_3_with_one_line_saying_why(tmp, argv, word):
    done = run(tmp, *argv)
    assert done.returncode == 3, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and word in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("argv", [["add", "--args", "not json"], ["add", "--args", '{"a": 1}'],
                                  ["add", "--kwargs", "[1]"], ["no_such_function"], ["add", "--grant", "root:all"],
                                  ["add", "--timeout", "-1"]])
def test_invalid_arguments_exit_2(tmp, argv):
    done = run(tmp, *argv)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_invalid_package_exits_2(tmp):
    done = run(tmp, "add", package=b"not a zip")
    assert done.returncode == 2 and "invalid package" in done.stderr
    done = run(tmp, "add", package=build_package(files={"../evil.py": "x"}))
    assert done.returncode == 2 and "unsafe_path" in done.stderr


def test_the_plugins_own_error_is_reported(tmp):
    done = run(tmp, "boom")
    assert done.returncode == 1 and "ValueError: bad input" in done.stderr


def test_limits_can_only_be_tightened(tmp):
    # Asking for more memory than the settings allow keeps the settings' limit: 1.5 GB still fails.
    done = run(tmp, "hungry", "--args", "[1500]", "--memory", "100000")
    assert done.returncode == 3 and "memory" in done.stderr


def test_nothing_is_left_behind(tmp):
    import tempfile

    before = {p.name for p in Path(tempfile.gettempdir()).glob("plugin-exec-*")}
    assert run(tmp, "stored", "--args", '["k", 1]').returncode == 0
    assert run(tmp, "spin", "--timeout", "1").returncode == 3
    after = {p.name for p in Path(tempfile.gettempdir()).glob("plugin-exec-*")}
    assert after == before
