"""Platform events: emitted by host services only after their transaction commits, and one broken listener does
not stop the others."""

import pytest
from django.db import transaction

from host import events, services


@pytest.fixture
def heard():
    got = []

    def listener(event):
        got.append(event)

    events.listener_add(listener)
    yield got
    events.listener_remove(listener)


def test_events_fire_after_commit_and_never_for_a_rollback(world, heard, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        try:
            with transaction.atomic():
                services.content_create(title="Never saved", org=world.org, author=world.admin)
                raise RuntimeError("roll back")
        except RuntimeError:
            pass
    assert heard == []
    with django_capture_on_commit_callbacks(execute=True):
        content = services.content_create(title="Saved", org=world.org, author=world.admin)
        services.enrollment_create(user=world.member, content=content)
    assert [(e.name, e.org_id) for e in heard] == [("content:created", str(world.org.id)),
                                                   ("user:enrolled", str(world.org.id))]
    assert heard[0].payload["title"] == "Saved"


def test_a_failing_listener_does_not_stop_the_others(world, heard, django_capture_on_commit_callbacks):
    def broken(event):
        raise ValueError("boom")

    events._listeners.insert(0, broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            services.submission_create(assessment=world.assessment, user=world.member, content="1/3")
    finally:
        events.listener_remove(broken)
    assert [e.name for e in heard] == ["assessment:submitted"]


def test_non_members_cannot_submit_or_enroll(world):
    from aisquare_plugins.exceptions import ServiceError

    with pytest.raises(ServiceError):
        services.submission_create(assessment=world.assessment, user=world.outsider, content="x")
    with pytest.raises(ServiceError):
        services.enrollment_create(user=world.outsider, content=world.content)


def test_unknown_event_names_are_a_programming_error():
    with pytest.raises(ValueError):
        events.emit(name="content:exploded", payload={})
