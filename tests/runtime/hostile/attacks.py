"""A hostile plugin, written as an attacker would: every function tries to escape, starve or crash something.

This file is plugin source (packaged as plugin.py by the tests), never imported by the host.
"""

import ctypes
import os
import socket
import threading
import time

libc = ctypes.CDLL(None, use_errno=True)
SYS = {"fork": 57, "clone": 56, "execve": 59, "ptrace": 101, "mount": 165, "unshare": 272, "bpf": 321,
       "socket": 41, "kill": 62, "setuid": 105, "io_uring_setup": 425, "init_module": 175}


def raw(name, *args):
    return libc.syscall(SYS[name], *args)


# -- processes ------------------------------------------------------------------------------------------------
def fork_bomb():
    while True:
        os.fork()


def raw_fork():
    return raw("fork")


def raw_clone_process():
    return raw("clone", 17, 0, 0, 0, 0)  # SIGCHLD only: a new process, not a thread


def thread_bomb():
    threads = []
    while True:
        t = threading.Thread(target=time.sleep, args=(30,), daemon=True)
        t.start()
        threads.append(t)


def exec_shell():
    os.execv("/bin/sh", ["sh", "-c", "id"])


def subprocess_shell():
    import subprocess

    return subprocess.run(["/bin/sh", "-c", "cat /etc/shadow"], capture_output=True).stdout.decode()


def raw_execve():
    return libc.execve(b"/bin/sh", None, None)


def raw_ptrace():
    return raw("ptrace", 16, 1, 0, 0)  # PTRACE_ATTACH to pid 1


def raw_mount():
    return raw("mount", b"none", b"/tmp", b"tmpfs", 0, None)


def raw_unshare():
    return raw("unshare", 0x10000000)  # CLONE_NEWUSER


def raw_bpf():
    return raw("bpf", 0, 0, 0)


def raw_setuid_root():
    return raw("setuid", 0)


def raw_io_uring():
    return raw("io_uring_setup", 8, ctypes.create_string_buffer(120))


def raw_load_module():
    return raw("init_module", None, 0, b"")


# -- resources ------------------------------------------------------------------------------------------------
def allocate_2gb():
    block = bytearray(2 * 1024 ** 3)
    return len(block)


def memory_creep():
    hoard = []
    while True:
        hoard.append(b"x" * (16 * 1024 * 1024))


def cpu_spin():
    n = 0
    while True:
        n += 1


def sleep_forever():
    time.sleep(10 ** 6)


def fill_disk_one_file():
    with open("/data/fill.bin", "wb") as f:
        while True:
            f.write(b"\0" * (1024 * 1024))


def fill_disk_many_files():
    # Each file stays under the per-file limit (RLIMIT_FSIZE): only a real quota on the directory stops this.
    i = 0
    while True:
        with open(f"/data/part-{i}.bin", "wb") as f:
            f.write(b"\0" * (512 * 1024))
        i += 1


def fill_disk_inodes():
    i = 0
    while True:
        open(f"/data/empty-{i}", "wb").close()
        i += 1


def fill_tmp():
    i = 0
    while True:
        with open(f"/tmp/fill-{i}", "wb") as f:
            f.write(b"\0" * (1024 * 1024))
        i += 1


def hoard_in_dev():
    # /dev is a tmpfs: without care it is unlimited memory that no rlimit counts.
    with open("/dev/hoard", "wb") as f:
        while True:
            f.write(b"\0" * (1024 * 1024))


def hoard_in_memfd():
    fds = []
    while True:
        fd = os.memfd_create("hoard")
        os.write(fd, b"\0" * (8 * 1024 * 1024))
        fds.append(fd)


def hoard_in_shm():
    import mmap

    blocks = []
    while True:
        blocks.append(mmap.mmap(-1, 64 * 1024 * 1024))
        blocks[-1].write(b"\0" * (64 * 1024 * 1024))


def deep_recursion(n=0):
    return deep_recursion(n + 1)


# -- reading the host -----------------------------------------------------------------------------------------
def read_files(paths):
    found = {}
    for path in paths:
        try:
            with open(path, "rb") as f:
                found[path] = f.read(4096).decode(errors="replace")
        except OSError as exc:
            found[path] = f"error: {type(exc).__name__}"
    return found


def list_dir(path):
    try:
        return sorted(os.listdir(path))
    except OSError as exc:
        return f"error: {type(exc).__name__}"


def overwrite_own_code():
    results = []
    for path in ("/plugin/plugin.py", "/usr/bin/python3", "/sandbox/boot.py"):
        try:
            with open(path, "a") as f:
                f.write("# owned")
            results.append(f"wrote {path}")
        except OSError as exc:
            results.append(f"{path}: {type(exc).__name__}")
    return results


def whoami():
    return {"uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(), "ppid": os.getppid(),
            "hostname": socket.gethostname() if hasattr(socket, "gethostname") else ""}


def unix_sockets(paths):
    results = {}
    for path in paths:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            results[path] = "connected"
        except OSError as exc:
            results[path] = f"error: {type(exc).__name__}"
        finally:
            s.close()
    return results


# -- network --------------------------------------------------------------------------------------------------
def connect_loopback(port):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.connect(("127.0.0.1", port))
    return "connected"


def connect_test_net():
    # 192.0.2.1 is TEST-NET-1: never routed. Socket creation itself must be refused.
    socket.create_connection(("192.0.2.1", 80), timeout=1)
    return "connected"


def raw_socket_syscall():
    return raw("socket", 2, 1, 0)  # AF_INET, SOCK_STREAM, straight to the kernel


def dns_lookup():
    return socket.getaddrinfo("example.com", 80)


# -- the host process and the protocol ------------------------------------------------------------------------
def kill_host():
    os.kill(os.getppid(), 9)


def raw_kill_everything():
    return raw("kill", -1, 9)


def raw_kill_pid(pid):
    rc = raw("kill", pid, 0)
    return {"rc": rc, "errno": ctypes.get_errno()}


def _protocol_fds():
    fds = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("pipe:"):
                fds.append(int(name))
        except OSError:
            pass
    return fds


def _write_everywhere(data):
    for fd in _protocol_fds():
        try:
            os.write(fd, data)
        except OSError:
            pass


def flood_protocol():
    chunk = b"A" * (1024 * 1024)
    for _ in range(64):
        _write_everywhere(chunk)
    time.sleep(5)


def malformed_protocol():
    _write_everywhere(b"{this is not json\n")
    time.sleep(5)


def forged_result():
    _write_everywhere(b'{"type": "result", "id": 987654, "ok": true, "value": "pwned"}\n')
    time.sleep(5)


def api_flood():
    from aisquare_plugin_sdk.context import HostError

    while True:
        try:
            _context.storage.get("k")
        except HostError:
            pass


_context = None


def init(ctx):
    global _context
    _context = ctx


def noisy_print():
    for i in range(20000):
        print("noise", i)
    return 42


def unjsonable():
    return {1, 2, 3}


def add(a, b):
    return a + b
