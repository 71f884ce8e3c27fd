"""REPLICAST_MODEL_BACKENDS: what serves each catalog model, and the models it makes."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from replicast.config import Settings
from replicast.errors import ConfigError
from replicast.models import backends
from replicast.models.backends import Backend
from replicast.models.registry import builtin_models
from replicast.models.standin import FluxStandIn

B = "black-forest-labs/"
ROUTES = """routes:
  - models: ["black-forest-labs/flux-1.1-pro", "black-forest-labs/flux-pro"]
    base_url: https://api.replicate.com
    token_env: UP_TOKEN
"""


def settings(tmp_path: Path, value: str, **env: str) -> Settings:
    return Settings.from_env({"REPLICAST_DATA_DIR": str(tmp_path),
                              "REPLICAST_MODEL_BACKENDS": value, **env})


def refusal(tmp_path: Path, value: str, **env: str) -> str:
    with pytest.raises(ConfigError) as raised:
        settings(tmp_path, value, **env)
    return str(raised.value)


def test_entries_are_read_by_comma_or_line():
    assert backends.parse(f" {B}flux-2-pro = weights:{B}flux-2-dev ,\n{B}flux-dev=stand-in,"
                          f"\n{B}flux-1.1-pro=gateway\n{B}flux-schnell=weights") == (
        backends.Choice(B + "flux-2-pro", Backend("weights", B + "flux-2-dev")),
        backends.Choice(B + "flux-dev", Backend("stand-in")),
        backends.Choice(B + "flux-1.1-pro", Backend("gateway")),
        backends.Choice(B + "flux-schnell", Backend("weights")),
    )


@pytest.mark.parametrize("value,problem", [
    ("flux-dev=stand-in", "'flux-dev=stand-in' must be owner/name=backend"),
    (f"{B}flux-dev", "must be owner/name=backend"),
    (f"{B}flux-dev=real", "the backend must be stand-in, weights, weights:<owner/name> or "
                          "gateway"),
    (f"{B}flux-dev=gateway:{B}x", "the backend must be"),
    (f"{B}flux-dev=weights:", "the backend must be"),
])
def test_malformed_entries_name_the_variable(tmp_path, value, problem):
    message = refusal(tmp_path, value)
    assert message.startswith("REPLICAST_MODEL_BACKENDS=") and problem in message


@pytest.mark.parametrize("value,problem", [
    (f"{B}flux-3=stand-in", "black-forest-labs/flux-3 is no catalog model; the catalog has "
                            "black-forest-labs/flux-schnell, "),
    (f"{B}flux-dev=stand-in,{B}flux-dev=weights", "black-forest-labs/flux-dev is named twice"),
    (f"{B}flux-kontext-max=weights", "black-forest-labs/flux-kontext-max has no open weights "
     "of its own: name whose to use, such as weights:black-forest-labs/flux-kontext-pro"),
    (f"{B}flux-2-pro=weights", "has no open weights of its own: choose stand-in or gateway"),
    (f"{B}flux-1.1-pro=weights", "has no open weights of its own: choose stand-in or gateway"),
    (f"{B}flux-1.1-pro=weights:{B}flux-dev",
     "black-forest-labs/flux-dev's weights cannot serve black-forest-labs/flux-1.1-pro: it "
     "cannot honour all of black-forest-labs/flux-1.1-pro's inputs. No open model can; "
     "choose stand-in or gateway"),
    (f"{B}flux-2-pro=weights:{B}flux-2-dev",
     "black-forest-labs/flux-2-dev's weights cannot serve black-forest-labs/flux-2-pro"),
    (f"{B}flux-kontext-max=weights:{B}flux-dev",
     "Models that can: black-forest-labs/flux-kontext-pro"),
    (f"{B}flux-dev=weights:{B}flux-schnell",
     "black-forest-labs/flux-dev is served by its own weights (weights, or "
     "weights:black-forest-labs/flux-dev), not black-forest-labs/flux-schnell's"),
    (f"{B}flux-2-max=gateway",
     "black-forest-labs/flux-2-max=gateway, but no route in REPLICAST_ROUTES covers it"),
])
def test_choices_that_cannot_work_are_refused_saying_why(tmp_path, value, problem):
    message = refusal(tmp_path, value)
    assert message.startswith("REPLICAST_MODEL_BACKENDS: ") and problem in message


def test_defaults_are_own_weights_or_a_stand_in():
    assert backends.backend_for(B + "flux-dev", ()) == Backend("weights", B + "flux-dev")
    assert backends.backend_for(B + "flux-dev-lora", ()) == Backend("weights", B + "flux-dev")
    assert backends.backend_for(B + "flux-kontext-pro", ()) == Backend(
        "weights", B + "flux-kontext-pro")
    assert backends.backend_for(B + "flux-2-pro", ()) == Backend("stand-in")
    chosen = backends.parse(f"{B}flux-2-klein-4b=weights,{B}flux-dev=stand-in")
    assert backends.backend_for(B + "flux-2-klein-4b", chosen) == Backend(
        "weights", B + "flux-2-klein-4b")
    assert backends.backend_for(B + "flux-dev", chosen) == Backend("stand-in")


def test_a_routed_model_is_left_to_the_gateway(tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES)
    chosen = settings(tmp_path, f"{B}flux-1.1-pro=gateway", REPLICAST_ROUTES=str(routes),
                      UP_TOKEN="r8_test")
    names = {m.full_name for m in builtin_models(chosen)}
    assert B + "flux-1.1-pro" not in names
    assert {B + "flux-pro", B + "flux-2-pro"} <= names  # a route alone changes nothing


def weights_folder(root: Path, model: str) -> None:
    (root / model).mkdir(parents=True)
    (root / model / "model_index.json").write_text("{}")


def test_another_models_weights_serve_a_closed_model_and_it_says_so(tmp_path, caplog):
    weights = tmp_path / "weights"
    weights_folder(weights, B + "flux-kontext-pro")
    chosen = settings(tmp_path, f"{B}flux-kontext-max=weights:{B}flux-kontext-pro,"
                                f"{B}flux-dev=stand-in",
                      REPLICAST_WEIGHTS_DIR=str(weights), REPLICAST_LOAD_MODELS="first-use")
    with caplog.at_level(logging.INFO, logger="replicast.models.registry"):
        models = {m.full_name: m for m in builtin_models(chosen)}
    pro, maximum = models[B + "flux-kontext-pro"], models[B + "flux-kontext-max"]
    assert pro.runner is maximum.runner  # one pipeline, loaded once, serves both
    assert maximum.runner.served_by == "diffusers"
    assert (maximum.weights.model, maximum.weights.repository) == (
        B + "flux-kontext-pro", "black-forest-labs/FLUX.1-Kontext-dev")
    assert (f"{B}flux-kontext-max: diffusers, {B}flux-kontext-pro's weights in "
            f"{weights}/{B}flux-kontext-pro") in caplog.text
    assert isinstance(models[B + "flux-dev"].runner, FluxStandIn)
    assert f"{B}flux-dev: stand-in (REPLICAST_MODEL_BACKENDS)" in caplog.text
    assert (f"{B}flux-pro: stand-in (a closed model; REPLICAST_MODEL_BACKENDS may serve it "
            "otherwise)") in caplog.text
    assert models[B + "flux-dev"].weights is None


def test_weights_that_are_not_there_leave_a_stand_in_that_says_why(tmp_path, caplog):
    chosen = settings(tmp_path, f"{B}flux-kontext-max=weights:{B}flux-kontext-pro",
                      REPLICAST_WEIGHTS_DIR=str(tmp_path / "none"))
    with caplog.at_level(logging.INFO, logger="replicast.models.registry"):
        models = {m.full_name: m for m in builtin_models(chosen)}
    assert isinstance(models[B + "flux-kontext-max"].runner, FluxStandIn)
    assert (f"{B}flux-kontext-max: stand-in until {B}flux-kontext-pro's weights can run "
            f"(stand-in: no weights in {tmp_path}/none/{B}flux-kontext-pro)") in caplog.text


def test_every_open_model_that_may_serve_a_closed_one_takes_its_inputs():
    from replicast.models import catalog
    from replicast.models.registry import _same_inputs

    for closed, able in backends.SERVED_BY.items():
        for source in able:
            assert _same_inputs(catalog.spec(closed), catalog.spec(source)), (closed, source)
