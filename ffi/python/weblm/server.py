"""The embedded license server, leases and the manual clock."""

from __future__ import annotations

import os
from ctypes import byref, c_int64, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Optional, Union

from . import _native as n
from ._handle import OwnedHandle
from .errors import Status, WeblmError
from .license import Entitlement, License


class ManualClock(OwnedHandle):
    """A clock that moves only when told to, for tests (``weblm_manual_clock``). Thread-safe."""

    _FREE = "weblm_manual_clock_free"
    _WHAT = "clock"

    def __init__(self, start: int) -> None:
        out = c_void_p()
        n.call("weblm_manual_clock_new", start, byref(out))
        self._handle = out

    def now(self) -> int:
        """The clock's time, Unix seconds."""
        out = c_int64()
        n.call("weblm_manual_clock_now", self.handle, byref(out))
        return out.value

    def set(self, now: int) -> None:
        """Sets the time (it may go backwards)."""
        n.call("weblm_manual_clock_set", self.handle, now)

    def advance(self, secs: int) -> None:
        """Moves the time by ``secs`` seconds (negative: backwards)."""
        n.call("weblm_manual_clock_advance", self.handle, secs)



@dataclass
class ServerConfig:
    """``weblm_server_config``; the defaults are those of ``weblm_server_config_init``."""

    #: How long a lease lives without renewal, seconds.
    lease_lifetime_secs: int = 600
    #: How far the clock may step back before it is distrusted, seconds.
    rollback_tolerance_secs: int = 300
    #: Whether the server runs in a redundant pool.
    redundant_server: bool = False
    #: Persistent servers: fsync every commit.
    durable_full: bool = False
    #: A manual clock, or None for the system clock.
    clock: Optional[ManualClock] = None

    def _to_c(self) -> n.ServerConfigC:
        c = n.ServerConfigC()
        n.call("weblm_server_config_init", byref(c))
        c.lease_lifetime_secs = self.lease_lifetime_secs
        c.rollback_tolerance_secs = self.rollback_tolerance_secs
        c.redundant_server = self.redundant_server
        c.durable_full = self.durable_full
        c.clock = None if self.clock is None else self.clock.handle
        return c


@dataclass(frozen=True)
class Grant:
    """The outcome of :meth:`Server.acquire`."""

    #: The lease id, or None when nothing was granted.
    lease: Optional[int]
    #: Licenses granted (0..wanted).
    granted: int
    #: Licenses asked for.
    wanted: int
    #: When the lease expires unless renewed (Unix seconds), or None.
    expires_at: Optional[int]


@dataclass(frozen=True)
class Usage:
    """In-use and available counts of one feature/version."""

    entitled: int
    in_use: int
    available: int
    leases: int


class Lease:
    """A granted lease as a context manager: released when the ``with`` block ends.

    ``granted`` may be less than ``wanted`` (even 0: then there is no lease and nothing to
    release). Renew it with :meth:`renew` before the lease lifetime runs out.
    """

    def __init__(self, server: "Server", grant: Grant) -> None:
        self.server = server
        self.grant = grant
        self.released = False

    @property
    def id(self) -> Optional[int]:
        """The lease id (None when nothing was granted)."""
        return self.grant.lease

    @property
    def granted(self) -> int:
        """Licenses held."""
        return self.grant.granted

    def renew(self) -> int:
        """Extends the lease; returns the new expiry (Unix seconds)."""
        if self.grant.lease is None:
            raise ValueError("nothing was granted: there is no lease to renew")
        return self.server.renew(self.grant.lease)

    def release(self) -> int:
        """Returns the licenses now (idempotent); returns how many were released. A lease that
        already expired and went back to the pool counts as released (returns 0)."""
        if self.released or self.grant.lease is None:
            return 0
        self.released = True
        try:
            return self.server.release(self.grant.lease)
        except WeblmError as e:
            if e.status in (Status.E_UNKNOWN_LEASE, Status.E_LEASE_EXPIRED):
                return 0
            raise

    def __enter__(self) -> "Lease":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class Server(OwnedHandle):
    """The embedded license server (``weblm_server``). Thread-safe: share one across threads.

    ``Server(license, "state.db")`` keeps its state in a SQLite file (leases survive restarts);
    ``Server(license)`` keeps it in memory. The server keeps its own copy of the license.
    """

    _FREE = "weblm_server_free"
    _WHAT = "server"

    def __init__(
        self,
        license: License,
        state_db: Union[None, str, "os.PathLike[str]"] = None,
        config: Optional[ServerConfig] = None,
    ) -> None:
        cfg = (config or ServerConfig())._to_c()
        out = c_void_p()
        if state_db is None:
            n.call("weblm_server_new_in_memory", license.handle, byref(cfg), byref(out))
        else:
            n.call(
                "weblm_server_new",
                license.handle,
                n.cstr(os.fspath(state_db), "state_db"),
                byref(cfg),
                byref(out),
            )
        self._handle = out

    def acquire(self, client: n.StrArg, feature: n.StrArg, version: n.StrArg, wanted: int) -> Grant:
        """Grants ``client`` up to ``wanted`` licenses as one lease (possibly fewer, or none)."""
        if not 0 <= wanted <= 0xFFFFFFFF:
            raise WeblmError(
                Status.E_OUT_OF_RANGE,
                "WEBLM_E_OUT_OF_RANGE",
                f"wanted is {wanted}, outside 0..=4294967295",
            )
        g = n.GrantC()
        n.call(
            "weblm_server_acquire",
            self.handle,
            n.cstr(client, "client"),
            n.cstr(feature, "feature"),
            n.cstr(version, "version"),
            wanted,
            byref(g),
        )
        return Grant(
            lease=g.lease or None,
            granted=g.granted,
            wanted=g.wanted,
            expires_at=None if g.expires_at == n.TIME_NONE else g.expires_at,
        )

    def lease(self, client: n.StrArg, feature: n.StrArg, version: n.StrArg, wanted: int) -> Lease:
        """:meth:`acquire` as a context manager that releases the lease on exit."""
        return Lease(self, self.acquire(client, feature, version, wanted))

    def renew(self, lease: int) -> int:
        """Extends a live lease; returns the new expiry (Unix seconds)."""
        out = c_int64()
        n.call("weblm_server_renew", self.handle, lease, byref(out))
        return out.value

    def release(self, lease: int) -> int:
        """Returns a lease's licenses; returns how many."""
        out = c_uint32()
        n.call("weblm_server_release", self.handle, lease, byref(out))
        return out.value

    def release_client(self, client: n.StrArg) -> int:
        """Admin force-release of every lease ``client`` holds; returns the licenses freed."""
        out = c_uint64()
        n.call("weblm_server_release_client", self.handle, n.cstr(client, "client"), byref(out))
        return out.value

    def usage(self, feature: n.StrArg, version: n.StrArg) -> Usage:
        """In-use and available counts now."""
        u = n.UsageC()
        n.call(
            "weblm_server_usage",
            self.handle,
            n.cstr(feature, "feature"),
            n.cstr(version, "version"),
            byref(u),
        )
        return Usage(entitled=u.entitled, in_use=u.in_use, available=u.available, leases=u.leases)

    def entitlement(self, feature: n.StrArg, version: n.StrArg) -> Entitlement:
        """The server's entitlement for ``feature`` ``version``, with reasons."""
        out = c_void_p()
        n.call(
            "weblm_server_entitlement",
            self.handle,
            n.cstr(feature, "feature"),
            n.cstr(version, "version"),
            byref(out),
        )
        return Entitlement._take(out)

    def reload(self, license: License) -> None:
        """Installs a new verified license without a restart."""
        n.call("weblm_server_reload", self.handle, license.handle)

