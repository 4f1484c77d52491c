"""The runtime app's public surface: the only module of it that other apps may import."""

from runtime.package import (
    Package,
    PackageError,
    check_entries,
    check_main,
    check_paths,
    check_size,
    extract_package,
    load_manifest,
    open_zip,
    read_files,
    read_package,
)

__all__ = [
    "Package",
    "PackageError",
    "check_entries",
    "check_main",
    "check_paths",
    "check_size",
    "extract_package",
    "load_manifest",
    "open_zip",
    "read_files",
    "read_package",
]
