"""The architecture's one hard rule: the engine imports only domain, ports, itself and stdlib."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import data4r2

SRC = Path(data4r2.__file__).parent
ALLOWED_LOCAL = {"domain", "ports", "engine"}


def imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in a file: level > 0 for relative imports."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append((node.level, node.module or ""))
    return out


def test_engine_imports_only_domain_ports_and_stdlib() -> None:
    files = sorted((SRC / "engine").glob("*.py"))
    assert len(files) > 5
    for path in files:
        for level, module in imports(path):
            top = module.split(".")[0]
            if level == 0:
                assert top in sys.stdlib_module_names or top == "__future__", (path.name, module)
            elif level > 1:  # `..x`: outside engine/ (level 1 is a sibling inside it)
                assert top in ALLOWED_LOCAL, (path.name, module)


def test_domain_and_ports_import_nothing_third_party() -> None:
    for name in ("domain.py", "ports.py"):
        for level, module in imports(SRC / name):
            top = module.split(".")[0]
            assert level > 0 or top in sys.stdlib_module_names or top == "__future__", module


def test_only_the_cli_prints() -> None:
    for path in SRC.rglob("*.py"):
        if "cli" in path.relative_to(SRC).parts:
            continue
        calls = [
            n
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not calls, path
