"""Sandbox backends under test: fixtures that run a test against bubblewrap, the Docker engine, or both.

`any_sandbox` is parametrized over the backends (the docker parameter carries the `docker` mark), so a corpus written
once runs against each; it yields a SandboxUnderTest with what differs between them by design (the uid plugins run
as, what the root directory holds). The engine comes from the session fixture `docker_engine`:
- .ci/run starts a private dockerd, builds the image and exports AISQUARE_DOCKER=<url>; when it could not start one,
  it says so in the log and exports AISQUARE_DOCKER="unavailable: <why>": the container tests are then SKIPPED with
  that reason (visible in the summary with -ra) instead of failing the whole run;
- elsewhere the fixture starts the private engine itself (root + docker.io) or shares one already running, builds
  the image if it is not current, and the last test session using an engine a session started stops it; without
  docker.io, `conftest.require` skips on a laptop and fails in CI.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

import pytest

from conftest import IN_CI, require
from runtime.sandbox.pool import reset_pool
from tests.runtime import docker_engine as engine

ENGINE_ENV = "AISQUARE_DOCKER"
DOCKER_BACKEND = "runtime.sandbox.docker.DockerBackend"
BWRAP_BACKEND = "runtime.sandbox.bubblewrap.BubblewrapBackend"
ENGINE_REPORT: dict[str, str] = {}


@dataclass(frozen=True)
class SandboxUnderTest:
    name: str
    uid: int
    # The root directory's entries, exactly (bubblewrap builds it entry by entry); None: an image's full root.
    root_entries: tuple[str, ...] | None
    # Files that exist inside by design and are the sandbox's own, not the host's (the image's /etc/passwd).
    own_files: tuple[str, ...] = ()
    # A pid namespace of its own: the worker's pid stays small (the container's runc init threads take a few).
    max_pid: int = 3
    engine_url: str = ""


BUBBLEWRAP = SandboxUnderTest("bubblewrap", 65534,
                              ("bin", "data", "dev", "lib", "lib64", "plugin", "proc", "sandbox", "tmp", "usr"))


@pytest.fixture(scope="session")
def docker_engine():
    """The URL of a Docker engine that has the current worker image."""
    declared = os.environ.get(ENGINE_ENV, "")
    if declared.startswith("unavailable"):
        ENGINE_REPORT["status"] = f"did NOT run: {declared}"
        pytest.skip(f"container sandbox tests did not run: {declared}")
    shared = False
    if declared:
        url = declared
    else:
        try:
            # Other test sessions may use the same engine: registered users; the last one out stops it (if a session
            # started it).
            url, _started = engine.start(register=True)
        except engine.EngineUnavailable as exc:
            ENGINE_REPORT["status"] = f"did NOT run: {exc}"
            require(False, f"a Docker engine ({exc})")
        shared = True
    try:
        try:
            engine.build(url)
        except Exception as exc:
            ENGINE_REPORT["status"] = f"did NOT run: the worker image could not be built: {exc}"
            if IN_CI:
                pytest.fail(f"the sandbox image could not be built: {exc}", pytrace=False)
            pytest.skip(f"the sandbox image could not be built: {exc}")
        ENGINE_REPORT["status"] = f"ran on {url}"
        yield url
    finally:
        if shared:
            engine.release()


@pytest.fixture
def docker_sandbox(docker_engine, settings):
    settings.SANDBOX_BACKEND = DOCKER_BACKEND
    settings.SANDBOX_DOCKER_HOST = docker_engine
    reset_pool()
    yield SandboxUnderTest("docker", 10001, None, own_files=("/etc/passwd",), max_pid=10,
                           engine_url=docker_engine)
    reset_pool()


@pytest.fixture
def bubblewrap_sandbox(settings):
    require(shutil.which("bwrap") is not None, "bubblewrap (apt-get install bubblewrap)")
    settings.SANDBOX_BACKEND = BWRAP_BACKEND
    reset_pool()
    yield BUBBLEWRAP
    reset_pool()


@pytest.fixture(params=[pytest.param("bubblewrap"), pytest.param("docker", marks=pytest.mark.docker)])
def any_sandbox(request):
    """Each sandbox backend in turn (use in place of `sandbox` to run a test against all of them)."""
    return request.getfixturevalue(f"{request.param}_sandbox")


def terminal_summary(terminalreporter) -> None:
    if ENGINE_REPORT:
        terminalreporter.write_sep("-", f"container sandbox tests (Docker engine): {ENGINE_REPORT['status']}")
