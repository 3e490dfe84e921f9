"""The management commands, through the same flows as the API: seed_demo, chat, end_idle_sessions, llm_check."""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from customers.models import ChatSession
from llm import services as llm
from tests.fakes.openai import Fault, Reply
from tests.harness.app_server import database_url_for_tests

ROOT = Path(__file__).resolve().parents[2]


def run(*args, stdin: str | None = None) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    options = {"stdout": out, "stderr": err}
    if stdin is not None:
        options["stdin"] = io.StringIO(stdin)
    call_command(*args, **options)
    return out.getvalue(), err.getvalue()


# --- seed_demo ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_prints_usernames_and_tokens_and_is_idempotent():
    first, _ = run("seed_demo")
    assert all(name in first for name in ("alice", "bob", "charlie"))
    as_json = json.loads(run("seed_demo", "--json")[0])
    assert [row["username"] for row in as_json] == ["alice", "bob", "charlie"]
    assert all(row["token"] in first for row in as_json)  # the second run kept the first run's tokens
    assert len({row["customer_id"] for row in as_json}) == 3


# --- chat ---------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_chat_streams_replies_and_ends_with_a_summary(alice, fake_openai):
    fake_openai.script(Reply("Go hiking on Saturday.", chunks=["Go hiking ", "on Saturday."]), Reply("A hike plan."))
    out, err = run("chat", "--user", "alice", stdin="Weekend plans?\n/mood excited\n/end\n")
    assert err == ""
    assert "bot> Go hiking on Saturday." in out
    assert "(mood set to excited)" in out
    assert "Session ended. Summary:\nA hike plan." in out
    session = ChatSession.objects.get(customer_id=alice.customer_id)
    assert (session.status, session.message_count, session.final_mood) == ("ended", 2, "excited")


@pytest.mark.django_db(transaction=True)
def test_chat_reports_errors_in_one_line_and_retries(alice, fake_openai, settings):
    settings.LLM_MAX_RETRIES = 0
    fake_openai.script(Fault.status(500), Reply("Second time lucky."))
    out, err = run("chat", "--user", "alice", stdin="Hello?\n/retry\n/mood ecstatic\n/nope\n/quit\n")
    assert "error: The model provider could not be reached or is overloaded. Your message was saved; " in err
    assert "type /retry" in err
    assert "bot> Second time lucky." in out
    assert "mood must be one of" in err
    assert "unknown command /nope" in err
    assert "Traceback" not in out + err
    session = ChatSession.objects.get(customer_id=alice.customer_id)
    assert "stays open" in out
    assert session.status == "open"
    assert [m.content for m in llm.messages_list(session_id=session.id)] == ["Hello?", "Second time lucky."]


@pytest.mark.django_db(transaction=True)
def test_chat_continues_a_session_of_the_same_customer_only(alice, bob, api, open_session):
    session_id = open_session(alice)
    out, _ = run("chat", "--user", "alice", "--session", session_id, stdin="Hi again\n")
    assert f"session {session_id}" in out
    assert len(llm.messages_list(session_id=session_id)) == 2
    with pytest.raises(CommandError, match="bob has no session"):
        run("chat", "--user", "bob", "--session", session_id, stdin="")
    with pytest.raises(CommandError, match="no customer"):
        run("chat", "--user", "nobody", stdin="")


# --- end_idle_sessions --------------------------------------------------------------------------------------


def make_idle(session_id: str, minutes: int) -> None:
    ChatSession.objects.filter(pk=session_id).update(last_activity_at=timezone.now() - timedelta(minutes=minutes))


@pytest.mark.django_db(transaction=True)
def test_end_idle_sessions_ends_only_idle_ones_with_a_summary(alice, bob, api, open_session):
    idle, active = open_session(alice), open_session(bob)
    api(alice).post(f"/api/v1/sessions/{idle}/messages", {"content": "Ideas for a rainy day?"}, format="json")
    make_idle(idle, 45)

    out, _ = run("end_idle_sessions", "--idle-minutes", "30")
    assert out.strip() == "ended 1, skipped 0, failed 0"
    ended = ChatSession.objects.get(pk=idle)
    assert (ended.status, bool(ended.summary)) == ("ended", True)
    assert llm.messages_list(session_id=idle) == ()
    assert ChatSession.objects.get(pk=active).status == "open"
    assert run("end_idle_sessions", "--idle-minutes", "30")[0].strip() == "ended 0, skipped 0, failed 0"


@pytest.mark.django_db(transaction=True)
def test_end_idle_sessions_reports_failures_and_exits_1(alice, api, open_session, fake_openai, settings):
    settings.LLM_MAX_RETRIES = 0
    session_id = open_session(alice)
    fake_openai.script(Reply("Hi."), Fault.status(500))
    api(alice).post(f"/api/v1/sessions/{session_id}/messages", {"content": "Hi"}, format="json")
    make_idle(session_id, 90)
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("end_idle_sessions", "--idle-minutes", "60", stdout=out)
    assert raised.value.returncode == 1
    assert out.getvalue().strip() == "ended 0, skipped 0, failed 1"
    assert ChatSession.objects.get(pk=session_id).status == "open"  # retried on the next run


@pytest.mark.processes
@pytest.mark.django_db(transaction=True)
def test_sweepers_on_several_hosts_end_each_session_exactly_once(
    make_customer, api, open_session, fake_openai, settings
):
    fake_openai.configure(latency=0.2)  # slow summaries keep the sweepers busy at the same time
    ids = []
    for n in range(4):
        customer = make_customer(f"idle{n}")
        session_id = open_session(customer)
        api(customer).post(f"/api/v1/sessions/{session_id}/messages", {"content": "Hello"}, format="json")
        make_idle(session_id, 120)
        ids.append(session_id)
    env = {  # production settings, pointed at the test database, the test Redis and the fake model
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "sweeper-test-secret-key-0123456789abcdef-0123456789abcdef",
        "DATABASE_URL": database_url_for_tests(),
        "REDIS_URL": settings.REDIS_URL,
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_API_KEY": "test-key",
    }
    command = [sys.executable, "manage.py", "end_idle_sessions", "--idle-minutes", "60"]
    sweepers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(3)]
    reports = [sweeper.communicate(timeout=60)[0].strip() for sweeper in sweepers]
    assert all(sweeper.returncode == 0 for sweeper in sweepers), reports
    counts = [{name: int(n) for name, n in (part.split(" ") for part in report.split(", "))} for report in reports]
    assert sum(c["ended"] for c in counts) == 4, reports  # a session ended twice would count twice
    assert all(c["failed"] == 0 for c in counts), reports
    assert all(s.status == "ended" and s.summary for s in ChatSession.objects.filter(pk__in=ids))


def test_end_idle_sessions_validates_its_arguments():
    with pytest.raises(CommandError):
        call_command("end_idle_sessions", "--idle-minutes", "0")


# --- llm_check ----------------------------------------------------------------------------------------------


def test_llm_check_passes_offline():
    out, _ = run("llm_check")
    assert "provider: offline" in out
    assert "FAIL" not in out
    assert "LLM check passed" in out


def test_llm_check_fails_with_exit_code_1_when_the_endpoint_is_down(settings, closed_port):
    settings.OPENAI_BASE_URL = f"http://127.0.0.1:{closed_port}/v1"
    settings.OPENAI_API_KEY = "test-key"
    settings.LLM_MAX_RETRIES = 0
    out = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("llm_check", stdout=out)
    assert raised.value.returncode == 1
    assert "FAIL" in out.getvalue()
