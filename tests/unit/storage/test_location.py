from __future__ import annotations

import pytest

from replicast.config import Settings
from replicast.errors import ConfigError
from replicast.storage.location import parse


@pytest.mark.parametrize(("raw", "bucket", "prefix"), [
    ("s3://media", "media", ""),
    ("s3://media/", "media", ""),
    ("s3://my.bucket-1/team/replicast", "my.bucket-1", "team/replicast/"),
    ("s3://media//a///b/", "media", "a/b/"),
])
def test_a_bucket_and_its_prefix(raw, bucket, prefix):
    location = parse(raw)
    assert (location.bucket, location.prefix) == (bucket, prefix)
    assert location.key("outputs", "p1") == f"{prefix}outputs/p1"


@pytest.mark.parametrize(("raw", "words"), [
    ("https://bucket/x", "is not an s3://bucket/prefix URL"),
    ("/data/outputs", "is not an s3://bucket/prefix URL"),
    ("s3://Bucket", "is not a bucket name"),
    ("s3://ab", "is not a bucket name"),
    ("s3://a..b", "is not a bucket name"),
    ("s3://key:secret@bucket", "no credentials, port"),
    ("s3://bucket/x?y=1", "no credentials, port, query"),
    ("s3://bucket/../x", "may hold only"),
    ("s3://bucket/a b", "may hold only"),
])
def test_what_is_not_a_location_is_named(raw, words):
    with pytest.raises(ValueError, match=words.replace("?", r"\?").replace("/", "/")):
        parse(raw)


def test_settings_refuse_a_bad_url_and_presigning_without_a_bucket():
    with pytest.raises(ConfigError, match="REPLICAST_STORAGE_URL"):
        Settings.from_env({"REPLICAST_STORAGE_URL": "s3://Not_A_Bucket"})
    with pytest.raises(ConfigError, match="needs REPLICAST_STORAGE_URL"):
        Settings.from_env({"REPLICAST_STORAGE_PRESIGNED_URLS": "true"})
    with pytest.raises(ConfigError, match="too long for presigned URLs"):
        Settings.from_env({"REPLICAST_STORAGE_URL": "s3://media",
                           "REPLICAST_STORAGE_PRESIGNED_URLS": "1",
                           "REPLICAST_OUTPUT_URL_TTL": "96h"})
    settings = Settings.from_env({"REPLICAST_STORAGE_URL": "s3://media/a/"})
    assert settings.storage_url == "s3://media/a/"
