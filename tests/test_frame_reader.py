"""FrameReader: messages from fragments of any size, bad lengths refused."""

from __future__ import annotations

import os
import types

import pytest

from pgcopy_fast.errors import ProtocolError

EXCHANGES = os.path.join(os.path.dirname(__file__), "exchanges")


def msg(msgtype: bytes, payload: bytes) -> bytes:
    return msgtype + (len(payload) + 4).to_bytes(4, "big") + payload


def test_incomplete_frames_return_none_never_raise(impl: types.ModuleType) -> None:
    reader = impl.FrameReader()
    data = msg(b"Z", b"I")
    for i in range(len(data) - 1):
        reader.feed(data[i : i + 1])
        assert reader.next_message() is None
        assert reader.drain_copy_data() == []
    reader.feed(data[-1:])
    mtype, payload = reader.next_message()
    assert (mtype, bytes(payload)) == (b"Z", b"I")
    assert reader.next_message() is None and reader.buffered == 0


def test_drain_returns_consecutive_copy_data_and_stops_at_other_types(
    impl: types.ModuleType,
) -> None:
    reader = impl.FrameReader()
    reader.feed(
        msg(b"d", b"a")
        + msg(b"d", b"")
        + msg(b"d", b"bc")
        + msg(b"c", b"")
        + msg(b"d", b"x")
    )
    assert [bytes(p) for p in reader.drain_copy_data()] == [b"a", b"", b"bc"]
    assert reader.drain_copy_data() == []
    mtype, payload = reader.next_message()
    assert (mtype, bytes(payload)) == (b"c", b"")
    assert [bytes(p) for p in reader.drain_copy_data()] == [b"x"]


def test_payload_views_stay_valid_after_more_feeds(impl: types.ModuleType) -> None:
    reader = impl.FrameReader()
    reader.feed(msg(b"d", b"first") + msg(b"d", b"sec"))
    first = reader.next_message()[1]
    reader.feed(b"ond"[:0] + msg(b"d", b"third"))
    rest = reader.drain_copy_data()
    assert bytes(first) == b"first"
    assert [bytes(p) for p in rest] == [b"sec", b"third"]
    assert first.readonly


@pytest.mark.parametrize("length", [0, 3, -1, 0x40000001, 0x7FFFFFFF])
def test_bad_lengths_are_protocol_errors(impl: types.ModuleType, length: int) -> None:
    reader = impl.FrameReader()
    reader.feed(b"D" + length.to_bytes(4, "big", signed=True))
    with pytest.raises(ProtocolError, match=f"type b'D' with invalid length {length}"):
        reader.next_message()
    with pytest.raises(ProtocolError):
        reader.drain_copy_data()


def test_largest_legal_length_waits_for_data(impl: types.ModuleType) -> None:
    reader = impl.FrameReader()
    reader.feed(b"d" + (0x40000000).to_bytes(4, "big") + b"xyz")
    assert reader.next_message() is None
    assert reader.buffered == 8


def test_feed_refuses_non_bytes(impl: types.ModuleType) -> None:
    with pytest.raises(
        TypeError, match="feed\\(\\) requires a bytes-like object, not str"
    ):
        impl.FrameReader().feed("abc")


def test_captured_startup_reply_parses_byte_by_byte(impl: types.ModuleType) -> None:
    with open(os.path.join(EXCHANGES, "startup_trust.server.bin"), "rb") as f:
        data = f.read()
    whole, pieces = impl.FrameReader(), impl.FrameReader()
    whole.feed(data)
    expected = []
    while (m := whole.next_message()) is not None:
        expected.append((m[0], bytes(m[1])))
    got = []
    for i in range(len(data)):
        pieces.feed(memoryview(data)[i : i + 1])
        while (m := pieces.next_message()) is not None:
            got.append((m[0], bytes(m[1])))
    assert got == expected
    assert expected[0] == (b"R", b"\x00\x00\x00\x00")
    assert expected[-1] == (b"Z", b"I")
    assert sum(len(p) + 5 for _, p in expected) == len(data)
