"""A bare functions-framework hello world: the cold-start baseline for the functions.

`hello` is a plain function (Flask mode); `hello_async` the same for ASGI mode
(`--asgi`), so the baseline always runs in the mode the real functions use.
"""

from __future__ import annotations

from typing import Any


def hello(request: Any) -> str:
    return "hello"


async def hello_async(request: Any) -> str:
    return "hello"
