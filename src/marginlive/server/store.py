"""Where the service keeps what several replicas must agree on: sessions (before and after their
stream), rate limits, failed attempts, redeemed verdicts and the operator's counters (``metrics.py``).

``MemoryStore`` keeps it in one process (the default); ``RedisStore`` (``serve --redis URL``) in
Redis, so that a session created on one replica can be streamed on another, a verdict redeemed on
one is refused on the next, and limits and lockouts hold across all of them. Every check-and-set is
atomic (one lock here, one Lua script there). What stays in the replica that holds the stream: the
challenge state machine of a running stream (its MediaPipe tracking state); a stream that drops
ends its session, so a reconnect starts a new one.
"""
from __future__ import annotations

import functools
import json
import logging
import threading
import time
from collections import defaultdict, deque
from dataclasses import asdict, dataclass

from ..errors import UnavailableError

RETENTION_S = 3600.0   # a session's record is kept this long after its start deadline
SWEEP_EVERY = 1024     # MemoryStore: calls between sweeps of rate buckets and failure lists that no longer matter
REDIS_TIMEOUT_S = 2.0  # a Redis that does not answer within this fails the request (503), not hangs it
log = logging.getLogger("marginlive")


@dataclass
class Entry:
    """A session as the service tracks it, before and after its stream (times: Unix seconds)."""
    id: str
    client: str
    created: float
    expires: float
    nonce: str | None = None
    audience: str | None = None
    expected_identity: str | None = None
    enrol: str | None = None   # an enrolment session's name: its best faces enrol as it once accepted
    status: str = "new"        # new -> streaming -> done
    verdict: str | None = None
    # how the identity was matched (distance, margin, probes): told the relying party at redemption,
    # never put in the token, which the client can read
    evidence: dict | None = None


def _entry(d: dict) -> Entry:
    """An Entry from a stored record, fields it does not know ignored: during a rolling upgrade an
    older replica reads the records a newer one wrote."""
    return Entry(**{k: v for k, v in d.items() if k in Entry.__dataclass_fields__})


class CapReached(Exception):
    """``add`` refused: ``scope`` is "client" or "total"."""

    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope


class MemoryStore:
    """The store of one process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._sessions: dict[str, Entry] = {}
        self._used: dict[str, float] = {}
        self._buckets: dict[str, tuple[float, float]] = {}
        self._fails: dict[str, deque] = {}
        self._counters: dict[str, int] = defaultdict(int)
        self._calls = 0

    def add(self, e: Entry, per_client: int, total: int) -> None:
        """Store a new session unless ``e.client`` has ``per_client`` open ones or all have ``total``."""
        now = time.time()
        with self._lock:
            for sid in [k for k, v in self._sessions.items() if v.expires < now - RETENTION_S]:
                del self._sessions[sid]
            open_ = self._open(now)
            if sum(v.client == e.client for v in open_) >= per_client:
                raise CapReached("client")
            if len(open_) >= total:
                raise CapReached("total")
            self._sessions[e.id] = e

    def ping(self) -> None:
        """Nothing to reach: a process's own memory."""

    def get(self, sid: str) -> Entry | None:
        with self._lock:
            e = self._sessions.get(sid)
            return None if e is None else Entry(**asdict(e))

    def _open(self, now: float) -> list[Entry]:
        """Sessions created and not yet started within their deadline, or streaming."""
        return [v for v in self._sessions.values()
                if v.status == "streaming" or (v.status == "new" and v.expires >= now)]

    def count(self) -> int:
        """Open sessions (as ``RedisStore.count``: those the caps count)."""
        with self._lock:
            return len(self._open(time.time()))

    def claim(self, sid: str, client: str) -> str:
        """Mark a new session streaming: "ok", or why not: "unknown", "client", "used", "expired"."""
        with self._lock:
            e = self._sessions.get(sid)
            if e is None:
                return "unknown"
            if e.client != client:
                return "client"
            if e.status != "new":
                return "used"
            if time.time() > e.expires:
                e.status = "done"
                return "expired"
            e.status = "streaming"
            return "ok"

    def close(self, sid: str) -> bool:
        """Mark the session done; True for the one call that did (it then signs the verdict)."""
        with self._lock:
            e = self._sessions[sid]
            if e.status == "done":
                return False
            e.status = "done"
            return True

    def set_verdict(self, sid: str, token: str, evidence: dict | None = None) -> None:
        with self._lock:
            self._sessions[sid].verdict, self._sessions[sid].evidence = token, evidence

    def allow(self, key: str, rate: float, burst: int) -> bool:
        """Token bucket: ``rate`` per second, at most ``burst`` saved up."""
        now = time.monotonic()
        with self._lock:
            if self._due():   # forget buckets idle long enough to be full again: as good as none
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < burst / rate}
            tokens, last = self._buckets.get(key, (float(burst), now))
            tokens = min(burst, tokens + (now - last) * rate)
            self._buckets[key] = (tokens - 1, now) if tokens >= 1 else (tokens, now)
            return tokens >= 1

    def _due(self) -> bool:
        """True every ``SWEEP_EVERY`` calls: time to drop the rate buckets and failure lists that no
        longer matter. Without it every address that ever called stays in memory, and a client
        rotating addresses (an IPv6 prefix holds billions) grows the process without bound."""
        self._calls += 1
        return self._calls % SWEEP_EVERY == 0

    def add_failure(self, key: str, window_s: float) -> None:
        with self._lock:
            _trim(self._fails.setdefault(key, deque()), window_s).append(time.time())
            if self._due():   # keys whose failures have all aged out
                self._fails = {k: q for k, q in self._fails.items() if _trim(q, window_s)}

    def failures(self, key: str, window_s: float) -> list[float]:
        """Times of ``key``'s failures within the window, oldest first. A key without any is not
        stored: every session checks its client and its claimed identity, any name a client sends."""
        with self._lock:
            q = self._fails.get(key)
            if q is None or not _trim(q, window_s):
                self._fails.pop(key, None)
                return []
            return list(q)

    def redeem(self, jti: str, expires: float) -> bool:
        """True the first time a verdict id is redeemed (remembered until ``expires``)."""
        now = time.time()
        with self._lock:
            for k in [k for k, exp in self._used.items() if exp < now]:
                del self._used[k]
            if jti in self._used:
                return False
            self._used[jti] = expires
            return True

    def incr(self, series: str) -> None:
        """Count one more of ``series`` (a metric name with its labels, ``metrics.py``)."""
        with self._lock:
            self._counters[series] += 1

    def counters(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counters)


def _trim(q: deque, window_s: float) -> deque:
    """``q`` (failure times, oldest first) without those older than ``window_s``."""
    now = time.time()
    while q and now - q[0] > window_s:
        q.popleft()
    return q


_ADD = """
local now, per_client, total = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) >= per_client then return 'client' end
if redis.call('ZCARD', KEYS[1]) >= total then return 'total' end
redis.call('SET', KEYS[3], ARGV[4], 'EX', ARGV[6])
redis.call('ZADD', KEYS[1], ARGV[5], ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[7])
return 'ok'
"""
_CLAIM = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 'unknown' end
local e = cjson.decode(raw)
if e.client ~= ARGV[1] then return 'client' end
if e.status ~= 'new' then return 'used' end
local open_until = tonumber(ARGV[3])
if tonumber(ARGV[2]) > e.expires then
  e.status = 'done'; redis.call('SET', KEYS[1], cjson.encode(e), 'KEEPTTL')
  return 'expired'
end
e.status = 'streaming'; redis.call('SET', KEYS[1], cjson.encode(e), 'KEEPTTL')
redis.call('ZADD', KEYS[2], open_until, e.id); redis.call('ZADD', KEYS[3], open_until, e.id)
return 'ok'
"""
_CLOSE = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local e = cjson.decode(raw)
if e.status == 'done' then return 0 end
e.status = 'done'; redis.call('SET', KEYS[1], cjson.encode(e), 'KEEPTTL')
redis.call('ZREM', KEYS[2], e.id); redis.call('ZREM', KEYS[3], e.id)
return 1
"""
_BUCKET = """
local rate, burst, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'last')
local tokens, last = tonumber(b[1]) or burst, tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - last) * rate)
local ok = 0
if tokens >= 1 then tokens = tokens - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'last', now)
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return ok
"""


def _unavailable_on_redis_errors(cls):
    """Every public method of ``cls`` raises ``UnavailableError`` (HTTP 503, the WebSocket's 1013)
    for a Redis that is down, unreachable or too slow, instead of the client library's error (a 500
    and a traceback); the cause goes to the log. redis-py reconnects on the next call by itself."""
    import redis

    def guarded(fn):
        @functools.wraps(fn)
        def call(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except redis.RedisError as e:
                log.warning("marginlive: Redis at %s: %s", self.where, e)
                raise UnavailableError("the session store (Redis) cannot be reached; try again shortly") from None
        return call
    for name, fn in list(vars(cls).items()):
        if callable(fn) and not name.startswith("_"):
            setattr(cls, name, guarded(fn))
    return cls


@_unavailable_on_redis_errors
class RedisStore:
    """The store in Redis (``redis://HOST:PORT/DB``), shared by every replica that names it.
    Keys start with ``prefix``; every key expires on its own."""

    def __init__(self, url: str, prefix: str = "marginlive:"):
        import redis
        from redis.connection import parse_url

        from ..errors import InputError
        try:
            self.r, self.p = redis.Redis.from_url(url, decode_responses=True, socket_timeout=REDIS_TIMEOUT_S,
                                                  socket_connect_timeout=REDIS_TIMEOUT_S), prefix
            where = parse_url(url)
        except ValueError as e:   # another scheme, a bad port: said without the URL, which may hold a password
            raise InputError(f"--redis: not a Redis URL ({e})") from None
        # where it lives, without a password the URL may carry
        self.where = f"{where.get('host', where.get('path', '?'))}:{where.get('port', '')}"
        try:
            self.r.ping()
        except redis.RedisError as e:
            raise InputError(f"cannot reach Redis at {self.where}: {e}") from None
        self._add, self._claim = self.r.register_script(_ADD), self.r.register_script(_CLAIM)
        self._close, self._bucket = self.r.register_script(_CLOSE), self.r.register_script(_BUCKET)

    def ping(self) -> None:
        self.r.ping()

    def _keys(self, e_or_client):
        client = e_or_client if isinstance(e_or_client, str) else e_or_client.client
        return self.p + "open", self.p + "open:" + client

    def add(self, e: Entry, per_client: int, total: int) -> None:
        ttl = int(e.expires - time.time() + RETENTION_S) + 1
        res = self._add(keys=[*self._keys(e), self.p + "s:" + e.id],
                        args=[time.time(), per_client, total, json.dumps(asdict(e)), e.expires, ttl, e.id])
        if res != "ok":
            raise CapReached(res)

    def get(self, sid: str) -> Entry | None:
        raw = self.r.get(self.p + "s:" + sid)
        return None if raw is None else _entry(json.loads(raw))

    def count(self) -> int:
        """Open sessions (those the caps count; expired ones drop out at the next ``add``)."""
        return int(self.r.zcount(self.p + "open", time.time(), "+inf"))

    def claim(self, sid: str, client: str) -> str:
        # a streaming session stays open until it closes, or for RETENTION_S at most: a stream whose
        # close never reached Redis (an outage) stops counting against the caps after that
        now = time.time()
        return self._claim(keys=[self.p + "s:" + sid, *self._keys(client)], args=[client, now, now + RETENTION_S])

    def close(self, sid: str) -> bool:
        e = self.get(sid)
        return e is not None and bool(self._close(keys=[self.p + "s:" + sid, *self._keys(e)]))

    def set_verdict(self, sid: str, token: str, evidence: dict | None = None) -> None:
        e = self.get(sid)
        if e is not None:
            e.verdict, e.evidence = token, evidence
            self.r.set(self.p + "s:" + sid, json.dumps(asdict(e)), keepttl=True)

    def allow(self, key: str, rate: float, burst: int) -> bool:
        return bool(self._bucket(keys=[self.p + "rate:" + key], args=[rate, burst, time.time()]))

    def add_failure(self, key: str, window_s: float) -> None:
        k, now = self.p + "fail:" + key, time.time()
        with self.r.pipeline() as pipe:
            pipe.zadd(k, {f"{now:.6f}:{id(pipe)}": now}).expire(k, int(window_s) + 1).execute()

    def failures(self, key: str, window_s: float) -> list[float]:
        k = self.p + "fail:" + key
        self.r.zremrangebyscore(k, "-inf", time.time() - window_s)
        return [s for _, s in self.r.zrange(k, 0, -1, withscores=True)]

    def redeem(self, jti: str, expires: float) -> bool:
        ttl = max(1, int(expires - time.time()) + 1)
        return bool(self.r.set(self.p + "used:" + jti, 1, nx=True, ex=ttl))

    def incr(self, series: str) -> None:
        self.r.hincrby(self.p + "counters", series, 1)   # no expiry: counters only grow, as Prometheus expects

    def counters(self) -> dict[str, int]:
        return {k: int(v) for k, v in self.r.hgetall(self.p + "counters").items()}
