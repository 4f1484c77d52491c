"""Rate limits (100 a minute, 10,000 a day per installation), the daily execution budget, scope revocation taking
effect on the next call, and the audit written in batches."""

import time

import pytest
from django.utils import timezone

from runtime.api import installation_scopes_set
from runtime.models import Installation, PluginUsage
from runtime.plugin_api import audit, gateway, limits
from runtime.plugin_api.gateway import APIRefusal
from tests.factories import PluginVersionFactory


def _freeze_minute(monkeypatch):
    """Pin the clock to the start of a minute so the 101 calls cannot straddle two windows."""
    start = (int(time.time()) // 60) * 60 + 1
    monkeypatch.setattr(limits.time, "time", lambda: start)


def test_the_101st_call_in_a_minute_is_refused(world, install, call, monkeypatch):
    _freeze_minute(monkeypatch)
    installation = install([])
    for i in range(100):
        call(installation, "storage.set", key=f"k{i}", value=i)
    with pytest.raises(APIRefusal) as refused:
        call(installation, "storage.get", key="k1")
    assert refused.value.code == "rate_limited"
    assert "100 calls a minute" in refused.value.message
    assert PluginUsage.objects.filter(installation_id=installation.pk, outcome="limited").count() == 1
    assert PluginUsage.objects.filter(installation_id=installation.pk, outcome="ok").count() == 100
    # Another installation has its own allowance.
    assert call(install([]), "storage.get", key="k1") == {"found": False, "value": None}


def test_the_next_minute_opens_a_new_window(world, install, call, monkeypatch, settings):
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "api_calls_per_minute": 3}
    start = (int(time.time()) // 60) * 60 + 1
    clock = {"now": start}
    monkeypatch.setattr(limits.time, "time", lambda: clock["now"])
    installation = install([])
    for _ in range(3):
        call(installation, "storage.get", key="a")
    with pytest.raises(APIRefusal):
        call(installation, "storage.get", key="a")
    clock["now"] = start + 60
    assert call(installation, "storage.get", key="a")["found"] is False


def test_the_daily_limit_is_a_boundary_too(world, install, call, monkeypatch, settings):
    _freeze_minute(monkeypatch)
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "api_calls_per_minute": 1000, "api_calls_per_day": 10_000}
    installation = install([])
    # 9,999 calls already counted today (as other processes would have), then the 10,000th and 10,001st.
    for _ in range(9):
        limits.incr_many([(limits.day_key("rate", str(installation.pk)), 1111, 2 * 86400)])
    assert limits.calls_today(str(installation.pk)) == 9_999
    call(installation, "storage.get", key="a")
    with pytest.raises(APIRefusal) as refused:
        call(installation, "storage.get", key="a")
    assert refused.value.code == "rate_limited"
    assert "10,000 calls a day" in refused.value.message


def test_daily_execution_budget_boundary(world, install):
    installation = install([])
    key = str(installation.pk)
    assert limits.execution_budget_check(installation_id=key) == 3600
    limits.execution_seconds_add(installation_id=key, seconds=3599.5)
    assert limits.execution_budget_check(installation_id=key) == pytest.approx(0.5)
    limits.execution_seconds_add(installation_id=key, seconds=0.5)
    with pytest.raises(limits.ExecutionBudgetExceeded, match="3600 of 3600 s"):
        limits.execution_budget_check(installation_id=key)


def test_revoking_a_scope_mid_session_takes_effect_on_the_next_call(world, install, call):
    version = PluginVersionFactory(manifest={"id": "p", "permissions": [
        {"scope": "content:create", "reason": "write lessons"},
        {"scope": "content:read", "reason": "list lessons", "optional": True}]})
    installation = install(["content:read", "content:create"], plugin=version.plugin, plugin_version=version)
    assert call(installation, "content.find", query={})  # this process now holds the installation's grants
    installation_scopes_set(installation=installation, user=world.admin, granted_scopes=["content:create"])
    with pytest.raises(APIRefusal) as refused:
        call(installation, "content.find", query={})
    assert refused.value.code == "permission_denied"
    # Granting it back (an optional scope) works at once as well.
    installation_scopes_set(installation=installation, user=world.admin,
                            granted_scopes=["content:create", "content:read"])
    assert call(installation, "content.find", query={})


def test_a_deactivated_or_uninstalled_installation_cannot_call(world, install, call):
    for status in (Installation.Status.UNINSTALLED, Installation.Status.FAILED):
        installation = install(["content:read"], status=status)
        with pytest.raises(APIRefusal) as refused:
            call(installation, "content.find", query={})
        assert refused.value.code == "permission_denied"


def test_refusals_are_typed_for_the_sdk(world, install, call):
    from aisquare_plugin_sdk.context import HostError
    from aisquare_plugin_sdk.errors import NotFound, PermissionDenied, api_error

    installation = install([])
    with pytest.raises(APIRefusal) as refused:
        call(installation, "content.find", query={})
    error = api_error(**refused.value.as_error())
    assert isinstance(error, PermissionDenied) and isinstance(error, HostError)
    with pytest.raises(APIRefusal) as refused:
        call(installation, "storage.collection.update", collection="c", id="00000000-0000-0000-0000-000000000000",
             data={})
    assert isinstance(api_error(**refused.value.as_error()), NotFound)


def test_the_audit_is_written_in_batches(world, install, settings):
    settings.AUDIT_BATCH_SIZE = 50
    settings.AUDIT_FLUSH_SECONDS = 3600
    installation = install([])
    audit.flush()
    for i in range(49):
        gateway.call(installation_id=installation.pk, method="storage.get", params={"key": f"k{i}"})
    assert audit.pending() == 49
    assert not PluginUsage.objects.filter(installation_id=installation.pk).exists()  # nothing written per call
    before = timezone.now()
    gateway.call(installation_id=installation.pk, method="storage.get", params={"key": "last"})
    assert audit.pending() == 0
    rows = PluginUsage.objects.filter(installation_id=installation.pk)
    assert rows.count() == 50  # written together by the 50th call
    last = rows.get(resource_id="last")
    assert (last.action, last.outcome, last.resource_type, last.plugin_id) == ("storage.get", "ok", "storage",
                                                                               installation.plugin_id)
    assert last.user_id == installation.user_id and last.version == installation.version
    assert last.created_at >= before and last.metadata["ms"] >= 0


def test_audit_survives_a_refused_call_with_no_installation(db, call):
    with pytest.raises(APIRefusal) as refused:
        gateway.call(installation_id="00000000-0000-0000-0000-000000000000", method="content.find", params={})
    audit.flush()
    assert refused.value.code == "not_found"
    row = PluginUsage.objects.get(installation_id="00000000-0000-0000-0000-000000000000")
    assert row.action == "content.find" and row.outcome == "error"


def test_without_redis_the_rate_limit_and_revocation_hold_too(world, install, call, settings, monkeypatch):
    """The embedded default (local-memory cache, one process) counts and revokes through the portable cache calls."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"}}
    settings.SANDBOX_LIMITS = {**settings.SANDBOX_LIMITS, "api_calls_per_minute": 3}
    _freeze_minute(monkeypatch)
    version = PluginVersionFactory(manifest={"id": "p", "permissions": [
        {"scope": "content:read", "reason": "list lessons", "optional": True}]})
    installation = install(["content:read"], plugin=version.plugin, plugin_version=version)
    assert call(installation, "content.find", query={}) is not None
    installation_scopes_set(installation=installation, user=world.admin, granted_scopes=[])
    with pytest.raises(APIRefusal) as refused:
        call(installation, "content.find", query={})
    assert refused.value.code == "permission_denied"
    call(installation, "storage.get", key="a")
    with pytest.raises(APIRefusal) as refused:
        call(installation, "storage.get", key="a")  # the 4th call this minute
    assert refused.value.code == "rate_limited"
