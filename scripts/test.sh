#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs and starts whatever the tests need, then
# runs every test in the workspace. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

# Services the tests need. None yet: the gateway tests use mock upstreams bound to 127.0.0.1:0 and
# spawn the real binary. Redis / PostgreSQL are installed and started here from Debian packages
# when the cache, log store and limits land.

cargo test --workspace --locked "$@"
