"""`python3 scripts/stack.py <command>`: the local stack's command line.

The stack itself is the package `scripts/localstack/`; this file only makes
sure it runs inside the project's virtualenv, then hands over to
`scripts/localstack/cli.py`. `make run`, `make token` and the other stack
targets call it with .venv's interpreter.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _ensure_virtualenv() -> None:
    """Run inside the project's virtualenv: tokens need PyJWT and cryptography, which only
    it has, so `python3 scripts/stack.py ...` re-runs itself with .venv's interpreter."""
    try:
        import cryptography  # noqa: F401
        import jwt  # noqa: F401
    except ModuleNotFoundError:
        venv_python = ROOT / ".venv" / "bin" / "python"
        if venv_python.exists() and Path(sys.prefix).resolve() != venv_python.parent.parent:
            os.execv(venv_python, [str(venv_python), __file__, *sys.argv[1:]])
        raise SystemExit(
            "stack: PyJWT is missing: run `make install` (it creates .venv), then `make token` "
            "or `.venv/bin/python scripts/stack.py ...`"
        ) from None


if __name__ == "__main__":
    _ensure_virtualenv()
    # Run as a file, Python puts scripts/ first on the path; the package lives at the root.
    sys.path.insert(0, str(ROOT))
    from scripts.localstack.cli import main

    sys.exit(main())
