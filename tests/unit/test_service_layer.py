"""service/ is an edge: it gets its adapters from app.py (the composition root) and never
imports hub/, sinks/ or state/ itself, nor the composition root."""

from __future__ import annotations

from .test_layers import SRC, imports

ADAPTERS = {"hub", "sinks", "state", "app"}


def test_the_service_builds_no_adapter() -> None:
    files = sorted((SRC / "service").glob("*.py"))
    assert len(files) > 8
    for path in files:
        for level, module in imports(path):
            if level == 2:  # `..x`: a sibling of service/ in the package
                assert module.split(".")[0] not in ADAPTERS, (path.name, module)
            if level == 0:
                assert not module.startswith("data4r2."), (path.name, module)
