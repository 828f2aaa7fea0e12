"""``pgcopy-fast server start|stop|status``: a scratch server that stays up.

A throwaway cluster (the one ``--temp-server`` uses) that outlives the
command: ``start`` prints its DSN as a ``postgresql://`` URI; the cluster
runs until ``stop``, which stops it and removes its directory.  It lives in
the user's state directory (``$XDG_STATE_HOME/pgcopy_fast/cluster``, by
default under ``~/.local/state``) beside the state file that records it
(``server.json``), so any later command finds it, and a ``start`` after a
reboot starts the same cluster again with its tables.  Run as root, the
server runs as the ``postgres`` OS user (``initdb`` refuses root), which
cannot reach root's home: the cluster is then in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

from ..tempserver import ServerNotFound, TempServer, find_bindir


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def state_path() -> str:
    """Where the running scratch server is recorded."""
    return os.path.join(_state_dir(), "server.json")


def _state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(base, "pgcopy_fast")


def _uri(state: dict[str, Any]) -> str:
    return f"postgresql://postgres@127.0.0.1:{state['port']}/postgres"


def _load() -> dict[str, Any] | None:
    try:
        with open(state_path()) as f:
            state: dict[str, Any] = json.load(f)
            return state
    except (OSError, ValueError):
        return None


def _server(state: dict[str, Any]) -> TempServer:
    srv = TempServer(
        base_dir=state["base_dir"], port=state["port"], bindir=state["bindir"]
    )
    srv._as_user = state.get("as_user")
    srv._running = True
    return srv


def _alive(state: dict[str, Any]) -> bool:
    srv = _server(state)
    try:
        srv._run(os.path.join(srv.bindir, "pg_ctl"), "-D", srv.data_dir, "status")
    except (subprocess.CalledProcessError, OSError):
        return False
    return True


def cmd_server(args: argparse.Namespace) -> int:
    """``server start|stop|status``."""
    state = _load()
    if args.action == "status":
        if state is None or not _alive(state):
            print("pgcopy-fast: no scratch server is running", file=sys.stderr)
            return 1
        print(_uri(state))
        return 0
    if args.action == "stop":
        if state is None:
            print("pgcopy-fast: no scratch server is running", file=sys.stderr)
            return 1
        _server(state).stop()
        os.remove(state_path())
        print("pgcopy-fast: scratch server stopped", file=sys.stderr)
        return 0
    if state is not None and _alive(state):
        print(_uri(state))
        return 0
    # root's home is out of the postgres user's reach: a temporary directory
    cluster = os.path.join(_state_dir(), "cluster") if os.geteuid() != 0 else ""
    again = "scratch server started again (its tables kept)"
    try:
        if state is not None and os.path.isdir(_server(state).data_dir):
            srv, said = _server(state).restart(), again  # stopped by a reboot
        elif cluster and os.path.isdir(os.path.join(cluster, "data")):
            srv, said = (
                TempServer(base_dir=cluster, bindir=find_bindir()).restart(),
                again,
            )
        else:
            srv, said = TempServer(base_dir=cluster).start(), "scratch server started"
    except (ServerNotFound, RuntimeError, OSError) as exc:
        print(f"pgcopy-fast: error: {_first_line(exc)}", file=sys.stderr)
        return 1
    state = {
        "base_dir": srv.base_dir,
        "port": srv.port,
        "bindir": srv.bindir,
        "as_user": srv._as_user,
    }
    os.makedirs(os.path.dirname(state_path()), exist_ok=True)
    with open(state_path(), "w") as f:
        json.dump(state, f)
    print(_uri(state))
    print(f"pgcopy-fast: {said}; `pgcopy-fast server stop` removes it", file=sys.stderr)
    return 0


def add_parser(sub: Any) -> None:
    """The ``server`` subcommand."""
    server = sub.add_parser(
        "server",
        help="a scratch PostgreSQL that stays up until stopped (prints its DSN)",
    )
    server.add_argument("action", choices=["start", "stop", "status"])
    server.set_defaults(func=cmd_server, quiet=False)
