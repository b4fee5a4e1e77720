"""The repos every fake-hub test serves (docs/hub.md §7 item 1)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from fakehub import Repo

TOKENS = {
    "hf_alice": {"user": "alice", "orgs": ["acme"]},  # member of acme: private repos readable
    "hf_bob": {"user": "bob"},  # valid, no rights
    "hf_carol": {"user": "carol", "approved": ["acme/gated-auto", "acme/gated-manual"]},
}

CONFIG_V1 = b'{"model_type": "fake", "v": 1}\n'
CONFIG_V2 = b'{"model_type": "fake", "v": 2}\n'
WEIGHTS = random.Random(1).randbytes(300_000)
XET_DATA = random.Random(2).randbytes(200_000)
PARQUET = random.Random(3).randbytes(50_000)
ODD_NAMES = {
    "dir with space/file name.txt": b"space\n",
    "hash#tag.txt": b"hash\n",
    "100%.txt": b"percent\n",
    "ünïcødé/файл 文件.txt": "unicode ✓\n".encode(),
    "deep/a/b/c/d.txt": b"deep\n",
    "empty.txt": b"",
}
README = b"# A fake model\n\nThis is text, so it may be served gzip.\n" * 20


@dataclass
class Corpus:
    repos: dict[str, Repo] = field(default_factory=dict)
    first: str = ""  # acme/model: first commit (tag v1)
    head: str = ""  # acme/model: main
    pr: str = ""  # acme/model: refs/pr/1

    @property
    def model(self) -> Repo:
        return self.repos["acme/model"]

    @property
    def files_v2(self) -> dict[str, bytes]:
        return {
            **ODD_NAMES,
            "README.md": README,
            "config.json": CONFIG_V2,
            "added.txt": b"added in the second commit\n",
            "weights/model.safetensors": WEIGHTS,
            "xet/big.bin": XET_DATA,
        }


def _small(repo_id: str, **kw: object) -> Repo:
    repo = Repo(repo_id=repo_id, **kw)  # type: ignore[arg-type]
    repo.add_file("a.txt", b"content of " + repo_id.encode() + b"\n")
    repo.add_file("w.bin", WEIGHTS[:1000], lfs=True)
    return repo


def build_corpus() -> Corpus:
    c = Corpus()
    model = Repo(repo_id="acme/model", repo_type="model")
    model.add_file("config.json", CONFIG_V1)
    model.add_file("README.md", README)
    for path, data in ODD_NAMES.items():
        model.add_file(path, data)
    model.add_file("weights/model.safetensors", WEIGHTS, lfs=True)
    model.add_file("xet/big.bin", XET_DATA, xet=True)
    c.first = model.commit("initial commit")
    model.tag("v1")
    model.add_file("pr-only.txt", b"only in the PR\n")
    c.pr = model.commit("PR change", branch="refs/pr/1")
    model.delete_file("pr-only.txt")
    model.add_file("config.json", CONFIG_V2)
    model.add_file("added.txt", b"added in the second commit\n")
    c.head = model.commit("second commit\n\nWith a body.")
    model.branch("dev", c.first)

    dataset = Repo(repo_id="acme/data", repo_type="dataset")
    dataset.add_file("README.md", b"# data\n")
    dataset.add_file("data/train-0.parquet", PARQUET, lfs=True)
    dataset.commit("initial commit")
    dataset.add_file("default/train/0000.parquet", PARQUET[:1000], lfs=True)
    dataset.commit("convert", branch="refs/convert/parquet")

    space = Repo(repo_id="acme/space", repo_type="space")
    space.add_file("app.py", b"print('hi')\n")
    space.add_file("README.md", b"---\nsdk: static\n---\n")

    legacy = Repo(repo_id="legacy", repo_type="model")
    legacy.add_file("config.json", b'{"legacy": true}\n')

    repos: list[Repo] = [
        model,
        dataset,
        space,
        legacy,
        _small("acme/private", private=True),
        _small("acme/gated-auto", gated="auto"),
        _small("acme/gated-manual", gated="manual"),
        _small("acme/disabled", disabled=True),
        _small("other/public"),
    ]
    c.repos = {r.repo_id: r for r in repos}
    return c
