"""The event bus over Redis: pub/sub for live fan-out across replicas, a stream per topic for replay.

`publish` runs one Lua script: for each topic of the event it XADDs to the topic's stream (trimmed with
`MAXLEN ~`) and PUBLISHes `<stream id> <payload>` on the topic's channel. Being one script, the stream
and the channel see events in the same order, and every live message carries its stream position.

Each process holds one pub/sub connection whatever the number of subscribers (a connection per
subscriber would exhaust the pool, shared PLATFORM.md): a reader task fans messages out to in-process
queues. A subscriber that falls behind (its queue full) is not dropped: it catches up from the stream,
from the first message it missed, and then continues live; positions de-duplicate the overlap.
See https://redis.io/docs/latest/develop/data-types/streams/ and .../interact/pubsub/.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from schema.events import Event

log = logging.getLogger(__name__)

CHANNEL = "hub:events:"
STREAM = "hub:stream:"
KEEPALIVE = CHANNEL + "_"  # keeps the pub/sub connection open while no topic has subscribers
STREAM_MAXLEN = 10_000
QUEUE_SIZE = 256
REPLAY_BATCH = 500
POSITION = re.compile(r"^\d{1,20}-\d{1,20}$")

_PUBLISH = """
for i = 1, #KEYS do
  local id = redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], '*', 'e', ARGV[2])
  redis.call('PUBLISH', ARGV[2 + i], id .. ' ' .. ARGV[2])
end
return #KEYS
"""


def _pos(position: str) -> tuple[int, int]:
    ms, _, seq = position.partition("-")
    return int(ms), int(seq)


def is_position(value: str) -> bool:
    return bool(POSITION.match(value))


@dataclass(eq=False, slots=True)
class _Listener:
    queue: asyncio.Queue[tuple[str, bytes]] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    last: str | None = None  # position of the last event handed out
    missed_from: str | None = None  # set when the queue overflowed: replay from here

    def offer(self, position: str, payload: bytes) -> None:
        if self.missed_from is not None:
            return  # catching up from the stream covers this one
        try:
            self.queue.put_nowait((position, payload))
        except asyncio.QueueFull:
            self.missed_from = position


class RedisEvents:
    """`schema.events.EventBus` over Redis; one per process (created by the app's lifespan)."""

    def __init__(self, redis: aioredis.Redis, *, maxlen: int = STREAM_MAXLEN) -> None:
        self.redis = redis
        self.maxlen = maxlen
        self._script = redis.register_script(_PUBLISH)
        self._pubsub: aioredis.client.PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._listeners: dict[str, set[_Listener]] = {}
        self._confirmed: dict[str, asyncio.Event] = {}
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Start the reader; it connects (and reconnects) on its own, so a cache outage at start-up does not
        stop the hub: subscriptions fail until the cache is back, queries are served throughout."""
        self._pubsub = self.redis.pubsub()
        try:
            await self._keepalive()
        except (aioredis.RedisError, OSError) as exc:
            log.warning("event bus: cache unavailable at start (%s); will retry", type(exc).__name__)
        self._reader = asyncio.create_task(self._read(), name="hub-events-reader")

    async def _keepalive(self) -> None:
        """Open the pub/sub connection. Under the lock: two first subscribers racing would each open one."""
        assert self._pubsub is not None
        async with self._lock:
            if not self._pubsub.subscribed:
                await self._pubsub.subscribe(KEEPALIVE)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub is not None:
            with suppress(aioredis.RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]

    async def publish(self, event: Event) -> None:
        topics = event.topics
        if not topics:
            return
        await self._script(
            keys=[STREAM + t for t in topics],
            args=[self.maxlen, event.encode(), *(CHANNEL + t for t in topics)],
        )

    @asynccontextmanager
    async def listen(self, topic: str, after: str | None = None) -> AsyncIterator[AsyncIterator[Event]]:
        if after is not None and not is_position(after):
            raise ValueError("not a stream position")
        listener = _Listener(last=after)
        try:
            await self._add(topic, listener)
            yield self._iterate(topic, listener, after)
        finally:
            await self._remove(topic, listener)

    async def _add(self, topic: str, listener: _Listener) -> None:
        assert self._pubsub is not None, "RedisEvents.start() was not called"
        async with self._lock:
            listeners = self._listeners.setdefault(topic, set())
            listeners.add(listener)
            if len(listeners) == 1:
                confirmed = self._confirmed[topic] = asyncio.Event()
                await self._pubsub.subscribe(CHANNEL + topic)
            else:
                confirmed = self._confirmed[topic]
        # Live delivery starts when the server confirms the subscription, not when the command is sent.
        await asyncio.wait_for(confirmed.wait(), 10)

    async def _remove(self, topic: str, listener: _Listener) -> None:
        async with self._lock:
            listeners = self._listeners.get(topic)
            if listeners is None:
                return
            listeners.discard(listener)
            if not listeners:
                del self._listeners[topic]
                self._confirmed.pop(topic, None)
                if self._pubsub is not None:
                    with suppress(aioredis.RedisError, OSError):
                        await self._pubsub.unsubscribe(CHANNEL + topic)

    async def _iterate(self, topic: str, listener: _Listener, after: str | None) -> AsyncIterator[Event]:
        if after is not None:
            async for event in self._replay(topic, listener, after, inclusive=False):
                yield event
        while True:
            if listener.missed_from is not None and listener.queue.empty():
                start, listener.missed_from = listener.missed_from, None
                async for event in self._replay(topic, listener, start, inclusive=True):
                    yield event
                continue
            position, payload = await listener.queue.get()
            if not position:
                continue  # a wake-up after a reconnect: catch up from the stream (above)
            if listener.last is not None and _pos(position) <= _pos(listener.last):
                continue  # already handed out by a replay
            listener.last = position
            yield Event.decode(payload, position)

    async def _replay(self, topic: str, listener: _Listener, start: str, *, inclusive: bool) -> AsyncIterator[Event]:
        low = start if inclusive else f"({start}"
        while True:
            entries = await self.redis.xrange(STREAM + topic, min=low, max="+", count=REPLAY_BATCH) or []
            for raw_id, fields in entries:
                position = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
                if listener.last is not None and _pos(position) <= _pos(listener.last):
                    continue
                listener.last = position
                yield Event.decode((fields or {})[b"e"], position)
            if len(entries) < REPLAY_BATCH:
                return
            low = f"({listener.last}"

    async def _reconnect(self) -> None:
        """Start over on a fresh pub/sub connection with every topic that has listeners (issue 10).

        After a cache outage the old connection's state cannot be trusted (seen: subscriptions made after
        the cache returned never delivered). Listeners catch up from their stream position, so an event
        published between the cache's return and this resubscription is not missed.
        """
        async with self._lock:
            old, self._pubsub = self._pubsub, self.redis.pubsub()
            if old is not None:
                with suppress(aioredis.RedisError, OSError, RuntimeError, AttributeError):
                    await old.aclose()  # type: ignore[no-untyped-call]
            await self._pubsub.subscribe(KEEPALIVE, *(CHANNEL + t for t in self._listeners))
            for listeners in self._listeners.values():
                for listener in listeners:
                    if listener.last is not None and listener.missed_from is None:
                        listener.missed_from = listener.last
                        with suppress(asyncio.QueueFull):
                            listener.queue.put_nowait(("", b""))  # wake it: it replays from the stream

    async def _read(self) -> None:
        assert self._pubsub is not None
        failing = False
        while True:
            try:
                if failing:
                    await self._reconnect()
                    failing = False
                    log.warning("event bus: pub/sub connection restored")
                elif not self._pubsub.subscribed:
                    await self._keepalive()
                message = await self._pubsub.get_message(timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (aioredis.RedisError, OSError) as exc:
                if not failing:  # once per outage, not twice a second
                    log.warning("event bus: pub/sub read failed (%s); reconnecting", type(exc).__name__)
                failing = True
                await asyncio.sleep(0.5)
                continue
            if message is None:
                continue
            channel = message["channel"]
            topic = (channel.decode() if isinstance(channel, bytes) else channel).removeprefix(CHANNEL)
            if message["type"] == "subscribe":
                confirmed = self._confirmed.get(topic)
                if confirmed is not None:
                    confirmed.set()
            elif message["type"] == "message":
                position, _, payload = message["data"].partition(b" ")
                for listener in tuple(self._listeners.get(topic, ())):
                    listener.offer(position.decode(), payload)
