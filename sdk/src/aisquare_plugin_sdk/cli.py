"""`aisquare-plugin`: create, validate, test, preview, build, publish and document AI Square plugins.

Exit codes: 0 success; 1 validation or test failure (or the platform refused the package); 2 usage error or bad
input (unknown option, missing plugin.json, missing token, port in use); 3 server or network error.
Every error is one line on stderr, starting with "error: ". Standard library only.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

from aisquare_plugin_sdk import __version__
from aisquare_plugin_sdk.manifest import CATEGORIES

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_SERVER = 0, 1, 2, 3


class CLIError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"error: {message} (see {self.prog} --help)\n")


def _err(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")


def _shown(path: Path) -> str:
    relative = os.path.relpath(path)
    return str(path) if relative.startswith("..") else relative


def _root(path: str) -> Path:
    from aisquare_plugin_sdk.project import ProjectError, find_root

    target = Path(path)
    if not target.exists():
        raise CLIError(f"{path}: no such directory")
    try:
        return find_root(target)
    except ProjectError as exc:
        raise CLIError(exc.errors[0]) from None


# ------------------------------------------------------------------ init


def cmd_init(args: argparse.Namespace) -> int:
    from aisquare_plugin_sdk.project import ProjectError
    from aisquare_plugin_sdk.scaffold import create_project

    try:
        target = create_project(args.name, template=args.template, category=args.category,
                                directory=Path(args.directory) if args.directory else None, author=args.author)
    except ProjectError as exc:
        raise CLIError(exc.errors[0]) from None
    shown = _shown(target)
    print(f"Created {shown} from the {args.template} template. Next:")
    print(f"  cd {shown} && aisquare-plugin validate && aisquare-plugin test && aisquare-plugin dev")
    return EXIT_OK


# ------------------------------------------------------------------ validate


def cmd_validate(args: argparse.Namespace) -> int:
    from aisquare_plugin_sdk.build import package_files, validate_project

    root = _root(args.path)
    result = validate_project(root)
    for warning in result.warnings:
        sys.stderr.write(f"warning: {warning}\n")
    if not result.ok:
        for error in result.errors:
            _err(error)
        sys.stderr.write(f"Plugin validation failed: {len(result.errors)} error(s).\n")
        return EXIT_FAILED
    assert result.manifest is not None
    print(f"Plugin validation passed: {result.manifest.id} {result.manifest.version} "
          f"({len(package_files(root))} files, {len(result.manifest.scopes)} scopes)")
    return EXIT_OK


# ------------------------------------------------------------------ test


def _test_command(root: Path, coverage: bool) -> tuple[list[str], str]:
    if importlib.util.find_spec("pytest") is not None:
        config = root / "pytest.ini"
        runner = ["-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:django", f"--rootdir={root}",
                  "-c", str(config) if config.is_file() else os.devnull, f"--confcutdir={root}", "tests"]
        name = "pytest"
    else:
        runner = ["-m", "unittest", "discover", "-s", "tests", "-v"]
        name = "unittest (pytest is not installed)"
    if coverage:
        if importlib.util.find_spec("coverage") is None:
            raise CLIError("--coverage needs the coverage package: pip install coverage")
        return [sys.executable, "-m", "coverage", "run", f"--source={root}", "--omit=tests/*", *runner], name
    return [sys.executable, *runner], name


def _run_tests(root: Path, coverage: bool) -> int:
    command, name = _test_command(root, coverage)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
           "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    print(f"Running the tests with {name}", flush=True)
    code = subprocess.call(command, cwd=root, env=env)
    if code == 0 and coverage:
        subprocess.call([sys.executable, "-m", "coverage", "report", "-m"], cwd=root, env=env)
    if code == 5 and "pytest" in name:
        _err("no tests were collected in tests/")
        return EXIT_FAILED
    if code not in (0, 1):
        _err(f"the test runner stopped with exit code {code}")
        return EXIT_USAGE if code in (2, 3, 4) else EXIT_FAILED
    if code == 1:
        _err("tests failed")
    return code


def cmd_test(args: argparse.Namespace) -> int:
    root = _root(args.path)
    if not (root / "tests").is_dir():
        raise CLIError(f"no tests/ folder in {root}")
    _test_command(root, args.coverage)  # refuse a missing coverage package before running anything
    code = _run_tests(root, args.coverage)
    if not args.watch:
        return code
    from aisquare_plugin_sdk.devserver import _snapshot

    stamps = _snapshot(root)
    print("Watching for changes (Ctrl-C to stop)...", flush=True)
    try:
        while True:
            time.sleep(0.5)
            current = _snapshot(root)
            if current != stamps:
                stamps = current
                code = _run_tests(root, args.coverage)
                print("Watching for changes (Ctrl-C to stop)...", flush=True)
    except KeyboardInterrupt:
        return code


# ------------------------------------------------------------------ dev


def cmd_dev(args: argparse.Namespace) -> int:
    from aisquare_plugin_sdk.devserver import DevServer

    root = _root(args.path)
    if not 0 <= args.port <= 65535:
        raise CLIError(f"--port {args.port}: not a TCP port")
    try:
        server = DevServer(root, args.host, args.port)
    except OSError as exc:
        raise CLIError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    name = (server.state.setup.manifest.get("name") if server.state.setup else root.name)
    print(f"AI Square Plugin Dev Server\n  Plugin: {name}\n  Server: {server.url}\n  Hot reload: enabled\n"
          f"  Docs: {server.url}/docs\nPress Ctrl-C to stop.", flush=True)
    if server.state.error:
        _err("the plugin did not load; fix it and the server reloads: " + server.state.error.splitlines()[-1])
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
    return EXIT_OK


# ------------------------------------------------------------------ build


def cmd_build(args: argparse.Namespace) -> int:
    from aisquare_plugin_sdk.build import build_project
    from aisquare_plugin_sdk.project import ProjectError

    root = _root(args.path)
    try:
        result = build_project(root, args.output)
    except ProjectError as exc:
        for error in exc.errors:
            _err(error)
        return EXIT_FAILED
    except OSError as exc:
        raise CLIError(f"cannot write the package: {exc.strerror or exc}") from None
    shown = _shown(result.path)
    print(f"Built {shown} ({len(result.files)} files, {result.size} bytes)")
    print(f"sha256 {result.sha256}")
    return EXIT_OK


# ------------------------------------------------------------------ publish


def cmd_publish(args: argparse.Namespace) -> int:
    from aisquare_plugin_sdk.build import build_project
    from aisquare_plugin_sdk.project import ProjectError
    from aisquare_plugin_sdk.publish import (
        VERDICT_OK,
        Client,
        PublishError,
        format_verdict,
        load_settings,
        review_link,
        wait_for_verdict,
    )

    root = _root(args.path)
    try:
        settings = load_settings(args.url)
    except PublishError as exc:
        raise CLIError(str(exc), exc.exit_code) from None
    try:
        built = build_project(root, args.output)
    except ProjectError as exc:
        for error in exc.errors:
            _err(error)
        return EXIT_FAILED
    manifest = built.manifest
    target = f"{settings.url}/api/developer/plugins"
    if args.dry_run:
        print(f"Dry run: would upload {_shown(built.path)} ({built.size} bytes, sha256 {built.sha256})")
        print(f"  as {manifest.id} {manifest.version} to {target}")
        print(f"  scopes: {', '.join(manifest.scopes) or 'none'}; pricing: {manifest.pricing['model']}")
        if settings.token:
            print(f"  token: from {settings.source}")
        else:
            sys.stderr.write("warning: no developer token is configured (AISQUARE_TOKEN or "
                             "~/.config/aisquare/config.json); a real publish would stop here\n")
        return EXIT_OK
    if not settings.token:
        raise CLIError(f"no developer token: set AISQUARE_TOKEN or put \"token\" in ~/.config/aisquare/config.json "
                       f"(create one at {settings.url}/developer/tokens/)")
    client = Client(settings, timeout=args.timeout)
    metadata = {"id": manifest.id, "version": str(manifest.version)}
    if manifest.data.get("changelog"):
        metadata["changelog"] = manifest.data["changelog"]
    try:
        reply = client.upload(built.path, metadata)
        summary = reply.get("version") if isinstance(reply.get("version"), dict) else reply
        version_id = str(summary.get("id", ""))
        print(f"Uploaded {reply.get('plugin_id', manifest.id)} {summary.get('version', manifest.version)}")
        status_url = reply.get("status_url") or (f"/api/developer/versions/{version_id}" if version_id else "")
        if status_url and args.wait > 0:
            summary = wait_for_verdict(client, status_url, summary, wait=args.wait)
    except PublishError as exc:
        raise CLIError(str(exc), exc.exit_code) from None
    for line in format_verdict(summary):
        print(line)
    if version_id:
        print(f"Review status: {review_link(settings.url, version_id)}")
    status = summary.get("status")
    if status in VERDICT_OK:
        return EXIT_OK
    if status in ("uploaded", "validating", "scanning"):
        print("The scan is still running; follow the review status link.")
        return EXIT_OK
    _err(f"the platform did not accept this version: {summary.get('status_label') or status}")
    return EXIT_FAILED


# ------------------------------------------------------------------ docs


def cmd_docs(args: argparse.Namespace) -> int:
    from aisquare_plugin_sdk.codeinfo import analyze_project
    from aisquare_plugin_sdk.docs import render_html, render_markdown
    from aisquare_plugin_sdk.project import ProjectError, read_manifest

    root = _root(args.path)
    try:
        manifest = read_manifest(root)
    except ProjectError as exc:
        for error in exc.errors:
            _err(error)
        return EXIT_FAILED
    code = analyze_project(root, manifest.main)
    if code.syntax_errors:
        for error in code.syntax_errors:
            _err(f"syntax error in {error}")
        return EXIT_FAILED
    fmt = args.format or ("html" if args.output and args.output.endswith((".html", ".htm")) else "markdown")
    text = render_html(manifest, code) if fmt == "html" else render_markdown(manifest, code)
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CLIError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        print(f"Wrote {args.output}")
    else:
        sys.stdout.write(text)
    return EXIT_OK


# ------------------------------------------------------------------ the parser


def build_parser() -> argparse.ArgumentParser:
    from aisquare_plugin_sdk.scaffold import TEMPLATES

    parser = Parser(prog="aisquare-plugin", description="AI Square Plugin Development CLI",
                    epilog="Exit codes: 0 ok, 1 validation or test failure, 2 usage or bad input, "
                           "3 server or network error.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = commands.add_parser("init", help="Initialize a new plugin project",
                            description="Create a plugin project (plugin.json, plugin.py, tests, README).")
    p.add_argument("name", help="the plugin's name, e.g. 'Quiz Helper' (its id becomes quiz-helper)")
    p.add_argument("-t", "--template", choices=sorted(TEMPLATES), default="basic", help="plugin template")
    p.add_argument("-c", "--category", choices=CATEGORIES, help="plugin category (default: the template's)")
    p.add_argument("-d", "--directory", help="where to create it (default: ./<plugin id>)")
    p.add_argument("--author", default="Your Name", help="author name for plugin.json")
    p.set_defaults(func=cmd_init)

    p = commands.add_parser("validate", help="Validate plugin structure and metadata",
                            description="Check plugin.json with the platform's own validator, the code's "
                                        "Plugin API calls against the declared scopes, and the package limits.")
    p.add_argument("-p", "--path", default=".", help="plugin directory (default: .)")
    p.set_defaults(func=cmd_validate)

    p = commands.add_parser("test", help="Run plugin tests",
                            description="Run tests/ with pytest when it is installed, else unittest.")
    p.add_argument("-p", "--path", default=".", help="plugin directory (default: .)")
    p.add_argument("-w", "--watch", action="store_true", help="run again whenever a file changes")
    p.add_argument("-c", "--coverage", action="store_true", help="measure coverage (needs the coverage package)")
    p.set_defaults(func=cmd_test)

    p = commands.add_parser("dev", help="Start development server",
                            description="Run the plugin against a mock platform, preview its UI extensions, "
                                        "call its functions and events; reloads on file changes.")
    p.add_argument("-p", "--port", type=int, default=3001, help="server port (default: 3001)")
    p.add_argument("--host", default="localhost", help="server host (default: localhost)")
    p.add_argument("--path", default=".", help="plugin directory (default: .)")
    p.set_defaults(func=cmd_dev)

    p = commands.add_parser("build", help="Build plugin for production",
                            description="Validate, then write a reproducible <id>-<version>.zip and its .sha256.")
    p.add_argument("-o", "--output", default="dist", help="output directory (default: dist)")
    p.add_argument("-p", "--path", default=".", help="plugin directory (default: .)")
    p.set_defaults(func=cmd_build)

    p = commands.add_parser("publish", help="Publish plugin to marketplace",
                            description="Build and upload to AISQUARE_URL with the token from AISQUARE_TOKEN or "
                                        "~/.config/aisquare/config.json, then print the scan result and the "
                                        "review status link.")
    p.add_argument("--dry-run", action="store_true", help="build and show what would be uploaded, upload nothing")
    p.add_argument("-p", "--path", default=".", help="plugin directory (default: .)")
    p.add_argument("-o", "--output", default="dist", help="where the package is built (default: dist)")
    p.add_argument("--url", help="the platform's URL (default: AISQUARE_URL, the config file, or "
                                 "http://localhost:8000)")
    p.add_argument("--wait", type=float, default=120, help="seconds to wait for the scan verdict (0: do not wait)")
    p.add_argument("--timeout", type=float, default=60, help="network timeout in seconds")
    p.set_defaults(func=cmd_publish)

    p = commands.add_parser("docs", help="Generate plugin documentation",
                            description="Document the plugin's functions, hooks, events, UI extensions and scopes "
                                        "from its code and manifest.")
    p.add_argument("-p", "--path", default=".", help="plugin directory (default: .)")
    p.add_argument("-f", "--format", choices=("markdown", "html"), help="default: markdown (html for -o *.html)")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.set_defaults(func=cmd_docs)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.func(args)
    except CLIError as exc:
        _err(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        _err("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
