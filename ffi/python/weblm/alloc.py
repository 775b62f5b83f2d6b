"""Enterprise allocation and the Cisco-style license inventory (docs/allocation.md,
docs/compliance.md): the what-if planner, the SIP/H.323 tenant split, PAK fulfilment, rehost
and compliance alerts, over libweblm's ``weblm_alloc_*``, ``weblm_plm_*`` and ``weblm_pak_*``.
"""

from __future__ import annotations

import json
import os
import time
from ctypes import (
    byref,
    c_bool,
    c_char_p,
    c_size_t,
    c_uint32,
    c_uint64,
    c_void_p,
    create_string_buffer,
)
from typing import Any, Callable, Optional, Union

from . import _native as n
from ._handle import OwnedHandle


def _text(fn: Callable[[Optional[Any], int, Any], int]) -> str:
    """Reads a libweblm text through its two-call buffer protocol (length, then fill)."""
    length = c_size_t()
    n.check(fn(None, 0, byref(length)))
    buf = create_string_buffer(length.value + 1)
    n.check(fn(buf, len(buf), byref(length)))
    return buf.raw[: length.value].decode("utf-8")


def plan(config: str, licenses: int, policy: Optional[Any] = None) -> dict[str, Any]:
    """What every zone, the SIP/H.323 split, every organization, the zone reservations and the
    pipeline would get at ``licenses`` licenses (``weblm zones plan``). ``config`` is the
    planner configuration text (TOML, or JSON when it starts with ``{``); ``policy`` a
    :class:`~weblm.Policy` whose ``distribute`` hook (a wasm plugin) does the cuts, or ``None``
    for the native EP rounding. Returns the plan as a dict (the JSON of
    ``weblm_alloc_plan_json``); raises :class:`~weblm.WeblmError` for a refused configuration
    (``E_INVALID_ARGUMENT``, message naming the problem)."""
    cfg = n.cstr(config, "config")
    h = None if policy is None else policy.handle
    raw = _text(lambda b, c, l: n.lib().weblm_alloc_plan_json(h, cfg, licenses, b, c, l))
    result: dict[str, Any] = json.loads(raw)
    return result


def tenant_split(licenses: int, sip: int, h323: int) -> tuple[int, int]:
    """``(SIP licenses, H.323 licenses)``: SIP rounded down, H.323 the rest, of
    ``min(licenses, sip + h323)``; ``(0, 0)`` when nothing is configured."""
    out_sip = c_uint32()
    out_h323 = c_uint32()
    n.call("weblm_alloc_tenant_split", licenses, sip, h323, byref(out_sip), byref(out_h323))
    return out_sip.value, out_h323.value


def _now(now: Optional[int]) -> int:
    return int(time.time()) if now is None else now


class LicenseManagerDb(OwnedHandle):
    """A license manager database (``weblm_plm_db``): PAKs, installed licenses, alerts.

    ``LicenseManagerDb("plm.db")`` opens (or creates) a file; ``LicenseManagerDb()`` a private
    in-memory database. Use as a context manager or call :meth:`close`. Thread-safe.
    """

    _FREE = "weblm_plm_db_free"
    _WHAT = "license manager database"

    def __init__(self, path: Union[str, "os.PathLike[str]", None] = None) -> None:
        out = c_void_p()
        if path is None:
            n.call("weblm_plm_db_open_in_memory", byref(out))
        else:
            n.call("weblm_plm_db_open", n.cstr(str(path), "path"), byref(out))
        self._handle = out

    def register_pak(
        self,
        pak: str,
        feature: str,
        version: str,
        count: int,
        upgrade_from: Optional[str] = None,
    ) -> None:
        """Registers a PAK of ``count`` licenses (an upgrade PAK with ``upgrade_from``)."""
        up: Optional[bytes] = None if upgrade_from is None else n.cstr(upgrade_from, "upgrade_from")
        n.call(
            "weblm_pak_register",
            self.handle,
            n.cstr(pak, "pak"),
            n.cstr(feature, "feature"),
            n.cstr(version, "version"),
            count,
            c_char_p(up),
        )

    def fulfil_pak(
        self, pak: str, system_id: str, count: int, now: Optional[int] = None
    ) -> tuple[int, int]:
        """Installs ``count`` licenses of ``pak`` on ``system_id``; returns ``(fulfilled,
        remaining in the PAK)``. An empty PAK raises ``E_OUT_OF_RANGE`` with "The PAK you have
        entered, X, cannot be fulfilled because there are no licenses remaining in the PAK"."""
        got = c_uint32()
        left = c_uint32()
        n.call(
            "weblm_pak_fulfil",
            self.handle,
            n.cstr(pak, "pak"),
            n.cstr(system_id, "system_id"),
            count,
            _now(now),
            byref(got),
            byref(left),
        )
        return got.value, left.value

    def rehost(self, from_system: str, to_system: str, now: Optional[int] = None) -> int:
        """Moves every valid license of ``from_system`` to ``to_system`` (invalid on the old
        one); returns the licenses moved."""
        moved = c_uint64()
        n.call(
            "weblm_pak_rehost",
            self.handle,
            n.cstr(from_system, "from"),
            n.cstr(to_system, "to"),
            _now(now),
            byref(moved),
        )
        return moved.value

    def installed(self, system_id: str, feature: str, version: str) -> int:
        """Valid licenses of ``feature``/``version`` installed on ``system_id``."""
        out = c_uint64()
        n.call(
            "weblm_pak_installed",
            self.handle,
            n.cstr(system_id, "system_id"),
            n.cstr(feature, "feature"),
            n.cstr(version, "version"),
            byref(out),
        )
        return out.value

    def alerts(self, pending_only: bool = False) -> list[dict[str, Any]]:
        """Compliance alerts, oldest first (``weblm_plm_alerts_json``)."""
        h = self.handle
        raw = _text(lambda b, c, l: n.lib().weblm_plm_alerts_json(h, pending_only, b, c, l))
        result: list[dict[str, Any]] = json.loads(raw)
        return result




class LicenseManager(OwnedHandle):
    """The Cisco-style compliance engine of one system (``weblm_plm``) over a
    :class:`LicenseManagerDb`: free trial, over-use / out-of-date / invalid licenses,
    deactivation, the 12-hour sync and the daily analysis (docs/compliance.md).

    ``clock`` is a :class:`~weblm.ManualClock` (tests) or ``None`` for the system clock;
    ``config`` a dict of settings (``system_id``, ``feature``, ``version``, ``trial_days``,
    ``analysis_hour``, ...). Thread-safe.
    """

    _FREE = "weblm_plm_free"
    _WHAT = "license manager"

    def __init__(
        self,
        db: LicenseManagerDb,
        clock: Optional[Any] = None,
        config: Optional[dict[str, Any]] = None,
    ) -> None:
        out = c_void_p()
        cfg = None if config is None else n.cstr(json.dumps(config), "config")
        n.call(
            "weblm_plm_new",
            db.handle,
            None if clock is None else clock.handle,
            c_char_p(cfg),
            byref(out),
        )
        self._db = db
        self._handle = out

    def set_license_manager_reachable(self, reachable: bool) -> None:
        """Whether the next synchronizations reach the license manager."""
        n.call("weblm_plm_set_license_manager_reachable", self.handle, reachable)

    def tick(self) -> None:
        """Runs what is due: 12-hour sync, daily analysis, checks, webhook delivery."""
        n.call("weblm_plm_tick", self.handle)

    def record_usage(self, users: int) -> None:
        """Records the current number of users."""
        n.call("weblm_plm_record_usage", self.handle, users)

    def failover(self, license_manager_reachable: bool) -> None:
        """A fail-over happened; unreachable license manager: the free trial starts."""
        n.call("weblm_plm_failover", self.handle, license_manager_reachable)

    def analyze_now(self) -> None:
        """Runs the license analysis now (after installing licenses)."""
        n.call("weblm_plm_analyze_now", self.handle)

    def service_available(self) -> bool:
        """Whether users may use the service (False once deactivated)."""
        out = c_bool()
        n.call("weblm_plm_service_available", self.handle, byref(out))
        return bool(out.value)

    def status(self) -> dict[str, Any]:
        """The status (mode, trial end, violation with its disable date, installed counts of
        the last analysis, ...)."""
        h = self.handle
        raw = _text(lambda b, c, l: n.lib().weblm_plm_status_json(h, b, c, l))
        result: dict[str, Any] = json.loads(raw)
        return result

    def set_webhook(self, url: Optional[str], timeout_ms: int = 5000) -> None:
        """Posts alerts to ``url`` (plain ``http://``); ``None`` removes the webhook."""
        u = None if url is None else n.cstr(url, "url")
        n.call("weblm_plm_set_webhook", self.handle, c_char_p(u), timeout_ms)

