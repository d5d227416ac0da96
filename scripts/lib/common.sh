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
  elif [ "$(uname -m)" = armv7l ]; then
    # NodeSource builds only amd64 and arm64 now; nodejs.org still publishes Node 20 for armv7l.
    install_node_tarball armv7l
  else
    # NodeSource's apt repository (amd64/arm64); set USE_DISTRO_NODE=1 to use the distro's node.
    apt-get install -y ca-certificates curl gnupg
    curl -fsSL "https://deb.nodesource.com/setup_${NODE_MAJOR_WANTED}.x" | bash -
    apt-get install -y nodejs
  fi
  if [ "$(node_major)" -lt "$NODE_MAJOR_WANTED" ]; then
    echo "node >= ${NODE_MAJOR_WANTED} is required, found $(node --version 2>/dev/null || echo none)" >&2
    if [ "${USE_DISTRO_NODE:-0}" = 1 ]; then
      # Debian 12 (bookworm, and Raspberry Pi OS bookworm) ships Node 18; Debian 13 (trixie) ships 20.
      echo "  $(. /etc/os-release && echo "${PRETTY_NAME:-this distribution}")'s nodejs is too old: run without USE_DISTRO_NODE=1" >&2
      echo "  (NodeSource's Node ${NODE_MAJOR_WANTED} on arm64/amd64, the nodejs.org build on armv7l), or use a Debian 13 (trixie) based OS" >&2
    fi
    exit 1
  fi
}

# Node $NODE_MAJOR_WANTED's latest release from nodejs.org into /usr/local (checksum checked).
install_node_tarball() {
  local arch="$1" base="https://nodejs.org/dist/latest-v${NODE_MAJOR_WANTED}.x" tmp file
  apt-get install -y ca-certificates curl xz-utils
  tmp="$(mktemp -d)"
  curl -fsSL "$base/SHASUMS256.txt" -o "$tmp/SHASUMS256.txt"
  file="$(awk -v a="linux-$arch.tar.xz" '$2 ~ a"$" {print $2}' "$tmp/SHASUMS256.txt")"
  [ -n "$file" ] || { echo "no linux-$arch build of Node ${NODE_MAJOR_WANTED} on nodejs.org" >&2; exit 1; }
  curl -fsSL "$base/$file" -o "$tmp/$file"
  (cd "$tmp" && grep " $file\$" SHASUMS256.txt | sha256sum -c -)
  tar -C /usr/local --strip-components=1 -xJf "$tmp/$file" --exclude='*/CHANGELOG.md' --exclude='*/README.md' --exclude='*/LICENSE'
  rm -rf "$tmp"
  hash -r
}

install_app() {
  apt-get install -y fswebcam
  id -u edgeloom >/dev/null 2>&1 || useradd --system --home-dir /var/lib/edgeloom --shell /usr/sbin/nologin --groups video edgeloom
  mkdir -p "$PREFIX" /etc/edgeloom /var/lib/edgeloom
  # Copy the app (no node_modules, no build), then the board install: the agent's packages only,
  # pruned for this platform, and the plain-JavaScript build (scripts/install-board.mjs).
  tar -C "$SRC_DIR" --exclude=node_modules --exclude=.git --exclude='runs' --exclude=dist -cf - . | tar -C "$PREFIX" -xf -
  (cd "$PREFIX" && npm run install-board)
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
