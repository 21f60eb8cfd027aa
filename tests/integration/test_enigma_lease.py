"""The Enigma drain's one-consumer lease (redis-py's Lock) against a real redis-server."""

from __future__ import annotations

import time

import pytest
import redis

from cdr.sources.enigma.drain import LEASE_KEY, Lease, LeaseHeld
from launch import start_redis

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    with start_redis() as srv:
        yield srv


@pytest.fixture
def r(server):
    client = redis.Redis(port=server.port)
    client.flushdb()
    return client


def test_the_lease_names_its_holder_and_expires_within_its_ttl(r):
    with Lease(r, ttl_seconds=30) as lease:
        assert r.get(LEASE_KEY).decode() == lease.token and 29_000 < r.pttl(LEASE_KEY) <= 30_000
        with pytest.raises(LeaseHeld, match=lease.token):
            Lease(r, ttl_seconds=30).__enter__()
    assert r.get(LEASE_KEY) is None  # released on the way out


def test_renewing_gives_a_full_ttl_again(r):
    with Lease(r, ttl_seconds=1) as lease:
        time.sleep(0.6)
        lease.renew()
        assert r.pttl(LEASE_KEY) > 900


def test_a_lease_lost_to_expiry_and_taken_is_not_renewed(r):
    lease = Lease(r, ttl_seconds=0.2).__enter__()
    time.sleep(0.3)
    with Lease(r, ttl_seconds=30) as other:
        with pytest.raises(LeaseHeld, match="lost its lease"):
            lease.renew()
        lease.__exit__(None, None, None)  # must not free the other consumer's lease
        assert r.get(LEASE_KEY).decode() == other.token


@pytest.mark.parametrize("ttl", [0, -1, 61, 3600])
def test_a_lease_outliving_a_minute_is_refused(r, ttl):
    with pytest.raises(ValueError, match="lease TTL"):
        Lease(r, ttl_seconds=ttl)
