"""Reading a plugin package (a zip of plugin.json and Python source): ordered checks, cheapest first, trusting nothing.

Every check raises `PackageError(code, message)` with its own code, so the publishing pipeline can report precisely
and interleave its own checks (duplicate sha256, ownership) between the steps:

    check_size(data)                 -> "too_large"
    open_zip(data)                   -> "not_a_zip"
    check_entries(zf)                -> "too_many_entries", "too_large_unpacked", "compression_ratio"
    check_paths(zf)                  -> "unsafe_path", "symlink", "special_file", "duplicate_name"
    read_files(zf)                   -> "too_large_unpacked", "compression_ratio", "corrupt" (sizes counted while
                                        reading: declared sizes are never trusted)
    load_manifest(files)             -> "manifest_missing", "manifest_invalid"
    check_main(manifest, files)      -> "main_missing"

`read_package(data)` runs them all in order and returns a `Package`; `extract_package(package, dest)` writes only
regular files with safe modes under `dest`.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings

from aisquare_plugin_sdk.manifest import MANIFEST_NAME, Manifest, ManifestError, parse_manifest

# Entry names longer than this, or nested deeper, are refused: no plugin needs them, and they stress filesystems.
MAX_PATH_LENGTH = 255
MAX_PATH_DEPTH = 16
_READ_CHUNK = 64 * 1024


class PackageError(ValueError):
    """The package is refused. `code` is machine-readable; `message` says why, for a developer."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


@dataclass
class Package:
    """A package that passed every check. `files` maps each POSIX path to its content (regular files only)."""

    manifest: Manifest
    sha256: str
    size: int
    files: dict[str, bytes] = field(repr=False)

    @property
    def unpacked_size(self) -> int:
        return sum(len(content) for content in self.files.values())


def _limits() -> tuple[int, int, int, int]:
    return (
        settings.PACKAGE_MAX_BYTES,
        settings.PACKAGE_MAX_ENTRIES,
        settings.PACKAGE_MAX_UNPACKED_BYTES,
        settings.PACKAGE_MAX_COMPRESSION_RATIO,
    )


def check_size(data: bytes) -> None:
    max_bytes = settings.PACKAGE_MAX_BYTES
    if not data:
        raise PackageError("empty", "The package is empty.")
    if len(data) > max_bytes:
        raise PackageError("too_large", f"The package is {len(data)} bytes; the limit is {max_bytes} bytes.")


def open_zip(data: bytes) -> zipfile.ZipFile:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        zf.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise PackageError("not_a_zip", f"The package is not a valid zip archive ({str(exc)[:120]}).") from None
    return zf


def _ratio_exceeded(compressed: int, uncompressed: int, max_ratio: int) -> bool:
    # Small files may compress well legitimately; only judge entries that unpack to more than 64 KiB.
    return uncompressed > 64 * 1024 and uncompressed > max_ratio * max(compressed, 1)


def check_entries(zf: zipfile.ZipFile) -> None:
    """Entry count, total declared size and per-entry declared compression ratio, from the central directory."""
    _, max_entries, max_unpacked, max_ratio = _limits()
    infos = zf.infolist()
    if len(infos) > max_entries:
        raise PackageError("too_many_entries", f"The package has {len(infos)} entries; the limit is {max_entries}.")
    total = 0
    for info in infos:
        total += info.file_size
        if total > max_unpacked:
            raise PackageError(
                "too_large_unpacked", f"The package unpacks to more than {max_unpacked} bytes; that is the limit."
            )
        if _ratio_exceeded(info.compress_size, info.file_size, max_ratio):
            raise PackageError(
                "compression_ratio",
                f"{_printable(info.filename)} is compressed more than {max_ratio}:1 (a decompression bomb?).",
            )


def _printable(name: str) -> str:
    return repr(name[:100])


def _check_path(name: str) -> str:
    """Return the normalized path of a regular file entry, or raise. Directory entries return ''."""
    shown = _printable(name)
    if not name or "\x00" in name or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise PackageError("unsafe_path", f"Entry {shown} has control characters, NUL or backslashes in its name.")
    if len(name) > MAX_PATH_LENGTH:
        raise PackageError("unsafe_path", f"Entry {shown} has a name longer than {MAX_PATH_LENGTH} characters.")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise PackageError("unsafe_path", f"Entry {shown} has an absolute path.")
    is_dir = name.endswith("/")
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise PackageError("unsafe_path", f"Entry {shown} has an empty, '.' or '..' path component.")
    if len(parts) > MAX_PATH_DEPTH:
        raise PackageError("unsafe_path", f"Entry {shown} is nested deeper than {MAX_PATH_DEPTH} directories.")
    return "" if is_dir else "/".join(parts)


def _entry_kind(info: zipfile.ZipInfo) -> str:
    """'file', 'dir', 'symlink' or 'special', from the Unix mode in external_attr (when made on Unix)."""
    mode = (info.external_attr >> 16) & 0xFFFF
    if info.create_system == 3 and stat.S_IFMT(mode):
        # Some writers (Python's writestr among them) store permission bits without a file type: a regular file.
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISDIR(mode):
            return "dir"
        if not stat.S_ISREG(mode):
            return "special"
    if info.filename.endswith("/"):
        return "dir"
    # MS-DOS attributes: 0x10 is the directory bit; a "file" entry with it set is inconsistent.
    if info.external_attr & 0x10:
        return "special"
    return "file"


def check_paths(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """Refuse unsafe names and anything but regular files and directories. Returns the regular file entries."""
    seen: dict[str, str] = {}
    files: list[zipfile.ZipInfo] = []
    dirs: set[str] = set()
    for info in zf.infolist():
        # zipfile cuts names at NUL; the original name is what other unzip tools would see.
        if info.orig_filename != info.filename:
            raise PackageError("unsafe_path", f"Entry {_printable(info.orig_filename)} has a NUL in its name.")
        name = info.filename
        path = _check_path(name)
        kind = _entry_kind(info)
        if kind == "symlink":
            raise PackageError("symlink", f"Entry {_printable(name)} is a symbolic link; links are not allowed.")
        if kind == "special":
            raise PackageError("special_file", f"Entry {_printable(name)} is not a regular file or directory.")
        if info.flag_bits & 0x1:
            raise PackageError("encrypted", f"Entry {_printable(name)} is encrypted.")
        if kind == "dir":
            if path:
                raise PackageError("special_file", f"Entry {_printable(name)} is a directory without a trailing '/'.")
            dirs.add(name.rstrip("/"))
            continue
        # Case-insensitive, Unicode-normalized key: names that differ only so collide on some filesystems.
        key = unicodedata.normalize("NFC", path).casefold()
        if key in seen:
            raise PackageError(
                "duplicate_name",
                f"Entries {_printable(seen[key])} and {_printable(name)} have the same name (ignoring case).",
            )
        seen[key] = name
        files.append(info)
    # A file may not also be a directory (e.g. "a" and "a/b"), whatever the case.
    file_keys = set(seen)
    for key in list(file_keys):
        for i in range(1, key.count("/") + 1):
            prefix = key.rsplit("/", i)[0]
            if prefix in file_keys:
                raise PackageError("duplicate_name", f"{_printable(prefix)} is both a file and a directory.")
    for d in dirs:
        if unicodedata.normalize("NFC", d).casefold() in file_keys:
            raise PackageError("duplicate_name", f"{_printable(d)} is both a file and a directory.")
    return files


def read_files(zf: zipfile.ZipFile, entries: list[zipfile.ZipInfo]) -> dict[str, bytes]:
    """Decompress every regular file, counting real bytes as they come (declared sizes may lie)."""
    _, _, max_unpacked, max_ratio = _limits()
    files: dict[str, bytes] = {}
    total = 0
    for info in entries:
        chunks = []
        size = 0
        try:
            with zf.open(info) as stream:
                while True:
                    chunk = stream.read(_READ_CHUNK)
                    if not chunk:
                        break
                    size += len(chunk)
                    total += len(chunk)
                    if total > max_unpacked:
                        raise PackageError(
                            "too_large_unpacked",
                            f"The package unpacks to more than {max_unpacked} bytes; that is the limit.",
                        )
                    if _ratio_exceeded(info.compress_size, size, max_ratio):
                        raise PackageError(
                            "compression_ratio",
                            f"{_printable(info.filename)} is compressed more than {max_ratio}:1 (a zip bomb?).",
                        )
                    chunks.append(chunk)
        except PackageError:
            raise
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError) as exc:
            raise PackageError("corrupt", f"Entry {_printable(info.filename)} cannot be read ({str(exc)[:120]}).")
        files[_check_path(info.filename)] = b"".join(chunks)
    return files


def load_manifest(files: dict[str, bytes]) -> Manifest:
    raw = files.get(MANIFEST_NAME)
    if raw is None:
        raise PackageError("manifest_missing", f"The package has no {MANIFEST_NAME} at its root.")
    try:
        return parse_manifest(raw)
    except ManifestError as exc:
        error = PackageError("manifest_invalid", f"{MANIFEST_NAME} is invalid: {exc}")
        error.errors = exc.errors  # type: ignore[attr-defined]
        raise error from None


def check_main(manifest: Manifest, files: dict[str, bytes]) -> None:
    source = files.get(manifest.main)
    if source is None:
        raise PackageError("main_missing", f"The main module {manifest.main!r} is not in the package.")
    try:
        source.decode("utf-8")
    except UnicodeDecodeError:
        raise PackageError("main_invalid", f"The main module {manifest.main!r} is not UTF-8 text.") from None


def read_package(data: bytes) -> Package:
    """Run every check in order and return the package, or raise the first PackageError."""
    check_size(data)
    zf = open_zip(data)
    with zf:
        check_entries(zf)
        entries = check_paths(zf)
        files = read_files(zf, entries)
    manifest = load_manifest(files)
    check_main(manifest, files)
    return Package(manifest=manifest, sha256=hashlib.sha256(data).hexdigest(), size=len(data), files=files)


def extract_package(package: Package, dest: Path) -> None:
    """Write the package's regular files under `dest` (created, must be empty or absent), read-only for others.

    Paths were validated by `check_paths`; they are checked again against `dest` here, and files are opened with
    O_NOFOLLOW | O_EXCL so that nothing already on disk can redirect a write.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True, mode=0o755)
    root = dest.resolve()
    for path, content in package.files.items():
        target = (root / PurePosixPath(path)).resolve()
        if root not in target.parents:
            raise PackageError("unsafe_path", f"Entry {_printable(path)} escapes the package directory.")
        parent = target.parent
        parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if parent.resolve() != parent:
            raise PackageError("unsafe_path", f"Entry {_printable(path)} goes through a link.")
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
