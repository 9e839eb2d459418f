"""The shared shape of a money-moving call: idempotency key, checked amount, replay header.

`transfer_funds`, `admin_deposit` and `admin_withdraw` all answer with the
transfer and `"replayed": true` when the idempotency key was seen before with
the same request; the first answer was 201, so the replay is 201 too, with the
same body and `Idempotent-Replayed: true`.
"""

from __future__ import annotations

from typing import Any

from ._http import Context, Reply, json_reply
from ._public import transfer_public

__all__ = ["transfer_reply"]


async def transfer_reply(ctx: Context, result: dict[str, Any]) -> Reply:
    headers = {"Idempotent-Replayed": "true"} if result.get("replayed") is True else {}
    return json_reply(201, await transfer_public(result, ctx.runtime.currencies), headers)
