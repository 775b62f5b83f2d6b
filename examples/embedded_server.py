"""Embedding the weblm license server in a Python process: load and verify the license file,
show what it is worth, then take and give back VoIP port licenses.

Run: WEBLM_LIB=/path/to/libweblm.so python3 embedded_server.py license.toml vendor.pub HOST_ID state.db
"""

import sys
from pathlib import Path

import weblm


def main(license_path: str, public_key: str, host_id: str, state_db: str) -> None:
    print(f"libweblm {weblm.library_version()}")
    try:
        license = weblm.License.load_file(license_path, Path(public_key), host_id, "5.0")
    except weblm.WeblmError as e:
        sys.exit(f"license refused: {e.status_name}: {e.message}")

    with license:
        for feature, version in license.features():
            ent = license.entitlement(feature, version)
            print(f"{feature} {version}: {ent.count} licenses")
            for code in ent.codes:
                print(f"    #{code.position} count {code.count}: {code.text}")
        server = weblm.Server(license, state_db)  # keeps its own copy of the license

    with server:
        with server.lease("ir-process", "VALUE_IR_VOIP_PORTS", "5.0", 35) as lease:
            print(f"VALUE_IR_VOIP_PORTS: granted {lease.granted} of {lease.grant.wanted}")
            usage = server.usage("VALUE_IR_VOIP_PORTS", "5.0")
            print(f"in use {usage.in_use}, available {usage.available} of {usage.entitled}")
            if lease.granted:
                lease.renew()  # before the lease lifetime (600 s by default) runs out
        # The lease is released here.


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(f"usage: {sys.argv[0]} LICENSE PUBLIC_KEY HOST_ID STATE_DB")
    main(*sys.argv[1:])
