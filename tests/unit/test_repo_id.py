"""Our repo-id rule agrees with huggingface_hub's own validator (found by schemathesis: a
non-ASCII id passed ours and then failed inside huggingface_hub as an internal error)."""

from __future__ import annotations

import pytest
from huggingface_hub.utils import HFValidationError
from huggingface_hub.utils import validate_repo_id as hf_validate

from data4r2.domain import InvalidRepoId, validate_repo_id


@pytest.mark.parametrize(
    "repo_id", ["gpt2", "acme/tiny-model", "a_b.c/d-e", "日本", "acme/日本", "\U00026d63", "é/x"]
)
def test_we_refuse_exactly_what_the_hub_client_refuses(repo_id: str) -> None:
    try:
        hf_validate(repo_id)
        hub_ok = True
    except HFValidationError:
        hub_ok = False
    try:
        validate_repo_id(repo_id)
        ours_ok = True
    except InvalidRepoId:
        ours_ok = False
    assert ours_ok == hub_ok
