"""`--include/--exclude` mean exactly what `snapshot_download(allow_patterns=…,
ignore_patterns=…)` means: our `select` (the engine imports no huggingface_hub) is compared
with the installed huggingface_hub's `filter_repo_objects` on every pair of a few thousand."""

from __future__ import annotations

import itertools
import random

import pytest
from huggingface_hub.utils import filter_repo_objects

from data4r2.domain import RemoteFile
from data4r2.engine.plan import select

PATHS = [
    "config.json",
    "README.md",
    ".gitattributes",
    ".hidden/x.json",
    "data/train/part-0.parquet",
    "data/test/part-0.parquet",
    "data/file.json",
    "data/sub/file.json",
    "data2/file.json",
    "weights/model.safetensors",
    "weights/model-00001-of-00002.safetensors",
    "onnx/model.onnx",
    "Tokenizer.JSON",
    "dir with space/file name.txt",
    "hash#tag.txt",
    "100%.txt",
    "x:y.txt",
    "[bracket].txt",
    "ünïcødé/файл.txt",
    "a\\b.txt",  # a backslash is a separator to huggingface_hub 2.x, a character to git
    "a/b.txt",
]
PATTERNS = [
    "*",
    "*.json",
    "*.JSON",
    "data/*",
    "data/",
    "data/*.json",
    "data*/",
    "*/file.json",
    "*.safetensors",
    "model-0000?-of-*.safetensors",
    "[!.]*",
    ".*",
    "[[]bracket].txt",
    "*%*",
    "x:*",
    "onnx/",
    "a/b.txt",
    "a\\b.txt",
    "a\\",
    "README.md",
    "nothing-matches",
    "ünïcødé/*",
]


def _supported(pattern_or_path: str) -> bool:
    """huggingface_hub 1.x matched backslashes literally; compare them only where 2.x rules."""
    normalizes = list(filter_repo_objects(["a\\b"], allow_patterns=["a/b"])) == ["a\\b"]
    return normalizes or "\\" not in pattern_or_path


def hf(paths: list[str], include: list[str], exclude: list[str]) -> list[str]:
    return sorted(
        filter_repo_objects(paths, allow_patterns=include or None, ignore_patterns=exclude or None)
    )


def ours(paths: list[str], include: list[str], exclude: list[str]) -> list[str]:
    files = [RemoteFile(p, 0, "") for p in paths]
    return [f.path for f in select(files, tuple(include), tuple(exclude))]


PATHS_HERE = [p for p in PATHS if _supported(p)]
PATTERNS_HERE = [p for p in PATTERNS if _supported(p)]


def test_no_patterns_keeps_everything_sorted() -> None:
    assert ours(PATHS_HERE, [], []) == sorted(PATHS_HERE) == hf(PATHS_HERE, [], [])


@pytest.mark.parametrize("pattern", PATTERNS_HERE)
def test_one_include_or_exclude_pattern(pattern: str) -> None:
    assert ours(PATHS_HERE, [pattern], []) == hf(PATHS_HERE, [pattern], [])
    assert ours(PATHS_HERE, [], [pattern]) == hf(PATHS_HERE, [], [pattern])


def test_every_include_exclude_pair() -> None:
    for include, exclude in itertools.product(PATTERNS_HERE, repeat=2):
        assert ours(PATHS_HERE, [include], [exclude]) == hf(PATHS_HERE, [include], [exclude]), (
            include,
            exclude,
        )


def test_random_pattern_sets() -> None:
    rng = random.Random(15)
    for _ in range(2000):
        include = rng.sample(PATTERNS_HERE, rng.randint(0, 3))
        exclude = rng.sample(PATTERNS_HERE, rng.randint(0, 3))
        assert ours(PATHS_HERE, include, exclude) == hf(PATHS_HERE, include, exclude), (
            include,
            exclude,
        )
