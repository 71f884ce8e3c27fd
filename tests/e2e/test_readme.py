"""The README's commands, in order, as a newcomer runs them: a server started as
``./scripts/serve`` starts it, on a fresh data folder, then the examples of "Use it" and
every command of "Command line", with no ``--server``, ``--token`` or exports for them.

The commands are read from the README itself, so that it cannot drift from what works.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from replicast.datadir import SERVER_NAME, recorded_server
from tests.support.server import ServerProcess

pytestmark = pytest.mark.e2e

README = Path(__file__).parents[2] / "README.md"
DOCUMENTED_URL = "http://127.0.0.1:8000"
COMMAND = ".venv/bin/replicast"


def blocks(section: str, language: str) -> list[str]:
    """The code blocks of ``language`` in the README's ``## section``, in order."""
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(section)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"the README has no section {section!r}"
    return re.findall(rf"^```{language}\n(.*?)^```", match[1], re.M | re.S)


def commands(block: str) -> list[tuple[str, list[str]]]:
    """Each command of a shell block, with the output lines the ``# ...`` after it show."""
    found: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("# ") and found:
            found[-1][1].append(line[2:])
        elif line.strip():
            found.append((line, []))
    return found


def environment() -> dict[str, str]:
    """A shell with none of Replicast's or the clients' variables set."""
    return {key: value for key, value in os.environ.items()
            if not key.startswith(("REPLICAST_", "REPLICATE_"))}


@pytest.fixture
def served(tmp_path):
    """``./scripts/serve`` on a fresh data folder (here on a free port), and its first
    start's token, as it printed it."""
    server = ServerProcess(tmp_path / "data", token=None).start()
    try:
        give_up = time.monotonic() + 10
        while recorded_server(server.data_dir) is None:
            assert time.monotonic() < give_up, "the server never recorded where it listens"
            time.sleep(0.02)
        printed = re.search(r"export REPLICATE_API_TOKEN=(r8_\w+)", server.output)
        assert printed, server.output
        yield server, printed[1]
    finally:
        server.stop()
    assert not (server.data_dir / SERVER_NAME).exists()  # taken back as it stopped


def test_the_readme_commands_work_in_order_on_a_fresh_data_folder(served, tmp_path):
    server, token = served
    shell = environment() | {"REPLICAST_DATA_DIR": str(server.data_dir)}
    work = tmp_path / "work"
    work.mkdir()

    # "Use it": curl with the printed token, then the Python clients' examples.
    if shutil.which("curl"):
        (curl,) = blocks("Use it", "sh")
        done = subprocess.run(["bash", "-c", curl.replace(DOCUMENTED_URL, server.base_url)],
                              env=shell | {"REPLICATE_API_TOKEN": token}, cwd=work,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0 and '"status":"succeeded"' in done.stdout.replace(" ", ""), \
            done
    for example in blocks("Use it", "python"):
        code = example.replace(DOCUMENTED_URL, server.base_url).replace('"r8_..."', repr(token))
        done = subprocess.run([sys.executable, "-c", code], env=shell, cwd=work,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.startswith(("['http", "http")), done.stdout

    # "Command line": against the server on the data folder, found without being named.
    (block,) = blocks("Command line", "sh")
    ran = commands(block)
    assert ran, block
    for line, shown in ran:
        assert line.startswith(COMMAND + " "), line
        args = shlex.split(line.removeprefix(COMMAND))
        done = subprocess.run([sys.executable, "-m", "replicast", *args], env=shell, cwd=work,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, f"{line}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        if shown:
            assert done.stdout.splitlines() == shown, line
    with Image.open(work / "out-0.webp") as image:
        assert image.format == "WEBP"
    assert list((work / "edits").iterdir()), "the edit saved nothing"
    listed = done.stdout  # `predictions list`, last: the runs above, newest first
    assert listed.count("black-forest-labs/flux-kontext-pro") == 1, listed
    assert listed.count("black-forest-labs/flux-schnell") >= 2, listed  # curl, client, CLI

    # Each command had a key of its own, expiring, and revoked when it ended.
    keys = subprocess.run([sys.executable, "-m", "replicast", "keys", "list"], env=shell,
                          capture_output=True, text=True, timeout=60, check=True).stdout
    runs = [row for row in keys.splitlines() if row.endswith("replicast run")]
    assert len(runs) == len(ran) and all(" revoked " in row for row in runs), keys
