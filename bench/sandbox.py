"""The sandbox's costs (issue 3), each printed next to its baseline measured in the same run:

1. cold start — the first call of a new installation (bwrap + namespaces + cgroups + boot: rlimits, seccomp, the
   worker; the quota volume's mount; then the plugin's import and one call) — against a bare `python3 -c pass` spawn.
   Target: <= 2x. Measured twice: with a pre-booted spare ready (SANDBOX_SPARES; the pool hands it the installation),
   and with none ready (the spares exhausted by a burst, or SANDBOX_SPARES=0: a sandbox booted from nothing). Also
   the floor of the latter: the same bwrap running `python3 -I -S -B -c pass` (no boot script, worker or plugin).
2. warm call p50/p99 — a function call to a warm sandboxed worker through the pool and the protocol — against a
   round trip to an UNSANDBOXED echo worker over a pipe (JSON lines, same message). Target: overhead <= 3x.
3. storage.get round trip — as the plugin sees it: `context.storage.get` inside the sandbox -> pipe -> the Plugin API
   gateway (installation check, rate-limit counters, the query, the batched audit) -> back. Target: p50 <= 1 ms.

Uses its own PostgreSQL database (`aisquare_bench_sandbox`, migrated on first use) and Redis cache database 8.

4. both backends side by side (issue 11): cold start and warm call of the bubblewrap backend and of the container
   backend (runtime.sandbox.docker.DockerBackend, on the engine at SANDBOX_DOCKER_HOST or the private test engine),
   against the same two baselines. The container backend is skipped, with the reason, when no engine or image is
   there (`python -m tests.runtime.docker_engine start` and `manage.py build_sandbox_image` make them).

    .venv/bin/python bench/sandbox.py [--cold 30] [--warm 3000] [--gets 2000]
"""

import argparse
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from benchdb import database  # noqa: E402

from tests.runtime.packages import build_package  # noqa: E402

BENCH_DB = "aisquare_bench_sandbox"

PLUGIN_SOURCE = '''
import time

context = None

def init(ctx):
    global context
    context = ctx

def echo(value):
    return value

def gets(n):
    context.storage.set("k", {"answer": 42})
    times = []
    for _ in range(n):
        start = time.perf_counter()
        context.storage.get("k")
        times.append(time.perf_counter() - start)
    return times
'''

ECHO_WORKER = r'''
import json, sys
read, write = sys.stdin.buffer.readline, sys.stdout.buffer
while True:
    line = read()
    if not line:
        break
    message = json.loads(line)
    write.write(json.dumps({"type": "result", "id": message["id"], "ok": True, "value": message["args"][0]}).encode()
                + b"\n")
    write.flush()
'''


def setup(url: str, workdir: Path) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("TEST_DATABASE_NAME", None)
    os.environ["CACHE_URL"] = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/8")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aisquare_plugins.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["PLUGIN_ROOT"] = str(workdir / "plugins")
    os.environ["MEDIA_ROOT"] = str(workdir / "media")
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "true"
    import django

    django.setup()
    from django.core.management import call_command

    for app in ("host", "developers", "marketplace", "runtime"):
        call_command("migrate", app, verbosity=0)


def installation():
    """One active installation, provisioned through the real services (package unpacked and precompiled)."""
    from django.core.files.base import ContentFile

    from developers.models import Developer
    from host.models import User
    from marketplace.models import Plugin, PluginVersion
    from runtime import services

    tag = uuid.uuid4().hex[:8]
    user = User.objects.create(username=f"bench-{tag}", email=f"b{tag}@bench.test")
    developer = Developer.objects.create(user=user, company_name=f"Bench {tag}")
    plugin_id = f"bench-sandbox-{tag}"
    data = build_package(PLUGIN_SOURCE, plugin_id=plugin_id)
    plugin = Plugin.objects.create(id=plugin_id, developer=developer, name=plugin_id, category="productivity")
    version = PluginVersion.objects.create(
        plugin=plugin, version="1.0.0", version_major=1, package=ContentFile(data, name=f"{plugin_id}.zip"),
        sha256=hashlib.sha256(data).hexdigest(), size=len(data),
        manifest=json.loads(zipfile.ZipFile(io.BytesIO(data)).read("plugin.json")), min_platform_version="2.0.0",
        status="approved")
    item = services.installation_install(plugin_version=version, user=user, granted_scopes=[])
    services.installation_provision(installation_id=item.pk)
    item.refresh_from_db()
    return services.installation_activate(installation=item), version


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def ms(seconds):
    return seconds * 1000


def verdict(ok: bool) -> str:
    return "OK" if ok else "OVER TARGET"


def bare_spawn(n: int) -> list[float]:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(["/usr/bin/python3", "-c", "pass"], check=True)
        times.append(time.perf_counter() - start)
    return times


def sandbox_floor(n: int) -> list[float] | None:
    """The same bwrap (launcher, namespaces, mounts, uid) running `python3 -I -S -B -c pass`: what any cold start
    without a spare pays before the boot script's first line. None for a backend that is not bubblewrap."""
    from runtime.sandbox.base import Limits
    from runtime.sandbox.pool import get_backend

    backend = get_backend()
    if not hasattr(backend, "_bwrap_args"):
        return None
    argv = backend.launcher() + backend._bwrap_args(None, None, tmp_mb=Limits.from_settings().tmp_mb) + [
        backend.python, "-I", "-S", "-B", "-c", "pass"]
    times = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(argv, check=True, env={"PATH": "/usr/bin"})
        times.append(time.perf_counter() - start)
    return times


def cold_starts(item, version, n: int, *, spares: int = 0) -> list[float]:
    """First calls of n new installations, each provisioned like a real one (its data directory and quota volume
    made beforehand, as the provisioning task does; mounting the volume is part of the cold start). With `spares`,
    the pool keeps that many pre-booted workers and each start waits until one is ready (a cold start with a spare
    ready); without, every start boots a sandbox from nothing (what a burst that exhausted the spares gets)."""
    from copy import copy

    from runtime import plugin_files, services
    from runtime.invocation import generation_of, limits_for, worker_spec
    from runtime.sandbox.pool import WorkerPool, get_backend

    code_dir, main = services._code_for(version)
    pool = WorkerPool(get_backend(), 4, spares=spares)
    times = []
    for _ in range(n):
        fresh = copy(item)
        fresh.pk = uuid.uuid4()  # a new installation each time: nothing warm to reuse
        plugin_files.create_data_dir(fresh.pk, quota_mb=limits_for(fresh).disk_mb)
        spec = worker_spec(fresh, code_dir, main)
        if pool.spares:
            assert pool.spares.wait_ready(), "no spare worker booted"
        start = time.perf_counter()
        result = pool.call(spec, generation_of(code_dir, main), "function", "echo", [1], {}, host=lambda m, p: None)
        times.append(time.perf_counter() - start)
        assert result.value == 1 and result.cold
        pool.discard(spec.key)
        plugin_files.remove_data_dir(fresh.pk)
    pool.close_all()
    return times


def warm_calls(item, version, n: int) -> list[float]:
    from runtime import services
    from runtime.invocation import generation_of, worker_spec
    from runtime.sandbox.pool import get_pool

    code_dir, main = services._code_for(version)
    spec, generation, pool = worker_spec(item, code_dir, main), generation_of(code_dir, main), get_pool()
    pool.call(spec, generation, "function", "echo", ["x"], {}, host=lambda m, p: None)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        pool.call(spec, generation, "function", "echo", ["x"], {}, host=lambda m, p: None)
        times.append(time.perf_counter() - start)
    return times


def echo_round_trips(n: int) -> list[float]:
    proc = subprocess.Popen(["/usr/bin/python3", "-c", ECHO_WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    times = []
    for i in range(n + 50):
        message = {"type": "call", "id": i, "kind": "function", "name": "echo", "args": ["x"], "kwargs": {}}
        start = time.perf_counter()
        proc.stdin.write(json.dumps(message).encode() + b"\n")
        proc.stdin.flush()
        json.loads(proc.stdout.readline())
        if i >= 50:
            times.append(time.perf_counter() - start)
    proc.stdin.close()
    proc.wait()
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", type=int, default=30)
    parser.add_argument("--warm", type=int, default=3000)
    parser.add_argument("--gets", type=int, default=2000)
    parser.add_argument("--api-calls", type=int, default=2000, help="Plugin API section: calls per figure")
    parser.add_argument("--api-rounds", type=int, default=5, help="Plugin API section: audit on/off rounds")
    parser.add_argument("--fanout", type=int, default=100, help="Plugin API section: installations an event reaches")
    args = parser.parse_args()
    if shutil.which("bwrap") is None:
        sys.exit("bench/sandbox.py needs bubblewrap (apt-get install bubblewrap)")
    workdir = Path(tempfile.mkdtemp(prefix="bench-sandbox-"))
    try:
        setup(database(BENCH_DB, script="bench/sandbox.py"), workdir)
        from django.conf import settings

        settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "api_calls_per_minute": 10**9,
                                   "api_calls_per_day": 10**9}
        item, version = installation()
        from runtime.sandbox.pool import get_backend

        print(f"Sandbox ({settings.SANDBOX_BACKEND.rsplit('.', 1)[-1]}), {os.cpu_count()} cores, pid {os.getpid()}")

        print(f"  load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min) at the start")
        from runtime.sandbox import volumes

        volume = "with its quota volume mounted" if volumes.supported() else "no quota volume on this host"
        bare = bare_spawn(args.cold)
        b50 = statistics.median(bare)
        spares = settings.SANDBOX_SPARES if getattr(get_backend(), "spares_supported", lambda: False)() else 0
        figures = [(f"cold start, a spare ready (SANDBOX_SPARES={spares})", spares)] if spares else []
        figures.append(("cold start, no spare ready (spares exhausted)", 0))
        for label, count in figures:
            cold = cold_starts(item, version, args.cold, spares=count)
            ratio = statistics.median(cold) / b50
            print(f"  {label:<49} p50 {ms(statistics.median(cold)):7.2f} ms   p99 {ms(pct(cold, 99)):7.2f} ms   "
                  f"ratio {ratio:4.2f}x  (target <= 2x: {verdict(ratio <= 2)})")
        print(f"  baseline: bare `python3 -c pass` spawn            p50 {ms(b50):7.2f} ms   "
              f"p99 {ms(pct(bare, 99)):7.2f} ms")
        floor = sandbox_floor(args.cold)
        if floor:
            f50 = statistics.median(floor)
            print(f"  floor: the same bwrap + `python3 -I -S -B -c pass`  p50 {ms(f50):7.2f} ms   "
                  f"p99 {ms(pct(floor, 99)):7.2f} ms   ratio {f50 / b50:4.2f}x")
            print("    (the floor: no boot script, worker, plugin, cgroups or volume; no cold start can go under it)")
        print(f"    (a cold start = the first call of a new installation, {volume}; spares: pre-booted sandboxes)")

        item.refresh_from_db()
        warm = warm_calls(item, version, args.warm)
        echo = echo_round_trips(args.warm)
        w50, e50 = statistics.median(warm), statistics.median(echo)
        print(f"  warm call through pool + protocol           p50 {ms(w50):7.3f} ms   p99 {ms(pct(warm, 99)):7.3f} ms")
        print(f"  baseline: unsandboxed echo worker, pipe     p50 {ms(e50):7.3f} ms   p99 {ms(pct(echo, 99)):7.3f} ms"
              f"   ratio {w50 / e50:4.2f}x  (target <= 3x: {verdict(w50 / e50 <= 3)})")

        from runtime import services

        outcome = services.installation_invoke(installation=item, function="gets", args=[args.gets], kwargs={})
        gets = outcome["value"]
        g50 = statistics.median(gets)
        print(f"  storage.get round trip (plugin -> gateway)  p50 {ms(g50):7.3f} ms   p99 {ms(pct(gets, 99)):7.3f} ms"
              f"   (target p50 <= 1 ms: {verdict(ms(g50) <= 1)})")
        print(f"  baseline: the same echo round trip          p50 {ms(e50):7.3f} ms")
        backends_side_by_side(item, version, args, bare, echo)
        services.installation_uninstall(installation=item)

        # Issue 4, the Plugin API: calls/s per core, audit on vs off; event fan-out (bench/plugin_api.py).
        from plugin_api import plugin_api_section

        print()
        plugin_api_section(calls=args.api_calls, rounds=args.api_rounds, installations=args.fanout)
    finally:
        from runtime.sandbox.pool import reset_pool

        reset_pool()
        shutil.rmtree(workdir, ignore_errors=True)


BACKENDS = (("bubblewrap", "runtime.sandbox.bubblewrap.BubblewrapBackend"),
            ("docker", "runtime.sandbox.docker.DockerBackend"))


def _docker_engine_url(settings) -> str | None:
    """The engine of settings.SANDBOX_DOCKER_HOST if it answers, else the private test engine if it is up."""
    import docker

    from tests.runtime import docker_engine

    for url in dict.fromkeys([settings.SANDBOX_DOCKER_HOST, docker_engine.URL]):
        try:
            if docker.APIClient(base_url=url, timeout=3, version="auto").ping():
                return url
        except Exception:  # noqa: BLE001 - try the next one
            continue
    return None


def backends_side_by_side(item, version, args, bare: list[float], echo: list[float]) -> None:
    """Cold start and warm call of each backend in the same run, next to the same baselines."""
    from django.conf import settings

    from runtime.sandbox.base import SandboxUnavailable
    from runtime.sandbox.pool import get_backend, reset_pool

    print("\nBackends side by side (same plugin, same run; cold: no spare)  cold p50 cold p99   warm p50   warm p99")
    original = (settings.SANDBOX_BACKEND, settings.SANDBOX_DOCKER_HOST)
    try:
        for name, path in BACKENDS:
            reset_pool()
            settings.SANDBOX_BACKEND = path
            if name == "docker":
                url = _docker_engine_url(settings)
                if url is None:
                    print(f"  {name:<50} not measured: no Docker engine answers at {settings.SANDBOX_DOCKER_HOST}")
                    continue
                settings.SANDBOX_DOCKER_HOST = url
            try:
                get_backend()
            except SandboxUnavailable as exc:
                print(f"  {name:<50} not measured: {exc.message}")
                continue
            item.refresh_from_db()
            cold = cold_starts(item, version, args.cold)
            warm = warm_calls(item, version, args.warm)
            print(f"  {name:<50} {ms(statistics.median(cold)):7.2f} ms {ms(pct(cold, 99)):7.2f} ms "
                  f"{ms(statistics.median(warm)):7.3f} ms {ms(pct(warm, 99)):7.3f} ms")
        print(f"  {'baseline: bare python3 spawn | unsandboxed echo':<50} {ms(statistics.median(bare)):7.2f} ms "
              f"{ms(pct(bare, 99)):7.2f} ms {ms(statistics.median(echo)):7.3f} ms {ms(pct(echo, 99)):7.3f} ms")
    finally:
        reset_pool()
        settings.SANDBOX_BACKEND, settings.SANDBOX_DOCKER_HOST = original


if __name__ == "__main__":
    main()
