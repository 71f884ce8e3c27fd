"""The pages: home, a model's form, a prediction; and the posts that create and cancel.

Predictions are created, read and canceled through the same ``PredictionService`` as
the API, for the signed-in account only; those made here have source ``web``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response

from replicast import times, urls
from replicast.errors import (
    BodyTooLarge,
    InvalidField,
    InvalidInput,
    NotFound,
    Throttled,
    UpstreamRefused,
)
from replicast.files.urls import file_url
from replicast.http.ratelimits import charge_create
from replicast.http.responses import json_response, problem_response
from replicast.http.uploads import file_name, media_type
from replicast.models.base import Model
from replicast.predictions import queue, wire
from replicast.predictions.prediction import Prediction
from replicast.predictions.service import ListFilter
from replicast.state import app_state, base_url
from replicast.web import forms, views
from replicast.web.auth import SignedIn, check_post, login_url, root, signed_in
from replicast.web.bodies import read_form
from replicast.web.render import page, redirect, secured

RECENT = 50
"""Predictions the home page lists."""
SMALL_FORM_BYTES = 64 * 1024
FORM_OVERHEAD = 1 << 20
"""Room in a model form's body for what is not a file."""


async def home(request: Request) -> Response:
    """``/``: the models, and the account's newest predictions."""
    signed = await signed_in(request)
    if signed is None:
        return redirect(login_url(request))
    state = app_state(request)
    listed = await state.predictions.list(signed.account, ListFilter())
    here = root(request)
    recent = []
    for prediction in listed.results[:RECENT]:
        body = wire.to_json(prediction, links=state.links.own)
        recent.append({**body, "thumbnail": views.thumbnail(body["output"],
                                                              prediction.base_url, here)})
    models = [{"name": m.full_name, "description": m.description,
               "served_by": m.runner.served_by} for m in await state.registry.listing()]
    return page(request, "home.html", signed, models=models, recent=recent)


async def _model(request: Request) -> Model:
    name = f"{request.path_params['owner']}/{request.path_params['name']}"
    model = await app_state(request).registry.lookup(name)
    if model is None:
        raise NotFound("There is no model of that name on this server.")
    return model


async def model_page(request: Request) -> Response:
    """``/models/{owner}/{name}``: the model's input form."""
    signed = await signed_in(request)
    if signed is None:
        return redirect(login_url(request))
    model = await _model(request)
    fields = forms.fields_of(model.openapi_schema)
    return _form(request, signed, model, fields, forms.initial_values(fields))


def _form(request: Request, signed: SignedIn, model: Model, fields: list[forms.Field],
          values: dict[str, str], problems: list[InvalidField] | None = None,
          notice: str | None = None, status: int = 200) -> Response:
    errors: dict[str, str] = {}
    general: list[str] = [notice] if notice else []
    for problem in problems or []:
        name = problem.field.removeprefix("input.")
        if problem.field.startswith("input.") and any(f.name == name for f in fields):
            errors.setdefault(name, problem.description)
        else:
            general.append(problem.description)
    return page(request, "model.html", signed, status=status, model=model, fields=fields,
                values=values, errors=errors, general=general,
                upload_prefix=forms.UPLOAD_PREFIX)


async def create(request: Request) -> Response:
    """``POST /models/{owner}/{name}``: run the model on the form's input."""
    signed = await signed_in(request)
    # Before the body is read: an upload may be large, and only a signed-in person on
    # this site's pages gets to send one.
    check_post(request, None, None)
    if signed is None:
        return redirect(login_url(request))
    model = await _model(request)
    state = app_state(request)
    fields = forms.fields_of(model.openapi_schema)
    uploads = sum(f.uploads for f in fields)
    form = await read_form(request, uploads * state.settings.max_file_bytes + FORM_OVERHEAD,
                           max_files=uploads)
    try:
        check_post(request, form, signed)
        values = {key: value for key, value in form.multi_items() if isinstance(value, str)}
        try:
            await charge_create(state, signed.session.digest)  # as if made with the API
            await _upload_files(request, signed, fields, form, values)
            inputs, problems = forms.to_input(fields, values)
            if problems:
                raise InvalidInput.from_fields(problems)
            prediction = await state.predictions.create(
                signed.account, model, inputs, base_url=base_url(request), source="web")
        except InvalidInput as exc:
            return _form(request, signed, model, fields, values, exc.fields, status=422)
        except Throttled as exc:
            return _form(request, signed, model, fields, values, notice=exc.detail,
                         status=429)
        except UpstreamRefused as exc:  # a routed model's upstream said no
            return _form(request, signed, model, fields, values, notice=exc.detail,
                         status=exc.status)
    finally:
        await form.close()
    return redirect(urls.page_url(root(request), urls.PREDICTION_PAGE, id=prediction.id))


async def _upload_files(request: Request, signed: SignedIn, fields: list[forms.Field],
                        form: FormData, values: dict[str, str]) -> None:
    """Store the files chosen for ``format: uri`` inputs (and lists of them) through the
    Files API's service, and put their URLs in ``values``, as the official clients put
    them in the input: a list's files after the URLs typed in for it."""
    files = app_state(request).files
    for f in fields:
        chosen = [upload for upload in form.getlist(forms.UPLOAD_PREFIX + f.name)
                  if isinstance(upload, UploadFile) and upload.filename and upload.size]
        if not f.uploads or not chosen:
            continue
        if len(chosen) > f.uploads:
            raise InvalidInput.from_fields([InvalidField(
                "too_many_files", f"input.{f.name}",
                f"At most {f.uploads} files can be uploaded for {f.name}")])
        uploaded = []
        for upload in chosen:
            try:
                stored = await files.create(
                    signed.account, upload.file, name=file_name(upload.filename) or "upload",
                    content_type=media_type(upload.content_type), metadata={},
                    base_url=base_url(request))
            except BodyTooLarge as exc:  # the file, or the account's files, too large
                raise InvalidInput.from_fields([InvalidField(
                    "too_large", f"input.{f.name}", exc.detail)]) from None
            uploaded.append(file_url(stored.base_url, stored.id))
        if f.widget == forms.URIS:
            values[f.name] = "\n".join([values.get(f.name, "").strip(), *uploaded]).strip()
        else:
            values[f.name] = uploaded[0]


async def _prediction(request: Request, signed: SignedIn) -> Prediction:
    return await app_state(request).predictions.get(signed.account,
                                                    request.path_params["id"])


async def prediction_page(request: Request) -> Response:
    """``/p/{id}``: a prediction, followed live (``urls.web``)."""
    signed = await signed_in(request)
    if signed is None:
        return redirect(login_url(request))
    prediction = await _prediction(request, signed)
    return page(request, "prediction.html", signed,
                **await _prediction_view(request, prediction))


async def _prediction_view(request: Request, prediction: Prediction) -> dict[str, Any]:
    state = app_state(request)
    body = wire.to_json(prediction, links=state.links.own,
                        queue=await state.predictions.queue_place(prediction))
    here = root(request)
    return {
        "p": body,
        "terminal": prediction.terminal,
        "queue": queue.describe_json(body.get("queue"), times.now()),
        "items": views.output_items(body["output"], prediction.base_url, here),
        "inputs": views.input_rows(body["input"]),
        "predict_time": views.seconds(body.get("metrics", {}).get("predict_time")),
        "base": prediction.base_url,
        "stream": urls.api_url(here, urls.STREAM, token=prediction.stream_token),
    }


async def prediction_json(request: Request) -> Response:
    """``/p/{id}/json``: the prediction as the API returns it, for the page's script."""
    signed = await signed_in(request)
    if signed is None:
        return secured(problem_response(401, "Unauthenticated", "Sign in again."))
    try:
        prediction = await _prediction(request, signed)
    except NotFound as exc:
        return secured(problem_response(404, "Not found", exc.detail))
    state = app_state(request)
    return secured(json_response(wire.to_json(
        prediction, links=state.links.own, queue=await state.predictions.queue_place(prediction))))


async def cancel(request: Request) -> Response:
    """``POST /p/{id}/cancel``: the page's cancel button."""
    signed = await signed_in(request)
    form = await read_form(request, SMALL_FORM_BYTES)
    try:
        check_post(request, form, signed)
    finally:
        await form.close()
    here = urls.page_url(root(request), urls.PREDICTION_PAGE, id=request.path_params["id"])
    if signed is None:
        return redirect(f"{root(request)}{urls.LOGIN}?next={quote(here, safe='/')}")
    prediction = await app_state(request).predictions.cancel(signed.account,
                                                             request.path_params["id"])
    if "application/json" in request.headers.get("accept", ""):
        links = app_state(request).links.own
        return secured(json_response(wire.to_json(prediction, links=links)))
    return redirect(here)
