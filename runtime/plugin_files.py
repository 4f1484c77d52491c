"""Where installations live on disk: one read-only code directory per package (shared by its installations,
precompiled to bytecode once) and one data directory per installation.

The data directory has a hard disk quota where the host allows it: an ext4 volume in a sparse image file of the
quota's size (`data/<id>.img`), see runtime.sandbox.volumes.
"""

from __future__ import annotations

import compileall
import logging
import os
import py_compile
import shutil
import tempfile
from pathlib import Path

from django.conf import settings

from runtime.package import Package, extract_package, read_package
from runtime.sandbox import volumes

logger = logging.getLogger(__name__)
COMPLETE_MARKER = ".complete"


def code_root() -> Path:
    return Path(settings.PLUGIN_ROOT) / "code"


def data_root() -> Path:
    return Path(settings.PLUGIN_ROOT) / "data"


def code_dir_for(*, plugin_id: str, version: str, sha256: str) -> Path:
    return code_root() / plugin_id / f"{version}-{sha256[:16]}"


def data_dir_for(installation_id) -> Path:
    return data_root() / str(installation_id)


def compile_bytecode(directory: Path) -> None:
    """Compile every module once per version, hash-based: unchecked in production (a version's code never changes,
    the sandbox never re-reads the source), checked under DEBUG so edited code in development is picked up."""
    mode = py_compile.PycInvalidationMode.CHECKED_HASH if settings.DEBUG else \
        py_compile.PycInvalidationMode.UNCHECKED_HASH
    try:
        compileall.compile_dir(str(directory), quiet=2, workers=1, invalidation_mode=mode)
    except (RecursionError, MemoryError, ValueError) as exc:  # a pathological module: the sandbox compiles it
        logger.warning("bytecode compilation of %s failed: %s", directory, exc)


def install_code(package: Package, dest: Path) -> Path:
    """Unpack and precompile a package into `dest`, atomically (a half-written directory is never used)."""
    if (dest / COMPLETE_MARKER).exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=dest.parent))
    try:
        extract_package(package, staging / "code")
        compile_bytecode(staging / "code")
        (staging / "code" / COMPLETE_MARKER).write_text(package.sha256)
        for root, dirs, files in os.walk(staging / "code"):
            for name in files:
                os.chmod(os.path.join(root, name), 0o400)
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o500)
        os.chmod(staging / "code", 0o500)
        try:
            os.rename(staging / "code", dest)
        except OSError:
            if not (dest / COMPLETE_MARKER).exists():  # not another process winning the race
                raise
    finally:
        remove_tree(staging)
    return dest


def install_code_from_bytes(data: bytes) -> tuple[Package, Path]:
    package = read_package(data)
    dest = code_dir_for(plugin_id=package.manifest.id, version=str(package.manifest.version), sha256=package.sha256)
    return package, install_code(package, dest)


def volume_image_for(installation_id) -> Path:
    return data_root() / f"{installation_id}.img"


def create_data_dir(installation_id, *, quota_mb: int | None = None) -> Path:
    """Create the installation's data directory, with a quota'd volume (sandbox.volumes) where the host allows."""
    path = data_dir_for(installation_id)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if quota_mb:
        volumes.make_volume(volume_image_for(installation_id), quota_mb)
    return path


def data_volume_for(installation_id) -> Path | None:
    image = volume_image_for(installation_id)
    return image if image.exists() else None


def remove_data_dir(installation_id) -> None:
    path = data_dir_for(installation_id)
    volumes.detach(path)
    volume_image_for(installation_id).unlink(missing_ok=True)
    remove_tree(path)


def remove_tree(path: Path) -> None:
    """Remove a tree a plugin may have made read-only or full of odd modes, never following links out of it."""
    if not path.exists() and not path.is_symlink():
        return

    def onerror(func, target, _exc):
        try:
            os.chmod(os.path.dirname(target), 0o700)
            os.chmod(target, 0o700, follow_symlinks=False)
        except (OSError, NotImplementedError):
            pass
        try:
            func(target)
        except OSError:
            logger.warning("could not remove %s", target)

    for root, dirs, _files in os.walk(path):
        for name in dirs:
            try:
                os.chmod(os.path.join(root, name), 0o700, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass
    shutil.rmtree(path, onerror=onerror)
