"""Concurrent, time-boxed calls to the blocking Kubernetes client.

The official client is synchronous; triage needs many independent reads at once (pods, logs, events, refs) and
a bound on each. `AsyncKube` runs each call in its own thread pool (the default executor has only a handful of
workers on a 2-core machine) under `asyncio.wait_for`, and turns every failure into a `ReadFailure` the evidence
can carry. `sequential=True` runs the same calls one after another — the benchmark's baseline.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from bot.kube.client import KubeError
from runbooks.model import ReadFailure

T = TypeVar("T")


class AsyncKube:
    """Runs blocking client calls in a bounded thread pool, each under a timeout."""

    def __init__(self, *, timeout: float, workers: int = 32, sequential: bool = False) -> None:
        self.timeout = timeout
        self.sequential = sequential
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kube")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    async def call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in the pool; a KubeError naming `what` on timeout or failure."""
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))
        try:
            return await asyncio.wait_for(future, self.timeout)
        except TimeoutError:
            raise KubeError(what, None, "timeout", f"no answer within {self.timeout:g}s") from None

    async def attempt(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | ReadFailure:
        """Like `call`, but a failure is returned as a ReadFailure instead of raised."""
        try:
            return await self.call(what, fn, *args, **kwargs)
        except KubeError as exc:
            return ReadFailure(what, exc.short, exc.message)

    async def all(self, awaitables: Iterable[Awaitable[T]]) -> list[T]:
        """Await all, concurrently (or one by one when sequential), keeping their order."""
        items = list(awaitables)
        if self.sequential:
            return [await a for a in items]
        return list(await asyncio.gather(*items))
