"""Child processes of a stack: spawn with a log and a pidfile, wait, stop, reap.

Every long-running part of a stack (PostgREST, nginx, the functions server) is
started here in its own session, logging to `.stack/<name>/logs/<part>.log`,
with its pid in `.stack/<name>/run/<part>.pid`. A pid counts as alive only
while `/proc/<pid>/cmdline` still names the expected program, so a stale
pidfile whose number the kernel reused is never mistaken for the stack. As
root, Postgres's own tools run as the `postgres` system user through `runuser`,
because Postgres refuses to run as root.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .config import ROOT, Stack, StackError

# Children this process started, by pidfile, so stopping them also reaps them.
_CHILDREN: dict[Path, subprocess.Popen[bytes]] = {}


def is_root() -> bool:
    return os.geteuid() == 0


def as_postgres(argv: list[str]) -> list[str]:
    """Postgres refuses to run as root; as root, run its tools as `postgres`."""
    if not is_root():
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


def run(argv: list[str], what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; a failure becomes a StackError naming `what`."""
    result = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise StackError(f"{what} failed:\n{output}")
    return result


def port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.2)
        if probe.connect_ex(("127.0.0.1", port)) != 0:
            return False
        # A connection to itself (see config.DEFAULTS) means nobody else listens there.
        return bool(probe.getsockname() != probe.getpeername())


def require_free(port: int, variable: str) -> None:
    if port_open(port):
        raise StackError(
            f"port {port} is already in use by another program; "
            f"stop it or choose another port with {variable}=<port>"
        )


def pid_alive(pidfile: Path, expected: str) -> int | None:
    """The pid in `pidfile` if that process is alive and is still `expected`."""
    try:
        pid = int(pidfile.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    return pid if expected in cmdline else None


def spawn(
    argv: list[str], name: str, stack: Stack, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    stack.log_dir.mkdir(parents=True, exist_ok=True)
    with (stack.log_dir / f"{name}.log").open("ab") as log:
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )
    pidfile = stack.run_dir / f"{name}.pid"
    pidfile.write_text(str(process.pid))
    _CHILDREN[pidfile] = process
    return process


def stop_pid(pidfile: Path, expected: str) -> None:
    """SIGTERM the process group, SIGKILL it after 5 s, and reap it if it is ours."""
    pid = pid_alive(pidfile, expected)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while pid_alive(pidfile, expected) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pidfile, expected):
            os.killpg(pid, signal.SIGKILL)
    child = _CHILDREN.pop(pidfile, None)
    if child is not None:
        child.wait(timeout=5)
    pidfile.unlink(missing_ok=True)


def wait_http(url: str, name: str, stack: Stack, process: subprocess.Popen[bytes]) -> None:
    """Wait until `url` answers below 500, or fail with the tail of the part's log."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{name} exited at start:\n{log_tail(stack, name)}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except (OSError, http.client.HTTPException):
            pass  # not listening yet, or a self-connection answered with our own request
        time.sleep(0.05)
    raise StackError(f"{name} did not answer at {url} within 30 s:\n{log_tail(stack, name)}")


def log_tail(stack: Stack, name: str, lines: int = 20) -> str:
    path = stack.log_dir / f"{name}.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
