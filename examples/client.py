"""A frontend's calls through supabase-py: the same code for `make run` and a hosted project.

Only the environment differs: SUPABASE_URL and SUPABASE_ANON_KEY (from
`make env` locally, from the project's API settings when hosted) and the
signed-in user's ACCESS_TOKEN (from `make token` locally, from Supabase Auth
when hosted). It reads the user's accounts through PostgREST under row-level
security, then asks the `accounts` function for the same list, and prints both
as one JSON object. tests/integration/test_examples.py runs it.

    .venv/bin/python examples/client.py
"""

from __future__ import annotations

import json
import os

import httpx

from supabase import ClientOptions, create_client


def main() -> None:
    token = os.environ["ACCESS_TOKEN"]
    options = ClientOptions(
        headers={"Authorization": f"Bearer {token}"},
        httpx_client=httpx.Client(timeout=httpx.Timeout(10.0)),
    )
    supabase = create_client(os.environ["SUPABASE_URL"], os.environ["SUPABASE_ANON_KEY"], options)
    # Amounts in the tables are integers of minor units; the functions speak decimal strings.
    rows = supabase.table("accounts").select("id, currency, balance").order("created_at").execute()
    listed = supabase.functions.invoke("accounts", {"method": "GET", "responseType": "json"})
    print(json.dumps({"table": rows.data, "function": listed}))


if __name__ == "__main__":
    main()
