"""The trusted boot script of a plugin worker, run by the SYSTEM python inside the sandbox (standard library only).

Before any plugin code is imported it: sets rlimits, installs an audit hook that names forbidden actions, loads a
seccomp filter (through libseccomp via `_ctypes`) that kills the process on exec, fork, process-clone, non-AF_UNIX
sockets, ptrace, mount, namespaces, bpf and friends, and moves the protocol pipes away from fds 0/1 so that a
plugin's print() cannot corrupt the protocol. Then it serves the worker protocol (aisquare_plugin_sdk.worker).

A spare (config {"spare": true}) does all of that and imports the worker ahead, before any installation is known,
says {"type": "spare"} and waits. The host then mounts one installation's code and data on its /plugin and /data and
sends {"type": "assign", "config": {...}}: the boot script tightens the rlimits to that installation's and serves it,
as any worker. A spare has run no plugin code before it is assigned, and is assigned once.

Usage: python3 -I -S -B boot.py CONFIG_JSON
"""

import _ctypes
import _signal
import posix  # the C half of `os`: the boot script needs nothing of `os`'s own (nor its stat, posixpath)
import resource
import sys

# What a cold start (no spare ready) imports is what it pays for, ~0.3-9 ms a module family in the sandbox: this
# script and the worker it serves stick to modules compiled into the interpreter or written in C (`posix`, `_ctypes`,
# `_signal`, `resource`, `_json` through aisquare_plugin_sdk.wire) and to the SDK's own small modules. Not `json` (it
# imports `re`, `enum`, `functools`, `collections`), not `ctypes` (~2.5 ms of Python over `_ctypes`), not `signal`
# (`enum`), not `typing`, not even `os` (~0.5 ms with `stat` and `posixpath`; a plugin that needs it imports it).
# docs/sandbox.md lists them with their cost; `python3 -X importtime` inside the sandbox shows them.

LIB_DIR = "/sandbox/lib"  # the SDK, read-only, in both backends

MB = 1024 * 1024

# libseccomp constants (seccomp.h).
SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_NE = 1
SCMP_CMP_MASKED_EQ = 7
SCMP_FLTATR_CTL_NNP = 3


def SCMP_ACT_ERRNO(errno):  # noqa: N802 - the C macro's name
    return 0x00050000 | (errno & 0xFFFF)


ENOSYS = 38
AF_UNIX = 1
CLONE_THREAD = 0x00010000

# Killed outright: process creation and exec, tracing, mounts and namespaces, kernel-facing interfaces.
KILLED_SYSCALLS = (
    "execve", "execveat", "fork", "vfork",
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd", "pidfd_open",
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "mount_setattr", "move_mount",
    "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "acct", "quotactl", "syslog", "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "keyctl", "add_key", "request_key", "open_by_handle_at", "name_to_handle_at", "lookup_dcookie",
    "personality", "iopl", "ioperm", "vhangup", "uselib", "nfsservctl",
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
)


def seccomp_rules():
    """The one definition of the filter, as (action, syscall, argument comparisons) rules on an allow-all default.

    Loaded here by every backend; the container backend also turns it into the engine's JSON seccomp profile
    (runtime.sandbox.docker.seccomp_profile). Comparisons are (argument index, op, value, mask-or-second-value).
    """
    rules = [(SCMP_ACT_KILL_PROCESS, name, ()) for name in KILLED_SYSCALLS]
    # clone() is allowed for threads only; a new process (no CLONE_THREAD) is killed.
    rules.append((SCMP_ACT_KILL_PROCESS, "clone", ((0, SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0),)))
    # clone3's flags live in memory seccomp cannot read: answer ENOSYS so glibc falls back to clone().
    rules.append((SCMP_ACT_ERRNO(ENOSYS), "clone3", ()))
    # Anonymous files are memory that RLIMIT_AS does not count (written, never mapped): refused.
    rules.append((SCMP_ACT_KILL_PROCESS, "memfd_create", ()))
    rules.append((SCMP_ACT_KILL_PROCESS, "memfd_secret", ()))
    # Sockets: AF_UNIX only (no network of any kind, no raw or netlink sockets).
    rules.append((SCMP_ACT_KILL_PROCESS, "socket", ((0, SCMP_CMP_NE, AF_UNIX, 0),)))
    rules.append((SCMP_ACT_KILL_PROCESS, "socketpair", ((0, SCMP_CMP_NE, AF_UNIX, 0),)))
    return rules


# libseccomp through `_ctypes`, the C half of `ctypes`: the few C types the calls below need, declared as `ctypes`
# itself declares them (`class c_int(_SimpleCData): _type_ = "i"`, ...), without the rest of the package.
class _CInt(_ctypes._SimpleCData):
    _type_ = "i"


class _CUInt(_ctypes._SimpleCData):  # also uint32_t: unsigned int is 32 bits on every Linux ABI
    _type_ = "I"


class _CUInt64(_ctypes._SimpleCData):
    _type_ = "Q"


class _CVoidP(_ctypes._SimpleCData):
    _type_ = "P"


class _CCharP(_ctypes._SimpleCData):
    _type_ = "z"


class _ArgCmp(_ctypes.Structure):  # struct scmp_arg_cmp
    _fields_ = [("arg", _CUInt), ("op", _CInt), ("datum_a", _CUInt64), ("datum_b", _CUInt64)]


class _SharedLibrary:
    """`ctypes.CDLL(name, use_errno=True)`: C functions returning int unless told otherwise."""

    def __init__(self, name):
        self._handle = _ctypes.dlopen(name, _ctypes.RTLD_LOCAL)  # read back by CFuncPtr((name, library))

    def function(self, name, argtypes, restype=_CInt):
        class Function(_ctypes.CFuncPtr):
            _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
            _restype_ = restype

        function = Function((name, self))
        function.argtypes = argtypes
        return function


def load_seccomp():
    lib = _SharedLibrary("libseccomp.so.2")
    seccomp_init = lib.function("seccomp_init", [_CUInt], restype=_CVoidP)
    seccomp_attr_set = lib.function("seccomp_attr_set", [_CVoidP, _CInt, _CUInt])
    resolve_name = lib.function("seccomp_syscall_resolve_name", [_CCharP])
    rule_add_array = lib.function("seccomp_rule_add_array",
                                  [_CVoidP, _CUInt, _CInt, _CUInt, _ctypes.POINTER(_ArgCmp)])
    seccomp_load_ = lib.function("seccomp_load", [_CVoidP])
    seccomp_release = lib.function("seccomp_release", [_CVoidP], restype=None)
    ctx = seccomp_init(SCMP_ACT_ALLOW)
    if not ctx:
        raise OSError("seccomp_init failed")
    if seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 1) < 0:
        raise OSError("seccomp_attr_set failed")

    def rule(action, name, *cmps):
        nr = resolve_name(name.encode())
        if nr < 0:  # not a syscall on this architecture
            return
        array = (_ArgCmp * max(len(cmps), 1))(*[_ArgCmp(*c) for c in cmps])
        rc = rule_add_array(ctx, action, nr, len(cmps), array)
        if rc < 0:
            raise OSError(-rc, f"seccomp rule for {name} failed")

    for action, name, cmps in seccomp_rules():
        rule(action, name, *cmps)
    rc = seccomp_load_(ctx)
    if rc < 0:
        raise OSError(-rc, "seccomp_load failed")
    seccomp_release(ctx)


def set_rlimits(limits):
    def cap(which, value):
        soft, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_AS, limits["memory_mb"] * MB)
    cap(resource.RLIMIT_DATA, limits["memory_mb"] * MB)
    cap(resource.RLIMIT_FSIZE, limits["disk_mb"] * MB)
    cap(resource.RLIMIT_NOFILE, limits["max_open_files"])
    if limits.get("nproc", True):
        # Ignored when the real uid maps to root: seccomp holds. The container backend turns it off (False): there
        # the count would span every container of the same uid on the host, and a pids cgroup bounds each one.
        cap(resource.RLIMIT_NPROC, limits["max_threads"])
    cap(resource.RLIMIT_CORE, 0)
    cap(resource.RLIMIT_MEMLOCK, 0)
    cap(resource.RLIMIT_MSGQUEUE, 0)
    cap(resource.RLIMIT_NICE, 0)
    cap(resource.RLIMIT_RTPRIO, 0)
    cap(resource.RLIMIT_SIGPENDING, 64)
    # The CPU limit spans the worker's life (the host recycles workers long before); per-call time is the host's.
    soft = int(limits["worker_cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 2))


# Audit events that are always forbidden: they name the attack before seccomp would kill the process.
FORBIDDEN_EVENTS = {
    "os.exec": "exec", "os.posix_spawn": "exec", "os.spawn": "exec", "os.system": "exec",
    "subprocess.Popen": "exec", "os.fork": "fork", "os.forkpty": "fork", "pty.spawn": "exec",
    "os.kill": "signal", "os.killpg": "signal", "signal.pthread_kill": "signal",
    "socket.connect": "network", "socket.bind": "network", "socket.sendto": "network",
    "socket.getaddrinfo": "network", "socket.gethostbyname": "network",
}


def install_audit_hook(report):
    own_pid = posix.getpid()

    def hook(event, args):
        reason = FORBIDDEN_EVENTS.get(event)
        if event == "socket.__new__" and args and args[1] != AF_UNIX:
            reason = "network"
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            # A plugin may signal itself (e.g. a library's own alarm); anything else is an attack on the host.
            reason = None if event == "signal.pthread_kill" or args[0] in (own_pid, 0) else "signal"
        elif event in ("socket.connect", "socket.bind", "socket.sendto"):
            sock = args[0]
            reason = None if getattr(sock, "family", None) == AF_UNIX else "network"
        if reason:
            report(reason, f"{event} {str(args)[:200]}")
            posix._exit(70)

    sys.addaudithook(hook)


def _exists(path):
    try:
        posix.stat(path)
    except OSError:
        return False
    return True


def lazy_sdk_package(lib_dir):
    """Register aisquare_plugin_sdk without running its __init__ (the Plugin base class, typed context, ...): the
    worker needs a few small modules, and a cold start should not pay for the rest. The package's own names load on
    first use, so a plugin's `from aisquare_plugin_sdk import Plugin` still works. A submodule's name is not one of
    them: `from aisquare_plugin_sdk import context` (the SDK's own modules do that) imports just the submodule."""
    path = f"{lib_dir}/aisquare_plugin_sdk"
    package = type(sys)("aisquare_plugin_sdk")  # types.ModuleType, without importing `types`
    package.__path__ = [path]
    package.__file__ = f"{path}/__init__.py"
    package.__package__ = "aisquare_plugin_sdk"
    loaded = []

    def __getattr__(name):  # noqa: N807 - a module-level __getattr__ (PEP 562)
        if not loaded and not name.startswith("__") and not _exists(f"{path}/{name}.py"):
            loaded.append(True)
            with open(package.__file__, "rb") as handle:
                code = compile(handle.read(), package.__file__, "exec")
            exec(code, package.__dict__)  # noqa: S102 - the SDK's own, read-only __init__
            if name in package.__dict__:
                return package.__dict__[name]
        raise AttributeError(f"module 'aisquare_plugin_sdk' has no attribute {name!r}")

    package.__getattr__ = __getattr__
    sys.modules["aisquare_plugin_sdk"] = package


def wait_for_assignment(proto_in, proto_out, limits, loads):
    """Import what every worker imports, say "spare", and return the config of the installation assigned."""
    import aisquare_plugin_sdk.plugin_api  # noqa: F401 - the typed context a plugin's init(context) gets
    import aisquare_plugin_sdk.worker  # noqa: F401

    proto_out.write(b'{"type":"spare"}\n')
    line = proto_in.readline(int(limits["max_message_bytes"]) + 1)
    message = loads(line) if line.endswith(b"\n") else None
    if not isinstance(message, dict) or message.get("type") != "assign" or not isinstance(message.get("config"), dict):
        posix._exit(72)
    return message["config"]


def main():
    # The SDK (trusted, read-only) is importable from the start: its JSON codec reads the config.
    sys.dont_write_bytecode = True
    sys.path.insert(0, LIB_DIR)
    lazy_sdk_package(LIB_DIR)
    from aisquare_plugin_sdk.wire import dumps, loads

    config = loads(sys.argv[1])
    limits = config["limits"]
    # The protocol pipes move to private fds; 0 and 1 become /dev/null and stderr, so a plugin's print() or
    # input() cannot forge or corrupt protocol messages by accident.
    proto_in = open(posix.dup(0), "rb", buffering=1 << 16)  # noqa: SIM115 - os.fdopen is this open()
    proto_out = open(posix.dup(1), "wb", buffering=0)  # noqa: SIM115
    devnull = posix.open("/dev/null", posix.O_RDONLY)
    posix.dup2(devnull, 0)
    posix.close(devnull)
    posix.dup2(2, 1)
    sys.stdout = sys.stderr
    sys.stdin = open("/dev/null")  # noqa: SIM115

    def report(reason, detail):
        try:
            line = dumps({"type": "violation", "reason": reason, "detail": detail}) + "\n"
            proto_out.write(line.encode())
        except Exception:  # noqa: BLE001, S110 - best effort before exiting
            pass

    try:
        set_rlimits(limits)
        _signal.signal(_signal.SIGXCPU, _signal.SIG_DFL)
        install_audit_hook(report)
        load_seccomp()
    except Exception as exc:  # noqa: BLE001
        proto_out.write((dumps({"type": "fatal", "message": f"sandbox set-up failed: {exc}"}) + "\n").encode())
        posix._exit(71)

    if config.get("spare"):
        config = wait_for_assignment(proto_in, proto_out, limits, loads)
        limits = config["limits"]
        set_rlimits(limits)
    sys.path.insert(0, config.get("code_dir", "/plugin"))
    posix.chdir(config.get("data_dir", "/data"))
    from aisquare_plugin_sdk.worker import serve

    code = serve(proto_in, proto_out, main=config["main"], info=config.get("info", {}),
                 max_message_bytes=int(limits["max_message_bytes"]))
    posix._exit(code)


if __name__ == "__main__":
    main()
