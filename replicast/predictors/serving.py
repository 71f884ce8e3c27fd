"""The models that users' predictors become, started alongside the server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from datetime import UTC, datetime

from replicast.errors import ConfigError
from replicast.models.base import Model
from replicast.models.schema import cog_openapi
from replicast.predictors.runner import PredictorRunner
from replicast.predictors.spec import PredictorSpec

log = logging.getLogger(__name__)


def check_names(specs: tuple[PredictorSpec, ...], taken: set[str]) -> None:
    """Refuse a predictor whose name is another model's (``ConfigError``)."""
    seen = set(taken)
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{spec.name} is already the name of another model: give the "
                              "predictor another --model-name")
        seen.add(spec.name)


async def predictor_models(specs: tuple[PredictorSpec, ...], *, setup_timeout: float,
                           run_predictions: bool, stack: contextlib.AsyncExitStack,
                           health_interval: float = 10.0,
                           health_timeout: float = 5.0) -> list[Model]:
    """Start each predictor's process and make its model from the schema it reports.

    Returns once every predictor is loaded (setups go on in the background). A
    predictor that cannot even be loaded is still served, with no inputs, its setup
    marked failed: its page says why and its predictions fail saying so. Without
    ``run_predictions`` the processes only describe the predictors and exit. A
    predictor's ``healthcheck()`` is called every ``health_interval`` seconds while it is
    idle, and may take ``health_timeout`` seconds.
    """
    runners = [PredictorRunner(spec, setup_timeout=cog_setup_timeout(spec) or setup_timeout,
                               describe_only=not run_predictions,
                               health_interval=health_interval,
                               health_timeout=health_timeout) for spec in specs]
    for runner in runners:
        stack.push_async_callback(runner.close)
    descriptions = await asyncio.gather(*(runner.start() for runner in runners))
    models = []
    for spec, runner, description in zip(specs, runners, descriptions, strict=True):
        owner, name = spec.name.split("/")
        models.append(Model(
            owner=owner,
            name=name,
            description=spec.description or description.description or "",
            openapi_schema=description.schema or cog_openapi([], {}),
            runner=runner,
            version_created_at=datetime.fromtimestamp(spec.file.stat().st_mtime, UTC),
            visibility="private",
            null_inputs=False,
        ))
    return models


def cog_setup_timeout(spec: PredictorSpec) -> float | None:
    """``COG_SETUP_TIMEOUT`` (seconds) as the predictor sees it (``cog.yaml``'s
    ``environment:`` or the server's environment); None if unset. ``ConfigError`` if
    it is not a positive number. ``COG_MAX_CONCURRENCY`` above 1 is said not to apply."""
    concurrency = spec.setting("COG_MAX_CONCURRENCY")
    if concurrency not in (None, "", "1"):
        log.warning("%s: COG_MAX_CONCURRENCY=%s does not apply: a predictor runs one "
                    "prediction at a time", spec.name, concurrency)
    text = spec.setting("COG_SETUP_TIMEOUT")
    if text is None or text.strip() == "":
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{spec.name}: COG_SETUP_TIMEOUT={text!r} is not a number of seconds "
                          "above 0")
    return seconds
