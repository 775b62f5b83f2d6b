"""Policy plugins (``weblm_policy``): WebAssembly plugins for the ``resolve_codes``,
``distribute`` and ``compliance`` hooks, swapped at run time, and ``distribute`` as a what-if."""

from __future__ import annotations

import enum
import os
from ctypes import byref, c_uint32, c_uint64, c_void_p
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from . import _native as n
from ._handle import OwnedHandle
from .server import Server


class Hook(enum.IntEnum):
    """The policy hooks (``WEBLM_HOOK_*``)."""

    RESOLVE_CODES = 1
    DISTRIBUTE = 2
    COMPLIANCE = 4


#: ``WEBLM_NO_CAP``.
NO_CAP = 0xFFFFFFFF


@dataclass(frozen=True)
class Bucket:
    """One bucket (zone, tenant, organization) of a distribution (``weblm_bucket``)."""

    id: int
    weight: int
    priority: int
    cap: int = NO_CAP


@dataclass(frozen=True)
class Distribution:
    """The result of :meth:`Policy.distribute`: shares in bucket order, and how it was made."""

    counts: list[int]
    generation: int
    fuel_used: int
    fallback: bool


class Policy(OwnedHandle):
    """A set of policy hooks with their plugins (``weblm_policy``). Thread-safe.

    Every hook is answered by its native policy until a plugin is loaded::

        with weblm.Policy() as policy:
            policy.load(weblm.Hook.DISTRIBUTE, Path("largest_remainder.wasm"), sha256_hex)
            print(policy.distribute(7, [weblm.Bucket(1, 1, 1), weblm.Bucket(2, 7, 2)]).counts)
    """

    _FREE = "weblm_policy_free"
    _WHAT = "policy"

    def __init__(self) -> None:
        out = c_void_p()
        n.call("weblm_policy_new", byref(out))
        self._handle = out

    def load(
        self,
        hook: Hook,
        wasm: Union[bytes, "os.PathLike[str]"],
        sha256_hex: n.StrArg,
    ) -> int:
        """Loads a plugin (module bytes, or a path to read) pinned to ``sha256_hex`` and swaps
        it in for ``hook``; returns the hook's new generation."""
        data = wasm if isinstance(wasm, bytes) else open(os.fspath(wasm), "rb").read()
        gen = c_uint64()
        n.call(
            "weblm_policy_load",
            self.handle,
            int(hook),
            data,
            len(data),
            n.cstr(sha256_hex, "sha256_hex"),
            byref(gen),
        )
        return int(gen.value)

    def unload(self, hook: Hook) -> int:
        """Removes ``hook``'s plugin (the native policy answers again); returns the generation."""
        gen = c_uint64()
        n.call("weblm_policy_unload", self.handle, int(hook), byref(gen))
        return int(gen.value)

    def attach(self, server: Server) -> None:
        """Makes ``server`` combine license codes with this policy's ``resolve_codes`` hook."""
        n.call("weblm_server_set_policy", server.handle, self.handle)

    def distribute(self, total: int, buckets: Sequence[Bucket], seed: int = 0) -> Distribution:
        """What-if: shares ``total`` licenses over ``buckets`` with the ``distribute`` hook."""
        arr = (n.BucketC * len(buckets))(
            *[n.BucketC(b.id, b.weight, b.priority, b.cap) for b in buckets]
        )
        counts = (c_uint32 * len(buckets))()
        info = n.DistributeInfoC()
        n.call(
            "weblm_policy_distribute",
            self.handle,
            total,
            seed,
            arr,
            len(buckets),
            counts,
            byref(info),
        )
        return Distribution(
            counts=[int(c) for c in counts],
            generation=int(info.generation),
            fuel_used=int(info.fuel_used),
            fallback=bool(info.fallback),
        )

