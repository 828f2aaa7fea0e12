"""PGCOPY_FAST_IMPL picks the twin; the compiled one is the default."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.kernel_free


def _impl_in_subprocess(value: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PGCOPY_FAST_IMPL", None)
    if value is not None:
        env["PGCOPY_FAST_IMPL"] = value
    return subprocess.run(
        [sys.executable, "-c", "import pgcopy_fast; print(pgcopy_fast.__impl__)"],
        capture_output=True,
        text=True,
        env=env,
    )


@pytest.mark.parametrize("impl", ["c"], indirect=True)
def test_compiled_twin_is_loaded_by_default(impl) -> None:
    result = _impl_in_subprocess(None)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "c"


@pytest.mark.parametrize("impl", ["c"], indirect=True)
def test_asking_for_c_loads_c(impl) -> None:
    result = _impl_in_subprocess("c")
    assert result.stdout.strip() == "c", result.stderr


@pytest.mark.parametrize("impl", ["py"], indirect=True)
def test_asking_for_python_loads_the_pure_twin(impl) -> None:
    result = _impl_in_subprocess("python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "python"


@pytest.mark.parametrize("impl", ["py"], indirect=True)
def test_unknown_impl_value_is_an_import_error(impl) -> None:
    result = _impl_in_subprocess("rust")
    assert result.returncode != 0
    assert "PGCOPY_FAST_IMPL must be 'c' or 'python', not 'rust'" in result.stderr


@pytest.mark.parametrize("impl", ["py"], indirect=True)
def test_asking_for_c_when_it_cannot_load_is_an_import_error(impl) -> None:
    # sys.modules[name] = None makes that import fail as a missing build would.
    code = (
        "import os, sys; sys.modules['pgcopy_fast.kernels._core_c'] = None; "
        "os.environ['PGCOPY_FAST_IMPL'] = 'c'\n"
        "try:\n    import pgcopy_fast\nexcept ImportError:\n    print('refused')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip() == "refused", result.stderr


@pytest.mark.parametrize("impl", ["py"], indirect=True)
def test_default_falls_back_to_python_when_c_cannot_load(impl) -> None:
    code = (
        "import sys; sys.modules['pgcopy_fast.kernels._core_c'] = None; "
        "import pgcopy_fast; print(pgcopy_fast.__impl__)"
    )
    env = {k: v for k, v in os.environ.items() if k != "PGCOPY_FAST_IMPL"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert result.stdout.strip() == "python", result.stderr
