#!/usr/bin/env bash
# Installs the edgeloom agent on Raspberry Pi OS. 64-bit (aarch64): onnxruntime-node (native).
# 32-bit (armv7l): onnxruntime-node has no binary, the agent runs models with onnxruntime-web
# (--ep wasm, WebAssembly SIMD; see docs/device.md for its speed and memory).
# Usage: sudo scripts/install-pi.sh   (from a checkout of edgeloom)
# Env: PREFIX=/opt/edgeloom; USE_DISTRO_NODE=1 to use the distribution's nodejs (needs >= 20:
# Debian 13 / Pi OS trixie, not bookworm's 18).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need_root
case "$(uname -m)" in
  aarch64) EP=cpu ;;
  armv7l) EP=wasm; echo "32-bit ARM: the agent will use onnxruntime-web (ep: wasm)" >&2 ;;
  *) EP=auto; echo "warning: $(uname -m) is not a Raspberry Pi OS architecture; ep: auto" >&2 ;;
esac
apt-get update
install_node
# rpicam-apps gives rpicam-still for the camera module (source: command:rpicam-still -n -t 1 -o -).
apt-get install -y rpicam-apps || apt-get install -y libcamera-apps || true
DEFAULT_EP=$EP DEFAULT_SOURCE='command:rpicam-still -n -t 1 --width 640 --height 480 -e jpg -o -' install_app
