"""Each function answers as the README's deploy section says, run the way its host runs it.

A Cloud Run function is `functions-framework --target=<name> --asgi` on its own,
from the repository root, and gets every request on its URL with the path
unchanged. Each target is started that way here, against the test stack: it
answers its own paths (with the function's name as the first segment), a 404
in the error envelope elsewhere, and `router` also serves `/openapi.json`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ROOT, StackHandle

pytestmark = pytest.mark.integration

# A path of each target's that answers without a token, or refuses for want of one.
OWN_PATH = {
    "accounts": ("GET", "/accounts", 401),
    "transfers": ("GET", "/transfers/00000000-0000-4000-8000-000000000000", 401),
    "holds": ("GET", "/holds/00000000-0000-4000-8000-000000000000", 401),
    "loans": ("GET", "/loans", 401),
    "admin": ("POST", "/admin/deposits", 401),
    "health": ("GET", "/health", 200),
    "webhooks": ("POST", "/webhooks/payments", 400),
}


def _serve(stack: StackHandle, target: str, port: int) -> subprocess.Popen[bytes]:
    framework = Path(sys.executable).parent / "functions-framework"
    argv = [str(framework), f"--target={target}", "--source=main.py", "--asgi",
            "--host=127.0.0.1", f"--port={port}"]  # fmt: skip
    env = {**os.environ, **stack.config.env()}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip


def _wait(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the function exited at start ({process.returncode})"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url} within 30 s")


@pytest.fixture
def deployed(stack: StackHandle) -> Iterator[dict[str, str]]:
    """Every target on a port of its own, next to the test stack's functions port."""
    processes, urls = [], {}
    try:
        for offset, target in enumerate([*OWN_PATH, "router"], start=10):
            port = stack.config.functions_port + offset
            processes.append(_serve(stack, target, port))
            urls[target] = f"http://127.0.0.1:{port}"
        for process, url in zip(processes, urls.values(), strict=True):
            _wait(url, process)
        yield urls
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def test_each_function_answers_its_own_paths_and_only_those(deployed: dict[str, str]) -> None:
    for target, (method, path, status) in OWN_PATH.items():
        own = httpx.request(method, deployed[target] + path, timeout=10)
        assert own.status_code == status, (target, own.text)
        others = [(m, p) for other, (m, p, _) in OWN_PATH.items() if other != target]
        for other_method, elsewhere in [("GET", "/"), *others]:
            refused = httpx.request(other_method, deployed[target] + elsewhere, timeout=10)
            assert refused.status_code == 404, (target, elsewhere, refused.text)
            assert refused.json()["error"]["code"] == "not_found"


def test_the_router_serves_every_function_and_the_openapi_document(
    deployed: dict[str, str],
) -> None:
    document = httpx.get(deployed["router"] + "/openapi.json", timeout=10)
    assert document.status_code == 200
    assert document.json()["openapi"].startswith("3.1")
    for method, path, status in OWN_PATH.values():
        assert httpx.request(method, deployed["router"] + path, timeout=10).status_code == status
