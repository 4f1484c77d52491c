"""The security scan and quality score of a plugin package. Pure: it reads a runtime Package and a ScanContext
(what it needs from the database, gathered by the caller), and returns a ScanResult. It never passes by default:
any crash or timeout is the caller's `errored`, which blocks publication.

Checks: Python AST analysis (dangerous modules and calls, dynamic imports, builtins tricks, writes outside the data
dir), Plugin API calls whose scope the manifest does not declare, obfuscation (high-entropy or base64 blobs,
compiled or minified files), hard-coded secrets, bandit, names too close to an existing plugin, a sha256 blocklist.
"""

from __future__ import annotations

import ast
import dis
import hashlib
import importlib.metadata as importlib_metadata
import keyword
import logging
import math
import re
import sys
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
}
DANGEROUS_CALL_PREFIXES = {"os.exec": "replaces the process", "os.spawn": "starts processes",
                           "os.posix_spawn": "starts processes"}
ESCAPE_ATTRIBUTES = {"__subclasses__", "__globals__", "__builtins__", "__code__", "__bases__", "__mro__",
                     "__getattribute__", "__dict__", "f_globals", "f_locals", "f_back", "gi_frame", "tb_frame"}
INTROSPECTION_CALLS = {"globals", "vars", "locals"}
WRITE_MODES = re.compile(r"[wax+]")
API_NAMESPACES = {name.split(".")[0] for name in API_SCOPES}

# (label, literals of which one must be present (checked with a fast substring search first), pattern). AWS secret
# keys are looked for in the lower-cased text's guard only.
SECRET_PATTERNS = [
    ("private key", (b"PRIVATE KEY",),
     re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY( BLOCK)?-----")),
    ("AWS access key id", (b"AKIA", b"ASIA"), re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("AWS secret access key", (b"aws", b"AWS", b"Aws"),
     re.compile(rb"(?i:aws.{0,20}(?:secret|key).{0,20})['\"][A-Za-z0-9/+=]{40}['\"]")),
    ("Stripe secret key", (b"_live_",), re.compile(rb"\b(?:sk|rk)_live_[0-9a-zA-Z]{16,}\b")),
    ("GitHub token", (b"ghp_", b"gho_", b"ghu_", b"ghs_", b"ghr_", b"github_pat_"),
     re.compile(rb"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}\b|\bgithub_pat_[A-Za-z0-9_]{60,}\b")),
    ("Slack token", (b"xox",), re.compile(rb"\bxox[baprs]-[0-9A-Za-z-]{10,}\b")),
    ("Google API key", (b"AIza",), re.compile(rb"\bAIza[0-9A-Za-z_-]{35}\b")),
]
BASE64_BLOB = re.compile(r"^[A-Za-z0-9+/=\s]{200,}$")
COMPILED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dll", ".dylib", ".exe", ".bin", ".class", ".jar", ".wasm", ".o",
                     # Archives inside the package could be put on sys.path and imported unseen.
                     ".zip", ".egg", ".whl", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".pth")
BINARY_MAGIC = (b"\x7fELF", b"MZ", b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\x00asm", b"PK\x03\x04",
                b"\x1f\x8b")
TEXT_SUFFIXES = (".py", ".js", ".json", ".txt", ".md", ".rst", ".cfg", ".ini", ".toml", ".yaml", ".yml", ".env",
                 ".html", ".css", ".svg", ".pem", ".key", ".sh", "")


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
    # A Django-style cache (get_many/set_many): bandit's results per file content, so unchanged files of an update
    # (or libraries vendored by many plugins) are not analysed twice. None: no cache.
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
        self.aliases: dict[str, str] = {}  # local name -> module or module.attr
        self.api_aliases: dict[str, list[str]] = {}  # local name -> chain that contains "api"

    def flag(self, rule: str, node: ast.AST, message: str) -> None:
        self.scan.add(rule, self.path, getattr(node, "lineno", None), message)

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
                self.scan.used_scopes[scope] = (self.path, getattr(node, "lineno", 0))
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
            self.scan.used_scopes[scope] = (self.path, getattr(node, "lineno", 0))


# Identifiers (after NFKC normalization, as Python itself does) that make a file worth a full AST analysis. A file
# with none of them cannot import, call or reach anything the AST rules look for; it is still checked for secrets,
# blobs, scopes and (by bandit) everything else.
AST_TRIGGERS = frozenset(
    {m.split(".")[0] for m in DANGEROUS_MODULES}
    | {name.split(".")[-1] for name in DANGEROUS_CALLS}
    | ESCAPE_ATTRIBUTES | INTROSPECTION_CALLS
    | {"getattr", "setattr", "open", "write_text", "write_bytes", "modules", "builtins", "__builtins__",
       "__loader__", "__spec__", "sys", "import_module", "__import__", "breakpoint"}
)
_TRIGGER_PREFIXES = ("exec", "spawn", "posix_spawn")
LONG_LINE_RE = re.compile(r"^[^\n]{2001}", re.MULTILINE)
CODING_RE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)", re.MULTILINE)
API_CALL_RE = re.compile(r"\bapi\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\(")
API_ALIAS_RE = re.compile(r"^[ \t]*([A-Za-z_]\w*)[ \t]*=[ \t]*[\w.]*\bapi(?:\.([A-Za-z_]\w*))?[ \t]*$", re.MULTILINE)
GENERIC_CALL_RE = re.compile(r"\.call\(\s*(['\"])([A-Za-z_][\w.]*)\1")
LONG_TOKEN_RE = re.compile(r"[A-Za-z0-9+/=_\-]{200,}")
BASE64_LINE_RE = re.compile(r"^[ \t]*['\"]?[A-Za-z0-9+/=]{60,}['\"]?[ \t]*\\?$", re.MULTILINE)
BASE64_LINES_RE = re.compile(r"(?:^[ \t]*['\"]?[A-Za-z0-9+/=]{40,}['\"]?[ \t]*\\?\r?\n){5,}", re.MULTILINE)


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _use_scope(scan: _Scan, call: str, path: str, text: str, index: int) -> None:
    scope = scope_for_call(call)
    if scope and scope not in scan.used_scopes:
        # The line is counted only for the first use of a scope: counting for every call would be quadratic.
        scan.used_scopes[scope] = (path, _line_of(text, index))


def _scan_scopes_by_text(scan: _Scan, path: str, text: str) -> None:
    """Plugin API calls found in the text: context.call("ns.method"), context.api.ns.method(...), and aliases
    (`api = context.api`, `ai = context.api.ai`)."""
    if ".call(" in text:
        for match in GENERIC_CALL_RE.finditer(text):
            _use_scope(scan, match.group(2), path, text, match.start())
    if "api" not in text:
        return
    for match in API_CALL_RE.finditer(text):
        if match.group(1) in API_NAMESPACES:
            _use_scope(scan, f"{match.group(1)}.{match.group(2)}", path, text, match.start())
    for alias in API_ALIAS_RE.finditer(text):
        name, namespace = alias.group(1), alias.group(2)
        if namespace:
            pattern = re.compile(rf"\b{re.escape(name)}\.([A-Za-z_]\w*)\s*\(")
            for match in pattern.finditer(text):
                _use_scope(scan, f"{namespace}.{match.group(1)}", path, text, match.start())
        else:
            pattern = re.compile(rf"\b{re.escape(name)}\.([A-Za-z_]\w*)\.([A-Za-z_]\w*)\s*\(")
            for match in pattern.finditer(text):
                if match.group(1) in API_NAMESPACES:
                    _use_scope(scan, f"{match.group(1)}.{match.group(2)}", path, text, match.start())


def _scan_blobs(scan: _Scan, path: str, text: str) -> None:
    matches = list(LONG_TOKEN_RE.finditer(text))
    if BASE64_LINE_RE.search(text):
        matches += list(BASE64_LINES_RE.finditer(text))
    for match in matches:
        compact = re.sub(r"[\s\\'\"]", "", match.group(0))
        if len(compact) >= 200 and _entropy(compact) > 4.5:
            scan.add("obfuscated-blob", path, _line_of(text, match.start()),
                     f"contains a {len(compact)}-character encoded or high-entropy string; ship readable "
                     "source and data files, not packed payloads.")


_IMPORT_STAR_RE = re.compile(r"import\s*\*")


def _needs_ast(tokens: frozenset[str], text: str) -> bool:
    """True when the text holds one of the identifiers the AST rules look for (`tokens`: the text's \\w+ words)."""
    if not tokens.isdisjoint(AST_TRIGGERS):
        return True
    if "import" in tokens and _IMPORT_STAR_RE.search(text):
        return True
    return any(prefix in text for prefix in _TRIGGER_PREFIXES) and any(
        token.startswith(_TRIGGER_PREFIXES) for token in tokens)


def _scan_python(scan: _Scan, path: str, content: bytes) -> None:
    coding = CODING_RE.search(b"\n".join(content.split(b"\n", 2)[:2]))
    if coding and coding.group(1).decode("ascii", "replace").lower().replace("_", "-") not in ("utf-8", "utf8"):
        scan.add("obfuscated-blob", path, 1,
                 f"declares the source encoding {coding.group(1).decode('ascii', 'replace')!r}, which can hide code "
                 "from reviewers; Python source must be UTF-8.")
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError:
        scan.add("syntax-error", path, None, "is not UTF-8 text; Python source must be UTF-8.")
        return
    # Python reads identifiers NFKC-normalized (ｅｖａｌ is eval): look at them the same way.
    normalized = text if text.isascii() else unicodedata.normalize("NFKC", text)
    _scan_scopes_by_text(scan, path, normalized)
    _scan_blobs(scan, path, text)
    long_line = LONG_LINE_RE.search(text)
    if long_line:
        scan.add("minified-file", path, _line_of(text, long_line.start()),
                 "has a line of more than 2000 characters; ship readable source.")
    # One pass over the identifiers, shared by the AST rules' prefilter and bandit's.
    tokens = frozenset(IDENTIFIER_RE.findall(normalized))
    bandit = scan.bandit
    if bandit is None:
        wants_bandit = False
    elif normalized is text:
        wants_bandit = bandit.wants(path, tokens, text)
    else:
        # bandit sees names normalized but string values as written: look at both.
        wants_bandit = bandit.wants(path, tokens | frozenset(IDENTIFIER_RE.findall(text)), f"{text}\n{normalized}")
    if not wants_bandit and not _needs_ast(tokens, normalized):
        return
    try:
        tree = ast.parse(text, filename=path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        scan.add("syntax-error", path, getattr(exc, "lineno", None),
                 f"cannot be parsed as Python 3.11 ({str(exc)[:120]}); code that cannot be analysed is refused.")
        return
    _visit_python(scan, path, tree)
    if wants_bandit:
        bandit.analyse(path, content, text, tree)


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


def _visit_python(scan: _Scan, path: str, tree: ast.AST) -> None:
    visitor = _PythonVisitor(scan, path)
    imports, assigns, others = [], [], []
    for node in _walk(tree):
        kind = type(node)
        if kind is ast.Import or kind is ast.ImportFrom:
            imports.append(node)
        elif kind is ast.Assign:
            assigns.append(node)
        elif kind is ast.Call or kind is ast.Attribute or kind is ast.Name:
            others.append(node)
        elif kind is ast.Subscript and type(node.value) is ast.Call:
            node.value._parent_is_subscript = True  # type: ignore[attr-defined]
    # Imports and assignments first, so aliases are known wherever they are used.
    for node in imports:
        (visitor.visit_Import if type(node) is ast.Import else visitor.visit_ImportFrom)(node)
    for node in assigns:
        visitor.visit_Assign(node)
    for node in others:
        kind = type(node)
        if kind is ast.Call:
            visitor.visit_Call(node)
        elif kind is ast.Attribute:
            visitor.visit_Attribute(node)
        else:
            visitor.visit_Name(node)


def _scan_files(scan: _Scan) -> None:
    for path, content in scan.package.files.items():
        scan.check_deadline()
        lower = path.lower()
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
        if lower.endswith(TEXT_SUFFIXES) or "." not in PurePosixPath(lower).name:
            # Each pattern runs only where its literal occurs (a substring search is far cheaper than a regex).
            for label, literals, pattern in SECRET_PATTERNS:
                if not any(literal in content for literal in literals):
                    continue
                match = pattern.search(content)
                if match is None:
                    continue
                line = content.count(b"\n", 0, match.start()) + 1
                scan.add("secret", path, line,
                         f"contains what looks like a {label}; remove it, revoke it, and read secrets from the "
                         "plugin's configuration instead.")
        if lower.endswith(".py"):
            _scan_python(scan, path, content)
        elif lower.endswith(".js"):
            _scan_blobs(scan, path, content.decode("utf-8", "replace"))


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


def _normalize_name(text: str) -> str:
    table = str.maketrans({"0": "o", "1": "l", "3": "e", "5": "s", "7": "t", "@": "a", "$": "s"})
    return re.sub(r"[^a-z]", "", text.lower().translate(table)).replace("rn", "m").replace("vv", "w")


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
            mine.append((kind, value, lower, _normalize_name(lower)))
    for other_id, other_name in scan.context.existing_plugins:
        if other_id == manifest.id:
            continue
        for other in {other_id, other_name or ""}:
            b = other.lower()
            if len(b) < 4:
                continue
            normalized = None
            for kind, value, a, a_normalized in mine:
                limit = 1 if max(len(a), len(b)) < 10 else 2
                if abs(len(a) - len(b)) > limit + 2:
                    continue
                if normalized is None:
                    normalized = _normalize_name(b)
                if a == b or a_normalized == normalized or _distance(a, b, limit) <= limit:
                    scan.add("typosquatting", "plugin.json", None,
                             f"the {kind} {value!r} is too close to the existing plugin {other_id!r} "
                             f"({other!r}); choose a distinct {kind}.")
                    return


try:
    BANDIT_VERSION = importlib_metadata.version("bandit")
except importlib_metadata.PackageNotFoundError:  # the scan then errors when it needs bandit: fail closed
    BANDIT_VERSION = "missing"


# bandit runs in-process on the sources already read, on the AST the scan already parsed, and only on files where
# one of its tests can fire. Which files those are is derived from bandit's own definitions (_BanditEngine.needed).
BANDIT_SKIPPED_TESTS = ("B101",)  # assert used: plugins ship their tests, and asserts there are the point.
IDENTIFIER_RE = re.compile(r"\w+")
_DOTTED_NAME_RE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")
# A string literal written with escapes (or bytes) may hold text that is not in the source as written: such files
# always go through bandit, whose string tests see the decoded values.
_ESCAPE_RE = re.compile(r"\\(?:[xuUN0-7])")
# Literals one of which must occur (case-insensitively) for bandit's regex-based string tests to match. Pinned to
# the patterns they were derived from: tests/publishing/test_scan_bandit.py fails if a bandit upgrade changes them.
BANDIT_PASSWORD_PATTERN = "(^{0}$|_{0}_|^{0}_|_{0}$)".format("(pas+wo?r?d|pass(phrase)?|pwd|token|secrete?)")
BANDIT_PASSWORD_LITERALS = ("pas", "pwd", "token", "secret")
BANDIT_SQL_PATTERN = (r"(select\s.*from\s|delete\s+from\s|insert\s+into\s.*values\s|update\s.*set\s)")
BANDIT_SQL_LITERALS = ("select", "delete", "insert", "update")
_PASS_STRING_RE = re.compile(r"""(['"])pass\1""")


def _constant_strings(value, seen: set[int], out: list[str]) -> None:
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, (tuple, list, set, frozenset)):
        for item in value:
            _constant_strings(item, seen, out)
    elif isinstance(value, dict):
        for key, item in value.items():
            _constant_strings(key, seen, out)
            _constant_strings(item, seen, out)
    elif hasattr(value, "co_consts"):
        # Keyword-argument names of the test's own calls (Issue(text=...)) are not names it looks for.
        keyword_names = {i.arg for i in dis.get_instructions(value) if i.opname == "KW_NAMES"}
        for index, constant in enumerate(value.co_consts):
            if index not in keyword_names:
                _constant_strings(constant, seen, out)
    elif callable(value) and hasattr(value, "__code__"):
        _constant_strings(value.__code__, seen, out)


class _BanditEngine:
    """bandit's test set, built once per process, and the prefilter derived from it."""

    def __init__(self):
        quiet = logging.getLogger("stevedore.extension")  # bandit's optional output formatters (sarif) may be absent
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            from bandit.core import config as b_config
            from bandit.core import extension_loader
            from bandit.core import manager as b_manager
            from bandit.core import node_visitor as b_node_visitor

            self.manager = b_manager.BanditManager(b_config.BanditConfig(), "file",
                                                   profile={"exclude": list(BANDIT_SKIPPED_TESTS)})
        finally:
            quiet.setLevel(level)
        self.testset = self.manager.b_ts
        self.parse_nosec = b_manager._parse_nosec_comment
        words: set[str] = set()  # names: one of them in the source is enough
        qualified: set[tuple[str, ...]] = set()  # qualified names: all their parts must be in the source
        substrings: set[str] = set()

        def add_name(name: str) -> None:
            parts = tuple(IDENTIFIER_RE.findall(name))
            if len(parts) == 1:
                words.add(parts[0])
            elif parts:
                qualified.add(parts)
        # The blacklists (B3xx calls, B4xx imports): a call or import bandit resolves to one of these qualified names
        # has each of the name's parts in the source (through an import alias, the import statement names them).
        for entries in extension_loader.MANAGER.blacklist.values():
            for entry in entries:
                for name in entry.get("qualnames", []):
                    add_name(name)
        # The plugins: every name a test compares against is a string constant of its module (code, defaults or
        # generated config). Other strings without spaces (addresses, paths, control characters) are looked for as
        # substrings; strings with spaces are messages and documentation.
        self.checks = {kind for kind, tests in self.testset.tests.items() if tests}
        modules = {sys.modules[test.__module__] for tests in self.testset.tests.values() for test in tests
                   if test.__module__ != "bandit.core.blacklisting"}
        strings: list[str] = []
        seen: set[int] = set()
        for module in modules:
            for name, value in vars(module).items():
                if not name.startswith("__") and (getattr(value, "__module__", module.__name__) == module.__name__
                                                  or isinstance(value, (str, tuple, list, dict, frozenset, set))):
                    _constant_strings(value, seen, strings)
        for text in strings:
            if _DOTTED_NAME_RE.match(text):  # a (dotted) name a test compares against; not messages or docs
                add_name(text)
            elif text and not any(c.isspace() for c in text) and (len(text) >= 3 or not text.isascii()):
                substrings.add(text)  # "0.0.0.0", "/tmp", bidirectional control characters (not messages or docs)
        # Not names in the source: Python's keywords (None, True: constants, never names) and the fields and classes
        # of the AST that the tests read their nodes by (getattr(node, "value")).
        ast_names = {name for cls in vars(ast).values() if isinstance(cls, type) and issubclass(cls, ast.AST)
                     for name in (cls.__name__, *cls._fields)}
        words -= ast_names | set(keyword.kwlist)
        self.words = frozenset(words)
        # A qualified name is needed only when none of its parts is a name on its own; indexed by its rarest part.
        self.qualified: dict[str, list[frozenset[str]]] = {}
        for parts in qualified:
            if words.isdisjoint(parts):
                self.qualified.setdefault(parts[0], []).append(frozenset(parts))
        self.substrings = tuple(sorted(substrings))
        self.visitor_class = b_node_visitor.BanditNodeVisitor
        self.password = re.compile(BANDIT_PASSWORD_PATTERN, re.IGNORECASE)
        self.sql = re.compile(BANDIT_SQL_PATTERN, re.IGNORECASE | re.DOTALL)
        # As `bandit -q`: no warnings about module names of files that are not on disk.
        logging.getLogger("bandit.core.node_visitor").setLevel(logging.ERROR)

    def needed(self, tokens: frozenset[str], text: str) -> bool:
        """False only when no enabled bandit test can fire on this source."""
        if not tokens.isdisjoint(self.words):
            return True
        for first in tokens.intersection(self.qualified):
            if any(parts <= tokens for parts in self.qualified[first]):
                return True
        if "ExceptHandler" in self.checks and "except" in tokens:  # try/except: pass / continue (B110, B112)
            return True
        if "\\" in text and _ESCAPE_RE.search(text):
            return True
        if any(s in text for s in self.substrings):
            return True
        lower = text.lower()
        # B105-B107: a name, keyword argument or string that matches bandit's password pattern lies within one \w+
        # token (the pattern matches only word characters, anchored to the string's ends or to underscores). The
        # keyword `pass` is not a name: it counts only as the string "pass".
        if any(literal in lower for literal in BANDIT_PASSWORD_LITERALS):
            for token in tokens:
                if self.password.search(token) and (token != "pass" or _PASS_STRING_RE.search(text)):
                    return True
        # B608: bandit's SQL pattern over a string value; the parts of a concatenated string appear in the source in
        # order, with whitespace written literally or as an escape.
        if any(literal in lower for literal in BANDIT_SQL_LITERALS):
            unescaped = text
            for escape, whitespace in (("\\n", "\n"), ("\\t", "\t"), ("\\r", "\r"), ("\\f", "\f"),
                                       ("\\v", "\v")):
                unescaped = unescaped.replace(escape, whitespace)
            if self.sql.search(unescaped):
                return True
        return False

    def run(self, scan: _Scan, path: str, content: bytes, text: str, tree: ast.AST) -> list[dict]:
        nosec_lines: dict[int, set] = {}
        if b"nosec" in content:  # a "# nosec" comment silences bandit on its line, as on the command line
            import io
            import tokenize

            try:
                for token in tokenize.tokenize(io.BytesIO(content).readline):
                    if token.type == tokenize.COMMENT:
                        nosec_lines[token.start[0]] = self.parse_nosec(token.string)
            except (tokenize.TokenError, SyntaxError):
                pass
        visitor = _DeadlineVisitor(scan, self.visitor_class, path, content, self.manager, nosec_lines)
        visitor.generic_visit(tree)
        if not text.isascii():
            # bandit's File tests (B613, bidirectional control characters) read the file itself, and look only for
            # non-ASCII characters.
            with tempfile.NamedTemporaryFile(suffix=".py") as copy:
                copy.write(content)
                copy.flush()
                visitor.context = {"file_data": visitor.fdata, "filename": copy.name, "lineno": 0,
                                   "linerange": [0, 1], "col_offset": 0}
                visitor.update_scores(visitor.tester.run_tests(visitor.context, "File"))
        return [{
            "issue_severity": issue.severity, "issue_confidence": issue.confidence, "line_number": issue.lineno,
            "test_id": issue.test_id, "test_name": issue.test, "issue_text": issue.text,
        } for issue in visitor.tester.results]


def _DeadlineVisitor(scan, base, path, content, manager, nosec_lines):  # noqa: N802 - a class factory
    """bandit's node visitor over an already-parsed tree, checking the scan's deadline as it goes."""
    import io

    checks = frozenset(kind for kind, tests in manager.b_ts.tests.items() if tests)
    # Node types bandit does anything with: a visit_ method (imports, namespaces, strings, calls) or a test.
    active = checks | {name[len("visit_"):] for name in dir(base) if name.startswith("visit_")}

    class Visitor(base):
        count = 0

        def pre_visit(self, node):
            self.count += 1
            if not self.count & 1023:
                scan.check_deadline()
            if node.__class__.__name__ in active:
                return super().pre_visit(node)
            self.depth += 1  # the context of a node nothing looks at is not built
            return True

        def visit(self, node):
            # As bandit's, but node types no enabled test checks are not dispatched (most nodes: Name, Load, ...).
            name = node.__class__.__name__
            method = getattr(self, "visit_" + name, None)
            if method is not None:
                method(node)
            elif name in checks:
                self.update_scores(self.tester.run_tests(self.context, name))

    return Visitor(path, io.BytesIO(content), manager.b_ma, manager.b_ts, False, nosec_lines, manager.metrics)


_ENGINE: _BanditEngine | None = None


def _bandit_engine() -> _BanditEngine:
    global _ENGINE
    if _ENGINE is None:
        _ENGINE = _BanditEngine()
    return _ENGINE


class _Bandit:
    """bandit's findings for the package's Python files: per-file results cached by content hash; the other files
    are analysed in-process (see _BanditEngine) as the AST analysis reaches them. Any failure raises: the scan
    errors (fail closed)."""

    def __init__(self, scan: _Scan):
        if BANDIT_VERSION == "missing":
            raise RuntimeError("bandit is not installed")
        self.scan = scan
        self.engine = _bandit_engine()
        python_files = {p: c for p, c in scan.package.files.items() if p.lower().endswith(".py")}
        self.keys = {path: f"scan:bandit:{BANDIT_VERSION}:{hashlib.sha256(c).hexdigest()}"
                     for path, c in python_files.items()}
        self.cached: set[str] = set()
        self.results: dict[str, list[dict]] = {}
        if scan.context.cache is not None and python_files:
            found = scan.context.cache.get_many(list(set(self.keys.values())))
            for path in python_files:
                issues = found.get(self.keys[path])
                if issues is not None:
                    self.cached.add(path)
                    for issue in issues:
                        self._add(path, issue)

    def wants(self, path: str, tokens: frozenset[str], text: str) -> bool:
        if path in self.cached:
            return False
        if self.engine.needed(tokens, text):
            return True
        self.results[path] = []  # no enabled bandit test can fire on this file
        return False

    def analyse(self, path: str, content: bytes, text: str, tree: ast.AST) -> None:
        issues = self.engine.run(self.scan, path, content, text, tree)
        self.results[path] = issues
        for issue in issues:
            self._add(path, issue)

    def finish(self) -> None:
        # Only a complete, successful scan is remembered (files bandit had nothing to look at are remembered too).
        if self.scan.context.cache is None:
            return
        fresh = {self.keys[path]: issues for path, issues in self.results.items()}
        if fresh:
            self.scan.context.cache.set_many(fresh, timeout=30 * 24 * 3600)

    def _add(self, path: str, issue: dict) -> None:
        severity = (issue.get("issue_severity") or "LOW").lower()
        confidence = (issue.get("issue_confidence") or "LOW").lower()
        blocking = severity == "high" and confidence in ("high", "medium")
        self.scan.add("bandit", path, issue.get("line_number"),
                      f"bandit {issue.get('test_id')} ({issue.get('test_name')}): {issue.get('issue_text')}",
                      severity=severity, action="reject" if blocking else "warn")

    def close(self) -> None:
        pass


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
    """Scan and score a package that passed upload validation. Raises on a crash or ScanTimeout: the caller
    records `errored` (fail closed)."""
    started = time.monotonic()
    state = _Scan(package, context)
    bandit = state.bandit = _Bandit(state) if context.run_bandit else None
    try:
        if package.sha256 in context.blocked_hashes:
            state.add("blocklisted-hash", "(package)", None,
                      f"The package is a known-bad file (sha256 {package.sha256}).")
        _scan_files(state)
        state.check_deadline()
        _scan_scopes(state)
        _scan_names(state)
        if bandit is not None:
            bandit.finish()
    finally:
        if bandit is not None:
            bandit.close()
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
