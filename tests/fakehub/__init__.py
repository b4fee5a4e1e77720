"""A fake Hugging Face Hub for data4r2's tests and benchmarks (see docs/hub.md).

from fakehub import FakeHub, Repo

repo = Repo(repo_id="acme/model")
repo.add_file("config.json", b"{}")
repo.add_file("model.safetensors", pathlib.Path("big.bin"), lfs=True)
with FakeHub() as hub:
    hub.add(repo)
    ...  # hub.url, hub.cdn_url, hub.journal, hub.faults, hub.clock
"""

from .auth import TokenInfo
from .clock import FakeClock
from .errors import HubError
from .faults import Fault, Faults, Trigger
from .hashing import HashCache, git_blob_sha1, lfs_pointer, sha256_hex, xet_hash
from .journal import Journal, JournalEntry
from .ratelimit import RateLimits
from .repo import Blob, Commit, Repo
from .server import FakeHub

__all__ = [
    "Blob",
    "Commit",
    "FakeClock",
    "FakeHub",
    "Fault",
    "Faults",
    "HashCache",
    "HubError",
    "Journal",
    "JournalEntry",
    "RateLimits",
    "Repo",
    "TokenInfo",
    "Trigger",
    "git_blob_sha1",
    "lfs_pointer",
    "sha256_hex",
    "xet_hash",
]
