#!/usr/bin/env bash
# Installs the Debian packages attnflow needs to build and test. Idempotent: it only calls apt-get
# when something is missing. As root it installs; otherwise it names what to install and fails.
set -euo pipefail
packages=(
  build-essential cmake pkg-config
  libeigen3-dev libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libhdf5-dev libsleef-dev libfftw3-dev liblemon-dev
  libzip-dev
  libgtest-dev libbenchmark-dev pybind11-dev
  python3 python3-dev python3-numpy python3-h5py python3-pytest python3-matplotlib python3-pil ffmpeg
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "error: dependencies: missing Debian packages: ${missing[*]}" >&2
  echo "       install them with: sudo apt-get install ${missing[*]}" >&2
  exit 2
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
