"""The `example` fixture of the SDK's unit tests: an example plugin copied into a temporary folder.

Not a conftest.py: sdk/tests is not a package (its name would clash with the repository's `tests`), and a second
top-level `conftest` module would shadow the root one. Test modules import the fixture from here."""

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def example(tmp_path):
    """Copy an example plugin into tmp_path and return its folder."""

    def copy(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("__pycache__", "dist"))
        return target

    return copy
