"""All SQL of a dialect lives in one file here, read into a dict (procrastinate's sql/__init__.py).

A `{dialect}.sql` file is a series of blocks, each opened by `-- name: query_name` and a
one-line `-- description`. Python code only ever writes `queries["claim"]`, so every
statement can be read, reviewed and run by hand in one place.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import LiteralString, cast

_HEADER = re.compile(r"^-- name: (\w+)[ \t]*$", re.MULTILINE)


def parse_queries(text: str) -> Mapping[str, LiteralString]:
    """Split `text` at its `-- name:` lines; refuse a duplicate name or an undescribed block."""
    pieces = _HEADER.split(text)[1:]  # [name, body, name, body, ...]
    queries: dict[str, LiteralString] = {}
    for name, body in zip(pieces[::2], pieces[1::2], strict=True):
        if name in queries:
            raise ValueError(f"SQL block {name!r} is defined twice")
        if not body.lstrip("\n").startswith("-- "):
            raise ValueError(f"SQL block {name!r} needs a one-line '-- description'")
        # The text comes from our own package file, never from input: a literal in spirit,
        # which is what psycopg's typed execute() asks for.
        queries[name] = cast(LiteralString, body.strip())
    return MappingProxyType(queries)


def load_queries(dialect: str) -> Mapping[str, LiteralString]:
    """The named blocks of `state/sql/{dialect}.sql`, shipped as package data."""
    text = resources.files(__package__).joinpath(f"{dialect}.sql").read_text(encoding="utf-8")
    return parse_queries(text)
