"""Routes of OpenAI's images API: ``POST /v1/images/generations`` and
``POST /v1/images/edits`` (also under ``/openai/v1``).

Each request is a prediction like any other (durable, listed, with its page), created
through the same ``PredictionService``; the request waits for it and answers in
OpenAI's shape, or streams OpenAI's events. A client that goes away before the end
cancels it. Errors are answered in OpenAI's shape (``http/openai_problems.py``).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from PIL import Image, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from replicast import urls
from replicast.accounts.account import Account
from replicast.api import sse
from replicast.errors import RequestError, StorageUnavailable
from replicast.files.names import visible
from replicast.files.urls import file_url
from replicast.http.body import parse_json, read_body
from replicast.http.openai_problems import error_body, openai_error
from replicast.http.responses import json_response
from replicast.http.uploads import MAX_NAME_BYTES, media_type, read_form
from replicast.models.base import Model
from replicast.openai_images import mapping, wire
from replicast.openai_images.errors import ImageRequestRefused, ModelNotFound
from replicast.predictions.events import EventKind
from replicast.predictions.prediction import Prediction
from replicast.predictions.status import Status
from replicast.state import AppState, app_state, authenticate, base_url

PREDICTION_HEADER = "x-replicast-prediction-id"
"""The id of the prediction behind an answer, to read it through Replicate's API."""
MAX_EDIT_IMAGES = 16
MAX_EDIT_PIXELS = 40_000_000
"""The largest image an edit takes (as the models' own input images)."""
_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")
_WAIT_STEP = 60.0

Handler = Callable[[Request], Awaitable[Response]]


def openai_errors(handler: Handler) -> Handler:
    """Answer Replicast's request errors in OpenAI's shape."""

    @functools.wraps(handler)
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except RequestError as exc:
            return openai_error(exc)

    return answer


@openai_errors
async def generations(request: Request) -> Response:
    """``POST /v1/images/generations``: a JSON body."""
    account = await authenticate(request)
    state = app_state(request)
    body = parse_json(await read_body(request, state.settings.max_request_bytes))
    if not isinstance(body, dict):
        raise ImageRequestRefused("The body must be a JSON object", None, "invalid_json")
    asked = mapping.parse_request(body)
    model = await _model(state, asked.model)
    inputs = mapping.model_input(model.openapi_schema, asked)
    return await _run(request, account, model, inputs, asked, "image_generation")


@openai_errors
async def edits(request: Request) -> Response:
    """``POST /v1/images/edits``: multipart, one or several ``image`` parts and an
    optional ``mask``, stored as the account's uploaded files."""
    account = await authenticate(request)
    state = app_state(request)
    async with read_form(request, state.settings.max_file_bytes,
                         max_files=MAX_EDIT_IMAGES + 1) as form:
        images = [p for key in ("image", "image[]") for p in form.getlist(key)
                  if isinstance(p, UploadFile)]
        mask = form.get("mask")
        fields = {k: v for k, v in form.multi_items()
                  if k not in {"image", "image[]", "mask"} and isinstance(v, str)}
        asked = mapping.parse_request(fields, form=True)
        if not images:
            raise ImageRequestRefused("image is required: one or more image files", "image",
                                      "missing_required_parameter")
        if len(images) > MAX_EDIT_IMAGES:
            raise ImageRequestRefused(f"At most {MAX_EDIT_IMAGES} images may be given", "image")
        if mask is not None and not isinstance(mask, UploadFile):
            raise ImageRequestRefused("mask must be an image file", "mask")
        model = await _model(state, asked.model)
        # Refuse what the model cannot take before anything is stored.
        mapping.model_input(model.openapi_schema, asked, images=[""] * len(images),
                            mask=None if mask is None else "")
        sizes = [await asyncio.to_thread(_image_size, part, "image") for part in images]
        if mask is not None and await asyncio.to_thread(_image_size, mask, "mask") != sizes[0]:
            raise ImageRequestRefused(
                "mask must be the same size as the (first) image", "mask")
        kept = [await _store(request, account, part) for part in images]
        if mask is not None:
            kept.append(await _store(request, account, mask))
    urls = [file_url(base_url(request), file_id) for file_id in kept]
    inputs = mapping.model_input(model.openapi_schema, asked, images=urls[:len(images)],
                                 mask=urls[-1] if mask is not None else None)
    try:
        return await _run(request, account, model, inputs, asked, "image_edit")
    except RequestError:  # refused at the create: keep no orphans
        for file_id in kept:
            await state.files.delete(account, file_id)
        raise


async def _model(state: AppState, name: str | None) -> Model:
    name = name or state.settings.images_default_model
    model = await state.registry.lookup(name) if name.count("/") == 1 else None
    if model is None:
        raise ModelNotFound(name)
    if not mapping.makes_images(model.openapi_schema):
        raise ImageRequestRefused(f"The model `{name}` does not make images", "model",
                                  "invalid_model")
    return model


def _name(given: str | None) -> str:
    """An uploaded image's file name, as ``/v1/files`` keeps names: shown characters only,
    at most ``MAX_NAME_BYTES`` of UTF-8."""
    name = visible(given or "").encode()[:MAX_NAME_BYTES].decode(errors="ignore")
    return name or "image"


def _image_size(part: UploadFile, param: str) -> tuple[int, int]:
    try:
        with Image.open(part.file, formats=_IMAGE_FORMATS) as image:
            size: tuple[int, int] = image.size
            if size[0] * size[1] > MAX_EDIT_PIXELS:
                raise ImageRequestRefused(
                    f"{param} is {size[0]}x{size[1]}: larger than {MAX_EDIT_PIXELS} pixels",
                    param)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        raise ImageRequestRefused(f"{param} must be an image file (PNG, JPEG or WebP)",
                                  param) from None
    finally:
        part.file.seek(0)
    return size


async def _store(request: Request, account: Account, part: UploadFile) -> str:
    """Keep an uploaded image as the account's file; its id."""
    state = app_state(request)
    stored = await state.files.create(
        account, part.file, name=_name(part.filename),
        content_type=media_type(part.content_type), metadata={"purpose": "images/edits"},
        base_url=base_url(request))
    return stored.id


async def _run(request: Request, account: Account, model: Model, inputs: dict[str, Any],
               asked: mapping.ImageRequest, events: str) -> Response:
    state = app_state(request)
    # A stream listens to its prediction before it is queued, so as to miss no preview.
    prediction = await state.predictions.create(
        account, model, inputs, base_url=base_url(request),
        previews=asked.partial_images if asked.stream else 0, queue=not asked.stream)
    headers = {PREDICTION_HEADER: prediction.id}
    if asked.stream:
        outcome = _Outcome()
        return _PredictionStream(
            _stream(request, prediction, asked, events, outcome), outcome,
            functools.partial(state.predictions.abandon, account, prediction.id),
            media_type="text/event-stream", headers={**headers, "Cache-Control": "no-cache"})
    finished = await _finish(request, account, prediction)
    if finished is None:
        return Response(status_code=499, headers=headers)  # nobody reads it
    if finished.status is not Status.SUCCEEDED:
        return _failed(finished, headers)
    b64 = asked.response_format == "b64_json"
    try:
        pictures = await _pictures(state, finished, read=b64)
    except _Unavailable as exc:
        return _unavailable(str(exc), headers)
    body = await asyncio.to_thread(wire.response, _created(finished), pictures, b64)
    return json_response(body, headers=headers)


class _Outcome:
    """Whether a stream saw its prediction end (else the client went first)."""

    ended = False


class _PredictionStream(StreamingResponse):
    """A stream of one prediction's events that cancels the prediction when it stops
    before the prediction ends: the client went away, even before the first event."""

    def __init__(self, content: AsyncIterator[bytes], outcome: _Outcome,
                 abandon: Callable[[], None], **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self._outcome = outcome
        self._abandon = abandon

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._outcome.ended:
                self._abandon()


class _Unavailable(Exception):
    """An output of a prediction that succeeded cannot be read back (this server's fault)."""


def _unavailable(message: str, headers: dict[str, str]) -> Response:
    return json_response(error_body(message, "server_error", None, "output_unavailable"),
                         status=500, headers={**headers, "x-should-retry": "false"})


async def _stream(request: Request, prediction: Prediction, asked: mapping.ImageRequest,
                  events: str, outcome: _Outcome) -> AsyncIterator[bytes]:
    """OpenAI's events: a ``partial_image`` event for each preview the run sends, then
    each image's ``completed`` event once the prediction ends, or an ``error`` event.
    ``outcome`` says whether the prediction ended (``_PredictionStream`` cancels it if
    not)."""
    state = app_state(request)
    created = _created(prediction)
    sent = 0
    async with state.broker.subscribe(prediction.id) as subscription:
        await state.predictions.enqueue(prediction)
        latest = prediction
        while not latest.terminal:
            event = await subscription.next(_WAIT_STEP)
            if event is None:  # quiet for a while: read the state afresh
                latest = await state.predictions.wait(latest, 0)
            elif event.kind is EventKind.PREVIEW:
                partial = await asyncio.to_thread(_partial, events, created, event.data,
                                                  asked.quality)
                yield sse.encode(partial["type"], sse.json_data(partial), str(sent))
                sent += 1
            elif event.kind is EventKind.STATUS and event.prediction is not None:
                latest = event.prediction
    outcome.ended = True
    if latest.status is not Status.SUCCEEDED:
        error = _failure(latest)["error"]
        yield sse.encode("error", sse.json_data(wire.error_event(error)), str(sent))
        return
    try:
        pictures = await _pictures(state, latest, read=True)
    except _Unavailable as exc:
        error = error_body(str(exc), "server_error", None, "output_unavailable")["error"]
        yield sse.encode("error", sse.json_data(wire.error_event(error)), str(sent))
        return
    for index, picture in enumerate(pictures):
        body = await asyncio.to_thread(wire.completed_event, events, created, picture,
                                       asked.quality)
        yield sse.encode(body["type"], sse.json_data(body), str(sent + index))


def _partial(events: str, created: int, preview: dict[str, Any], quality: str | None
             ) -> dict[str, Any]:
    size = _size(base64.b64decode(preview["b64"]))
    return wire.partial_event(events, created, preview, size, quality)


async def _finish(request: Request, account: Account, prediction: Prediction
                  ) -> Prediction | None:
    """The prediction once it ends; None, and the prediction canceled, if the client
    goes away first."""
    service = app_state(request).predictions

    async def until_terminal() -> Prediction:
        latest = prediction
        while not latest.terminal:
            latest = await service.wait(latest, _WAIT_STEP)
        return latest

    async def disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    waiting = asyncio.ensure_future(until_terminal())
    gone = asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        gone.cancel()
        if not waiting.done():
            waiting.cancel()
            service.abandon(account, prediction.id)
    return waiting.result() if waiting.done() and not waiting.cancelled() else None


def _failure(prediction: Prediction) -> dict[str, Any]:
    if prediction.status is Status.FAILED:
        message = f"Prediction {prediction.id} failed: {prediction.error or 'no reason given'}"
    else:
        message = f"Prediction {prediction.id} was {prediction.status.value}"
    return error_body(message, "server_error", None, f"prediction_{prediction.status.value}")


def _failed(prediction: Prediction, headers: dict[str, str]) -> Response:
    # The run happened: a retry by the SDK would make another, so say not to.
    return json_response(_failure(prediction), status=500,
                         headers={**headers, "x-should-retry": "false"})


def _created(prediction: Prediction) -> int:
    return int(prediction.created_at.timestamp())


async def _pictures(state: AppState, prediction: Prediction, *, read: bool
                    ) -> list[wire.Picture]:
    """The prediction's output images: signed URLs, and their bytes when ``read``."""
    output = prediction.output
    plain = [u for u in (output if isinstance(output, list) else [output])
             if isinstance(u, str)]
    signed = state.links.sign(plain, prediction.base_url, prediction.id)
    pictures = []
    for url, link in zip(plain, signed, strict=True):
        if not read:
            pictures.append(wire.Picture(link))
            continue
        data = await _read_output(state, prediction, url)
        pictures.append(wire.Picture(link, data, _size(data)))
    return pictures


async def _read_output(state: AppState, prediction: Prediction, url: str) -> bytes:
    prefix = f"{prediction.base_url}{urls.OUTPUTS}/{prediction.id}/"
    folder, _, name = url.removeprefix(prefix).partition("/")
    if not url.startswith(prefix) or not name:
        raise _Unavailable(f"The output {url} of prediction {prediction.id} is not a file "
                           "of this server")
    try:
        data = await state.outputs.read(prediction.id, folder, unquote(name))
    except StorageUnavailable as exc:
        raise _Unavailable(f"The output {url} of prediction {prediction.id} cannot be read "
                           "now: Replicast's file storage refused or did not answer"
                           ) from exc
    if data is None:
        raise _Unavailable(f"The output {url} of prediction {prediction.id} cannot be read: "
                           "it is no longer kept")
    return data


def _size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            size: tuple[int, int] = image.size
    except (UnidentifiedImageError, OSError):
        return None
    return size
