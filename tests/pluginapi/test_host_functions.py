"""Every scoped host function: works with its scope, is refused without it, is refused across tenants, and every
call (allowed or refused) is audited in plugin_usage."""

from decimal import Decimal

import pytest

from host.models import AnalyticsEvent, Assessment, Channel, Chatbot, Content, Dashboard, Grade, Notification
from runtime.models import PluginUsage
from runtime.plugin_api.gateway import HOST_FUNCTIONS, APIRefusal

# method -> (scope, params(world), params reaching into the other organization or None when the call has no object)
CASES = {
    "content.create": ("content:create", lambda w: {"content": {"title": "New lesson", "body": "b"}}, None),
    "content.update": ("content:update", lambda w: {"id": str(w.content.id), "updates": {"title": "Renamed"}},
                       lambda w: {"id": str(w.foreign_content.id), "updates": {"title": "pwned"}}),
    "content.delete": ("content:delete", lambda w: {"id": str(w.content.id)},
                       lambda w: {"id": str(w.foreign_content.id)}),
    "content.find": ("content:read", lambda w: {"query": {}}, None),
    "content.get": ("content:read", lambda w: {"id": str(w.content.id)}, lambda w: {"id": str(w.foreign_content.id)}),
    "users.getCurrent": ("users:read", lambda w: {}, None),
    "users.get": ("users:read", lambda w: {"id": str(w.member.id)}, lambda w: {"id": str(w.outsider.id)}),
    "users.update": ("users:update", lambda w: {"id": str(w.member.id), "updates": {"firstName": "Ada"}},
                     lambda w: {"id": str(w.outsider.id), "updates": {"firstName": "pwned"}}),
    "users.getProgress": ("users:read", lambda w: {"userId": str(w.member.id)},
                          lambda w: {"userId": str(w.outsider.id)}),
    "assessments.create": ("assessments:create", lambda w: {"assessment": {"title": "Auto quiz", "maxScore": 20}},
                           None),
    "assessments.grade": ("assessments:grade",
                          lambda w: {"submissionId": str(w.submission.id), "grade": {"score": 8, "feedback": "Good"}},
                          lambda w: {"submissionId": str(w.foreign_submission.id), "grade": {"score": 0}}),
    "assessments.getSubmissions": ("assessments:read", lambda w: {"assessmentId": str(w.assessment.id)},
                                   lambda w: {"assessmentId": str(w.foreign_assessment.id)}),
    "assessments.get": ("assessments:read", lambda w: {"id": str(w.assessment.id)},
                        lambda w: {"id": str(w.foreign_assessment.id)}),
    "analytics.track": ("analytics:write", lambda w: {"event": {"event": "quiz_opened", "properties": {"n": 1}}}, None),
    "analytics.query": ("analytics:read", lambda w: {"query": {"event": "quiz_opened"}}, None),
    "analytics.createDashboard": ("analytics:write", lambda w: {"dashboard": {"title": "Scores", "widgets": []}},
                                  None),
    "communication.sendNotification": ("system:notifications",
                                       lambda w: {"notification": {"title": "Hi", "userId": str(w.member.id)}},
                                       lambda w: {"notification": {"title": "Hi", "userId": str(w.outsider.id)}}),
    "communication.sendEmail": ("users:message",
                                lambda w: {"email": {"userId": str(w.member.id), "subject": "Hello", "body": "b"}},
                                lambda w: {"email": {"userId": str(w.outsider.id), "subject": "Hello"}}),
    "communication.createChannel": ("users:message",
                                    lambda w: {"channel": {"name": "study", "memberIds": [str(w.member.id)]}},
                                    lambda w: {"channel": {"name": "spy", "memberIds": [str(w.outsider.id)]}}),
    "ai.generateContent": ("ai:use", lambda w: {"prompt": "Explain fractions. Use pizza.", "options": {}}, None),
    "ai.analyzeText": ("ai:use", lambda w: {"text": "A clear and correct answer.", "analysis": "sentiment"}, None),
    "ai.createChatbot": ("ai:use", lambda w: {"config": {"name": "Tutor", "systemPrompt": "Be kind."}}, None),
}


def test_every_scoped_host_function_is_covered_here():
    scoped = {name for name, reg in HOST_FUNCTIONS.items() if reg.scope}
    assert scoped == set(CASES)
    for name, (scope, _, _) in CASES.items():
        assert HOST_FUNCTIONS[name].scope == scope


def _audit(installation, method):
    return list(PluginUsage.objects.filter(installation_id=installation.pk, action=method))


@pytest.mark.parametrize("method", sorted(CASES))
def test_works_with_its_scope_and_is_audited(method, world, install, call, mailoutbox):
    scope, params, _ = CASES[method]
    installation = install([scope])
    call(installation, method, **params(world))
    [row] = _audit(installation, method)
    assert row.outcome == PluginUsage.Outcome.OK
    assert row.plugin_id == installation.plugin_id
    assert row.user_id == world.admin.id


@pytest.mark.parametrize("method", sorted(CASES))
def test_refused_without_its_scope_and_audited(method, world, install, call):
    scope, params, _ = CASES[method]
    # Every other scope of the spec, but not this one: no inheritance, no wildcard.
    from aisquare_plugin_sdk.manifest import SCOPES

    installation = install([s for s in SCOPES if s != scope])
    before = (Content.objects.count(), Assessment.objects.count(), Grade.objects.count(), Notification.objects.count())
    with pytest.raises(APIRefusal) as refused:
        call(installation, method, **params(world))
    assert refused.value.code == "permission_denied"
    assert scope in refused.value.message
    after = (Content.objects.count(), Assessment.objects.count(), Grade.objects.count(), Notification.objects.count())
    assert before == after
    [row] = _audit(installation, method)
    assert row.outcome == PluginUsage.Outcome.DENIED


@pytest.mark.parametrize("method", sorted(m for m, case in CASES.items() if case[2]))
def test_refused_across_tenants_and_audited(method, world, install, call, mailoutbox):
    scope, _, foreign = CASES[method]
    installation = install([scope])
    with pytest.raises(APIRefusal) as refused:
        call(installation, method, **foreign(world))
    assert refused.value.code == "not_found"
    [row] = _audit(installation, method)
    assert row.outcome == PluginUsage.Outcome.ERROR
    assert row.metadata["error"] == "not_found"
    # Nothing of the other organization changed.
    world.foreign_content.refresh_from_db()
    world.outsider.refresh_from_db()
    assert world.foreign_content.title == "Secret"
    assert world.outsider.first_name == ""
    assert not Grade.objects.filter(submission=world.foreign_submission).exists()
    assert not Notification.objects.filter(user=world.outsider).exists()
    assert not Channel.objects.filter(name="spy").exists()
    assert mailoutbox == []


def test_personal_installation_sees_only_its_user(world, install, call):
    installation = install(["users:read", "content:read"], org=None, user=world.member)
    assert call(installation, "users.getCurrent")["id"] == str(world.member.id)
    for other in (world.admin, world.outsider):
        with pytest.raises(APIRefusal, match="not found"):
            call(installation, "users.get", id=str(other.id))
    # The organization's content is not the personal installation's.
    assert call(installation, "content.find", query={}) == []
    with pytest.raises(APIRefusal):
        call(installation, "content.get", id=str(world.content.id))


def test_find_only_returns_the_tenants_content(world, install, call):
    installation = install(["content:read"])
    titles = {c["title"] for c in call(installation, "content.find", query={"limit": 100})}
    assert titles == {"Fractions"}


def test_created_content_and_objects_are_attributed_to_the_plugin(world, install, call):
    installation = install(["content:create", "assessments:create", "assessments:grade", "analytics:write",
                            "users:message", "ai:use", "system:notifications"])
    pid = installation.plugin_id
    content = call(installation, "content.create", content={"title": "By a plugin", "tags": ["ai"]})
    assert content["createdByPlugin"] == pid
    row = Content.objects.get(pk=content["id"])
    assert (row.created_by_plugin, row.org_id, row.author_id) == (pid, world.org.id, world.admin.id)
    assessment = call(installation, "assessments.create", assessment={"title": "Plugin quiz"})
    assert Assessment.objects.get(pk=assessment["id"]).created_by_plugin == pid
    grade = call(installation, "assessments.grade", submissionId=str(world.submission.id), grade={"score": 7})
    assert Grade.objects.get(pk=grade["id"]).created_by_plugin == pid
    call(installation, "analytics.track", event={"event": "graded"})
    assert AnalyticsEvent.objects.get(event="graded").created_by_plugin == pid
    dash = call(installation, "analytics.createDashboard", dashboard={"title": "D"})
    assert Dashboard.objects.get(pk=dash["id"]).created_by_plugin == pid
    bot = call(installation, "ai.createChatbot", config={"name": "Bot"})
    assert Chatbot.objects.get(pk=bot["id"]).created_by_plugin == pid
    call(installation, "communication.sendNotification", notification={"title": "Done"})
    assert Notification.objects.get(title="Done").created_by_plugin == pid


def test_grade_out_of_range_is_refused_as_invalid(world, install, call):
    installation = install(["assessments:grade"])
    with pytest.raises(APIRefusal) as refused:
        call(installation, "assessments.grade", submissionId=str(world.submission.id), grade={"score": 11})
    assert refused.value.code == "invalid"
    assert not Grade.objects.exists()
    grade = call(installation, "assessments.grade", submissionId=str(world.submission.id), grade={"score": "9.5"})
    assert Decimal(grade["score"]) == Decimal("9.5")
    submissions = call(install(["assessments:read"]), "assessments.getSubmissions",
                       assessmentId=str(world.assessment.id))
    assert submissions[0]["grade"]["score"] == "9.50"


def test_users_update_changes_only_profile_fields(world, install, call):
    installation = install(["users:update"])
    for forbidden in ({"role": "org_admin"}, {"email": "evil@example.test"}, {"is_staff": True},
                      {"password": "x"}):
        with pytest.raises(APIRefusal) as refused:
            call(installation, "users.update", id=str(world.member.id), updates=forbidden)
        assert refused.value.code == "invalid"
    world.member.refresh_from_db()
    assert (world.member.role, world.member.is_staff) == ("learner", False)
    assert world.member.email.endswith("@example.test") and "evil" not in world.member.email


def test_users_never_expose_email_addresses(world, install, call):
    installation = install(["users:read"])
    assert "email" not in call(installation, "users.get", id=str(world.member.id))


def test_send_email_goes_to_the_users_own_address_through_django(world, install, call, mailoutbox,
                                                                  django_capture_on_commit_callbacks):
    installation = install(["users:message"])
    with django_capture_on_commit_callbacks(execute=True):
        call(installation, "communication.sendEmail",
             email={"userId": str(world.member.id), "subject": "Your grade\r\nBcc: x@evil.test", "body": "8/10"})
    [message] = mailoutbox
    assert message.to == [world.member.email]
    assert "\n" not in message.subject and "Bcc" in message.subject  # header injection folded into the subject
    assert installation.plugin_id in message.body


def test_unknown_function_and_bad_params_are_invalid(world, install, call):
    installation = install(["content:create"])
    with pytest.raises(APIRefusal) as refused:
        call(installation, "system.exec", cmd="rm -rf /")
    assert refused.value.code == "invalid"
    with pytest.raises(APIRefusal) as refused:
        call(installation, "content.create", content={"title": "x", "created_by_plugin": "someone-else"})
    assert refused.value.code == "invalid"
    assert PluginUsage.objects.filter(installation_id=installation.pk).count() == 2
