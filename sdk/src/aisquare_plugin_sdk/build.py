"""Validating a plugin project and building its package: a reproducible zip and its sha256.

What goes in the package: every file of the project except hidden files and folders (`.env`, `.git`, … — a
secret must never ship), caches and build output (`__pycache__`, `*.pyc`, `dist/`, `build/`, `*.egg-info`,
`htmlcov/`, `.coverage`), virtual environments, and the patterns listed in `.aisquareignore` (fnmatch patterns,
one a line). Tests ARE included: the marketplace's quality score counts tests shipped, and reviewers read them.

Reproducible: entries sorted by path, every timestamp 1980-01-01 00:00:00, mode 0644, deflate level 9, no extra
fields; the same sources always give the same bytes and the same sha256. Standard library only.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from aisquare_plugin_sdk.codeinfo import CodeInfo, analyze_project
from aisquare_plugin_sdk.manifest import MANIFEST_NAME, Manifest
from aisquare_plugin_sdk.platform_events import PLATFORM_EVENTS, is_reserved
from aisquare_plugin_sdk.project import ProjectError, read_manifest

# The platform's default limits (the server may be configured lower; it re-checks everything).
MAX_PACKAGE_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 50 * 1024 * 1024
MAX_ENTRIES = 2000
MAX_PATH_LENGTH = 255
MAX_PATH_DEPTH = 16
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXCLUDED_DIRS = {"__pycache__", "dist", "build", "htmlcov", "node_modules", "venv", "env"}
EXCLUDED_FILES = ("*.pyc", "*.pyo", "*.egg-info", "*.swp", "*~", "*.zip", "*.sha256")
IGNORE_FILE = ".aisquareignore"


@dataclass
class Validation:
    root: Path
    manifest: Manifest | None = None
    code: CodeInfo | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _ignore_patterns(root: Path) -> list[str]:
    path = root / IGNORE_FILE
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.lstrip().startswith("#")]


def package_files(root: Path, *, output: Path | None = None) -> list[str]:
    """The project's files that go into the package, as sorted POSIX paths. Symlinks are refused."""
    patterns = _ignore_patterns(root)
    output = output.resolve() if output else None
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        current = Path(dirpath)
        keep = []
        for name in sorted(dirnames):
            path = current / name
            rel = path.relative_to(root).as_posix()
            if (name.startswith(".") or name in EXCLUDED_DIRS or name.endswith(".egg-info")
                    or (output is not None and path.resolve() == output)
                    or any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)):
                continue
            if path.is_symlink():
                raise ProjectError([f"{rel}: a symbolic link; packages may only contain regular files"])
            keep.append(name)
        dirnames[:] = keep
        for name in filenames:
            path = current / name
            rel = path.relative_to(root).as_posix()
            if (name.startswith(".") or any(fnmatch.fnmatch(name, p) for p in EXCLUDED_FILES)
                    or any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)):
                continue
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                raise ProjectError([f"{rel}: a symbolic link; packages may only contain regular files"])
            if not stat.S_ISREG(mode):
                raise ProjectError([f"{rel}: not a regular file"])
            found.append(rel)
    return sorted(found)


def _check_paths(files: list[str]) -> list[str]:
    errors, folded = [], {}
    for rel in files:
        if len(rel) > MAX_PATH_LENGTH or rel.count("/") >= MAX_PATH_DEPTH:
            errors.append(f"{rel[:80]}: path too long or too deep (at most {MAX_PATH_LENGTH} characters, "
                          f"{MAX_PATH_DEPTH} levels)")
        key = unicodedata.normalize("NFC", rel).casefold()
        if key in folded:
            errors.append(f"{rel}: differs from {folded[key]} only in case; the platform refuses such packages")
        folded[key] = rel
    return errors


def validate_project(path: str | Path, *, output: Path | None = None) -> Validation:
    """Everything the CLI can check before the server does: manifest, main module, code, scopes, files, limits."""
    root = Path(path).resolve()
    result = Validation(root=root)
    try:
        result.manifest = read_manifest(root)
    except ProjectError as exc:
        result.errors.extend(exc.errors)
        return result
    manifest = result.manifest
    if not (root / manifest.main).is_file():
        result.errors.append(f"main: {manifest.main} does not exist")
        return result
    try:
        files = package_files(root, output=output)
    except ProjectError as exc:
        result.errors.extend(exc.errors)
        return result
    code = result.code = analyze_project(root, manifest.main, files)
    result.errors.extend(f"syntax error in {error}" for error in code.syntax_errors)
    if code.syntax_errors:
        return result
    if not code.has_entry_point:
        result.errors.append(f"{manifest.main}: defines neither init(context) nor an @export-ed Plugin class")
    for event in code.events_subscribed + code.events_emitted:
        if is_reserved(event):
            result.errors.append(f"events: {event} is not a platform event (known: {', '.join(PLATFORM_EVENTS)})")
    for event in code.events_emitted:
        if event in PLATFORM_EVENTS or not event.startswith(f"{manifest.id}:"):
            result.errors.append(f"events: a plugin emits only its own events, named {manifest.id}:<name> "
                                 f"(not {event})")
    declared = set(manifest.scopes)
    for scope, calls in sorted(code.scopes_used.items()):
        if scope not in declared:
            where = ", ".join(f"{c.file}:{c.line}" for c in calls[:3])
            result.errors.append(f"permissions: the code calls {calls[0].call} ({where}), which needs {scope}; "
                                 f"declare it in plugin.json")
    for scope in sorted(declared - set(code.scopes_used)):
        result.warnings.append(f"permissions: {scope} is declared but no Plugin API call in the code needs it "
                               f"(least privilege: remove it unless the code reaches it indirectly)")
    for asset in [manifest.data.get("icon"), *manifest.data.get("screenshots", [])]:
        if asset and not asset.startswith("https://") and not (root / asset).is_file():
            result.errors.append(f"{asset}: listed in plugin.json but missing from the project")
    result.errors.extend(_check_paths(files))
    total = sum((root / rel).stat().st_size for rel in files)
    if len(files) > MAX_ENTRIES:
        result.errors.append(f"package: {len(files)} files; the limit is {MAX_ENTRIES}")
    if total > MAX_UNPACKED_BYTES:
        result.errors.append(f"package: {total} bytes of files; the limit is {MAX_UNPACKED_BYTES}")
    if not any(rel.startswith("tests/") for rel in files):
        result.warnings.append("tests: no tests/ folder; the marketplace's quality score counts shipped tests")
    if not (root / "README.md").is_file():
        result.warnings.append("README.md: missing; the quality score counts a README")
    result.warnings.extend(_quality_hints(manifest))
    return result


def _quality_hints(manifest: Manifest) -> list[str]:
    """What the marketplace's quality score will miss (it rejects versions below its minimum)."""
    data, hints = manifest.data, []
    if len(data.get("description", "")) < 200:
        hints.append(f"quality: the description has {len(data.get('description', ''))} characters; "
                     "200 or more earn full points")
    if not data.get("icon"):
        hints.append("quality: no icon (a PNG, JPEG, SVG or WebP in the package, named in plugin.json's icon)")
    if len(data.get("screenshots", [])) < 3:
        hints.append(f"quality: {len(data.get('screenshots', []))} screenshot(s); three or more earn full points")
    for key, what in (("changelog", "a changelog"), ("documentationUrl", "a documentationUrl"),
                      ("supportUrl", "a supportUrl")):
        if not data.get(key):
            hints.append(f"quality: add {what} to plugin.json")
    return hints


@dataclass
class BuildResult:
    path: Path
    sha256: str
    size: int
    files: list[str]
    manifest: Manifest


def build_bytes(root: Path, files: list[str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        # plugin.json first: readers that stream the archive meet the manifest before the code.
        for rel in sorted(files, key=lambda r: (r != MANIFEST_NAME, r)):
            info = zipfile.ZipInfo(rel, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3
            zf.writestr(info, (root / rel).read_bytes(), compresslevel=9)
    return buffer.getvalue()


def build_project(path: str | Path, output: str | Path = "dist") -> BuildResult:
    """Validate, then write `<output>/<id>-<version>.zip` and `<id>-<version>.zip.sha256`. Raises ProjectError."""
    root = Path(path).resolve()
    out = Path(output)
    out = out if out.is_absolute() else root / out
    validation = validate_project(root, output=out)
    if not validation.ok:
        raise ProjectError(validation.errors)
    assert validation.manifest is not None
    files = package_files(root, output=out)
    data = build_bytes(root, files)
    if len(data) > MAX_PACKAGE_BYTES:
        raise ProjectError([f"package: {len(data)} bytes zipped; the limit is {MAX_PACKAGE_BYTES}"])
    digest = hashlib.sha256(data).hexdigest()
    out.mkdir(parents=True, exist_ok=True)
    name = f"{validation.manifest.id}-{validation.manifest.version}.zip"
    target = out / name
    tmp = target.with_suffix(".zip.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, target)
    (out / f"{name}.sha256").write_text(f"{digest}  {name}\n", encoding="ascii")
    return BuildResult(path=target, sha256=digest, size=len(data), files=files, manifest=validation.manifest)
