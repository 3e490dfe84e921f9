"""The conversation side of the customers admin, registered by chat at start-up: live transcript, end, erase."""

from uuid import UUID

import pytest

from chat.admin_actions import SESSION_ADMIN_ACTIONS
from customers.models import ChatSession
from customers.ports import session_admin_actions
from llm import services as llm

pytestmark = pytest.mark.django_db


def test_chat_registers_the_admin_actions_at_start_up():
    assert session_admin_actions() is SESSION_ADMIN_ACTIONS


def test_the_live_transcript_shows_messages_mood_and_summary(alice, api, open_session):
    session_id = open_session(alice)
    client = api(alice)
    client.post(f"/api/v1/sessions/{session_id}/messages", {"content": "Hi there"}, format="json")
    client.put(f"/api/v1/sessions/{session_id}/mood", {"mood": "calm"}, format="json")

    transcript = session_admin_actions().transcript(UUID(session_id))
    assert [(line.seq, line.role) for line in transcript.lines] == [(1, "user"), (2, "assistant")]
    assert transcript.lines[0].content == "Hi there"
    assert all(line.tokens > 0 for line in transcript.lines)
    assert (transcript.mood, transcript.mood_source) == ("calm", "user")
    assert transcript.rolling_summary == ""


@pytest.mark.django_db(transaction=True)
def test_end_and_summarize_is_the_api_end_flow(alice, api, open_session):
    session_id = open_session(alice)
    api(alice).post(f"/api/v1/sessions/{session_id}/messages", {"content": "Plan my weekend"}, format="json")
    session_admin_actions().end_and_summarize(UUID(session_id))
    session = ChatSession.objects.get(pk=session_id)
    assert session.status == "ended"
    assert session.summary
    assert llm.messages_list(session_id=session_id) == ()


def test_erase_is_the_api_erase_flow(alice, api, open_session):
    session_id = open_session(alice)
    api(alice).post(f"/api/v1/sessions/{session_id}/messages", {"content": "Forget me"}, format="json")
    session_admin_actions().erase(UUID(session_id))
    assert not ChatSession.objects.filter(pk=session_id).exists()
    assert llm.messages_list(session_id=session_id) == ()
