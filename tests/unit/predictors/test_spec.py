"""Naming predictors: flags, REPLICAST_PREDICTORS, models files and cog.yaml folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from replicast.config import Settings
from replicast.errors import ConfigError
from replicast.predictors.serving import cog_setup_timeout
from replicast.predictors.spec import pair_flags, parse_pairs, predictor_spec, read_models_file


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "predict.py").write_text("class Predictor: ...\n")
    return tmp_path


def test_a_reference_resolves_to_an_absolute_file(project, monkeypatch):
    monkeypatch.chdir(project)
    spec = predictor_spec("me/model", "predict.py:Predictor")
    assert spec.file == project / "predict.py" and spec.attribute == "Predictor"
    assert spec.reference == f"{project / 'predict.py'}:Predictor"
    assert spec.folder == project


def test_a_cog_project_folder_names_its_predictor(project):
    (project / "cog.yaml").write_text('build:\n  gpu: false\npredict: "predict.py:Predictor"\n')
    spec = predictor_spec("me/model", str(project))
    assert spec.file == project / "predict.py" and spec.attribute == "Predictor"
    (project / "cog.yaml").write_text("run: predict.py:Runner  # new spelling\n")
    assert predictor_spec("me/model", str(project)).attribute == "Runner"


@pytest.mark.parametrize(("name", "reference", "message"), [
    ("Me/Model", "predict.py:Predictor", "is not a model name"),
    ("model", "predict.py:Predictor", "is not a model name"),
    ("me/model", "missing.py:Predictor", "is not a Python file"),
    ("me/model", "cog.yaml:Predictor", "is not a Python file"),
    ("me/model", ".", "nor a folder with a cog.yaml"),
])
def test_mistakes_are_named(project, monkeypatch, name, reference, message):
    monkeypatch.chdir(project)
    (project / "cog.yaml").touch()
    if reference == ".":
        (project / "cog.yaml").unlink()
    with pytest.raises(ConfigError, match=message):
        predictor_spec(name, reference)


def test_a_cog_yaml_without_a_predictor_line(project):
    (project / "cog.yaml").write_text("build:\n  gpu: true\n")
    with pytest.raises(ConfigError, match="has no `predict:"):
        predictor_spec("me/model", str(project))


def test_flags_pair_in_order(project):
    specs = pair_flags([f"{project}/predict.py:A", f"{project}/predict.py:B"], ["me/a", "me/b"])
    assert [(s.name, s.attribute) for s in specs] == [("me/a", "A"), ("me/b", "B")]
    with pytest.raises(ConfigError, match="1 --predictor and 2 --model-name"):
        pair_flags([f"{project}/predict.py:A"], ["me/a", "me/b"])


def test_the_environment_variable(project):
    specs = parse_pairs(f"me/a={project}/predict.py:A, me/b={project}/predict.py:B,")
    assert [s.name for s in specs] == ["me/a", "me/b"]
    with pytest.raises(ValueError, match="is not owner/name="):
        parse_pairs(f"{project}/predict.py:A")
    settings = Settings.from_env({"HOME": "/h", "REPLICAST_PREDICTORS": f"me/a={project}/"
                                  "predict.py:A"})
    assert settings.all_predictors()[0].name == "me/a"
    with pytest.raises(ConfigError, match="REPLICAST_PREDICTORS"):
        Settings.from_env({"HOME": "/h", "REPLICAST_PREDICTORS": "me/a=nowhere.py:A"})


def test_a_models_file_with_paths_relative_to_it(project, tmp_path, monkeypatch):
    monkeypatch.chdir("/")
    file = project / "models.toml"
    file.write_text('[[models]]\nname = "me/a"\npredictor = "predict.py:A"\n'
                    'description = "The A model"\n\n'
                    '[[models]]\nname = "me/b"\npredictor = "predict.py:B"\n')
    specs = read_models_file(file)
    assert [(s.name, s.file, s.attribute, s.description) for s in specs] == [
        ("me/a", project / "predict.py", "A", "The A model"),
        ("me/b", project / "predict.py", "B", None)]
    settings = Settings.from_env({"HOME": "/h", "REPLICAST_MODELS_FILE": str(file)},
                                 predictors=parse_pairs(f"me/c={project}/predict.py:C"))
    assert [s.name for s in settings.all_predictors()] == ["me/c", "me/a", "me/b"]


@pytest.mark.parametrize(("text", "message"), [
    ("[[models]]\nname = 'me/a'\n", "needs a `name` and a `predictor`"),
    ("[[models]]\nname = 'me/a'\npredictor = 'predict.py:A'\ngpu = true\n",
     "unknown keys: gpu"),
    ("models = 3\n", "must be a list"),
    ("[[models]\n", "is not valid TOML"),
    ("[[models]]\nname = 'me/a'\npredictor = 'predict.py:A'\ndescription = 1\n",
     "must be text"),
])
def test_models_file_mistakes(project, text, message):
    file = project / "models.toml"
    file.write_text(text)
    with pytest.raises(ConfigError, match=message):
        read_models_file(file)


def test_a_missing_models_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the models file"):
        read_models_file(tmp_path / "nope.toml")


def test_names_must_not_clash(project):
    from replicast.predictors.serving import check_names

    specs = pair_flags([f"{project}/predict.py:A", f"{project}/predict.py:B"], ["me/a", "me/b"])
    check_names(specs, {"replicast/echo"})
    with pytest.raises(ConfigError, match="me/a is already the name of another model"):
        check_names(specs, {"me/a"})
    with pytest.raises(ConfigError, match="me/a is already the name"):
        check_names((*specs, specs[0]), set())


def test_the_command_refuses_mistakes_in_one_line(project, tmp_path, capsys):
    from replicast.cli import main

    code = main(["--data-dir", str(tmp_path / "data"), "serve", "--predictor",
                 f"{project}/predict.py:A"])
    assert code == 2
    assert capsys.readouterr().err == ("replicast: 1 --predictor and 0 --model-name flags: "
                                       "give each predictor a name\n")
    code = main(["--data-dir", str(tmp_path / "data"), "serve", "--predictor",
                 f"{project}/predict.py:A", "--model-name", "replicast/echo"])
    assert code == 2
    assert "replicast/echo is already the name of another model" in capsys.readouterr().err


def test_a_cog_project_runs_from_its_root_even_with_the_predictor_in_a_sub_folder(project):
    (project / "sub").mkdir()
    (project / "sub" / "predict.py").write_text("class Predictor: ...\n")
    (project / "cog.yaml").write_text('predict: "sub/predict.py:Predictor"\n')
    spec = predictor_spec("me/model", str(project))
    assert spec.file == project / "sub" / "predict.py"
    assert spec.folder == project.resolve()
    assert predictor_spec("me/model", str(project / "sub" / "predict.py") + ":Predictor"
                          ).folder == project / "sub"  # a file named alone runs from its own


def test_cog_yaml_environment_is_kept_in_order(project):
    (project / "cog.yaml").write_text(
        'predict: "predict.py:Predictor"\n'
        "environment:\n  - B=2\n  - A=x=y\n  - EMPTY=\n  - COG_SETUP_TIMEOUT=5\n")
    spec = predictor_spec("me/model", str(project))
    assert spec.environment == (("B", "2"), ("A", "x=y"), ("EMPTY", ""),
                                ("COG_SETUP_TIMEOUT", "5"))
    assert spec.setting("COG_SETUP_TIMEOUT", {"COG_SETUP_TIMEOUT": "9"}) == "5"
    assert spec.setting("COG_WEIGHTS", {"COG_WEIGHTS": "/w"}) == "/w"
    assert spec.setting("COG_WEIGHTS", {}) is None


@pytest.mark.parametrize(("environment", "message"), [
    ("environment: A=1\n", "`environment` must be a list of NAME=value"),
    ("environment:\n  - NOVALUE\n", "'NOVALUE' is not NAME=value"),
    ("environment:\n  - 1A=x\n", "'1A=x' is not NAME=value"),
    ("environment:\n  - {A: 1}\n", "is not NAME=value"),
    ("environment:\n  - REPLICAST_API_TOKEN=x\n", "one of the server's own settings"),
    ("environment: [\n", "is not valid YAML"),
])
def test_cog_yaml_environment_mistakes(project, environment, message):
    (project / "cog.yaml").write_text('predict: "predict.py:Predictor"\n' + environment)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        predictor_spec("me/model", str(project))


@pytest.mark.parametrize(("value", "expected"), [
    (None, None), ("", None), ("30", 30.0), ("0.5", 0.5), ("0", ConfigError),
    ("-1", ConfigError), ("soon", ConfigError), ("inf", ConfigError), ("nan", ConfigError)])
def test_cog_setup_timeout(project, monkeypatch, value, expected):
    monkeypatch.delenv("COG_SETUP_TIMEOUT", raising=False)
    environment = "" if value is None else f"environment:\n  - COG_SETUP_TIMEOUT={value}\n"
    (project / "cog.yaml").write_text('predict: "predict.py:Predictor"\n' + environment)
    spec = predictor_spec("me/model", str(project))
    if expected is ConfigError:
        with pytest.raises(ConfigError, match="COG_SETUP_TIMEOUT"):
            cog_setup_timeout(spec)
    else:
        assert cog_setup_timeout(spec) == expected
