"""The SDK as a plugin author gets it: `pip install ./sdk` into a fresh virtual environment, then its CLI."""

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


@dataclass
class SdkEnv:
    venv: Path

    @property
    def cli(self) -> str:
        return str(self.venv / "bin" / "aisquare-plugin")

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def run(self, *args, cwd, env=None, timeout=120):
        """Run the CLI as a user would: a clean environment (no Django settings), HOME in the test's folder."""
        base = {"PATH": f"{self.venv / 'bin'}:/usr/bin:/bin", "HOME": str(Path(cwd)), "LANG": "C.UTF-8"}
        return subprocess.run([self.cli, *args], cwd=cwd, env={**base, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout)


@pytest.fixture(scope="session")
def sdk_env(tmp_path_factory):
    """A fresh venv with only `aisquare-plugin-sdk` installed (built from a copy of sdk/, so the repository gets no
    build/ or egg-info). pip uses the machine's configured index (local and offline here) for setuptools."""
    root = tmp_path_factory.mktemp("sdk-env")
    source = root / "sdk"
    shutil.copytree(REPO / "sdk", source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                           "tests"))
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "--quiet", str(source)], env=env,
                             capture_output=True, text=True, timeout=300)
    assert install.returncode == 0, install.stdout + install.stderr
    return SdkEnv(venv)


@pytest.fixture
def example_copy(tmp_path):
    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__", "dist"))
        return target

    return copy
