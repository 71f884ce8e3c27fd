"""An S3-compatible bucket, through boto3, with every call on a worker thread.

boto3 brings the AWS credential chain (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``
and ``AWS_SESSION_TOKEN``, ``AWS_PROFILE``, instance and container roles), the
endpoint (``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``, for MinIO, R2, Ceph...),
the region (``AWS_REGION`` or ``AWS_DEFAULT_REGION``), retries and multipart uploads.
A call that cannot reach the bucket, or that the bucket refuses, raises
``StorageUnavailable`` naming the operation and the key; a missing object is None.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urlsplit

from replicast.errors import ConfigError, StorageUnavailable
from replicast.storage import presign
from replicast.storage.location import BucketLocation

CHUNK = 256 * 1024
"""Bytes read from an object's body at a time, when it is streamed through."""
_DELETE_BATCH = 1000  # S3's most keys per DeleteObjects
_MISSING = {"NoSuchKey", "404", "NotFound"}
_RANGE = re.compile(r"bytes=(\d+-\d*|-\d+)")
_T = TypeVar("_T")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Listed:
    """An object found by a listing."""

    key: str
    modified: float
    """When it was last written (Unix time)."""


class BucketObject:
    """An object opened for reading: its size and type, and its body streamed in chunks."""

    def __init__(self, body: Any, *, size: int, content_type: str | None,
                 content_range: str | None = None, total: int | None = None,
                 where: str = "the bucket") -> None:
        self._body = body
        self.where = where
        """The object, for messages (``s3://bucket/key``)."""
        self.size = size
        """Bytes in this body (the range's, when a range was asked for)."""
        self.content_type = content_type
        self.content_range = content_range
        """``bytes a-b/n`` when a range was asked for and is answered."""
        self.total = total if total is not None else size
        """Bytes in the whole object."""

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body, a chunk at a time; closed at its end or when the reader stops.
        ``StorageUnavailable`` if the connection fails midway."""
        from botocore.exceptions import BotoCoreError

        try:
            while True:
                try:
                    chunk = await asyncio.to_thread(self._body.read, CHUNK)
                except (BotoCoreError, OSError) as exc:
                    log.warning("reading an object of %s failed midway: %s", self.where, exc)
                    raise StorageUnavailable(f"reading from {self.where} failed: {exc}"
                                             ) from None
                if not chunk:
                    return
                yield chunk
        finally:
            await self.close()

    async def close(self) -> None:
        """Release the connection (the body need not have been read)."""
        await asyncio.to_thread(self._body.close)


class Bucket:
    """The objects under one location, and presigned URLs of them."""

    def __init__(self, location: BucketLocation, client: Any, credentials: Any, *,
                 region: str, object_base: str) -> None:
        self.location = location
        self._client = client
        self._credential_source = credentials
        self._credentials = _frozen(credentials)
        self.region = region
        self.object_base = object_base
        """The URL an object's key is appended to (``https://host/bucket/`` or
        ``https://bucket.host/``)."""

    @classmethod
    def connect(cls, location: BucketLocation, env: Mapping[str, str] | None = None
                ) -> Bucket:
        """A client of the bucket, configured as the AWS SDKs are (blocking: call it on a
        thread). ``ConfigError`` when boto3 is missing or no credentials are found."""
        env = os.environ if env is None else env
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise ConfigError("REPLICAST_STORAGE_URL needs boto3: pip install "
                              "'replicast[s3]'") from None
        endpoint = env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None
        # Keys given in ``env`` win; else boto3's own chain (profiles, roles) finds them.
        session = boto3.session.Session(
            region_name=region, aws_access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
            aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
            aws_session_token=env.get("AWS_SESSION_TOKEN") or None)
        credentials = session.get_credentials()
        if credentials is None:
            raise ConfigError(f"REPLICAST_STORAGE_URL={location}: no AWS credentials found "
                              "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile "
                              "or role)")
        # Another endpoint than AWS's (MinIO, Ceph, a test server) may not resolve
        # bucket.host names: address the bucket in the path there.
        style = "path" if endpoint or "." in location.bucket else "virtual"
        # Checksums only where S3 requires them: many S3-compatible stores refuse the
        # CRC headers boto3 sends by default since 1.36.
        checksums = {"request_checksum_calculation": "when_required",
                     "response_checksum_validation": "when_required"} if endpoint else {}
        client = session.client(
            "s3", endpoint_url=endpoint,
            config=Config(s3={"addressing_style": style}, connect_timeout=5, read_timeout=30,
                          retries={"mode": "standard", "max_attempts": 3},
                          max_pool_connections=32, **checksums))
        region = client.meta.region_name or "us-east-1"
        base = urlsplit(client.meta.endpoint_url)
        if style == "path":
            object_base = f"{base.scheme}://{base.netloc}/{location.bucket}/"
        else:
            object_base = f"{base.scheme}://{location.bucket}.{base.netloc}/"
        return cls(location, client, credentials, region=region, object_base=object_base)

    def __str__(self) -> str:
        return str(self.location)

    def key(self, *parts: str) -> str:
        """The key of ``parts`` under the location's prefix."""
        return self.location.key(*parts)

    async def check(self) -> None:
        """``StorageUnavailable`` unless the bucket is there and these credentials reach it."""
        await self._call("reach the bucket", "", self._client.head_bucket,
                         Bucket=self.location.bucket)

    async def put(self, key: str, data: bytes, content_type: str, *,
                  attachment: bool = False) -> None:
        """Write ``data`` as the object ``key`` (whole, or not at all); with ``attachment``
        the bucket serves it as a download, never shown in a browser."""
        extra: dict[str, Any] = {"ContentDisposition": "attachment"} if attachment else {}
        await self._call("write", key, self._client.put_object, Bucket=self.location.bucket,
                         Key=key, Body=data, ContentType=content_type, **extra)

    async def upload(self, key: str, source: BinaryIO, content_type: str) -> None:
        """Write ``source``, from its start, as the object ``key`` (in parts if large)."""
        source.seek(0)
        await self._call("write", key, self._client.upload_fileobj, source,
                         self.location.bucket, key, ExtraArgs={"ContentType": content_type})

    async def read(self, key: str, max_bytes: int | None = None) -> bytes | None:
        """The object's bytes; None if there is none, or it is over ``max_bytes``."""
        found = await self.open(key)
        if found is None:
            return None
        if max_bytes is not None and found.size > max_bytes:
            await found.close()
            return None
        return b"".join([chunk async for chunk in found.chunks()])

    async def open(self, key: str, byte_range: str | None = None) -> BucketObject | None:
        """The object opened for reading, or None if there is none. ``byte_range`` is an
        HTTP ``Range`` value (``bytes=a-b``) to read part of it; a range that is not
        satisfiable raises ``RangeNotSatisfiable``."""
        extra: dict[str, str] = {}
        if byte_range is not None and _RANGE.fullmatch(byte_range.strip()):
            extra["Range"] = byte_range.strip()
        try:
            answer = await self._call("read", key, self._client.get_object,
                                      Bucket=self.location.bucket, Key=key, **extra,
                                      missing_ok=True)
        except _RangeRefused:
            raise RangeNotSatisfiable(await self.size(key) or 0) from None
        if answer is None:
            return None
        content_range = answer.get("ContentRange") if extra else None
        total = int(content_range.rpartition("/")[2]) if content_range else None
        return BucketObject(answer["Body"], size=int(answer["ContentLength"]),
                            content_type=answer.get("ContentType"),
                            content_range=content_range, total=total,
                            where=f"s3://{self.location.bucket}/{key}")

    async def size(self, key: str) -> int | None:
        """The object's size in bytes, or None if there is none."""
        answer = await self._call("look up", key, self._client.head_object,
                                  Bucket=self.location.bucket, Key=key, missing_ok=True)
        return None if answer is None else int(answer["ContentLength"])

    async def delete(self, keys: Iterable[str]) -> None:
        """Delete these objects (those already gone need nothing)."""
        keys = list(keys)
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start:start + _DELETE_BATCH]
            answer = await self._call(
                "delete", batch[0], self._client.delete_objects, Bucket=self.location.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True})
            failed = [e for e in (answer or {}).get("Errors", [])
                      if e.get("Code") not in _MISSING]
            if failed:
                raise StorageUnavailable(
                    f"cannot delete {failed[0].get('Key')} in {self}: "
                    f"{failed[0].get('Code')} {failed[0].get('Message', '')}".rstrip()
                    + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))

    async def delete_prefix(self, prefix: str) -> None:
        """Delete every object whose key begins with ``prefix``."""
        await self.delete([found.key for found in await self.listing(prefix)])

    async def listing(self, prefix: str, *, nested: bool = True) -> list[Listed]:
        """The objects under ``prefix``; with ``nested`` false, not those in a deeper
        "folder" (a further ``/`` after the prefix)."""
        return await self._call("list", prefix, self._list, prefix, nested) or []

    def _list(self, prefix: str, nested: bool) -> list[Listed]:
        paginator = self._client.get_paginator("list_objects_v2")
        extra = {} if nested else {"Delimiter": "/"}
        found = []
        for page in paginator.paginate(Bucket=self.location.bucket, Prefix=prefix, **extra):
            for item in page.get("Contents", []):
                modified = item["LastModified"]
                found.append(Listed(item["Key"], modified.timestamp()
                                    if isinstance(modified, datetime) else float(modified)))
        return found

    async def move(self, key: str, to: str) -> None:
        """Copy ``key`` to ``to`` (written now), then delete it; nothing if it is gone."""
        copied = await self._call("copy", key, self._client.copy_object,
                                  Bucket=self.location.bucket, Key=to,
                                  CopySource={"Bucket": self.location.bucket, "Key": key},
                                  missing_ok=True)
        if copied is not None:
            await self.delete([key])

    def presigned(self, key: str, *, signed_at: int, expires: int) -> str:
        """A GET URL of ``key`` valid from ``signed_at`` until ``expires`` (Unix times)."""
        url = self.object_base + key
        return presign.presign_get(url, region=self.region, credentials=self._credentials,
                                   signed_at=signed_at, expires_in=expires - signed_at)

    async def refresh_credentials(self) -> None:
        """Renew the credentials presigned URLs are made with, when they are temporary
        (a role's): on a thread, as renewing them may ask the network."""
        self._credentials = await asyncio.to_thread(_frozen, self._credential_source)

    async def _call(self, doing: str, key: str, method: Callable[..., _T], *args: Any,
                    missing_ok: bool = False, **kwargs: Any) -> _T | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return await asyncio.to_thread(method, *args, **kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = str(error.get("Code", ""))
            if missing_ok and code in _MISSING:
                return None
            if code == "InvalidRange":
                raise _RangeRefused from None
            reason = f"{code} {error.get('Message', '')}".rstrip()
        except (BotoCoreError, OSError) as exc:
            reason = str(exc)
        where = f"{self}{key.removeprefix(self.location.prefix)}" if key else str(self)
        message = f"cannot {doing} {where}: {reason}"
        log.warning("%s", message)
        raise StorageUnavailable(message)


class RangeNotSatisfiable(Exception):
    """A ``Range`` that lies past the object's end."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the object has {size} bytes")
        self.size = size


class _RangeRefused(Exception):
    pass


def _frozen(credentials: Any) -> presign.Credentials:
    frozen = credentials.get_frozen_credentials()
    return presign.Credentials(frozen.access_key, frozen.secret_key, frozen.token)


async def connect(location: BucketLocation, *, check: bool = True) -> Bucket:
    """A bucket client made and, with ``check``, seen to reach its bucket."""
    bucket = await asyncio.to_thread(Bucket.connect, location)
    if check:
        started = time.monotonic()
        await bucket.check()
        log.info("keeping files in %s (reached in %.0f ms)", bucket,
                 1000 * (time.monotonic() - started))
    return bucket


async def refresh_credentials_forever(bucket: Bucket, every: float = 300.0) -> None:
    """Renew the bucket's signing credentials every ``every`` seconds until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await bucket.refresh_credentials()
        except Exception as exc:  # the URLs keep the credentials they had until it works
            log.warning("cannot renew the credentials presigned URLs are made with: %s", exc)
