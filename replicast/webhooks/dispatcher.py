"""Sending deliveries from the outbox: signed, never redirected, retried with backoff.

The dispatcher claims due deliveries in the store (a claim is a lease: if this
process dies mid-attempt, the delivery falls due again and another attempt is made,
with the same ``webhook-id``, so receivers can drop duplicates). Claims name their
dispatcher: one that stops releases its own at once, and one that starts on a store
no other process uses releases every claim in it, a crashed process's, rather than
waiting for them to lapse. A prediction's
deliveries go out one at a time, in the order they were created. Every attempt is
recorded. Only ``completed`` is retried: after connection errors, timeouts, 429 and
5xx answers, with exponential backoff and jitter, until its retry window closes.
Sending runs in tasks of its own: a slow or dead receiver holds up nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from replicast import ids, times
from replicast.errors import StoreError, StoreUnavailable
from replicast.logs import prediction_context
from replicast.net import PrivateAddressError
from replicast.store.outbox import OutboxStore
from replicast.webhooks import signing
from replicast.webhooks.delivery import Attempt, Delivery, DeliveryState

log = logging.getLogger(__name__)

CONCURRENCY = 64
IDLE_POLL_SECONDS = 1.0
MIN_WAIT_SECONDS = 0.01
LEASE_MARGIN_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 300.0
MAX_ATTEMPTS = 100


class Dispatcher:
    """Delivers what the outbox holds."""

    def __init__(self, store: OutboxStore, client: httpx.AsyncClient, *, timeout: float,
                 backoff: float, shared: bool = False,
                 clock: Callable[[], datetime] = times.now,
                 on_attempt: Callable[[Delivery, Attempt, DeliveryState], None] | None = None
                 ) -> None:
        self.store = store
        self.shared = shared
        """Whether other processes' dispatchers share the outbox (``Store.shared``)."""
        self.on_attempt = on_attempt
        self.client = client
        self.timeout = timeout
        self.backoff = backoff
        self.clock = clock
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()
        self._secrets: dict[int, str] = {}
        self.claimant = ids.random_id(16)
        """Whom this dispatcher's claims name."""

    def start(self) -> None:
        """Begin delivering."""
        self._loop_task = asyncio.create_task(self._deliver_forever(), name="webhooks")

    def wake(self) -> None:
        """Something new is in the outbox."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop; attempts under way are abandoned, and their deliveries due again."""
        tasks = [t for t in (self._loop_task, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self.store.release_claims(self.clock(), self.claimant)
        except StoreError as exc:
            log.warning("could not release this process's webhook claims; they lapse: %s", exc)

    async def _deliver_forever(self) -> None:
        if not self.shared:
            # This process owns the store alone: a claim in it is one a crash abandoned.
            try:
                await self.store.release_claims(self.clock())
            except StoreError as exc:
                log.warning("could not release the webhook claims left by the last run; "
                            "they lapse: %s", exc)
        while True:
            self._wake.clear()
            try:
                wait = await self._claim_and_send()
            except StoreUnavailable:  # the store logs each outage once
                wait = IDLE_POLL_SECONDS
            except Exception:
                log.exception("the webhook dispatcher failed; retrying in a second")
                wait = IDLE_POLL_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)

    async def _claim_and_send(self) -> float | None:
        """Start sending what is due; how long to wait before looking again (None: until
        woken)."""
        free = CONCURRENCY - len(self._sending)
        if free <= 0:
            return None  # full: a finished send wakes us
        now = self.clock()
        lease = now + timedelta(seconds=self.timeout + LEASE_MARGIN_SECONDS)
        claimed = await self.store.claim(now, lease, free, self.claimant)
        for delivery in claimed:
            task = asyncio.create_task(self._send(delivery), name=f"webhook-{delivery.id}")
            self._sending.add(task)
            task.add_done_callback(self._sent)
        if len(claimed) == free:
            return None
        due = await self.store.next_due()
        if due is None:
            return IDLE_POLL_SECONDS
        return min(IDLE_POLL_SECONDS, max(MIN_WAIT_SECONDS, (due - self.clock()).total_seconds()))

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._sending.discard(task)
        self._wake.set()  # its successor in the prediction's order may now be due

    async def _secret(self, account_id: int) -> str:
        secret = self._secrets.get(account_id)
        if secret is None:
            secret = await self.store.webhook_secret(account_id, signing.new_secret())
            self._secrets[account_id] = secret
        return secret

    async def _send(self, delivery: Delivery) -> None:
        try:
            with prediction_context(delivery.prediction_id):
                await self._attempt(delivery)
        except asyncio.CancelledError:
            raise
        except StoreUnavailable as exc:  # the store logs each outage once
            log.info("webhook delivery %s: its attempt could not be recorded (%s); its "
                     "claim lapses and it is sent again", delivery.id, exc)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)

    async def _attempt(self, delivery: Delivery) -> None:
        secret = await self._secret(delivery.account_id)
        started_at = self.clock()
        began = time.monotonic()
        headers = {"Content-Type": "application/json",
                   **signing.headers(secret, delivery.id, int(time.time()), delivery.payload)}
        status_code: int | None = None
        retryable = False
        try:
            # One deadline for the whole attempt (name lookup, connection, answer), well
            # inside the claim's lease; the answer's body is not read.
            async with asyncio.timeout(self.timeout), self.client.stream(
                "POST", delivery.url, content=delivery.payload, headers=headers,
            ) as response:
                status_code = response.status_code
            error = _answer_error(status_code)
            retryable = status_code == 429 or status_code >= 500
        except PrivateAddressError as exc:
            error = str(exc)
        except (TimeoutError, httpx.TimeoutException):
            error = f"no answer within {self.timeout:g} s"
            retryable = True
        except httpx.TransportError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            retryable = True
        except Exception as exc:  # a URL that cannot be sent to, and the like: final
            error = f"{type(exc).__name__}: {exc}"
        attempt = Attempt(delivery.attempts + 1, started_at,
                          (time.monotonic() - began) * 1000, status_code, error)
        now = self.clock()
        next_at = None
        if error is None:
            state = DeliveryState.DELIVERED
        else:
            retry_at = now + timedelta(seconds=self._backoff(attempt.number))
            if retryable and delivery.retry_until is not None and \
                    retry_at < delivery.retry_until and attempt.number < MAX_ATTEMPTS:
                state, next_at = DeliveryState.PENDING, retry_at
            else:
                state = DeliveryState.FAILED
            log.info("webhook %s (%s of prediction %s) attempt %d: %s", delivery.id,
                     delivery.event, delivery.prediction_id, attempt.number, error)
        await self.store.finish_attempt(delivery, attempt, state=state,
                                               next_attempt_at=next_at)
        if self.on_attempt is not None:
            self.on_attempt(delivery, attempt, state)

    def _backoff(self, attempt: int) -> float:
        """Exponential, capped, with full jitter over its upper half."""
        ceiling = min(MAX_BACKOFF_SECONDS, self.backoff * 2.0 ** (attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)


def _answer_error(status: int) -> str | None:
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed"
    return f"HTTP {status}"
