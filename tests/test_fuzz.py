"""Short, deterministic runs of the fuzz harness (tools/fuzz.py), and its findings.

The long runs are ``python tools/fuzz.py --seconds 600`` (README, "Fuzzing").
Here every target gets a few hundred inputs from fixed seeds, with no time
limit: a hang shows as a step limit, never as a timing assertion.  Each run
compares both twins, so the ``impl`` id only picks the seed (the two ids
cover different inputs).  The findings of the harness are regression tests
below, as explicit bytes.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from conftest import core_c, core_py

from pgcopy_fast.errors import ProtocolError
from pgcopy_fast.protocol.events import NoticeResponse, RowDescription
from pgcopy_fast.protocol.machine import ClientProtocol, State

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location(
    "pgcopy_fast_fuzz", ROOT / "tools" / "fuzz.py"
)
assert _spec is not None and _spec.loader is not None
fuzz = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = fuzz  # dataclasses look their module up
_spec.loader.exec_module(fuzz)

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
#: Inputs per target and per twin id: the whole file stays within seconds.
INPUTS = 300


def msg(msgtype: bytes, payload: bytes) -> bytes:
    return msgtype + struct.pack(">i", len(payload) + 4) + payload


def _seed(impl: types.ModuleType, base: int) -> int:
    return base + (0 if impl.IMPL == "c" else 1)


def _explain(report: Any) -> str:
    lines = [report.summary()]
    for finding in report.findings[:5]:
        lines += [str(finding), repr(finding.data[:200]), finding.detail[:1500]]
    return "\n".join(lines)


# -- the harness itself --------------------------------------------------------------


def test_the_seeds_are_clean_in_both_twins() -> None:
    """Unmutated, every seed goes through without an error or a finding."""
    seeds = fuzz.load_seeds()
    assert len(seeds.server) == 3 and seeds.binary and seeds.text and seeds.csv
    twins = [t for t in (core_py, core_c) if t is not None]
    cases: list[Any] = []
    for i, data in enumerate(seeds.server):
        cases += [fuzz.Input(t, i, data, [], [0, 1, 2]) for t in ("frames", "protocol")]
    for i, (types_, data) in enumerate(seeds.binary):
        cases.append(fuzz.Input("binary", i, data, [], [0], types_))
    for target in ("text", "csv"):
        for i, (variant, data) in enumerate(getattr(seeds, target)):
            cases.append(fuzz.Input(target, i, data, [], [0], None, variant))
    for inp in cases:
        assert fuzz.check(inp, twins) == []
        for twin in twins:
            out = fuzz.RUNNERS[inp.target](twin, inp)
            assert out.error is None, (inp.target, inp.index, out.error)
    # a captured session replays to its last ReadyForQuery (after which the
    # driver sends the next query)
    replay = fuzz.run_protocol(core_py, cases[3])
    assert replay.log[-3].startswith("ReadyForQuery(")
    assert replay.log[-1] == ("state", "busy", "A")


def test_inputs_are_reproducible_from_the_seed_and_index() -> None:
    seeds = fuzz.load_seeds()
    for target in fuzz.TARGETS:
        a = fuzz.make_input(seeds, target, 7, 42)
        b = fuzz.make_input(seeds, target, 7, 42)
        assert (a.data, a.cuts, a.modes, a.types) == (b.data, b.cuts, b.modes, b.types)


def _fake_twin(**overrides: Any) -> types.ModuleType:
    twin = types.ModuleType("fake_twin")
    for name in core_py.__all__:
        setattr(twin, name, getattr(core_py, name))
    for name, value in {"IMPL": "fake", **overrides}.items():
        setattr(twin, name, value)
    return twin


class _CrashingDecoder(core_py.BinaryDecoder):  # type: ignore[misc]
    def decode(self, payloads: Any) -> Any:
        raise IndexError("out of range")


class _StuckReader(core_py.FrameReader):  # type: ignore[misc]
    def next_message(self) -> Any:
        return (b"N", memoryview(b""))  # never consumes anything


class _UnboundedReader(core_py.FrameReader):  # type: ignore[misc]
    def _header(self) -> Any:
        if not self._ensure(5):
            return None
        length = int.from_bytes(self._buf[self._pos + 1 : self._pos + 5], "big")
        return self._buf[self._pos : self._pos + 1], length


class _OtherReader(core_py.FrameReader):  # type: ignore[misc]
    def next_message(self) -> Any:
        m = super().next_message()
        return m if m is None else (b"?", m[1])


def test_the_harness_reports_each_kind_of_finding() -> None:
    binary = fuzz.Input("binary", 0, SIGNATURE + b"\xff\xff", [], [0], ("int4",))
    frames = fuzz.Input("frames", 0, msg(b"Z", b"I") + msg(b"C", b"x\0"), [3], [0])
    stuck = fuzz.Input("frames", 0, msg(b"N", b""), [], [0])
    huge = fuzz.Input("frames", 0, b"C" + (0x10000000).to_bytes(4, "big"), [], [0])

    def kinds(inp: Any, twin: types.ModuleType) -> list[str]:
        return sorted({f.kind for f in fuzz.check(inp, [core_py, twin])})

    assert kinds(binary, core_py) == []
    assert kinds(binary, _fake_twin(BinaryDecoder=_CrashingDecoder)) == [
        "crash",
        "twins",
    ]
    assert kinds(frames, _fake_twin(FrameReader=_OtherReader)) == ["twins"]
    assert "hang" in kinds(stuck, _fake_twin(FrameReader=_StuckReader))
    assert kinds(huge, core_py) == []
    assert kinds(huge, _fake_twin(FrameReader=_UnboundedReader)) == ["hang", "twins"]


# -- short runs ----------------------------------------------------------------------


@pytest.mark.parametrize("target", ["frames", "protocol", "binary", "text", "csv"])
def test_a_short_fuzz_run_finds_nothing(impl: types.ModuleType, target: str) -> None:
    report = fuzz.run(inputs=INPUTS, seed=_seed(impl, 1000), targets=[target])
    assert report.inputs == INPUTS
    assert report.findings == [], _explain(report)


# -- findings, as regression tests ------------------------------------------------------


def _check(inp: Any) -> None:
    twins = [t for t in (core_py, core_c) if t is not None]
    findings = fuzz.check(inp, twins)
    assert findings == [], "\n".join(f"{f}\n{f.detail}" for f in findings)


def test_finding_copy_data_before_a_bad_header_is_not_lost() -> None:
    # The drains consumed the complete CopyData messages and then raised for
    # the corrupt header after them: cut before the header, the same bytes
    # gave those messages; whole, they were lost.
    data = msg(b"d", b"row 1\n") + msg(b"d", b"row 2\n") + b"d\x00\x00\x00\x02"
    for modes in ([1], [2]):
        _check(fuzz.Input("frames", 0, data, [len(data) - 5], modes))
    session = fuzz.load_seeds().startup + msg(b"H", b"\0\0\0") + data
    for modes in ([1], [2], [0]):
        _check(fuzz.Input("protocol", 0, session, [len(session) - 5], modes))


def test_finding_empty_copy_data_before_a_bad_header() -> None:
    # drain_copy_bytes: b"" from the pure twin, ProtocolError from the other.
    data = msg(b"d", b"") + b"\xe0J\x8e4\xd6R\xf9$9(\xdf\xe1\xee\xea"
    _check(fuzz.Input("frames", 0, data, [], [2]))
    _check(fuzz.Input("frames", 0, data, [5], [1, 2]))


def test_finding_deep_json_is_a_decode_error() -> None:
    # json.loads recursed past Python's limit: RecursionError, not DecodeError.
    for pg_type, value in (("json", b"[" * 3000), ("jsonb", b"\x01" + b'{"a":' * 2000)):
        data = SIGNATURE + b"\0\1" + struct.pack(">i", len(value)) + value + b"\xff\xff"
        _check(fuzz.Input("binary", 0, data, [], [0], (pg_type,)))


def test_finding_array_dimensions_whose_product_overflows() -> None:
    dims = b"".join(struct.pack(">ii", 0x7FFFFFFF, 1) for _ in range(3))
    value = struct.pack(">iiI", 3, 0, 23) + dims
    data = SIGNATURE + b"\0\1" + struct.pack(">i", len(value)) + value + b"\xff\xff"
    _check(fuzz.Input("binary", 0, data, [], [0], ("_int4",)))


def test_finding_many_short_strings_parse_in_linear_time() -> None:
    # Each string of a message was found in a copy of the rest of the
    # payload: a 1 MiB NoticeResponse of 2-byte fields took minutes.
    proto = ClientProtocol()
    proto.startup({"user": "u"})
    proto.receive_data(msg(b"R", b"\0\0\0\0") + msg(b"Z", b"I"))
    proto.next_event()
    proto.next_event()
    fields = b"".join(bytes([c]) + b"x\0" for c in range(65, 91)) * 13000
    columns = b"".join(b"c\0" + bytes(18) for _ in range(30000))
    proto.query("SELECT")
    proto.receive_data(msg(b"N", fields + b"\0") + msg(b"T", b"\x75\x30" + columns))
    notice = proto.next_event()
    assert isinstance(notice, NoticeResponse) and len(notice.fields) == 26
    description = proto.next_event()
    assert isinstance(description, RowDescription)
    assert len(description.columns) == 30000


def test_a_huge_short_message_closes_the_protocol_at_its_header() -> None:
    proto = ClientProtocol()
    proto.startup({"user": "u"})
    proto.receive_data(msg(b"R", b"\0\0\0\0") + msg(b"Z", b"I"))
    proto.next_event()
    proto.next_event()
    proto.query("SELECT 1")
    proto.receive_data(b"C" + (0x10000000).to_bytes(4, "big"))
    with pytest.raises(ProtocolError, match="lost synchronization"):
        proto.next_event()
    assert proto.state is State.CLOSED
