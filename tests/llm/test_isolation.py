"""Concurrent sessions of several customers never see each other: every model request holds one session's messages
and one customer's facts, and every session's history stays contiguous."""

import re
import threading
from dataclasses import replace
from uuid import uuid4

from llm import services
from llm.data import TurnContext
from tests.llm.contexts import alice, bob
from tests.llm.support import chat_bodies, reply

MARKER = re.compile(r"\[S\d\d\]")


def _customer(context: TurnContext, customer_id: int, name: str, allergy: str) -> TurnContext:
    facts = replace(context.customer, display_name=name, allergies=(allergy,))
    return replace(context, customer_id=customer_id, customer=facts, past_summaries=())


CUSTOMERS = {
    "Alice": _customer(alice(), 1, "Alice", "peanuts"),
    "Bob": _customer(bob(), 2, "Bob", "gluten"),
    "Charlie": _customer(bob(), 3, "Charlie", "sesame"),
    "Dana": _customer(alice(), 4, "Dana", "shellfish"),
}


def test_twenty_concurrent_sessions_of_four_customers_stay_apart(fake_openai):
    def echo(body: dict):
        return reply(f"echo {MARKER.findall(body['messages'][-1]['content'])[0]}")

    services.turn_reply(session_id=uuid4(), text="[S99] warm-up", context=CUSTOMERS["Alice"])  # loads the SDK once
    fake_openai.reset()
    fake_openai.set_responder(echo)
    names = list(CUSTOMERS)
    sessions = {f"[S{i:02d}]": (uuid4(), names[i % 4]) for i in range(20)}
    failures: list[BaseException] = []

    def converse(marker: str) -> None:
        session_id, name = sessions[marker]
        try:
            for turn in range(3):
                services.turn_reply(session_id=session_id, text=f"{marker} question {turn}", context=CUSTOMERS[name])
        except BaseException as exc:  # reported below, with the others
            failures.append(exc)

    threads = [threading.Thread(target=converse, args=(marker,)) for marker in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures

    bodies = chat_bodies(fake_openai)
    assert len(bodies) == 60
    for body in bodies:
        system, conversation = body["messages"][0]["content"], body["messages"][1:]
        markers = {m for message in conversation for m in MARKER.findall(message["content"])}
        assert len(markers) == 1, markers
        own = sessions[markers.pop()][1]
        assert f"Name: {own}" in system
        assert CUSTOMERS[own].customer.allergies[0] in system
        for other in set(CUSTOMERS) - {own}:
            assert other not in system
            assert CUSTOMERS[other].customer.allergies[0] not in system

    for marker, (session_id, _) in sessions.items():
        stored = services.messages_list(session_id=session_id)
        assert [(m.seq, m.role) for m in stored] == [(s, "user" if s % 2 else "assistant") for s in range(1, 7)]
        assert all(marker in m.content for m in stored)
