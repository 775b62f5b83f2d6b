"""Finding and loading libweblm, and the ctypes prototypes of every function in ``weblm.h``.

The library is looked up, in order:

1. the path in the environment variable ``WEBLM_LIB`` (an error if it names no loadable file);
2. ``libweblm.so`` (``libweblm.dylib``, ``weblm.dll``) next to this package.

Anything else is a :class:`~weblm.errors.LibraryNotFoundError` saying what was tried.
"""

from __future__ import annotations

import ctypes
import os
import threading
from ctypes import (
    CFUNCTYPE,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int64,
    c_size_t,
    c_uint32,
    c_uint64,
    c_uint8,
    c_void_p,
)
from pathlib import Path
from typing import Any, Callable, Optional, Union

from .errors import LibraryNotFoundError, Status, WeblmError

#: The ABI version this binding was written for (``WEBLM_ABI_VERSION``).
ABI_VERSION = 1
#: ``WEBLM_TIME_NONE``.
TIME_NONE = -(2**63)
#: ``WEBLM_NO_LEASE``.
NO_LEASE = 0
#: ``WEBLM_MAX_LICENSE_BYTES``.
MAX_LICENSE_BYTES = 16 * 1024 * 1024

_NAMES = ("libweblm.so", "libweblm.dylib", "weblm.dll")


class CodeDecisionC(Structure):
    """``weblm_code_decision``."""

    _fields_ = [
        ("position", c_uint32),
        ("count", c_uint32),
        ("counted", c_bool),
        ("reason", c_uint32),
        ("by", c_uint32),
        ("at", c_int64),
        ("text", c_char_p),
    ]


class ServerConfigC(Structure):
    """``weblm_server_config``."""

    _fields_ = [
        ("lease_lifetime_secs", c_int64),
        ("rollback_tolerance_secs", c_int64),
        ("redundant_server", c_bool),
        ("durable_full", c_bool),
        ("clock", c_void_p),
    ]


class GrantC(Structure):
    """``weblm_grant``."""

    _fields_ = [
        ("lease", c_uint64),
        ("granted", c_uint32),
        ("wanted", c_uint32),
        ("expires_at", c_int64),
    ]


class UsageC(Structure):
    """``weblm_usage``."""

    _fields_ = [
        ("entitled", c_uint32),
        ("in_use", c_uint64),
        ("available", c_uint64),
        ("leases", c_uint64),
    ]


class BucketC(Structure):
    """``weblm_bucket``."""

    _fields_ = [
        ("id", c_uint32),
        ("weight", c_uint32),
        ("priority", c_uint32),
        ("cap", c_uint32),
    ]


class DistributeInfoC(Structure):
    """``weblm_distribute_info``."""

    _fields_ = [
        ("generation", c_uint64),
        ("fuel_used", c_uint64),
        ("fallback", c_bool),
    ]


class ClientWantC(Structure):
    """``weblm_client_want``."""

    _fields_ = [
        ("feature", c_char_p),
        ("version", c_char_p),
        ("wanted", c_uint32),
        ("restricted_floor", c_uint32),
    ]


class ClientConfigC(Structure):
    """``weblm_client_config``."""

    _fields_ = [
        ("client_id", c_char_p),
        ("primary_url", c_char_p),
        ("primary_token", c_char_p),
        ("primary_server", c_void_p),
        ("secondary_url", c_char_p),
        ("secondary_token", c_char_p),
        ("secondary_server", c_void_p),
        ("wants", POINTER(ClientWantC)),
        ("wants_len", c_size_t),
        ("nvram_path", c_char_p),
        ("nvram_key", POINTER(c_uint8)),
        ("nvram_key_len", c_size_t),
        ("renew_percent", c_uint32),
        ("retry_secs", c_int64),
        ("grace_secs", c_int64),
        ("request_timeout_ms", c_uint32),
        ("poll_interval_ms", c_uint32),
        ("background", c_bool),
        ("release_on_close", c_bool),
        ("clock", c_void_p),
    ]


class ClientFeatureStatusC(Structure):
    """``weblm_client_feature_status``."""

    _fields_ = [
        ("wanted", c_uint32),
        ("held", c_uint32),
        ("held_primary", c_uint32),
        ("held_secondary", c_uint32),
        ("recorded", c_uint32),
        ("capacity", c_uint32),
    ]


#: ``weblm_mode_callback``.
ModeCallbackC = CFUNCTYPE(None, c_void_p, c_uint32, c_uint32, c_char_p)

_st = c_uint32
_h = c_void_p
_PROTOTYPES: dict[str, tuple[Any, list[Any]]] = {
    "weblm_status_str": (c_char_p, [_st]),
    "weblm_last_error": (c_char_p, []),
    "weblm_version": (c_char_p, []),
    "weblm_version_number": (c_uint32, []),
    "weblm_abi_version": (c_uint32, []),
    "weblm_license_load_file": (_st, [c_char_p, c_char_p, c_char_p, c_char_p, POINTER(_h)]),
    "weblm_license_load_bytes": (
        _st,
        [c_char_p, c_size_t, c_char_p, c_char_p, c_char_p, POINTER(_h)],
    ),
    "weblm_license_free": (_st, [_h]),
    "weblm_license_vendor": (_st, [_h, POINTER(c_char_p)]),
    "weblm_license_product": (_st, [_h, POINTER(c_char_p)]),
    "weblm_license_product_version": (_st, [_h, POINTER(c_char_p)]),
    "weblm_license_host_id": (_st, [_h, POINTER(c_char_p)]),
    "weblm_license_feature_count": (_st, [_h, POINTER(c_size_t)]),
    "weblm_license_feature_at": (_st, [_h, c_size_t, POINTER(c_char_p), POINTER(c_char_p)]),
    "weblm_license_entitlement": (_st, [_h, c_char_p, c_char_p, c_int64, POINTER(_h)]),
    "weblm_entitlement_free": (_st, [_h]),
    "weblm_entitlement_count": (_st, [_h, POINTER(c_uint32)]),
    "weblm_entitlement_window": (_st, [_h, POINTER(c_int64), POINTER(c_int64)]),
    "weblm_entitlement_code_count": (_st, [_h, POINTER(c_size_t)]),
    "weblm_entitlement_code_at": (_st, [_h, c_size_t, POINTER(CodeDecisionC)]),
    "weblm_server_config_init": (_st, [POINTER(ServerConfigC)]),
    "weblm_server_new": (_st, [_h, c_char_p, POINTER(ServerConfigC), POINTER(_h)]),
    "weblm_server_new_in_memory": (_st, [_h, POINTER(ServerConfigC), POINTER(_h)]),
    "weblm_server_free": (_st, [_h]),
    "weblm_server_reload": (_st, [_h, _h]),
    "weblm_server_acquire": (
        _st,
        [_h, c_char_p, c_char_p, c_char_p, c_uint32, POINTER(GrantC)],
    ),
    "weblm_server_renew": (_st, [_h, c_uint64, POINTER(c_int64)]),
    "weblm_server_release": (_st, [_h, c_uint64, POINTER(c_uint32)]),
    "weblm_server_release_client": (_st, [_h, c_char_p, POINTER(c_uint64)]),
    "weblm_server_usage": (_st, [_h, c_char_p, c_char_p, POINTER(UsageC)]),
    "weblm_server_entitlement": (_st, [_h, c_char_p, c_char_p, POINTER(_h)]),
    "weblm_manual_clock_new": (_st, [c_int64, POINTER(_h)]),
    "weblm_manual_clock_set": (_st, [_h, c_int64]),
    "weblm_manual_clock_advance": (_st, [_h, c_int64]),
    "weblm_manual_clock_now": (_st, [_h, POINTER(c_int64)]),
    "weblm_manual_clock_free": (_st, [_h]),
    "weblm_alloc_plan_json": (
        _st,
        [_h, c_char_p, c_uint32, c_char_p, c_size_t, POINTER(c_size_t)],
    ),
    "weblm_alloc_tenant_split": (
        _st,
        [c_uint32, c_uint32, c_uint32, POINTER(c_uint32), POINTER(c_uint32)],
    ),
    "weblm_plm_db_open": (_st, [c_char_p, POINTER(_h)]),
    "weblm_plm_db_open_in_memory": (_st, [POINTER(_h)]),
    "weblm_plm_db_free": (_st, [_h]),
    "weblm_pak_register": (_st, [_h, c_char_p, c_char_p, c_char_p, c_uint32, c_char_p]),
    "weblm_pak_fulfil": (
        _st,
        [_h, c_char_p, c_char_p, c_uint32, c_int64, POINTER(c_uint32), POINTER(c_uint32)],
    ),
    "weblm_pak_rehost": (_st, [_h, c_char_p, c_char_p, c_int64, POINTER(c_uint64)]),
    "weblm_pak_installed": (_st, [_h, c_char_p, c_char_p, c_char_p, POINTER(c_uint64)]),
    "weblm_plm_alerts_json": (_st, [_h, c_bool, c_char_p, c_size_t, POINTER(c_size_t)]),
    "weblm_plm_new": (_st, [_h, _h, c_char_p, POINTER(_h)]),
    "weblm_plm_free": (_st, [_h]),
    "weblm_plm_set_license_manager_reachable": (_st, [_h, c_bool]),
    "weblm_plm_tick": (_st, [_h]),
    "weblm_plm_record_usage": (_st, [_h, c_uint32]),
    "weblm_plm_failover": (_st, [_h, c_bool]),
    "weblm_plm_analyze_now": (_st, [_h]),
    "weblm_plm_service_available": (_st, [_h, POINTER(c_bool)]),
    "weblm_plm_status_json": (_st, [_h, c_char_p, c_size_t, POINTER(c_size_t)]),
    "weblm_plm_set_webhook": (_st, [_h, c_char_p, c_uint32]),
    "weblm_policy_new": (_st, [POINTER(_h)]),
    "weblm_policy_free": (_st, [_h]),
    "weblm_policy_load": (
        _st,
        [_h, c_uint32, c_char_p, c_size_t, c_char_p, POINTER(c_uint64)],
    ),
    "weblm_policy_unload": (_st, [_h, c_uint32, POINTER(c_uint64)]),
    "weblm_server_set_policy": (_st, [_h, _h]),
    "weblm_policy_distribute": (
        _st,
        [
            _h,
            c_uint32,
            c_uint64,
            POINTER(BucketC),
            c_size_t,
            POINTER(c_uint32),
            POINTER(DistributeInfoC),
        ],
    ),
    "weblm_client_config_init": (_st, [POINTER(ClientConfigC)]),
    "weblm_client_start": (_st, [POINTER(ClientConfigC), POINTER(_h)]),
    "weblm_client_tick": (_st, [_h]),
    "weblm_client_mode": (_st, [_h, POINTER(c_uint32)]),
    "weblm_mode_str": (c_char_p, [c_uint32]),
    "weblm_client_reason": (_st, [_h, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "weblm_client_feature": (
        _st,
        [_h, c_char_p, c_char_p, POINTER(ClientFeatureStatusC)],
    ),
    "weblm_client_on_mode_change": (
        _st,
        [_h, ModeCallbackC, c_void_p],
    ),
    "weblm_client_close": (_st, [_h]),
    "weblm_client_free": (_st, [_h]),
}

_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def library_path() -> str:
    """The path libweblm will be loaded from; raises :class:`LibraryNotFoundError`."""
    env = os.environ.get("WEBLM_LIB")
    if env:
        if not Path(env).is_file():
            raise LibraryNotFoundError(
                f"WEBLM_LIB is set to {env!r}, which is not a file; point it at libweblm.so"
            )
        return env
    here = Path(__file__).resolve().parent
    for name in _NAMES:
        candidate = here / name
        if candidate.is_file():
            return str(candidate)
    raise LibraryNotFoundError(
        "cannot find libweblm: set the environment variable WEBLM_LIB to the path of "
        f"libweblm.so, or put libweblm.so next to the weblm package (in {here})"
    )


def lib() -> ctypes.CDLL:
    """The loaded library, loaded and checked (ABI version) on first use."""
    global _lib
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            path = library_path()
            try:
                cdll = ctypes.CDLL(path)
            except OSError as e:
                raise LibraryNotFoundError(f"cannot load libweblm from {path}: {e}") from e
            for name, (restype, argtypes) in _PROTOTYPES.items():
                try:
                    fn = getattr(cdll, name)
                except AttributeError as e:
                    raise LibraryNotFoundError(
                        f"{path} is not a compatible libweblm: it lacks {name}"
                    ) from e
                fn.restype = restype
                fn.argtypes = argtypes
            abi = cdll.weblm_abi_version()
            if abi != ABI_VERSION:
                raise LibraryNotFoundError(
                    f"{path} has ABI version {abi}; this binding needs {ABI_VERSION}"
                )
            _lib = cdll
    return _lib


def status_name(status: int) -> str:
    """``weblm_status_str(status)``."""
    raw: bytes = lib().weblm_status_str(status)
    return raw.decode()


def last_error() -> str:
    """``weblm_last_error()`` of the calling thread."""
    raw: bytes = lib().weblm_last_error()
    return raw.decode("utf-8", "replace")


def check(status: int) -> None:
    """Raises :class:`WeblmError` for a status other than ``WEBLM_OK``."""
    if status != Status.OK:
        try:
            st: Union[Status, int] = Status(status)
        except ValueError:
            st = status
        raise WeblmError(st, status_name(status), last_error())


def call(name: str, *args: Any) -> None:
    """Calls ``name`` and raises on a failed status."""
    fn: Callable[..., int] = getattr(lib(), name)
    check(fn(*args))


StrArg = Union[str, bytes]


def cstr(value: StrArg, what: str) -> bytes:
    """A Python string as UTF-8 for C. ``bytes`` pass through unchanged (so callers can hand
    libweblm exactly the bytes they have); an embedded NUL is refused, since C would cut the
    string there."""
    data = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    if b"\0" in data:
        raise ValueError(f"{what} contains a NUL character")
    return data


def text(value: Optional[bytes]) -> str:
    """A string libweblm returned, copied into Python."""
    return "" if value is None else value.decode("utf-8", "replace")
