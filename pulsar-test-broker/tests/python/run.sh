#!/usr/bin/env bash
# Cross-checks the test broker against the official Pulsar client (pulsar-client on PyPI, the
# C++ client's binding): builds and starts the broker's bin on a free port, runs
# cross_check.py against it, stops it. Exits non-zero if anything fails.
#
# Usage: pulsar-test-broker/tests/python/run.sh
# Uses $PYTHON (default python3) if it has the `pulsar` module, else installs pulsar-client in a
# virtualenv kept in the cargo target directory (target/tmp/pulsar-test-broker-venv), where the
# Rust interop test (tests/python_interop.rs) finds it too.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/../../Cargo.toml"
python="${PYTHON:-python3}"

cargo build --quiet --manifest-path "$manifest" --bin pulsar-test-broker
target_dir="$(cargo metadata --format-version 1 --no-deps --manifest-path "$manifest" \
    | "$python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

if ! "$python" -c 'import pulsar' 2>/dev/null; then
    venv="$target_dir/tmp/pulsar-test-broker-venv"
    if ! "$venv/bin/python" -c 'import pulsar' 2>/dev/null; then
        echo "installing pulsar-client into $venv"
        "$python" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'pulsar-client>=3.5,<4'
    fi
    python="$venv/bin/python"
fi

work="$(mktemp -d)"
broker_pid=""
cleanup() {
    if [[ -n "$broker_pid" ]]; then
        kill "$broker_pid" 2>/dev/null || true
        wait "$broker_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# port 0: the broker picks a free port and prints its URL first thing
RUST_LOG="${RUST_LOG:-warn}" "$target_dir/debug/pulsar-test-broker" >"$work/url" 2>"$work/broker.log" &
broker_pid=$!
for _ in $(seq 1 100); do
    [[ -s "$work/url" ]] && break
    kill -0 "$broker_pid" 2>/dev/null || break
    sleep 0.1
done
url="$(head -n 1 "$work/url" || true)"
if [[ -z "$url" ]]; then
    echo "the test broker did not start:" >&2
    cat "$work/broker.log" >&2
    echo "python cross-check: 0 passed, 1 failed"
    exit 1
fi

status=0
PULSAR_CLIENT_LOG="$work/client.log" "$python" "$here/cross_check.py" "$url" || status=$?
if [[ $status -ne 0 ]]; then
    for log in client.log broker.log; do
        if [[ -s "$work/$log" ]]; then
            echo "--- $log (last lines) ---" >&2
            tail -n 40 "$work/$log" >&2
        fi
    done
fi
exit $status
