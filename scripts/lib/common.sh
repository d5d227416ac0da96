# Shared steps for install-pi.sh and install-jetson.sh (sourced, not run; kept under device/ with the agent it installs).
# Installs edgeloom from this checkout into $PREFIX, creates the service user, config and unit.
set -euo pipefail

PREFIX="${PREFIX:-/opt/edgeloom}"
SRC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
NODE_MAJOR_WANTED=20

need_root() {
  if [ "$(id -u)" -ne 0 ]; then echo "run as root (sudo $0)" >&2; exit 1; fi
}

node_major() {
  command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' || echo 0
}

install_node() {
  if [ "$(node_major)" -ge "$NODE_MAJOR_WANTED" ]; then
    echo "node $(node --version) already installed"
    return
  fi
  if [ "${USE_DISTRO_NODE:-0}" = 1 ]; then
    apt-get install -y nodejs npm
  else
    # NodeSource's apt repository (arm64/armhf/amd64); set USE_DISTRO_NODE=1 to use the distro's node.
    apt-get install -y ca-certificates curl gnupg
    curl -fsSL "https://deb.nodesource.com/setup_${NODE_MAJOR_WANTED}.x" | bash -
    apt-get install -y nodejs
  fi
  if [ "$(node_major)" -lt "$NODE_MAJOR_WANTED" ]; then
    echo "node >= ${NODE_MAJOR_WANTED} is required, found $(node --version 2>/dev/null || echo none)" >&2
    exit 1
  fi
}

install_app() {
  apt-get install -y fswebcam
  id -u edgeloom >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edgeloom --shell /usr/sbin/nologin --groups video edgeloom
  mkdir -p "$PREFIX" /etc/edgeloom /var/lib/edgeloom
  # Copy the app (no training data, no node_modules), then install production dependencies only.
  tar -C "$SRC_DIR" --exclude=node_modules --exclude=.git --exclude='runs' -cf - . | tar -C "$PREFIX" -xf -
  (cd "$PREFIX" && npm ci --omit=dev --no-audit --no-fund)
  chown -R edgeloom:edgeloom /var/lib/edgeloom
  if [ ! -f /etc/edgeloom/agent.yaml ]; then
    cat > /etc/edgeloom/agent.yaml <<YAML
# edgeloom agent configuration (docs: $PREFIX/docs/device.md). EDGELOOM_* env vars override it.
deviceId: $(hostname -s | tr -c 'A-Za-z0-9_\n-' '-')
model: $PREFIX/models/default.onnx
ep: ${DEFAULT_EP:-auto}
mqtt:
  url: mqtt://localhost:1883
queue:
  dir: /var/lib/edgeloom/queue
statsIntervalS: 10
cameras:
  - id: cam0
    source: ${DEFAULT_SOURCE:-webcam}
    fps: 1
YAML
  fi
  [ -f /etc/edgeloom/agent.env ] || printf '# EDGELOOM_MQTT_USERNAME=\n# EDGELOOM_MQTT_PASSWORD=\n' > /etc/edgeloom/agent.env
  chmod 640 /etc/edgeloom/agent.env
  chgrp edgeloom /etc/edgeloom/agent.env
  install -m 644 "$SRC_DIR/scripts/edgeloom-agent.service" /etc/systemd/system/edgeloom-agent.service
  systemctl daemon-reload
  systemctl enable edgeloom-agent.service
  echo "installed to $PREFIX; edit /etc/edgeloom/agent.yaml, copy a model to $PREFIX/models/default.onnx, then: systemctl start edgeloom-agent"
}
