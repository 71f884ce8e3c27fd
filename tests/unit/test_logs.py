"""Log lines: text or JSON, with the prediction on every line about one."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest

from replicast import logs


def capture(fmt: str, capsys) -> tuple[logging.Logger, callable]:
    logs.configure("info", fmt, role="worker")
    return logging.getLogger("replicast.test"), lambda: capsys.readouterr().err


async def test_json_lines_carry_the_prediction_and_the_process(capsys):
    logger, read = capture("json", capsys)
    try:
        with logs.prediction_context("p1"):
            logger.info("running %s", "it")

            async def child_task():
                logger.warning("from a task it started")

            await asyncio.create_task(child_task())
        logger.error("after", exc_info=ValueError("boom"))
        lines = [orjson.loads(line) for line in read().splitlines()]
        assert lines[0]["message"] == "running it" and lines[0]["prediction_id"] == "p1"
        assert lines[0]["level"] == "info" and lines[0]["logger"] == "replicast.test"
        assert lines[0]["role"] == "worker" and lines[0]["time"].endswith("Z")
        assert lines[1]["prediction_id"] == "p1"
        assert "prediction_id" not in lines[2] and "ValueError: boom" in lines[2]["exception"]
    finally:
        logging.getLogger().handlers.clear()


def test_text_lines_show_the_prediction_in_brackets(capsys):
    logger, read = capture("text", capsys)
    try:
        with logs.prediction_context("p2"):
            logger.info("hello")
        logger.info("bye")
        first, second = read().splitlines()
        assert first.endswith("INFO replicast.test [p2]: hello")
        assert second.endswith("INFO replicast.test: bye")
    finally:
        logging.getLogger().handlers.clear()


@pytest.mark.parametrize("line,secret", [
    ('"GET /v1/predictions?token=r8_TestTokenForReplicastEndToEndTests0 HTTP/1.1"',
     "TestTokenForReplicastEndToEndTests0"),
    ("Authorization: Bearer my-own-long-token-value-1234", "my-own-long-token-value-1234"),
    ('"GET /v1/streams/kq2hX9-pLw_e3 HTTP/1.1" 200', "kq2hX9-pLw_e3"),
    ("GET /outputs/1795348800.AbC-_xYz0/p/f/a.png HTTP/1.1", "AbC-_xYz0"),
    ('"GET /v1/files/f1/download?owner=bob&expiry=9&signature=%2Ft6n%3D HTTP/1.1"',
     "%2Ft6n%3D"),
    # Tokens of any shape in a query string, under any name a client may give them.
    ('"GET /v1/predictions?token=operator-chosen-secret HTTP/1.1"', "operator-chosen-secret"),
    ('"GET /v1/models?limit=3&api_token=abc.DEF/ghi HTTP/1.1"', "abc.DEF/ghi"),
    ('"GET /v1/account?access_token=eyJhbGciOi.eyJzdWIi.Sfl HTTP/1.1"', "eyJhbGciOi.eyJzdWIi"),
    ('"GET /v1/files?x=1&API-KEY=k3y HTTP/1.1"', "k3y"),
    ('"GET /v1/files;apikey=k3yk3y HTTP/1.1"', "k3yk3y"),
    ('"GET /?Password=hunter2&next=/ HTTP/1.1"', "hunter2"),
    ('"GET /login?next=%2Fp%2Fx%3Ftoken%3Dsecret-in-next HTTP/1.1"', "secret-in-next"),
    ('"GET /login?next=%2Fp%2Fx%3Fa%3D1%26key%3Dsecret-after-amp HTTP/1.1"', "secret-after-amp"),
    # A gateway hook's MAC; the prediction id before it may stay.
    ('"POST /v1/gateway/hooks/gm3yq2e1cbrj60cm0b4t6hz5mw.Jt3-_qM8wQ HTTP/1.1" 204',
     "Jt3-_qM8wQ"),
])
def test_secrets_are_redacted_from_every_line(line, secret):
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, line, None, None)
    for formatter in (logs.TextFormatter(), logs.JSONFormatter()):
        formatted = formatter.format(record)
        assert secret not in formatted
        assert "[redacted]" in formatted


def test_ordinary_words_are_left_alone():
    assert logs.redact("Token revoked for account bob") == "Token revoked for account bob"
    line = '"GET /v1/files/f1/download?owner=bob&expiry=9&cursor=abc&next=%2F HTTP/1.1"'
    assert logs.redact(line) == line


def test_json_lines_stay_json_when_a_quoted_url_is_redacted():
    record = logging.LogRecord("replicast.test", logging.INFO, __file__, 1,
                               'fetching "%s"', ("https://x.test/a?token=abc&key=d",), None)
    body = orjson.loads(logs.JSONFormatter().format(record))
    assert body["message"] == 'fetching "https://x.test/a?token=[redacted]&key=[redacted]"'
