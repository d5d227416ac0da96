#!/usr/bin/env bash
# Installs the edgeloom agent on Raspberry Pi OS (Bookworm, 64-bit recommended: onnxruntime-node
# ships linux/arm64 binaries). Usage: sudo scripts/install-pi.sh   (from a checkout of edgeloom)
# Env: PREFIX=/opt/edgeloom, USE_DISTRO_NODE=1 to skip NodeSource.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need_root
if [ "$(uname -m)" != aarch64 ]; then
  echo "warning: $(uname -m) detected; onnxruntime-node needs a 64-bit OS (aarch64)" >&2
fi
apt-get update
install_node
# rpicam-apps gives rpicam-still for the camera module (source: command:rpicam-still -n -t 1 -o -).
apt-get install -y rpicam-apps || apt-get install -y libcamera-apps || true
DEFAULT_EP=cpu DEFAULT_SOURCE='command:rpicam-still -n -t 1 --width 640 --height 480 -e jpg -o -' install_app
