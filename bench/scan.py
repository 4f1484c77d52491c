"""Benchmark of the publishing scan: a ~5 MB package of 500 Python files, time to verdict (validation + security
scan + quality score) against the time to merely unzip the same package, measured in the same run. One module in five
is "reflective" (getattr, open): those go through the AST rules; the breakdown shows what ruff (bandit's rules) costs
alone, and what a Python parse of every file would (the scan before ruff and the prefilters).

Target (issue 5): verdict ≤ 10× unzip, and under 5 s on this machine.

    .venv/bin/python bench/scan.py [--files 500] [--repeat 3]
"""

import argparse
import ast
import io
import os
import random
import resource
import string
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aisquare_plugins.settings")

import django  # noqa: E402

django.setup()

import json  # noqa: E402

from developers.scanner import RUFF_ARGS, RUFF_BINARY, ScanContext, scan_safely  # noqa: E402
from runtime.api import read_package  # noqa: E402
from tests.publishing.packages import manifest  # noqa: E402


def _word(rng: random.Random, n: int = 8) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def python_module(rng: random.Random, target_bytes: int, *, reflective: bool = False) -> str:
    """Ordinary-looking plugin code: functions, classes, dicts, strings, comments, Plugin API calls. A `reflective`
    module also uses getattr and open (inside the data dir), which sends it through the full AST analysis."""
    parts = ['"""Generated module for the scan benchmark."""\n\nimport json\nimport math\n\n']
    size = 0
    while size < target_bytes:
        name = _word(rng)
        words = " ".join(_word(rng, rng.randint(3, 9)) for _ in range(rng.randint(4, 12)))
        prose = " ".join(_word(rng, rng.randint(2, 11)) for _ in range(rng.randint(10, 25)))
        block = (
            f"# {words}\n# {prose}\n"
            f"class {name.title()}Helper:\n"
            f"    \"\"\"{words}.\"\"\"\n\n"
            f"    def __init__(self, context, limit={rng.randint(1, 999)}):\n"
            f"        self.context = context\n        self.limit = limit\n"
            f"        self.labels = {{'{_word(rng)}': {rng.randint(0, 99)}, '{_word(rng)}': '{_word(rng, 12)}'}}\n\n"
            f"    def {_word(rng)}(self, values):\n"
            f"        total = 0\n"
            f"        for index, value in enumerate(values):\n"
            f"            if value > self.limit and index % {rng.randint(2, 9)}:\n"
            f"                total += math.sqrt(value) * {rng.random():.4f}\n"
            f"            else:\n                total -= value\n"
            f"        self.context.storage.set('{name}', json.dumps({{'total': total}}))\n"
            f"        return total\n\n"
            f"    def {_word(rng)}(self, text):\n"
            f"        return self.context.call('ai.analyzeText', text=text, analysis='{_word(rng, 6)}')\n\n\n"
        )
        if reflective and not size:
            block += (f"def load_{name}(obj, key):\n    value = getattr(obj, key, None)\n"
                      f"    with open('/data/{name}.json', 'w') as handle:\n        handle.write(str(value))\n"
                      f"    return value\n\n\n")
        parts.append(block)
        size += len(block)
    return "".join(parts)


def _write_skeleton(zf: zipfile.ZipFile) -> None:
    """What every bench package has besides its modules: manifest, main module, icon, README, a test (5 entries)."""
    zf.writestr("plugin.json", json.dumps(manifest("bench-plugin", permissions=[
        {"scope": "ai:use", "reason": "Analyse text."}])))
    zf.writestr("plugin.py", "def init(context):\n    return context\n")
    zf.writestr("icon.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    zf.writestr("README.md", "# Bench\n")
    zf.writestr("tests/test_plugin.py", "def test_ok():\n    assert True\n")


def _write(files: int, per_file: int, seed: int) -> bytes:
    rng = random.Random(seed)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        _write_skeleton(zf)
        for i in range(files - 5):
            # One module in five uses getattr/open: those go through the full AST analysis.
            zf.writestr(f"pkg/mod_{i:03d}.py", python_module(rng, per_file, reflective=i % 5 == 0))
    return buffer.getvalue()


def real_package(files: int, source_dir: str) -> bytes:
    """A package of real Python source (e.g. a library's files, evenly sampled): realistic file sizes and contents,
    for comparison with the generated one (whose 42 kB modules are what "5 MB zip, 500 files" implies)."""
    sources = sorted(p for p in Path(source_dir).rglob("*.py") if p.stat().st_size)
    step = max(1, len(sources) // (files - 5))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        _write_skeleton(zf)
        for i, path in enumerate(sources[::step][:files - 5]):
            zf.writestr(f"pkg/{i:03d}_{path.name}", path.read_bytes())
    return buffer.getvalue()


def build_package(files: int, target_zip_bytes: int, seed: int = 7) -> bytes:
    """A package whose zip is about `target_zip_bytes`: calibrate the source size on a sample, then write it."""
    sample = _write(20, 20_000, seed)
    ratio = sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(sample)).infolist()) / len(sample)
    return _write(files, int(target_zip_bytes * ratio / files), seed)


class DictCache:
    """The two methods of Django's cache API the scanner uses, in memory."""

    def __init__(self):
        self.data = {}

    def get_many(self, keys):
        return {k: self.data[k] for k in keys if k in self.data}

    def set_many(self, mapping, timeout=None):
        self.data.update(mapping)


def unzip_only(data: bytes) -> int:
    total = 0
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            total += len(zf.read(info))
    return total


def ruff_alone(data: bytes) -> None:
    """bandit's rules as the scan runs them, over the package's Python files written out (as the scan does)."""
    with tempfile.TemporaryDirectory() as root, zipfile.ZipFile(io.BytesIO(data)) as zf:
        names = []
        for index, info in enumerate(zf.infolist()):
            if info.filename.endswith(".py"):
                names.append(f"{index}.py")
                with open(os.path.join(root, names[-1]), "wb") as handle:
                    handle.write(zf.read(info))
        subprocess.run([RUFF_BINARY, *RUFF_ARGS, "--", *names], cwd=root, check=True, capture_output=True)


def parse_all(data: bytes) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            if info.filename.endswith(".py"):
                ast.parse(zf.read(info))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--megabytes", type=float, default=5.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--real", metavar="DIR", help="package real .py files sampled from DIR instead of generated "
                                                      "ones (e.g. .venv/lib/python3.11/site-packages/django)")
    args = parser.parse_args()

    data = real_package(args.files, args.real) if args.real else build_package(args.files,
                                                                              int(args.megabytes * 1024 * 1024))
    unpacked = unzip_only(data)
    print(f"package: {len(data) / 1e6:.2f} MB zip, {args.files} files, {unpacked / 1e6:.2f} MB unpacked"
          f"{' of real source from ' + args.real if args.real else ' (generated)'}")

    def timed(fn, repeat):
        """Median wall time, and the CPU time (this process and its children: bandit) of the median run."""
        runs = []
        result = None
        for _ in range(repeat):
            cpu, children = time.process_time(), resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            result = fn()
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            child_cpu = (after.ru_utime + after.ru_stime) - (children.ru_utime + children.ru_stime)
            runs.append((wall, time.process_time() - cpu + child_cpu))
        runs.sort()
        return runs[len(runs) // 2], result

    load_before = os.getloadavg()
    (baseline, baseline_cpu), _ = timed(lambda: unzip_only(data), max(args.repeat, 5))
    (validate, validate_cpu), package = timed(lambda: read_package(data), args.repeat)
    context = ScanContext(existing_plugins=[(f"plugin-{i}", f"Plugin {i}") for i in range(2000)], timeout=1200)
    (without_bandit, without_cpu), _ = timed(
        lambda: scan_safely(package, ScanContext(**{**context.__dict__, "run_bandit": False})), args.repeat)
    (full, full_cpu), result = timed(lambda: scan_safely(read_package(data), context), args.repeat)
    # An update whose files are unchanged (or libraries many plugins vendor): bandit's per-file results are cached.
    cache = DictCache()
    warm_context = ScanContext(**{**context.__dict__, "cache": cache})
    scan_safely(package, warm_context)
    (warm, warm_cpu), warm_result = timed(lambda: scan_safely(read_package(data), warm_context), args.repeat)
    assert warm_result.verdict == result.verdict
    (ruff, ruff_cpu), _ = timed(lambda: ruff_alone(data), args.repeat)
    (parse, parse_cpu), _ = timed(lambda: parse_all(data), 1)
    error = f" error: {result.error}" if result.error else ""
    print(f"verdict: {result.verdict} ({len(result.findings)} findings, "
          f"{sum(f.rule == 'bandit' for f in result.findings)} from bandit){error}")
    # The target's ratio from pairs measured back to back, so that both halves of each pair see the same load.
    pairs = []
    for _ in range(max(args.repeat, 5)):
        (unzip_wall, unzip_cpu), _ = timed(lambda: unzip_only(data), 1)
        (verdict_wall, verdict_cpu), _ = timed(lambda: scan_safely(read_package(data), context), 1)
        pairs.append((verdict_wall / unzip_wall, verdict_cpu / max(unzip_cpu, 1e-9)))
    pair_wall = sorted(p[0] for p in pairs)[len(pairs) // 2]
    pair_cpu = sorted(p[1] for p in pairs)[len(pairs) // 2]
    load_after = os.getloadavg()
    print(f"machine: {os.cpu_count()} cores, load average {load_before[0]:.1f} before, {load_after[0]:.1f} after "
          "(1 min; other work on the machine slows wall times, CPU times less)")
    print(f"{'step':<42}{'wall s':>9}{'× unzip':>9}{'CPU s':>9}{'× unzip':>9}")
    rows = [
        ("baseline: unzip every entry (zipfile)", baseline, baseline_cpu),
        ("validation only (read_package)", validate, validate_cpu),
        ("scan without bandit (AST, secrets, names)", without_bandit, without_cpu),
        ("time to verdict (validate + full scan)", full, full_cpu),
        ("same, bandit results cached per file", warm, warm_cpu),
        ("  of which: ruff alone (bandit's rules)", ruff, ruff_cpu),
        ("reference: ast.parse of every file", parse, parse_cpu),
    ]
    for label, wall, cpu in rows:
        print(f"{label:<42}{wall:>9.3f}{wall / baseline:>9.1f}{cpu:>9.3f}{cpu / max(baseline_cpu, 1e-9):>9.1f}")
    print(f"paired (unzip then verdict, back to back, median of {len(pairs)}): {pair_wall:.1f}× wall, "
          f"{pair_cpu:.1f}× CPU")
    print(f"target: ≤ 10× unzip: {full / baseline:.1f}× wall ({'met' if full <= 10 * baseline else 'NOT met'}), "
          f"{full_cpu / baseline_cpu:.1f}× CPU (the tools use both cores); "
          f"< 5 s: {full:.2f} s ({'met' if full < 5 else 'NOT met'})")


if __name__ == "__main__":
    main()
