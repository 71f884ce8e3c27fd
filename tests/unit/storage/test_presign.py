"""Presigned URLs match botocore's own for the same request, time and credentials."""

from __future__ import annotations

import datetime
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.config import Config

from replicast.storage.presign import Credentials, presign_get

SIGNED_AT = 1_795_000_000  # 2026-11-18T...
CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")


def botocore_url(monkeypatch, *, endpoint, bucket, key, style, expires, token=None,
                 region="us-east-1") -> str:
    frozen = datetime.datetime.fromtimestamp(SIGNED_AT, tz=datetime.UTC).replace(tzinfo=None)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda *a, **k: frozen)
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name=region, aws_access_key_id=CREDENTIALS.access_key,
        aws_secret_access_key=CREDENTIALS.secret_key, aws_session_token=token,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}))
    url: str = client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
    return url


def same(ours: str, theirs: str) -> None:
    a, b = urlsplit(ours), urlsplit(theirs)
    assert (a.scheme, a.netloc, a.path) == (b.scheme, b.netloc, b.path)
    assert parse_qs(a.query) == parse_qs(b.query)


@pytest.mark.parametrize("key", [
    "outputs/p1/run/out-0.webp",
    "team a/outputs/p 2/r/été (1).png",
    "prefix/files/abc!*'()~_-.x",
])
def test_path_style_matches_botocore(monkeypatch, key):
    theirs = botocore_url(monkeypatch, endpoint="http://127.0.0.1:9000", bucket="media",
                          key=key, style="path", expires=7200)
    ours = presign_get(f"http://127.0.0.1:9000/media/{key}", region="us-east-1",
                       credentials=CREDENTIALS, signed_at=SIGNED_AT, expires_in=7200)
    same(ours, theirs)


def test_virtual_hosted_with_a_session_token_matches_botocore(monkeypatch):
    token = "FQoGZXIvYXdzEXAMPLE//token+with/odd=chars"
    theirs = botocore_url(monkeypatch, endpoint=None, bucket="replicast-out",
                          key="outputs/p/r/a.png", style="virtual", expires=3600,
                          token=token, region="eu-west-3")
    ours = presign_get("https://replicast-out.s3.eu-west-3.amazonaws.com/outputs/p/r/a.png",
                       region="eu-west-3",
                       credentials=Credentials(CREDENTIALS.access_key, CREDENTIALS.secret_key,
                                               token),
                       signed_at=SIGNED_AT, expires_in=3600)
    same(ours, theirs)


def test_expiry_must_be_within_a_week():
    for expires_in in (0, 7 * 24 * 3600 + 1):
        with pytest.raises(ValueError, match="valid for 1 to 604800 seconds"):
            presign_get("https://h/b/k", region="us-east-1", credentials=CREDENTIALS,
                        signed_at=SIGNED_AT, expires_in=expires_in)
