"""The watchdog's shared state in Redis: the rooms to watch, and which replica leads."""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio import Redis

ROOMS_KEY = "dispatch-watchdog:rooms"  # sorted set: room name -> first seen (unix seconds)
ROOM_KEY = "dispatch-watchdog:room:"  # hash per room: attempts, next_at, status, waited
LEADER_KEY = "dispatch-watchdog:leader"
WORKERS_KEY = "dispatch-watchdog:workers"  # sorted set: worker id -> last heartbeat (unix s)
WORKER_KEY = "dispatch-watchdog:worker:"  # JSON list per worker: its calls (room, identity)
# renew only our own lease: a replica that stalled past its TTL must not steal it back
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# a tracked room's hash outlives a lost webhook by at most this long
ROOM_TTL_SECONDS = 3600


@dataclass(frozen=True)
class TrackedRoom:
    name: str
    first_seen: float
    attempts: int
    next_at: float
    status: str
    waited_reported: bool
    agent_joined: bool
    resumed: bool  # the receptionist was lost mid-call


class RoomRegistry:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def track(self, room: str, seen_at: float, check_at: float) -> None:
        """Idempotent: the first sighting (room_started or a caller joining) counts."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(ROOMS_KEY, {room: seen_at}, nx=True)
            pipe.hsetnx(ROOM_KEY + room, "next_at", str(check_at))
            pipe.expire(ROOM_KEY + room, ROOM_TTL_SECONDS)
            await pipe.execute()

    async def agent_joined(self, room: str) -> None:
        """Noted for a room we track, so a caller served and gone before the next look
        still counts as served; the next look is brought forward."""
        if await self._redis.zscore(ROOMS_KEY, room) is not None:
            await self._redis.hset(ROOM_KEY + room, mapping={"agent_joined": 1, "next_at": 0})  # type: ignore[misc]

    async def agent_lost(self, room: str, lost_at: float) -> None:
        """Watch the room again from now, as a call to resume (`resumed` dispatch)."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(ROOMS_KEY, {room: lost_at})
            pipe.delete(ROOM_KEY + room)
            pipe.hset(ROOM_KEY + room, mapping={"next_at": lost_at, "resumed": 1})
            pipe.expire(ROOM_KEY + room, ROOM_TTL_SECONDS)
            await pipe.execute()

    async def forget(self, room: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(ROOMS_KEY, room)
            pipe.delete(ROOM_KEY + room)
            await pipe.execute()

    async def due(self, now: float, limit: int) -> list[TrackedRoom]:
        names = await self._redis.zrange(ROOMS_KEY, 0, limit - 1, withscores=True)
        rooms = []
        for raw_name, first_seen in names:
            name = raw_name.decode() if isinstance(raw_name, bytes) else str(raw_name)
            fields = await self._redis.hgetall(ROOM_KEY + name)  # type: ignore[misc]
            decoded = {
                (k.decode() if isinstance(k, bytes) else k): (
                    v.decode() if isinstance(v, bytes) else v
                )
                for k, v in fields.items()
            }
            room = TrackedRoom(
                name=name,
                first_seen=float(first_seen),
                attempts=int(decoded.get("attempts", 0)),
                next_at=float(decoded.get("next_at", first_seen)),
                status=str(decoded.get("status", "")),
                waited_reported=decoded.get("waited") == "1",
                agent_joined=decoded.get("agent_joined") == "1",
                resumed=decoded.get("resumed") == "1",
            )
            if room.next_at <= now:
                rooms.append(room)
        return rooms

    async def update(self, room: str, **fields: str | int | float) -> None:
        await self._redis.hset(ROOM_KEY + room, mapping=fields)  # type: ignore[misc]

    async def count(self) -> int:
        return int(await self._redis.zcard(ROOMS_KEY))


@dataclass(frozen=True)
class WorkerCall:
    """A call a worker's heartbeat reported: the room and the receptionist's identity."""

    room: str
    identity: str


class WorkerHeartbeats:
    """Each agent worker reports its calls every second or so; a worker that stops is dead
    long before LiveKit notices its receptionists are gone (ICE timeouts, ~20 s)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def beat(self, worker_id: str, calls: list[WorkerCall], at: float) -> None:
        listed = json.dumps([{"room": c.room, "identity": c.identity} for c in calls])
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zadd(WORKERS_KEY, {worker_id: at})
            pipe.set(WORKER_KEY + worker_id, listed, ex=ROOM_TTL_SECONDS)
            await pipe.execute()

    async def silent_since(self, before: float, limit: int) -> list[tuple[str, list[WorkerCall]]]:
        """Workers whose last heartbeat is older than `before`, with the calls they had."""
        names = await self._redis.zrangebyscore(WORKERS_KEY, "-inf", before, start=0, num=limit)
        silent = []
        for raw in names:
            worker_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            listed = await self._redis.get(WORKER_KEY + worker_id)
            calls = [
                WorkerCall(room=str(c["room"]), identity=str(c["identity"]))
                for c in (json.loads(listed) if listed else [])
            ]
            silent.append((worker_id, calls))
        return silent

    async def forget(self, worker_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(WORKERS_KEY, worker_id)
            pipe.delete(WORKER_KEY + worker_id)
            await pipe.execute()


class LeaderLock:
    """A lease in Redis: the replica holding it runs the watchdog; it renews it every tick
    and loses it when it stops renewing (crash, network split) for `ttl_seconds`."""

    def __init__(self, redis: Redis, replica_id: str, ttl_seconds: float) -> None:
        self._redis = redis
        self.replica_id = replica_id
        self._ttl_ms = int(ttl_seconds * 1000)

    async def hold(self) -> bool:
        """Take or renew the lease; True while we lead."""
        result = await self._redis.eval(_RENEW, 1, LEADER_KEY, self.replica_id, self._ttl_ms)  # type: ignore[misc]
        return bool(result)

    async def release(self) -> None:
        await self._redis.eval(_RELEASE, 1, LEADER_KEY, self.replica_id)  # type: ignore[misc]
