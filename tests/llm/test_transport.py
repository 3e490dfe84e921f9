"""llm.transport's reading of a model's server-sent events, however the bytes are cut (the whole path, against the
fake server, is tested in test_client.py and test_streaming_client.py)."""

import asyncio

import pytest

from llm import transport


def events(*pieces: bytes) -> list[bytes]:
    async def source():
        for piece in pieces:
            yield piece

    async def collect():
        return [data async for data in transport._events(source())]

    return asyncio.run(collect())


def test_events_cut_anywhere_read_the_same():
    wire = b'data: {"a":1}\n\ndata: {"b":2}\n\ndata: [DONE]\n\n'
    whole = events(wire)
    assert whole == [b'{"a":1}', b'{"b":2}', b"[DONE]"]
    assert events(*(wire[i : i + 1] for i in range(len(wire)))) == whole
    assert events(wire[:7], wire[7:20], wire[20:]) == whole


def test_crlf_comments_other_fields_and_multiline_data():
    wire = b': keep-alive\r\n\r\nevent: message\r\nid: 7\r\ndata:{"a":\r\ndata: 1}\r\n\r\n'
    assert events(wire) == [b'{"a":\n1}']


def test_a_last_event_without_its_blank_line_is_still_read():
    assert events(b'data: {"a":1}\n\ndata: {"b":2}') == [b'{"a":1}', b'{"b":2}']


def test_shapes_that_are_not_a_completion_are_value_errors():
    for answer in ({"choices": {}}, {"choices": [1]}):
        with pytest.raises(ValueError, match="choice"):
            transport.first_choice(answer)
    with pytest.raises(ValueError, match="content"):
        transport.text_of({"content": 3})
    assert transport.first_choice({"choices": [{"index": 1}, {"index": 0, "x": 1}]}) == {"index": 0, "x": 1}
    assert transport.usage_of({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}) == (3, 4)
    assert transport.usage_of({"usage": None}) is None


def test_lone_surrogates_in_and_out_are_read_as_the_standard_library_reads_them():
    body = {"messages": [{"role": "user", "content": "a\ud800b"}]}
    assert transport.encode(body) == b'{"messages": [{"role": "user", "content": "a\\ud800b"}]}'
    assert transport._loads(b'{"a":"x\\ud800"}') == {"a": "x\ud800"}
    with pytest.raises(ValueError, match="Expecting"):
        transport._loads(b"{not json")
