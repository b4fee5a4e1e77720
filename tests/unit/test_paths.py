"""Which Hub paths become keys, and the one rule for a repo's place in Hub URLs."""

from __future__ import annotations

import pytest
from huggingface_hub import constants, hf_hub_url

from data4r2.domain import (
    MAX_KEY_BYTES,
    RepoRef,
    RepoType,
    UnsafePath,
    object_key,
    path_problem,
)
from data4r2.hub.errors import gate_url
from data4r2.hub.stream import resolve_url

REPO = RepoRef("acme/model")

# Legal on Linux and in S3/R2 keys: each is mirrored under its own name.
LEGAL = [
    "x:y.txt",
    "C:/weights.bin",
    "a\\b.txt",
    "..\\..\\not-an-escape-on-posix.txt",
    "...",
    "..a/b..",
    ".hidden",
    "-leading-dash",
    " spaced name .txt",
    "tab\there.txt",
    "esc\x1b[31mred.txt",  # terminals are protected where lines are printed, not here
    "newline\nin-name.txt",
    "ünïcødé/файл 文件.txt",
    "a" * 255,
]

UNSAFE = {
    "": "empty",
    "../up.txt": "'..' segment",
    "a/../../up.txt": "'..' segment",
    "a/..": "'..' segment",
    "/etc/passwd": "absolute",
    "a\0b": "NUL",
    "a//b": "aliases",
    "a/./b": "aliases",
    "./a": "aliases",
    "dir/": "aliases",
    "lone\ud800surrogate": "UTF-8",
}


@pytest.mark.parametrize("path", LEGAL)
def test_legal_names_become_keys_unchanged(path: str) -> None:
    assert path_problem(path) is None
    assert object_key("mirror", REPO, path) == f"mirror/models/acme/model/{path}"


@pytest.mark.parametrize(("path", "why"), UNSAFE.items())
def test_unsafe_names_are_refused_with_one_line_saying_why(path: str, why: str) -> None:
    with pytest.raises(UnsafePath) as e:
        object_key("", REPO, path)
    message = str(e.value)
    assert why in message and "\n" not in message and "\0" not in message
    assert e.value.path == path


def test_a_key_over_the_s3_limit_is_refused() -> None:
    fits = "f" * (MAX_KEY_BYTES - len("models/acme/model/"))
    assert len(object_key("", REPO, fits).encode()) == MAX_KEY_BYTES
    with pytest.raises(UnsafePath, match="1,024 bytes"):
        object_key("", REPO, fits + "f")
    with pytest.raises(UnsafePath, match="1,024 bytes"):  # bytes, not characters
        object_key("", REPO, "é" * (MAX_KEY_BYTES // 2))


@pytest.mark.parametrize("repo_type", list(RepoType))
def test_url_path_is_huggingface_hubs_rule(repo_type: RepoType) -> None:
    repo = RepoRef("acme/thing", repo_type)
    prefix = constants.REPO_TYPES_URL_PREFIXES.get(repo_type.value, "")
    assert repo.url_path == prefix + "acme/thing"
    assert repo.key_prefix == f"{repo_type.value}s/acme/thing/"  # keys prefix every type


@pytest.mark.parametrize("repo_type", list(RepoType))
@pytest.mark.parametrize("path", ["config.json", "dir with space/#1 100%.txt", "x:y.txt"])
def test_resolve_and_gate_urls_agree_with_huggingface_hub(repo_type: RepoType, path: str) -> None:
    endpoint, sha = "http://127.0.0.1:8080", "a" * 40
    repo = RepoRef("acme/thing", repo_type)
    expected = hf_hub_url(
        "acme/thing", path, repo_type=repo_type.value, revision=sha, endpoint=endpoint
    )
    assert resolve_url(endpoint + "/", repo, sha, path) == expected
    assert expected.startswith(f"{gate_url(endpoint, repo)}/resolve/{sha}/")
