"""Per-call cost of libweblm from Python ctypes: acquire+release pairs on an in-memory server,
through the weblm package (Pythonic layer) and through raw ctypes calls.

Usage: WEBLM_LIB=.../libweblm.so python3 bench.py LICENSE PUBLIC_KEY HOST_ID
"""

import sys
import time
from ctypes import byref
from pathlib import Path

import weblm
from weblm import _native as n

PAIRS = 50_000
ROUNDS = 5


def median(xs):
    return sorted(xs)[len(xs) // 2]


def main(license_path: str, key: str, host: str) -> None:
    lic = weblm.License.load_file(license_path, Path(key), host)
    server = weblm.Server(lic)

    def package_round() -> float:
        t = time.perf_counter_ns()
        for _ in range(PAIRS):
            g = server.acquire("bench-client", "VALUE_IR_VOIP_PORTS", "5.0", 1)
            server.release(g.lease)
        return (time.perf_counter_ns() - t) / PAIRS

    lib = n.lib()
    acquire, release = lib.weblm_server_acquire, lib.weblm_server_release
    h = server.handle
    g = n.GrantC()
    gref = byref(g)

    def raw_round() -> float:
        t = time.perf_counter_ns()
        for _ in range(PAIRS):
            if acquire(h, b"bench-client", b"VALUE_IR_VOIP_PORTS", b"5.0", 1, gref):
                raise RuntimeError(n.last_error())
            if release(h, g.lease, None):
                raise RuntimeError(n.last_error())
        return (time.perf_counter_ns() - t) / PAIRS

    package_round()
    raw_round()
    p = median([package_round() for _ in range(ROUNDS)])
    r = median([raw_round() for _ in range(ROUNDS)])
    print(f"Python, weblm package : {p:.1f} ns/pair ({p / 2:.1f} ns/call)")
    print(f"Python, raw ctypes    : {r:.1f} ns/pair ({r / 2:.1f} ns/call)")
    server.close()
    lic.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
