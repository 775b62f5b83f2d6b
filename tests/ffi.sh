#!/usr/bin/env bash
# libweblm end to end: header freshness, C tests (shared + static, under valgrind), the header as
# C++, the C and Python examples, install into a prefix + pkg-config, and the Python package's
# pytest suite. Run from anywhere: `bash tests/ffi.sh`. Needs: cargo, cbindgen, cc, c++,
# valgrind, pkg-config, python3 with pip and pytest.
#
# Every license file used here is generated on the spot with the `weblm` CLI (keygen, issue,
# add-code); nothing is signed by hand. The last line is "N passed, N failed".
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/weblm-ffi.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
CFLAGS=(-std=c11 -Wall -Wextra -Werror -g -I"$ROOT/include")
STATIC_LIBS=(-lpthread -ldl -lm)
VALGRIND=(valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite)

passed=0
failed=0
step() { # step NAME COMMAND...: runs one check, counts it, shows output on failure
    local name="$1"
    shift
    local log="$WORK/step.log"
    if "$@" >"$log" 2>&1; then
        passed=$((passed + 1))
        echo "ok   $name"
    else
        failed=$((failed + 1))
        echo "FAIL $name"
        sed 's/^/     | /' "$log" | tail -n 60
    fi
}

# --- prerequisites -------------------------------------------------------------------------
missing=()
for tool in cargo cbindgen cc c++ valgrind pkg-config ldd python3; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
python3 -c 'import pytest' 2>/dev/null || missing+=("pytest (python3 -m pip install pytest)")
if [ ${#missing[@]} -gt 0 ]; then
    echo "tests/ffi.sh: missing prerequisites: ${missing[*]}"
    echo "  apt-get install -y build-essential valgrind pkg-config; cargo install --locked cbindgen --version 0.29.4"
    echo "0 passed, 1 failed"
    exit 1
fi

# --- build ---------------------------------------------------------------------------------
echo "== building weblm-ffi and the weblm CLI (dev profile)"
cargo build -q -p weblm-ffi -p weblm || {
    echo "build failed"
    echo "0 passed, 1 failed"
    exit 1
}
WEBLM="$TARGET/weblm"

# --- header --------------------------------------------------------------------------------
header_is_fresh() {
    cbindgen --config ffi/cbindgen.toml --crate weblm-ffi --output "$WORK/weblm.h" ffi 2>/dev/null \
        && diff -u include/weblm.h "$WORK/weblm.h"
}
step "include/weblm.h matches a fresh cbindgen generation" header_is_fresh
step "header compiles as C++ (c++ -fsyntax-only)" \
    c++ -fsyntax-only -Wall -Wextra -Werror -x c++ -I include include/weblm.h
step "header compiles as strict C11 (-pedantic)" \
    cc -fsyntax-only -std=c11 -pedantic -Wall -Wextra -Werror -x c include/weblm.h

every_function_is_tested() {
    local missing=0
    local fns
    fns=$(grep -oE '\bweblm_[a-z_0-9]+\(' include/weblm.h | tr -d '(' | sort -u)
    [ "$(echo "$fns" | wc -l)" -ge 30 ] || { echo "found only: $fns"; return 1; }
    for f in $fns; do
        if ! grep -q "\b$f(" tests/c/test_weblm.c tests/c/test_alloc.c; then
            echo "not called by tests/c/test_weblm.c or tests/c/test_alloc.c: $f"
            missing=1
        fi
        if ! grep -rq "$f" ffi/python/weblm/; then
            echo "not bound by the Python package: $f"
            missing=1
        fi
    done
    return $missing
}
step "every header function is called by the C tests and bound in Python" every_function_is_tested

# --- test licenses, made with the CLI ------------------------------------------------------
make_licenses() {
    set -e
    local d="$WORK/lic"
    mkdir -p "$d"
    "$WEBLM" keygen --out-dir "$d/vendor"
    "$WEBLM" keygen --out-dir "$d/other"
    cp "$d/vendor/vendor.pub" "$d/vendor.pub"
    cp "$d/other/vendor.pub" "$d/other.pub"
    local key="$d/vendor/vendor.key" lic="$d/license.toml"
    "$WEBLM" issue --key "$key" --host ir-host-01 --product-version 5.0 --vendor "Acme Voice" \
        --issued 2026-01-01 -o "$lic"
    add() { "$WEBLM" add-code "$lic" --key "$key" --feature-version 5.0 "$@"; }
    add --feature VALUE_IR_VOIP_PORTS --count 20 --start 2026-01-01                # 1
    add --feature 77 --count 5 --start 2026-01-01                                  # 2
    add --feature 77 --count 2 --start 2026-01-01                                  # 3
    add --feature ASR --count 10 --kind exclusive --start 2026-01-01               # 4
    add --feature ASR --count 4 --kind exclusive --start 2026-01-01                # 5
    add --feature TTS --count 8 --term trial --trial-days 30 --start 2026-01-01    # 6
    add --feature TTS --count 3 --start 2026-01-01                                 # 7
    add --feature OLD --count 9 --term until --end 2026-03-01 --start 2026-01-01   # 8
    add --feature FUTURE --count 1 --start 2099-01-01                              # 9
    cp "$lic" "$d/license2.toml"
    lic="$d/license2.toml"
    add --feature VALUE_IR_VOIP_PORTS --count 10 --start 2026-01-01                # 10
}
step "generate test licenses with the weblm CLI" make_licenses
LIC="$WORK/lic"

# --- C tests -------------------------------------------------------------------------------
step "C tests compile against libweblm.so" \
    cc "${CFLAGS[@]}" tests/c/test_weblm.c -L"$TARGET" -lweblm -Wl,-rpath,"$TARGET" -lpthread \
    -o "$WORK/test_shared"
step "C tests compile against libweblm.a" \
    cc "${CFLAGS[@]}" tests/c/test_weblm.c "$TARGET/libweblm.a" "${STATIC_LIBS[@]}" \
    -o "$WORK/test_static"
links_shared() { ldd "$WORK/test_shared" | grep -c 'libweblm.so'; }
links_static() { ! ldd "$WORK/test_static" | grep -c 'libweblm'; }
step "shared test binary links libweblm.so dynamically" links_shared
step "static test binary has libweblm linked in" links_static
step "C tests pass (shared)" "$WORK/test_shared" "$LIC"
step "C tests pass (static)" "$WORK/test_static" "$LIC"
step "C tests pass under valgrind, no errors, no definite leaks (shared)" \
    "${VALGRIND[@]}" "$WORK/test_shared" "$LIC"
step "C tests pass under valgrind, no errors, no definite leaks (static)" \
    "${VALGRIND[@]}" "$WORK/test_static" "$LIC"

# --- C tests of allocation and the license inventory (tests/c/test_alloc.c) ---------------
step "C allocation tests compile against libweblm.so" \
    cc "${CFLAGS[@]}" tests/c/test_alloc.c -L"$TARGET" -lweblm -Wl,-rpath,"$TARGET" -lpthread \
    -o "$WORK/test_alloc"
step "C allocation tests pass under valgrind, no errors, no definite leaks" \
    "${VALGRIND[@]}" "$WORK/test_alloc" "$WORK"

# --- examples ------------------------------------------------------------------------------
step "C example builds" \
    cc "${CFLAGS[@]}" examples/embedded_server.c -L"$TARGET" -lweblm -Wl,-rpath,"$TARGET" \
    -o "$WORK/example"
run_c_example() {
    "$WORK/example" "$LIC/license.toml" "$LIC/vendor.pub" ir-host-01 "$WORK/example-state.db" \
        | tee "$WORK/example.out"
    grep -c "granted 20 of 35" "$WORK/example.out"
}
step "C example runs" run_c_example
step "C example is clean under valgrind" \
    "${VALGRIND[@]}" "$WORK/example" "$LIC/license.toml" "$LIC/vendor.pub" ir-host-01 \
    "$WORK/example-state2.db"

# --- install like a C library --------------------------------------------------------------
install_and_pkg_config() {
    set -e
    local prefix="$WORK/prefix"
    CARGO_PROFILE=debug bash ffi/install.sh "$prefix"
    test -f "$prefix/include/weblm.h"
    test -f "$prefix/lib/libweblm.so"
    test -f "$prefix/lib/libweblm.a"
    test -f "$prefix/lib/pkgconfig/weblm.pc"
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    pkg-config --modversion weblm | grep -cx "$(grep -oP '#define WEBLM_VERSION "\K[^"]+' include/weblm.h)"
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror examples/embedded_server.c $(pkg-config --cflags --libs weblm) \
        -Wl,-rpath,"$prefix/lib" -o "$WORK/example-pc"
    ldd "$WORK/example-pc" | grep -c "$prefix/lib/libweblm.so"
    "$WORK/example-pc" "$LIC/license.toml" "$LIC/vendor.pub" ir-host-01 "$WORK/pc-state.db" \
        | grep -c "granted 20 of 35"
    # Static linking through pkg-config --static.
    # shellcheck disable=SC2046
    cc -std=c11 -Wall -Wextra -Werror examples/embedded_server.c \
        $(pkg-config --cflags weblm) "$prefix/lib/libweblm.a" $(pkg-config --static --libs-only-l weblm | sed 's/-lweblm//') \
        -o "$WORK/example-pc-static"
    "$WORK/example-pc-static" "$LIC/license.toml" "$LIC/vendor.pub" ir-host-01 "$WORK/pcs-state.db" \
        | grep -c "granted 20 of 35"
}
step "install into a prefix; build and run the C example with pkg-config" install_and_pkg_config

# --- Python --------------------------------------------------------------------------------
python_install() {
    # From a copy, so that setuptools' build/ and *.egg-info stay out of the source tree.
    rm -rf "$WORK/pysrc"
    cp -r "$ROOT/ffi/python" "$WORK/pysrc"
    rm -rf "$WORK/pysrc/build" "$WORK/pysrc"/*.egg-info
    python3 -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps \
        "$WORK/pysrc"
}
step "Python package installs with pip (ffi/python)" python_install
export WEBLM_LIB="$TARGET/libweblm.so"
run_pytest() {
    # Run from outside the source tree so the installed package is the one imported.
    (cd "$WORK" && WEBLM_TEST_CLI="$WEBLM" python3 -m pytest -q -p no:cacheprovider \
        "$ROOT/ffi/python/tests")
}
step "pytest ffi/python/tests" run_pytest
run_py_example() {
    (cd "$WORK" && python3 "$ROOT/examples/embedded_server.py" "$LIC/license.toml" "$LIC/vendor.pub" \
        ir-host-01 "$WORK/py-state.db") | tee "$WORK/py.out"
    grep -c "granted 20 of 35" "$WORK/py.out"
}
step "Python example runs" run_py_example

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
