"""The service's input parsing, in-process: the destinations file and the original client's
hf_url. Hostile input must be refused with one line naming what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from data4r2.domain import InvalidDestination, RepoType, UsageError
from data4r2.service.destinations import UnknownDestination, load_destinations
from data4r2.service.hub_urls import BadHubUrl, parse_resolve_url

HUB = "https://huggingface.co"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "destinations.toml"
    path.write_text(text)
    return path


def test_dest_is_the_default_and_file_names_add_to_it(tmp_path: Path) -> None:
    file = write(tmp_path, '[destinations.archive]\nurl = "s3://archive/hf"\nprofile = "x"\n')
    named = load_destinations("r2://mirror", file)
    assert named.names == ["archive", "default"] and named.default == "default"
    assert named.choose(None).url == "r2://mirror"
    assert named.choose("archive").profile == "x"


def test_the_files_default_is_used_without_dest(tmp_path: Path) -> None:
    file = write(
        tmp_path,
        'default = "b"\n[destinations.a]\nurl = "/srv/a"\n[destinations.b]\nurl = "/srv/b"\n',
    )
    assert load_destinations(None, file).choose(None).name == "b"


@pytest.mark.parametrize("asked", ["nope", "s3://other", "/etc", "../default", "DEFAULT"])
def test_anything_but_a_configured_name_is_refused_with_the_names(asked: str) -> None:
    named = load_destinations("/srv/mirror", None)
    with pytest.raises(UnknownDestination, match="default"):
        named.choose(asked)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("[destinations.a]\n", "needs url"),
        ('[destinations.a]\nurl = "/x"\nsecret = "s"\n', "unknown keys"),
        ('[destinations."Bad Name"]\nurl = "/x"\n', "must be 1-63"),
        ('default = "zz"\n[destinations.a]\nurl = "/x"\n', "names no"),
        ('[destinations.a]\nurl = "/x"\n[destinations.b]\nurl = "/y"\n', "no default"),
        ("url = [", "not valid TOML"),
        ("[destinations.a]\nurl = 3\n", "needs url"),
    ],
)
def test_bad_files_are_one_line_errors(tmp_path: Path, text: str, why: str) -> None:
    with pytest.raises(InvalidDestination, match=why):
        load_destinations(None, write(tmp_path, text))


def test_no_destination_at_all_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="needs a destination"):
        load_destinations(None, None)


@pytest.mark.parametrize(
    ("url", "repo_type", "repo_id", "revision", "path"),
    [
        (f"{HUB}/gpt2/resolve/main/config.json", RepoType.MODEL, "gpt2", "main", "config.json"),
        (f"{HUB}/acme/m/resolve/abc/a/b c.txt", RepoType.MODEL, "acme/m", "abc", "a/b c.txt"),
        (f"{HUB}/datasets/acme/d/resolve/v1/x%20y", RepoType.DATASET, "acme/d", "v1", "x y"),
        (
            f"{HUB}/spaces/acme/s/resolve/refs%2Fpr%2F1/app.py",
            RepoType.SPACE,
            "acme/s",
            "refs/pr/1",
            "app.py",
        ),
    ],
)
def test_resolve_urls_are_read(
    url: str, repo_type: RepoType, repo_id: str, revision: str, path: str
) -> None:
    got = parse_resolve_url(url, HUB)
    assert (got.repo.repo_type, got.repo.repo_id, got.repo.revision, got.path) == (
        repo_type,
        repo_id,
        revision,
        path,
    )


@pytest.mark.parametrize(
    "url",
    [
        "http://huggingface.co/gpt2/resolve/main/x",  # another scheme
        "https://huggingface.co.evil.com/gpt2/resolve/main/x",
        "https://user@huggingface.co/gpt2/resolve/main/x",
        f"{HUB}/gpt2/resolve/main/x?download=1",
        f"{HUB}/gpt2/resolve/main/x#frag",
        f"{HUB}/gpt2/blob/main/x",
        f"{HUB}/api/models/gpt2",
        f"{HUB}/gpt2/resolve/main/",
        f"{HUB}/gpt2/resolve/main/%2e%2e/%2e%2e/etc/passwd",
        f"{HUB}/gpt2/resolve/main/a/../../b",
        f"{HUB}/gpt2/resolve/main/a%00b",
        f"{HUB}/gpt2/resolve/main/a%0ab",
        f"{HUB}/a/b/c/resolve/main/x",
        f"{HUB}/..%2Fetc/resolve/main/x",
    ],
)
def test_anything_else_is_refused(url: str) -> None:
    with pytest.raises(BadHubUrl):
        parse_resolve_url(url, HUB)
