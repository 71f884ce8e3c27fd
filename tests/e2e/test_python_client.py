"""The official ``replicate`` Python client (1.x) against a real Replicast process."""

from __future__ import annotations

import io
import ssl
import time

import httpx
import pytest
import replicate
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError
from replicate.helpers import FileOutput

from tests.e2e.conftest import self_signed_certificate
from tests.support.server import TOKEN, ServerProcess

PROMPT = "a paper boat on calm water at sunrise"


def test_run_flux_schnell_over_https_gives_file_outputs(tmp_path):
    cert, key = self_signed_certificate(tmp_path)
    server = ServerProcess(tmp_path / "data", tls=(cert, key)).start()
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        transport = httpx.HTTPTransport(verify=trusted)
        client = replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)
        output = client.run("black-forest-labs/flux-schnell", input={
            "prompt": PROMPT, "aspect_ratio": "1:1", "output_format": "webp",
            "output_quality": 80, "num_outputs": 2, "seed": 7,
        })
        assert len(output) == 2 and all(isinstance(item, FileOutput) for item in output)
        for index, item in enumerate(output):
            assert item.url.startswith(f"{server.base_url}/outputs/")
            assert item.url.endswith(f"/out-{index}.webp")
            image = Image.open(io.BytesIO(item.read()))
            assert (image.format, image.size) == ("WEBP", (1024, 1024))
    finally:
        transport.close()
        server.stop()


def test_run_over_plain_http_returns_urls_serving_the_files(client, server):
    output = client.run("black-forest-labs/flux-schnell", input={
        "prompt": PROMPT, "aspect_ratio": "16:9", "output_format": "jpg", "seed": 1,
        "megapixels": "0.25",
    })
    # The client wraps only https: and data: URLs; plain http stays a string.
    assert isinstance(output, list) and len(output) == 1 and isinstance(output[0], str)
    response = httpx.get(output[0])  # no token: the URL itself is the secret
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert Image.open(io.BytesIO(response.content)).size == (672, 384)


def test_run_over_plain_http_gives_file_outputs_when_outputs_are_data_uris(tmp_path):
    server = ServerProcess(tmp_path / "data",
                           env={"REPLICAST_DATA_URI_OUTPUTS": str(4 * 1024 * 1024)}).start()
    try:
        with httpx.HTTPTransport() as transport:
            client = replicate.Client(api_token=TOKEN, base_url=server.base_url,
                                      transport=transport)
            output = client.run("black-forest-labs/flux-schnell", input={
                "prompt": PROMPT, "output_format": "png", "num_outputs": 2, "seed": 5,
                "megapixels": "0.25",
            })
            assert len(output) == 2 and all(isinstance(item, FileOutput) for item in output)
            images = [item.read() for item in output]
            assert all(item.url.startswith("data:image/png;base64,") for item in output)
            assert [Image.open(io.BytesIO(image)).format for image in images] == ["PNG", "PNG"]

            # A list, and the stored output, keep URLs, which serve the same files.
            listed = client.predictions.list().results[0]
            assert all(url.startswith(f"{server.base_url}/outputs/") for url in listed.output)
            assert [httpx.get(url).content for url in listed.output] == images
            again = client.predictions.get(listed.id)
            assert [item.startswith("data:image/png;base64,") for item in again.output] \
                == [True, True]
    finally:
        server.stop()


def test_the_same_seed_gives_the_same_image(client):
    def run_once():
        url = client.run("black-forest-labs/flux-schnell", input={
            "prompt": PROMPT, "seed": 99, "megapixels": "0.25"})[0]
        return httpx.get(url).content

    assert run_once() == run_once()


def test_create_wait_reload(client):
    prediction = client.predictions.create(model="replicast/echo",
                                           input={"prompt": "one two three"})
    assert prediction.status == "starting"
    assert prediction.version == client.models.get("replicast/echo").latest_version.id
    prediction.wait()
    assert prediction.status == "succeeded"
    assert prediction.output == ["one", " two", " three"]
    assert prediction.metrics["predict_time"] >= 0 and prediction.metrics["total_time"] > 0
    again = client.predictions.get(prediction.id)
    again.reload()
    assert again.output == prediction.output and again.completed_at == prediction.completed_at


def test_create_by_version_in_every_form(client, server):
    version = client.models.get("replicast/echo").latest_version.id
    for ref in [version, f"replicast/echo:{version}"]:
        prediction = client.predictions.create(version=ref, input={"prompt": "hi"})
        prediction.wait()
        assert (prediction.status, prediction.output, prediction.version) == \
            ("succeeded", ["hi"], version)
    official = client.predictions.create(version="black-forest-labs/flux-schnell",
                                         input={"prompt": "p", "megapixels": "0.25"})
    assert official.version == "hidden"
    with pytest.raises(ReplicateError) as caught:
        client.predictions.create(version="0" * 64, input={})
    assert caught.value.status == 422
    assert caught.value.title == "Invalid version or not permitted"


def test_run_with_a_version_iterates_the_text_output(client):
    version = client.models.get("replicast/echo").latest_version.id
    output = client.run(f"replicast/echo:{version}", input={"prompt": "a b c"})
    assert "".join(output) == "a b c"


def test_cancel_a_running_prediction(client):
    prediction = client.predictions.create(model="replicast/sleep", input={"seconds": 30})
    deadline = time.monotonic() + 10
    while prediction.status == "starting" and time.monotonic() < deadline:
        time.sleep(0.05)
        prediction.reload()
    assert prediction.status == "processing"
    prediction.cancel()
    assert prediction.status == "canceled"
    prediction.reload()
    assert prediction.status == "canceled" and prediction.metrics["predict_time"] < 30


def test_a_failed_prediction_raises_model_error(client):
    with pytest.raises(ModelError) as caught:
        client.run("replicast/fail", input={"message": "this is why"})
    assert str(caught.value) == "this is why"
    assert caught.value.prediction.status == "failed"
    assert caught.value.prediction.error == "this is why"


def test_a_bad_token_is_a_401(server):
    with httpx.HTTPTransport() as transport:
        client = replicate.Client(api_token="r8_wrong", base_url=server.base_url,
                                  transport=transport)
        with pytest.raises(ReplicateError) as caught:
            client.predictions.list()
    assert caught.value.status == 401
    assert caught.value.detail == "You did not pass a valid authentication token"


def test_wait_time_out_returns_starting_and_run_keeps_polling(client, http):
    began = time.monotonic()
    raw = http.post("/v1/models/replicast/sleep/predictions",
                    json={"input": {"seconds": 2.5}}, headers={"Prefer": "wait=1"})
    waited = time.monotonic() - began
    assert raw.status_code == 201 and 0.9 < waited < 2.2
    assert raw.json()["status"] == "starting" and raw.json()["output"] is None
    assert raw.headers["preference-applied"] == "wait=1"
    assert raw.headers["location"] == raw.json()["urls"]["get"]

    began = time.monotonic()
    output = client.run("replicast/sleep", input={"seconds": 2.5}, wait=1)
    assert output == "Slept for 2.5 seconds"
    assert time.monotonic() - began >= 2.5


def test_list_across_pages(server, transport):
    own = replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)
    created = [own.predictions.create(model="replicast/echo", input={"prompt": f"n{i}"}).id
               for i in range(205)]
    page = own.predictions.list()
    assert page.previous is None and len(page.results) == 100
    assert page.next.startswith(f"{server.base_url}/v1/predictions?cursor=")
    seen = [p.id for p in page.results]
    while page.next:
        page = own.predictions.list(cursor=page.next)
        seen += [p.id for p in page.results]
    assert len(seen) == len(set(seen))
    newest = [p for p in seen if p in set(created)]
    assert newest == list(reversed(created))
    back = own.predictions.list(cursor=own.predictions.list(
        cursor=own.predictions.list().next).previous)
    assert [p.id for p in back.results] == seen[:100]
    paginated = [p.id for page in replicate.paginate(own.predictions.list) for p in page]
    assert paginated[:len(seen)] == seen


def test_models_versions_and_account(client):
    model = client.models.get("black-forest-labs/flux-schnell")
    schema = model.latest_version.openapi_schema["components"]["schemas"]
    assert schema["Input"]["required"] == ["prompt"]
    assert schema["Input"]["properties"]["aspect_ratio"]["x-order"] == 1
    versions = list(model.versions.list())
    assert [v.id for v in versions] == [model.latest_version.id]
    assert model.versions.get(model.latest_version.id).id == model.latest_version.id
    names = {f"{m.owner}/{m.name}" for m in client.models.list()}
    assert {"black-forest-labs/flux-schnell", "black-forest-labs/flux-dev",
            "black-forest-labs/flux-kontext-pro", "replicast/echo", "replicast/fail",
            "replicast/sleep"} <= names
    echo = client.models.get("replicast/echo").latest_version.openapi_schema
    assert echo["components"]["schemas"]["Output"]["x-cog-array-type"] == "iterator"
    assert echo["components"]["schemas"]["Output"]["x-cog-array-display"] == "concatenate"
    assert client.accounts.current().username == "replicast"


def test_the_replicate_prefix_works_as_a_base_url(server, transport):
    client = replicate.Client(api_token=TOKEN, base_url=f"{server.base_url}/replicate",
                              transport=transport)
    prediction = client.predictions.create(model="replicast/echo", input={"prompt": "x"})
    prediction.wait()
    assert prediction.output == ["x"]
    assert client.predictions.list().results[0].id == prediction.id


def test_image_inputs_as_data_uris(client):
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    output = client.run("black-forest-labs/flux-dev", input={
        "prompt": "make it blue", "image": buffer, "num_inference_steps": 2, "seed": 4,
    }, file_encoding_strategy="base64")
    assert Image.open(io.BytesIO(httpx.get(output[0]).content)).size == (640, 480)
    buffer.seek(0)
    edited = client.run("black-forest-labs/flux-kontext-pro", input={
        "prompt": "make it blue", "input_image": buffer, "output_format": "jpg"},
        file_encoding_strategy="base64")
    assert isinstance(edited, str)
    assert Image.open(io.BytesIO(httpx.get(edited).content)).size == (1184, 880)


def test_a_broken_input_image_fails_the_prediction_clearly(client):
    with pytest.raises(ModelError) as caught:
        client.run("black-forest-labs/flux-dev", input={
            "prompt": "p", "image": "data:image/png;base64,bm90IGFuIGltYWdl"})
    assert "could not be read as an image" in str(caught.value)



class _OnlyUnder(httpx.BaseTransport):
    """A gateway that passes only the paths under one prefix (CometAPI's ``/replicate/v1``)."""

    def __init__(self, inner: httpx.BaseTransport, prefix: str) -> None:
        self.inner, self.prefix = inner, prefix

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith(self.prefix + "/"):
            return httpx.Response(404, json={"detail": f"not under {self.prefix}"})
        return self.inner.handle_request(request)


def test_a_client_behind_a_gateway_of_one_prefix_follows_the_urls_it_is_given(server, transport):
    gateway = _OnlyUnder(transport, "/replicate/v1")
    # The client adds /v1/... to its base URL: the base is the server's /replicate.
    own = replicate.Client(api_token=TOKEN, base_url=f"{server.base_url}/replicate",
                           transport=gateway)
    api = f"{server.base_url}/replicate/v1"
    prediction = own.predictions.create(model="replicast/echo",
                                        input={"prompt": "one two three"}, stream=True)
    assert prediction.urls["get"] == f"{api}/predictions/{prediction.id}"
    assert prediction.urls["cancel"] == f"{api}/predictions/{prediction.id}/cancel"
    assert prediction.urls["stream"].startswith(f"{api}/streams/")
    assert prediction.urls["web"] == f"{server.base_url}/p/{prediction.id}"
    streamed = "".join(str(event) for event in prediction.stream())  # follows urls.stream
    assert streamed == "one two three"
    prediction.wait()
    assert prediction.status == "succeeded" and prediction.urls["get"].startswith(api)

    for _ in range(101):
        own.predictions.create(model="replicast/echo", input={"prompt": "page"})
    page = own.predictions.list()
    assert page.next.startswith(f"{api}/predictions?cursor=")
    assert all(p.urls["get"].startswith(api) for p in page.results)
    second = own.predictions.list(cursor=page.next)  # the client requests the URL as given
    assert second.previous.startswith(f"{api}/predictions?cursor=")
    assert [p.id for p in own.predictions.list(cursor=second.previous).results] == \
        [p.id for p in page.results]

    slow = own.predictions.create(model="replicast/sleep", input={"seconds": 30})
    own.predictions.cancel(slow.id)
    slow.reload()
    assert slow.status == "canceled" and slow.urls["cancel"].startswith(api)

    # Asked under /v1, the same prediction names /v1; its webhooks name where it was made.
    plain = replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)
    assert plain.predictions.get(slow.id).urls["get"] == \
        f"{server.base_url}/v1/predictions/{slow.id}"


def test_a_waiting_prediction_says_its_place_in_the_queue(tmp_path, transport):
    # No worker: every prediction waits, in the order it came.
    server = ServerProcess(tmp_path / "data", args=["--no-worker"]).start()
    try:
        own = replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)
        waiting = [own.predictions.create(model="replicast/echo", input={"prompt": "x"})
                   for _ in range(3)]
        fetched = own.predictions.get(waiting[2].id)  # the client takes the extra field
        assert fetched.status == "starting" and fetched.id == waiting[2].id
        with server.client() as http:
            queue = http.get(f"/v1/predictions/{waiting[2].id}").json()["queue"]
            assert queue == {"position": 3, "estimated_start": None}  # no run to go by
            own.predictions.cancel(waiting[0].id)
            assert http.get(f"/v1/predictions/{waiting[2].id}").json()["queue"]["position"] == 2
            assert "queue" not in http.get(f"/v1/predictions/{waiting[0].id}").json()
    finally:
        server.stop()
