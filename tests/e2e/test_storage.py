"""Output files and uploads in an S3-compatible bucket (REPLICAST_STORAGE_URL), against
moto's standalone server: real server processes, the official Python client and HTTP.

Nothing lands in the data folder; an API process and a worker on different data
folders (different machines, as far as files go) share the bucket and nothing else;
retention and deletion remove the objects; presigned URLs are the bucket's own, with
Replicast's expiry; a bucket that is missing or goes away is reported, never a
prediction left stuck.
"""

from __future__ import annotations

import asyncio
import base64
import calendar
import io
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import replicate
from PIL import Image

from tests.support import s3_server, services
from tests.support.redis_server import PrivateRedis
from tests.support.s3_server import PrivateS3
from tests.support.server import TOKEN, ServerProcess

BUCKET = "replicast-e2e"
SCHNELL = "/v1/models/black-forest-labs/flux-schnell/predictions"
KONTEXT = "/v1/models/black-forest-labs/flux-kontext-pro/predictions"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server.running(tmp_path_factory.mktemp("s3"), BUCKET) as server:
        yield server


def storage_env(s3: PrivateS3, prefix: str, **more: str) -> dict[str, str]:
    return {**s3.env(), "REPLICAST_STORAGE_URL": f"s3://{BUCKET}/{prefix}", **more}


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def wait_for(http: httpx.Client, prediction: dict) -> dict:
    give_up = time.monotonic() + 60
    while prediction["status"] not in {"succeeded", "failed", "canceled"}:
        assert time.monotonic() < give_up, prediction
        time.sleep(0.1)
        prediction = http.get(f"/v1/predictions/{prediction['id']}").json()
    return prediction


def output_key(prefix: str, base_url: str, url: str) -> str:
    """The object key behind a Replicast output link (``/outputs/<proof>/<id>/<run>/<name>``)."""
    assert url.startswith(f"{base_url}/outputs/"), url
    _, _, prediction, run, name = urlsplit(url).path.split("/")[1:]
    return f"{prefix}/outputs/{prediction}/{run}/{name}"


def test_outputs_and_uploads_live_in_the_bucket(s3, tmp_path, transport):
    data = tmp_path / "data"
    # Small files inline as data: URIs (what the official client reads over plain http).
    server = ServerProcess(data, env=storage_env(
        s3, "team-a", REPLICAST_DATA_URI_OUTPUTS="1000000")).start()
    try:
        client = replicate.Client(api_token=TOKEN, base_url=server.base_url,
                                  transport=transport)
        picture = png(123, 77)
        created = client.files.create(io.BytesIO(picture), filename="reference.png")
        assert s3.keys(BUCKET, "team-a/files/") == [f"team-a/files/{created.id}"]
        assert s3.read(BUCKET, f"team-a/files/{created.id}") == picture

        with server.client() as http:
            download = http.get(f"/v1/files/{created.id}/download")
            assert download.status_code == 200 and download.content == picture
            assert download.headers["content-type"] == "image/png"
            assert download.headers["content-length"] == str(len(picture))
            part = http.get(f"/v1/files/{created.id}/download", headers={"Range": "bytes=1-8"})
            assert part.status_code == 206, part.text
            assert part.content == picture[1:9]
            assert part.headers["content-range"] == f"bytes 1-8/{len(picture)}"
            past = http.get(f"/v1/files/{created.id}/download",
                            headers={"Range": f"bytes={len(picture) + 10}-"})
            assert past.status_code == 416
            assert past.headers["content-range"] == f"bytes */{len(picture)}"

            # The worker reads the upload from the bucket, and writes its output there.
            prediction = wait_for(http, http.post(KONTEXT, json={"input": {
                "prompt": "make it blue", "input_image": created.urls["get"],
                "output_format": "png"}}).json())
            assert prediction["status"] == "succeeded", prediction
            assert "Input image size: 123x77" in prediction["logs"]
            listed = http.get("/v1/predictions").json()["results"]
            link = next(p["output"] for p in listed if p["id"] == prediction["id"])
            key = output_key("team-a", server.base_url, link)
            assert s3.keys(BUCKET, f"team-a/outputs/{prediction['id']}/") == [key]
            assert prediction["output"] == "data:image/png;base64," + base64.b64encode(
                s3.read(BUCKET, key)).decode()
            served = httpx.get(link)
            assert served.status_code == 200
            assert served.headers["content-type"] == "image/png"
            assert served.content == s3.read(BUCKET, key)
            assert Image.open(io.BytesIO(served.content)).format == "PNG"
            assert httpx.head(link).headers["content-length"] == str(len(served.content))

        # The official client's file objects read the bytes kept in the bucket.
        output = client.run("black-forest-labs/flux-schnell", input={"prompt": "a fox"})
        data_uri = output[0].read()
        assert data_uri[:4] == b"RIFF"
        [key] = [k for k in s3.keys(BUCKET, "team-a/outputs/") if k.endswith("out-0.webp")]
        assert s3.read(BUCKET, key) == data_uri

        client.files.delete(created.id)
        assert s3.keys(BUCKET, "team-a/files/") == []
        # Nothing of the files was written to the data folder.
        assert files_under(data / "outputs") == [] and files_under(data / "files") == []
    finally:
        server.stop()


def test_retention_removes_outputs_and_expired_uploads_from_the_bucket(s3, tmp_path):
    server = ServerProcess(tmp_path / "data", env=storage_env(
        s3, "kept-briefly", REPLICAST_RETENTION="2s", REPLICAST_FILE_RETENTION="2s")).start()
    try:
        with server.client() as http:
            upload = http.post("/v1/files", files={"content": ("a.png", png(8, 8), "image/png")})
            assert upload.status_code == 201, upload.text
            prediction = wait_for(http, http.post(SCHNELL, json={"input": {"prompt": "p"}}
                                                  ).json())
            assert prediction["status"] == "succeeded"
            assert s3.keys(BUCKET, f"kept-briefly/outputs/{prediction['id']}/")
            assert s3.keys(BUCKET, "kept-briefly/files/")
            give_up = time.monotonic() + 30
            while s3.keys(BUCKET, "kept-briefly/"):
                assert time.monotonic() < give_up, s3.keys(BUCKET, "kept-briefly/")
                time.sleep(0.25)
            removed = http.get(f"/v1/predictions/{prediction['id']}").json()
            assert removed["output"] is None and removed["data_removed"] is True
            assert http.get(f"/v1/files/{upload.json()['id']}").status_code == 404
    finally:
        server.stop()


def test_presigned_urls_are_the_buckets_own_with_replicasts_expiry(s3, tmp_path):
    ttl = 600
    server = ServerProcess(tmp_path / "data", env=storage_env(
        s3, "signed", REPLICAST_STORAGE_PRESIGNED_URLS="true",
        REPLICAST_OUTPUT_URL_TTL=str(ttl))).start()
    try:
        with server.client() as http:
            prediction = wait_for(http, http.post(SCHNELL, json={"input": {
                "prompt": "p", "num_outputs": 2}}).json())
            assert prediction["status"] == "succeeded", prediction
            for url in prediction["output"]:
                parts = urlsplit(url)
                assert f"{parts.scheme}://{parts.netloc}" == s3.endpoint
                assert parts.path.startswith(f"/{BUCKET}/signed/outputs/{prediction['id']}/")
                query = parse_qs(parts.query)
                signed_at = calendar.timegm(time.strptime(query["X-Amz-Date"][0],
                                                          "%Y%m%dT%H%M%SZ"))
                expires = signed_at + int(query["X-Amz-Expires"][0])
                # Replicast's rule: valid now, ending one to two TTLs from now, on a step.
                assert signed_at <= time.time() and expires % ttl == 0
                assert ttl <= expires - time.time() <= 2 * ttl + 1
                fetched = httpx.get(url)
                assert fetched.status_code == 200
                assert fetched.headers["content-type"] == "image/webp"
                assert fetched.content == s3.read(BUCKET, parts.path.split("/", 2)[2])
            # The same URLs on the next look (webhooks, polls and streams agree).
            again = http.get(f"/v1/predictions/{prediction['id']}").json()
            assert again["output"] == prediction["output"]
            # The pages show the bucket's images: their policy lets them.
            page = http.get("/login")
            assert s3.endpoint in page.headers["content-security-policy"]
    finally:
        server.stop()


def test_an_api_process_and_a_worker_share_only_the_bucket(s3, tmp_path):
    database = asyncio.run(services.create_database())
    redis = PrivateRedis(tmp_path)
    redis.start()
    env = storage_env(s3, "cluster", REPLICAST_DATABASE_URL=database,
                      REPLICAST_BROKER_URL=redis.url)
    api = ServerProcess(tmp_path / "api-machine", env=env, args=["--no-worker"])
    worker = ServerProcess(tmp_path / "gpu-machine", env=env, command="worker")
    started = []
    try:
        for process in (api, worker):
            process.start(timeout=60)
            started.append(process)
        with api.client() as http:
            upload = http.post("/v1/files", files={"content": ("r.png", png(50, 40),
                                                               "image/png")}).json()
            prediction = wait_for(http, http.post(KONTEXT, json={"input": {
                "prompt": "p", "input_image": upload["urls"]["get"]}}).json())
            assert prediction["status"] == "succeeded", prediction
            assert "Input image size: 50x40" in prediction["logs"]
            served = httpx.get(prediction["output"])
            assert served.status_code == 200
            assert served.content == s3.read(BUCKET, output_key(
                "cluster", api.base_url, prediction["output"]))
        for machine in ("api-machine", "gpu-machine"):
            assert files_under(tmp_path / machine / "outputs") == []
            assert files_under(tmp_path / machine / "files") == []
    finally:
        for process in started:
            process.stop()
        redis.kill()
        asyncio.run(services.drop_database(database))


def test_a_missing_bucket_stops_the_start_with_a_message(s3, tmp_path):
    server = ServerProcess(tmp_path / "data", env={
        **s3.env(), "REPLICAST_STORAGE_URL": "s3://no-such-bucket-here/x"})
    with pytest.raises(RuntimeError) as caught:
        server.start()
    message = str(caught.value)
    assert "REPLICAST_STORAGE_URL=s3://no-such-bucket-here/x/" in message
    assert "cannot reach the bucket" in message


def test_a_bucket_that_goes_away_fails_predictions_and_downloads_clearly(tmp_path):
    s3 = PrivateS3(tmp_path / "s3").start()
    s3.make_bucket(BUCKET)
    server = ServerProcess(tmp_path / "data", env=storage_env(s3, "fragile")).start()
    try:
        with server.client() as http:
            before = wait_for(http, http.post(SCHNELL, json={"input": {"prompt": "p"}}).json())
            assert before["status"] == "succeeded"
            s3.kill()
            gone = httpx.get(before["output"][0])
            assert gone.status_code == 503
            assert gone.json()["detail"] == ("Replicast cannot use its file storage right "
                                             "now; try again shortly.")
            after = wait_for(http, http.post(SCHNELL, json={"input": {"prompt": "p"}}).json())
            assert after["status"] == "failed"
            assert "file storage refused or did not answer" in after["error"]
            assert "could not be saved" in after["error"]
        assert "cannot write s3://replicast-e2e/fragile/outputs/" in server.output
    finally:
        server.stop()
        s3.kill()
