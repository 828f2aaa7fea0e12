"""The two twins are one spec: same names, signatures, bytes and exceptions.

These tests use both modules at once, so they ignore the ``impl`` fixture's
choice (they run under both ids, which costs little and keeps one rule).
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import pytest
from conftest import core_c as _core_c
from conftest import core_py
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(_core_c is None, reason="compiled twin not built")
#: The compiled twin (every test here is skipped without it).
core_c = cast(types.ModuleType, _core_c)


def _public(obj: Any) -> list[str]:
    return sorted(n for n in dir(obj) if not n.startswith("_"))


def _params(func: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    sig = inspect.signature(func)
    return [(p.name, p.kind, p.default) for p in sig.parameters.values()]


def test_twins_export_the_same_names() -> None:
    assert core_py.__all__ == core_c.__all__
    for name in core_py.__all__:
        py_obj, c_obj = getattr(core_py, name), getattr(core_c, name)
        if isinstance(py_obj, type):
            assert _public(py_obj) == _public(c_obj), name


def _stub() -> ast.Module:
    path = Path(core_py.__file__).with_name("_core_c.pyi")
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _stub_params(func: ast.FunctionDef) -> list[str]:
    args = func.args
    names = [a.arg for a in (*args.posonlyargs, *args.args)]
    if args.vararg:
        names.append("*" + args.vararg.arg)
    names += [a.arg for a in args.kwonlyargs]
    if args.kwarg:
        names.append("**" + args.kwarg.arg)
    return names


def _py_params(func: Callable[..., Any]) -> list[str]:
    names = []
    for p in inspect.signature(func).parameters.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            names.append("*" + p.name)
        elif p.kind is inspect.Parameter.VAR_KEYWORD:
            names.append("**" + p.name)
        else:
            names.append(p.name)
    return names


def test_the_stub_declares_what_the_twins_export() -> None:
    """_core_c.pyi, the compiled module and the pure one: the same public names."""
    stub = _stub()
    defined: dict[str, ast.stmt] = {}
    declared_all: list[str] | None = None
    for node in stub.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            defined[node.name] = node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined[node.target.id] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                assert isinstance(target, ast.Name)
                if target.id == "__all__":
                    declared_all = ast.literal_eval(node.value)
                else:
                    defined[target.id] = node
    public = {name for name in defined if not name.startswith("_")}
    assert declared_all == core_py.__all__
    assert public == set(core_py.__all__) == set(core_c.__all__)
    for name in core_py.__all__:
        assert hasattr(core_c, name) and hasattr(core_py, name), name

    # Each class's public members, its stub bases' included, and their
    # parameter names are those of the pure twin (whose own parity with the
    # compiled one the tests above check).
    for name in public:
        node, py_obj = defined[name], getattr(core_py, name)
        if isinstance(node, ast.FunctionDef):
            assert _stub_params(node) == _py_params(py_obj), name
            continue
        if not isinstance(node, ast.ClassDef):
            continue
        members: dict[str, ast.FunctionDef] = {}
        chain = [node]
        while chain:
            cls = chain.pop()
            for item in cls.body:
                if isinstance(item, ast.FunctionDef):
                    members.setdefault(item.name, item)
            for base in cls.bases:
                assert isinstance(base, ast.Name)
                parent = defined[base.id]
                assert isinstance(parent, ast.ClassDef)
                chain.append(parent)
        assert sorted(m for m in members if not m.startswith("_")) == _public(py_obj)
        for member, func in members.items():
            if member.startswith("__") and member != "__init__":
                continue
            py_attr = inspect.getattr_static(py_obj, member)
            if isinstance(py_attr, property):
                assert py_attr.fget is not None
                py_attr = py_attr.fget
            assert _stub_params(func) == _py_params(py_attr), f"{name}.{member}"


def test_twins_have_the_same_signatures() -> None:
    for name in core_py.__all__:
        py_obj, c_obj = getattr(core_py, name), getattr(core_c, name)
        if not isinstance(py_obj, type):
            continue
        # A cdef class's __init__ is a slot wrapper with no signature, so the
        # constructors are compared by behaviour in test_constructors_agree.
        for attr in _public(py_obj):
            py_attr = getattr(py_obj, attr)
            if callable(py_attr):
                c_attr = getattr(c_obj, attr)
                assert _params(py_attr) == _params(c_attr), f"{name}.{attr}"
                assert inspect.getdoc(py_attr) == inspect.getdoc(c_attr), attr


def _buffer_len(module: types.ModuleType, size_hint: Any) -> int:
    return len(module.WriteBuffer(size_hint))


def test_constructors_agree() -> None:
    for arg in (0, 16, -1, 2**40, "x", None):
        py = _outcome(functools.partial(_buffer_len, core_py, arg))
        c = _outcome(functools.partial(_buffer_len, core_c, arg))
        assert py == c, arg
    assert len(core_c.WriteBuffer(size_hint=8)) == len(core_py.WriteBuffer(size_hint=8))


_CONSTRUCTOR_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("TextEncoder", {}),
    ("TextEncoder", {"delimiter": "ab"}),
    ("TextEncoder", {"delimiter": 1}),
    ("TextEncoder", {"delimiter": "\u00e9"}),
    ("TextEncoder", {"delimiter": "\\"}),
    ("TextEncoder", {"delimiter": "x"}),
    ("TextEncoder", {"null": "a\nb"}),
    ("TextEncoder", {"null": None}),
    ("TextDecoder", {"delimiter": ""}),
    ("TextDecoder", {"null": "\r"}),
    ("CsvEncoder", {"quote": ","}),
    ("CsvEncoder", {"quote": "'", "delimiter": "'"}),
    ("CsvEncoder", {"delimiter": 7, "quote": 8}),
    ("CsvEncoder", {"quote": ",", "null": 3}),
    ("CsvDecoder", {"quote": ","}),
    ("CsvDecoder", {"quote": "ab"}),
    ("CsvDecoder", {"null": 3}),
    ("BinaryEncoder", {"types": "int4"}),
    ("BinaryEncoder", {"types": 4}),
    ("BinaryEncoder", {"types": ["int4", "hstore"]}),
    ("BinaryEncoder", {"types": ["int4"], "element_oids": [1, 2]}),
    ("BinaryEncoder", {"types": ["_text"], "element_oids": [25]}),
    ("BinaryDecoder", {}),
    ("BinaryDecoder", {"types": b"int4"}),
    ("BinaryDecoder", {"types": ("int4", "nope")}),
]


@pytest.mark.parametrize(("name", "kwargs"), _CONSTRUCTOR_CALLS)
def test_constructor_checks_agree(name: str, kwargs: dict[str, Any]) -> None:
    """The argument checks (one Python function for both twins) answer alike."""
    py = _outcome(lambda: type(getattr(core_py, name)(**kwargs)).__name__)
    c = _outcome(lambda: type(getattr(core_c, name)(**kwargs)).__name__)
    assert py == c


def _outcome(func: Callable[[], Any]) -> Any:
    try:
        return ("ok", func())
    except Exception as exc:  # the point is to compare whatever is raised
        return ("raised", type(exc), str(exc))


_values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.binary(max_size=20),
    st.text(max_size=10),
    st.none(),
    st.floats(allow_nan=False),
    st.booleans(),
)
_ops = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "write_byte",
                "write_int16",
                "write_int32",
                "write_int64",
                "write_bytes",
                "write_cstr",
                "start_message",
                "end_message",
                "clear",
            ]
        ),
        _values,
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(ops=_ops)
def test_write_buffers_agree_on_any_sequence_of_calls(
    ops: list[tuple[str, Any]],
) -> None:
    twins = [core_py.WriteBuffer(), core_c.WriteBuffer()]
    for method, value in ops:
        results = []
        for buf in twins:
            func = getattr(buf, method)
            if method in ("end_message", "clear"):
                results.append(_outcome(func))
            else:
                results.append(_outcome(functools.partial(func, value)))
        assert results[0] == results[1], (method, value)
        assert twins[0].getvalue() == twins[1].getvalue()
        assert twins[0].in_message == twins[1].in_message


def _run_reader(
    module: types.ModuleType, pieces: list[bytes], modes: list[int]
) -> list[Any]:
    reader = module.FrameReader()
    log: list[Any] = []
    for i, piece in enumerate(pieces):
        reader.feed(piece)
        for _ in range(3):
            mode = modes[i % len(modes)]
            if mode == 2:
                out = _outcome(lambda: bytes(reader.drain_copy_bytes()))
            elif mode:
                out = _outcome(lambda: [bytes(p) for p in reader.drain_copy_data()])
            else:
                out = _outcome(reader.next_message)
                if out[0] == "ok" and out[1] is not None:
                    out = ("ok", (out[1][0], bytes(out[1][1])))
            log.append(out)
            if out[0] == "raised":
                return log
        log.append(reader.buffered)
    return log


@settings(max_examples=400, deadline=None)
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=12),
    modes=st.lists(st.integers(min_value=0, max_value=2), min_size=1, max_size=4),
)
def test_frame_readers_agree_on_random_garbage(
    data: bytes, cuts: list[int], modes: list[int]
) -> None:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    pieces = [data[a:b] for a, b in itertools.pairwise(bounds)]
    assert _run_reader(core_py, pieces, modes) == _run_reader(core_c, pieces, modes)


_messages = st.lists(
    st.tuples(st.sampled_from([b"d", b"c", b"D", b"Z", b"N"]), st.binary(max_size=40)),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(messages=_messages, step=st.integers(min_value=1, max_value=17))
def test_valid_streams_round_trip_in_any_fragmentation(
    messages: list[tuple[bytes, bytes]], step: int
) -> None:
    stream = b"".join(t + (len(p) + 4).to_bytes(4, "big") + p for t, p in messages)
    for module in (core_py, core_c):
        reader = module.FrameReader()
        got = []
        for i in range(0, len(stream), step):
            reader.feed(stream[i : i + step])
            while True:
                drained = reader.drain_copy_data()
                got += [(b"d", bytes(p)) for p in drained]
                m = reader.next_message()
                if m is None:
                    break
                got.append((m[0], bytes(m[1])))
        assert got == messages


@pytest.mark.parametrize(
    "length", [3, 4, 29999, 30000, 30001, 0x3FFFFFFF, 0x40000000, 0x40000001, -1]
)
def test_frame_readers_agree_on_every_type_byte_at_the_length_bounds(
    length: int,
) -> None:
    # The long types (consts.LONG_MESSAGE_TYPES) take up to 1 GiB, every
    # other byte up to 30000: refused or waited for alike, at the header.
    for byte in range(256):
        header = bytes([byte]) + length.to_bytes(4, "big", signed=True)
        logs = [
            _run_reader(module, [header], [0, 1, 2]) for module in (core_py, core_c)
        ]
        assert logs[0] == logs[1], (header, logs)
