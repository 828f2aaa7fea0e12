"""Shared fixtures: the kernel twin under test and a throwaway PostgreSQL.

Every test that can reach a kernel runs once per twin (ids ``c`` and
``py``): the ``impl`` fixture rebinds the names of ``pgcopy_fast.kernels.core``
to the twin, so the protocol and facade layers above use it too.  Tests
marked ``kernel_free`` run once.  Integration tests take ``pg_server``: the
server named by ``PGCOPY_FAST_TEST_DSN``, or a private cluster started from
the installed binaries for the session.  Without either they skip, except
under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import importlib
import os
import shutil
import types
from collections.abc import Iterator
from typing import Any

import pytest
from pgsetup import TLSFiles, create_roles_sql, server_options

import pgcopy_fast as pcf
import pgcopy_fast.kernels._core_py as core_py
import pgcopy_fast.kernels.core as selected
from pgcopy_fast.connection.conninfo import resolve
from pgcopy_fast.tempserver import ServerNotFound, TempServer

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

try:
    core_c: types.ModuleType | None = importlib.import_module(
        "pgcopy_fast.kernels._core_c"
    )
except ImportError:
    core_c = None

TWINS = {"c": core_c, "py": core_py}


#: For tests that compare the two twins: without the compiled one they skip,
#: except under CI, where the missing twin must fail them.
both_twins = pytest.mark.skipif(
    core_c is None and not IN_CI, reason="compiled twin not built"
)


def encode(core: types.ModuleType, encoder: Any, rows: list[Any]) -> bytes:
    """A whole stream (header, rows, trailer) from one of ``core``'s encoders."""
    buf = core.WriteBuffer()
    encoder.header(buf)
    for row in rows:
        encoder.encode_row(buf, row)
    encoder.trailer(buf)
    return bytes(buf.getvalue())


def require(module: str) -> Any:
    """Import an optional test dependency: skip without it, but fail under CI.

    Under CI a missing driver or data library would hide the tests that
    need it, so there it is a failure, never a skip.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{module} is needed by the tests under CI: {exc}")
        pytest.skip(f"{module} is not installed", allow_module_level=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "kernel_free: the test never reaches a kernel, so it runs once, not per twin",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # Kernel tests (and every test that copies data) run once per twin;
    # tests of pure logic (conninfo, errors, statements, layout) run once.
    if "impl" not in metafunc.fixturenames:
        return
    for mark in metafunc.definition.iter_markers("parametrize"):
        if "impl" in str(mark.args[0]):
            return  # the test picks its twins itself
    if metafunc.definition.get_closest_marker("kernel_free"):
        metafunc.parametrize("impl", ["selected"], indirect=True, ids=["once"])
    else:
        metafunc.parametrize("impl", ["c", "py"], indirect=True)


@pytest.fixture(autouse=True)
def impl(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> types.ModuleType:
    """The kernel module under test; ``pgcopy_fast.kernels.core`` points at it too."""
    if request.param == "selected":
        return selected
    module = TWINS[request.param]
    if module is None:
        if IN_CI:
            pytest.fail("the compiled twin pgcopy_fast.kernels._core_c did not build")
        pytest.skip("the compiled twin pgcopy_fast.kernels._core_c is not built")
    for name in selected.__all__:
        monkeypatch.setattr(selected, name, getattr(module, name))
    return module


class Server:
    """How tests reach the server: a DSN plus the parts the raw tests need."""

    def __init__(
        self,
        dsn: str,
        host: str,
        port: int,
        user: str,
        dbname: str,
        temp: TempServer | None = None,
    ) -> None:
        self.dsn = dsn
        self.host = host
        self.port = port
        self.user = user
        self.dbname = dbname
        self.temp = temp
        self.tls: TLSFiles | None = None

    def connect(self, **kwargs: object) -> pcf.Connection:
        """A new pgcopy_fast connection to this server."""
        return pcf.connect(self.dsn, **kwargs)


@pytest.fixture
def conn(pg_server: Server) -> Iterator[pcf.Connection]:
    """A fresh superuser connection, closed after the test."""
    with pg_server.connect() as c:
        yield c


def _server_from_env(dsn: str) -> Server:
    params = resolve(dsn)
    host, port = params.hosts[0]
    return Server(dsn, host, port, params.user, params.dbname)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """A reachable PostgreSQL for the whole session."""
    env_dsn = os.environ.get("PGCOPY_FAST_TEST_DSN")
    if env_dsn:
        yield _server_from_env(env_dsn)
        return
    tls = TLSFiles()
    try:
        temp = TempServer(**server_options(tls)).start()  # type: ignore[arg-type]
    except ServerNotFound as exc:
        if IN_CI:
            pytest.fail(f"no PostgreSQL for the integration tests under CI: {exc}")
        pytest.skip(f"no PostgreSQL for the integration tests: {exc}")
    try:
        with pcf.connect(temp.dsn) as admin:
            admin.execute(create_roles_sql())
        server = Server(
            temp.dsn, temp.socket_dir, temp.port, temp.superuser, "postgres", temp
        )
        server.tls = tls
        yield server
    finally:
        temp.stop()
        shutil.rmtree(tls.dir, ignore_errors=True)


_integration = {"collected": 0, "passed": 0}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "pg_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
            _integration["collected"] += 1


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed and "integration" in report.keywords:
        _integration["passed"] += 1


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # Under CI a run whose integration tests all skipped proves nothing.
    if IN_CI and _integration["collected"] and not _integration["passed"]:
        session.exitstatus = 1
        print("\nCI: integration tests were collected but none ran against a server")


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"pgcopy_fast twins: c={'built' if core_c else 'MISSING'}, py=ok; "
        f"default selection: {selected.IMPL}"
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # One line per twin (and one for the tests that run once), so a run
    # shows that both twins were exercised.
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            nodeid = getattr(report, "nodeid", "")
            twin = next((t for t in ("c", "py", "once") if f"[{t}" in nodeid), None)
            if twin and report.when in ("call", "setup"):
                if outcome != "passed" or report.when == "call":
                    counts.setdefault(twin, {}).setdefault(outcome, 0)
                    counts[twin][outcome] += 1
    for twin, by_outcome in sorted(counts.items()):
        summary = ", ".join(f"{n} {k}" for k, n in sorted(by_outcome.items()))
        terminalreporter.write_line(f"twin {twin}: {summary}")
