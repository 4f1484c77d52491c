"""The installation's own storage (collections, files), events and UI extensions: no scope needed, but strictly
private to the installation, counted and audited like every call."""

import base64

import pytest

from runtime.models import PluginUsage
from runtime.plugin_api.gateway import APIRefusal
from runtime.plugin_api.models import EventDelivery, EventSubscription, UIExtension
from runtime.plugin_api.ui import sanitize_html, ui_extensions_for_user, ui_extensions_remove


def test_collections_crud_and_simple_queries(world, install, call):
    inst = install([])
    a = call(inst, "storage.collection.create", collection="scores", data={"name": "ada", "score": 90})
    call(inst, "storage.collection.create", collection="scores", data={"name": "bob", "score": 40})
    call(inst, "storage.collection.create", collection="other", data={"name": "ada", "score": 1})
    assert [d["name"] for d in call(inst, "storage.collection.find", collection="scores", query={"$sort": "name"})] \
        == ["ada", "bob"]
    assert [d["name"] for d in call(inst, "storage.collection.find", collection="scores",
                                    query={"score": {"$gte": 50}})] == ["ada"]
    assert call(inst, "storage.collection.findOne", collection="scores", query={"name": "bob"})["score"] == 40
    assert call(inst, "storage.collection.findOne", collection="scores", query={"name": "zed"}) is None
    updated = call(inst, "storage.collection.update", collection="scores", id=a["id"], data={"score": 95})
    assert updated == {"id": a["id"], "name": "ada", "score": 95}
    call(inst, "storage.collection.delete", collection="scores", id=a["id"])
    assert [d["name"] for d in call(inst, "storage.collection.find", collection="scores", query={})] == ["bob"]
    with pytest.raises(APIRefusal) as refused:
        call(inst, "storage.collection.find", collection="scores", query={"score": {"$where": "1"}})
    assert refused.value.code == "invalid"
    for lookup in ({"score__regex": ".*"}, {"data__x": 1}, {"$sort": "score__len"}):
        with pytest.raises(APIRefusal):
            call(inst, "storage.collection.find", collection="scores", query=lookup)


def test_collections_and_files_are_private_to_the_installation(world, install, call):
    mine, theirs = install([]), install([])
    doc = call(theirs, "storage.collection.create", collection="c", data={"secret": 1})
    file = call(theirs, "storage.files.upload", name="a.txt", contentType="text/plain",
                content=base64.b64encode(b"secret").decode())
    assert call(mine, "storage.collection.find", collection="c", query={}) == []
    for method, params in [
        ("storage.collection.update", {"collection": "c", "id": doc["id"], "data": {"secret": 2}}),
        ("storage.collection.delete", {"collection": "c", "id": doc["id"]}),
        ("storage.files.download", {"fileId": file["id"]}),
        ("storage.files.getUrl", {"fileId": file["id"]}),
        ("storage.files.delete", {"fileId": file["id"]}),
    ]:
        with pytest.raises(APIRefusal) as refused:
            call(mine, method, **params)
        assert refused.value.code == "not_found"
        assert PluginUsage.objects.filter(installation_id=mine.pk, action=method, outcome="error").exists()
    assert call(theirs, "storage.collection.findOne", collection="c", query={"id": doc["id"]})["secret"] == 1


def test_files_round_trip_with_a_signed_link(world, install, call, client):
    inst = install([])
    with pytest.raises(APIRefusal):
        call(inst, "storage.files.upload", name="../../etc/passwd", content=base64.b64encode(b"x").decode())
    info = call(inst, "storage.files.upload", name="report.html", contentType="text/html",
                content=base64.b64encode(b"<script>alert(1)</script>").decode())
    assert info["size"] == 25
    got = call(inst, "storage.files.download", fileId=info["id"])
    assert base64.b64decode(got["content"]) == b"<script>alert(1)</script>"
    url = call(inst, "storage.files.getUrl", fileId=info["id"])["url"]
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"  # never served as a page of the site
    assert "attachment" in response["Content-Disposition"]
    assert b"".join(response.streaming_content) == b"<script>alert(1)</script>"
    assert client.get(url[:-3] + "abc").status_code == 404
    call(inst, "storage.files.delete", fileId=info["id"])
    assert client.get(url).status_code == 404


def test_storage_quota_counts_documents_files_and_keys(world, install, call, settings):
    settings.PLUGIN_STORAGE_QUOTA_BYTES = 1000
    inst = install([])
    call(inst, "storage.files.upload", name="a.bin", content=base64.b64encode(b"x" * 900).decode())
    with pytest.raises(APIRefusal) as refused:
        call(inst, "storage.collection.create", collection="c", data={"blob": "y" * 200})
    assert refused.value.code == "quota_exceeded"
    call(inst, "storage.collection.create", collection="c", data={"b": "y" * 20})


def test_events_on_needs_the_scope_of_the_data_it_carries(world, install, call):
    inst = install([])
    with pytest.raises(APIRefusal) as refused:
        call(inst, "events.on", event="assessment:submitted", handler="on_submitted")
    assert refused.value.code == "permission_denied" and "assessments:read" in refused.value.message
    inst = install(["assessments:read"])
    assert call(inst, "events.on", event="assessment:submitted", handler="on_submitted")
    with pytest.raises(APIRefusal):
        call(inst, "events.on", event="assessment:made-up", handler="h")
    with pytest.raises(APIRefusal):
        call(inst, "events.on", event="assessment:submitted", handler="__import__('os')")


def test_a_platform_event_fans_out_within_the_tenant_only(world, install, call, django_capture_on_commit_callbacks,
                                                          monkeypatch):
    from host import services as host_services
    from runtime.plugin_api import events

    ran = []
    monkeypatch.setattr(events, "event_deliver", lambda *, delivery_id: ran.append(delivery_id) or "delivered")
    ours = install(["assessments:read"])
    revoked = install(["assessments:read"])
    theirs = install(["assessments:read"], org=world.other_org, user=world.outsider)
    for inst in (ours, revoked, theirs):
        call(inst, "events.on", event="assessment:submitted", handler="on_submitted")
    revoked.permissions = []
    revoked.save(update_fields=["permissions"])
    with django_capture_on_commit_callbacks(execute=True):
        host_services.submission_create(assessment=world.assessment, user=world.member, content="3/4")
    [delivery] = EventDelivery.objects.all()
    assert delivery.installation_id == ours.pk
    assert delivery.payload["assessmentId"] == str(world.assessment.id)
    assert ran == [str(delivery.pk)]


def test_a_plugin_emits_only_its_own_events(world, install, call, django_capture_on_commit_callbacks, monkeypatch):
    from runtime.plugin_api import events

    monkeypatch.setattr(events, "event_deliver", lambda *, delivery_id: "delivered")
    sender, listener = install([]), install([])
    call(listener, "events.on", event=f"{sender.plugin_id}:done", handler="on_done")
    with pytest.raises(APIRefusal) as refused:
        call(sender, "events.emit", event="assessment:submitted", data={"forged": True})
    assert refused.value.code == "permission_denied"
    with django_capture_on_commit_callbacks(execute=True):
        assert call(sender, "events.emit", event=f"{sender.plugin_id}:done", data={"n": 1}) == {"delivered": 1}
    assert EventDelivery.objects.get().payload == {"data": {"n": 1}, "sourcePlugin": sender.plugin_id}


def test_ui_extensions_are_stored_sanitized_shown_to_the_tenant_and_removed(world, install, call):
    inst = install([])
    call(inst, "ui.addMenuItem", item={"id": "reports", "label": "Reports", "route": "/plugins/x/reports"})
    call(inst, "ui.addDashboardWidget", widget={
        "id": "w1", "title": "Scores", "html": '<p onclick="steal()">Hi<script>alert(1)</script>'
                                              '<a href="javascript:alert(2)">x</a><img src=x onerror=alert(3)></p>'})
    call(inst, "ui.customizeTheme", theme={"primaryColor": "#123abc"})
    for bad in ({"id": "m", "label": "x", "route": "javascript:alert(1)"},
                {"id": "m", "label": "x", "route": "//evil.example/"},
                {"id": "m", "label": "x", "route": "https://evil.example/"}):
        with pytest.raises(APIRefusal):
            call(inst, "ui.addMenuItem", item=bad)
    with pytest.raises(APIRefusal):
        call(inst, "ui.customizeTheme", theme={"primaryColor": "red;background:url(x)"})
    seen = ui_extensions_for_user(user=world.member)
    assert [m["label"] for m in seen["menu_items"]] == ["Reports"]
    html = seen["widgets"][0]["html"]
    for bad in ("script", "alert(1)", "onclick", "javascript:", "onerror", "<img"):
        assert bad not in html
    assert "Hi" in html
    assert seen["theme"] == {"primaryColor": "#123abc"}
    assert ui_extensions_for_user(user=world.outsider)["widgets"] == []
    # Deactivation: nothing is shown, and the rows go.
    inst.status = "installed"
    inst.save(update_fields=["status"])
    assert ui_extensions_for_user(user=world.member)["widgets"] == []
    assert ui_extensions_remove(installation_id=inst.pk) == 3
    assert not UIExtension.objects.filter(installation=inst).exists()


def test_sanitizer_keeps_harmless_markup():
    assert sanitize_html("<p><strong>90%</strong> <progress value=9 max=10></progress></p>") == \
        '<p><strong>90%</strong> <progress value="9" max="10"></progress></p>'


def test_event_subscriptions_go_with_the_extensions(world, install, call):
    inst = install(["content:read"])
    call(inst, "events.on", event="content:created", handler="on_created")
    ui_extensions_remove(installation_id=inst.pk)
    assert not EventSubscription.objects.filter(installation=inst).exists()
