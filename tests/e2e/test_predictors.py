"""Users' own Cog-style predictors, served by a real server, driven by the official client.

The predictors are in ``tests/predictors``: most are listed in its ``models.toml``
(given as ``REPLICAST_MODELS_FILE``); the ones written against the real ``cog``
package are given with ``--predictor``/``--model-name`` flags.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import replicate
from replicate.exceptions import ModelError, ReplicateError

from tests.support.server import TOKEN, ServerProcess

PREDICTORS = Path(__file__).parent.parent / "predictors"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("predictors"),
        env={"REPLICAST_MODELS_FILE": str(PREDICTORS / "models.toml"),
             "REPLICAST_ALLOW_PRIVATE_URLS": "true"},
        args=["--predictor", str(PREDICTORS / "with_cog.py:Predictor"),
              "--model-name", "test/cog",
              "--predictor", str(PREDICTORS / "with_cog.py:Streamer"),
              "--model-name", "test/cog-stream"],
    ).start(timeout=60)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def client(server, transport):
    return replicate.Client(api_token=TOKEN, base_url=server.base_url, transport=transport)


@pytest.fixture(scope="module")
def files():
    """A loopback web server with a few files (input URLs), answering GET /name."""
    content = {"/notes/report%20v2.txt": b"from a URL", "/b.txt": b"second"}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = content.get(self.path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args):
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{web.server_address[1]}"
    web.shutdown()
    web.server_close()


def data_uri(text: str, mime: str = "text/plain") -> str:
    return f"data:{mime};base64,{base64.b64encode(text.encode()).decode()}"


def model_json(http, name: str) -> dict:
    response = http.get(f"/v1/models/{name}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_setup(http, name: str, timeout: float = 30) -> dict:
    give_up = time.monotonic() + timeout
    while time.monotonic() < give_up:
        setup = model_json(http, name)["setup"]
        if setup["status"] != "starting":
            return setup
        time.sleep(0.05)
    raise AssertionError(f"{name} is still setting up")


def wait_until(prediction, statuses, timeout: float = 30):
    give_up = time.monotonic() + timeout
    while prediction.status not in statuses and time.monotonic() < give_up:
        time.sleep(0.05)
        prediction.reload()
    assert prediction.status in statuses, (prediction.status, prediction.logs)
    return prediction


# schema


def test_the_schema_comes_from_the_signature_in_cogs_shape(client):
    version = client.models.get("test/inputs").latest_version
    schema = version.openapi_schema
    assert schema["openapi"] == "3.0.2" and schema["info"]["title"] == "Cog"
    components = schema["components"]["schemas"]
    inputs = components["Input"]
    assert inputs["required"] == ["text"]
    properties = inputs["properties"]
    assert [name for name, _ in sorted(properties.items(), key=lambda p: p[1]["x-order"])] == [
        "text", "count", "ratio", "flag", "color", "size", "code", "old", "maybe", "key",
        "document", "blob", "words", "documents", "keys"]
    assert properties["text"] == {"type": "string", "title": "Text", "minLength": 1,
                                  "maxLength": 20, "x-order": 0, "description": "Some text"}
    assert properties["count"]["minimum"] == 1 and properties["count"]["maximum"] == 10
    assert properties["count"]["default"] == 2
    assert properties["color"]["allOf"] == [{"$ref": "#/components/schemas/color"}]
    assert components["color"]["enum"] == ["red", "green", "blue"]
    assert components["size"]["enum"] == ["small", "large"]  # from Literal[...]
    assert properties["code"]["pattern"] == "^[a-z]+[0-9]+$"
    assert properties["old"]["deprecated"] is True
    # Input(default=None) on an Optional: a default of null, as Cog 0.23 publishes it.
    assert properties["maybe"]["nullable"] is True and properties["maybe"]["default"] is None
    assert properties["key"]["format"] == "password" and properties["key"]["x-cog-secret"]
    assert properties["document"]["format"] == "uri"
    assert properties["documents"]["items"] == {"type": "string", "format": "uri"}
    assert properties["keys"]["items"]["x-cog-secret"] is True
    assert components["Output"] == {"title": "Output", "type": "object"}


def test_output_schemas_mark_iterators_and_files(client):
    def output(name):
        return client.models.get(name).latest_version.openapi_schema[
            "components"]["schemas"]["Output"]

    assert output("test/tokens") == {"title": "Output", "type": "array",
                                     "items": {"type": "string"},
                                     "x-cog-array-type": "iterator",
                                     "x-cog-array-display": "concatenate"}
    assert output("test/numbers")["x-cog-array-type"] == "iterator"
    assert "x-cog-array-display" not in output("test/numbers")
    assert output("test/file") == {"title": "Output", "type": "string", "format": "uri"}
    assert output("test/files")["items"] == {"type": "string", "format": "uri"}
    structured = output("test/object")
    assert structured["required"] == ["caption", "score", "image"]
    assert structured["properties"]["image"]["format"] == "uri"


def test_model_lists_its_predictors_with_setup_state(http):
    setup = wait_for_setup(http, "test/inputs")
    assert setup["status"] == "succeeded" and setup["error"] is None
    model = model_json(http, "test/text")
    assert model["description"] == "Upper-cases text"  # from the models file
    assert model["served_by"] == "predictor"
    assert model_json(http, "test/inputs")["description"] == "Reports its inputs."  # docstring
    names = {m["owner"] + "/" + m["name"] for m in http.get("/v1/models").json()["results"]}
    assert {"test/inputs", "test/cog", "test/cog-stream", "black-forest-labs/flux-schnell"} \
        <= names


# inputs


def test_every_input_type_reaches_predict(client, files):
    prediction = client.predictions.create(model="test/inputs", input={
        "text": "hello", "count": 3, "ratio": 0.25, "flag": True, "color": "blue",
        "size": "large", "code": "xy9", "maybe": "here", "key": "sesame",
        "document": data_uri("from a data URI"),
        "blob": data_uri("blob body"),
        "words": ["x", "y"],
        "documents": [f"{files}/notes/report%20v2.txt", f"{files}/b.txt"],
        "keys": ["k1", "k2"],
    })
    prediction.wait()
    assert prediction.status == "succeeded", (prediction.error, prediction.logs)
    output = prediction.output
    assert {k: output[k] for k in ("text", "count", "ratio", "flag", "color", "size", "code",
                                   "old", "maybe", "words")} == {
        "text": "hello", "count": 3, "ratio": 0.25, "flag": True, "color": "blue",
        "size": "large", "code": "xy9", "old": "x", "maybe": "here", "words": ["x", "y"]}
    assert output["key"] == "emases" and output["key_type"] == "Secret"
    assert output["document"]["text"] == "from a data URI"
    assert output["document"]["type"] == "Path" and output["document"]["name"] == "input.txt"
    assert output["blob"] == "blob body"
    assert output["documents"] == ["from a URL", "second"]
    # The downloaded files were removed once the prediction was over.
    assert not Path(output["document"]["where"]).exists()
    assert output["keys"] == ["k1", "k2"]
    # A secret is never shown, alone or in a list.
    assert prediction.input["key"] == "**********"
    assert prediction.input["keys"] == ["**********", "**********"]
    assert client.predictions.get(prediction.id).input["key"] == "**********"
    # The predictor does not see the server's own settings (its token among them).
    assert output["server_token"] is None


def test_a_whole_number_for_a_float_input_arrives_as_a_float(client):
    output = client.run("test/inputs", input={"text": "t", "ratio": 1})
    assert output["ratio"] == 1.0 and output["ratio_type"] == "float"


def test_defaults_fill_what_is_left_out(client):
    output = client.run("test/inputs", input={"text": "t"})
    assert output["count"] == 2 and output["color"] == "red" and output["words"] == ["a"]
    assert output["maybe"] is None and output["key"] is None and output["document"] is None


@pytest.mark.parametrize(("bad", "field"), [
    ({}, "text"),
    ({"text": ""}, "text"),
    ({"text": "x" * 21}, "text"),
    ({"text": "t", "count": 11}, "count"),
    ({"text": "t", "color": "purple"}, "color"),
    ({"text": "t", "size": "medium"}, "size"),
    ({"text": "t", "code": "123"}, "code"),
    ({"text": "t", "flag": "yes"}, "flag"),
    ({"text": "t", "words": "not a list"}, "words"),
    ({"text": "t", "document": "not a url"}, "document"),
])
def test_inputs_are_validated_against_the_schema(client, bad, field):
    with pytest.raises(ReplicateError) as caught:
        client.predictions.create(model="test/inputs", input=bad)
    assert caught.value.status == 422
    assert field in str(caught.value.detail)


def test_an_input_file_that_cannot_be_fetched_fails_the_prediction(client, files):
    with pytest.raises(ModelError) as caught:
        client.run("test/inputs", input={"text": "t", "document": f"{files}/missing.txt"})
    assert "HTTP 404" in caught.value.prediction.error


# outputs


def test_plain_outputs(client):
    assert client.run("test/text", input={"prompt": "shout"}) == "SHOUT"
    assert client.run("test/number", input={"a": 3, "b": 0.5}) == 1.5
    assert client.run("test/flag", input={"value": 4}) is False
    assert client.run("test/anything") == {"nested": [1, 2.5, "three", None, {"four": True}]}


def test_path_outputs_become_files_with_urls(client):
    url = client.run("test/file", input={"text": "the body"})
    assert url.endswith("/result.txt")
    assert httpx.get(url).content == b"the body"
    urls = client.run("test/files", input={"count": 3})
    assert [httpx.get(u).content for u in urls] == [b"part 0", b"part 1", b"part 2"]
    structured = client.run("test/object", input={"caption": "a dog"})
    assert structured["caption"] == "a dog" and structured["score"] == 0.75
    assert httpx.get(structured["image"]).content == b"a dog"


def test_output_files_of_the_same_name_stay_apart(client):
    urls = client.run("test/same-names")
    assert len(set(urls)) == 3
    assert urls[2].endswith("/report%20%231.txt")
    assert [httpx.get(u).text for u in urls] == ["first", "second", "third"]


# iterators


def test_concatenate_iterator_streams_tokens_as_they_are_yielded(client):
    arrivals = []
    for event in client.stream("test/tokens", input={"prompt": "one two three four",
                                                     "delay": 0.3}):
        if event.event == event.EventType.OUTPUT:
            arrivals.append((time.monotonic(), event.data))
    assert "".join(data for _, data in arrivals) == "one two three four"
    # Tokens arrived one by one, not all at the end.
    assert arrivals[-1][0] - arrivals[0][0] > 0.6


# A progress bar's carriage return, an SSE line end, then what a forged event would say;
# then the Unicode line ends that the official Python client's line reader (httpx) ends a
# line at, though the SSE specification does not.
FORGED = ("50%|#####     | 5/10\revent: done\r\ndata: {}\r\r"
          "event: error\rdata: forged\r\n\r\n"
          "x\u2028event: done\u2029\u2029data: {}\x85\x85end")


def test_text_with_line_ends_cannot_forge_stream_events(client):
    """Model text is data, however it is split into lines: the client reads the whole
    stream, the forged ``done`` and ``error`` never arrive, and each line end is a \\n."""
    events = list(client.stream("test/verbatim", input={"text": FORGED}))
    kinds = [event.event.value for event in events]
    assert kinds.count("done") == 1 and kinds[-1] == "done" and "error" not in kinds
    assert events[-1].data == "{}"
    text = re.sub("\r\n|[\r\x85\u2028\u2029]", "\n", FORGED)
    assert "".join(e.data for e in events if e.event.value == "output") == text + "after"
    logs = "".join(e.data for e in events if e.event.value == "logs")
    assert logs.replace("\n", "") == text.replace("\n", "")


def test_iterator_outputs_are_lists_and_logs_interleave(client):
    prediction = client.predictions.create(model="test/tokens", input={"prompt": "a b c"})
    prediction.wait()
    assert prediction.output == ["a", " b", " c"]
    assert prediction.logs == "token 0\ntoken 1\ntoken 2\n"
    urls = client.run("test/frames", input={"count": 2})
    assert [httpx.get(u).content for u in urls] == [b"frame 0", b"frame 1"]


def test_async_iterators_and_async_setup(client):
    prediction = client.predictions.create(model="test/async-tokens", input={"prompt": "x y"})
    prediction.wait()
    assert prediction.output == ["x!", "y!"]
    assert prediction.logs == "async token x\nasync token y\n"
    assert client.run("test/numbers", input={"count": 4}) == [0, 1, 4, 9]


def test_async_runner(client, http):
    prediction = client.predictions.create(model="test/async", input={"seconds": 0.2})
    prediction.wait()
    assert prediction.status == "succeeded" and prediction.output == "slept 0.2"
    assert prediction.logs == "sleeping\n"
    assert wait_for_setup(http, "test/async")["logs"] == "async setup done\n"


# logs and metrics


def test_print_logging_stderr_and_c_writes_all_reach_the_logs_in_order(client):
    prediction = client.predictions.create(model="test/chatty", input={"lines": 2})
    prediction.wait()
    assert prediction.logs == (
        "print 0\nINFO chatty: logging 0\nstderr 0\nfd 0\n"
        "print 1\nINFO chatty: logging 1\nstderr 1\nfd 1\n")
    metrics = prediction.metrics
    assert metrics["lines"] == 2 and metrics["calls"] == 2
    assert metrics["timing"] == {"total": 0.5} and metrics["seen"] == ["a", "b"]
    assert metrics["predict_time"] > 0


# failures


def test_setup_failure_is_visible_and_fails_predictions_clearly(client, http):
    setup = wait_for_setup(http, "test/setup-fails")
    assert setup["status"] == "failed"
    assert setup["error"] == "RuntimeError: the weights are missing"
    assert setup["logs"].startswith("loading weights\nTraceback")
    assert 'broken.py", line 9, in setup' in setup["logs"]
    with pytest.raises(ModelError) as caught:
        client.run("test/setup-fails", input={"prompt": "x"})
    assert caught.value.prediction.error.startswith(
        "The model's setup failed: RuntimeError: the weights are missing.")


def test_a_predictor_that_cannot_be_imported_is_listed_as_failed(client, http):
    setup = wait_for_setup(http, "test/unimportable")
    assert setup["status"] == "failed"
    assert setup["error"] == "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"
    assert "unimportable.py" in setup["logs"]
    with pytest.raises(ModelError):
        client.run("test/unimportable")


@pytest.mark.parametrize(("how", "error"), [
    ("raise", "ValueError: the model raised this"),
    ("exit", "SystemExit: 3"),
    ("os-exit", "The predictor's process exited with code 7 while running this prediction"),
    ("segfault", "The predictor's process was killed by SIGSEGV while running this prediction"),
    ("kill", "The predictor's process was killed by SIGKILL while running this prediction"),
])
def test_a_crash_fails_the_prediction_and_the_next_one_runs(client, http, how, error):
    before = client.run("test/crashes", input={"how": "no"})
    with pytest.raises(ModelError) as caught:
        client.run("test/crashes", input={"how": how})
    failed = caught.value.prediction
    assert failed.error.startswith(error)
    assert failed.logs.startswith(f"about to {how}\n")  # its last words are kept
    after = client.run("test/crashes", input={"how": "no"})
    if how in ("raise", "exit"):  # the process survives an exception, even SystemExit
        assert after == {"pid": before["pid"], "setups": before["setups"]}
    else:  # a new process, set up again
        assert after["pid"] != before["pid"] and after["setups"] == 1
        assert model_json(http, "test/crashes")["setup"]["restarts"] >= 1


def test_a_segfault_leaves_a_python_traceback_in_the_logs(client):
    with pytest.raises(ModelError) as caught:
        client.run("test/crashes", input={"how": "segfault"})
    assert "Fatal Python error: Segmentation fault" in caught.value.prediction.logs
    assert 'lifecycle.py", line' in caught.value.prediction.logs


# cancel


def test_a_hang_is_canceled_by_its_deadline(server, client, http):
    began = time.monotonic()
    response = http.post("/v1/models/test/hangs/predictions", json={"input": {}},
                         headers={"Prefer": "wait=30", "Cancel-After": "5s"})
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "canceled"
    assert body["logs"].startswith("going to sleep\n")
    assert time.monotonic() - began < 15
    # The sleep was interrupted, not waited out: the model takes the next prediction at once.
    assert client.run("test/hangs", input={"seconds": 0.1}) == "woke up"


def test_cancel_interrupts_a_running_prediction(client):
    prediction = client.predictions.create(model="test/hangs", input={})
    wait_until(prediction, {"processing"})
    time.sleep(0.2)
    prediction.cancel()
    assert prediction.status == "canceled"
    began = time.monotonic()
    assert client.run("test/hangs", input={"seconds": 0.1}) == "woke up"
    assert time.monotonic() - began < 4  # well inside the kill grace: it stopped by itself


def test_a_predictor_that_ignores_cancel_is_killed_and_restarted(client, http):
    pid = client.run("test/stubborn", input={"stubborn": False})
    prediction = client.predictions.create(model="test/stubborn", input={})
    wait_until(prediction, {"processing"})
    time.sleep(0.3)
    prediction.cancel()
    assert prediction.status == "canceled"
    # The next prediction runs once the old process is killed and a new one set up.
    assert client.run("test/stubborn", input={"stubborn": False}) != pid
    setup = model_json(http, "test/stubborn")["setup"]
    assert setup["restarts"] == 1 and setup["logs"].startswith("stubborn setup in process")


def test_predictions_made_during_setup_wait_for_it(tmp_path, transport):
    slow = ServerProcess(tmp_path, env={
        "REPLICAST_PREDICTORS": f"test/slow-setup={PREDICTORS / 'lifecycle.py'}:SlowSetup"})
    slow.start(timeout=60)
    try:
        # The server answers at once; the model's setup takes three seconds more.
        client = replicate.Client(api_token=TOKEN, base_url=slow.base_url, transport=transport)
        prediction = client.predictions.create(model="test/slow-setup", input={})
        with slow.client() as http:
            assert model_json(http, "test/slow-setup")["setup"]["status"] == "starting"
            prediction.reload()
            assert prediction.status == "starting"  # queued, not failed, not processing
            prediction.wait()
            assert prediction.status == "succeeded"
            setup = model_json(http, "test/slow-setup")["setup"]
        assert setup["status"] == "succeeded" and setup["logs"] == "warming up\nwarm\n"
        assert prediction.started_at >= setup["completed_at"]
        assert prediction.output <= time.time()
    finally:
        slow.stop()


# the real cog package


def test_a_predictor_written_for_cog_runs_unchanged(client, http):
    assert wait_for_setup(http, "test/cog")["logs"].startswith("cog setup\n")
    schema = client.models.get("test/cog").latest_version.openapi_schema
    assert schema["components"]["schemas"]["Output"]["format"] == "uri"
    assert schema["components"]["schemas"]["style"]["enum"] == ["plain", "loud"]
    prediction = client.predictions.create(model="test/cog", input={
        "name": "bob", "times": 2, "style": "loud", "token": "abc",
        "image": data_uri("hello", "image/png")})
    prediction.wait()
    assert prediction.status == "succeeded", (prediction.error, prediction.logs)
    assert httpx.get(prediction.output).text == "HELLO BOB HELLO BOB (5 bytes) [3]"
    assert prediction.logs == "greeting bob\n"
    assert prediction.metrics["greetings"] == 2 and prediction.metrics["style_loud"] == 1
    assert prediction.input["token"] == "**********"


def test_a_cog_concatenate_iterator_streams(client):
    events = client.stream("test/cog-stream", input={"words": 3, "delay": 0.05})
    tokens = [event.data for event in events if event.event == event.EventType.OUTPUT]
    assert "".join(tokens) == "w0 w1 w2 "
