"""The security scan and quality score of a plugin package. It reads a runtime Package and a ScanContext (what it
needs from the database, gathered by the caller), and returns a ScanResult; it writes nothing but a temporary copy of
the files for its native tools (grep, ruff). It never passes by default: any crash, failing tool or timeout is the
caller's `errored`, which blocks publication.

Checks: Python AST analysis (dangerous modules and calls, dynamic imports, builtins tricks, writes outside the data
dir), Plugin API calls whose scope the manifest does not declare, obfuscation (high-entropy or base64 blobs,
compiled or minified files), hard-coded secrets, bandit's rules (run by ruff), names too close to an existing plugin,
a sha256 blocklist. docs/publishing.md says how each stays fast on a 20 MB package.
"""

from __future__ import annotations

import ast
import bisect
import hashlib
import importlib.metadata as importlib_metadata
import json
import math
import os
import re
import shutil
import signal
import string
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import Any

from aisquare_plugin_sdk.api_scopes import API_SCOPES, scope_for_call

# rule id -> (severity, what an enforced finding does to the verdict: quarantine | reject | warn)
RULES: dict[str, tuple[str, str]] = {
    "blocklisted-hash": ("critical", "quarantine"),
    "dangerous-import": ("high", "quarantine"),
    "dangerous-call": ("high", "quarantine"),
    "dynamic-import": ("critical", "quarantine"),
    "builtins-trick": ("high", "quarantine"),
    "write-outside-data": ("high", "quarantine"),
    "obfuscated-blob": ("high", "quarantine"),
    "compiled-file": ("high", "reject"),
    "minified-file": ("medium", "reject"),
    "syntax-error": ("medium", "reject"),
    "secret": ("high", "reject"),
    "undeclared-scope": ("high", "reject"),
    "typosquatting": ("medium", "reject"),
    "bandit": ("medium", "reject"),
    "unused-scope": ("info", "warn"),
    "dynamic-api-call": ("low", "warn"),
    "quality": ("medium", "reject"),
}

DANGEROUS_MODULES = {
    "subprocess": "runs other programs",
    "ctypes": "calls native code",
    "cffi": "calls native code",
    "socket": "opens network sockets",
    "ssl": "opens network connections",
    "pty": "spawns terminals",
    "multiprocessing": "starts processes",
    "pickle": "deserializes arbitrary objects",
    "cPickle": "deserializes arbitrary objects",
    "marshal": "loads code objects",
    "shelve": "deserializes arbitrary objects",
    "importlib": "imports modules dynamically",
    "imp": "imports modules dynamically",
    "code": "runs arbitrary code",
    "codeop": "compiles arbitrary code",
    "mmap": "maps memory",
    "signal": "interferes with the host process",
    "resource": "changes process limits",
    "sys.modules": "patches the module table",
    # bandit's B615 (ruff has no port of it): a model download; plugins run without a network, and ship their data.
    "huggingface_hub": "downloads models from the network",
}
DANGEROUS_CALLS = {
    "os.system": "runs a shell command",
    "os.popen": "runs a shell command",
    "os.fork": "forks the process",
    "os.forkpty": "forks the process",
    "os.kill": "signals other processes",
    "os.killpg": "signals other processes",
    "os.setuid": "changes privileges",
    "os.chroot": "changes the root",
    "os.putenv": "changes the environment",
    "os.dup2": "redirects file descriptors",
    "eval": "evaluates a string as code",
    "exec": "executes a string as code",
    "compile": "compiles a string to code",
    "execfile": "executes a file",
    "__import__": "imports a module by name",
    "pickle.loads": "deserializes arbitrary objects",
    "pickle.load": "deserializes arbitrary objects",
    "marshal.loads": "loads code objects",
    "marshal.load": "loads code objects",
    "importlib.import_module": "imports a module by name",
    "types.CodeType": "builds code objects",
    "types.FunctionType": "builds functions from code objects",
    "sys.settrace": "hooks the interpreter",
    "sys.setprofile": "hooks the interpreter",
    "shutil.rmtree": "deletes directory trees",
    "torch.load": "unpickles arbitrary objects",  # bandit's B614 (ruff has no port of it)
}
DANGEROUS_CALL_PREFIXES = {"os.exec": "replaces the process", "os.spawn": "starts processes",
                           "os.posix_spawn": "starts processes"}
ESCAPE_ATTRIBUTES = {"__subclasses__", "__globals__", "__builtins__", "__code__", "__bases__", "__mro__",
                     "__getattribute__", "__dict__", "f_globals", "f_locals", "f_back", "gi_frame", "tb_frame"}
INTROSPECTION_CALLS = {"globals", "vars", "locals"}
WRITE_MODES = re.compile(r"[wax+]")
API_NAMESPACES = {name.split(".")[0] for name in API_SCOPES}

# (label, an extended regular expression (grep -E, C locale) that matches wherever the pattern does: grep picks the
# files worth the pattern, pattern).
SECRET_PATTERNS = [
    ("private key", "-----BEGIN [A-Z ]*PRIVATE KEY",
     re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----")),
    ("AWS access key id", "(AKIA|ASIA)[0-9A-Z]{16}", re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("AWS secret access key", "[Aa][Ww][Ss].{0,20}([Ss][Ee][Cc][Rr][Ee][Tt]|[Kk][Ee][Yy])",
     re.compile(rb"aws.{0,20}(?:secret|key).{0,20}['\"][A-Za-z0-9/+=]{40}['\"]", re.IGNORECASE)),
    ("Stripe secret key", "(sk|rk)_live_[0-9a-zA-Z]{16}", re.compile(rb"\b(?:sk|rk)_live_[0-9a-zA-Z]{16,}\b")),
    ("GitHub token", "(ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{60}",
     re.compile(rb"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{60,}\b")),
    ("Slack token", "xox[baprs]-[0-9A-Za-z-]{10}", re.compile(rb"\bxox[baprs]-[0-9A-Za-z-]{10,}\b")),
    ("Google API key", "AIza[0-9A-Za-z_-]{35}", re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b")),
]
COMPILED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe", ".bin", ".class", ".jar", ".wasm", ".o",
                     # Archives inside the package could be put on sys.path and imported unseen.
                     ".zip", ".egg", ".whl", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".pth")
BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\x00asm", b"PK\x03\x04",
                b"\x1f\x8b")

class ScanTimeout(Exception):
    """The scan ran past its deadline: the caller records `errored`."""


@dataclass
class Finding:
    rule: str
    severity: str
    file: str
    line: int | None
    message: str
    enforced: bool = True
    action: str = "reject"


@dataclass
class ScanContext:
    """What the scan needs to know from outside the package."""

    existing_plugins: list[tuple[str, str]] = field(default_factory=list)  # (id, name) of other developers' plugins
    blocked_hashes: set[str] = field(default_factory=set)
    monitor_only: set[str] = field(default_factory=set)
    quality_minimum: int = 40
    timeout: float = 120.0
    run_bandit: bool = True
    # A Django-style cache (get_many/set_many): bandit's results (from ruff) per file content, so unchanged files of
    # an update (or libraries vendored by many plugins) are not analysed twice. None: no cache.
    cache: Any = None


@dataclass
class ScanResult:
    verdict: str  # passed | quarantined | rejected | errored
    findings: list[Finding]
    quality: dict[str, Any]
    duration: float = 0.0
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "findings": [asdict(f) for f in self.findings],
            "quality": self.quality,
            "duration": round(self.duration, 3),
            "error": self.error,
        }


class _Scan:
    def __init__(self, package, context: ScanContext):
        self.package = package
        self.context = context
        self.findings: list[Finding] = []
        self.deadline = time.monotonic() + context.timeout
        self.used_scopes: dict[str, tuple[str, int]] = {}
        self.bandit: _Bandit | None = None

    def add(self, rule: str, file: str, line: int | None, message: str, *, severity: str | None = None,
            action: str | None = None) -> None:
        default_severity, default_action = RULES[rule]
        self.findings.append(Finding(
            rule=rule, severity=severity or default_severity, file=file, line=line, message=message,
            enforced=rule not in self.context.monitor_only, action=action or default_action,
        ))

    def check_deadline(self) -> None:
        if time.monotonic() > self.deadline:
            raise ScanTimeout(f"the scan took longer than {self.context.timeout:.0f} s")


def _entropy(text: str) -> float:
    counts = Counter(text)
    total = len(text)
    return -sum(c / total * math.log2(c / total) for c in counts.values())


def _fold(node: ast.AST) -> str | None:
    """The value of a string expression built from constants ('sub' + 'process', ''.join([...]), f-strings)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _fold(node.left), _fold(node.right)
        return left + right if left is not None and right is not None else None
    if isinstance(node, ast.JoinedStr):
        parts = [_fold(v) if not isinstance(v, ast.FormattedValue) else _fold(v.value) for v in node.values]
        return "".join(parts) if all(p is not None for p in parts) else None
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join"
            and isinstance(node.func.value, ast.Constant) and len(node.args) == 1
            and isinstance(node.args[0], (ast.List, ast.Tuple))):
        parts = [_fold(e) for e in node.args[0].elts]
        return node.func.value.value.join(parts) if all(p is not None for p in parts) else None
    return None


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    if isinstance(node, ast.Call):
        inner = _dotted(node.func)
        return None if inner is None else inner + ["()"] + parts[::-1]
    return None


class _PythonVisitor:
    def __init__(self, scan: _Scan, path: str):
        self.scan = scan
        self.path = path
        self.line_offset = 0  # lines of the file before the part being visited (see _analyse_python)
        self.aliases: dict[str, str] = {}  # local name -> module or module.attr
        self.api_aliases: dict[str, list[str]] = {}  # local name -> chain that contains "api"

    def flag(self, rule: str, node: ast.AST, message: str) -> None:
        line = getattr(node, "lineno", None)
        self.scan.add(rule, self.path, None if line is None else line + self.line_offset, message)

    def _check_module(self, module: str, node: ast.AST) -> None:
        top = module.split(".")[0]
        for name in (module, top):
            if name in DANGEROUS_MODULES:
                self.flag("dangerous-import", node,
                          f"imports {module}, which {DANGEROUS_MODULES[name]}; plugins must use the Plugin API "
                          "instead (the sandbox forbids this).")
                return

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(alias.name, node)
            self.aliases[alias.asname or alias.name.split(".")[0]] = alias.name if alias.asname else \
                alias.name.split(".")[0]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = node.module or ""
        if node.level == 0:
            self._check_module(module, node)
            for alias in node.names:
                full = f"{module}.{alias.name}"
                if module == "sys" and alias.name == "modules":
                    self._check_module("sys.modules", node)
                if full in DANGEROUS_CALLS or any(full.startswith(p) for p in DANGEROUS_CALL_PREFIXES):
                    self.flag("dangerous-call", node, f"imports {full}, which {self._why(full)}.")
                if alias.name == "*" and module in ("os", "builtins"):
                    self.flag("dangerous-import", node, f"imports everything from {module}; import what you use.")
                self.aliases[alias.asname or alias.name] = full

    @staticmethod
    def _why(name: str) -> str:
        if name in DANGEROUS_CALLS:
            return DANGEROUS_CALLS[name]
        for prefix, why in DANGEROUS_CALL_PREFIXES.items():
            if name.startswith(prefix):
                return why
        return "is not allowed"

    def _resolve(self, parts: list[str]) -> str:
        head = self.aliases.get(parts[0], parts[0])
        if head.startswith("builtins."):
            head = head[len("builtins."):]
        return ".".join([head, *parts[1:]])

    def visit_Assign(self, node: ast.Assign) -> None:
        chain = _dotted(node.value)
        if chain and "api" in chain and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self.api_aliases[node.targets[0].id] = chain
        elif chain and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            resolved = self._resolve(chain)
            if resolved in DANGEROUS_CALLS or resolved.split(".")[0] in DANGEROUS_MODULES:
                self.aliases[node.targets[0].id] = resolved

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ESCAPE_ATTRIBUTES:
            self.flag("builtins-trick", node,
                      f"reaches {node.attr}, a way around the sandbox's restrictions; plugins must not introspect "
                      "the interpreter.")
        chain = _dotted(node)
        if chain and self._resolve(chain) == "sys.modules":
            self.flag("dangerous-import", node, "touches sys.modules, which patches the module table.")

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("__builtins__", "__loader__", "__spec__"):
            self.flag("builtins-trick", node, f"uses {node.id}, a way around the sandbox's restrictions.")

    def visit_Call(self, node: ast.Call) -> None:
        chain = _dotted(node.func)
        if chain and "()" not in chain:
            name = self._resolve(chain)
            self._check_call(name, node)
            self._check_api_call(chain, node)

    def _check_call(self, name: str, node: ast.Call) -> None:
        if name in ("__import__", "importlib.import_module", "importlib.__import__"):
            target = _fold(node.args[0]) if node.args else None
            if target is None:
                self.flag("dynamic-import", node,
                          f"{name}() with a computed module name hides what is imported; import modules statically.")
            else:
                self._check_module(target, node)
                self.flag("dangerous-call", node, f"{name}({target!r}) imports by name; use an import statement.")
            return
        if name == "getattr" and node.args:
            target = _dotted(node.args[0])
            resolved = self._resolve(target) if target else ""
            attr = _fold(node.args[1]) if len(node.args) > 1 else None
            if resolved in ("builtins", "__builtins__", "os", "sys", "subprocess", "importlib") or (
                target and target[0] in INTROSPECTION_CALLS
            ):
                self.flag("builtins-trick", node,
                          f"getattr on {resolved or target[0]} reaches functions by name; call what you need directly.")
            elif len(node.args) > 1 and attr is None:
                pass  # getattr(obj, name) on the plugin's own objects is ordinary Python
            elif attr in ESCAPE_ATTRIBUTES or (attr and attr in {"system", "popen", "eval", "exec", "__import__"}):
                self.flag("builtins-trick", node, f"getattr(..., {attr!r}) reaches a forbidden function by name.")
            return
        if name in INTROSPECTION_CALLS and node.args == [] and self._subscripted(node):
            self.flag("builtins-trick", node, f"{name}()[...] looks names up dynamically; refer to them directly.")
        if name in DANGEROUS_CALLS or any(name.startswith(p) for p in DANGEROUS_CALL_PREFIXES):
            self.flag("dangerous-call", node, f"calls {name}(), which {self._why(name)}.")
            return
        if name in ("open", "io.open", "os.open", "codecs.open") or name.endswith((".write_text", ".write_bytes")):
            self._check_write(name, node)

    def _subscripted(self, node: ast.AST) -> bool:
        return getattr(node, "_parent_is_subscript", False)


    def _check_write(self, name: str, node: ast.Call) -> None:
        if name.endswith((".write_text", ".write_bytes")):
            owner = node.func.value if isinstance(node.func, ast.Attribute) else None
            path = _fold(owner.args[0]) if isinstance(owner, ast.Call) and owner.args else None
            writing = True
        else:
            path = _fold(node.args[0]) if node.args else None
            mode = None
            if len(node.args) > 1:
                mode = _fold(node.args[1])
            for keyword in node.keywords:
                if keyword.arg == "mode":
                    mode = _fold(keyword.value)
            writing = name == "os.open" or bool(mode and WRITE_MODES.search(mode))
        if not writing or path is None:
            return
        if (path.startswith("/") and not (path == "/data" or path.startswith("/data/"))) or ".." in \
                PurePosixPath(path).parts or path.startswith("~"):
            self.flag("write-outside-data", node,
                      f"writes to {path!r}, outside the plugin's data directory; use context.storage instead.")

    def _check_api_call(self, chain: list[str], node: ast.Call) -> None:
        if chain[-1] == "call" and len(chain) >= 2 and node.args:
            # context.call("content.create", ...): the SDK's generic entry point names the host function.
            method = _fold(node.args[0])
            if method is None:
                self.flag("dynamic-api-call", node,
                          "calls the Plugin API with a computed method name; reviewers cannot tell which scopes it "
                          "uses (the host still checks every call).")
                return
            scope = scope_for_call(method)
            if scope and scope not in self.scan.used_scopes:
                self.scan.used_scopes[scope] = (self.path, getattr(node, "lineno", 0) + self.line_offset)
            return
        if chain[0] in self.api_aliases:
            chain = self.api_aliases[chain[0]] + chain[1:]
        if "api" not in chain[:-1] or len(chain) < 2:
            return
        after = chain[chain.index("api") + 1:]
        if len(after) != 2 or after[0] not in API_NAMESPACES:
            return
        call = ".".join(after)
        scope = scope_for_call(call)
        if scope and scope not in self.scan.used_scopes:
            self.scan.used_scopes[scope] = (self.path, getattr(node, "lineno", 0) + self.line_offset)


# --- the prefilter of the AST rules ---------------------------------------------------------------------------------
# Names (whole words) one of which must occur for an AST rule to fire: a module or call the rules look for, an
# attribute of the sandbox-escape kind, or a builtin they watch. `import` is looked for too (the import statements
# are always analysed with the parts that use them, for their aliases), but alone does not flag a file; `os` only
# flags one with `import` and a `*` (`from os import *`).
AST_TRIGGERS = frozenset(
    {m.split(".")[0] for m in DANGEROUS_MODULES}
    | {name.split(".")[-1] for name in DANGEROUS_CALLS}
    | ESCAPE_ATTRIBUTES | INTROSPECTION_CALLS
    | {"getattr", "setattr", "open", "write_text", "write_bytes", "modules", "builtins", "__builtins__",
       "__loader__", "__spec__", "sys", "import_module", "__import__", "breakpoint"}
)
# os.exec*, os.spawn*, os.posix_spawn*: every name that starts so (DANGEROUS_CALL_PREFIXES).
_TRIGGER_PREFIXES = ("exec", "spawn", "posix_spawn")
# One extended regular expression for grep -ow (C locale: \w is [A-Za-z0-9_], as Python's for ASCII text).
_TRIGGER_GREP = "(" + "|".join(sorted(AST_TRIGGERS | {"import", "os"})) + "|" + "|".join(
    f"{prefix}\\w*" for prefix in _TRIGGER_PREFIXES) + ")"
# Text that every secret pattern's match holds: grep -l finds the files worth the patterns.
_SECRET_GREP = "|".join(f"({form})" for _, form, _ in SECRET_PATTERNS)

CODING_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)
API_CALL_RE = re.compile(r"\bapi\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\(")
API_ALIAS_RE = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*[\w.]*\bapi(?:\.([A-Za-z_]\w*))?[ \t]*$", re.MULTILINE)
_API_AT_LINE_END_RE = re.compile(r"api(?:\.[A-Za-z_]\w*)?[ \t]*$", re.MULTILINE)
GENERIC_CALL_RE = re.compile(r"\.call\(\s*(['\"])([A-Za-z_][\w.]*)\1")
LONG_TOKEN_RE = re.compile(r"[A-Za-z0-9+/=_\-]{200,}")
BASE64_LINE_RE = re.compile(r"^[ \t]*['\"]?[A-Za-z0-9+/=]{60,}['\"]?[ \t]*\\?$", re.MULTILINE)
BASE64_LINES_RE = re.compile(r"(?:^[ \t]*['\"]?[A-Za-z0-9+/=]{40,}['\"]?[ \t]*\\?\r?\n){5,}", re.MULTILINE)
# The blob patterns need a run of characters of their alphabet: mapped to "A" (everything else to " "), a file without
# a run of 60 cannot match either pattern; bytes.translate and one find look at 20 MB in a few milliseconds.
_BLOB_TABLE = bytes(ord("A") if chr(c) in string.ascii_letters + string.digits + "+/=_-" else ord(" ")
                    for c in range(256))
_BLOB_RUN = b"A" * 60
MAX_LINE = 2000
LONG_LINE_RE = re.compile(rf"^[^\n]{{{MAX_LINE + 1}}}", re.MULTILINE)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _use_scope(scan: _Scan, call: str, path: str, text: str, index: int) -> None:
    scope = scope_for_call(call)
    if scope and scope not in scan.used_scopes:
        # The line is counted only for the first use of a scope: counting for every call would be quadratic.
        scan.used_scopes[scope] = (path, _line_of(text, index))


def _scan_scopes_by_text(scan: _Scan, path: str, text: str) -> None:
    """Plugin API calls found in the text: context.call("ns.method"), context.api.ns.method(...), and aliases
    (`api = context.api`, `ai = context.api.ai`). Each call is looked up once per file."""
    seen: set[str] = set()

    def use(call: str, index: int) -> None:
        if call not in seen:
            seen.add(call)
            _use_scope(scan, call, path, text, index)

    if ".call(" in text:
        for _, call in sorted(set(GENERIC_CALL_RE.findall(text))):
            if scope_for_call(call) not in scan.used_scopes:  # where it is used first, only when it is needed
                use(call, _first_generic_call(text, call))
    if "api." in text:
        for match in API_CALL_RE.finditer(text):
            if match.group(1) in API_NAMESPACES:
                use(f"{match.group(1)}.{match.group(2)}", match.start())
    lines_seen: set[int] = set()
    for end in _API_AT_LINE_END_RE.finditer(text):  # every alias line ends so: look at those lines only
        start = text.rfind("\n", 0, end.start()) + 1
        if start in lines_seen:
            continue
        lines_seen.add(start)
        alias = API_ALIAS_RE.match(text, start)
        if alias is None:
            continue
        name, namespace = alias.group(1), alias.group(2)
        if namespace:
            pattern = re.compile(rf"\b{re.escape(name)}\.([A-Za-z_]\w*)\s*\(")
            for match in pattern.finditer(text):
                use(f"{namespace}.{match.group(1)}", match.start())
        else:
            pattern = re.compile(rf"\b{re.escape(name)}\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\(")
            for match in pattern.finditer(text):
                if match.group(1) in API_NAMESPACES:
                    use(f"{match.group(1)}.{match.group(2)}", match.start())


def _first_generic_call(text: str, call: str) -> int:
    return re.search(r"\.call\(\s*(['\"])" + re.escape(call) + r"\1", text).start()


def _scan_blobs(scan: _Scan, path: str, content: bytes, text: str) -> None:
    if _BLOB_RUN not in content.translate(_BLOB_TABLE):
        return  # no run of 60 characters of the alphabet: neither pattern can match
    matches = list(LONG_TOKEN_RE.finditer(text))
    if BASE64_LINE_RE.search(text):
        matches += list(BASE64_LINES_RE.finditer(text))
    for match in matches:
        compact = re.sub(r"[\s\\'\"]", "", match.group(0))
        if len(compact) >= 200 and _entropy(compact) > 4.5:
            scan.add("obfuscated-blob", path, _line_of(text, match.start()),
                     f"contains a {len(compact)}-character encoded or high-entropy string; ship readable "
                     "source and data files, not packed payloads.")


def _scan_secrets(scan: _Scan, path: str, content: bytes) -> None:
    for label, _form, pattern in SECRET_PATTERNS:
        match = pattern.search(content)
        if match is None:
            continue
        line = content.count(b"\n", 0, match.start()) + 1
        scan.add("secret", path, line,
                 f"contains what looks like a {label}; remove it, revoke it, and read secrets from the plugin's "
                 "configuration instead.")


# --- the native pass: the package's files in a temporary directory, grep and ruff over them ---------------------------
# Python's own parser and regular expressions take seconds over a 20 MB package; these tools take a tenth of that.
# grep finds the words the AST rules need and the literals the secret patterns need; ruff runs bandit's rules.
GREP_BINARY = shutil.which("grep")
try:
    from ruff.__main__ import find_ruff_bin

    RUFF_BINARY: str | None = os.fsdecode(find_ruff_bin())
    RUFF_VERSION = importlib_metadata.version("ruff")
except (ImportError, FileNotFoundError, importlib_metadata.PackageNotFoundError):  # the scan then errors: fail closed
    RUFF_BINARY, RUFF_VERSION = None, "missing"
# bandit's rules as ruff implements them (flake8-bandit, S1xx-S7xx, including the preview-only S4xx imports), and
# pylint's bidirectional-unicode check for bandit's B613 (trojan source). S101 (assert) is left out: plugins ship their
# tests, and asserts there are the point. The target is the sandbox's Python.
RUFF_ARGS = ("check", "--no-cache", "--isolated", "--preview", "--select", "S,PLE2502", "--ignore", "S101",
             "--target-version", "py311", "--output-format", "json", "--exit-zero", "--no-fix")


_RUFF_SKIPPED_RE = re.compile(r"Failed to lint (\S+?): (.*)")


class ToolError(RuntimeError):
    """A native tool of the scan failed: the scan errors (fail closed)."""


class _Workspace:
    """The package's files written under neutral names (`7.py`, `8.dat`: the package's own names and folders cannot
    steer the tools: no ignore files, no excluded folders, no option-like names), and the tools started over them at
    once, so that they run while the scan's Python checks do."""

    def __init__(self, scan: _Scan, *, ruff_paths: list[str]):
        self.scan = scan
        self.directory = tempfile.TemporaryDirectory(prefix="aisq-scan-", dir=_workspace_root(scan.package.files))
        self.names: dict[str, str] = {}  # neutral name -> package path
        self.neutral: dict[str, str] = {}
        self.processes: dict[str, subprocess.Popen] = {}
        try:
            for index, (path, content) in enumerate(scan.package.files.items()):
                name = f"{index}.py" if path.lower().endswith(".py") else f"{index}.dat"
                self.names[name], self.neutral[path] = path, name
                with open(os.path.join(self.directory.name, name), "wb") as handle:
                    handle.write(content)
            self._start_tools(ruff_paths)
        except BaseException:
            self.close()
            raise

    def _start_tools(self, ruff_paths: list[str]) -> None:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        text = list(self.names)
        python = [name for name in text if name.endswith(".py")]
        if GREP_BINARY is not None and python:
            # -o: each trigger word with its byte offset (-b); -w: whole words; -H and -Z: the file name,
            # NUL-terminated; -a: a file with NUL bytes is still read as text.
            self._start("words", [GREP_BINARY, "-HbowaE", "-Z", "-e", _TRIGGER_GREP, "--", *python], env)
        if GREP_BINARY is not None and text:
            self._start("secrets", [GREP_BINARY, "-laE", "-Z", "-e", _SECRET_GREP, "--", *text], env)
        if ruff_paths:
            if RUFF_BINARY is None:
                raise ToolError("ruff is not installed: bandit's checks cannot run")
            self._start("ruff", [RUFF_BINARY, *RUFF_ARGS, "--", *(self.neutral[p] for p in ruff_paths)], env)

    def _start(self, key: str, command: list[str], env: dict[str, str]) -> None:
        try:
            # A session of its own: on a timeout the tool and anything it started are killed together.
            self.processes[key] = subprocess.Popen(command, cwd=self.directory.name, env=env, stdin=subprocess.DEVNULL,
                                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                                   start_new_session=True)
        except OSError as exc:
            raise ToolError(f"{os.path.basename(command[0])} could not start: {exc}") from exc

    def _output(self, key: str, *, ok_codes: tuple[int, ...] = (0,)) -> tuple[bytes, bytes]:
        process = self.processes[key]
        remaining = self.scan.deadline - time.monotonic()
        try:
            out, err = process.communicate(timeout=max(remaining, 0.01))
        except subprocess.TimeoutExpired:
            _kill(process)
            raise ScanTimeout(f"{key} ran past the scan's deadline of {self.scan.context.timeout:.0f} s") from None
        if process.returncode not in ok_codes:
            raise ToolError(f"{key} failed (exit {process.returncode}): {err.decode('utf-8', 'replace')[:300]}")
        return out, err

    def words(self) -> dict[str, dict[int, set[str]]] | None:
        """Package path -> byte offset -> trigger word there, for the Python files that have any; None when grep is
        not available (every file is then analysed whole)."""
        if "words" not in self.processes:
            return None if GREP_BINARY is None else {}
        found: dict[str, dict[int, set[str]]] = {}
        for record in self._output("words", ok_codes=(0, 1))[0].splitlines():  # 1: no file has any
            name, _, hit = record.partition(b"\0")
            offset, _, word = hit.partition(b":")
            found.setdefault(self.names[name.decode()], {}).setdefault(int(offset), set()).add(word.decode())
        return found

    def secret_candidates(self) -> set[str] | None:
        """Package paths of the text files holding a literal of a secret pattern; None without grep (all are)."""
        if "secrets" not in self.processes:
            return None if GREP_BINARY is None else set()
        return {self.names[name.decode()] for name in self._output("secrets", ok_codes=(0, 1))[0].split(b"\0")
                if name}

    def ruff(self) -> list[dict]:
        if "ruff" not in self.processes:
            return []
        output, errors = self._output("ruff")
        # ruff skips a file it cannot read with a warning: not UTF-8 is a syntax error; anything else fails the scan
        # (a file bandit's rules did not look at must not pass).
        skipped = []
        for name, reason in _RUFF_SKIPPED_RE.findall(errors.decode("utf-8", "replace")):
            if name not in self.names or "valid UTF-8" not in reason:
                raise ToolError(f"ruff could not lint a file: {reason[:200]}")
            skipped.append({"path": self.names[name], "code": "invalid-syntax", "message": reason, "location": {}})
        try:
            items = json.loads(output)
        except ValueError as exc:
            raise ToolError(f"ruff's report is not JSON ({exc}): {output[:200]!r}") from exc
        if not isinstance(items, list):
            raise ToolError(f"ruff's report is not a list: {output[:200]!r}")
        for item in items:
            item["path"] = self.names[os.path.basename(item["filename"])]
        return items + skipped

    def close(self) -> None:
        for process in self.processes.values():
            _kill(process)
        self.directory.cleanup()


def _workspace_root(files: dict[str, bytes]) -> str | None:
    """Memory (/dev/shm) when it has room for twice the package: creating hundreds of files on a busy disk costs more
    than the scan's own checks. Otherwise the usual temporary directory (TMPDIR)."""
    try:
        stat = os.statvfs(_MEMORY_ROOT)
    except OSError:
        return None
    needed = 2 * sum(len(content) for content in files.values()) + 1024 * 1024
    return _MEMORY_ROOT if os.access(_MEMORY_ROOT, os.W_OK) and stat.f_bavail * stat.f_frsize > needed else None


_MEMORY_ROOT = "/dev/shm"  # noqa: S108 - a private directory (0700, random name) is made inside it


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:  # still running (a finished one is reaped: its id may belong to another by now)
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.communicate()


# --- the AST analysis of a flagged file, on the parts that hold its trigger words ------------------------------------
# A top-level statement starts at a line whose first character is not blank or a comment. Python text up to such a
# line that is outside every string (this regex matches it in full) and whose part from there parses alone holds the
# same statements alone as in the whole file. Brackets need no check: they do not change how text splits into tokens,
# only how lines join, and a part that starts inside one either does not parse alone or holds the same expressions.
_OUTSIDE_STRINGS_RE = re.compile("(?:" + "|".join((
    r"""[^'"#\\]++""",  # code: names, numbers, operators, brackets, blanks
    r"\\[\s\S]",  # a line continuation
    r"#[^\n]*+",  # a comment
    r"'''(?:[^'\\]++|\\[\s\S]|'(?!''))*+'''",  # strings: triple-quoted, then single-quoted
    r'"""(?:[^"\\]++|\\[\s\S]|"(?!""))*+"""',
    r"'(?:[^'\\\n]++|\\[\s\S])*+'",
    r'"(?:[^"\\\n]++|\\[\s\S])*+"',
)) + ")*+")
# The calls of the AST rules that a name can stand for through an alias (`run = os.system`, then `run(...)` in a part
# without any trigger word): parts that use such an alias are analysed too.
_ALIASED_CALLS = frozenset(DANGEROUS_CALLS) | {"__import__", "importlib.import_module", "importlib.__import__",
                                               "getattr", "open", "io.open", "os.open", "codecs.open"} | \
    INTROSPECTION_CALLS


# Passes over the assignments until the aliases settle (each pass follows a chain one step further back), at most.
_ALIAS_PASSES = 10


def _alias_matters(resolved: str) -> bool:
    return (resolved in _ALIASED_CALLS or resolved.split(".")[0] in DANGEROUS_MODULES
            or resolved.startswith(tuple(DANGEROUS_CALL_PREFIXES))
            or resolved.endswith((".write_text", ".write_bytes")))


class _PartialSource(Exception):
    """The parts of a file cannot be analysed alone (a part does not parse, or starts inside a string): the caller
    analyses the whole file."""


def _analyse_python(scan: _Scan, path: str, text: str, hits: dict[int, set[str]] | None) -> None:
    """The AST rules over the file: over the top-level statements that hold a trigger word (`hits`: offset -> words),
    the import statements, and the statements that use an alias those define; or over the whole file (`hits` None,
    or when the parts cannot be analysed alone)."""
    visitor = _PythonVisitor(scan, path)
    if hits is not None:
        mark = len(scan.findings)
        try:
            _visit_parts(visitor, text, hits)
            return
        except _PartialSource:
            del scan.findings[mark:]  # what the parts found is found again in the whole
            visitor = _PythonVisitor(scan, path)
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        scan.add("syntax-error", path, getattr(exc, "lineno", None),
                 f"cannot be parsed as Python 3.11 ({str(exc)[:120]}); code that cannot be analysed is refused.")
        return
    nodes = _Nodes(visitor)
    nodes.add(tree, 0)
    nodes.finish()


# `call(` whose first argument is not a plain string literal followed by `,` or `)` (blanks and line continuations
# allowed wherever Python allows them).
_CALL_WITHOUT_LITERAL_RE = re.compile(
    r"""call(?:\s|\\\n)*\((?!(?:\s|\\\n)*(['"])[^'"\\\n]*\1(?:\s|\\\n)*[,)])""")
_API_WORD_RE = re.compile(r"api\b")
_LINE_HEAD_RE = re.compile(r"\n(?=[^\s#])")  # a line that starts with neither a blank nor a comment
_NOT_A_HEAD_RE = re.compile(r"(?:else|elif|except|finally)\b")


def _visit_parts(visitor: _PythonVisitor, text: str, hits: dict[int, set[str]]) -> None:
    # The parts: from a line that may start a top-level statement to the next (offsets). A decorator and the `else:`
    # or `except:` of a statement stay with it (a part that ends too early would not parse alone).
    heads = [0]
    decorated = text.startswith("@")
    for match in _LINE_HEAD_RE.finditer(text):
        at = match.end()
        if not decorated and not _NOT_A_HEAD_RE.match(text, at):
            heads.append(at)
        decorated = text.startswith("@", at)
    heads.append(len(text))
    wanted = {bisect.bisect_right(heads, at) - 1 for at, words in hits.items() if words != {"os"}}
    done: set[int] = set()
    clean = [0]  # offsets known to be outside every string, sorted
    nodes = _Nodes(visitor)
    followed: set[str] = set()
    rounds = 0
    while wanted:
        rounds += 1
        if rounds > _ALIAS_PASSES:
            raise _PartialSource  # a long chain of aliases: the whole file (bounded the same way) is cheaper
        for first, last in _runs(sorted(wanted)):  # neighbouring parts are parsed together
            visitor.scan.check_deadline()
            begin, end = heads[first], heads[last + 1]
            # The parts start a statement only if the text before them is outside strings: checked from the nearest
            # offset known to be so.
            known = clean[bisect.bisect_right(clean, begin) - 1]
            if known != begin and not _OUTSIDE_STRINGS_RE.fullmatch(text, known, begin):
                raise _PartialSource
            try:
                tree = ast.parse(text[begin:end])
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                raise _PartialSource from None
            bisect.insort(clean, begin)
            bisect.insort(clean, end)  # they parsed alone: they end outside strings
            nodes.add(tree, text.count("\n", 0, begin))
        done |= wanted
        nodes.resolve_aliases()
        follow = ({name for name, resolved in visitor.aliases.items() if _alias_matters(resolved)}
                  | set(visitor.api_aliases)) - followed
        wanted = set()
        if follow:
            followed |= follow
            uses = re.compile(r"\b(?:" + "|".join(map(re.escape, sorted(follow))) + r")\b")
            wanted = {bisect.bisect_right(heads, match.start()) - 1 for match in uses.finditer(text)} - done
    nodes.finish()


def _runs(parts: list[int]) -> list[tuple[int, int]]:
    """[1, 2, 3, 7, 9, 10] -> [(1, 3), (7, 7), (9, 10)]"""
    runs: list[tuple[int, int]] = []
    for part in parts:
        if runs and runs[-1][1] == part - 1:
            runs[-1] = (runs[-1][0], part)
        else:
            runs.append((part, part))
    return runs


class _Nodes:
    """The nodes the visitor looks at, from one or more parsed parts (each with its line offset): imports first, then
    assignments until the aliases they define settle, then everything else, wherever each is in the file."""

    def __init__(self, visitor: _PythonVisitor):
        self.visitor = visitor
        self.imports: list[tuple[ast.AST, int]] = []
        self.assigns: list[tuple[ast.AST, int]] = []
        self.others: list[tuple[ast.AST, int]] = []

    def add(self, tree: ast.AST, offset: int) -> None:
        for node in _walk(tree):
            kind = type(node)
            if kind is ast.Import or kind is ast.ImportFrom:
                self.imports.append((node, offset))
            elif kind is ast.Assign:
                self.assigns.append((node, offset))
            elif kind is ast.Call or kind is ast.Attribute or kind is ast.Name:
                self.others.append((node, offset))
            elif kind is ast.Subscript and type(node.value) is ast.Call:
                node.value._parent_is_subscript = True  # type: ignore[attr-defined]

    def resolve_aliases(self) -> None:
        visitor = self.visitor
        for node, offset in self.imports:
            visitor.line_offset = offset
            (visitor.visit_Import if type(node) is ast.Import else visitor.visit_ImportFrom)(node)
        self.imports = []  # each import is looked at once (it may be a finding)
        for _ in range(_ALIAS_PASSES):  # an alias may be copied before the statement that defines it
            before = dict(visitor.aliases)
            for node, _offset in self.assigns:
                visitor.visit_Assign(node)
            if visitor.aliases == before:
                break

    def finish(self) -> None:
        self.resolve_aliases()
        visitor = self.visitor
        for node, offset in self.others:
            visitor.line_offset = offset
            kind = type(node)
            if kind is ast.Call:
                visitor.visit_Call(node)
            elif kind is ast.Attribute:
                visitor.visit_Attribute(node)
            else:
                visitor.visit_Name(node)


_AST_CLASS = ast.AST
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def _walk(tree: ast.AST) -> list[ast.AST]:
    """Every node, in ast.walk's order (breadth first, fields in order), without its per-node generator calls."""
    nodes = [tree]
    index = 0
    while index < len(nodes):
        node = nodes[index]
        index += 1
        kind = type(node)
        fields = _CHILD_FIELDS.get(kind)
        if fields is None:
            fields = _CHILD_FIELDS[kind] = kind._fields
        for name in fields:
            value = getattr(node, name, None)
            if type(value) is list:
                nodes.extend(item for item in value if isinstance(item, _AST_CLASS))
            elif isinstance(value, _AST_CLASS):
                nodes.append(value)
    return nodes



def _scan_python_text(scan: _Scan, path: str, content: bytes) -> tuple[str, bool] | None:
    """The checks of a Python file's text. Returns the text to give the AST rules (NFKC-normalized, as Python reads
    names) and whether it must be analysed whole; None when it is not UTF-8."""
    coding = CODING_RE.search(b"\n".join(content.split(b"\n", 2)[:2]))
    if coding and coding.group(1).decode("ascii", "replace").lower().replace("_", "-") not in ("utf-8", "utf8"):
        scan.add("obfuscated-blob", path, 1,
                 f"declares the source encoding {coding.group(1).decode('ascii', 'replace')!r}, which can hide code "
                 "from reviewers; Python source must be UTF-8.")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        scan.add("syntax-error", path, None, "is not UTF-8 text; Python source must be UTF-8.")
        return None
    ascii_only = text.isascii()
    # Python reads identifiers NFKC-normalized (ｅｖａｌ is eval): look at them the same way.
    normalized = text if ascii_only else unicodedata.normalize("NFKC", text)
    _scan_scopes_by_text(scan, path, normalized)
    _scan_blobs(scan, path, content, text)
    if _may_have_long_line(content):
        long_line = LONG_LINE_RE.search(text)
        if long_line:
            scan.add("minified-file", path, _line_of(text, long_line.start()),
                     f"has a line of more than {MAX_LINE} characters; ship readable source.")
    # Non-ASCII text (normalized names, look-alike characters), a declared encoding, or line ends that grep and
    # Python count differently: the whole file, always.
    whole = not ascii_only or bool(coding) or b"\r" in content or b"\0" in content
    return normalized, whole


def _may_have_long_line(content: bytes) -> bool:
    """False when no line has more than MAX_LINE bytes (so no more characters): such a line covers a whole block of
    MAX_LINE // 2 bytes aligned on that size, and every such block of the file holds a line end."""
    step = MAX_LINE // 2
    return any(content.find(b"\n", start, start + step) < 0 for start in range(0, len(content) - step + 1, step))


def _scan_python_ast(scan: _Scan, path: str, content: bytes, text: str, whole: bool,
                     hits: dict[int, set[str]] | None) -> None:
    """`hits`: the file's trigger words by offset (grep); None when unknown (no grep): the file is analysed whole."""
    if whole or hits is None:
        _analyse_python(scan, path, text, None)
        return
    if "call" in text:
        # The generic entry point with a first argument that is not a plain string (dynamic-api-call, or a scope the
        # text alone does not show): `call` is a trigger word there.
        calls = {}
        for match in _CALL_WITHOUT_LITERAL_RE.finditer(text):
            at = match.start()
            if at and (text[at - 1].isalnum() or text[at - 1] == "_"):
                continue  # part of a longer name
            before = text[max(0, at - 256):at].rstrip(" \t\n\r\f\v\\")
            if before.endswith(".") or (not before and at > 256):  # an attribute (or too far back to tell)
                calls[at] = {"call"}
        if calls:
            hits = {**hits, **calls}
    if "api" in text:
        # `api` other than in context.api.<ns>.<method>(, which the text scan reads (an alias, a reference, blanks
        # or a comment where the text scan does not look): a trigger word for the scope the AST sees.
        apis = {match.start(): {"api"} for match in _API_WORD_RE.finditer(text)
                if not (match.start() and (text[match.start() - 1].isalnum() or text[match.start() - 1] == "_"))
                and not API_CALL_RE.match(text, match.start())}
        if apis:
            hits = {**hits, **apis}
    words = set().union(*hits.values()) if hits else set()
    if not words - {"import", "os"} and not ("import" in words and "os" in words and b"*" in content):
        return  # no AST rule can fire: none of the words any of them needs is in the file
    _analyse_python(scan, path, text, hits)


def _scan_files(scan: _Scan, workspace: _Workspace) -> None:
    python: list[tuple[str, str, bool]] = []
    secrets_to_check: list[str] = []
    # What needs no tool first: grep and ruff read the files meanwhile.
    for path, content in scan.package.files.items():
        scan.check_deadline()
        lower = path.lower()
        if scan.context.blocked_hashes:
            digest = hashlib.sha256(content).hexdigest()
            if digest in scan.context.blocked_hashes:
                scan.add("blocklisted-hash", path, None, f"is a known-bad file (sha256 {digest}).")
        if lower.endswith(COMPILED_SUFFIXES) or content.startswith(BINARY_MAGIC) and not lower.endswith(
                (".png", ".jpg", ".jpeg", ".webp", ".svg", ".gif", ".ico")):
            scan.add("compiled-file", path, None,
                     "is compiled, binary or archived code, which cannot be reviewed; ship Python source only.")
            continue
        if lower.endswith((".min.js", ".min.css")):
            scan.add("minified-file", path, None, "is minified; ship the readable source.")
        secrets_to_check.append(path)
        if lower.endswith(".py"):
            checked = _scan_python_text(scan, path, content)
            if checked is not None:
                python.append((path, *checked))
        elif lower.endswith(".js"):
            _scan_blobs(scan, path, content, content.decode("utf-8", "replace"))
    candidates = workspace.secret_candidates()
    for path in secrets_to_check:
        if candidates is None or path in candidates:
            _scan_secrets(scan, path, scan.package.files[path])
    words = workspace.words()
    for path, text, whole in python:
        scan.check_deadline()
        _scan_python_ast(scan, path, scan.package.files[path], text, whole,
                         None if words is None else words.get(path, {}))


def _scan_scopes(scan: _Scan) -> None:
    manifest = scan.package.manifest
    declared = set(manifest.scopes)
    for scope, (path, line) in sorted(scan.used_scopes.items()):
        if scope not in declared:
            scan.add("undeclared-scope", path, line,
                     f"calls a Plugin API that needs the {scope} scope, which plugin.json does not declare; add "
                     f'{{"scope": "{scope}", "reason": "..."}} to permissions.')
    for scope in sorted(declared - set(scan.used_scopes)):
        scan.add("unused-scope", "plugin.json", None,
                 f"declares {scope} but no call that needs it was found; ask only for what the plugin uses.")


_HOMOGLYPHS = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "7": "t", "@": "a", "$": "s"})
_NOT_A_LETTER_RE = re.compile(r"[^a-z]")


def _normalize_name(text: str) -> str:
    return _NOT_A_LETTER_RE.sub("", text.lower().translate(_HOMOGLYPHS)).replace("rn", "m").replace("vv", "w")


def _distance(a: str, b: str, limit: int) -> int:
    """Damerau-Levenshtein (optimal string alignment) distance, cut short as soon as it must exceed `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]


def _scan_names(scan: _Scan) -> None:
    manifest = scan.package.manifest
    mine = []
    for kind, value in (("id", manifest.id), ("name", manifest.data.get("name", ""))):
        lower = value.lower()
        if len(lower) >= 4:
            mine.append((kind, value, lower, _normalize_name(lower), set(lower)))
    for other_id, other_name in scan.context.existing_plugins:
        if other_id == manifest.id:
            continue
        for other in {other_id, other_name or ""}:
            b = other.lower()
            if len(b) < 4:
                continue
            normalized = letters = None
            for kind, value, a, a_normalized, a_letters in mine:
                limit = 1 if max(len(a), len(b)) < 10 else 2
                if abs(len(a) - len(b)) > limit + 2:
                    continue
                if normalized is None:
                    normalized, letters = _normalize_name(b), set(b)
                # Each character of one name that the other lacks takes an edit: more of them than the limit, and
                # the distance need not be computed.
                close = a == b or a_normalized == normalized or (
                    len(a_letters - letters) <= limit and len(letters - a_letters) <= limit
                    and _distance(a, b, limit) <= limit)
                if close:
                    scan.add("typosquatting", "plugin.json", None,
                             f"the {kind} {value!r} is too close to the existing plugin {other_id!r} "
                             f"({other!r}); choose a distinct {kind}.")
                    return


# --- bandit's checks, run by ruff ------------------------------------------------------------------------------------
# ruff's flake8-bandit rules are bandit's tests under the same numbers (S324 is B324); pylint's bidirectional-unicode
# (PLE2502) is B613. ruff reports no severity or confidence: bandit's own (bandit 1.8.6's test definitions; where a test
# rates by the arguments, ruff reports only the dangerous form, except where the message tells the safe one apart).
# A finding blocks when bandit would rate it high severity with medium or high confidence.
BANDIT_RATINGS: dict[str, tuple[str, str]] = {
    "B102": ("medium", "high"), "B103": ("high", "high"), "B104": ("medium", "medium"), "B105": ("low", "medium"),
    "B106": ("low", "medium"), "B107": ("low", "medium"), "B108": ("medium", "medium"), "B110": ("low", "high"),
    "B112": ("low", "high"), "B113": ("medium", "low"), "B201": ("high", "medium"), "B202": ("high", "high"),
    "B301": ("medium", "high"), "B302": ("medium", "high"), "B303": ("medium", "high"), "B304": ("high", "high"),
    "B305": ("medium", "high"), "B306": ("medium", "high"), "B307": ("medium", "high"), "B308": ("medium", "high"),
    "B310": ("medium", "high"), "B311": ("low", "high"), "B312": ("high", "high"), "B313": ("medium", "high"),
    "B314": ("medium", "high"), "B315": ("medium", "high"), "B316": ("medium", "high"), "B317": ("medium", "high"),
    "B318": ("medium", "high"), "B319": ("medium", "high"), "B320": ("medium", "high"), "B321": ("high", "high"),
    "B323": ("medium", "high"), "B324": ("high", "high"), "B401": ("high", "high"), "B402": ("high", "high"),
    "B403": ("low", "high"), "B404": ("low", "high"), "B405": ("low", "high"), "B406": ("low", "high"),
    "B407": ("low", "high"), "B408": ("low", "high"), "B409": ("low", "high"), "B410": ("low", "high"),
    "B411": ("high", "high"), "B412": ("high", "high"), "B413": ("high", "high"), "B415": ("high", "high"),
    "B501": ("high", "high"), "B502": ("high", "high"), "B503": ("medium", "medium"), "B504": ("low", "medium"),
    "B505": ("high", "high"), "B506": ("medium", "high"), "B507": ("high", "medium"), "B508": ("medium", "high"),
    "B509": ("medium", "high"), "B601": ("medium", "medium"), "B602": ("high", "high"), "B603": ("low", "high"),
    "B604": ("medium", "low"), "B605": ("high", "high"), "B606": ("low", "medium"), "B607": ("low", "high"),
    "B608": ("medium", "medium"), "B609": ("high", "medium"), "B610": ("medium", "medium"),
    "B611": ("medium", "medium"), "B612": ("medium", "high"), "B613": ("high", "medium"), "B701": ("high", "high"),
    "B702": ("medium", "high"), "B704": ("medium", "high"),
}
_SAFE_SHELL = "seems safe"  # S602/S605 on a literal command: bandit rates it low
_NOSEC_RE = re.compile(r"#\s*nosec\b:?\s*([\w, ]*)")


def bandit_code(ruff_code: str) -> str | None:
    """bandit's test id for a ruff rule of the scan (None for a syntax error)."""
    if ruff_code == "PLE2502":
        return "B613"
    if ruff_code.startswith("S") and ruff_code[1:].isdigit():
        return "B" + ruff_code[1:]
    return None


class _Bandit:
    """bandit's findings for the package's Python files, from ruff over the workspace; per-file results are cached by
    content hash (an update's unchanged files, or libraries many plugins vendor, are not looked at again). A missing
    or failing ruff, or a report that cannot be read, raises: the scan errors (fail closed)."""

    def __init__(self, scan: _Scan):
        if RUFF_BINARY is None:
            raise ToolError("ruff is not installed: bandit's checks cannot run")
        self.scan = scan
        self.python = [p for p in scan.package.files if p.lower().endswith(".py")]
        # Keyed by ruff's version and arguments (the rules) too: a change of either looks at every file again.
        prefix = f"scan:ruff-bandit:{RUFF_VERSION}:{hashlib.sha256(' '.join(RUFF_ARGS).encode()).hexdigest()[:12]}"
        self.keys = {path: f"{prefix}:{hashlib.sha256(scan.package.files[path]).hexdigest()}" for path in self.python}
        self.cached: dict[str, list[dict]] = {}
        if scan.context.cache is not None and self.python:
            found = scan.context.cache.get_many(list(set(self.keys.values())))
            self.cached = {path: found[self.keys[path]] for path in self.python if self.keys[path] in found}

    def to_run(self) -> list[str]:
        return [path for path in self.python if path not in self.cached]

    def collect(self, workspace: _Workspace) -> None:
        fresh: dict[str, list[dict]] = {path: [] for path in self.to_run()}
        for item in workspace.ruff():
            location = item.get("location") or {}
            fresh[item["path"]].append({"code": item.get("code") or "invalid-syntax", "line": location.get("row"),
                                        "message": item.get("message", "")})
        for path, issues in (*self.cached.items(), *fresh.items()):
            self._add(path, issues)
        if self.scan.context.cache is not None and fresh:
            # Only a complete, successful run is remembered (files without findings too).
            self.scan.context.cache.set_many({self.keys[path]: issues for path, issues in fresh.items()},
                                             timeout=30 * 24 * 3600)

    def _add(self, path: str, issues: list[dict]) -> None:
        lines = None
        syntax_error = False
        for issue in issues:
            code = bandit_code(issue["code"])
            if code is None:
                if not syntax_error and not any(f.rule == "syntax-error" and f.file == path
                                                for f in self.scan.findings):  # one per file: the first to fix
                    syntax_error = True
                    self.scan.add("syntax-error", path, issue["line"],
                                  f"cannot be parsed as Python 3.11 ({issue['message'][:120]}); code that cannot be "
                                  "analysed is refused.")
                continue
            if b"nosec" in self.scan.package.files[path]:
                # A `# nosec` comment silences bandit on its line, as bandit does (all tests, or the ones it lists).
                if lines is None:
                    lines = self.scan.package.files[path].decode("utf-8", "replace").split("\n")
                row = issue["line"] or 0
                nosec = _NOSEC_RE.search(lines[row - 1]) if 0 < row <= len(lines) else None
                if nosec and (not nosec.group(1).strip() or code in re.findall(r"B\d+", nosec.group(1))):
                    continue
            severity, confidence = BANDIT_RATINGS.get(code, ("medium", "medium"))
            if code in ("B602", "B605") and _SAFE_SHELL in issue["message"]:
                severity = "low"
            blocking = severity == "high" and confidence in ("high", "medium")
            self.scan.add("bandit", path, issue["line"],
                          f"bandit {code} (ruff {issue['code']}): {issue['message']}", severity=severity,
                          action="reject" if blocking else "warn")


QUALITY_ITEMS = (
    ("description", 20), ("icon", 10), ("screenshots", 15), ("changelog", 10), ("documentation_url", 10),
    ("support_url", 10), ("tests", 15), ("readme", 10),
)


def quality_score(package, minimum: int) -> dict[str, Any]:
    """0-100 with a visible breakdown. Below `minimum` the version is rejected with the missing items as reasons."""
    data = package.manifest.data
    files = package.files
    lower_files = {p.lower() for p in files}
    description = (data.get("description") or "").strip()
    screenshots = data.get("screenshots") or []
    icon = data.get("icon")
    breakdown = []

    def item(key: str, points: int, note: str) -> None:
        maximum = dict(QUALITY_ITEMS)[key]
        breakdown.append({"item": key, "points": points, "max": maximum, "note": note})

    if len(description) >= 200:
        item("description", 20, f"{len(description)} characters")
    elif len(description) >= 50:
        item("description", 10, f"{len(description)} characters; 200 or more earns full points")
    else:
        item("description", 0, "write a description of at least 50 characters (200 for full points)")
    item("icon", 10 if icon and icon in files else 0,
         "icon present" if icon and icon in files else "add an icon image and set `icon` in plugin.json")
    shots = len(screenshots)
    item("screenshots", 15 if shots >= 3 else 10 if shots else 0,
         f"{shots} screenshot(s)" + ("" if shots >= 3 else "; three or more earn full points"))
    has_changelog = bool((data.get("changelog") or "").strip()) or any(
        p.split("/")[-1] in ("changelog.md", "changelog.rst", "changelog.txt", "changes.md") for p in lower_files)
    item("changelog", 10 if has_changelog else 0, "changelog present" if has_changelog else "add a changelog")
    item("documentation_url", 10 if data.get("documentationUrl") else 0,
         "documentation URL set" if data.get("documentationUrl") else "set documentationUrl")
    item("support_url", 10 if data.get("supportUrl") else 0,
         "support URL set" if data.get("supportUrl") else "set supportUrl")
    has_tests = any(re.search(r"(^|/)(tests?/.+\.py|test_[^/]*\.py|[^/]*_test\.py)$", p) for p in lower_files)
    item("tests", 15 if has_tests else 0, "tests shipped" if has_tests else "ship your tests (tests/test_*.py)")
    has_readme = any(p in ("readme.md", "readme.rst", "readme.txt", "readme") for p in lower_files)
    item("readme", 10 if has_readme else 0, "README present" if has_readme else "add a README.md")
    score = sum(entry["points"] for entry in breakdown)
    return {"score": score, "minimum": minimum, "passed": score >= minimum, "breakdown": breakdown}


def scan(package, context: ScanContext) -> ScanResult:
    """Scan and score a package that passed upload validation. Raises on a crash, a failing tool or ScanTimeout: the
    caller records `errored` (fail closed)."""
    started = time.monotonic()
    state = _Scan(package, context)
    bandit = _Bandit(state) if context.run_bandit else None
    workspace = _Workspace(state, ruff_paths=bandit.to_run() if bandit is not None else [])
    try:
        if package.sha256 in context.blocked_hashes:
            state.add("blocklisted-hash", "(package)", None,
                      f"The package is a known-bad file (sha256 {package.sha256}).")
        _scan_files(state, workspace)
        state.check_deadline()
        _scan_scopes(state)
        _scan_names(state)
        if bandit is not None:
            bandit.collect(workspace)
    finally:
        workspace.close()
    state.check_deadline()
    quality = quality_score(package, context.quality_minimum)
    if not quality["passed"]:
        missing = "; ".join(e["note"] for e in quality["breakdown"] if e["points"] < e["max"])
        state.add("quality", "plugin.json", None,
                  f"quality score {quality['score']} is below the minimum of {quality['minimum']}: {missing}.")
    return ScanResult(verdict=verdict_of(state.findings), findings=state.findings, quality=quality,
                      duration=time.monotonic() - started)


def verdict_of(findings: list[Finding]) -> str:
    enforced = [f for f in findings if f.enforced]
    if any(f.action == "quarantine" for f in enforced):
        return "quarantined"
    if any(f.action == "reject" for f in enforced):
        return "rejected"
    return "passed"


def scan_safely(package, context: ScanContext) -> ScanResult:
    """`scan`, but a crash or a timeout becomes an `errored` result: it never passes by default."""
    started = time.monotonic()
    try:
        return scan(package, context)
    except ScanTimeout as exc:
        error = f"timeout: {exc}"
    except Exception as exc:  # noqa: BLE001 - any scanner failure must block publication, not crash the worker
        error = f"{type(exc).__name__}: {str(exc)[:500]}"
    return ScanResult(verdict="errored", findings=[], quality={}, duration=time.monotonic() - started, error=error)
