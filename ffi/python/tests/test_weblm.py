"""pytest suite of the weblm Python package: the same ground as tests/c/test_weblm.c."""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import threading
from ctypes import byref, c_char_p, c_int64, c_size_t, c_uint32, c_void_p
from pathlib import Path

import pytest

import weblm
from weblm import Reason, Status, WeblmError
from weblm import _native as n

T0 = 1780272000  # 2026-06-01T00:00:00Z
T_2026_01_01 = 1767225600
T_2026_03_02 = 1772409600
T_2099_01_01 = 4070908800
HOST = "ir-host-01"
VOIP = "VALUE_IR_VOIP_PORTS"
BAD_UTF8 = b"a\xffb"


def raises(status: Status, needle: str = ""):
    """Context manager: a WeblmError with `status` whose message contains `needle`."""

    class _Ctx:
        def __enter__(self):
            self.info = pytest.raises(WeblmError)
            self.exc = self.info.__enter__()
            return self.exc

        def __exit__(self, *a):
            handled = self.info.__exit__(*a)
            e = self.exc.value
            assert e.status == status, f"{e.status_name}: {e.message}"
            assert e.status_name == "WEBLM_" + status.name
            assert e.message, "the message names the problem"
            assert needle in e.message, e.message
            return handled

    return _Ctx()


@pytest.fixture()
def license(lic):
    with weblm.License.load_file(lic.license, lic.key, HOST, "5.0") as license:
        yield license


@pytest.fixture()
def clock():
    with weblm.ManualClock(T0) as c:
        yield c


@pytest.fixture()
def server(license, clock):
    with weblm.Server(license, config=weblm.ServerConfig(clock=clock)) as s:
        yield s


# --- versions and status -------------------------------------------------------------------


def test_versions_and_status_names():
    assert weblm.abi_version() == n.ABI_VERSION
    v = weblm.library_version()
    major, minor, patch = (int(p) for p in v.split("."))
    assert weblm.library_version_number() == major * 1_000_000 + minor * 1_000 + patch
    for s in Status:
        assert n.status_name(s) == "WEBLM_" + s.name
    assert n.status_name(9999) == "WEBLM_E_UNKNOWN_STATUS"


def test_last_error_is_cleared_by_success(lic):
    with raises(Status.E_WRONG_HOST):
        weblm.License.load_file(lic.license, lic.key, "other")
    assert "not issued for this system" in n.last_error()
    weblm.License.load_file(lic.license, lic.key, HOST).close()
    assert n.last_error() == ""


# --- loading licenses ----------------------------------------------------------------------


def test_load_file_and_properties(license):
    assert license.vendor == "Acme Voice"
    assert license.product == "IR"
    assert license.product_version == "5.0"
    assert license.host_id == HOST
    assert license.features() == [
        ("77", "5.0"),
        ("ASR", "5.0"),
        ("FUTURE", "5.0"),
        ("OLD", "5.0"),
        ("TTS", "5.0"),
        (VOIP, "5.0"),
    ]


def test_key_may_be_a_path(lic):
    weblm.License.load_file(lic.license, lic.key_path, HOST).close()


def test_load_errors(lic):
    with raises(Status.E_WRONG_HOST, "not issued for this system"):
        weblm.License.load_file(lic.license, lic.key, "other-host")
    with raises(Status.E_BAD_SIGNATURE, "signature"):
        weblm.License.load_file(lic.license, lic.other_key, HOST)
    with raises(Status.E_VERSION_MISMATCH, "product version mismatch"):
        weblm.License.load_file(lic.license, lic.key, HOST, "6.0")
    with raises(Status.E_BAD_KEY, "not a weblm public key"):
        weblm.License.load_file(lic.license, "nonsense", HOST)
    with raises(Status.E_IO, "/nonexistent/license.toml"):
        weblm.License.load_file("/nonexistent/license.toml", lic.key, HOST)
    with raises(Status.E_INVALID_UTF8, "host_id"):
        weblm.License.load_file(lic.license, lic.key, BAD_UTF8)
    with raises(Status.E_INVALID_UTF8, "path"):
        weblm.License.load_file(BAD_UTF8, lic.key, HOST)
    with raises(Status.E_INVALID_UTF8, "product_version"):
        weblm.License.load_file(lic.license, lic.key, HOST, BAD_UTF8)
    with raises(Status.E_INVALID_UTF8, "public_key"):
        weblm.License.load_file(lic.license, BAD_UTF8, HOST)
    with pytest.raises(ValueError, match="NUL"):
        weblm.License.load_file(lic.license, lic.key, "ir\0host")


def test_load_bytes(lic):
    data = lic.license.read_bytes()
    with weblm.License.load_bytes(data, lic.key, HOST, "5.0") as l2:
        assert l2.host_id == HOST
    tampered = data.replace(b"count = 20", b"count = 29")
    assert tampered != data
    with raises(Status.E_BAD_SIGNATURE, "signature does not match"):
        weblm.License.load_bytes(tampered, lic.key, HOST)
    with raises(Status.E_WRONG_HOST):
        weblm.License.load_bytes(data, lic.key, "x")
    with raises(Status.E_MALFORMED_LICENSE, "malformed license file"):
        weblm.License.load_bytes(b"this is [[ not a license", lic.key, HOST)
    with raises(Status.E_MALFORMED_LICENSE):
        weblm.License.load_bytes(b"", lic.key, HOST)
    with raises(Status.E_INVALID_UTF8, "offset 1"):
        weblm.License.load_bytes(BAD_UTF8, lic.key, HOST)
    with raises(Status.E_OUT_OF_RANGE, "maximum"):
        weblm.License.load_bytes(b" " * (n.MAX_LICENSE_BYTES + 1), lic.key, HOST)


def test_null_pointers_are_statuses(lic):
    lib = n.lib()
    out = c_void_p()
    key = lic.key.encode()
    path = str(lic.license).encode()
    assert lib.weblm_license_load_file(None, key, b"h", None, byref(out)) == Status.E_NULL_POINTER
    assert "path" in n.last_error()
    assert lib.weblm_license_load_file(path, None, b"h", None, byref(out)) == Status.E_NULL_POINTER
    assert lib.weblm_license_load_file(path, key, None, None, byref(out)) == Status.E_NULL_POINTER
    assert lib.weblm_license_load_file(path, key, HOST.encode(), None, None) == Status.E_NULL_POINTER
    assert lib.weblm_license_load_bytes(None, 5, key, b"h", None, byref(out)) == Status.E_NULL_POINTER
    assert out.value is None, "out-parameters are written only on success"
    s = c_char_p()
    assert lib.weblm_license_host_id(None, byref(s)) == Status.E_NULL_POINTER
    assert lib.weblm_server_acquire(None, b"c", b"f", b"v", 1, None) == Status.E_NULL_POINTER
    assert lib.weblm_entitlement_count(None, None) == Status.E_NULL_POINTER
    assert lib.weblm_manual_clock_now(None, None) == Status.E_NULL_POINTER
    assert lib.weblm_server_config_init(None) == Status.E_NULL_POINTER
    assert "NULL" in n.last_error()


# --- entitlements --------------------------------------------------------------------------


def test_entitlements_and_reasons(license):
    e = license.entitlement(VOIP, "5.0", at=T0)
    assert (e.count, e.valid_from, e.valid_until) == (20, T_2026_01_01, None)
    (c,) = e.codes
    assert (c.position, c.counted, c.reason, c.by, c.at) == (1, True, Reason.COUNTED_ADDITIVE, None, None)
    assert c.text.startswith("counted")

    assert license.entitlement("77", "5.0", at=T0).count == 7

    asr = license.entitlement("ASR", "5.0", at=T0)
    assert asr.count == 4
    assert [(d.position, d.counted, d.reason, d.by) for d in asr.codes] == [
        (4, False, Reason.OVERRIDDEN_BY_EXCLUSIVE, 5),
        (5, True, Reason.COUNTED_LAST_EXCLUSIVE, None),
    ]

    tts = license.entitlement("TTS", "5.0", at=T0)
    assert tts.count == 3
    assert (tts.codes[0].reason, tts.codes[0].by) == (Reason.REPLACED_BY_PERMANENT, 7)

    old = license.entitlement("OLD", "5.0", at=T0)
    assert (old.count, old.valid_from, old.valid_until) == (0, None, None)
    assert (old.codes[0].reason, old.codes[0].at) == (Reason.EXPIRED, T_2026_03_02)
    assert old.codes[0].text.startswith("ignored")
    before = license.entitlement("OLD", "5.0", at=T_2026_01_01 + 86400)
    assert (before.count, before.valid_until) == (9, T_2026_03_02)

    fut = license.entitlement("FUTURE", "5.0", at=T0)
    assert (fut.codes[0].reason, fut.codes[0].at) == (Reason.NOT_YET_STARTED, T_2099_01_01)

    # Times at the ends of int64 are answered, not overflowed.
    assert license.entitlement("TTS", "5.0", at=-(2**63)).codes[0].reason == Reason.NOT_YET_STARTED
    assert license.entitlement("OLD", "5.0", at=2**63 - 1).codes[0].reason == Reason.EXPIRED

    # Default time: now (2026-01-01 start is past on any machine running this).
    assert license.entitlement(VOIP, "5.0").count == 20


def test_entitlement_errors(license):
    with raises(Status.E_UNKNOWN_FEATURE, "NOPE"):
        license.entitlement("NOPE", "5.0", at=T0)
    with raises(Status.E_UNKNOWN_FEATURE):
        license.entitlement(VOIP, "4.0", at=T0)
    with raises(Status.E_INVALID_UTF8, "feature"):
        license.entitlement(BAD_UTF8, "5.0", at=T0)


def test_out_of_range_indexes(license):
    lib = n.lib()
    f, v = c_char_p(b"untouched"), c_char_p()
    assert lib.weblm_license_feature_at(license.handle, 6, byref(f), byref(v)) == Status.E_OUT_OF_RANGE
    assert "index 6" in n.last_error()
    assert f.value == b"untouched"
    ent = c_void_p()
    assert lib.weblm_license_entitlement(license.handle, VOIP.encode(), b"5.0", T0, byref(ent)) == 0
    d = n.CodeDecisionC()
    assert lib.weblm_entitlement_code_at(ent, 1, byref(d)) == Status.E_OUT_OF_RANGE
    assert lib.weblm_entitlement_code_at(ent, 0, byref(d)) == Status.OK
    assert lib.weblm_entitlement_free(ent) == Status.OK


# --- handles: double free, use after free --------------------------------------------------


def test_double_free_returns_a_status(lic):
    lib = n.lib()
    out = c_void_p()
    assert lib.weblm_license_load_file(str(lic.license).encode(), lic.key.encode(), HOST.encode(), None, byref(out)) == 0
    assert lib.weblm_license_free(out) == Status.OK
    assert lib.weblm_license_free(out) == Status.E_INVALID_HANDLE
    assert "freed already" in n.last_error()
    s = c_char_p()
    assert lib.weblm_license_host_id(out, byref(s)) == Status.E_INVALID_HANDLE
    assert lib.weblm_license_free(None) == Status.OK
    clk = c_void_p()
    assert lib.weblm_manual_clock_new(0, byref(clk)) == 0
    assert lib.weblm_license_free(clk) == Status.E_INVALID_HANDLE, "a clock is not a license"
    assert lib.weblm_manual_clock_free(clk) == Status.OK
    assert lib.weblm_manual_clock_free(clk) == Status.E_INVALID_HANDLE
    assert lib.weblm_server_free(c_void_p(0xDEADBEEF)) == Status.E_INVALID_HANDLE
    assert lib.weblm_entitlement_free(c_void_p(0xDEADBEEF)) == Status.E_INVALID_HANDLE


def test_closed_objects_refuse_use(lic):
    license = weblm.License.load_file(lic.license, lic.key, HOST)
    license.close()
    license.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        license.host_id
    with weblm.ManualClock(5) as c:
        assert c.now() == 5
    with pytest.raises(ValueError, match="closed"):
        c.now()


# --- manual clock --------------------------------------------------------------------------


def test_manual_clock(clock):
    assert clock.now() == T0
    clock.advance(90)
    assert clock.now() == T0 + 90
    clock.advance(-100)
    assert clock.now() == T0 - 10
    clock.set(5)
    assert clock.now() == 5


# --- the embedded server -------------------------------------------------------------------


def test_acquire_renew_release(server, clock):
    g = server.acquire("ir-01", VOIP, "5.0", 35)
    assert (g.granted, g.wanted, g.expires_at) == (20, 35, T0 + 600)
    assert g.lease is not None
    none = server.acquire("ir-02", VOIP, "5.0", 1)
    assert (none.granted, none.lease, none.expires_at) == (0, None, None)
    assert server.usage(VOIP, "5.0") == weblm.Usage(entitled=20, in_use=20, available=0, leases=1)
    clock.advance(300)
    assert server.renew(g.lease) == T0 + 900
    assert server.release(g.lease) == 20
    with raises(Status.E_UNKNOWN_LEASE, "no live lease"):
        server.release(g.lease)
    with raises(Status.E_UNKNOWN_LEASE):
        server.renew(g.lease)
    assert server.usage(VOIP, "5.0").in_use == 0


def test_lease_expires_without_renewal(server, clock):
    g = server.acquire("ir-01", VOIP, "5.0", 5)
    clock.advance(601)
    with raises(Status.E_LEASE_EXPIRED, "expired"):
        server.renew(g.lease)
    assert server.usage(VOIP, "5.0").in_use == 0


def test_lease_context_manager(server, clock):
    with server.lease("ir-01", VOIP, "5.0", 35) as lease:
        assert lease.granted == 20
        assert server.usage(VOIP, "5.0").in_use == 20
        clock.advance(100)
        assert lease.renew() == T0 + 700
    assert lease.released
    assert server.usage(VOIP, "5.0").in_use == 0
    # Released on an exception too.
    with pytest.raises(RuntimeError):
        with server.lease("ir-01", VOIP, "5.0", 3):
            raise RuntimeError("boom")
    assert server.usage(VOIP, "5.0").in_use == 0
    # Nothing granted: no lease, nothing to release.
    with server.lease("a", VOIP, "5.0", 20):
        with server.lease("b", VOIP, "5.0", 1) as empty:
            assert empty.granted == 0 and empty.id is None
            with pytest.raises(ValueError):
                empty.renew()
    # A lease that expired meanwhile counts as released.
    with server.lease("ir-01", VOIP, "5.0", 2) as lease:
        clock.advance(601)
        server.usage(VOIP, "5.0")  # sweeps the expired lease
    assert server.usage(VOIP, "5.0").in_use == 0


def test_bad_requests(server):
    with raises(Status.E_INVALID_ARGUMENT, "wanted"):
        server.acquire("ir-01", VOIP, "5.0", 0)
    with raises(Status.E_INVALID_ARGUMENT, "client"):
        server.acquire("", VOIP, "5.0", 1)
    with raises(Status.E_UNKNOWN_FEATURE, "NOPE"):
        server.acquire("ir-01", "NOPE", "5.0", 1)
    with raises(Status.E_OUT_OF_RANGE, "wanted"):
        server.acquire("ir-01", VOIP, "5.0", -1)
    with raises(Status.E_OUT_OF_RANGE):
        server.acquire("ir-01", VOIP, "5.0", 2**32)
    for args in [(BAD_UTF8, VOIP, "5.0"), ("c", BAD_UTF8, "5.0"), ("c", VOIP, BAD_UTF8)]:
        with raises(Status.E_INVALID_UTF8):
            server.acquire(*args, 1)
    with raises(Status.E_UNKNOWN_FEATURE):
        server.usage("NOPE", "5.0")
    with raises(Status.E_INVALID_UTF8):
        server.usage(BAD_UTF8, "5.0")
    with raises(Status.E_UNKNOWN_LEASE):
        server.release(0)
    assert server.usage(VOIP, "5.0").in_use == 0


def test_release_client(server):
    server.acquire("crashed", VOIP, "5.0", 3)
    server.acquire("crashed", "77", "5.0", 2)
    server.acquire("alive", "77", "5.0", 1)
    assert server.release_client("crashed") == 5
    assert server.release_client("nobody") == 0
    assert server.usage("77", "5.0").in_use == 1
    with raises(Status.E_INVALID_UTF8):
        server.release_client(BAD_UTF8)


def test_server_entitlement_and_reload(server, lic):
    asr = server.entitlement("ASR", "5.0")
    assert asr.count == 4 and asr.codes[0].reason == Reason.OVERRIDDEN_BY_EXCLUSIVE
    with raises(Status.E_UNKNOWN_FEATURE):
        server.entitlement("NOPE", "5.0")
    with weblm.License.load_file(lic.license2, lic.key, HOST) as l2:
        server.reload(l2)
    u = server.usage(VOIP, "5.0")
    assert (u.entitled, u.available) == (30, 30)


def test_clock_rollback(server, clock):
    g = server.acquire("ir-01", VOIP, "5.0", 2)
    clock.advance(-1000)
    with raises(Status.E_CLOCK_ROLLBACK, "clock rollback"):
        server.acquire("ir-01", VOIP, "5.0", 1)
    with raises(Status.E_CLOCK_ROLLBACK):
        server.renew(g.lease)
    assert server.release(g.lease) == 2
    clock.advance(1000)
    assert server.acquire("ir-01", VOIP, "5.0", 1).granted == 1


def test_config_out_of_range(license):
    with raises(Status.E_OUT_OF_RANGE, "lease_lifetime_secs"):
        weblm.Server(license, config=weblm.ServerConfig(lease_lifetime_secs=0))
    with raises(Status.E_OUT_OF_RANGE, "rollback_tolerance_secs"):
        weblm.Server(license, config=weblm.ServerConfig(rollback_tolerance_secs=-1))
    # Defaults, system clock.
    with weblm.Server(license) as s:
        assert s.acquire("ir-01", VOIP, "5.0", 1).granted == 1


def test_persistent_server(license, tmp_path):
    db = tmp_path / "state.db"
    with weblm.Server(license, db) as s:
        g = s.acquire("ir-01", VOIP, "5.0", 7)
    with weblm.Server(license, db) as s:
        assert s.usage(VOIP, "5.0") == weblm.Usage(entitled=20, in_use=7, available=13, leases=1)
        assert s.release(g.lease) == 7
    with raises(Status.E_STATE_DB, "state database"):
        weblm.Server(license, "/nonexistent/dir/state.db")
    with raises(Status.E_INVALID_UTF8):
        weblm.Server(license, BAD_UTF8)


def test_server_keeps_its_license_and_double_close(lic):
    license = weblm.License.load_file(lic.license, lic.key, HOST)
    s = weblm.Server(license)
    license.close()
    assert s.acquire("ir-01", VOIP, "5.0", 1).granted == 1
    handle = s.handle
    s.close()
    s.close()
    assert n.lib().weblm_server_free(handle) == Status.E_INVALID_HANDLE
    g = n.GrantC()
    assert n.lib().weblm_server_acquire(handle, b"c", VOIP.encode(), b"5.0", 1, byref(g)) == Status.E_INVALID_HANDLE


def test_threads_never_over_grant(license):
    with weblm.Server(license) as s:
        totals = []
        errors = []

        def work(i: int) -> None:
            got = 0
            try:
                for _ in range(10):
                    got += s.acquire(f"client-{i}", VOIP, "5.0", 3).granted
            except Exception as e:  # pragma: no cover - reported below
                errors.append(e)
            totals.append(got)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        assert sum(totals) == 20
        assert s.usage(VOIP, "5.0").in_use == 20


# --- finding the library -------------------------------------------------------------------


def _run_isolated(code: str, env: dict, tmp_path: Path, with_lib: bool) -> subprocess.CompletedProcess:
    """Runs `code` with a copy of the package (and optionally libweblm.so next to it)."""
    pkg = tmp_path / "site" / "weblm"
    shutil.copytree(Path(weblm.__file__).parent, pkg, ignore=shutil.ignore_patterns("*.so", "__pycache__"))
    if with_lib:
        shutil.copy(n.library_path(), pkg / "libweblm.so")
    full = {k: v for k, v in os.environ.items() if k != "WEBLM_LIB"}
    full.update(env)
    full["PYTHONPATH"] = str(tmp_path / "site")
    return subprocess.run([sys.executable, "-c", code], env=full, capture_output=True, text=True, cwd=tmp_path)


def test_library_found_next_to_package(tmp_path):
    r = _run_isolated("import weblm; print(weblm.library_path()); print(weblm.library_version())", {}, tmp_path, True)
    assert r.returncode == 0, r.stderr
    assert str(tmp_path / "site" / "weblm" / "libweblm.so") in r.stdout


def test_clear_error_when_library_missing(tmp_path):
    code = "import weblm\ntry:\n    weblm.library_version()\nexcept weblm.LibraryNotFoundError as e:\n    print('ERR', e)\n"
    r = _run_isolated(code, {}, tmp_path, False)
    assert r.returncode == 0, r.stderr
    assert "ERR cannot find libweblm" in r.stdout and "WEBLM_LIB" in r.stdout
    r = _run_isolated(code, {"WEBLM_LIB": "/nonexistent/libweblm.so"}, tmp_path / "x", False)
    assert "ERR WEBLM_LIB is set to '/nonexistent/libweblm.so', which is not a file" in r.stdout
    # A file that is not a shared library.
    bogus = tmp_path / "bogus.so"
    bogus.write_text("not a library")
    r = _run_isolated(code, {"WEBLM_LIB": str(bogus)}, tmp_path / "y", False)
    assert "ERR cannot load libweblm from" in r.stdout


PLUGINS = Path(__file__).resolve().parents[3] / "plugins" / "wasm"


def _pin(name: str) -> str:
    for line in (PLUGINS / "SHA256SUMS").read_text().splitlines():
        digest, file = line.split()
        if file == name:
            return digest
    raise KeyError(name)


def test_policy_distribute_native_then_plugin_then_native():
    buckets = [weblm.Bucket(1, 1, 1, 10), weblm.Bucket(2, 1, 2, 10), weblm.Bucket(3, 1, 3, 10),
               weblm.Bucket(4, 7, 4)]
    with weblm.Policy() as policy:
        d = policy.distribute(7, buckets, seed=1)
        assert (d.counts, d.generation, d.fallback) == ([1, 1, 1, 4], 0, False)
        gen = policy.load(weblm.Hook.DISTRIBUTE, PLUGINS / "largest_remainder.wasm",
                          _pin("largest_remainder.wasm"))
        assert gen == 1
        d = policy.distribute(7, buckets, seed=1)
        assert d.counts == [1, 1, 0, 5] and d.fuel_used > 0 and not d.fallback
        assert policy.unload(weblm.Hook.DISTRIBUTE) == 2
        assert policy.distribute(7, buckets, seed=1).counts == [1, 1, 1, 4]
        with raises(Status.E_INVALID_ARGUMENT, "appears more than once"):
            policy.distribute(7, [weblm.Bucket(1, 1, 1), weblm.Bucket(1, 1, 1)])


def test_policy_load_errors():
    with weblm.Policy() as policy:
        data = (PLUGINS / "ep_zones.wasm").read_bytes()
        with raises(Status.E_PLUGIN, "sha256 mismatch"):
            policy.load(weblm.Hook.DISTRIBUTE, data, "0" * 64)
        with raises(Status.E_PLUGIN, "does not implement hook `resolve_codes`"):
            policy.load(weblm.Hook.RESOLVE_CODES, data, _pin("ep_zones.wasm"))
        with raises(Status.E_INVALID_ARGUMENT, "hook"):
            policy.load(3, data, _pin("ep_zones.wasm"))
    policy.close()
    with pytest.raises(ValueError):
        policy.unload(weblm.Hook.DISTRIBUTE)


def test_policy_resolve_codes_serves_a_server(license):
    with weblm.Server(license) as server, weblm.Policy() as policy:
        policy.attach(server)
        policy.load(weblm.Hook.RESOLVE_CODES, PLUGINS / "sentinel_override.wasm",
                    _pin("sentinel_override.wasm"))
        assert server.entitlement("ASR", "5.0").count == 4
        assert server.acquire("ivr-1", "ASR", "5.0", 9).granted == 4
