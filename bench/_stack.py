"""The local stack script (scripts/stack.py), loaded as the module `stack`.

The test suite's conftest loads the same file under the same name; reusing
that module keeps one registry of the processes the stack started.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent


def load() -> ModuleType:
    loaded = sys.modules.get("stack")
    if loaded is not None and hasattr(loaded, "Stack"):
        return loaded
    spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts" / "stack.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["stack"] = module
    spec.loader.exec_module(module)
    return module
