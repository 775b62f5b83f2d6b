"""weblm: Python bindings for libweblm, the weblm licensing runtime (ctypes, no compiler needed).

Load and verify a license file, see what each feature is worth and why, and run the embedded
license server::

    import weblm
    from pathlib import Path

    lic = weblm.License.load_file("license.toml", Path("vendor.pub"), "ir-host-01", "5.0")
    print(lic.entitlement("VALUE_IR_VOIP_PORTS", "5.0").count)
    with weblm.Server(lic, "state.db") as server:
        with server.lease("ir-01", "VALUE_IR_VOIP_PORTS", "5.0", 35) as lease:
            print(lease.granted)          # released when the block ends

libweblm is found through the environment variable ``WEBLM_LIB`` or next to this package.
Every failure raises :class:`WeblmError` with the status and the library's message.
"""

from __future__ import annotations

from . import _native
from ._native import library_path
from .alloc import LicenseManager, LicenseManagerDb, plan, tenant_split
from .errors import LibraryNotFoundError, Status, WeblmError
from .client import Client, ClientConfig, FeatureStatus, Mode, Want, mode_name
from .license import CodeDecision, Entitlement, License, Reason
from .policy import NO_CAP, Bucket, Distribution, Hook, Policy
from .server import Grant, Lease, ManualClock, Server, ServerConfig, Usage

__all__ = [
    "NO_CAP",
    "Bucket",
    "Client",
    "ClientConfig",
    "FeatureStatus",
    "Mode",
    "Want",
    "mode_name",
    "CodeDecision",
    "Distribution",
    "Hook",
    "Policy",
    "Entitlement",
    "Grant",
    "Lease",
    "LibraryNotFoundError",
    "License",
    "LicenseManager",
    "LicenseManagerDb",
    "ManualClock",
    "Reason",
    "Server",
    "ServerConfig",
    "Status",
    "Usage",
    "WeblmError",
    "abi_version",
    "library_path",
    "library_version",
    "library_version_number",
    "plan",
    "tenant_split",
]


def library_version() -> str:
    """The loaded library's version text (``weblm_version()``)."""
    return _native.text(_native.lib().weblm_version())


def library_version_number() -> int:
    """``weblm_version_number()``: MAJOR * 1000000 + MINOR * 1000 + PATCH."""
    return int(_native.lib().weblm_version_number())


def abi_version() -> int:
    """``weblm_abi_version()`` of the loaded library (checked against this binding on load)."""
    return int(_native.lib().weblm_abi_version())
