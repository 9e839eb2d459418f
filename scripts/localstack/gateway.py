"""The API gateway: nginx in front of PostgREST and the functions, on one origin.

It gives the stack the hosted project's shape, as `supabase start`'s Kong does:
`/rest/v1/` is PostgREST, `/auth/v1/.well-known/jwks.json` the public signing
keys, `/functions/v1/<function>/...` the functions server (each function sees
the path it sees when deployed), and `/app/` the example web app in `web/`.
Supabase's own clients work against it unchanged. The configuration is written
under `.stack/<name>/gateway/` at each start; as root, nginx's workers run as
`nobody` and can read nothing private of the stack's.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
from pathlib import Path

from . import config
from .auth import public_jwks
from .config import ROOT, Stack, StackError
from .processes import is_root, pid_alive, require_free, run, spawn, wait_http

# Kong's `cors` plugin with its defaults, as Supabase's local gateway runs it on every
# route: a preflight (OPTIONS with Origin and Access-Control-Request-Method) is answered
# by the gateway itself, 200, any origin, the requested headers echoed; every other
# response gets `Access-Control-Allow-Origin: *`, replacing the upstream's own.
_KONG_CORS = """
        if ($cors_preflight) {
            add_header Access-Control-Allow-Origin * always;
            add_header Access-Control-Allow-Methods "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT" always;
            add_header Access-Control-Allow-Headers $http_access_control_request_headers always;
            return 200;
        }
        proxy_hide_header Access-Control-Allow-Origin;
        add_header Access-Control-Allow-Origin * always;"""  # noqa: E501

NO_AUTH_SERVER_MESSAGE = (
    "The local stack has no Auth server: /auth/v1 serves only /.well-known/jwks.json. "
    "Mint an access token for a user with `make token EMAIL=you@example.com [ADMIN=1]` and give it "
    "to the client (supabase-js: the accessToken option; supabase-py: an Authorization header)."
)
_TEMP_KINDS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_bin() -> str:
    # Read through the module, so a test can point the lookup at a missing binary.
    for candidate in config.NGINX_CANDIDATES:
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nginx")
    if found is None:
        raise StackError(
            "nginx is missing: the stack's API gateway (the Supabase-shaped origin on "
            "/rest/v1, /auth/v1, /functions/v1) runs on it. Install it with "
            "`apt-get install nginx-light` (as root), then start again."
        )
    return found


def _json_body(code: str, message: str) -> str:
    """An error envelope as an nginx string; nginx fills in its own $request_id."""
    envelope = {"code": code, "message": message, "details": None, "request_id": "@ID@"}
    body = json.dumps({"error": envelope}).replace('"@ID@"', '"$request_id"')
    assert "'" not in body, "a gateway message needs no nginx escaping"
    assert "\\" not in body, "a gateway message needs no nginx escaping"
    assert "$" not in body.replace("$request_id", ""), "nginx would expand it as a variable"
    return f"'{body}'"


def _server_block(stack: Stack) -> str:
    no_auth = _json_body("not_implemented", NO_AUTH_SERVER_MESSAGE)
    no_route = _json_body(
        "not_found",
        "no such route: the gateway serves /rest/v1/, /auth/v1/, /functions/v1/ and /app/",
    )
    return f"""    server {{
        listen 127.0.0.1:{stack.gateway_port};

        location /rest/v1/ {{{_KONG_CORS}
            proxy_pass http://postgrest/;
        }}

        location = /auth/v1/.well-known/jwks.json {{{_KONG_CORS}
            alias {stack.public_jwks_path};
        }}

        location /auth/v1/ {{{_KONG_CORS}
            return 501 {no_auth};
        }}

        # Each function sees the paths it sees when deployed: /functions/v1/transfers/x
        # reaches the functions server as /transfers/x. The functions answer CORS themselves.
        location /functions/v1/ {{
            proxy_pass http://functions/;
        }}

        # The example web app (web/) and the one browser build of supabase-js it loads,
        # from the project's own npm dependencies: nothing comes from a CDN.
        location = /app {{ return 301 /app/; }}
        location /app/vendor/supabase.js {{
            alias {ROOT / "node_modules/@supabase/supabase-js/dist/umd/supabase.js"};
            default_type text/javascript;
        }}
        location /app/ {{
            alias {ROOT / "web"}/;
            index index.html;
            # nginx alone knows only html, gif and jpg: module scripts must come as JavaScript
            # and stylesheets as CSS, or the browser refuses them.
            types {{
                text/html html; text/javascript js; text/css css;
                application/json json; image/png png; image/svg+xml svg;
            }}
        }}

        location / {{
            return 404 {no_route};
        }}
    }}"""


def nginx_conf(stack: Stack) -> str:
    gw = stack.gateway_dir
    user = "user nobody nogroup;\n" if is_root() else ""
    temp = "\n".join(f"    {kind}_temp_path {gw / 'tmp' / kind};" for kind in _TEMP_KINDS)
    return f"""# scripts/localstack/gateway.py writes this at each start of stack '{stack.name}'.
{user}daemon off;
worker_processes 1;
pid {gw / "nginx.pid"};
error_log {stack.log_dir / "gateway.log"} warn;
events {{ worker_connections 1024; }}

http {{
    access_log off;
    server_tokens off;
    default_type application/json;
    client_max_body_size 8m;
{temp}

    # Kept-alive upstream connections: a new TCP connection per request would add to
    # every call what the gateway is meant not to add.
    upstream postgrest {{ server 127.0.0.1:{stack.rest_port}; keepalive 16; }}
    upstream functions {{ server 127.0.0.1:{stack.functions_port}; keepalive 16; }}
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_set_header Host $http_host;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto $scheme;
    # Supabase's gateway lets a function run for 150 s.
    proxy_read_timeout 150s;

    map "$request_method|$http_origin|$http_access_control_request_method" $cors_preflight {{
        default 0;
        "~^OPTIONS\\|.+\\|.+$" 1;
    }}

{_server_block(stack)}
}}
"""


def write_files(stack: Stack) -> Path:
    gw = stack.gateway_dir
    for kind in _TEMP_KINDS:
        (gw / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    if is_root():
        # nginx's workers drop to `nobody`: they write request bodies under tmp/ and read
        # the public JWKS, and can read nothing private of the stack's.
        nobody = pwd.getpwnam("nobody")
        for path in (gw / "tmp", *(gw / "tmp").iterdir()):
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
    stack.public_jwks_path.write_text(json.dumps(public_jwks(stack)))
    stack.public_jwks_path.chmod(0o644)
    conf = gw / "nginx.conf"
    conf.write_text(nginx_conf(stack))
    return conf


def start(stack: Stack) -> None:
    if pid_alive(stack.run_dir / "gateway.pid", "nginx"):
        return
    nginx = nginx_bin()
    require_free(stack.gateway_port, stack.port_variable("GATEWAY"))
    conf = write_files(stack)
    argv = [nginx, "-p", f"{stack.gateway_dir}/", "-e", str(stack.log_dir / "gateway.log"),
            "-c", str(conf)]  # fmt: skip
    run([*argv, "-t", "-q"], "checking the gateway's nginx configuration")
    process = spawn(argv, "gateway", stack)
    wait_http(stack.jwks_url, "gateway", stack, process)
