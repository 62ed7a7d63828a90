#!/usr/bin/env bash
# Runs the whole test suite on a fresh machine: installs and starts whatever the tests need, then
# runs every test in the workspace. This is the command README.md gives and .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the tests need from Debian. The gateway tests use mock upstreams bound to 127.0.0.1:0 and
# spawn the real binary; the Vertex AI test generates an RSA service-account key with `openssl`;
# the cache tests start their own private `redis-server` processes (one per test, on a free
# loopback port, killed mid-test where that is the point), so only the package is needed here.
missing=()
command -v openssl >/dev/null || missing+=(openssl)
command -v redis-server >/dev/null || missing+=(redis-server)
# The request-log tests run a private PostgreSQL each (initdb + postgres on a free port, as the
# postgres user when root): only the server package is needed.
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || missing+=(postgresql)
if ((${#missing[@]})); then
  echo "test.sh: apt-get install ${missing[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

cargo test --workspace --locked "$@"
