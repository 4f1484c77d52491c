"""Package reading: every unsafe or malformed archive is refused with its own code, before anything is written."""

import io
import json
import stat
import zipfile

import pytest

from runtime.api import PackageError, extract_package, read_package
from tests.runtime.packages import build_package, manifest


def _zip(entries, *, compression=zipfile.ZIP_DEFLATED):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as zf:
        for entry in entries:
            if isinstance(entry, zipfile.ZipInfo):
                zf.writestr(entry, b"x")
            else:
                name, content = entry
                zf.writestr(name, content)
    return buffer.getvalue()


def _base():
    return [("plugin.json", json.dumps(manifest())), ("plugin.py", "def f():\n    return 1\n")]


def _code(data):
    with pytest.raises(PackageError) as info:
        read_package(data)
    return info.value.code


def test_a_good_package_is_read_with_its_manifest_and_hash():
    data = build_package()
    package = read_package(data)
    assert package.manifest.id == "benign"
    assert package.size == len(data)
    assert set(package.files) == {"plugin.json", "plugin.py"}
    assert len(package.sha256) == 64


def test_size_limit(settings):
    settings.PACKAGE_MAX_BYTES = 100
    assert _code(build_package()) == "too_large"


def test_not_a_zip():
    assert _code(b"this is not a zip at all") == "not_a_zip"


def test_too_many_entries(settings):
    settings.PACKAGE_MAX_ENTRIES = 3
    assert _code(_zip(_base() + [(f"m{i}.py", "") for i in range(3)])) == "too_many_entries"


def test_decompression_bomb_by_ratio():
    assert _code(_zip(_base() + [("bomb.txt", b"\0" * 5_000_000)])) == "compression_ratio"


def test_unpacked_size_limit(settings):
    settings.PACKAGE_MAX_UNPACKED_BYTES = 1000
    assert _code(_zip(_base() + [("big.py", "x" * 2000)], compression=zipfile.ZIP_STORED)) == "too_large_unpacked"


def test_declared_sizes_are_not_trusted(settings):
    """A central directory that lies about the unpacked size is caught while reading."""
    settings.PACKAGE_MAX_UNPACKED_BYTES = 50_000
    data = bytearray(_zip(_base() + [("big.txt", bytes(range(256)) * 400)], compression=zipfile.ZIP_STORED))
    # Rewrite the declared uncompressed size of big.txt in the central directory to 10 bytes.
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(b"big.txt") + 1)
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    code = _code(bytes(data))
    assert code in {"too_large_unpacked", "corrupt"}


@pytest.mark.parametrize("name", ["/etc/passwd", "../evil.py", "a/../../evil.py", "a\\..\\evil.py", "a/./b.py",
                                  "C:/x.py", "a//b.py", "x/" * 20 + "deep.py"])
def test_unsafe_paths(name):
    assert _code(_zip(_base() + [(name, "x")])) == "unsafe_path"


def test_nul_in_a_name_is_refused():
    data = _zip(_base() + [("nul#.py", "x")]).replace(b"nul#.py", b"nul\x00.py")
    assert _code(data) == "unsafe_path"


def test_symlink_entries_are_refused():
    info = zipfile.ZipInfo("link.py")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert _code(_zip(_base() + [info])) == "symlink"


def test_device_files_are_refused():
    info = zipfile.ZipInfo("dev")
    info.create_system = 3
    info.external_attr = (stat.S_IFCHR | 0o644) << 16
    assert _code(_zip(_base() + [info])) == "special_file"


@pytest.mark.parametrize("names", [("a.py", "a.py"), ("a.py", "A.py"), ("lib", "lib/x.py")])
def test_duplicate_and_case_colliding_names(names):
    with pytest.warns(UserWarning) if names[0] == names[1] else _nothing():
        data = _zip(_base() + [(n, "x") for n in names])
    assert _code(data) == "duplicate_name"


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_manifest_missing_and_invalid():
    assert _code(_zip([("plugin.py", "x")])) == "manifest_missing"
    assert _code(_zip([("plugin.json", "{not json"), ("plugin.py", "x")])) == "manifest_invalid"
    bad = manifest()
    bad["version"] = "one"
    assert _code(_zip([("plugin.json", json.dumps(bad)), ("plugin.py", "x")])) == "manifest_invalid"


def test_main_module_missing():
    assert _code(build_package(source=None)) == "main_missing"
    assert _code(build_package(source=None, main="lib/entry.py", files={"plugin.py": "x"})) == "main_missing"


def test_extract_writes_regular_files_only(tmp_path):
    package = read_package(build_package(files={"lib/helpers.py": "X = 1\n"}))
    extract_package(package, tmp_path / "pkg")
    written = sorted(p.relative_to(tmp_path / "pkg").as_posix() for p in (tmp_path / "pkg").rglob("*") if p.is_file())
    assert written == ["lib/helpers.py", "plugin.json", "plugin.py"]
    mode = (tmp_path / "pkg" / "plugin.py").stat().st_mode
    assert stat.S_IMODE(mode) == 0o644


def test_extract_never_follows_a_planted_link(tmp_path):
    package = read_package(build_package())
    dest = tmp_path / "pkg"
    dest.mkdir()
    (dest / "plugin.py").symlink_to(tmp_path / "outside.py")
    with pytest.raises((PackageError, FileExistsError, OSError)):
        extract_package(package, dest)
    assert not (tmp_path / "outside.py").exists()
