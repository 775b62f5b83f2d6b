"""The IR license client through libweblm: the Primary/Secondary scenario (35 = 20 + 15), the
mode-change callback through Grace and Restricted and back, an unreachable Primary, and the
same scenario against two real `weblm serve` processes over HTTP."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

import weblm
from weblm import Mode, Status, WeblmError

from conftest import _cli

T0 = 1780272000  # 2026-06-01T00:00:00Z
VOIP = "VALUE_IR_VOIP_PORTS"


@pytest.fixture
def pair(lic):
    license = weblm.License.load_file(lic.license, lic.key, "ir-host-01", "5.0")
    clock = weblm.ManualClock(T0)
    cfg = weblm.ServerConfig(clock=clock)
    with weblm.Server(license, config=cfg) as p, weblm.Server(license, config=cfg) as s:
        yield clock, p, s


def config(tmp_path: Path, clock, **kw) -> weblm.ClientConfig:
    base = dict(
        client_id="ir-01",
        nvram_path=tmp_path / "nv",
        wants=[weblm.Want(VOIP, "5.0", 35, restricted_floor=2)],
        background=False,
        clock=clock,
    )
    base.update(kw)
    return weblm.ClientConfig(**base)


def test_primary_and_secondary_with_modes_and_callback(pair, tmp_path):
    clock, p, s = pair
    changes = []
    with weblm.Client(config(tmp_path, clock, primary_server=p, secondary_server=s)) as c:
        f = c.feature(VOIP, "5.0")
        assert (f.held, f.held_primary, f.held_secondary, f.recorded) == (35, 20, 15, 35)
        assert c.mode == Mode.NORMAL
        assert c.reason
        c.on_mode_change(lambda old, new, why: changes.append((old, new, why)))
        # The Secondary's licenses go to someone else: Grace at the recorded count.
        assert s.release_client("ir-01") == 15
        thief = s.acquire("thief", VOIP, "5.0", 20)
        clock.advance(480)
        c.tick()
        s.renew(thief.lease)
        assert c.mode == Mode.GRACE
        assert c.feature(VOIP, "5.0").capacity == 35
        assert changes[-1][:2] == (Mode.NORMAL, Mode.GRACE)
        assert "grace" in changes[-1][2]
        # 30 days later: Restricted, capacity = held + floor.
        for _ in range(31 * 180):
            clock.advance(480)
            s.renew(thief.lease)
            c.tick()
        assert c.mode == Mode.RESTRICTED
        assert c.feature(VOIP, "5.0").capacity == 22
        assert "grace period ended" in c.reason
        # Recovery: Normal at once.
        s.release(thief.lease)
        clock.advance(60)
        c.tick()
        assert c.mode == Mode.NORMAL
        assert [ch[1] for ch in changes] == [Mode.GRACE, Mode.RESTRICTED, Mode.NORMAL]
    assert p.usage(VOIP, "5.0").in_use == 0, "released on close"
    assert s.usage(VOIP, "5.0").in_use == 0
    assert weblm.mode_name(2) == "restricted"


def test_unreachable_primary_and_bad_config(pair, tmp_path):
    clock, _p, s = pair
    cfg = config(tmp_path, clock, primary_url="http://127.0.0.1:1", primary_token="t",
                 secondary_server=s, request_timeout_ms=500)
    with weblm.Client(cfg) as c:
        f = c.feature(VOIP, "5.0")
        assert (f.held_primary, f.held_secondary) == (0, 20)
        with pytest.raises(WeblmError) as e:
            c.feature("NOPE", "5.0")
        assert e.value.status == Status.E_UNKNOWN_FEATURE
    with pytest.raises(WeblmError) as e:
        weblm.Client(config(tmp_path, clock))
    assert e.value.status == Status.E_INVALID_ARGUMENT and "Primary" in e.value.message
    with pytest.raises(WeblmError) as e:
        weblm.Client(config(tmp_path, clock, primary_server=s, wants=[]))
    assert e.value.status == Status.E_OUT_OF_RANGE


def _serve(tmp_path: Path, name: str, lic, count_note: str) -> tuple[subprocess.Popen, str]:
    cfg = tmp_path / f"{name}.toml"
    cfg.write_text(
        f'listen = "127.0.0.1:0"\nrole = "standard"\nlicense = "{lic.license}"\n'
        f'vendor_public_key = "{lic.key_path}"\nhost_id = "ir-host-01"\n'
        f'state_db = "{tmp_path / (name + ".db")}"\nadmin_token = "admin-token-1"\n'
        f'log = "warn"\n[[clients]]\nid = "ir-py"\ntoken = "py-token-1"\n'
    )
    proc = subprocess.Popen([_cli(), "serve", "--config", str(cfg)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line.startswith("listening on "), f"{count_note}: {line!r}"
    return proc, "http://" + line[len("listening on "):]


def test_primary_and_secondary_over_http(lic, tmp_path):
    p, purl = _serve(tmp_path, "primary", lic, "primary")
    s, surl = _serve(tmp_path, "secondary", lic, "secondary")
    try:
        cfg = weblm.ClientConfig(
            client_id="ir-py", nvram_path=tmp_path / "nv-http",
            wants=[weblm.Want(VOIP, "5.0", 35)],
            primary_url=purl, primary_token="py-token-1",
            secondary_url=surl, secondary_token="py-token-1",
            request_timeout_ms=2000,
        )
        with weblm.Client(cfg) as c:
            f = c.feature(VOIP, "5.0")
            assert (f.held, f.held_primary, f.held_secondary) == (35, 20, 15)
            assert c.mode == Mode.NORMAL
            # The Primary dies: the leases still count until they expire; no hang.
            p.kill()
            p.wait(timeout=10)
            t = time.monotonic()
            c.tick()
            assert time.monotonic() - t < 10
            assert c.feature(VOIP, "5.0").held == 35
    finally:
        for proc in (p, s):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)
