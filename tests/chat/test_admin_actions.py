"""The conversation side of the customers admin, registered by chat at start-up: live transcript, end, erase."""

from uuid import UUID

import pytest
import redis
from django.conf import settings
from django.contrib.auth import get_user_model

from chat.admin_actions import SESSION_ADMIN_ACTIONS
from customers.models import ChatSession, Customer
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
    session_admin_actions().session_end(UUID(session_id))
    session = ChatSession.objects.get(pk=session_id)
    assert session.status == "ended"
    assert session.summary
    assert llm.messages_list(session_id=session_id) == ()


def test_erase_is_the_api_erase_flow(alice, api, open_session):
    session_id = open_session(alice)
    api(alice).post(f"/api/v1/sessions/{session_id}/messages", {"content": "Forget me"}, format="json")
    session_admin_actions().session_delete(UUID(session_id))
    assert not ChatSession.objects.filter(pk=session_id).exists()
    assert llm.messages_list(session_id=session_id) == ()


def _conversation_keys(session_id: str) -> list[str]:
    """The session's keys in Redis that hold anything (the closed marker of an erased session holds nothing)."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True)
    with client:
        return sorted(k for k in client.scan_iter(match=f"chat:{{{session_id}}}:*") if not k.endswith(":closed"))


def _delete_one(alice, session_ids):
    ChatSession.objects.get(pk=session_ids[0]).delete()  # the admin's delete of one session


def _delete_in_bulk(alice, session_ids):
    ChatSession.objects.filter(pk__in=session_ids).delete()  # the admin's "delete selected"


def _delete_the_customer(alice, session_ids):
    Customer.objects.get(pk=alice.customer_id).delete()  # cascades to the sessions


def _delete_the_user(alice, session_ids):
    get_user_model().objects.get(pk=alice.user_id).delete()  # cascades to the customer, then the sessions


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("delete", [_delete_one, _delete_in_bulk, _delete_the_customer, _delete_the_user])
def test_deleting_sessions_in_the_admin_erases_their_conversations(alice, api, open_session, delete):
    # Before the fix, every one of these left the sessions' messages in Redis for CHAT_TTL_SECONDS.
    session_ids = [open_session(alice), open_session(alice)]
    for session_id in session_ids:
        api(alice).post(f"/api/v1/sessions/{session_id}/messages", {"content": "Remember me"}, format="json")
        assert _conversation_keys(session_id)
    delete(alice, session_ids)
    deleted = session_ids[:1] if delete is _delete_one else session_ids
    for session_id in deleted:
        assert _conversation_keys(session_id) == []
    for session_id in set(session_ids) - set(deleted):
        assert _conversation_keys(session_id)  # a session not deleted keeps its conversation
