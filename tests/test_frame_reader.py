"""FrameReader: messages from fragments of any size, bad lengths refused."""

from __future__ import annotations

import os
import struct
import types

import pytest

from pgcopy_fast.errors import ProtocolError
from pgcopy_fast.kernels import consts
from pgcopy_fast.protocol.events import DataRow, NoticeResponse
from pgcopy_fast.protocol.machine import ClientProtocol

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


# -- libpq's bound on the length of the messages that are never long ----------


def test_the_long_types_are_libpqs() -> None:
    # VALID_LONG_MESSAGE_TYPE in libpq's fe-protocol3.c
    assert consts.LONG_MESSAGE_TYPES == {b"T", b"D", b"d", b"V", b"E", b"N", b"A"}
    assert consts.MAX_SHORT_MESSAGE_LENGTH == 30000


@pytest.mark.parametrize("msgtype", [b"C", b"Z", b"S", b"R", b"K", b"c", b"G", b"!"])
@pytest.mark.parametrize("length", [30001, 0x100000, 0x10000000, 0x40000000])
def test_a_huge_short_message_fails_at_its_header(
    impl: types.ModuleType, msgtype: bytes, length: int
) -> None:
    # A CommandComplete claiming 256 MiB used to wait forever for its body.
    for call in ("next_message", "drain_copy_data", "drain_copy_bytes"):
        reader = impl.FrameReader()
        reader.feed(msg(b"Z", b"I")[:3])
        reader.feed(msg(b"Z", b"I")[3:] + msgtype + length.to_bytes(4, "big"))
        if call == "next_message":
            assert bytes(reader.next_message()[1]) == b"I"
        else:
            reader.next_message()
        with pytest.raises(
            ProtocolError,
            match=f"type {msgtype!r} with invalid length {length}: lost synchronization",
        ):
            getattr(reader, call)()


@pytest.mark.parametrize("msgtype", [b"C", b"Z", b"S", b"!"])
def test_a_short_message_at_the_bound_waits_for_its_body(
    impl: types.ModuleType, msgtype: bytes
) -> None:
    reader = impl.FrameReader()
    reader.feed(msgtype + (30000).to_bytes(4, "big") + b"x" * 100)
    assert reader.next_message() is None
    reader.feed(b"y" * (30000 - 4 - 100))
    mtype, payload = reader.next_message()
    assert mtype == msgtype and len(payload) == 29996


@pytest.mark.parametrize("msgtype", [b"D", b"N", b"E", b"d", b"T", b"A", b"V"])
def test_long_messages_of_100_kb_still_parse(
    impl: types.ModuleType, msgtype: bytes
) -> None:
    payload = bytes(range(256)) * 400  # 102,400 bytes
    data = msg(msgtype, payload) + msg(b"Z", b"I")
    reader = impl.FrameReader()
    got = []
    for i in range(0, len(data), 4096):
        reader.feed(data[i : i + 4096])
        while (m := reader.next_message()) is not None:
            got.append((m[0], bytes(m[1])))
    assert got == [(msgtype, payload), (b"Z", b"I")]


def test_a_big_notice_and_data_row_go_through_the_protocol(
    impl: types.ModuleType,
) -> None:
    proto = ClientProtocol()
    proto.startup({"user": "u"})
    proto.receive_data(msg(b"R", b"\0\0\0\0") + msg(b"Z", b"I"))
    proto.next_event()
    proto.next_event()
    proto.query("SELECT x")
    text = "\u00e9" * 50_000  # 100 KB of UTF-8
    proto.receive_data(
        msg(b"N", b"SNOTICE\0M" + text.encode() + b"\0\0")
        + msg(b"T", b"\0\1x\0" + bytes(18))
        + msg(b"D", b"\0\1" + struct.pack(">i", 100_000) + text.encode())
    )
    notice = proto.next_event()
    assert isinstance(notice, NoticeResponse) and notice.fields["M"] == text
    proto.next_event()
    row = proto.next_event()
    assert isinstance(row, DataRow) and row.values == (text,)


@pytest.mark.parametrize("call", ["drain_copy_data", "drain_copy_bytes"])
def test_drains_return_the_messages_before_a_bad_header(
    impl: types.ModuleType, call: str
) -> None:
    # Found by tools/fuzz.py: the complete CopyData messages before a corrupt
    # header were consumed, then lost to the ProtocolError; now they are
    # returned and the next call raises, however the bytes were cut.
    reader = impl.FrameReader()
    reader.feed(
        msg(b"d", b"a") + msg(b"d", b"bc") + b"C" + (1 << 28).to_bytes(4, "big")
    )
    got = getattr(reader, call)()
    assert (b"".join(bytes(p) for p in got) if call == "drain_copy_data" else got) == (
        b"abc"
    )
    with pytest.raises(ProtocolError, match="lost synchronization"):
        getattr(reader, call)()
    with pytest.raises(ProtocolError, match="lost synchronization"):
        reader.next_message()


def test_drain_copy_bytes_raises_at_once_when_only_empty_messages_precede(
    impl: types.ModuleType,
) -> None:
    # Found by tools/fuzz.py: the pure twin returned b"" first, the compiled
    # one raised; empty CopyData messages carry no data to save.
    reader = impl.FrameReader()
    reader.feed(
        msg(b"d", b"") + msg(b"d", b"") + b"\xe0" + (1 << 30).to_bytes(4, "big")
    )
    with pytest.raises(ProtocolError, match="type b'\\\\xe0' with invalid length"):
        reader.drain_copy_bytes()
    assert reader.buffered == 5
