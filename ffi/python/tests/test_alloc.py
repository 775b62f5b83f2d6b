"""Allocation planner, tenant split, PAK fulfilment, rehost and alerts through the Python
package (libweblm's weblm_alloc_*, weblm_plm_*, weblm_pak_* functions)."""

from __future__ import annotations

from pathlib import Path

import pytest

import weblm
from weblm import Status, WeblmError

T0 = 1_795_514_400  # 2026-11-24T10:00:00Z

PLAN = """
system_licenses = 100
seed = 7
[tenant]
sip = 60
h323 = 90
[[zone]]
name = "east"
assigned = 50
priority = 3
[[zone]]
name = "west"
assigned = 30
[[zone]]
name = "north"
assigned = 20
priority = 2
[organizations]
default = 5
[[organizations.org]]
name = "A"
licenses = 20
"""


def test_plan_cuts_zones_and_splits_tenants() -> None:
    p = weblm.plan(PLAN, 33)
    assert [z["granted"] for z in p["zones"]["zones"]] == [16, 10, 7]
    assert p["zones"]["cut"] is True
    assert p["tenant"] == {"sip": 13, "h323": 20, "unused": 0}
    orgs = p["organizations"]
    assert orgs["pool"] == 13
    assert sum(o["granted"] for o in orgs["orgs"]) == 13
    assert orgs["common"] == 0
    today = weblm.plan(PLAN, 100)
    assert [z["granted"] for z in today["zones"]["zones"]] == [50, 30, 20]
    assert today["organizations"]["common"] == 15


def test_plan_refuses_an_over_assigned_configuration() -> None:
    with pytest.raises(WeblmError) as e:
        weblm.plan('system_licenses = 10\n[[zone]]\nname = "a"\nassigned = 11\n', 5)
    assert e.value.status == Status.E_INVALID_ARGUMENT
    assert "zones would be assigned 11 licenses" in e.value.message


def test_tenant_split() -> None:
    assert weblm.tenant_split(100, 60, 90) == (40, 60)
    assert weblm.tenant_split(10, 10, 20) == (3, 7)
    assert weblm.tenant_split(50, 0, 0) == (0, 0)


def test_pak_fulfilment_upgrade_and_rehost(tmp_path: Path) -> None:
    with weblm.LicenseManagerDb(tmp_path / "plm.db") as db:
        db.register_pak("PAK123", "USER", "2.0", 10)
        assert db.fulfil_pak("PAK123", "sys-a", 4, now=T0) == (4, 6)
        assert db.fulfil_pak("PAK123", "sys-a", 6, now=T0) == (6, 0)
        with pytest.raises(WeblmError) as e:
            db.fulfil_pak("PAK123", "sys-a", 1, now=T0)
        assert e.value.status == Status.E_OUT_OF_RANGE
        assert e.value.message == (
            "The PAK you have entered, PAK123, cannot be fulfilled because there are no "
            "licenses remaining in the PAK"
        )
        db.register_pak("OLD", "USER", "1.0", 30)
        db.fulfil_pak("OLD", "sys-a", 30, now=T0)
        db.register_pak("UP", "USER", "3.0", 100, upgrade_from="1.0")
        assert db.fulfil_pak("UP", "sys-a", 100, now=T0) == (30, 70)
        assert db.installed("sys-a", "USER", "1.0") == 0
        assert db.installed("sys-a", "USER", "3.0") == 30
        assert db.rehost("sys-a", "sys-b", now=T0) == 40
        assert db.installed("sys-a", "USER", "2.0") == 0
        assert db.installed("sys-b", "USER", "2.0") == 10
        assert db.alerts() == []
        assert db.alerts(pending_only=True) == []
    # The file keeps it all.
    with weblm.LicenseManagerDb(tmp_path / "plm.db") as db:
        assert db.installed("sys-b", "USER", "3.0") == 30


def test_closed_database_and_in_memory() -> None:
    db = weblm.LicenseManagerDb()
    assert db.installed("x", "USER", "2.0") == 0
    db.close()
    db.close()
    with pytest.raises(ValueError):
        db.installed("x", "USER", "2.0")


def test_compliance_timeline_on_a_manual_clock() -> None:
    with weblm.ManualClock(T0) as clock, weblm.LicenseManagerDb() as db:
        with weblm.LicenseManager(db, clock, {"system_id": "cwms-01"}) as plm:
            s = plm.status()
            assert s["mode"] == "trial"
            assert s["trial_end"] == "2027-05-23T10:00:00Z"
            for _ in range(360):
                clock.advance(12 * 3600)
                plm.tick()
            assert plm.status()["mode"] == "deactivated"
            assert plm.service_available() is False
            db.register_pak("P1", "USER", "2.0", 10)
            db.fulfil_pak("P1", "cwms-01", 10, now=T0)
            plm.analyze_now()
            assert plm.service_available() is True
            plm.record_usage(11)
            s = plm.status()
            assert s["mode"] == "over_use_alert"
            assert s["violation"]["since"] == "2027-05-23T10:00:00Z"
            assert s["violation"]["disable_date"] == "2027-11-19T10:00:00Z"
            kinds = [a["kind"] for a in db.alerts()]
            assert "licenses_exceeded" in kinds and "trial_ended" in kinds
            with pytest.raises(WeblmError) as e:
                plm.set_webhook("https://example.com/")
            assert e.value.status == Status.E_INVALID_ARGUMENT
            plm.set_webhook("http://127.0.0.1:9/", 500)
            plm.set_webhook(None)
            plm.set_license_manager_reachable(False)
            plm.failover(False)
            assert plm.status()["trial"]["reason"] == "failover"


def test_plan_with_a_policy_handle() -> None:
    with weblm.Policy() as policy:
        p = weblm.plan(PLAN, 33, policy)
        assert [z["granted"] for z in p["zones"]["zones"]] == [16, 10, 7]
