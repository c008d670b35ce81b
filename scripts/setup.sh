#!/usr/bin/env bash
# Install the Debian 12 packages tripline needs, skipping those already present.
# Run as root (or with sudo). Safe to run repeatedly.
set -euo pipefail

packages=(
  build-essential cmake pkg-config          # compiler and build
  libtsan2                                  # ThreadSanitizer runtime for gcc (the Tsan build)
  librdkafka-dev                            # Kafka client and its mock cluster
  libavro-dev libjansson-dev                # Avro schemas (and the test oracle); jansson for tests/benches
  libjemalloc-dev                           # allocator
  libcmocka-dev                             # unit tests
  libyaml-dev                               # rule and config files
  libxxhash-dev                             # hashing
  clang libclang-rt-14-dev                  # libFuzzer targets and the sanitizer build's runtime
  kcat                                      # reference Kafka client (README example)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages already installed"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
