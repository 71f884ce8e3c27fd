"""A real server on a PostgreSQL of the test's own, which the test stops and starts again
while a prediction runs: the run's outcome waits and is recorded, the API answers 503
meanwhile, and the log tells of the outage once."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import httpx
import pytest

from tests.support.postgres import PrivatePostgres
from tests.support.server import ServerProcess

NO_LIMITS = {"REPLICAST_RATE_LIMIT_CREATES": "0", "REPLICAST_RATE_LIMIT_REQUESTS": "0"}


@pytest.fixture
def postgres():
    database = PrivatePostgres()
    try:
        database.start()
        yield database
    finally:
        database.remove()


async def stored(url: str, prediction_id: str) -> asyncpg.Record:
    connection = await asyncpg.connect(url)
    try:
        return await connection.fetchrow(
            "SELECT status, attempt, worker_id FROM predictions WHERE id = $1", prediction_id)
    finally:
        await connection.close()


def test_a_run_that_ends_while_postgresql_is_down_is_recorded_when_it_is_back(
        tmp_path, postgres):
    server = ServerProcess(tmp_path / "data", env={
        **NO_LIMITS, "REPLICAST_DATABASE_URL": postgres.url}).start(timeout=60)
    try:
        with server.client() as http:
            prediction = http.post("/v1/models/replicast/sleep/predictions",
                                   json={"input": {"seconds": 3}}).json()
            frames: list[str] = []
            with httpx.stream("GET", prediction["urls"]["stream"], timeout=60,
                              headers={"Accept": "text/event-stream"}) as stream:
                lines = stream.iter_lines()
                for line in lines:  # the run has begun
                    if line.startswith("data: ") and "%|" in line:
                        break
                postgres.stop()
                outage = http.get(f"/v1/predictions/{prediction['id']}")
                assert outage.status_code == 503 and outage.headers["retry-after"] == "1"
                assert "database" in outage.json()["detail"]
                for line in lines:  # the run ends, with nowhere to record it
                    if "100%" in line:
                        break
                postgres.start()
                give_up = time.monotonic() + 20  # keep-alives come every 15 s at least
                for line in lines:  # recorded once PostgreSQL is back
                    frames.append(line)
                    if line == "event: done" or time.monotonic() > give_up:
                        break
            done = http.get(f"/v1/predictions/{prediction['id']}").json()
    finally:
        server.stop()
    assert "event: done" in frames
    assert done["status"] == "succeeded" and done["output"] == "Slept for 3 seconds"
    assert done["logs"].count("100%") == 1
    row = asyncio.run(stored(postgres.url, prediction["id"]))
    assert row["attempt"] == 1 and row["worker_id"] is None  # ran once, and let go
    log = server.output
    assert log.count("the store is failing") == 1, log
    assert log.count("the store works again") == 1, log
    assert "Traceback" not in log and "could not check for revoked keys" not in log
