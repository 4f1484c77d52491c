"""The worker image of the container backend, built without any registry or download at build time.

Two layers, each cached on the engine and rebuilt only when its inputs change:
1. the base: a Debian root filesystem made by `debootstrap --variant=minbase --include=python3,libseccomp2 bookworm`
   from the host's own Debian mirror, imported with `docker import` (tag BASE_TAG, label LABEL_BASE = the recipe);
2. the worker image (settings.SANDBOX_DOCKER_IMAGE): image/Dockerfile FROM the base, adding the trusted boot script
   and the SDK, labelled LABEL_CONTENT = a hash of everything that goes into it. The backend refuses to start
   containers from an image whose label differs from the code it runs with (a stale boot script or SDK would speak
   another protocol), and `build_sandbox_image` skips the build when the label already matches.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

IMAGE_DIR = Path(__file__).with_name("image")
BOOT = Path(__file__).with_name("boot.py")
BASE_TAG = "aisquare/sandbox-base:bookworm"
BASE_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "libseccomp2")
BASE_RECIPE = f"debootstrap --variant=minbase --include={','.join(BASE_PACKAGES)} {BASE_SUITE}"
LABEL_BASE = "aisquare.sandbox.base"
LABEL_CONTENT = "aisquare.sandbox.content"

Log = Callable[[str], None]


def _sdk_dir() -> Path:
    import aisquare_plugin_sdk

    return Path(aisquare_plugin_sdk.__file__).parent


def context_files() -> dict[str, bytes]:
    """The build context: the Dockerfile, the boot script and the SDK package (no caches)."""
    files = {"Dockerfile": (IMAGE_DIR / "Dockerfile").read_bytes(), "boot.py": BOOT.read_bytes()}
    sdk = _sdk_dir()
    for path in sorted(sdk.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo"):
            files[f"lib/aisquare_plugin_sdk/{path.relative_to(sdk).as_posix()}"] = path.read_bytes()
    return files


def content_hash(files: dict[str, bytes] | None = None) -> str:
    digest = hashlib.sha256(BASE_RECIPE.encode())
    for name, data in sorted((files or context_files()).items()):
        digest.update(b"\0" + name.encode() + b"\0" + hashlib.sha256(data).digest())
    return digest.hexdigest()[:32]


def image_labels(api, tag: str) -> dict[str, str] | None:
    """The labels of an image on the engine, or None when it is not there."""
    import docker.errors

    try:
        return (api.inspect_image(tag).get("Config") or {}).get("Labels") or {}
    except docker.errors.ImageNotFound:
        return None


def debian_mirror() -> str:
    """SANDBOX_DEBIAN_MIRROR, else the first Debian mirror of this host's apt sources."""
    if os.environ.get("SANDBOX_DEBIAN_MIRROR"):
        return os.environ["SANDBOX_DEBIAN_MIRROR"]
    sources = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for source in sources:
        try:
            text = source.read_text()
        except OSError:
            continue
        for url in re.findall(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(\S+)", text, flags=re.MULTILINE):
            if "security" not in url and url.startswith(("http://", "https://", "file:")):
                return url
    return "http://deb.debian.org/debian"


def ensure_base(api, *, log: Log = print, rebuild: bool = False, rootfs: Path | None = None) -> None:
    """Make the base image from a debootstrapped root filesystem, unless it exists with the same recipe.

    `rootfs`: a root filesystem already made with BASE_RECIPE (skips debootstrap, e.g. on a machine without a mirror).
    """
    labels = image_labels(api, BASE_TAG)
    if labels is not None and labels.get(LABEL_BASE) == BASE_RECIPE and not rebuild:
        log(f"base image {BASE_TAG} is current")
        return
    if rootfs is not None:
        _import_rootfs(api, Path(rootfs), log)
        return
    debootstrap = shutil.which("debootstrap") or "/usr/sbin/debootstrap"
    if not os.path.exists(debootstrap):
        raise RuntimeError("debootstrap is not installed (apt-get install debootstrap): the base image is made "
                           "from a Debian root filesystem because no image registry is reachable")
    mirror = debian_mirror()
    with tempfile.TemporaryDirectory(prefix="aisquare-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        log(f"{BASE_RECIPE} from {mirror} ...")
        proc = subprocess.run(
            [debootstrap, "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", BASE_SUITE, str(rootfs),
             mirror], capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"debootstrap failed ({proc.returncode}): {(proc.stderr or proc.stdout)[-800:]}")
        _import_rootfs(api, rootfs, log)


def _import_rootfs(api, rootfs: Path, log: Log) -> None:
    if not (rootfs / "usr/bin/python3").exists():
        raise RuntimeError(f"{rootfs} is not a root filesystem with python3")
    log(f"importing the root filesystem {rootfs} as {BASE_TAG} ...")
    tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
    try:
        repository, _, tag = BASE_TAG.partition(":")
        api.import_image_from_stream(tar.stdout, repository=repository, tag=tag,
                                     changes=[f'LABEL {LABEL_BASE}="{BASE_RECIPE}"'])
    finally:
        tar.stdout.close()
        tar.wait()
    if tar.returncode != 0:
        raise RuntimeError(f"tar of the root filesystem failed ({tar.returncode})")
    if (image_labels(api, BASE_TAG) or {}).get(LABEL_BASE) != BASE_RECIPE:
        raise RuntimeError(f"the imported base image {BASE_TAG} lacks its label")


def build_image(api, *, tag: str, log: Log = print, force: bool = False, rootfs: Path | None = None) -> bool:
    """Build the worker image unless the engine already has it with the same content. Returns True if built."""
    files = context_files()
    digest = content_hash(files)
    labels = image_labels(api, tag)
    if labels is not None and labels.get(LABEL_CONTENT) == digest and not force:
        log(f"sandbox image {tag} is current (content {digest})")
        return False
    ensure_base(api, log=log, rootfs=rootfs)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 0 if name == "Dockerfile" else 1  # fixed: the image's .pyc must match what is copied
            archive.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    log(f"building {tag} (content {digest}, no network) ...")
    output = []
    for chunk in api.build(fileobj=buffer, custom_context=True, tag=tag, rm=True, forcerm=True,
                           network_mode="none", labels={LABEL_CONTENT: digest}, buildargs={"BASE": BASE_TAG},
                           decode=True):
        if "error" in chunk:
            raise RuntimeError(f"docker build failed: {chunk['error']}\n{''.join(output)[-1500:]}")
        output.append(str(chunk.get("stream", "")))
    if (image_labels(api, tag) or {}).get(LABEL_CONTENT) != digest:
        raise RuntimeError(f"the built image {tag} lacks its content label:\n{''.join(output)[-1500:]}")
    try:  # the image this one replaces, now untagged
        api.prune_images(filters={"dangling": True, "label": LABEL_CONTENT})
    except Exception:  # noqa: BLE001, S110 - housekeeping only
        pass
    log(f"built {tag}")
    return True
