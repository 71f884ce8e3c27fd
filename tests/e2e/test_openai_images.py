"""The official ``openai`` Python package against OpenAI's images API on a real Replicast
process: each request a prediction, readable through Replicate's API."""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from tests.support.server import TOKEN, ServerProcess

PREDICTORS = Path(__file__).parents[1] / "predictors"
PROMPT = "a paper boat on calm water at sunrise"
KLEIN = "black-forest-labs/flux-2-klein-4b"
PICTURES = "test/pictures"
INPAINT = "test/inpaint"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(tmp_path_factory.mktemp("server"), env={
        "REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0",
        "REPLICAST_PREDICTORS": f"{PICTURES}={PREDICTORS / 'images.py'}:Pictures,"
                                f"{INPAINT}={PREDICTORS / 'images.py'}:Inpaint,"
                                f"test/text={PREDICTORS / 'outputs.py'}:Text"}).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def images(server):
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=TOKEN,
                       max_retries=0) as client:
        yield client


def _png(size: tuple[int, int], colour: str = "red") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def _prediction(http, raw) -> dict:
    prediction_id = raw.headers["x-replicast-prediction-id"]
    response = http.get(f"/v1/predictions/{prediction_id}")
    assert response.status_code == 200
    return response.json()


def test_generation_answers_signed_urls_of_the_prediction(images, http):
    raw = images.images.with_raw_response.generate(
        prompt=PROMPT, size="1536x1024", output_format="png", extra_body={"seed": 7})
    result = raw.parse()
    assert result.created > 0 and len(result.data) == 1
    url = result.data[0].url
    assert url is not None and "/outputs/" in url and url.endswith(".png")
    picture = Image.open(io.BytesIO(httpx.get(url).content))
    assert (picture.format, picture.size) == ("PNG", (1216, 832))  # flux-schnell's 3:2
    prediction = _prediction(http, raw)
    assert prediction["model"] == "black-forest-labs/flux-schnell"
    assert prediction["status"] == "succeeded"
    assert prediction["input"] == {"prompt": PROMPT, "aspect_ratio": "3:2", "megapixels": "1",
                                   "output_format": "png", "seed": 7}
    listed = http.get("/v1/predictions").json()["results"]
    assert prediction["id"] in [p["id"] for p in listed]


def test_b64_json_carries_the_image_and_n_makes_several(images, http):
    raw = images.images.with_raw_response.generate(
        prompt=PROMPT, n=3, size="1024x1024", response_format="b64_json",
        output_format="webp", output_compression=60, quality="high",
        model="black-forest-labs/flux-schnell")
    result = raw.parse()
    assert len(result.data) == 3 and all(d.url is None for d in result.data)
    for item in result.data:
        picture = Image.open(io.BytesIO(base64.b64decode(item.b64_json)))
        assert (picture.format, picture.size) == ("WEBP", (1024, 1024))
    assert result.output_format == "webp" and result.size == "1024x1024"
    given = _prediction(http, raw)["input"]
    assert given["num_outputs"] == 3 and given["output_quality"] == 60
    assert given["go_fast"] is False


def test_a_flux2_model_gets_the_exact_size_as_custom_width_and_height(images, http):
    raw = images.images.with_raw_response.generate(
        model="black-forest-labs/flux-2-pro", prompt=PROMPT, size="1024x768",
        response_format="b64_json")
    picture = Image.open(io.BytesIO(base64.b64decode(raw.parse().data[0].b64_json)))
    assert picture.size == (1024, 768)
    given = _prediction(http, raw)["input"]
    assert (given["aspect_ratio"], given["width"], given["height"]) == ("custom", 1024, 768)


def test_the_openai_prefix_serves_the_same_api(server):
    with openai.OpenAI(base_url=f"{server.base_url}/openai/v1", api_key=TOKEN,
                       max_retries=0) as client:
        result = client.images.generate(prompt=PROMPT, size="auto",
                                        extra_body={"megapixels": "0.25"})
    picture = Image.open(io.BytesIO(httpx.get(result.data[0].url).content))
    assert picture.size == (512, 512)


def test_an_edit_with_one_image_stores_it_as_an_upload(images, http):
    raw = images.images.with_raw_response.edit(
        model="black-forest-labs/flux-kontext-pro", image=("boat.png", _png((640, 480))),
        prompt="make it night", response_format="b64_json")
    picture = Image.open(io.BytesIO(base64.b64decode(raw.parse().data[0].b64_json)))
    assert picture.size[0] / picture.size[1] == pytest.approx(640 / 480, 0.05)
    given = _prediction(http, raw)["input"]
    assert given["input_image"].startswith(f"{http.base_url}/v1/files/")
    upload = http.get(given["input_image"].removeprefix(str(http.base_url))).json()
    assert upload["name"] == "boat.png" and upload["metadata"] == {"purpose": "images/edits"}


def test_an_edit_with_several_images_gives_the_model_all_of_them(images, http):
    raw = images.images.with_raw_response.edit(
        model=KLEIN, prompt="the two side by side",
        image=[("a.png", _png((512, 512))), ("b.png", _png((256, 256), "blue"))])
    assert raw.parse().data[0].url
    prediction = _prediction(http, raw)
    assert prediction["status"] == "succeeded" and len(prediction["input"]["images"]) == 2


def test_streaming_sends_partial_images_then_the_completed_event(images, http):
    raw = images.images.with_raw_response.generate(
        prompt=PROMPT, stream=True, partial_images=2, size="1024x1024", output_format="jpeg")
    events = list(raw.parse())
    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + [
        "image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    partials = [Image.open(io.BytesIO(base64.b64decode(e.b64_json))) for e in events[:2]]
    assert {(p.format, p.size) for p in partials} == {("JPEG", (1024, 1024))}
    assert all(e.output_format == "jpeg" and e.size == "1024x1024" for e in events[:2])
    assert partials[0].tobytes() != partials[1].tobytes()  # the image as it went
    prediction = _prediction(http, raw)
    assert prediction["status"] == "succeeded"
    completed = events[-1]
    assert completed.output_format == "jpeg" and completed.size == "1024x1024"
    picture = Image.open(io.BytesIO(base64.b64decode(completed.b64_json)))
    assert (picture.format, picture.size) == ("JPEG", (1024, 1024))


def test_streaming_an_edit_sends_image_edit_events(images):
    stream = images.images.edit(model=KLEIN, image=("a.png", _png((512, 512))),
                                prompt="a hat", stream=True, partial_images=1)
    assert [e.type for e in stream] == ["image_edit.partial_image", "image_edit.completed"]


@pytest.mark.parametrize(("call", "param"), [
    (dict(prompt=PROMPT, size="big"), "size"),
    (dict(prompt=PROMPT, size="4000x1000"), "size"),
    (dict(prompt=PROMPT, n=5), "n"),
    (dict(prompt=PROMPT, model="black-forest-labs/flux-2-pro", n=2), "n"),
    (dict(prompt=PROMPT, model="black-forest-labs/flux-kontext-pro", output_format="webp"),
     "output_format"),
    (dict(prompt=PROMPT, extra_body={"strength": 3}), "strength"),
    (dict(prompt=PROMPT, extra_body={"num_inference_steps": 99}), "num_inference_steps"),
    (dict(prompt=PROMPT, response_format="svg"), "response_format"),
])
def test_bad_generations_raise_bad_request_naming_the_parameter(images, call, param):
    with pytest.raises(openai.BadRequestError) as raised:
        images.images.generate(**call)
    assert raised.value.status_code == 400
    assert raised.value.param == param
    assert raised.value.type == "invalid_request_error"


def test_an_unknown_model_is_not_found(images):
    with pytest.raises(openai.NotFoundError) as raised:
        images.images.generate(prompt=PROMPT, model="nobody/nothing")
    assert raised.value.code == "model_not_found" and raised.value.param == "model"


def test_a_bad_token_is_an_authentication_error(server):
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key="r8_wrong",
                       max_retries=0) as client, pytest.raises(openai.AuthenticationError):
        client.images.generate(prompt=PROMPT)


@pytest.mark.parametrize(("call", "param"), [
    (dict(model="black-forest-labs/flux-schnell", image=("a.png", _png((64, 64)))), "image"),
    (dict(model="black-forest-labs/flux-kontext-pro",
          image=[("a.png", _png((64, 64))), ("b.png", _png((64, 64)))]), "image"),
    (dict(model=KLEIN, image=("a.png", _png((64, 64))), mask=("m.png", _png((64, 64)))),
     "mask"),
    (dict(model=KLEIN, image=("a.txt", b"not an image")), "image"),
])
def test_bad_edits_raise_bad_request(images, call, param):
    with pytest.raises(openai.BadRequestError) as raised:
        images.images.edit(prompt="x", **call)
    assert raised.value.param == param


def test_an_edit_without_an_image_is_refused(server):
    response = httpx.post(f"{server.base_url}/v1/images/edits",
                          headers={"Authorization": f"Bearer {TOKEN}"},
                          files={"prompt": (None, "x")})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "image"


def test_a_users_predictor_with_width_and_height_gets_the_size(images, http):
    raw = images.images.with_raw_response.generate(model=PICTURES, prompt=PROMPT,
                                                   size="320x200")
    picture = Image.open(io.BytesIO(httpx.get(raw.parse().data[0].url).content))
    assert picture.size == (320, 200)
    assert _prediction(http, raw)["input"] == {"prompt": PROMPT, "width": 320, "height": 200}


def test_a_model_that_makes_no_images_is_refused(images):
    with pytest.raises(openai.BadRequestError) as raised:
        images.images.generate(model="test/text", prompt=PROMPT)
    assert raised.value.param == "model"


def test_a_client_that_goes_away_cancels_the_prediction(server, http):
    with httpx.Client(timeout=2.0) as client, pytest.raises(httpx.ReadTimeout):
        client.post(f"{server.base_url}/v1/images/generations",
                    headers={"Authorization": f"Bearer {TOKEN}"},
                    json={"prompt": PROMPT, "model": PICTURES, "seconds": 30})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        latest = http.get("/v1/predictions").json()["results"][0]
        if latest["status"] == "canceled":
            break
        time.sleep(0.1)
    assert latest["model"] == PICTURES and latest["status"] == "canceled"


def test_the_npm_openai_client_works_unchanged(server, http):
    js = Path(__file__).parents[1] / "js"
    if shutil.which("node") is None:
        pytest.fail("Node.js is needed for the npm client tests: install nodejs")
    if not (js / "node_modules" / "openai").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=js, check=True)
    result = subprocess.run(
        ["node", "images.mjs"], cwd=js, capture_output=True, text=True, timeout=300,
        env={**os.environ, "REPLICAST_URL": server.base_url, "REPLICAST_TOKEN": TOKEN},
    )
    assert result.returncode == 0, result.stderr + result.stdout
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["generated"] == 2 and seen["download_type"] == "image/png"
    assert seen["b64_bytes"] > 0 and seen["edited"] == 1
    edit = http.get(f"/v1/predictions/{seen['edit_prediction']}").json()
    assert edit["model"] == KLEIN and len(edit["input"]["images"]) == 2
    assert seen["stream"] == ["image_generation.partial_image", "image_generation.completed"]
    assert seen["bad_size"] == ["BadRequestError", 400, "size"]
    assert seen["unknown_model"] == ["NotFoundError", 404, "model_not_found"]
    assert seen["bad_token"] == ["AuthenticationError", 401]


def test_an_edit_with_a_mask_gives_it_to_the_models_mask_input(images, http):
    mask = Image.new("L", (64, 32), 0)
    mask.paste(255, (0, 0, 32, 32))  # the left half
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    raw = images.images.with_raw_response.edit(
        model=INPAINT, image=("a.png", _png((64, 32))), mask=("m.png", buffer.getvalue()),
        prompt="paint it", response_format="b64_json")
    picture = Image.open(io.BytesIO(base64.b64decode(raw.parse().data[0].b64_json)))
    assert picture.getpixel((8, 8)) == (0, 0, 255) and picture.getpixel((56, 8)) == (255, 0, 0)
    prediction = _prediction(http, raw)
    assert "/v1/files/" in prediction["input"]["mask"]  # kept as the account's upload


def test_a_mask_of_another_size_than_the_image_is_a_400(images):
    with pytest.raises(openai.BadRequestError) as refused:
        images.images.edit(model=INPAINT, image=("a.png", _png((64, 32))),
                           mask=("m.png", _png((32, 32))), prompt="paint it")
    assert refused.value.param == "mask"
    assert "same size" in refused.value.message


def test_a_streamed_prediction_that_fails_raises_the_sdks_error(images, http):
    stream = images.images.generate(model=PICTURES, prompt=PROMPT, stream=True,
                                    extra_body={"fail": True})
    with pytest.raises(openai.APIError) as failed:
        list(stream)
    assert "asked to fail" in failed.value.message


def test_a_stream_the_client_leaves_cancels_its_prediction(server, http):
    with httpx.Client(base_url=server.base_url, timeout=30,
                      headers={"Authorization": f"Bearer {TOKEN}"}) as client, \
            client.stream("POST", "/v1/images/generations", json={
                "model": PICTURES, "prompt": PROMPT, "stream": True,
                "seconds": 30}) as response:
        prediction_id = response.headers["x-replicast-prediction-id"]
    # closed before the end: the prediction is canceled, not run to its end
    for _ in range(100):
        status = http.get(f"/v1/predictions/{prediction_id}").json()["status"]
        if status == "canceled":
            break
        time.sleep(0.1)
    assert status == "canceled"
