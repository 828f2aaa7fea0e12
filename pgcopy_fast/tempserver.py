"""A throwaway PostgreSQL cluster started from the installed server binaries.

Used by the test suite, the benchmarks and the command line's
``--temp-server``: ``initdb`` into a temporary directory, start ``postgres``
on a free loopback port and a private Unix socket directory, and remove it
all on ``stop()``.  ``initdb`` and ``postgres`` refuse to run as root, so
when we are root they run as the ``postgres`` OS user.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

__all__ = ["TempServer", "find_bindir", "ServerNotFound"]


class ServerNotFound(RuntimeError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) were found."""


def _version_key(path: str) -> tuple[int, ...]:
    name = os.path.basename(os.path.dirname(path))
    return tuple(int(p) for p in name.split(".") if p.isdigit())


def find_bindir() -> str:
    """Return the directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looks at ``$PGCOPY_FAST_PG_BINDIR``, then ``/usr/lib/postgresql/*/bin``
    (newest first), then ``pg_config --bindir``, then ``$PATH``.

    Raises:
        ServerNotFound: none of them has the server binaries.
    """
    candidates: list[str] = []
    if os.environ.get("PGCOPY_FAST_PG_BINDIR"):
        candidates.append(os.environ["PGCOPY_FAST_PG_BINDIR"])
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True
    )
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True
            ).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.CalledProcessError):
            pass
    postgres = shutil.which("postgres")
    if postgres:
        candidates.append(os.path.dirname(postgres))
    for bindir in candidates:
        if all(
            os.access(os.path.join(bindir, exe), os.X_OK)
            for exe in ("initdb", "pg_ctl", "postgres")
        ):
            return bindir
    raise ServerNotFound(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found; "
        "install the server (Debian: apt-get install postgresql) or set "
        "PGCOPY_FAST_PG_BINDIR"
    )


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class TempServer:
    """A private PostgreSQL cluster; ``with TempServer() as srv: srv.dsn``.

    ``conf`` adds postgresql.conf settings; ``hba`` replaces pg_hba.conf's
    lines (trust for everything local when not given); ``files`` are written
    into the data directory before start (certificates, say) as name -> bytes.
    """

    conf: dict[str, str] = field(default_factory=dict)
    hba: list[str] | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    superuser: str = "postgres"
    base_dir: str = ""
    port: int = 0
    bindir: str = ""
    _as_user: str | None = None
    _running: bool = False

    @property
    def socket_dir(self) -> str:
        """The directory of the server's Unix socket (a libpq ``host``)."""
        return self.base_dir

    @property
    def data_dir(self) -> str:
        """The cluster's data directory."""
        return os.path.join(self.base_dir, "data")

    @property
    def dsn(self) -> str:
        """A key=value DSN reaching the superuser over the Unix socket."""
        return (
            f"host={self.socket_dir} port={self.port} "
            f"user={self.superuser} dbname=postgres"
        )

    def _run(self, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(args),
            user=self._as_user,
            capture_output=True,
            text=True,
            check=True,
            cwd=self.base_dir,
            **kwargs,
        )

    def _chown(self, path: str) -> None:
        if self._as_user:
            shutil.chown(path, self._as_user, self._as_user)

    def start(self) -> TempServer:
        """initdb and start the server, waiting until it accepts connections.

        Raises:
            ServerNotFound: no server binaries.
            RuntimeError: initdb or the server failed (with its log).
        """
        self.bindir = self.bindir or find_bindir()
        self._as_user = "postgres" if os.geteuid() == 0 else None
        if self.base_dir:  # a directory of the caller's (the scratch server's)
            os.makedirs(self.base_dir, mode=0o700)
        else:
            self.base_dir = tempfile.mkdtemp(prefix="pgcopy_fast-")
        self._chown(self.base_dir)
        self.port = self.port or free_port()
        try:
            self._run(
                os.path.join(self.bindir, "initdb"),
                "-D",
                self.data_dir,
                "-U",
                self.superuser,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            )
            settings = {
                "port": str(self.port),
                "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{self.socket_dir}'",
                # A throwaway cluster needs no durability; this keeps tests fast.
                "fsync": "off",
                "synchronous_commit": "off",
                "full_page_writes": "off",
                "max_connections": "40",
                **self.conf,
            }
            with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
                for key, value in settings.items():
                    f.write(f"{key} = {value}\n")
            if self.hba is not None:
                with open(os.path.join(self.data_dir, "pg_hba.conf"), "w") as f:
                    f.write("\n".join(self.hba) + "\n")
            for name, content in self.files.items():
                path = os.path.join(self.data_dir, name)
                with open(path, "wb") as fb:
                    fb.write(content)
                os.chmod(path, 0o600)
                self._chown(path)
            self._run(
                os.path.join(self.bindir, "pg_ctl"),
                "-D",
                self.data_dir,
                "-l",
                os.path.join(self.base_dir, "server.log"),
                "-w",
                "-t",
                "60",
                "start",
            )
        except subprocess.CalledProcessError as exc:
            log = self.log()
            self._cleanup()
            raise RuntimeError(
                f"starting PostgreSQL failed: {exc.stderr or exc.stdout}\n{log}"
            ) from exc
        self._running = True
        return self

    def restart(self) -> TempServer:
        """Start the cluster already in ``base_dir`` again (on a free port).

        Its data is kept: a scratch server that a reboot stopped.

        Raises:
            RuntimeError: the server failed to start (with its log).
        """
        self._as_user = "postgres" if os.geteuid() == 0 else None
        self.port = free_port()
        with open(os.path.join(self.data_dir, "postgresql.conf"), "a") as f:
            f.write(f"port = {self.port}\n")  # the last setting wins
        try:
            self._run(
                os.path.join(self.bindir, "pg_ctl"), "-D", self.data_dir,
                "-l", os.path.join(self.base_dir, "server.log"),
                "-w", "-t", "60", "start",
            )  # fmt: skip
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"restarting PostgreSQL failed: {exc.stderr or exc.stdout}\n"
                f"{self.log()}"
            ) from exc
        self._running = True
        return self

    def log(self) -> str:
        """The server's log so far ("" when there is none)."""
        try:
            with open(os.path.join(self.base_dir, "server.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop the server and remove its directory (safe to call twice)."""
        if self._running:
            self._running = False
            try:
                self._run(
                    os.path.join(self.bindir, "pg_ctl"),
                    "-D",
                    self.data_dir,
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                )
            except subprocess.CalledProcessError:
                pass
        self._cleanup()

    def _cleanup(self) -> None:
        if self.base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> TempServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
