"""The models that users' predictors become, started alongside the server."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

from replicast.errors import ConfigError
from replicast.models.base import Model
from replicast.models.schema import cog_openapi
from replicast.predictors.runner import PredictorRunner
from replicast.predictors.spec import PredictorSpec


def check_names(specs: tuple[PredictorSpec, ...], taken: set[str]) -> None:
    """Refuse a predictor whose name is another model's (``ConfigError``)."""
    seen = set(taken)
    for spec in specs:
        if spec.name in seen:
            raise ConfigError(f"{spec.name} is already the name of another model: give the "
                              "predictor another --model-name")
        seen.add(spec.name)


async def predictor_models(specs: tuple[PredictorSpec, ...], *, setup_timeout: float,
                           run_predictions: bool,
                           stack: contextlib.AsyncExitStack) -> list[Model]:
    """Start each predictor's process and make its model from the schema it reports.

    Returns once every predictor is loaded (setups go on in the background). A
    predictor that cannot even be loaded is still served, with no inputs, its setup
    marked failed: its page says why and its predictions fail saying so. Without
    ``run_predictions`` the processes only describe the predictors and exit.
    """
    runners = [PredictorRunner(spec, setup_timeout=setup_timeout,
                               describe_only=not run_predictions) for spec in specs]
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
        ))
    return models
