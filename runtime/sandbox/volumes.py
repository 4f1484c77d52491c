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
        # Root's only: the image holds the installation's files, whoever owns them inside (the sandbox user).
        with os.fdopen(os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600), "wb") as handle:
            handle.truncate(int(quota_mb) * 1024 * 1024)
        inodes = max(1024, min(65536, int(quota_mb) * 64))
        _run(["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-N", str(inodes),
              "-E", "lazy_itable_init=1,root_owner=0:0", str(image)])
    except (OSError, subprocess.SubprocessError) as exc:
        logger.warning("data volume %s unavailable (%s): plain directory", image, exc)
        image.unlink(missing_ok=True)
        return False
    return True


# Loop devices, set up in process (an exec of mount(8) costs ~10 ms of every cold start; this ~1 ms).
LOOP_CTL_GET_FREE, LOOP_CONFIGURE, LO_FLAGS_AUTOCLEAR = 0x4C82, 0x4C0A, 4
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_NOATIME = 2, 4, 8, 1024


class _LoopInfo64(ctypes.Structure):
    _fields_ = [("lo_device", ctypes.c_uint64), ("lo_inode", ctypes.c_uint64), ("lo_rdevice", ctypes.c_uint64),
                ("lo_offset", ctypes.c_uint64), ("lo_sizelimit", ctypes.c_uint64), ("lo_number", ctypes.c_uint32),
                ("lo_encrypt_type", ctypes.c_uint32), ("lo_encrypt_key_size", ctypes.c_uint32),
                ("lo_flags", ctypes.c_uint32), ("lo_file_name", ctypes.c_char * 64),
                ("lo_crypt_name", ctypes.c_char * 64), ("lo_encrypt_key", ctypes.c_char * 32),
                ("lo_init", ctypes.c_uint64 * 2)]


class _LoopConfig(ctypes.Structure):
    _fields_ = [("fd", ctypes.c_uint32), ("block_size", ctypes.c_uint32), ("info", _LoopInfo64),
                ("reserved", ctypes.c_uint64 * 8)]


def _loop_device_backing(image: Path) -> str | None:
    """The loop device that already backs `image` (a worker of the same installation holds it), if any: the same
    image must never be mounted through two devices at once (two ext4 superblocks over one file)."""
    wanted = str(image)
    try:
        names = [name for name in os.listdir("/sys/block") if name.startswith("loop")]
    except OSError:
        return None
    for name in names:
        try:
            with open(f"/sys/block/{name}/loop/backing_file") as handle:
                if handle.read().rstrip("\n") == wanted:
                    return f"/dev/{name}"
        except OSError:
            continue
    return None


def _new_loop_device(image: Path) -> tuple[str, int]:
    """A free loop device bound to `image`, cleared automatically once unmounted and closed. Returns its path and an
    open fd that keeps it alive until the caller has mounted it."""
    for _ in range(8):  # another process may take the free device first
        control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
        try:
            number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
        finally:
            os.close(control)
        device = f"/dev/loop{number}"
        loop_fd = os.open(device, os.O_RDWR | os.O_CLOEXEC)
        backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
        try:
            config = _LoopConfig(fd=backing)
            config.info.lo_flags = LO_FLAGS_AUTOCLEAR
            config.info.lo_file_name = os.fsencode(image)[:63]
            if _libc.ioctl(loop_fd, LOOP_CONFIGURE, ctypes.byref(config)) == 0:
                return device, loop_fd
            code = ctypes.get_errno()
        finally:
            os.close(backing)
        os.close(loop_fd)
        if code != 16:  # EBUSY: taken meanwhile, try the next one
            raise OSError(code, f"LOOP_CONFIGURE {device}: {os.strerror(code)}")
    raise OSError(16, "no free loop device")


def _mount_image(image: Path, target: Path) -> None:
    """mount -o loop,nosuid,nodev,noexec,noatime IMAGE TARGET, in process; mount(8) where that is not possible."""
    image = image.resolve()
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOATIME
    try:
        device = _loop_device_backing(image)
        loop_fd = None
        if device is None:
            device, loop_fd = _new_loop_device(image)
        try:
            if _libc.mount(os.fsencode(device), os.fsencode(target), b"ext4", flags, None) != 0:
                code = ctypes.get_errno()
                raise OSError(code, f"mount {device}: {os.strerror(code)}")
        finally:
            if loop_fd is not None:
                os.close(loop_fd)
    except OSError as exc:
        logger.info("in-process loop mount of %s failed (%s): mount(8)", image, exc)
        _run(["mount", "-o", "loop,nosuid,nodev,noexec,noatime", str(image), str(target)])


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
        if os.fstat(lock.fileno()).st_mode & 0o077:  # made world-readable by an earlier version
            os.fchmod(lock.fileno(), 0o600)
        mounted_here = False
        if not os.path.ismount(path):
            _mount_image(image, path)
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
