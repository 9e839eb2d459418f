"""Hello world with the libraries the functions are required to use, and nothing else.

The baseline of `cold_start_vs_imports`: the same functions-framework ASGI
server answering "hello", after importing the libraries the functions must
use (functions-framework, pydantic, pydantic-settings, PyJWT with its
cryptography backend, postgrest). The transfers function's cold start over this
is what the functions' own code and setup cost.
"""

from __future__ import annotations

from typing import Any

import jwt
import postgrest
import pydantic
import pydantic_settings

REQUIRED = (jwt, postgrest, pydantic, pydantic_settings)


async def hello_async(request: Any) -> str:
    return "hello"
