"""Verified license files and entitlements."""

from __future__ import annotations

import enum
import os
import time
from ctypes import byref, c_char_p, c_int64, c_size_t, c_uint32, c_void_p
from dataclasses import dataclass
from typing import List, Optional, Tuple, Union

from . import _native as n
from ._handle import OwnedHandle


class Reason(enum.IntEnum):
    """Why a license code counted or not (``WEBLM_REASON_*``)."""

    COUNTED_LAST_EXCLUSIVE = 0
    COUNTED_ADDITIVE = 1
    COUNTED_AGGREGATE = 2
    NOT_YET_STARTED = 3
    EXPIRED = 4
    OVERRIDDEN_BY_EXCLUSIVE = 5
    OVERRIDDEN_BY_AGGREGATE = 6
    OVERRIDDEN_BY_REDUNDANT = 7
    REPLACED_BY_PERMANENT = 8
    REDUNDANT_ON_STANDALONE_SERVER = 9


@dataclass(frozen=True)
class CodeDecision:
    """One license code's fate in an entitlement."""

    #: The code's position in the license file (1 for the first code added).
    position: int
    #: The code's own count.
    count: int
    #: Whether it counts towards the entitlement.
    counted: bool
    #: Why.
    reason: Reason
    #: Position of the code that overrode or replaced this one, or None.
    by: Optional[int]
    #: When the code starts (NOT_YET_STARTED) or ended (EXPIRED), Unix seconds, or None.
    at: Optional[int]
    #: The reason as an English sentence.
    text: str


@dataclass(frozen=True)
class Entitlement:
    """What one feature/version is worth: a snapshot, with the reason for every code."""

    #: Number of licenses that may be in use.
    count: int
    #: Start of the combined validity window (Unix seconds), or None when nothing counts.
    valid_from: Optional[int]
    #: End of the combined validity window (Unix seconds), or None for no end.
    valid_until: Optional[int]
    #: Every code of the feature/version, in license-file order.
    codes: Tuple[CodeDecision, ...]

    @classmethod
    def _take(cls, handle: c_void_p) -> "Entitlement":
        """Reads an entitlement handle into Python and frees it."""
        try:
            count = c_uint32()
            n.call("weblm_entitlement_count", handle, byref(count))
            start, end = c_int64(), c_int64()
            n.call("weblm_entitlement_window", handle, byref(start), byref(end))
            size = c_size_t()
            n.call("weblm_entitlement_code_count", handle, byref(size))
            codes = []
            for i in range(size.value):
                d = n.CodeDecisionC()
                n.call("weblm_entitlement_code_at", handle, i, byref(d))
                codes.append(
                    CodeDecision(
                        position=d.position,
                        count=d.count,
                        counted=bool(d.counted),
                        reason=Reason(d.reason),
                        by=d.by or None,
                        at=None if d.at == n.TIME_NONE else d.at,
                        text=n.text(d.text),
                    )
                )
        finally:
            n.call("weblm_entitlement_free", handle)
        return cls(
            count=count.value,
            valid_from=None if start.value == n.TIME_NONE else start.value,
            valid_until=None if end.value == n.TIME_NONE else end.value,
            codes=tuple(codes),
        )


KeyArg = Union[str, bytes, "os.PathLike[str]"]


def _key_text(public_key: KeyArg) -> bytes:
    """The vendor key as text: the key itself, or the path of a ``vendor.pub`` file."""
    if isinstance(public_key, os.PathLike):
        with open(public_key, "rb") as f:
            return n.cstr(f.read(), "public_key")
    return n.cstr(public_key, "public_key")


class License(OwnedHandle):
    """A license file whose signature, host id and (optionally) product version were checked.

    Create with :meth:`load_file` or :meth:`load_bytes`. Immutable and thread-safe. Frees its
    handle on :meth:`close`, on leaving a ``with`` block, or when garbage-collected.
    """

    _FREE = "weblm_license_free"
    _WHAT = "license"

    def __init__(self, handle: c_void_p) -> None:
        self._handle = handle

    @classmethod
    def load_file(
        cls,
        path: Union[str, "os.PathLike[str]"],
        public_key: KeyArg,
        host_id: n.StrArg,
        product_version: Optional[n.StrArg] = None,
    ) -> "License":
        """Reads and verifies the license file at ``path`` with the vendor's ``public_key``
        (its text, or a ``pathlib.Path`` to ``vendor.pub``) for this system's ``host_id``;
        checks ``product_version`` too when given."""
        out = c_void_p()
        n.call(
            "weblm_license_load_file",
            n.cstr(os.fspath(path), "path"),
            _key_text(public_key),
            n.cstr(host_id, "host_id"),
            None if product_version is None else n.cstr(product_version, "product_version"),
            byref(out),
        )
        return cls(out)

    @classmethod
    def load_bytes(
        cls,
        data: bytes,
        public_key: KeyArg,
        host_id: n.StrArg,
        product_version: Optional[n.StrArg] = None,
    ) -> "License":
        """Verifies a license file held in memory. Arguments as :meth:`load_file`."""
        out = c_void_p()
        n.call(
            "weblm_license_load_bytes",
            bytes(data),
            len(data),
            _key_text(public_key),
            n.cstr(host_id, "host_id"),
            None if product_version is None else n.cstr(product_version, "product_version"),
            byref(out),
        )
        return cls(out)

    def _string(self, fn: str) -> str:
        out = c_char_p()
        n.call(fn, self.handle, byref(out))
        return n.text(out.value)

    @property
    def vendor(self) -> str:
        """The vendor named in the file."""
        return self._string("weblm_license_vendor")

    @property
    def product(self) -> str:
        """The product the file licenses."""
        return self._string("weblm_license_product")

    @property
    def product_version(self) -> str:
        """The product version the file is for."""
        return self._string("weblm_license_product_version")

    @property
    def host_id(self) -> str:
        """The host id the file was issued for."""
        return self._string("weblm_license_host_id")

    def features(self) -> List[Tuple[str, str]]:
        """Every (feature, version) the codes name, sorted."""
        size = c_size_t()
        n.call("weblm_license_feature_count", self.handle, byref(size))
        out = []
        for i in range(size.value):
            f, v = c_char_p(), c_char_p()
            n.call("weblm_license_feature_at", self.handle, i, byref(f), byref(v))
            out.append((n.text(f.value), n.text(v.value)))
        return out

    def entitlement(
        self, feature: n.StrArg, version: n.StrArg, at: Optional[int] = None
    ) -> Entitlement:
        """What ``feature`` ``version`` is worth at ``at`` (Unix seconds; default now) by the
        file's codes alone, on a standalone server."""
        out = c_void_p()
        n.call(
            "weblm_license_entitlement",
            self.handle,
            n.cstr(feature, "feature"),
            n.cstr(version, "version"),
            int(time.time()) if at is None else at,
            byref(out),
        )
        return Entitlement._take(out)

