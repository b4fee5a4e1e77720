"""--dest parsing: forms, bucket rules, endpoints, and the state key they produce."""

from __future__ import annotations

from pathlib import Path

import pytest

from data4r2.destination import Destination, Kind, parse_destination, r2_endpoint
from data4r2.domain import InvalidDestination

ACCT = "0123456789abcdef0123456789abcdef"


def bad(text: str | None, **kw: str) -> str:
    with pytest.raises(InvalidDestination) as e:
        parse_destination(text, **kw)
    message = str(e.value)
    assert "\n" not in message
    assert e.value.exit_code == 2
    return message


def test_r2_bucket_and_prefix() -> None:
    d = parse_destination("r2://my-bucket/mirror/hf/", r2_account_id=ACCT)
    assert d == Destination(
        Kind.R2, "my-bucket", "mirror/hf", f"https://{ACCT}.r2.cloudflarestorage.com"
    )
    assert d.is_bucket
    assert str(d) == "r2://my-bucket/mirror/hf"
    assert d.id == f"s3://my-bucket/mirror/hf@https://{ACCT}.r2.cloudflarestorage.com"


@pytest.mark.parametrize("j", ["eu", "fedramp", "us"])
def test_r2_jurisdictions(j: str) -> None:
    d = parse_destination("r2://b-1", r2_account_id=ACCT, r2_jurisdiction=j)
    assert d.endpoint_url == f"https://{ACCT}.{j}.r2.cloudflarestorage.com"
    assert d.prefix == ""


def test_r2_needs_account_id() -> None:
    assert "R2_ACCOUNT_ID" in bad("r2://bucket")


def test_r2_unknown_jurisdiction_and_bad_account() -> None:
    assert "R2_JURISDICTION" in bad("r2://bucket", r2_account_id=ACCT, r2_jurisdiction="mars")
    assert "R2_ACCOUNT_ID" in bad("r2://bucket", r2_account_id="not/an-id")


def test_r2_ignores_aws_endpoint_but_obeys_an_explicit_one() -> None:
    d = parse_destination("r2://bucket", r2_account_id=ACCT, aws_endpoint_url="http://other:1")
    assert d.endpoint_url == r2_endpoint(ACCT)
    d = parse_destination("r2://bucket", endpoint_url="http://127.0.0.1:8333/")
    assert d.kind is Kind.R2
    assert d.endpoint_url == "http://127.0.0.1:8333"


def test_s3_endpoints() -> None:
    d = parse_destination("s3://data.bucket/p", aws_endpoint_url="HTTP://Minio:9000/")
    assert (d.kind, d.bucket, d.prefix, d.endpoint_url) == (
        Kind.S3,
        "data.bucket",
        "p",
        "http://minio:9000",
    )
    flag = parse_destination("s3://b-1", endpoint_url="https://e", aws_endpoint_url="https://f")
    assert flag.endpoint_url == "https://e"
    aws = parse_destination("s3://b-1")
    assert aws.endpoint_url is None
    assert aws.id == "s3://b-1@aws"
    assert "--endpoint-url" in bad("s3://b-1", endpoint_url="ftp://e")


def test_same_bucket_same_id_whichever_scheme() -> None:
    via_r2 = parse_destination("r2://bucket/p", r2_account_id=ACCT)
    via_s3 = parse_destination(
        "s3://bucket/p/", endpoint_url=f"https://{ACCT.upper()}.R2.cloudflarestorage.com/"
    )
    assert via_r2.id == via_s3.id


@pytest.mark.parametrize(
    "bucket",
    ["ab", "a" * 64, "Bucket", "under_score", "-lead", "trail-", "a..b", "x!y"],
)
def test_bucket_rules(bucket: str) -> None:
    assert "bucket name" in bad(f"s3://{bucket}")


def test_r2_refuses_dots_s3_allows_them() -> None:
    assert "bucket name" in bad("r2://a.b.c", r2_account_id=ACCT)
    assert parse_destination("s3://a.b.c").bucket == "a.b.c"
    assert parse_destination("s3://" + "a" * 63).bucket == "a" * 63


@pytest.mark.parametrize("path", ["../up", "a/../b", "a//b", "a/./b"])
def test_unsafe_prefix(path: str) -> None:
    assert "prefix" in bad(f"s3://bucket/{path}")


@pytest.mark.parametrize("path", ["a\\b", "x:y", "C:/hf"])
def test_prefix_with_characters_legal_in_s3_keys(path: str) -> None:
    assert parse_destination(f"s3://bucket/{path}").prefix == path


@pytest.mark.parametrize(
    "text",
    [
        "gs://bucket",
        "http://host/x",
        "s3:bucket",
        "r2:/bucket",
        "s3://",
        "s3://bucket?x=1",
        "",
        " ",
    ],
)
def test_not_a_destination(text: str) -> None:
    bad(text, r2_account_id=ACCT)


def test_missing_names_the_flag() -> None:
    assert "--dest" in bad(None)


def test_folder_relative_absolute_and_home(tmp_path: Path) -> None:
    rel = parse_destination("mirror/../out", cwd=tmp_path)
    assert rel == Destination(Kind.FOLDER, root=tmp_path / "out")
    assert not rel.is_bucket
    assert rel.id == (tmp_path / "out").as_uri()
    assert parse_destination(str(tmp_path)).root == tmp_path
    assert parse_destination("~/m").root == Path.home() / "m"
    assert not (tmp_path / "out").exists()  # parsing touches nothing


def test_file_urls(tmp_path: Path) -> None:
    d = parse_destination(f"file://{tmp_path}/with%20space")
    assert d.root == tmp_path / "with space"
    assert parse_destination(f"file://localhost{tmp_path}").root == tmp_path
    assert "file://" in bad("file://host/x")
    assert "absolute" in bad("file:relative")
