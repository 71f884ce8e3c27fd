"""``replicast run`` and ``replicast predictions``, driven as a person would: a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from replicast.datadir import SERVER_NAME
from tests.support.server import TOKEN, ServerProcess, free_port

pytestmark = pytest.mark.e2e


def environment(server: ServerProcess | None, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("REPLICAST_", "REPLICATE_"))}
    if server is not None:
        env |= {"REPLICATE_BASE_URL": server.base_url, "REPLICATE_API_TOKEN": TOKEN}
    return env | extra


def replicast(*args: str, server: ServerProcess | None, cwd: Path | None = None,
              timeout: float = 60, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "replicast", *args], capture_output=True,
                          text=True, env=environment(server, **extra), cwd=cwd,
                          timeout=timeout, check=False)


def start(*args: str, server: ServerProcess | None, **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "replicast", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environment(server, **extra), preexec_fn=_default_sigint)


def _default_sigint() -> None:
    # A suite started in the background (`pytest &`) ignores SIGINT, and an ignored signal
    # stays ignored across exec: Ctrl-C would then never reach the command under test.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def read_until(stream, wanted: bytes, timeout: float = 30) -> bytes:
    """What ``stream`` gives until ``wanted`` is in it, as it arrives."""
    seen = b""
    give_up = time.monotonic() + timeout
    while wanted not in seen:
        left = give_up - time.monotonic()
        assert left > 0, f"never saw {wanted!r}; got {seen!r}"
        ready, _, _ = select.select([stream], [], [], left)
        if ready:
            chunk = os.read(stream.fileno(), 4096)
            assert chunk, f"the stream ended before {wanted!r}; got {seen!r}"
            seen += chunk
    return seen


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a failed command says; fails unless it failed that way."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def wait_for_status(http, prediction_id: str, status: str, timeout: float = 20) -> dict:
    give_up = time.monotonic() + timeout
    while True:
        prediction = http.get(f"/v1/predictions/{prediction_id}").json()
        if prediction["status"] == status or time.monotonic() > give_up:
            assert prediction["status"] == status
            return prediction
        time.sleep(0.05)


def test_flux_schnell_saves_its_images_and_never_over_a_file(server, tmp_path):
    args = ["run", "black-forest-labs/flux-schnell", "-i", "prompt=a paper boat",
            "-i", "num_outputs=2", "-i", "output_format=png", "-i", "aspect_ratio=16:9",
            "-i", "seed=7"]
    first = replicast(*args, server=server, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == ["out-0.png", "out-1.png"]
    for name in ("out-0.png", "out-1.png"):
        with Image.open(tmp_path / name) as image:
            assert (image.format, image.size) == ("PNG", (1344, 768))
    assert "Status: succeeded" in first.stderr
    assert "progress: 100% (4/4)" in first.stderr  # from the stand-in's tqdm lines

    before = (tmp_path / "out-0.png").stat().st_mtime_ns
    second = replicast(*args, "-o", str(tmp_path), server=server, cwd=tmp_path.parent)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [str(tmp_path / "out-0-1.png"),
                                          str(tmp_path / "out-1-1.png")]
    assert (tmp_path / "out-0.png").stat().st_mtime_ns == before
    assert (tmp_path / "out-0-1.png").read_bytes() == (tmp_path / "out-0.png").read_bytes()


def test_text_output_is_written_as_it_streams(server):
    process = start("run", "replicast/echo", "-i", "prompt=one two three four five",
                    "-i", "delay=0.3", server=server)
    try:
        seen = read_until(process.stdout, b"one")
        assert process.poll() is None, "all the text came only at the end"
        seen += process.stdout.read()
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()
        stderr = process.stderr.read().decode()
        process.stdout.close()
        process.stderr.close()
    assert seen == b"one two three four five\n"
    assert "\x1b" not in stderr and "Status: succeeded" in stderr


def test_on_a_terminal_progress_is_a_bar_redrawn_in_place(server):
    main, child = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "replicast", "run", "replicast/sleep",
                                "-i", "seconds=1.2"], stdin=subprocess.DEVNULL, stdout=child,
                               stderr=child, env=environment(server, TERM="xterm"))
    os.close(child)
    screen = b""
    try:
        while True:
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the terminal closed: the command is done
                break
            if not chunk:
                break
            screen += chunk
        assert process.wait(30) == 0
    finally:
        process.kill()
        process.wait()
        os.close(main)
    text = screen.decode()
    assert "\r\x1b[2K" in text  # the bar drawn over itself
    assert "100% 2/2" in text
    assert "progress:" not in text  # no plain progress lines on a terminal
    assert "Slept for 1.2 seconds" in text


def test_a_local_file_is_uploaded_for_a_uri_input(server, tmp_path, http):
    image = tmp_path / "wide.png"
    Image.new("RGB", (200, 100), (200, 30, 30)).save(image)
    result = replicast("run", "black-forest-labs/flux-kontext-pro", "-i", "prompt=make it blue",
                       "-i", f"input_image=@{image}", "-o", str(tmp_path / "out"), "--json",
                       server=server)
    assert result.returncode == 0, result.stderr
    prediction = json.loads(result.stdout)
    uploaded = prediction["input"]["input_image"]
    assert uploaded.startswith(f"{server.base_url}/v1/files/")
    assert http.get(uploaded).json()["name"] == "wide.png"
    assert "Input image size: 200x100" in prediction["logs"]
    (saved,) = (tmp_path / "out").iterdir()
    with Image.open(saved) as output:
        assert output.width > 1.8 * output.height  # matches the input's 2:1


def test_several_local_images_and_a_custom_size_for_a_list_input(server, tmp_path):
    paths = []
    for name, colour in (("red.png", (220, 20, 20)), ("blue.png", (20, 20, 220))):
        paths.append(tmp_path / name)
        Image.new("RGB", (120, 90), colour).save(paths[-1])
    result = replicast("run", "black-forest-labs/flux-2-pro", "-i", "prompt=two cards",
                       "-i", f"input_images=@{paths[0]}", "-i", f"input_images={paths[1]}",
                       "-i", "aspect_ratio=custom", "-i", "width=520", "-i", "height=300",
                       "-o", str(tmp_path / "out"), "--json", server=server)
    assert result.returncode == 0, result.stderr
    prediction = json.loads(result.stdout)
    assert [url.startswith(f"{server.base_url}/v1/files/")
            for url in prediction["input"]["input_images"]] == [True, True]
    assert (prediction["input"]["width"], prediction["input"]["height"]) == (520, 300)
    assert "Input image 2 of 2 size: 120x90" in prediction["logs"]
    (saved,) = (tmp_path / "out").iterdir()
    with Image.open(saved) as output:
        assert output.size == (528, 304)


@pytest.mark.parametrize("stop,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                         (signal.SIGHUP, 129)])
def test_ctrl_c_or_a_stop_signal_cancels_the_prediction(server, http, stop, status):
    process = start("run", "replicast/sleep", "-i", "seconds=30", server=server)
    try:
        line = read_until(process.stderr, b"\n").split(b"\n")[0].decode()
        prediction_id = line.split()[1]
        assert line.startswith(f"Prediction {prediction_id} of replicast/sleep")
        wait_for_status(http, prediction_id, "processing")
        process.send_signal(stop)
        assert process.wait(20) == status
        stderr = process.stderr.read().decode()
    finally:
        process.kill()
        process.wait()
        process.stdout.close()
        process.stderr.close()
    assert f"Canceled prediction {prediction_id}." in stderr
    assert "Traceback" not in stderr
    assert http.get(f"/v1/predictions/{prediction_id}").json()["status"] == "canceled"


def test_without_a_server_it_runs_in_this_process_on_the_data_folder(tmp_path):
    data = tmp_path / "data"
    echo = replicast("run", "replicast/echo", "-i", "prompt=hello from here", server=None,
                     REPLICAST_DATA_DIR=str(data))
    assert echo.returncode == 0, echo.stderr
    assert echo.stdout == "hello from here\n"
    assert "export REPLICATE_API_TOKEN=r8_" in echo.stderr  # the folder's first start

    flux = replicast("run", "black-forest-labs/flux-schnell", "-i", "prompt=boat",
                     "-o", str(tmp_path / "out"), server=None, REPLICAST_DATA_DIR=str(data))
    assert flux.returncode == 0, flux.stderr
    (path,) = flux.stdout.splitlines()
    with Image.open(path) as image:
        assert image.format == "WEBP"
    assert "REPLICATE_API_TOKEN" not in flux.stderr  # shown once only
    # Both are in the folder's database, for `replicast serve` to show later.
    with contextlib.closing(sqlite3.connect(data / "replicast.db")) as db:
        models = [row[0] for row in db.execute("SELECT model FROM predictions ORDER BY id")]
        runs = db.execute("SELECT revoked_at IS NOT NULL FROM api_keys"
                          " WHERE label = 'replicast run'").fetchall()
        secrets = db.execute("SELECT count(*) FROM server_secrets"
                             " WHERE value LIKE 'r8_%'").fetchone()[0]
    assert sorted(models) == ["black-forest-labs/flux-schnell", "replicast/echo"]
    # Each run had a key of its own, revoked at its end; no token was kept anywhere.
    assert runs == [(1,), (1,)] and secrets == 0


def test_without_a_server_named_the_one_on_the_data_folder_is_used(server):
    local = {"REPLICAST_DATA_DIR": str(server.data_dir)}
    echo = replicast("run", "replicast/echo", "-i", "prompt=found it", server=None, **local)
    assert (echo.returncode, echo.stdout) == (0, "found it\n"), echo.stderr
    listed = replicast("predictions", "list", server=None, **local)
    assert listed.returncode == 0 and "replicast/echo" in listed.stdout, listed.stderr
    # Each command had a key of its own, from the folder's database: expiring, and
    # revoked when the command ended.
    with contextlib.closing(sqlite3.connect(server.data_dir / "replicast.db")) as db:
        keys = db.execute("SELECT revoked_at IS NOT NULL, expires_at IS NOT NULL"
                          " FROM api_keys WHERE label = 'replicast run'").fetchall()
    assert len(keys) >= 2 and set(keys) == {(1, 1)}


def test_a_server_that_did_not_say_where_it_listens_is_refused_in_one_line(server):
    record = server.data_dir / SERVER_NAME
    aside = record.with_name("aside.json")
    record.rename(aside)
    try:
        result = replicast("run", "replicast/echo", "-i", "prompt=x", server=None,
                           REPLICAST_DATA_DIR=str(server.data_dir))
    finally:
        aside.rename(record)
    assert "--server" in one_line_error(result)


def test_predictions_without_any_server_say_how_to_start_one(tmp_path):
    result = replicast("predictions", "list", server=None, REPLICAST_DATA_DIR=str(tmp_path))
    assert result.returncode == 2 and "replicast serve" in one_line_error(result)


def test_predictions_list_get_and_cancel(server, http):
    done = http.post("/v1/models/replicast/echo/predictions", headers={"Prefer": "wait"},
                     json={"input": {"prompt": "listed here"}}).json()
    running = http.post("/v1/models/replicast/sleep/predictions",
                        json={"input": {"seconds": 30}}).json()

    table = replicast("predictions", "list", "--limit", "2", server=server)
    assert table.returncode == 0, table.stderr
    header, *rows = table.stdout.splitlines()
    assert header.split() == ["ID", "MODEL", "STATUS", "CREATED", "PREDICT", "TIME"]
    assert [row.split()[:2] for row in rows] == [[running["id"], "replicast/sleep"],
                                                 [done["id"], "replicast/echo"]]
    assert rows[1].split()[2] == "succeeded" and rows[1].endswith(" s")

    listed = json.loads(replicast("predictions", "list", "--limit", "1", "--json",
                                  server=server).stdout)
    assert [p["id"] for p in listed] == [running["id"]]

    shown = replicast("predictions", "get", done["id"], server=server)
    assert shown.returncode == 0, shown.stderr
    assert f"id:           {done['id']}" in shown.stdout
    assert "status:       succeeded" in shown.stdout
    assert "  prompt: listed here" in shown.stdout
    assert "output:\n  listed here" in shown.stdout
    got = json.loads(replicast("predictions", "get", done["id"], "--json", server=server).stdout)
    assert got["output"] == ["listed", " here"]

    canceled = replicast("predictions", "cancel", running["id"], server=server)
    assert canceled.stdout == f"Prediction {running['id']}: canceled\n"
    assert http.get(f"/v1/predictions/{running['id']}").json()["status"] == "canceled"
    again = json.loads(replicast("predictions", "cancel", running["id"], "--json",
                                 server=server).stdout)
    assert again["status"] == "canceled"


def test_a_failed_prediction_prints_its_error_and_exits_non_zero(server):
    result = replicast("run", "replicast/fail", "-i", "message=it broke", server=server)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "Error: it broke"
    assert "Traceback" not in result.stderr


def test_no_wait_prints_the_id_at_once(server, http):
    result = replicast("run", "replicast/sleep", "-i", "seconds=30", "--no-wait", server=server)
    assert result.returncode == 0, result.stderr
    prediction_id = result.stdout.strip()
    assert http.get(f"/v1/predictions/{prediction_id}").json()["status"] in {
        "starting", "processing"}
    http.post(f"/v1/predictions/{prediction_id}/cancel")


def test_the_replicate_prefix_works_as_the_server_url(server):
    result = replicast("run", "replicast/echo", "-i", "prompt=prefixed", server=server,
                       REPLICATE_BASE_URL=f"{server.base_url}/replicate")
    assert (result.returncode, result.stdout) == (0, "prefixed\n"), result.stderr


@pytest.mark.parametrize(("args", "extra", "words"), [
    (["-i", "prompt=x"], {"REPLICATE_API_TOKEN": ""}, "set REPLICATE_API_TOKEN"),
    (["-i", "prompt=x", "--token", "r8_NotAValidTokenAtAllNotAtAll0000000"], {},
     "refused the API token"),
    (["-i", "prompt"], {}, "expected key=value"),
    (["-i", "prompt=x", "-i", "delay=@/no/such/file.txt"], {}, "no such file"),
    (["-i", "prompt=x", "-i", "delay=9"], {}, "input.delay: Must be less than or equal to 5"),
])
def test_errors_are_one_line(server, args, extra, words):
    assert words in one_line_error(replicast("run", "replicast/echo", *args, server=server,
                                             **extra))


@pytest.mark.parametrize("token", ["r8_" + "x" * 40, "abcdefghi" * 4,
                                   "r8_Ab3dEfGh1jKlMnOpQrStUvWxYz"])
def test_a_weak_operator_token_is_refused_at_start_in_one_line(tmp_path, token):
    """A long run of few characters, or too short a token, is guessed too easily."""
    result = replicast("serve", "--port", str(free_port()), server=None, timeout=60,
                       REPLICAST_DATA_DIR=str(tmp_path), REPLICAST_API_TOKEN=token)
    line = one_line_error(result)
    assert "REPLICAST_API_TOKEN is too weak" in line and token not in line


def test_a_folder_that_cannot_be_made_is_refused_before_anything_runs(server, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    result = replicast("run", "replicast/echo", "-i", "prompt=x", "-o",
                       str(tmp_path / "file" / "sub"), server=server)
    assert "Cannot save into" in one_line_error(result)
    assert result.returncode == 2


def test_a_models_words_cannot_drive_the_terminal(server):
    hostile = "boom\x1b]0;PWNED\x07\x1b[2J\x9b31m"
    result = replicast("run", "replicast/fail", "-i", f"message={hostile}", server=server)
    assert result.returncode == 1
    assert "boom" in result.stderr
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\x9b" not in result.stderr


def test_unknown_models_and_predictions_are_named(server):
    assert "Model replicast/nope was not found" in one_line_error(
        replicast("run", "replicast/nope", server=server))
    assert "Prediction zzz was not found" in one_line_error(
        replicast("predictions", "get", "zzz", server=server))


def test_an_unreachable_server_is_one_line(server):
    down = f"http://127.0.0.1:{free_port()}"
    assert f"Cannot reach a server at {down}" in one_line_error(
        replicast("predictions", "list", "--server", down, server=server))


def test_rate_limits_say_when_to_retry(tmp_path):
    limited = ServerProcess(tmp_path, env={"REPLICAST_RATE_LIMIT_REQUESTS": "1"}).start()
    try:
        first = replicast("predictions", "list", server=limited)
        assert first.returncode == 0, first.stderr
        line = one_line_error(replicast("predictions", "list", server=limited))
    finally:
        limited.stop()
    assert "rate limiting this token: retry in" in line


def test_a_waiting_prediction_shows_its_place_in_the_queue_as_it_moves(tmp_path):
    queued = ServerProcess(tmp_path / "data", args=["--no-worker"]).start()  # all wait
    process = None
    try:
        with queued.client() as http:
            ahead = [http.post("/v1/models/replicast/echo/predictions",
                               json={"input": {"prompt": "x"}}).json() for _ in range(2)]
            process = start("run", "replicast/echo", "-i", "prompt=mine", server=queued)
            seen = read_until(process.stderr, b"3rd in the queue\n")
            http.post(f"/v1/predictions/{ahead[0]['id']}/cancel")
            seen += read_until(process.stderr, b"2nd in the queue\n")
            process.send_signal(signal.SIGINT)
            assert process.wait(20) == 130
            prediction_id = seen.split(b"\n")[0].split()[1].decode()
            assert http.get(f"/v1/predictions/{prediction_id}").json()["status"] == "canceled"
    finally:
        if process is not None:
            process.kill()
            process.wait()
            process.stdout.close()
            process.stderr.close()
        queued.stop()
    assert seen.decode().splitlines()[1:] == ["3rd in the queue", "2nd in the queue"]
