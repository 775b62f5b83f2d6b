"""One owned libweblm handle, freed exactly once: by ``close()``, at the end of a ``with`` block,
or when the object is garbage-collected."""

from __future__ import annotations

from ctypes import c_void_p
from typing import Optional, TypeVar

from . import _native as n

_T = TypeVar("_T", bound="OwnedHandle")


class OwnedHandle:
    """Base of the classes that own a C handle (``License``, ``Server``, ``ManualClock``,
    ``Policy``, ``LicenseManagerDb``, ``LicenseManager``)."""

    #: The ``weblm_*_free`` function of this handle type.
    _FREE: str = ""
    #: What the handle is, for the error raised once it is closed.
    _WHAT: str = "handle"
    #: The C handle; ``None`` once closed (or if the constructor failed).
    _handle: Optional[c_void_p] = None

    @property
    def handle(self) -> c_void_p:
        """The C handle (raises :class:`ValueError` once closed)."""
        if self._handle is None:
            raise ValueError(f"the {self._WHAT} is closed")
        return self._handle

    def close(self) -> None:
        """Frees the handle (idempotent). Objects that were given this one (a server given a
        clock or a policy) keep their own reference and go on working."""
        handle, self._handle = self._handle, None
        if handle is not None:
            n.call(self._FREE, handle)

    def __enter__(self: _T) -> _T:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
