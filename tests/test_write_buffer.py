"""WriteBuffer: golden bytes, back-patched lengths, range checks, views."""

from __future__ import annotations

import types

import pytest

from pgcopy_fast.errors import InterfaceError


def test_startup_message_matches_golden_bytes(impl: types.ModuleType) -> None:
    buf = impl.WriteBuffer()
    buf.start_message()
    buf.write_int32(196608)
    buf.write_cstr("user")
    buf.write_cstr("bob")
    buf.write_byte(0)
    buf.end_message()
    assert buf.getvalue() == b"\x00\x00\x00\x12\x00\x03\x00\x00user\x00bob\x00\x00"


def test_query_message_matches_golden_bytes(impl: types.ModuleType) -> None:
    buf = impl.WriteBuffer()
    buf.start_message(b"Q")
    buf.write_cstr(b"SELECT 1")
    buf.end_message()
    assert buf.getvalue() == b"Q\x00\x00\x00\x0dSELECT 1\x00"


def test_integers_are_big_endian_twos_complement(impl: types.ModuleType) -> None:
    buf = impl.WriteBuffer()
    buf.write_int16(-2)
    buf.write_int32(0x01020304)
    buf.write_int64(-0x8000000000000000)
    buf.write_byte(255)
    assert buf.getvalue() == (
        b"\xff\xfe" + b"\x01\x02\x03\x04" + b"\x80" + b"\x00" * 7 + b"\xff"
    )


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("write_byte", 256),
        ("write_byte", -1),
        ("write_int16", 0x8000),
        ("write_int16", -0x8001),
        ("write_int32", 2**31),
        ("write_int64", 2**63),
        ("write_int64", -(2**200)),
    ],
)
def test_out_of_range_integers_raise_overflow_error(
    impl: types.ModuleType, method: str, value: int
) -> None:
    buf = impl.WriteBuffer()
    with pytest.raises(
        OverflowError, match=f"{method}\\(\\) value out of range: {value}"
    ):
        getattr(buf, method)(value)
    assert len(buf) == 0


def test_non_int_raises_type_error(impl: types.ModuleType) -> None:
    with pytest.raises(TypeError, match=r"write_int32\(\) requires an int, not str"):
        impl.WriteBuffer().write_int32("1")


def test_cstr_refuses_nul_and_non_text(impl: types.ModuleType) -> None:
    buf = impl.WriteBuffer()
    with pytest.raises(ValueError, match="NUL"):
        buf.write_cstr("a\x00b")
    with pytest.raises(TypeError, match="not int"):
        buf.write_cstr(5)
    assert len(buf) == 0


def test_message_nesting_and_unopened_end_are_interface_errors(
    impl: types.ModuleType,
) -> None:
    buf = impl.WriteBuffer()
    with pytest.raises(InterfaceError, match="no message is open"):
        buf.end_message()
    buf.start_message(b"d")
    assert buf.in_message
    with pytest.raises(InterfaceError, match="already open"):
        buf.start_message(b"d")
    with pytest.raises(ValueError, match="single byte"):
        impl.WriteBuffer().start_message(b"dd")


def test_copy_data_batch_leaves_as_one_message_without_copy(
    impl: types.ModuleType,
) -> None:
    buf = impl.WriteBuffer(16)
    buf.start_message(b"d")
    for i in range(10_000):  # grows far past the initial size
        buf.write_int32(i)
    buf.end_message()
    with buf.view() as view:
        assert len(view) == 5 + 40_000
        assert bytes(view[:5]) == b"d" + (40_004).to_bytes(4, "big")
        assert bytes(view[-4:]) == (9_999).to_bytes(4, "big")
        with pytest.raises(BufferError):
            buf.write_int32(1)  # growing would move memory the view points at
        with pytest.raises(BufferError):
            buf.clear()
    buf.clear()
    assert len(buf) == 0 and not buf.in_message
    buf.write_bytes(bytearray(b"ok"))
    buf.write_bytes(memoryview(b"!"))
    assert buf.getvalue() == b"ok!"


def test_write_bytes_refuses_str(impl: types.ModuleType) -> None:
    with pytest.raises(
        TypeError, match="write_bytes\\(\\) requires a bytes-like object, not str"
    ):
        impl.WriteBuffer().write_bytes("text")
