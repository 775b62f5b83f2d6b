"""Fixtures: test license files generated with the `weblm` CLI (never hand-signed).

The CLI is taken from WEBLM_TEST_CLI, or from the repository's target/debug/weblm.
libweblm is found as the package finds it (WEBLM_LIB, or next to the package).
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def _cli() -> str:
    cli = os.environ.get("WEBLM_TEST_CLI") or str(REPO / "target" / "debug" / "weblm")
    if not Path(cli).is_file():
        raise RuntimeError(
            f"the weblm CLI is needed to make test licenses: {cli} does not exist "
            "(cargo build -p weblm, or set WEBLM_TEST_CLI)"
        )
    return cli


@dataclass
class Licenses:
    dir: Path
    license: Path
    license2: Path
    key: str
    key_path: Path
    other_key: str


@pytest.fixture(scope="session")
def lic(tmp_path_factory: pytest.TempPathFactory) -> Licenses:
    d = tmp_path_factory.mktemp("lic")
    cli = _cli()

    def run(*args: str) -> None:
        subprocess.run([cli, *args], check=True, capture_output=True)

    run("keygen", "--out-dir", str(d / "vendor"))
    run("keygen", "--out-dir", str(d / "other"))
    key = d / "vendor" / "vendor.key"
    license = d / "license.toml"
    run("issue", "--key", str(key), "--host", "ir-host-01", "--product-version", "5.0",
        "--vendor", "Acme Voice", "--issued", "2026-01-01", "-o", str(license))

    def add(path: Path, *args: str) -> None:
        run("add-code", str(path), "--key", str(key), "--feature-version", "5.0",
            "--start", "2026-01-01", *args)

    add(license, "--feature", "VALUE_IR_VOIP_PORTS", "--count", "20")  # 1
    add(license, "--feature", "77", "--count", "5")  # 2
    add(license, "--feature", "77", "--count", "2")  # 3
    add(license, "--feature", "ASR", "--count", "10", "--kind", "exclusive")  # 4
    add(license, "--feature", "ASR", "--count", "4", "--kind", "exclusive")  # 5
    add(license, "--feature", "TTS", "--count", "8", "--term", "trial", "--trial-days", "30")  # 6
    add(license, "--feature", "TTS", "--count", "3")  # 7
    add(license, "--feature", "OLD", "--count", "9", "--term", "until", "--end", "2026-03-01")  # 8
    run("add-code", str(license), "--key", str(key), "--feature-version", "5.0",
        "--feature", "FUTURE", "--count", "1", "--start", "2099-01-01")  # 9
    license2 = d / "license2.toml"
    license2.write_bytes(license.read_bytes())
    add(license2, "--feature", "VALUE_IR_VOIP_PORTS", "--count", "10")  # 10
    return Licenses(
        dir=d,
        license=license,
        license2=license2,
        key=(d / "vendor" / "vendor.pub").read_text(),
        key_path=d / "vendor" / "vendor.pub",
        other_key=(d / "other" / "vendor.pub").read_text(),
    )
