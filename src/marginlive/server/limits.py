"""Per-client token-bucket rate limits and failed-attempt accounting (in memory, per process)."""
from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int):
        self.rate, self.burst = rate_per_s, burst
        self._b: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        with self._lock:
            tokens, last = self._b.get(key, (float(self.burst), now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1:
                self._b[key] = (tokens, now)
                return False
            self._b[key] = (tokens - 1, now)
            return True


class FailureCounter:
    """Rejected sessions per client in a sliding window."""

    def __init__(self, limit: int, window_s: float):
        self.limit, self.window = limit, window_s
        self._f: dict[str, deque] = defaultdict(deque)
        self._lock = threading.Lock()

    def _trim(self, key, now):
        q = self._f[key]
        while q and now - q[0] > self.window:
            q.popleft()
        return q

    def add(self, key: str):
        with self._lock:
            self._trim(key, time.monotonic()).append(time.monotonic())

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._trim(key, time.monotonic())) >= self.limit

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` is below its limit again (0 if it is now)."""
        with self._lock:
            q = self._trim(key, time.monotonic())
            if len(q) < self.limit:
                return 0.0
            return max(0.0, self.window - (time.monotonic() - q[len(q) - self.limit]))
