"""Models, versions, accounts and pages in the JSON shapes of Replicate's API."""

from __future__ import annotations

from typing import Any

from replicast import __version__, times, urls
from replicast.accounts.account import Account
from replicast.models.base import Model


def page(results: list[dict[str, Any]], next_url: str | None,
         previous_url: str | None) -> dict[str, Any]:
    """The cursor-pagination envelope."""
    return {"previous": previous_url, "next": next_url, "results": results}


def version(model: Model) -> dict[str, Any]:
    """A model version."""
    return {
        "id": model.version_id,
        "created_at": times.format_rfc3339(model.version_created_at),
        "cog_version": f"replicast-{__version__}",
        "openapi_schema": model.openapi_schema,
    }


def model(m: Model, base_url: str, run_count: int) -> dict[str, Any]:
    """A model, with its latest (and only) version."""
    data = {
        "url": urls.page_url(base_url, urls.MODEL_PAGE, owner=m.owner, name=m.name),
        "owner": m.owner,
        "name": m.name,
        "description": m.description,
        "visibility": m.visibility,
        "github_url": m.github_url,
        "paper_url": m.paper_url,
        "license_url": m.license_url,
        "run_count": run_count,
        "cover_image_url": m.cover_image_url,
        "default_example": None,
        "latest_version": version(m),
        "is_official": m.official,
        # A Replicast addition: "diffusers" when real weights run, "stand-in" without.
        "served_by": m.runner.served_by,
    }
    if m.weights is not None:
        # A Replicast addition: whose open weights run it (its own, or another model's).
        weights: dict[str, Any] = {"model": m.weights.model, "repository": m.weights.repository}
        if m.weights.random:
            # Random weights in its architecture (REPLICAST_RANDOM_WEIGHTS): images of noise.
            weights["random"] = True
        data["weights"] = weights
    setup = m.runner.setup_report()
    if setup is not None:
        # A Replicast addition for users' predictors: how their setup went, with its logs.
        data["setup"] = setup
    return data


def account(a: Account) -> dict[str, Any]:
    """The account behind a token."""
    return {"type": "user", "username": a.username, "name": a.username}
