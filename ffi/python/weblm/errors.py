"""Status codes and the exceptions that carry them."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """The ``weblm_status`` codes of ``weblm.h`` (``WEBLM_OK``, ``WEBLM_E_*``)."""

    OK = 0
    E_NULL_POINTER = 1
    E_INVALID_HANDLE = 2
    E_INVALID_UTF8 = 3
    E_INVALID_ARGUMENT = 4
    E_OUT_OF_RANGE = 5
    E_IO = 6
    E_MALFORMED_LICENSE = 7
    E_BAD_SIGNATURE = 8
    E_WRONG_HOST = 9
    E_VERSION_MISMATCH = 10
    E_BAD_KEY = 11
    E_UNKNOWN_FEATURE = 12
    E_UNKNOWN_LEASE = 13
    E_LEASE_EXPIRED = 14
    E_CLOCK_ROLLBACK = 15
    E_STATE_DB = 16
    E_INTERNAL = 17
    E_PLUGIN = 18


class WeblmError(Exception):
    """A libweblm call failed.

    ``status`` is the :class:`Status` (or the raw integer for a code this binding does not
    know), ``status_name`` its C name (``"WEBLM_E_WRONG_HOST"``) and ``message`` the library's
    message naming the problem (``weblm_last_error()``).
    """

    def __init__(self, status: Status | int, status_name: str, message: str) -> None:
        self.status = status
        self.status_name = status_name
        self.message = message
        super().__init__(f"{status_name}: {message}")


class LibraryNotFoundError(OSError):
    """libweblm could not be found or loaded (see ``WEBLM_LIB``)."""
