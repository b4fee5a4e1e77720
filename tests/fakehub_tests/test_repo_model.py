"""Checklist items 1–2: the repo model, its refs, and hashes derived exactly like git does."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fakehub import Commit, HashCache, Repo, git_blob_sha1, lfs_pointer
from fakehub import hashing as hashing_mod

from .corpus import CONFIG_V1, WEIGHTS, Corpus


def git(
    cwd: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        check=True,
        env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", **(env or {})},
    )
    return out.stdout.decode().strip()


def test_git_blob_sha1_is_git_hash_object(tmp_path: Path) -> None:
    for data in (b"", b"hello\n", WEIGHTS[:5000], "ünï\n".encode()):
        assert git_blob_sha1(data) == git(tmp_path, "hash-object", "--stdin", stdin=data)


@pytest.mark.parametrize("size", [0, 9, 10, 999_999, 6_230_011, 10**12])
def test_pointer_text_and_pointer_size(size: int) -> None:
    sha = hashlib.sha256(b"x").hexdigest()
    pointer = lfs_pointer(sha, size)
    assert (
        pointer
        == (f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {size}\n").encode()
    )
    assert len(pointer) == 125 + len(str(size))
    if size == 6_230_011:
        assert len(pointer) == 132  # the figure quoted in docs/hub.md §1


def test_lfs_blob_hashes_are_derived(corpus: Corpus) -> None:
    commit = corpus.model.get_commit(corpus.head)
    blob = commit.files["weights/model.safetensors"]
    assert blob.lfs and blob.size == len(WEIGHTS)
    assert blob.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert blob.oid == git_blob_sha1(lfs_pointer(blob.sha256, len(WEIGHTS)))
    assert blob.oid != git_blob_sha1(WEIGHTS)
    assert blob.pointer_size == 125 + len(str(len(WEIGHTS)))
    regular = corpus.model.get_commit(corpus.first).files["config.json"]
    assert regular.oid == git_blob_sha1(CONFIG_V1) and regular.sha256 is None


def _git_tree(root: Path, commit: Commit) -> str:
    """Check the commit's files (LFS ones as their pointer) into a real git index; tree id."""
    for child in root.iterdir():
        if child.name != ".git":
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    for path, blob in commit.files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(blob.pointer if blob.lfs else blob.read())
    git(root, "add", "-A")
    return git(root, "write-tree")


def test_tree_and_commit_shas_are_the_ones_git_computes(tmp_path: Path, corpus: Corpus) -> None:
    repo = corpus.model
    git(tmp_path, "init", "-q")
    parent: str | None = None
    for sha in (corpus.first, corpus.head):
        commit = repo.get_commit(sha)
        assert _git_tree(tmp_path, commit) == commit.trees[""]
        for d in ("weights", "deep/a", "ünïcødé"):
            assert git(tmp_path, "rev-parse", f"{commit.trees['']}:{d}") == commit.trees[d]
        when = f"{int(commit.date.timestamp())} +0000"
        ident = {
            "GIT_AUTHOR_NAME": "alice",
            "GIT_AUTHOR_EMAIL": "alice@users.noreply.huggingface.co",
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_NAME": "alice",
            "GIT_COMMITTER_EMAIL": "alice@users.noreply.huggingface.co",
            "GIT_COMMITTER_DATE": when,
        }
        message = commit.title + (f"\n\n{commit.message}" if commit.message else "")
        args = ["commit-tree", commit.trees[""], *(["-p", parent] if parent else []), "-m", message]
        assert commit.parent == parent
        assert git(tmp_path, *args, env=ident) == sha
        parent = sha


def test_commit_moves_the_branch_and_old_commits_stay_resolvable() -> None:
    repo = Repo(repo_id="ns/r")
    repo.add_file("a.txt", b"1")
    one = repo.commit("one")
    assert repo.head() == one
    repo.add_file("a.txt", b"2")
    two = repo.commit("two")
    assert len({one, two}) == 2 and all(len(s) == 40 for s in (one, two))
    assert repo.head() == two
    assert repo.resolve(one).sha == one  # type: ignore[union-attr]
    assert repo.resolve(one[:7]).sha == one  # type: ignore[union-attr]
    assert repo.resolve("refs/heads/main").sha == two  # type: ignore[union-attr]
    repo.tag("v1", one)
    repo.pr(3)
    repo.convert("parquet", one)
    assert repo.resolve("refs/tags/v1").sha == one  # type: ignore[union-attr]
    assert repo.resolve("refs/pr/3").sha == two  # type: ignore[union-attr]
    assert repo.resolve("refs/convert/parquet").sha == one  # type: ignore[union-attr]
    assert repo.resolve("nope") is None and repo.resolve("refs/pr/4") is None
    assert repo.get_commit(one).files["a.txt"].read() == b"1"
    assert [c.sha for c in repo.history(two)] == [two, one]


def test_staged_files_become_an_initial_commit_when_first_served() -> None:
    repo = Repo(repo_id="ns/r")
    repo.add_file("a.txt", b"x")
    sha = repo.head()
    assert repo.get_commit(sha).title == "initial commit"
    assert list(repo.get_commit(sha).files) == ["a.txt"]


def test_invalid_paths_and_types_are_refused() -> None:
    with pytest.raises(ValueError, match="repo_type"):
        Repo(repo_id="a/b", repo_type="models")  # type: ignore[arg-type]
    repo = Repo(repo_id="a/b")
    for bad in ("", "/abs", "a//b", "../x", "a/./b"):
        with pytest.raises(ValueError, match="invalid repo path"):
            repo.add_file(bad, b"")


def test_path_sources_are_streamed_and_the_hash_cache_skips_rehashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(WEIGHTS * 4)
    calls: list[Path] = []
    real = hashing_mod.digest_file

    def counting(path: Path, **kw: bool) -> hashing_mod.FileDigests:
        calls.append(path)
        return real(path, **kw)

    monkeypatch.setattr(hashing_mod, "digest_file", counting)
    cache = HashCache(tmp_path / "cache.json")
    blob = Repo(repo_id="a/b", hash_cache=cache).add_file("big.bin", big, lfs=True)
    assert blob.data is None and blob.file == big
    assert blob.sha256 == hashlib.sha256(WEIGHTS * 4).hexdigest()
    cache.save()
    again = Repo(repo_id="a/b", hash_cache=HashCache(tmp_path / "cache.json")).add_file(
        "big.bin", big, lfs=True
    )
    assert again.sha256 == blob.sha256
    assert len(calls) == 1  # the second repo read the sidecar
    big.write_bytes(WEIGHTS * 3)  # size and mtime change: hashed again
    third = Repo(repo_id="a/b", hash_cache=HashCache(tmp_path / "cache.json")).add_file(
        "big.bin", big, lfs=True
    )
    assert third.sha256 == hashlib.sha256(WEIGHTS * 3).hexdigest()
    assert len(calls) == 2
