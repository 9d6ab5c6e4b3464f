"""The in-memory store (server/store.py MemoryStore): what it keeps stays bounded by what still
matters, whatever keys clients make it see."""
import time

from marginlive.server.store import SWEEP_EVERY, MemoryStore


def test_checking_a_key_without_failures_stores_nothing():
    """Every new session checks its client's and its claimed identity's failures; the identity is any
    name a client sends, so an unknown one must leave no entry behind."""
    s = MemoryStore()
    for i in range(5000):
        assert s.failures(f"identity:someone-{i}", 600.0) == []
    assert len(s._fails) == 0
    s.add_failure("identity:alice", 600.0)
    assert len(s.failures("identity:alice", 600.0)) == 1 and len(s._fails) == 1


def test_failures_that_aged_out_are_forgotten():
    s = MemoryStore()
    for i in range(SWEEP_EVERY):
        s.add_failure(f"client:10.0.{i // 256}.{i % 256}", 0.05)
    time.sleep(0.1)
    for i in range(SWEEP_EVERY):                      # a sweep falls among these calls
        s.add_failure("client:10.9.9.9", 0.05)
    assert list(s._fails) == ["client:10.9.9.9"]
    assert s.failures("client:10.0.0.1", 0.05) == []


def test_rate_buckets_of_addresses_gone_quiet_are_forgotten_and_limits_still_hold():
    """A client rotating addresses leaves one bucket each; a bucket idle until full again is as good
    as none, so a sweep drops it, while a client still limited keeps its bucket through the sweeps."""
    s = MemoryStore()
    for i in range(10 * SWEEP_EVERY):                  # full again 0.2 ms after its one request
        s.allow(f"client:2001:db8::{i:x}", 10_000.0, 2)
    assert len(s._buckets) <= SWEEP_EVERY
    s = MemoryStore()
    assert [s.allow("client:busy", 0.01, 2) for _ in range(3)] == [True, True, False]
    for i in range(2 * SWEEP_EVERY):                   # full again only after 200 s: kept
        s.allow(f"client:10.1.{i // 256}.{i % 256}", 0.01, 2)
    assert "client:busy" in s._buckets and not s.allow("client:busy", 0.01, 2)
