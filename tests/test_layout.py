"""The package's shape: generated modules current, no import cycles, no dead rooms.

These run once (they never reach a kernel).
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import IN_CI, core_c

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "pgcopy_fast"

pytestmark = pytest.mark.kernel_free

_spec = importlib.util.spec_from_file_location(
    "async_to_sync", ROOT / "tools" / "async_to_sync.py"
)
assert _spec is not None and _spec.loader is not None
async_to_sync = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(async_to_sync)


def _modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def test_generated_modules_are_what_their_sources_give() -> None:
    assert async_to_sync.main(["--check"]) == 0


def test_a_hand_edit_of_a_generated_module_is_caught(tmp_path: Path) -> None:
    for source, target in async_to_sync.PAIRS:
        for name in (source, target):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / name, tmp_path / name)
    _, target = async_to_sync.PAIRS[1]
    edited = tmp_path / target
    edited.write_text(edited.read_text().replace("def execute(", "def execute_(", 1))
    assert async_to_sync.main(["--check", "--root", str(tmp_path)]) == 1
    async_to_sync.main(["--root", str(tmp_path)])  # regenerating repairs it
    assert edited.read_text() == (ROOT / target).read_text()
    assert async_to_sync.main(["--check", "--root", str(tmp_path)]) == 0


def test_generation_strips_async_and_keeps_the_blocking_branch() -> None:
    source = (
        '"""Doc of ``AsyncThing``.\n\nThis file is the source of ``blocking.py``.\n"""\n'
        "import asyncio\n\n\n"
        "async def go(conn: AsyncConnection) -> None:\n"
        "    async with conn.copy_in('x') as cp:\n"
        "        await cp.write(b'')\n"
        "    if True:  # ASYNC\n"
        "        await asyncio.sleep(0)\n"
        "    else:\n"
        "        conn.flush()\n"
        "    async for row in conn.rows():\n"
        "        print(row)  # await nothing\n"
    )
    out = async_to_sync.generate(source, "a.py", "b.py")
    assert "async" not in out.replace("async_to_sync", "")
    assert "await" not in out and "asyncio" not in out
    assert "def go(conn: Connection) -> None:" in out
    assert '    with conn.copy_in("x") as cp:\n        cp.write(b"")' in out
    assert "    conn.flush()\n" in out
    assert "This file is the source" not in out
    assert out.startswith("# WARNING: generated from a.py")


#: The compiled twin has no .py; it must import alone too.
COMPILED = "pgcopy_fast.kernels._core_c"


@pytest.mark.parametrize("module", [*_modules(), COMPILED])
def test_every_module_imports_alone_in_a_fresh_interpreter(module: str) -> None:
    if module == COMPILED and core_c is None and not IN_CI:
        pytest.skip("the compiled twin is not built")
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def _imports(path: Path, module: str) -> set[str]:
    """The package modules ``module`` imports, at any level (TYPE_CHECKING too)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("pgcopy_fast"):
                continue
            found.add(target)
            for alias in node.names:
                found.add(f"{target}.{alias.name}")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pgcopy_fast"))
    return found


def test_no_import_cycles_between_modules() -> None:
    """Not even at type level; a package importing its own rooms is not a cycle."""
    modules = set(_modules())
    paths = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        paths[".".join(parts)] = path
    graph = {
        name: {m for m in _imports(paths[name], name) if m in modules and m != name}
        for name in modules
    }
    # A package's __init__ re-exporting its own modules (and the root
    # re-exporting the public names) is the facade, not a dependency.
    for name, targets in graph.items():
        if paths[name].name == "__init__.py":
            graph[name] = {t for t in targets if not t.startswith(name + ".")}
    graph["pgcopy_fast"] = set()

    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert cycles == []


def test_generated_files_say_so() -> None:
    for source, target in async_to_sync.PAIRS:
        text = (ROOT / target).read_text()
        assert text.startswith(f"# WARNING: generated from {source}")


@pytest.mark.skipif(sys.version_info < (3, 11), reason="tomllib is 3.11+")
def test_every_test_module_is_in_the_mypy_test_override() -> None:
    # mypy names each file of tests/ after itself and takes no "test_*" glob,
    # so pyproject.toml lists them; a file left out is checked as strictly as
    # the package.
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert "tests" in config["files"]
    relaxed = {
        name
        for override in config["overrides"]
        if override.get("disallow_untyped_defs") is False
        for name in override["module"]
    }
    here = {path.stem for path in (ROOT / "tests").glob("*.py")}
    assert sorted(here - relaxed) == []
