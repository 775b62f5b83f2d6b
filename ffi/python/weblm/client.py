"""The IR license client (``weblm_client``): Primary/Secondary servers, renewals, NVRAM, modes.

::

    cfg = weblm.ClientConfig(
        client_id="ir-01",
        primary_url="http://127.0.0.1:7070", primary_token="tok",
        secondary_url="http://backup:7070", secondary_token="tok",
        nvram_path="/var/lib/ir/weblm.nvram",
        wants=[weblm.Want("VALUE_IR_VOIP_PORTS", "5.0", 35)],
    )
    with weblm.Client(cfg) as client:
        client.on_mode_change(lambda old, new, why: print(old, "->", new, why))
        print(client.feature("VALUE_IR_VOIP_PORTS", "5.0").capacity)

The Primary or the Secondary may also be an embedded :class:`~weblm.Server`.
"""

from __future__ import annotations

import enum
import os
from ctypes import (
    POINTER,
    byref,
    c_char,
    c_size_t,
    c_uint8,
    c_uint32,
    c_void_p,
    cast,
    create_string_buffer,
)
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Union

from . import _native as n
from .server import ManualClock, Server


class Mode(enum.IntEnum):
    """``WEBLM_MODE_*``."""

    NORMAL = 0
    GRACE = 1
    RESTRICTED = 2


def mode_name(mode: int) -> str:
    """``weblm_mode_str(mode)``."""
    return n.text(n.lib().weblm_mode_str(mode))


@dataclass(frozen=True)
class Want:
    """One feature the client wants (``weblm_client_want``)."""

    feature: str
    version: str
    wanted: int
    restricted_floor: int = 0


@dataclass
class ClientConfig:
    """``weblm_client_config``; the defaults are those of ``weblm_client_config_init``."""

    client_id: str
    nvram_path: Union[str, "os.PathLike[str]"]
    wants: List[Want] = field(default_factory=list)
    primary_url: Optional[str] = None
    primary_token: str = ""
    primary_server: Optional[Server] = None
    secondary_url: Optional[str] = None
    secondary_token: str = ""
    secondary_server: Optional[Server] = None
    nvram_key: bytes = b""
    renew_percent: int = 80
    retry_secs: int = 60
    grace_secs: int = 30 * 86400
    request_timeout_ms: int = 2000
    poll_interval_ms: int = 1000
    background: bool = True
    release_on_close: bool = True
    clock: Optional[ManualClock] = None


@dataclass(frozen=True)
class FeatureStatus:
    """``weblm_client_feature_status``."""

    wanted: int
    held: int
    held_primary: int
    held_secondary: int
    recorded: int
    capacity: int


ModeCallback = Callable[[Mode, Mode, str], None]


def _opt(value: Optional[str], what: str) -> Optional[bytes]:
    return None if value is None else n.cstr(value, what)


class Client:
    """A running license client. Thread-safe. ``close()`` (or the ``with`` block) stops its
    background thread and releases its leases (``release_on_close``)."""

    def __init__(self, config: ClientConfig) -> None:
        c = n.ClientConfigC()
        n.call("weblm_client_config_init", byref(c))
        # Keep every buffer alive until weblm_client_start returns.
        keep: List[Any] = []

        def s(value: Optional[str], what: str) -> Optional[bytes]:
            b = _opt(value, what)
            keep.append(b)
            return b

        c.client_id = s(config.client_id, "client_id")
        c.nvram_path = s(os.fspath(config.nvram_path), "nvram_path")
        c.primary_url = s(config.primary_url, "primary_url")
        c.primary_token = s(config.primary_token, "primary_token")
        c.primary_server = None if config.primary_server is None else config.primary_server.handle
        c.secondary_url = s(config.secondary_url, "secondary_url")
        c.secondary_token = s(config.secondary_token, "secondary_token")
        c.secondary_server = (
            None if config.secondary_server is None else config.secondary_server.handle
        )
        wants = (n.ClientWantC * max(1, len(config.wants)))()
        for i, w in enumerate(config.wants):
            wants[i].feature = s(w.feature, "feature")
            wants[i].version = s(w.version, "version")
            wants[i].wanted = w.wanted
            wants[i].restricted_floor = w.restricted_floor
        c.wants = cast(wants, POINTER(n.ClientWantC)) if config.wants else None
        c.wants_len = len(config.wants)
        key = (c_uint8 * max(1, len(config.nvram_key))).from_buffer_copy(
            config.nvram_key or b"\0"
        )
        c.nvram_key = cast(key, POINTER(c_uint8)) if config.nvram_key else None
        c.nvram_key_len = len(config.nvram_key)
        c.renew_percent = config.renew_percent
        c.retry_secs = config.retry_secs
        c.grace_secs = config.grace_secs
        c.request_timeout_ms = config.request_timeout_ms
        c.poll_interval_ms = config.poll_interval_ms
        c.background = config.background
        c.release_on_close = config.release_on_close
        c.clock = None if config.clock is None else config.clock.handle
        out = c_void_p()
        n.call("weblm_client_start", byref(c), byref(out))
        del keep, wants, key
        self._handle: Optional[c_void_p] = out
        self._callbacks: List[Any] = []

    @property
    def handle(self) -> c_void_p:
        """The ``weblm_client *`` (raises :class:`ValueError` once freed)."""
        if self._handle is None:
            raise ValueError("the client is closed")
        return self._handle

    def tick(self) -> None:
        """Runs one renewal/acquisition cycle now."""
        n.call("weblm_client_tick", self.handle)

    @property
    def mode(self) -> Mode:
        """The current mode."""
        out = c_uint32()
        n.call("weblm_client_mode", self.handle, byref(out))
        return Mode(out.value)

    @property
    def reason(self) -> str:
        """Why the client is in its mode."""
        size = c_size_t()
        n.call("weblm_client_reason", self.handle, None, 0, byref(size))
        buf = create_string_buffer(size.value + 1)
        n.call("weblm_client_reason", self.handle, cast(buf, POINTER(c_char)), len(buf), byref(size))
        return buf.value.decode("utf-8", "replace")

    def feature(self, feature: n.StrArg, version: n.StrArg) -> FeatureStatus:
        """What the client holds and may use for one configured feature."""
        st = n.ClientFeatureStatusC()
        n.call(
            "weblm_client_feature",
            self.handle,
            n.cstr(feature, "feature"),
            n.cstr(version, "version"),
            byref(st),
        )
        return FeatureStatus(
            wanted=st.wanted,
            held=st.held,
            held_primary=st.held_primary,
            held_secondary=st.held_secondary,
            recorded=st.recorded,
            capacity=st.capacity,
        )

    def on_mode_change(self, callback: ModeCallback) -> None:
        """Calls ``callback(old, new, reason)`` on every mode change, from the thread that runs
        the cycle. An exception in the callback is printed and ignored."""

        def trampoline(_user: Optional[int], old: int, new: int, reason: Optional[bytes]) -> None:
            try:
                callback(Mode(old), Mode(new), n.text(reason))
            except Exception:  # never let an exception cross into C
                import traceback

                traceback.print_exc()

        cb = n.ModeCallbackC(trampoline)
        self._callbacks.append(cb)  # the C side keeps a raw pointer: keep it alive
        n.call("weblm_client_on_mode_change", self.handle, cb, None)

    def close(self) -> None:
        """Stops renewing and (if configured) releases every lease; queries still work."""
        if self._handle is not None:
            n.call("weblm_client_close", self._handle)

    def free(self) -> None:
        """Closes and frees the handle (idempotent)."""
        handle, self._handle = self._handle, None
        if handle is not None:
            n.call("weblm_client_free", handle)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:
            pass
