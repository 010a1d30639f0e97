"""The design card, checked: the core imports no platform, and nothing is built at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

PLATFORM_LIBRARIES = ("slack_bolt", "slack_sdk", "discord", "apscheduler")
PACKAGES = ("digest_core", "adapters", "bot")
# Module-level calls that only declare things (constants, patterns, loggers, migration registries).
DECLARATIVE_CALLS = {
    "logging.getLogger",
    "re.compile",
    "frozenset",
    "TypeVar",
    "ContextVar",  # the docs ask for context variables to be made at module level
    "Migrations",
    "ZoneInfo",
    "timedelta",
    "time",
    "FetchTuning",
    "IdAuthority",
    "tuple",
    "dict",
    "set",
    "Setting",
    "namedtuple",
    "object",
    "float",
    "int",
    "str",
    "Prompt",
    "str.maketrans",
    "_word_set",
    "threading.Lock",  # guards a module-level cache that threads share
}


def modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def imported_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", modules("digest_core"), ids=lambda p: p.name)
def test_the_core_imports_no_platform_library(path: Path) -> None:
    assert not imported_names(path) & set(PLATFORM_LIBRARIES)


@pytest.mark.parametrize("path", modules("digest_core") + modules("adapters"), ids=str)
def test_only_the_bot_package_composes(path: Path) -> None:
    assert "bot" not in imported_names(path), "the core and the adapters never reach into bot/"


def test_each_adapter_imports_only_its_own_platform() -> None:
    for path in modules("adapters/slack"):
        assert "discord" not in imported_names(path), path
    for path in modules("adapters/discord"):
        assert not imported_names(path) & {"slack_bolt", "slack_sdk"}, path


@pytest.mark.parametrize("path", [p for package in PACKAGES for p in modules(package)], ids=str)
def test_module_level_code_only_declares(path: Path) -> None:
    for node in ast.parse(path.read_text()).body:
        value = getattr(node, "value", None)
        if isinstance(node, ast.Assign | ast.AnnAssign | ast.Expr) and isinstance(value, ast.Call):
            called = ast.unparse(value.func)
            assert called.split(".")[-1] in {c.split(".")[-1] for c in DECLARATIVE_CALLS}, (
                f"{path.relative_to(REPO)}:{node.lineno} calls {called} at import time"
            )


def test_importing_everything_opens_no_database_and_no_connection(tmp_path: Path) -> None:
    names = [
        ".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for package in PACKAGES
        for p in modules(package)
    ]
    script = (
        "import importlib, socket, sqlite3, sys\n"
        "def refuse(*a, **k): raise SystemExit('network or database touched at import: %r' % (a,))\n"
        "socket.socket.connect = refuse\n"
        "sqlite3.connect = refuse\n"
        f"for name in {names!r}: importlib.import_module(name)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert list(tmp_path.iterdir()) == []
