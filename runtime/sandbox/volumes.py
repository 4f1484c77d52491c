"""Hard disk quotas for installations' data directories: an ext4 volume in a sparse image file per installation.

The volume is mounted (nosuid, nodev, noexec) on the data directory only while a worker starts, then detached from
the host at once: the worker's own mount namespace keeps it alive, and the loop device is released when the last
worker using it exits. So no mount is ever left on the host, and a plugin that fills /data gets ENOSPC however many
files it writes. Where loop mounts are impossible (not root, no loop devices) volumes are not made and only
RLIMIT_FSIZE (per file) and the size-limited /tmp hold; a warning says so.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import functools
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)
MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)


@functools.cache
def supported() -> bool:
    if getattr(settings, "SANDBOX_DATA_VOLUMES", True) is False:
        return False
    ok = (os.geteuid() == 0 and os.path.exists("/dev/loop-control")
          and all(shutil.which(tool, path="/usr/sbin:/usr/bin:/sbin:/bin") for tool in ("mkfs.ext4", "mount")))
    if not ok:
        logger.warning("loop-mounted data volumes are unavailable: plugin data directories have no hard quota")
    return ok


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})


def make_volume(image: Path, quota_mb: int) -> bool:
    """Create the sparse image with an empty ext4 of `quota_mb`. False when volumes are impossible here."""
    if not supported():
        return False
    if image.exists():
        return True
    try:
        image.parent.mkdir(parents=True, exist_ok=True)
        with open(image, "wb") as handle:
            handle.truncate(int(quota_mb) * 1024 * 1024)
        inodes = max(1024, min(65536, int(quota_mb) * 64))
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-N", str(inodes),
              "-E", "lazy_itable_init=1,root_owner=0:0", str(image)])
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("data volume %s unavailable (%s): plain directory", image, exc)
        image.unlink(missing_ok=True)
        return False
    return True


def detach(path: Path) -> None:
    """Lazily unmount `path` from the host's namespace (workers that bound it keep their view)."""
    if _libc.umount2(os.fsencode(str(path)), MNT_DETACH) != 0:
        errno = ctypes.get_errno()
        if errno not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            logger.error("could not detach %s: %s", path, os.strerror(errno))


@contextlib.contextmanager
def attached(path: Path, image: Path | None) -> Iterator[None]:
    """Mount `image` on `path` while a worker is being started (it binds `path`), then detach it from the host.

    Serialized per image across processes: a second worker of the same installation mounts the same loop device
    (mount reuses it for the same file), so both see one filesystem.
    """
    if image is None or not image.exists():
        yield
        return
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(image, "rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        mounted_here = False
        if not os.path.ismount(path):
            _run(["mount", "-o", "loop,nosuid,nodev,noexec,noatime", str(image), str(path)])
            mounted_here = True
            lost = path / "lost+found"
            if lost.is_dir():
                with contextlib.suppress(OSError):
                    lost.rmdir()
            os.chmod(path, 0o700)
        try:
            yield
        finally:
            if mounted_here:
                detach(path)


def unmount_all_under(root: Path) -> None:
    """Detach every mount under `root` (left by a crash: volumes are normally never left mounted)."""
    root_text = str(Path(root).resolve())
    try:
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    except OSError:
        return
    for mountpoint in sorted(mounts, reverse=True):
        mountpoint = mountpoint.replace("\\040", " ")
        if mountpoint.startswith(root_text + "/"):
            detach(Path(mountpoint))
