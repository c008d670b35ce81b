#!/usr/bin/env bash
# Install what is missing, build, and run `tripline demo`: an embedded Kafka cluster, a
# synthetic fleet of agents with scripted incidents, and the example rule pack (~2 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" --target tripline
exec ./build/tripline demo "$@"
