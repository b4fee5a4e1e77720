"""The --debug handler: secrets masked and control characters escaped in every record."""

from __future__ import annotations

import io
import logging

import pytest

from data4r2.cli.redact import MASK, RedactingFormatter, Redactor
from data4r2.settings import load_settings


def test_formatter_masks_secrets_in_message_args_and_traceback() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter(Redactor(["s3cr3t", "s3cr3t-longer"]), "%(message)s"))
    log = logging.getLogger("test-redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("headers %s", {"x-amz-security-token": "s3cr3t-longer"})
        try:
            raise RuntimeError("bad s3cr3t")
        except RuntimeError:
            log.exception("name evil\x1b[31m\nforged")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "s3cr3t" not in text and "longer" not in text
    assert f"'x-amz-security-token': '{MASK}'" in text  # the longer secret masked whole
    assert f"RuntimeError: bad {MASK}" in text
    assert "evil\\x1b[31m\\nforged" in text and "\x1b" not in text


def test_the_service_token_is_one_of_the_secrets_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A SecretStr field: Settings.secrets() lists it with no special case in the redactor.
    monkeypatch.setenv("DATA4R2_API_TOKEN", "api-secret")
    assert Redactor(load_settings().secrets())("Bearer api-secret") == f"Bearer {MASK}"
