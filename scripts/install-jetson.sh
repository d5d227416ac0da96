#!/usr/bin/env bash
# Installs the edgeloom agent on a Jetson (JetPack 5/6, Ubuntu, aarch64). The npm onnxruntime-node
# build runs on the CPU only; for CUDA/TensorRT build onnxruntime from source with the Node binding
# (see docs/device.md "CUDA and TensorRT on a Jetson") and set `ep: tensorrt` in agent.yaml.
# Usage: sudo scripts/install-jetson.sh   Env: PREFIX=/opt/edgeloom, USE_DISTRO_NODE=1.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
need_root
apt-get update
install_node
DEFAULT_EP=auto DEFAULT_SOURCE='webcam:/dev/video0' install_app
if [ -n "${ORT_NODE_BINDING:-}" ]; then
  # A locally built onnxruntime-node package directory (js/node after `npm run build`), with CUDA/TensorRT.
  rm -rf "$PREFIX/node_modules/onnxruntime-node"
  cp -r "$ORT_NODE_BINDING" "$PREFIX/node_modules/onnxruntime-node"
  echo "using the onnxruntime-node build from $ORT_NODE_BINDING"
fi
usermod -aG video,render edgeloom 2>/dev/null || true
