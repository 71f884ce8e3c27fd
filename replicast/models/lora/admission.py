"""What a LoRA model refuses at the create, before a prediction is queued.

Every ``lora_weights``/``extra_lora`` value must name a LoRA in a form Replicast serves
(``sources``). An upload named by its URL is on this server's disk already (uploads kept
in the data folder), so its header is read at once: a file that is missing, too large or
no FLUX.1 LoRA gets a 422 naming the input rather than a prediction that fails later.
Uploads kept in a bucket, hub repositories and URLs are fetched only when the prediction
runs, and checked then (an upload that is missing is still refused here).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from replicast.errors import InvalidField, InvalidInput, NotFound
from replicast.models.base import OwnFilePath
from replicast.models.lora import check as lora_check
from replicast.models.lora import spec as lora_spec
from replicast.models.lora.sources import NotALora, OwnSource, parse


async def check_create(model: str, max_bytes: int, inputs: Mapping[str, Any],
                       base_url: str, own_path: OwnFilePath) -> None:
    """Refuse, naming each input, LoRA inputs of ``model`` (a LoRA model's name) that
    name no LoRA served here, or an upload that is no LoRA for its base model."""
    base = lora_spec.BASE_NAMES.get(lora_spec.BASE_MODELS.get(model, ""), "FLUX.1")
    problems = []
    for field in lora_spec.SCALES:
        value = inputs.get(field)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            source = parse(value, base_url)
            if isinstance(source, OwnSource):
                await _check_upload(source.url, own_path, max_bytes, base)
        except NotALora as exc:
            problems.append(InvalidField("invalid_lora", f"input.{field}", str(exc)))
    if problems:
        raise InvalidInput.from_fields(problems)


async def _check_upload(url: str, own_path: OwnFilePath, max_bytes: int, base: str) -> None:
    try:
        path = await own_path(url)
    except NotFound:
        raise NotALora(f"{url} is no file uploaded by this account (or it has expired)"
                       ) from None
    if path is None:  # the server keeps no uploads: the run says what it finds
        return
    try:
        await asyncio.to_thread(_check_file, path, max_bytes, base)
    except OSError:  # deleted meanwhile: the run fails it, saying so
        return


def _check_file(path: Path, max_bytes: int, base: str) -> None:
    size = path.stat().st_size
    if size > max_bytes:
        raise NotALora(f"the uploaded LoRA is {size} bytes; the largest taken is "
                       f"{max_bytes} (REPLICAST_LORA_MAX_BYTES)")
    try:
        lora_check.check_kind(lora_check.read_shapes(path), base)
    except lora_check.NotForThisModel as exc:
        raise NotALora(f"the uploaded file is not a LoRA for {base}: {exc}") from None
