"""Rate limits per token and the limit on unfinished predictions, on real server processes.

The servers get small limits: 30 requests a minute (one every 2 s) and 60 creates a minute
(one a second), with buckets of 6 seconds' worth: 3 requests and 6 creates at once. Each
test uses tokens of its own, so that its buckets start full.
"""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import replicate

from replicast.accounts.service import Accounts
from replicast.store import open_store
from tests.support import services
from tests.support.server import TOKEN, ServerProcess

LIMITS = {"REPLICAST_RATE_LIMIT_REQUESTS": "30", "REPLICAST_RATE_LIMIT_CREATES": "60",
          "REPLICAST_RATE_LIMIT_BURST_SECONDS": "6", "REPLICAST_SHUTDOWN_GRACE": "0.1"}
THROTTLED = re.compile(r"Request was throttled\. Your rate limit resets in ~(\d+)s\.")


def make_tokens(data_dir: Path, *accounts: str) -> list[str]:
    """A new token for each account named (as ``replicast keys create`` makes them)."""

    async def make() -> list[str]:
        store = open_store(f"sqlite:///{data_dir / 'replicast.db'}")
        await store.open()
        try:
            return [(await Accounts(store.accounts).create_key(name))[0] for name in accounts]
        finally:
            await store.close()

    return asyncio.run(make())


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("limits")
    process = ServerProcess(data, env={**LIMITS, "REPLICAST_MAX_UNFINISHED_PREDICTIONS": "2"})
    process.start()
    yield process
    process.stop()


def client_for(server: ServerProcess, *accounts: str) -> list[httpx.Client]:
    return [httpx.Client(base_url=server.base_url, timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
            for token in make_tokens(server.data_dir, *accounts)]


def spend(http: httpx.Client, path: str = "/v1/account") -> list[httpx.Response]:
    """GETs until one is refused: the token's 3 requests, then the 429."""
    responses = [http.get(path) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    return responses


def test_answers_say_what_is_left_of_the_tokens_buckets(server):
    (http,) = client_for(server, "headers")
    with http:
        account = http.get("/v1/account")
        assert account.status_code == 200
        assert (account.headers["ratelimit-remaining"], account.headers["ratelimit-reset"]) \
            == ("2", "2")
        # Creates draw from a bucket of their own, under both prefixes.
        created = http.post("/replicate/v1/models/replicast/echo/predictions",
                            json={"input": {"prompt": "hi"}})
        assert created.status_code == 201
        assert (created.headers["ratelimit-remaining"], created.headers["ratelimit-reset"]) \
            == ("5", "1")
        # Errors carry them too.
        missing = http.get("/replicate/v1/predictions/doesnotexist")
        assert missing.status_code == 404 and missing.headers["ratelimit-remaining"] == "1"
        invalid = http.post("/v1/predictions", json={})
        assert invalid.status_code == 422 and invalid.headers["ratelimit-remaining"] == "4"
        # What is not the API, or not limited, says nothing about buckets.
        stream = httpx.get(created.json()["urls"]["stream"], timeout=30)
        for response in (httpx.get(f"{server.base_url}/health/live"),
                         httpx.get(f"{server.base_url}/openapi.json"), stream):
            assert response.status_code == 200
            assert "ratelimit-remaining" not in response.headers


def test_the_servers_openapi_document_declares_the_429(server):
    paths = httpx.get(f"{server.base_url}/openapi.json").json()["paths"]
    for path, method in [("/v1/predictions", "post"), ("/replicate/v1/account", "get"),
                         ("/v1/models/{owner}/{name}/predictions", "post")]:
        throttled = paths[path][method]["responses"]["429"]
        assert "Retry-After" in throttled["headers"]
    assert "429" not in paths["/v1/streams/{token}"]["get"]["responses"]


def test_over_the_limit_a_429_says_when_to_retry_and_then_it_works(server):
    (http,) = client_for(server, "eager")
    with http:
        *allowed, refused = spend(http)
        assert [r.headers["ratelimit-remaining"] for r in allowed] == ["2", "1", "0"]
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 2
        assert body == {"title": "Too many requests", "status": 429,
                        "detail": f"Request was throttled. Your rate limit resets in "
                                  f"~{retry_after}s."}
        assert refused.headers["ratelimit-remaining"] == "0"
        assert int(refused.headers["ratelimit-reset"]) >= retry_after
        # Creates have a bucket of their own, still full.
        assert http.post("/v1/predictions", json={}).status_code == 422
        time.sleep(retry_after)
        again = http.get("/v1/account")
        assert again.status_code == 200 and again.headers["ratelimit-remaining"] == "0"


def test_creates_are_refused_once_their_burst_is_spent(server):
    (http,) = client_for(server, "creator")
    with http:
        # Refused bodies count: the limit applies before anything else.
        spent = [http.post("/v1/models/replicast/echo/predictions", json={}) for _ in range(7)]
        assert [r.status_code for r in spent] == [422] * 6 + [429]
        assert [r.headers["ratelimit-remaining"] for r in spent] == \
            ["5", "4", "3", "2", "1", "0", "0"]
        assert THROTTLED.fullmatch(spent[-1].json()["detail"])
        assert spent[-1].headers["retry-after"] == "1"
        assert http.get("/v1/account").status_code == 200


def test_each_token_has_its_own_bucket_and_invalid_tokens_draw_from_none(server):
    first, second = client_for(server, "shared", "shared")  # two tokens of one account
    with first, second:
        spend(first)
        # Made-up tokens are refused as such and count for no token. (Their address's
        # failures have a limit of their own, 30 a minute here: see below.)
        for index in range(10):
            bogus = httpx.get(f"{server.base_url}/v1/account",
                              headers={"Authorization": f"Bearer r8_bogus{index}"})
            assert bogus.status_code == 401 and "ratelimit-remaining" not in bogus.headers
        assert httpx.get(f"{server.base_url}/v1/account").status_code == 401
        fresh = second.get("/v1/account")
        assert fresh.status_code == 200 and fresh.headers["ratelimit-remaining"] == "2"
        assert first.get("/v1/account").status_code == 429


class Recording(httpx.BaseTransport):
    """Passes requests on and notes each answer's status."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        self.statuses.append(response.status_code)
        return response

    def close(self) -> None:
        self.inner.close()


def test_the_python_client_waits_as_told_and_its_retry_succeeds(server):
    (token,) = make_tokens(server.data_dir, "python")
    transport = Recording()
    client = replicate.Client(api_token=token, base_url=server.base_url, transport=transport)
    try:
        prediction = client.predictions.create(model="replicast/echo", input={"prompt": "x"})
        with httpx.Client(base_url=server.base_url,
                          headers={"Authorization": f"Bearer {token}"}) as http:
            spend(http, f"/v1/predictions/{prediction.id}")
        transport.statuses.clear()
        again = client.predictions.get(prediction.id)
        assert again.id == prediction.id
        # One refusal, then one wait of Retry-After seconds was enough.
        assert transport.statuses == [429, 200]
    finally:
        transport.close()


def test_an_account_over_its_unfinished_predictions_is_refused_until_one_finishes(server):
    (http,) = client_for(server, "sleepy")
    with http:
        def sleep() -> httpx.Response:
            return http.post("/v1/models/replicast/sleep/predictions",
                             json={"input": {"seconds": 20}})

        first, second = sleep(), sleep()
        assert (first.status_code, second.status_code) == (201, 201)
        refused = sleep()
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json() == {
            "title": "Too many requests", "status": 429,
            "detail": "You have 2 predictions starting or processing; the limit is 2. "
                      "Wait for some to finish."}
        assert "retry-after" not in refused.headers
        assert refused.headers["ratelimit-remaining"] == "3"
        assert http.post(f"/v1/predictions/{first.json()['id']}/cancel").status_code == 200
        third = sleep()
        assert third.status_code == 201
        for created in (second, third):
            http.post(f"/v1/predictions/{created.json()['id']}/cancel")


@pytest.fixture
def two_apis(tmp_path):
    """Two API processes (no worker: predictions stay ``starting``) on PostgreSQL and Redis."""
    database = asyncio.run(services.create_database())
    asyncio.run(services.empty_redis())
    env = {**LIMITS, "REPLICAST_RATE_LIMIT_CREATES": "600",
           "REPLICAST_MAX_UNFINISHED_PREDICTIONS": "3",
           "REPLICAST_DATABASE_URL": database, "REPLICAST_BROKER_URL": services.redis_url()}
    apis = [ServerProcess(tmp_path, env=env, args=["--no-worker"], log_name=f"api{i}.log")
            for i in range(2)]
    started = []
    try:
        for api in apis:
            started.append(api.start(timeout=60))
        yield apis
    finally:
        for api in started:
            api.stop()
        asyncio.run(services.drop_database(database))
        # Buckets outlive the processes: an address locked out here would stay locked
        # for the next servers on this Redis.
        asyncio.run(services.empty_redis())


def test_api_processes_share_buckets_and_the_unfinished_limit(two_apis):
    first, second = (api.client() for api in two_apis)
    with first, second:
        answers = [first.get("/v1/account"), second.get("/v1/account"),
                   first.get("/v1/account"), second.get("/v1/account")]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["ratelimit-remaining"] for r in answers] == ["2", "1", "0", "0"]

        def create(index: int) -> int:
            http = (first, second)[index % 2]
            return http.post("/v1/models/replicast/echo/predictions",
                             json={"input": {"prompt": "x"}}).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(create, range(12)))
    assert sorted(statuses) == [201] * 3 + [429] * 9


GUESSES = 10  # failed authentications an address may make at once, then one every 6 s
LOCKED = re.compile(r"Too many failed authentications from this address\. "
                    r"Try again in ~(\d+)s\.")


@pytest.fixture
def guarded(tmp_path):
    """A server that allows 10 failed authentications a minute per address; the tokens'
    own limits are off, so that only this one applies."""
    process = ServerProcess(tmp_path, env={
        "REPLICAST_RATE_LIMIT_AUTH_FAILURES": str(GUESSES),
        "REPLICAST_RATE_LIMIT_REQUESTS": "0", "REPLICAST_RATE_LIMIT_CREATES": "0"}).start()
    yield process
    process.stop()


def guess_until_refused(*clients: httpx.Client, forwarded_for: str | None = None
                        ) -> tuple[list[int], httpx.Response]:
    """Wrong tokens, from each client in turn, until one is answered otherwise than 401:
    the statuses before it, and that answer. Each claims to be forwarded for another
    address, unless ``forwarded_for`` names one."""
    statuses: list[int] = []
    for number in range(GUESSES * 10):
        answer = clients[number % len(clients)].get("/v1/account", headers={
            "Authorization": f"Bearer r8_guess{number}",
            "X-Forwarded-For": forwarded_for or f"203.0.113.{number % 250}"})
        if answer.status_code != 401:
            return statuses, answer
        statuses.append(answer.status_code)
    raise AssertionError(f"{len(statuses)} wrong tokens were all answered 401")


def test_an_address_that_keeps_failing_is_refused_even_its_valid_token(guarded):
    base = guarded.base_url
    # The server listens on 127.0.0.1; connecting from 127.0.0.2 is another address.
    with guarded.client() as http, \
            httpx.Client(base_url=base, transport=httpx.HTTPTransport(
                local_address="127.0.0.2")) as elsewhere, \
            httpx.Client(base_url=base, follow_redirects=False) as browser:
        assert http.get("/v1/account").status_code == 200
        # No proxy is trusted here: claiming to be forwarded for others changes nothing.
        guessed, refused = guess_until_refused(browser)
        assert len(guessed) >= GUESSES and refused.status_code == 429
        assert refused.headers["content-type"] == "application/problem+json"
        retry_after = int(refused.headers["retry-after"])
        assert 1 <= retry_after <= 6
        assert LOCKED.fullmatch(refused.json()["detail"]), refused.json()
        assert refused.json()["title"] == "Too many requests"
        # Now the valid token gets the same answer as a wrong one: nothing to learn.
        valid = http.get("/v1/account")
        assert valid.status_code == 429 and LOCKED.fullmatch(valid.json()["detail"])
        assert http.post("/v1/files", files={"content": ("a.txt", b"x")}).status_code == 429
        # Signing in on the web pages is authenticating too.
        page = browser.post("/login", data={"token": TOKEN, "next": "/"})
        assert page.status_code == 429 and "retry-after" in page.headers
        assert "Too many failed authentications" in page.text
        # What authenticates nothing is not refused; no token at all is no guess.
        assert browser.get("/health/live").status_code == 200
        assert browser.get("/v1/account").status_code == 401
        # Another address has a limit of its own.
        assert elsewhere.get("/v1/account", headers=http.headers).status_code == 200
        assert elsewhere.get("/v1/account", headers={"Authorization": "Bearer r8_x"}
                             ).status_code == 401

    # The official client waits as told, and then its token works again.
    transport = Recording()
    client = replicate.Client(api_token=TOKEN, base_url=base, transport=transport)
    try:
        assert client.accounts.current().username == "replicast"
        assert transport.statuses[-1] == 200 and set(transport.statuses) <= {429, 200}
    finally:
        transport.close()


def test_failed_sign_ins_count_like_failed_api_requests(guarded):
    with httpx.Client(base_url=guarded.base_url, follow_redirects=False) as browser:
        answers = [browser.post("/login", data={"token": f"r8_guess{n}", "next": "/"})
                   for n in range(GUESSES)]
        assert [a.status_code for a in answers] == [401] * GUESSES
        assert "That token is not valid" in answers[-1].text
        refused = browser.post("/login", data={"token": TOKEN, "next": "/"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        api = browser.get("/v1/account", headers={"Authorization": f"Bearer {TOKEN}"})
        assert api.status_code == 429


def test_api_processes_share_the_failures_of_an_address(two_apis):
    """The default limit, 30 failures a minute, counted across both processes."""
    first, second = (api.client() for api in two_apis)
    with first, second:
        guessed, refused = guess_until_refused(first, second)
        # One more now and then if the guesses took seconds: one every 2 s refills.
        assert 30 <= len(guessed) <= 40 and refused.status_code == 429
        for http in (first, second):
            valid = http.get("/v1/account")
            assert valid.status_code == 429 and LOCKED.fullmatch(valid.json()["detail"])


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_clients(tmp_path):
    process = ServerProcess(tmp_path, env={
        "REPLICAST_RATE_LIMIT_AUTH_FAILURES": str(GUESSES), "REPLICAST_RATE_LIMIT_REQUESTS": "0",
        "REPLICAST_TRUSTED_PROXIES": "127.0.0.1"}).start()
    try:
        with process.client() as proxy, httpx.Client(
                base_url=process.base_url, headers=proxy.headers,
                transport=httpx.HTTPTransport(local_address="127.0.0.2")) as untrusted:
            guessed, refused = guess_until_refused(proxy, forwarded_for="203.0.113.5")
            assert len(guessed) >= GUESSES and refused.status_code == 429

            def account(http: httpx.Client, client: str) -> int:
                return http.get("/v1/account", headers={"X-Forwarded-For": client}).status_code

            assert account(proxy, "203.0.113.5") == 429
            assert account(proxy, "203.0.113.6") == 200  # another client of the proxy
            assert account(proxy, "198.51.100.7, 203.0.113.5") == 429  # the proxy's entry
            # The scheme the proxy says the client used is believed too.
            created = proxy.post("/v1/files", files={"content": ("a.txt", b"x")},
                                 headers={"X-Forwarded-For": "203.0.113.6",
                                          "X-Forwarded-Proto": "https"})
            assert created.json()["urls"]["get"].startswith("https://")
            # Who is not a trusted proxy is its own address, whatever it claims.
            guess_until_refused(untrusted)
            assert account(untrusted, "203.0.113.9") == 429
    finally:
        process.stop()


def test_openai_images_draw_from_the_creates_bucket_and_say_so_as_openai_does(server):
    import openai

    [token] = make_tokens(server.data_dir, "painter")
    with openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=token,
                       max_retries=0) as client:
        for _ in range(6):  # the burst: refused bodies count as creates here too
            with pytest.raises(openai.BadRequestError):
                client.images.generate(prompt="x", size="big")
        with pytest.raises(openai.RateLimitError) as refused:
            client.images.generate(prompt="x", size="big")
    assert refused.value.status_code == 429
    assert refused.value.code == "rate_limit_exceeded"
    assert refused.value.response.headers["retry-after"] == "1"
