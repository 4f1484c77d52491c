"""Mount slots: where a root host puts one worker's code (read-only) and data for bubblewrap, running as the
unprivileged sandbox user, to bind.

bwrap runs as that user, so it can only bind what the user can reach by path; the plugin and data directories live
under PLUGIN_ROOT, which that user need not (and should not) be able to walk. So the host, still root, clones the
version's code directory (read-only, nosuid, nodev) and the installation's data directory (or its mounted quota
volume; nosuid, nodev, noexec) as detached mounts (open_tree) and attaches them in a slot of its own,
`/run/aisquare-sandbox/<owner pid>-<n>-<key>/{plugin,data}`; bwrap binds the slot. Once the worker is up the host
detaches the slot's mounts: the worker's mount namespace keeps its own copies, the host keeps nothing mounted.

A spare (a worker booted before its installation is known, runtime.sandbox.pool) binds a slot that is a shared mount
of its own: the code and data attached there later propagate into the running spare's /plugin and /data. Right after,
the slot is made private -- the worker's copies no longer receive anything from the host -- and detached. The slot's
empty directories stay until the worker is gone: removing a directory that is a mount point in the worker's
namespace would unmount the worker's /plugin or /data.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import itertools
import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

SLOT_ROOT = Path("/run/aisquare-sandbox")

# The same numbers on every architecture (system calls added after 4.20 share one table).
SYS_OPEN_TREE, SYS_MOVE_MOUNT, SYS_MOUNT_SETATTR = 428, 429, 442
OPEN_TREE_CLONE, OPEN_TREE_CLOEXEC, AT_RECURSIVE, AT_EMPTY_PATH, AT_FDCWD = 1, 0o2000000, 0x8000, 0x1000, -100
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY, MOUNT_ATTR_NOSUID, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC = 0x1, 0x2, 0x4, 0x8
MS_BIND, MS_PRIVATE, MS_SHARED, MNT_DETACH = 0x1000, 0x40000, 0x100000, 2

CODE_ATTRS = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV
DATA_ATTRS = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC

_libc = ctypes.CDLL(None, use_errno=True)
_counter = itertools.count()


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64), ("propagation", ctypes.c_uint64),
                ("userns_fd", ctypes.c_uint64)]


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _mount(source: Path | None, target: Path, flags: int) -> None:
    _check(_libc.mount(os.fsencode(source) if source else None, os.fsencode(target), None, flags, None),
           f"mount {target}")


def _detach(target: Path) -> None:
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        logger.error("could not detach %s: %s", target, os.strerror(ctypes.get_errno()))


def _attach_clone(source: Path, target: Path, attrs: int) -> None:
    """Clone the mount tree at `source` (detached, private, with `attrs`) and attach it on `target`."""
    fd = _check(_libc.syscall(SYS_OPEN_TREE, AT_FDCWD, os.fsencode(source),
                              OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE), f"open_tree {source}")
    try:
        attr = _MountAttr(attrs, 0, MS_PRIVATE, 0)
        _check(_libc.syscall(SYS_MOUNT_SETATTR, fd, b"", AT_EMPTY_PATH | AT_RECURSIVE, ctypes.byref(attr),
                             ctypes.sizeof(attr)), f"mount_setattr {source}")
        _check(_libc.syscall(SYS_MOVE_MOUNT, fd, b"", AT_FDCWD, os.fsencode(target), MOVE_MOUNT_F_EMPTY_PATH),
               f"move_mount {target}")
    finally:
        os.close(fd)


@functools.cache
def supported() -> bool:
    """Root, and a kernel with the new mount API (5.12+). Elsewhere bwrap binds the directories themselves."""
    if os.geteuid() != 0:
        return False
    try:
        _root()
        probe = MountSlot.create("probe")
        try:
            _attach_clone(probe.data, probe.plugin, CODE_ATTRS)
        finally:
            probe.release()
            probe.remove()
    except OSError as exc:
        logger.warning("mount slots unavailable (%s): the sandbox user must be able to reach PLUGIN_ROOT", exc)
        return False
    return True


@functools.cache
def _root() -> Path:
    """The slots' parent: searchable, not listable, by the sandbox user; a private mount of its own, so that nothing
    attached in a slot propagates to the host's other mount namespaces."""
    SLOT_ROOT.mkdir(mode=0o711, exist_ok=True)
    os.chown(SLOT_ROOT, 0, 0)
    os.chmod(SLOT_ROOT, 0o711)  # noqa: S103 - search only: the sandbox user reaches its own slot by name
    if not _is_mount_point(SLOT_ROOT):
        _mount(SLOT_ROOT, SLOT_ROOT, MS_BIND)
    _mount(None, SLOT_ROOT, MS_PRIVATE)
    reap_orphans()
    return SLOT_ROOT


def _is_mount_point(path: Path) -> bool:
    """os.path.ismount cannot see a bind mount of a directory of the same filesystem: ask the mount table."""
    target = os.fsencode(path)
    with open("/proc/self/mountinfo", "rb") as table:
        return any(line.split()[4] == target for line in table)


class MountSlot:
    def __init__(self, path: Path, *, shared: bool = False):
        self.path = path
        self.plugin = path / "plugin"
        self.data = path / "data"
        self.shared = shared
        self.attached = False

    @classmethod
    def create(cls, key: str, *, shared: bool = False) -> MountSlot:
        path = _root() / f"{os.getpid()}-{next(_counter)}-{key[:12]}"
        path.mkdir(mode=0o711)
        os.chmod(path, 0o711)  # noqa: S103 - search only, for bwrap running as the sandbox user
        slot = cls(path, shared=shared)
        try:
            for empty in (slot.plugin, slot.data):  # what a spare sees there until it is assigned: nothing
                empty.mkdir()
                os.chmod(empty, 0o711)  # noqa: S103 - empty, root's; bwrap starts in /data
            if shared:
                _mount(path, path, MS_BIND)
                _mount(None, path, MS_PRIVATE)  # a peer group of its own, not the parent's
                _mount(None, path, MS_SHARED)
        except OSError:
            slot.release()
            slot.remove()
            raise
        return slot

    def attach(self, code_dir: Path, data_dir: Path) -> None:
        """Put the code (read-only) and the data in the slot; in a shared slot, they reach the spare bound to it."""
        _attach_clone(code_dir, self.plugin, CODE_ATTRS)
        self.attached = True
        _attach_clone(data_dir, self.data, DATA_ATTRS)

    def release(self) -> None:
        """Detach the host's mounts (the worker keeps its copies); a shared slot is made private first, so that the
        detaching does not propagate into the worker."""
        if self.shared:
            with contextlib.suppress(OSError):
                _mount(None, self.path, MS_PRIVATE)
        for target in (self.plugin, self.data):
            _detach(target)
        if self.shared:
            _detach(self.path)
            self.shared = False

    def remove(self) -> None:
        """Remove the empty directories, once no worker uses the slot any more."""
        for target in (self.plugin, self.data, self.path):
            try:
                target.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                logger.warning("could not remove the mount slot %s: %s", target, exc)


def reap_orphans() -> None:
    """Detach and remove the slots of host processes that died without cleaning up."""
    try:
        names = [p.name for p in SLOT_ROOT.iterdir() if p.is_dir()]
    except OSError:
        return
    for name in names:
        owner = name.split("-", 1)[0]
        if not owner.isdigit() or process_alive(int(owner)):
            continue
        slot = MountSlot(SLOT_ROOT / name, shared=True)
        slot.release()
        slot.remove()


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
