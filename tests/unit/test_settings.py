"""Settings: defaults, DATA4R2_* twins, the tools' own env names, precedence, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from data4r2.domain import RepoType
from data4r2.engine.options import SyncOptions
from data4r2.settings import InvalidSetting, Settings, load_settings, parse_size

MiB = 1024**2


pytestmark = pytest.mark.usefixtures("clean_env")  # tests/unit/conftest.py


def invalid(**values: object) -> str:
    with pytest.raises(InvalidSetting) as e:
        load_settings(**values)
    assert e.value.exit_code == 2
    assert "\n" not in str(e.value)
    return str(e.value)


def test_defaults() -> None:
    s = load_settings()
    assert (s.revision, s.repo_type, s.concurrency, s.part_size, s.max_retries) == (
        "main",
        RepoType.MODEL,
        SyncOptions().concurrency,
        16 * MiB,
        3,
    )
    assert s.hf_endpoint == "https://huggingface.co"
    assert s.token is None
    assert s.state is None
    assert not (s.dry_run or s.force or s.quiet or s.json_output or s.debug)


def test_data4r2_twins(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in {
        "DATA4R2_DEST": "r2://b-1",
        "DATA4R2_REVISION": "v1.0",
        "DATA4R2_INCLUDE": "*.json  *.safetensors",
        "DATA4R2_EXCLUDE": "*.bin",
        "DATA4R2_CONCURRENCY": "3",
        "DATA4R2_PART_SIZE": "64M",
        "DATA4R2_PARTS_IN_FLIGHT": "6",
        "DATA4R2_MAX_RETRIES": "0",
        "DATA4R2_DRY_RUN": "true",
        "DATA4R2_FORCE": "1",
        "DATA4R2_QUIET": "yes",
        "DATA4R2_JSON": "1",
        "DATA4R2_DEBUG": "1",
        "DATA4R2_STATE": "/tmp/x.sqlite3",
        "DATA4R2_REPO_TYPE": "dataset",
        "DATA4R2_ENDPOINT_URL": "http://127.0.0.1:9",
    }.items():
        clean_env.setenv(name, value)
    s = load_settings()
    assert s.dest == "r2://b-1"
    assert s.revision == "v1.0"
    assert s.include == ("*.json", "*.safetensors")
    assert s.exclude == ("*.bin",)
    assert (s.concurrency, s.part_size, s.max_retries) == (3, 64 * MiB, 0)
    assert s.parts_in_flight == 6 and s.sync_options().buffer_budget == 6 * 64 * MiB
    assert s.dry_run and s.force and s.quiet and s.json_output and s.debug
    assert s.state == Path("/tmp/x.sqlite3")
    assert s.repo_type is RepoType.DATASET
    assert s.endpoint_url == "http://127.0.0.1:9"


def test_explicit_values_beat_env_and_none_means_not_given(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("DATA4R2_CONCURRENCY", "3")
    clean_env.setenv("DATA4R2_INCLUDE", "*.json")
    assert load_settings(concurrency=5, include=("*.md",)).concurrency == 5
    assert load_settings(include=("*.md",)).include == ("*.md",)
    assert load_settings(concurrency=None).concurrency == 3


def test_hub_env(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HF_TOKEN", "hf_secret")
    clean_env.setenv("HF_ENDPOINT", "http://127.0.0.1:5000/")
    s = load_settings()
    assert s.token is not None and s.token.get_secret_value() == "hf_secret"
    assert "hf_secret" not in repr(s)
    assert s.hf_endpoint == "http://127.0.0.1:5000"
    clean_env.setenv("DATA4R2_TOKEN", "hf_twin")
    twin = load_settings().token
    assert twin is not None and twin.get_secret_value() == "hf_twin"
    flag = load_settings(token="hf_flag").token
    assert flag is not None and flag.get_secret_value() == "hf_flag"


def test_empty_token_is_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HF_TOKEN", "")
    assert load_settings().token is None  # huggingface_hub's own lookup then applies


def test_bucket_env(clean_env: pytest.MonkeyPatch) -> None:
    env = {
        "R2_ACCOUNT_ID": "acct",
        "R2_JURISDICTION": "EU",
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "shh",
        "AWS_SESSION_TOKEN": "sess",
        "AWS_ENDPOINT_URL": "http://generic",
        "AWS_ENDPOINT_URL_S3": "http://s3-specific",
        "AWS_CA_BUNDLE": "/etc/ca.pem",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    for name, value in env.items():
        clean_env.setenv(name, value)
    s = load_settings()
    assert (s.r2_account_id, s.r2_jurisdiction, s.aws_access_key_id) == ("acct", "eu", "AKID")
    assert s.aws_secret_access_key is not None
    assert s.aws_secret_access_key.get_secret_value() == "shh"
    assert s.aws_session_token is not None
    assert s.aws_endpoint_url == "http://s3-specific"  # the service-specific name wins
    assert s.endpoint_url is None  # AWS_ENDPOINT_URL never counts as --endpoint-url
    assert s.ca_bundle == Path("/etc/ca.pem")
    assert s.aws_region == "eu-west-1"
    clean_env.setenv("AWS_REGION", "auto")
    assert load_settings().aws_region == "auto"
    assert "shh" not in repr(s)


def test_generic_env_names_are_not_ours(clean_env: pytest.MonkeyPatch) -> None:
    """A field named `token` must not read an env var called TOKEN (case-insensitive match)."""
    clean_env.setenv("TOKEN", "stray")
    clean_env.setenv("ENDPOINT_URL", "http://stray")
    clean_env.setenv("CA_BUNDLE", "/stray")
    s = load_settings()
    assert (s.token, s.endpoint_url, s.ca_bundle) == (None, None, None)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("16MiB", 16 * MiB),
        ("64M", 64 * MiB),
        ("64m", 64 * MiB),
        ("1G", 1024 * MiB),
        ("64MB", 64_000_000),
        ("5242880", 5 * MiB),
        (" 8 MiB ", 8 * MiB),
        (6291456, 6 * MiB),
    ],
)
def test_parse_size(text: str | int, size: int) -> None:
    assert parse_size(text) == size


def test_part_size_limits() -> None:
    assert "--part-size" in invalid(part_size="4MiB")
    assert "DATA4R2_PART_SIZE" in invalid(part_size="5GiB")
    assert "--part-size" in invalid(part_size="lots")
    assert load_settings(part_size="5MiB").part_size == 5 * MiB


def test_errors_name_the_flag_and_the_env(clean_env: pytest.MonkeyPatch) -> None:
    assert invalid(concurrency=0).startswith("--concurrency (DATA4R2_CONCURRENCY):")
    assert "--max-retries" in invalid(max_retries=-1)
    clean_env.setenv("R2_JURISDICTION", "mars")
    assert invalid().startswith("R2_JURISDICTION:")
    clean_env.delenv("R2_JURISDICTION")
    clean_env.setenv("DATA4R2_JSON", "perhaps")
    assert invalid().startswith("--json (DATA4R2_JSON):")


def test_sync_options() -> None:
    s = load_settings(
        include=("*.json",), concurrency=2, part_size="8MiB", max_retries=1, force=True
    )
    o = s.sync_options(prefix="mirror")
    assert o == SyncOptions(
        include=("*.json",),
        concurrency=2,
        part_size=8 * MiB,
        max_retries=1,
        force=True,
        prefix="mirror",
    )


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(ValueError, match="frozen"):
        s.concurrency = 1  # type: ignore[misc]


def test_ca_bundles_stay_apart(clean_env: pytest.MonkeyPatch) -> None:
    """The bucket's CA (AWS_CA_BUNDLE, --ca-bundle) never becomes the Hub's only trusted CA."""
    clean_env.setenv("AWS_CA_BUNDLE", "/etc/minio-ca.pem")
    s = load_settings()
    assert (s.ca_bundle, s.hub_ca_bundle) == (Path("/etc/minio-ca.pem"), None)
    clean_env.setenv("DATA4R2_HUB_CA_BUNDLE", "/etc/hub-ca.pem")
    assert load_settings().hub_ca_bundle == Path("/etc/hub-ca.pem")
    assert load_settings(ca_bundle="").ca_bundle is None  # not Path("."), the cwd


def test_part_size_bounds_are_the_sinks_limits() -> None:
    from data4r2.domain import SinkLimits

    limits = SinkLimits()
    assert load_settings(part_size=limits.max_part_size).part_size == limits.max_part_size
    assert "--part-size" in invalid(part_size=limits.max_part_size + 1)
    assert "--part-size" in invalid(part_size=limits.min_part_size - 1)


def test_secrets_lists_every_credential_value(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("HF_TOKEN", "hf_tok")
    clean_env.setenv("AWS_ACCESS_KEY_ID", "AKID")
    clean_env.setenv("AWS_SECRET_ACCESS_KEY", "sekret")
    clean_env.setenv("AWS_SESSION_TOKEN", "sess")
    assert sorted(load_settings().secrets()) == ["AKID", "hf_tok", "sekret", "sess"]
