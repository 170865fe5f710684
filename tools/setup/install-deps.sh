#!/usr/bin/env bash
# Installs the Debian packages the build and tests need, only those missing, through sudo when not root.
set -euo pipefail

# g++ builds llama.cpp for the inference parity tests (llama-cpp-python compiles it on install).
# libssl-dev: RSA and ECDSA peer keys (kubo's default identity is RSA); liblz4-dev: the content store's block compression.
packages=(pkg-config libsodium-dev libsecp256k1-dev libsqlite3-dev libdivsufsort-dev libssl-dev liblz4-dev g++)
# The interop tests need a Python with venv and pip; Debian splits venv into its own package.
if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    packages+=(python3-venv)
fi

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "error: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
