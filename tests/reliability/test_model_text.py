"""Text from the model that Python can hold but UTF-8 cannot: a lone surrogate, escaped in the JSON the server sends
("\\ud800"). The JSON decoder keeps it as a lone code point, which no encoder of the reply (Redis, the JSON answer, an
SSE event) can write: the reply must still be stored and shown, with U+FFFD in its place.
"""

import pytest

from tests.fakes.openai import Reply
from tests.reliability.fault_support import Customer, assert_clean_log, events
from tests.reliability.rules import check_history, seen_turn

pytestmark = [pytest.mark.processes, pytest.mark.timeout(60)]

HIGH, LOW = "\ud800", "\udfff"
# A plain-text answer (servers that ignore response_format send one), and a structured one whose reply holds the
# lone surrogate as a raw character (JSON-escaped once, in the server's JSON).
ANSWERS = {
    "plain": f"Try the {HIGH}kimchi stew{LOW}.",
    "structured": f'{{"mood": "calm", "reply": "Try the {HIGH}kimchi stew{LOW}."}}',
}
SHOWN = "Try the \ufffdkimchi stew\ufffd."


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("answer", list(ANSWERS))
def test_a_lone_surrogate_in_the_model_text_becomes_a_replacement_character(
    app_server_factory, fake_openai, alice, answer, stream
):
    app = app_server_factory(workers=1, openai=fake_openai)
    client = Customer(app, alice)
    session_id = client.open_session()
    fake_openai.script(Reply(ANSWERS[answer]))

    response = client.send(session_id, "What should I eat?", stream=stream)
    if stream:
        received = [item for item in events(response) if item[0] != "ping"]
        assert [name for name, _ in received][-1] == "done", received
        assert "".join(data["text"] for name, data in received if name == "delta") == SHOWN
        turn = received[-1][1]
    else:
        assert response.status == 201, response.body
        turn = response.json()
    assert turn["assistant_message"]["content"] == SHOWN

    history = client.history(session_id)
    check_history(history, succeeded=[seen_turn(turn)], sent=["What should I eat?"])
    assert history[-1]["content"] == SHOWN  # stored as shown
    assert_clean_log(app, ["What should I eat?", "kimchi", alice.token])
