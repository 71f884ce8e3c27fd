"""moto's standalone S3-compatible server, of the tests' own, on a free port."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from tests.support import services
from tests.support.server import free_port

ACCESS_KEY = "AKIAREPLICASTTESTS00"
SECRET_KEY = "replicast-tests-secret-key-0000000000000"
REGION = "eu-west-3"


class PrivateS3:
    """An S3 endpoint at ``endpoint``, which a test may kill and start again (moto keeps
    its buckets in memory: a restart forgets them)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None
        self._client: Any = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The AWS variables a Replicast process needs to reach it."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_REGION": REGION,
                # Nothing from this machine's own AWS set-up may leak in.
                "AWS_CONFIG_FILE": str(self.folder / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(self.folder / "no-aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true"}

    def client(self) -> Any:
        """A boto3 client of it, to look at what Replicast wrote (closed by ``kill``)."""
        import boto3

        if self._client is None:
            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name=REGION,
                aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
        return self._client

    def start(self) -> PrivateS3:
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "moto.log", "ab")  # noqa: SIM115
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        give_up = time.monotonic() + 30
        while time.monotonic() < give_up and self.process.poll() is None:
            try:
                if httpx.get(f"{self.endpoint}/moto-api/", timeout=1).status_code < 500:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        services.unavailable("moto's S3 server", RuntimeError(
            (self.folder / "moto.log").read_text(errors="replace")[-2000:]))
        return self

    def make_bucket(self, name: str) -> None:
        self.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        answer = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in answer.get("Contents", []))

    def read(self, bucket: str, key: str) -> bytes:
        data: bytes = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        return data

    def kill(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


@contextlib.contextmanager
def running(folder: Path, bucket: str) -> Iterator[PrivateS3]:
    """A started server holding an empty ``bucket``, killed afterwards."""
    server = PrivateS3(folder).start()
    try:
        server.make_bucket(bucket)
        yield server
    finally:
        server.kill()
