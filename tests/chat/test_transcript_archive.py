"""The opt-in transcript archive (CHAT_ARCHIVE_DAYS): off by default, kept on end (API and idle sweep), read by its
customer through GET .../messages and in the admin, purged after the retention period, deleted with the session."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from customers import services as customers
from customers.models import ArchivedTranscript, ChatSession
from tests.chat.support import offered
from tests.fakes.openai import JSONReply, Reply

pytestmark = pytest.mark.django_db(transaction=True)  # ending invalidates cached entries on commit


def chat_and_end(client, session_id: str, *texts: str) -> list[dict]:
    """Send each text, then end the session; return the live messages as they were just before the end."""
    for text in texts:
        assert (
            client.post(f"/api/v1/sessions/{session_id}/messages", {"content": text}, format="json").status_code == 201
        )
    live = client.get(f"/api/v1/sessions/{session_id}/messages").json()["results"]
    assert client.post(f"/api/v1/sessions/{session_id}/end").status_code == 200
    return live


def messages_of(client, session_id: str) -> list[dict]:
    response = client.get(f"/api/v1/sessions/{session_id}/messages")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def purge() -> str:
    out = io.StringIO()
    call_command("archive_purge", stdout=out)
    return out.getvalue()


def test_by_default_only_the_summary_outlives_a_session(alice, api, open_session, settings):
    assert settings.CHAT_ARCHIVE_DAYS == 0
    client = api(alice)
    session_id = open_session(alice)
    chat_and_end(client, session_id, "Somewhere quiet for lunch?")

    assert messages_of(client, session_id) == []
    assert not ArchivedTranscript.objects.exists()
    assert client.get(f"/api/v1/sessions/{session_id}").json()["summary"]


def test_with_the_archive_on_the_customer_reads_the_ended_transcript(alice, bob, api, open_session, settings):
    settings.CHAT_ARCHIVE_DAYS = 30
    client = api(alice)
    session_id = open_session(alice)
    live = chat_and_end(client, session_id, "Somewhere quiet for lunch?", "And for dinner, something spicy")

    archived = messages_of(client, session_id)
    assert len(archived) == 4
    assert archived == live  # the same ids, seqs, roles, contents, token counts and times as when live
    assert [m["seq"] for m in archived] == [1, 2, 3, 4]
    assert archived[0]["content"] == "Somewhere quiet for lunch?"

    assert api(bob).get(f"/api/v1/sessions/{session_id}/messages").status_code == 404
    session = client.get(f"/api/v1/sessions/{session_id}").json()
    assert session["status"] == "ended"
    assert session["summary"]


def test_the_archived_transcript_keeps_each_messages_cards(alice, api, fake_openai, open_session, settings):
    settings.CHAT_ARCHIVE_DAYS = 30
    customers.catalog_demo_seed()

    def respond(body):
        items = offered(body) if "<candidates>" in body["messages"][0]["content"] else []
        if not items:
            return Reply("Alice asked for spicy food in Mapo.")  # the summary, or a turn with nothing to offer
        (item_id, name), *_ = items
        return JSONReply({"mood": "happy", "recommendations": [{"item_id": item_id, "reason": "spicy"}], "reply": name})

    fake_openai.set_responder(respond)
    client = api(alice)
    session_id = open_session(alice)
    live = chat_and_end(client, session_id, "매운 저녁 추천해 주세요, 마포에서")

    assert len(live[1]["recommendations"]) == 1  # the turn showed a card
    assert messages_of(client, session_id) == live  # cards, ids, reasons and receipts included


def test_deleting_the_session_deletes_its_archive(alice, api, open_session, settings):
    settings.CHAT_ARCHIVE_DAYS = 30
    client = api(alice)
    session_id = open_session(alice)
    chat_and_end(client, session_id, "Weekend plans?")
    assert ArchivedTranscript.objects.filter(session_id=session_id).exists()

    assert client.delete(f"/api/v1/sessions/{session_id}").status_code == 204
    assert not ArchivedTranscript.objects.filter(session_id=session_id).exists()


def test_the_idle_sweep_archives_too(alice, api, open_session, settings):
    settings.CHAT_ARCHIVE_DAYS = 7
    client = api(alice)
    session_id = open_session(alice)
    client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "Ideas for a rainy day?"}, format="json")
    ChatSession.objects.filter(pk=session_id).update(last_activity_at=timezone.now() - timedelta(minutes=90))

    call_command("end_idle_sessions", "--idle-minutes", "60", stdout=io.StringIO())

    assert ChatSession.objects.get(pk=session_id).status == "ended"
    archived = messages_of(client, session_id)
    assert [m["role"] for m in archived] == ["user", "assistant"]
    assert archived[0]["content"] == "Ideas for a rainy day?"


def test_archive_purge_removes_transcripts_past_the_retention_period(alice, api, open_session, settings):
    settings.CHAT_ARCHIVE_DAYS = 30
    client = api(alice)
    old, recent = open_session(alice), open_session(alice)
    chat_and_end(client, old, "An old question")
    chat_and_end(client, recent, "A recent question")
    ArchivedTranscript.objects.filter(session_id=old).update(archived_at=timezone.now() - timedelta(days=31))

    assert messages_of(client, old) == []  # expired: no longer shown, even before the purge
    assert purge() == "purged 1 archived transcript(s)\n"
    assert list(ArchivedTranscript.objects.values_list("session_id", flat=True)) == [
        ChatSession.objects.get(pk=recent).pk
    ]
    assert ChatSession.objects.filter(pk=old).exists()  # the session and its summary stay
    assert len(messages_of(client, recent)) == 2

    settings.CHAT_ARCHIVE_DAYS = 0  # the archive switched off: nothing is kept any longer
    assert messages_of(client, recent) == []
    assert purge() == "purged 1 archived transcript(s)\n"
    assert not ArchivedTranscript.objects.exists()


def test_the_admin_session_page_shows_the_archived_transcript(admin_client, alice, api, open_session, settings):
    settings.CHAT_ARCHIVE_DAYS = 30
    session_id = open_session(alice)
    chat_and_end(api(alice), session_id, "Where can I hear live jazz <tonight>?")

    page = admin_client.get(f"/admin/customers/chatsession/{session_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Archived transcript" in html
    assert "Where can I hear live jazz &lt;tonight&gt;?" in html

    settings.CHAT_ARCHIVE_DAYS = 0
    html = admin_client.get(f"/admin/customers/chatsession/{session_id}/change/").content.decode()
    assert "its summary above is what remains of it" in html
    assert "live jazz" not in html.split("summary above")[-1]
