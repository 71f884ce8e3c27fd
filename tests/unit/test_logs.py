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
])
def test_secrets_are_redacted_from_every_line(line, secret):
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, line, None, None)
    for formatter in (logs.TextFormatter(), logs.JSONFormatter()):
        formatted = formatter.format(record)
        assert secret not in formatted
        assert "[redacted]" in formatted


def test_ordinary_words_are_left_alone():
    assert logs.redact("Token revoked for account bob") == "Token revoked for account bob"
