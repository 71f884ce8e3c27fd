"""Scaled out, and knocked about: 2 API processes and 2 workers on PostgreSQL and Redis.

Predictions are created through both API processes while one worker is SIGKILLed,
one API process is SIGKILLed and Redis is restarted (losing everything it held).
Afterwards every prediction an API process acknowledged, and every one the database
holds, must be finished, succeeded, with its output once and only once. The test
prints the counts.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import asyncpg
import httpx
import pytest

from tests.support import services
from tests.support.redis_server import PrivateRedis
from tests.support.server import TOKEN, ServerProcess

CREATES = 300
ECHO_PROMPT = "one two three four five"


@pytest.fixture
def cluster(tmp_path):
    database = asyncio.run(services.create_database())
    redis = PrivateRedis(tmp_path)
    redis.start()
    env = {"REPLICAST_DATABASE_URL": database, "REPLICAST_BROKER_URL": redis.url,
           "REPLICAST_LEASE_SECONDS": "3", "REPLICAST_MAX_ATTEMPTS": "5",
           "REPLICAST_SHUTDOWN_GRACE": "2"}
    data = tmp_path / "data"
    apis = [ServerProcess(data, env=env, args=["--no-worker"], log_name=f"api{i}.log")
            for i in range(2)]
    workers = [ServerProcess(data, env=env, command="worker", log_name=f"worker{i}.log")
               for i in range(2)]
    started = []
    try:
        for process in (*apis, *workers):
            process.start(timeout=60)
            started.append(process)
        yield apis, workers, redis, database
    finally:
        for process in started:
            process.stop()
        redis.kill()
        asyncio.run(services.drop_database(database))


def create(api: ServerProcess, index: int) -> str | None:
    """Create one prediction; its id if the API acknowledged it (a 201), else None."""
    if index % 2:
        path, body = "/v1/models/replicast/echo/predictions", {
            "input": {"prompt": ECHO_PROMPT, "delay": 0.2}}
    else:
        path, body = "/v1/models/replicast/sleep/predictions", {"input": {"seconds": 1.5}}
    try:
        response = httpx.post(f"{api.base_url}{path}", json=body, timeout=10,
                              headers={"Authorization": f"Bearer {TOKEN}"})
    except httpx.HTTPError:
        return None
    return response.json()["id"] if response.status_code == 201 else None


async def everything_in(database: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(database)
    try:
        return list(await connection.fetch(
            "SELECT id, model, status, output, logs, attempt, error FROM predictions"))
    finally:
        await connection.close()


def test_crashes_and_a_redis_restart_lose_nothing(cluster):
    apis, workers, redis, database = cluster
    acknowledged: list[str] = []
    lock = threading.Lock()
    api_alive = [True, True]

    def send(index: int) -> None:
        choice = index % 2 if api_alive[index % 2] else 1
        prediction_id = create(apis[choice], index)
        if prediction_id is not None:
            with lock:
                acknowledged.append(prediction_id)
        time.sleep(0.01)

    def knock_about() -> None:
        time.sleep(2.0)
        workers[0].kill()  # mid-prediction: dozens are running on it
        time.sleep(1.0)
        api_alive[0] = False
        apis[0].kill()  # mid-request, for some
        time.sleep(1.0)
        redis.kill()  # everything queued and every event in Redis: gone
        time.sleep(0.5)
        redis.start()

    chaos = threading.Thread(target=knock_about)
    chaos.start()
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(send, range(CREATES)))
    chaos.join()

    give_up = time.monotonic() + 120
    while time.monotonic() < give_up:
        rows = asyncio.run(everything_in(database))
        if all(row["status"] in ("succeeded", "failed", "canceled", "aborted") for row in rows):
            break
        time.sleep(1)
    rows = asyncio.run(everything_in(database))
    by_id = {row["id"]: row for row in rows}
    statuses: dict[str, int] = {}
    for row in rows:
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    rerun = sum(1 for row in rows if row["attempt"] > 1)
    print(f"\nacknowledged {len(acknowledged)} of {CREATES} creates; {len(rows)} in the "
          f"database; by status {statuses}; {rerun} ran more than once")

    missing = [pid for pid in acknowledged if pid not in by_id]
    assert missing == [], "acknowledged predictions are missing"
    unfinished = [row["id"] for row in rows if row["status"] in ("starting", "processing")]
    assert unfinished == [], f"{len(unfinished)} predictions never finished"
    assert statuses == {"succeeded": len(rows)}, [r["error"] for r in rows if r["error"]][:5]
    assert rerun > 0, "the worker was killed with nothing running: the test proved nothing"
    import orjson

    for row in rows:
        output = orjson.loads(row["output"])
        if row["model"] == "replicast/echo":
            assert "".join(output) == ECHO_PROMPT, (row["id"], output)  # each token once
        else:
            assert output == "Slept for 1.5 seconds"
            assert row["logs"].count("100%") == 1, row["logs"]  # one finished run's logs


def test_a_worker_stopped_with_sigterm_hands_its_work_to_another(cluster):
    apis, workers, _, _ = cluster
    with apis[1].client() as http:
        created = [http.post("/v1/models/replicast/sleep/predictions",
                             json={"input": {"seconds": 4}}).json()["id"] for _ in range(6)]
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up and any(
                http.get(f"/v1/predictions/{pid}").json()["status"] == "starting"
                for pid in created):
            time.sleep(0.1)
        # SIGTERM: a grace of 2 s, then the rest goes back (uvicorn re-raises the signal)
        assert workers[0].stop() in (0, -signal.SIGTERM)
        done = []
        for pid in created:
            give_up = time.monotonic() + 60
            while (body := http.get(f"/v1/predictions/{pid}").json())["status"] in (
                    "starting", "processing") and time.monotonic() < give_up:
                time.sleep(0.2)
            done.append(body)
    assert [p["status"] for p in done] == ["succeeded"] * 6
    handed_on = [p for p in done if p["logs"].startswith("Replicast stopped while")]
    print(f"\n{len(handed_on)} of 6 predictions were handed on by the stopping worker")
    assert handed_on, "the stopping worker had nothing running: the test proved nothing"
