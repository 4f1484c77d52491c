"""The AI service: the local stand-in (deterministic, no network, says what it is), the OpenAI-compatible provider
against a fake HTTP server on this machine, and the daily character quota."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from host import ai
from runtime.plugin_api.admission import installation_changed
from runtime.plugin_api.gateway import APIRefusal


def test_local_provider_is_deterministic_and_honest():
    provider = ai.LocalAIProvider()
    first = provider.generate("Explain photosynthesis to a ten-year-old. Keep it short.", {})
    assert first == provider.generate("Explain photosynthesis to a ten-year-old. Keep it short.", {})
    assert first.startswith(ai.LOCAL_NOTICE)
    assert "photosynthesis" in first
    grading = provider.analyze("Plants use light, water and carbon dioxide to make sugar.", "assessment_grading")
    assert 0 <= grading["score"] <= 100 and ai.LOCAL_NOTICE in grading["feedback"]
    assert provider.analyze("This is great and clear.", "sentiment")["label"] == "positive"
    assert provider.analyze("This is wrong and confusing.", "sentiment")["label"] == "negative"


class FakeLLM(BaseHTTPRequestHandler):
    requests: list = []
    status = 200

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeLLM.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        last = body["messages"][-1]["content"]
        system = body["messages"][0]["content"] if body["messages"][0]["role"] == "system" else ""
        content = json.dumps({"score": 72, "feedback": "Mostly right"}) if "JSON" in system else f"echo: {last}"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(FakeLLM.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_llm():
    FakeLLM.requests, FakeLLM.status = [], 200
    server = HTTPServer(("127.0.0.1", 0), FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_compatible_provider_speaks_chat_completions(fake_llm, world, install, call, settings):
    settings.AI_PROVIDER = "host.ai.OpenAICompatibleProvider"
    settings.AI_API_BASE, settings.AI_API_KEY, settings.AI_MODEL = fake_llm, "sk-test-123", "tiny-model"
    ai._provider_for.cache_clear()
    try:
        installation = install(["ai:use"])
        assert call(installation, "ai.generateContent", prompt="Say hi", options={"maxTokens": 5}) == "echo: Say hi"
        result = call(installation, "ai.analyzeText", text="An answer.", analysis="assessment_grading")
        assert result["score"] == 72 and result["provider"] == "openai-compatible"
        sent = FakeLLM.requests[0]
        assert sent["path"] == "/v1/chat/completions"
        assert sent["auth"] == "Bearer sk-test-123"
        assert sent["body"]["model"] == "tiny-model" and sent["body"]["max_tokens"] == 5
        # The provider failing is the platform's error, not a crash: a clear refusal reaches the plugin.
        FakeLLM.status = 500
        with pytest.raises(APIRefusal) as refused:
            call(installation, "ai.generateContent", prompt="again")
        assert refused.value.code == "ai_unavailable" and "HTTP 500" in refused.value.message
    finally:
        ai._provider_for.cache_clear()


def test_unreachable_provider_is_a_clear_error(settings, world, install, call):
    settings.AI_PROVIDER = "host.ai.OpenAICompatibleProvider"
    settings.AI_API_BASE = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    ai._provider_for.cache_clear()
    try:
        with pytest.raises(APIRefusal) as refused:
            call(install(["ai:use"]), "ai.generateContent", prompt="hello")
        assert refused.value.code == "ai_unavailable"
    finally:
        ai._provider_for.cache_clear()


def test_character_quota_refuses_past_the_limit(world, install, call, settings):
    settings.AI_DAILY_CHARACTER_QUOTA = 1000
    installation = install(["ai:use"])
    text = call(installation, "ai.generateContent", prompt="x" * 100)
    used = ai.ai_usage_today(subject=str(installation.pk))
    assert used == 100 + len(text) < 1000
    with pytest.raises(APIRefusal) as refused:
        call(installation, "ai.generateContent", prompt="y" * (1000 - used + 1))
    assert refused.value.code == "quota_exceeded"
    assert "AI quota exceeded" in refused.value.message
    from runtime.models import PluginUsage

    assert PluginUsage.objects.filter(installation_id=installation.pk, action="ai.generateContent",
                                      outcome="limited").count() == 1
    # Another installation has its own quota.
    assert call(install(["ai:use"]), "ai.generateContent", prompt="y" * 50)


def test_analyze_answers_repeat_questions_from_the_api_cache(world, install, call, settings):
    installation = install(["ai:use"])
    first = call(installation, "ai.analyzeText", text="Good work.", analysis="sentiment")
    used = ai.ai_usage_today(subject=str(installation.pk))
    assert call(installation, "ai.analyzeText", text="Good work.", analysis="sentiment") == first
    assert ai.ai_usage_today(subject=str(installation.pk)) == used
    from runtime.models import PluginUsage

    rows = PluginUsage.objects.filter(installation_id=installation.pk, action="ai.analyzeText").order_by("created_at")
    assert [r.metadata.get("cache") for r in rows] == [None, "hit"]
    # A new version starts with a cold cache (written as installation_update writes it, which tells the gateway).
    installation.version = "1.1.0"
    installation.save(update_fields=["version"])
    installation_changed(installation.pk)
    call(installation, "ai.analyzeText", text="Good work.", analysis="sentiment")
    assert ai.ai_usage_today(subject=str(installation.pk)) > used
