"""The hostile corpus: each attack must be contained, reported with a clear reason, and leave the host and a
neighbouring installation working; the attacker's own next benign call and a benign neighbour still get the right
answers in the same run. Attacks are grouped by class (process creation, exec, raw syscalls, resources, network,
host files, signals, protocol) so that the defence of the class is tested, not one example."""

import os
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from aisquare_plugins.exceptions import ServiceError
from runtime import api
from runtime.models import PluginUsage
from runtime.plugin_files import data_dir_for
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox]

ATTACKS = (Path(__file__).with_name("attacks.py")).read_text()
TIGHT = {"function_timeout": 2, "memory_mb": 256, "disk_mb": 8, "tmp_mb": 8, "api_calls_per_minute": 30}

STOPPED = [
    # process creation
    ("fork_bomb", {"fork"}),
    ("raw_fork", {"forbidden_syscall"}),
    ("raw_clone_process", {"forbidden_syscall"}),
    ("thread_bomb", {"threads", "memory"}),
    # exec
    ("exec_shell", {"exec"}),
    ("subprocess_shell", {"exec"}),
    ("raw_execve", {"forbidden_syscall"}),
    # kernel attack surface through raw syscalls
    ("raw_ptrace", {"forbidden_syscall"}),
    ("raw_mount", {"forbidden_syscall"}),
    ("raw_unshare", {"forbidden_syscall"}),
    ("raw_bpf", {"forbidden_syscall"}),
    ("raw_setuid_root", {"forbidden_syscall"}),
    ("raw_io_uring", {"forbidden_syscall"}),
    ("raw_load_module", {"forbidden_syscall"}),
    # resources
    ("allocate_2gb", {"memory"}),
    ("memory_creep", {"memory"}),
    ("cpu_spin", {"timeout", "cpu"}),
    ("sleep_forever", {"timeout"}),
    ("fill_disk_one_file", {"disk"}),
    ("fill_disk_many_files", {"disk"}),
    ("fill_disk_inodes", {"disk"}),
    ("fill_tmp", {"disk"}),
    ("deep_recursion", {"recursion"}),
    ("hoard_in_memfd", {"forbidden_syscall"}),
    ("hoard_in_shm", {"memory"}),
    # network
    ("connect_test_net", {"network"}),
    ("raw_socket_syscall", {"forbidden_syscall"}),
    ("dns_lookup", {"network"}),
    # the host process
    ("kill_host", {"signal"}),
    # the protocol
    ("flood_protocol", {"output_flood", "message_size"}),
    ("malformed_protocol", {"protocol"}),
    ("forged_result", {"protocol"}),
    # the Plugin API
    ("api_flood", {"api_flood"}),
]


@pytest.fixture
def pair(any_sandbox, make_version, install, settings):
    """The attacker's installation and a benign neighbour's, both active, on the same host, in each backend, with
    tight limits from the start (the data volume's quota is set when it is made)."""
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, **TIGHT}
    attacker = install(make_version(ATTACKS, plugin_id="hostile"))
    neighbour_source = ("context = None\n\ndef init(c):\n    global context\n    context = c\n\n"
                        "def add(a, b):\n    return a + b\n\n"
                        "def keep(v):\n    context.storage.set('k', v)\n    open('/data/secret.txt', 'w').write(v)\n"
                        "    return context.storage.get('k')\n")
    neighbour = install(make_version(neighbour_source, plugin_id="neighbour"), user=UserFactory())
    assert api.installation_invoke(installation=neighbour, function="keep", args=["neighbour-secret"])["value"] \
        == "neighbour-secret"
    return attacker, neighbour


def _invoke(installation, function, *args):
    return api.installation_invoke(installation=installation, function=function, args=list(args), kwargs={})


def _still_fine(attacker, neighbour):
    assert _invoke(neighbour, "add", 2, 3)["value"] == 5
    assert _invoke(attacker, "add", 20, 22)["value"] == 42


@pytest.mark.parametrize(("attack", "reasons"), STOPPED, ids=[a for a, _ in STOPPED])
def test_attack_is_stopped_with_a_clear_reason(pair, attack, reasons):
    attacker, neighbour = pair
    with pytest.raises(ServiceError) as info:
        _invoke(attacker, attack)
    assert info.value.code in reasons, f"{attack}: {info.value.code}: {info.value.message}"
    assert info.value.message
    # Recorded in the audit with its reason.
    row = PluginUsage.objects.filter(installation_id=attacker.pk, action=f"function:{attack}").get()
    assert row.outcome in ("violation", "limited") and row.metadata.get("reason") in reasons
    _still_fine(attacker, neighbour)


def test_connecting_to_the_hosts_own_services_is_refused(pair):
    """PostgreSQL and Redis listen on 127.0.0.1 on this host: the sandbox has no network at all."""
    attacker, neighbour = pair
    for port in (5432, 6379):
        with pytest.raises(ServiceError) as info:
            _invoke(attacker, "connect_loopback", port)
        assert info.value.code == "network"
    _still_fine(attacker, neighbour)


def test_host_files_and_other_installations_data_are_out_of_reach(pair, any_sandbox):
    attacker, neighbour = pair
    neighbour_dir = data_dir_for(neighbour.pk)
    settings_file = Path(django_settings.BASE_DIR) / "aisquare_plugins" / "settings.py"
    paths = ["/etc/shadow", "/etc/passwd", str(settings_file), str(Path(django_settings.BASE_DIR) / ".env"),
             "/root/.bash_history", str(neighbour_dir / "secret.txt"), f"/data/../{neighbour.pk}/secret.txt",
             "/proc/1/root/etc/shadow", "/sys/fs/cgroup/memory/memory.limit_in_bytes"]
    found = _invoke(attacker, "read_files", paths)["value"]
    for path in paths:
        if path in any_sandbox.own_files:  # the image's own file, not the host's
            assert found[path] != Path(path).read_text(errors="replace")[:4096], f"the host's {path} is visible"
            continue
        assert found[path].startswith("error:"), f"{path} was readable: {found[path][:80]!r}"

    environ = _invoke(attacker, "read_files", ["/proc/1/environ", "/proc/self/environ"])["value"]
    host_env = "\0".join(f"{k}={v}" for k, v in os.environ.items())
    for secret in ("DATABASE_URL", "SECRET_KEY", "REDIS_URL", "postgres://"):
        assert secret not in environ["/proc/1/environ"] and secret not in environ["/proc/self/environ"]
    assert environ["/proc/1/environ"] != host_env

    root = _invoke(attacker, "list_dir", "/")["value"]
    if any_sandbox.root_entries is not None:
        assert root == sorted(any_sandbox.root_entries)
        assert _invoke(attacker, "list_dir", "/home")["value"].startswith("error:")
    else:  # an image's root: its own, with none of the host's directories
        assert {"plugin", "data", "sandbox", "tmp"} <= set(root)
        # The project's own folder is not there, wherever the host keeps it (even under a /tmp the image also has).
        assert _invoke(attacker, "list_dir", str(django_settings.BASE_DIR))["value"].startswith("error:")
        assert _invoke(attacker, "list_dir", "/home")["value"] == []
    assert _invoke(attacker, "list_dir", "/data")["value"] == []
    # Host UNIX sockets (PostgreSQL, Docker, systemd) are not mounted.
    sockets = _invoke(attacker, "unix_sockets", ["/var/run/postgresql/.s.PGSQL.5432", "/run/docker.sock",
                                                 "/tmp/.s.PGSQL.5432", "/run/systemd/private"])["value"]
    assert all(v.startswith("error:") for v in sockets.values()), sockets
    _still_fine(attacker, neighbour)


def test_the_data_quota_holds_and_frees_after_cleanup(pair):
    attacker, neighbour = pair
    with pytest.raises(ServiceError) as info:
        _invoke(attacker, "fill_disk_many_files")
    assert info.value.code == "disk"
    # The neighbour's data volume is its own: it can still write.
    assert _invoke(neighbour, "keep", "still-here")["value"] == "still-here"
    # The volume holds its quota, not more; the host's data directory itself stays empty.
    assert (data_dir_for(attacker.pk).with_suffix(".img")).stat().st_blocks * 512 <= 9 * 1024 * 1024
    assert list(data_dir_for(attacker.pk).iterdir()) == []
    _still_fine(attacker, neighbour)


def test_dev_cannot_be_used_as_storage(pair):
    attacker, neighbour = pair
    with pytest.raises(ServiceError) as info:
        _invoke(attacker, "hoard_in_dev")
    # Read-only in the bubblewrap sandbox, not writable by the container's user: refused either way.
    assert info.value.code in ("plugin_error", "disk")
    assert any(word in info.value.message for word in ("Read-only file system", "Permission denied", "No space"))
    _still_fine(attacker, neighbour)


def test_code_and_system_are_read_only(pair):
    attacker, neighbour = pair
    results = _invoke(attacker, "overwrite_own_code")["value"]
    assert not any(r.startswith("wrote") for r in results), results
    _still_fine(attacker, neighbour)


def test_identity_inside_is_unprivileged_and_isolated(pair, any_sandbox):
    attacker, _ = pair
    me = _invoke(attacker, "whoami")["value"]
    assert me["uid"] == any_sandbox.uid and me["gid"] == any_sandbox.uid
    assert me["pid"] <= any_sandbox.max_pid  # a pid namespace of its own
    assert me["hostname"] == "sandbox"


def test_signalling_a_host_pid_reaches_nothing(pair):
    attacker, neighbour = pair
    result = _invoke(attacker, "raw_kill_pid", os.getpid())["value"]
    assert result["rc"] == -1  # no such process in the sandbox's pid namespace
    _still_fine(attacker, neighbour)


def test_killing_everything_in_reach_kills_nothing_outside(pair):
    attacker, neighbour = pair
    _invoke(attacker, "raw_kill_everything")  # kill(-1, SIGKILL): only its own pid namespace is in reach
    _still_fine(attacker, neighbour)


def test_printing_does_not_corrupt_the_protocol(pair):
    attacker, _ = pair
    assert _invoke(attacker, "noisy_print")["value"] == 42


def test_a_return_value_that_is_not_json_is_the_plugins_error(pair):
    attacker, neighbour = pair
    with pytest.raises(ServiceError) as info:
        _invoke(attacker, "unjsonable")
    assert info.value.code == "plugin_error"
    _still_fine(attacker, neighbour)


def test_calling_hooks_imports_or_private_names_as_functions_is_refused(pair):
    attacker, _ = pair
    for name in ("on_install", "init", "os", "raw", "_protocol_fds", "libc"):
        with pytest.raises(ServiceError):
            _invoke(attacker, name)


@pytest.mark.parametrize("entry", ["../escape.py", "/etc/cron.d/evil", "lib/../../escape.py", "a\\..\\b.py"])
def test_unsafe_package_paths_never_reach_the_disk(sandbox, make_version, entry, tmp_path):
    from tests.runtime.packages import build_package

    with pytest.raises(api.PackageError) as info:
        api.read_package(build_package(files={entry: "x = 1\n"}))
    assert info.value.code == "unsafe_path"
    assert not (tmp_path.parent / "escape.py").exists()


def _host_ids(pid: int) -> dict[str, list[int]]:
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: [int(v) for v in fields[name].split()] for name in ("Uid", "Gid")} | {
        "CapEff": [int(fields["CapEff"], 16)]}


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def test_the_plugin_process_is_not_root_on_the_host(bubblewrap_sandbox, make_version, install, settings):
    """Seen from the host, every process of an attacker's sandbox -- bwrap, its pid-1 helper, the worker running the
    plugin -- has real, effective, saved and filesystem uid and gid of the dedicated unprivileged sandbox user and no
    capabilities: a kernel escape would not land as root. Its own view inside stays uid 65534."""
    import pwd

    from runtime.sandbox.pool import get_pool

    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, **TIGHT}
    attacker = install(make_version(ATTACKS, plugin_id="hostile"))
    assert _invoke(attacker, "whoami")["value"]["uid"] == 65534
    if os.geteuid() == 0:
        user = pwd.getpwnam(django_settings.SANDBOX_HOST_USER)
        expected = (django_settings.SANDBOX_HOST_UID or user.pw_uid, django_settings.SANDBOX_HOST_GID or user.pw_gid)
    else:
        expected = (os.getuid(), os.getgid())
    assert 0 not in expected

    def check(installation):
        bwrap_pid = get_pool()._workers[str(installation.pk)].connection.process.pid
        processes = [bwrap_pid, *_descendants(bwrap_pid)]
        assert len(processes) >= 3  # bwrap, its pid 1 inside, the worker
        for pid in processes:
            ids = _host_ids(pid)
            assert ids["Uid"] == [expected[0]] * 4, (pid, ids)
            assert ids["Gid"] == [expected[1]] * 4, (pid, ids)
        assert _host_ids(processes[-1])["CapEff"] == [0]

    check(attacker)
    # The files it writes are the sandbox user's; the image holding them (if the host gives it a quota volume) is
    # root's alone, so no other host user -- another sandbox that escaped included -- reads it around the mount.
    image = data_dir_for(attacker.pk).with_suffix(".img")
    if image.exists():
        assert image.stat().st_uid == 0 and image.stat().st_mode & 0o077 == 0
    # A worker that was a pre-booted spare (when the host keeps them) is no different.
    spares = get_pool().spares
    if spares:
        assert spares.wait_ready()
    second = install(make_version(ATTACKS, plugin_id="hostile-too"), user=UserFactory())
    assert _invoke(second, "whoami")["value"]["uid"] == 65534
    check(second)
    # Trying to become root inside is killed, and the host side is unchanged for the next worker.
    with pytest.raises(ServiceError) as info:
        _invoke(attacker, "raw_setuid_root")
    assert info.value.code == "forbidden_syscall"
    assert _invoke(attacker, "add", 1, 2)["value"] == 3
    fresh = get_pool()._workers[str(attacker.pk)].connection.process.pid
    assert _host_ids(fresh)["Uid"] == [expected[0]] * 4


SPARE_ATTACKS = [("raw_fork", {"forbidden_syscall"}), ("exec_shell", {"exec"}), ("raw_mount", {"forbidden_syscall"}),
                 ("raw_unshare", {"forbidden_syscall"}), ("allocate_2gb", {"memory"}),
                 ("fill_disk_many_files", {"disk"}), ("connect_test_net", {"network"}), ("kill_host", {"signal"})]


def test_a_worker_that_was_a_spare_holds_like_any_other(bubblewrap_sandbox, make_version, install, settings):
    """Every cold start here is served by a pre-booted spare (the host keeps them): the attacks of each class are
    stopped with the same reasons, the neighbour's data stays out of reach, and both keep working."""
    from runtime.sandbox.pool import get_pool

    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, **TIGHT}
    spares = get_pool().spares
    if spares is None:
        pytest.skip("no spare workers here (SANDBOX_SPARES=0, or not a root host with mount slots)")

    def served_by_a_spare(make):
        assert spares.wait_ready()
        booted = {spare.pid for spare in spares._ready}
        installation = make()
        assert get_pool()._workers[str(installation.pk)].connection.process.pid in booted
        return installation

    neighbour = served_by_a_spare(lambda: install(make_version(
        "def keep(v):\n    open('/data/secret.txt', 'w').write(v)\n    return v\n\ndef add(a, b):\n    return a + b\n",
        plugin_id="neighbour"), user=UserFactory()))
    assert _invoke(neighbour, "keep", "neighbour-secret")["value"] == "neighbour-secret"
    attacker = served_by_a_spare(lambda: install(make_version(ATTACKS, plugin_id="hostile")))
    found = _invoke(attacker, "read_files", [str(data_dir_for(neighbour.pk) / "secret.txt"),
                                             f"/data/../{neighbour.pk}/secret.txt", "/etc/shadow"])["value"]
    assert all(value.startswith("error:") for value in found.values()), found
    assert _invoke(attacker, "list_dir", "/data")["value"] == []
    for attack, reasons in SPARE_ATTACKS:
        get_pool().discard(str(attacker.pk))  # each attack starts cold, in a spare
        assert spares.wait_ready()
        booted = {spare.pid for spare in spares._ready}
        with pytest.raises(ServiceError) as info:
            _invoke(attacker, attack)
        assert info.value.code in reasons, f"{attack}: {info.value.code}: {info.value.message}"
        assert booted - {spare.pid for spare in spares._ready}, f"{attack} did not run in a spare"
        _still_fine(attacker, neighbour)


def test_the_sandbox_runs_as_the_configured_host_uid_and_gid(bubblewrap_sandbox, make_version, install, settings):
    """SANDBOX_HOST_UID/GID pick the host identity (only a root host can switch to another user), and the data
    directory is handed to it: the plugin can write there."""
    from runtime.sandbox.pool import get_pool, reset_pool

    if os.geteuid() != 0:
        pytest.skip("only a root host can run sandboxes as another user")
    settings.SANDBOX_HOST_UID, settings.SANDBOX_HOST_GID = 64123, 64124
    reset_pool()
    source = ("import os\n\ndef write():\n    open('/data/mine', 'w').write('x')\n"
              "    return os.getuid(), os.listdir('/data')\n")
    installation = install(make_version(source, plugin_id="configured"))
    assert _invoke(installation, "write")["value"] == [65534, ["mine"]]
    bwrap_pid = get_pool()._workers[str(installation.pk)].connection.process.pid
    for pid in [bwrap_pid, *_descendants(bwrap_pid)]:
        assert _host_ids(pid)["Uid"] == [64123] * 4 and _host_ids(pid)["Gid"] == [64124] * 4
    reset_pool()
