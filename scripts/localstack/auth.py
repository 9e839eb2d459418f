"""Local users and their tokens, and the signing keys, as Supabase Auth would make them.

The local stack has no Auth server. A user is a row inserted into `auth.users`
(an admin through `raw_app_meta_data.role`, never `user_metadata`) and a token
is signed here with the claims Supabase Auth puts in one: HS256 with the
project's legacy secret, or ES256 with the stack's own key, whose public half
the gateway publishes as the JWKS. PyJWT and cryptography are imported inside
the functions that need them, so the command line can start without them and
re-run itself in the virtualenv.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

from .config import ES256_KID, Stack, StackError
from .postgres import psql


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def es256_key(stack: Stack) -> object:
    """The stack's own ES256 signing key, made once; its public half goes in the JWKS."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    path = stack.dir / "es256.pem"
    if path.exists():
        return serialization.load_pem_private_key(path.read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.touch(mode=0o600)
    path.write_bytes(pem)
    return key


def jwks(stack: Stack) -> dict[str, list[dict[str, str]]]:
    """Every key PostgREST accepts: the HS256 secret and the ES256 public key."""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = es256_key(stack)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    numbers = key.public_key().public_numbers()
    es256 = {
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": ES256_KID,
        "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big")),
    }  # fmt: skip
    legacy = {"kty": "oct", "alg": "HS256", "k": b64url(stack.jwt_secret.encode())}
    return {"keys": [legacy, es256]}


def public_jwks(stack: Stack) -> dict[str, list[dict[str, str]]]:
    """The keys anyone may see, as hosted Supabase publishes them: no symmetric secret."""
    return {"keys": [key for key in jwks(stack)["keys"] if key["kty"] != "oct"]}


def _require_local(stack: Stack) -> None:
    """Refuse to create users anywhere but a database this package bootstrapped."""
    marker = psql(stack, "-A", "-t", "-c", "select current_setting('app.local_stack', true)")
    if marker.strip() != "on":
        raise StackError("refusing to create users: this database is not a local stack")


_UPSERT_USER = """
  insert into auth.users (instance_id, id, aud, role, email, email_confirmed_at,
                          raw_app_meta_data, raw_user_meta_data, created_at, updated_at)
  values ('00000000-0000-0000-0000-000000000000', (:'id')::uuid, 'authenticated',
          'authenticated', :'email', now(), (:'app')::jsonb, (:'meta')::jsonb, now(), now())
  on conflict do nothing;
  -- Asking for an admin makes an existing user one too (never the reverse), as staff
  -- would through the Auth admin API's app_metadata.
  update auth.users
     set raw_app_meta_data = coalesce(raw_app_meta_data, '{}') || '{"role": "admin"}',
         updated_at = now()
   where email = :'email' and :admin
     and coalesce(raw_app_meta_data ->> 'role', '') <> 'admin';
  select id, raw_app_meta_data, raw_user_meta_data from auth.users where email = :'email';
"""


def create_user(stack: Stack, email: str, *, admin: bool = False, user_id: str | None = None,
                user_metadata: dict[str, object] | None = None) -> dict[str, object]:  # fmt: skip
    """Insert (or find) a user in auth.users, as Supabase Auth would for an email signup."""
    _require_local(stack)
    app_metadata: dict[str, object] = {"provider": "email", "providers": ["email"]}
    if admin:
        app_metadata["role"] = "admin"
    user = {
        "id": user_id or str(uuid.uuid4()),
        "email": email,
        "app_metadata": app_metadata,
        "user_metadata": user_metadata or {},
    }
    out = psql(
        stack, "-A", "-t", "-F", "\t",
        "-v", f"id={user['id']}", "-v", f"email={email}",
        "-v", f"app={json.dumps(app_metadata)}", "-v", f"meta={json.dumps(user['user_metadata'])}",
        "-v", f"admin={'true' if admin else 'false'}",
        what="creating the user", input=_UPSERT_USER,
    )  # fmt: skip
    row = out.strip().splitlines()[-1].split("\t")
    user.update(id=row[0], app_metadata=json.loads(row[1]), user_metadata=json.loads(row[2]))
    return user


def mint_token(stack: Stack, user: dict[str, object], *, lifetime_seconds: int = 3600,
               algorithm: str = "HS256") -> str:  # fmt: skip
    """An access token with the claims Supabase Auth puts in one."""
    import jwt

    now = int(time.time())
    claims = {
        "iss": stack.issuer, "sub": user["id"], "aud": "authenticated",
        "exp": now + lifetime_seconds, "iat": now, "email": user["email"], "phone": "",
        "app_metadata": user["app_metadata"], "user_metadata": user["user_metadata"],
        "role": "authenticated", "aal": "aal1",
        "amr": [{"method": "password", "timestamp": now}],
        "session_id": str(uuid.uuid4()), "is_anonymous": False,
    }  # fmt: skip
    if algorithm == "ES256":
        return jwt.encode(claims, es256_key(stack), algorithm="ES256", headers={"kid": ES256_KID})  # type: ignore[arg-type]
    return jwt.encode(claims, stack.jwt_secret, algorithm="HS256")
