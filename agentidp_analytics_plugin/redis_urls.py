"""Redis clients from one URL: a single server, a Sentinel-watched primary, or a Redis Cluster.

The plugin's cache takes the same URL forms as its rate-limit storage (the
``limits`` schemes), so an install with a highly available Redis names it the
same way in both settings:

- ``redis://[[user]:password@]host:port/db`` (also ``rediss://`` and
  ``unix://``): one server, as before;
- ``redis+sentinel://[[user]:password@]host:port[,host:port...]/service[/db]``:
  the primary the Sentinels name for ``service``; after a failover the client
  asks the Sentinels again and follows the new primary;
- ``redis+cluster://[[user]:password@]host:port[,host:port...]``: a Redis
  Cluster, found from any of the listed nodes.

Every read and write goes to a primary (a cache entry must never be read from
a replica that has not yet seen the generation bump that invalidated it). The
keys are the same plain strings on every layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.connection import parse_url
from redis.sentinel import Sentinel

SENTINEL = "redis+sentinel"
CLUSTER = "redis+cluster"
SINGLE = ("redis", "rediss", "unix")


@dataclass(frozen=True)
class RedisTarget:
    """What a Redis URL names: its kind, its nodes, and how to sign in."""

    kind: str
    url: str
    nodes: tuple[tuple[str, int], ...] = ()
    username: str | None = None
    password: str | None = None
    service: str | None = None
    db: int = 0


def _nodes(netloc: str, default_port: int) -> tuple[tuple[str | None, str | None], tuple[tuple[str, int], ...]]:
    credentials, _, hosts = netloc.rpartition("@")
    username = password = None
    if credentials:
        user, _, secret = credentials.partition(":")
        username, password = (unquote(user) or None), (unquote(secret) or None)
    nodes = []
    for part in hosts.split(","):
        host, _, port = part.strip().rpartition(":")
        if not host:  # no port given
            host, port = port, str(default_port)
        if not host or not port.isdigit():
            raise ValueError(f"{part.strip()!r} is not host:port")
        nodes.append((host.strip("[]"), int(port)))
    return (username, password), tuple(nodes)


def parse_redis_url(url: str) -> RedisTarget:
    """Parse and check a Redis URL of any supported kind; ``ValueError`` says what is wrong."""
    if not isinstance(url, str):
        raise ValueError("not a string")
    scheme = url.partition("://")[0].lower()
    if scheme in SINGLE:
        parse_url(url)  # redis-py's own checks
        return RedisTarget(kind="single", url=url)
    if scheme not in (SENTINEL, CLUSTER):
        raise ValueError(f"unknown scheme {scheme!r}: use redis://, rediss://, unix://, {SENTINEL}:// or {CLUSTER}://")
    parts = urlsplit(url)
    (username, password), nodes = _nodes(parts.netloc, 26379 if scheme == SENTINEL else 6379)
    if scheme == CLUSTER:
        if parts.path.strip("/") not in ("", "0"):
            raise ValueError("a Redis Cluster has only database 0")
        return RedisTarget(kind="cluster", url=url, nodes=nodes, username=username, password=password)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("name the Sentinel service (and optionally the database): /service[/db]")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"the database must be a number, got {path[1]!r}")
    return RedisTarget(
        kind="sentinel",
        url=url,
        nodes=nodes,
        username=username,
        password=password,
        service=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
    )


def redis_client(url: str, **options: Any) -> redis.Redis | RedisCluster:
    """A client for the primary (or the cluster) a URL names; ``options`` go to every connection."""
    target = parse_redis_url(url)
    if target.kind == "single":
        return redis.Redis.from_url(url, **options)
    auth = {"username": target.username, "password": target.password}
    if target.kind == "cluster":
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            **auth,
            **options,
        )
    sentinel_options = {k: v for k, v in options.items() if k.startswith("socket_")}
    sentinel = Sentinel(list(target.nodes), sentinel_kwargs=sentinel_options, db=target.db, **auth, **options)
    return sentinel.master_for(target.service)
