#!/usr/bin/env bash
# Prepares a Docker engine and mcpr's default kernel image, idempotently.
#
#   scripts/setup-docker.sh                 the engine at DOCKER_HOST (default: the local
#                                           socket); starts a local dockerd when none answers
#   scripts/setup-docker.sh --engine NAME   an extra local engine with its own socket
#                                           (/run/mcpr-docker-NAME.sock) and data root, e.g.
#                                           for the several-engines tests; prints its DOCKER_HOST
#   scripts/setup-docker.sh --engine NAME --tls PORT
#                                           the same, also listening on tcp://127.0.0.1:PORT
#                                           with TLS (a CA, server and client certificates
#                                           made with openssl); prints the tcp:// address
#                                           and the folder to use as DOCKER_CERT_PATH
#   scripts/setup-docker.sh --stop NAME     stops such an extra engine
#   scripts/setup-docker.sh --ssh PORT      an sshd on 127.0.0.1:PORT that lets root in with
#                                           a key made for it, so that the engine at
#                                           DOCKER_HOST (default: the local socket) can be
#                                           used as an ssh:// engine; prints the ssh://
#                                           address and the private key's path
#   scripts/setup-docker.sh --stop-ssh PORT stops that sshd
#
# No registry is needed: the image is built with debootstrap (Debian minbase + python3)
# and `docker import`ed. The root filesystem tarball is cached, so further engines get the
# image in seconds. Starting an engine or installing packages needs root.
#
# Environment: MCPR_DOCKER_IMAGE (default mcpr-python:bookworm), MCPR_DOCKER_CACHE
# (default /var/cache/mcpr), MCPR_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail

image=${MCPR_DOCKER_IMAGE:-mcpr-python:bookworm}
cache=${MCPR_DOCKER_CACHE:-/var/cache/mcpr}
mirror=${MCPR_DEBIAN_MIRROR:-http://deb.debian.org/debian}
rootfs_tar="$cache/python-bookworm-rootfs.tar"
# The flags the engine needs on machines without bridge networking or iptables; kernels
# run with no network at all, so nothing is lost.
dockerd_flags=(--bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false)

say() { printf 'setup-docker: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

engine_answers() { docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "$1 needs root (run this script with sudo)"
}

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker >/dev/null || missing+=(docker.io)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  [ ${#missing[@]} -eq 0 ] && return
  need_root "installing ${missing[*]}"
  say "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# start_dockerd NAME SOCKET DATA_ROOT EXEC_ROOT [EXTRA FLAGS...]: starts an engine in the
# background, logs to /var/log/mcpr-dockerd-NAME.log, and waits for it to answer (60 s at most).
start_dockerd() {
  local name=$1 socket=$2 data=$3 exec_root=$4
  shift 4
  need_root "starting dockerd"
  local log="/var/log/mcpr-dockerd-$name.log" pidfile="/run/mcpr-dockerd-$name.pid"
  mkdir -p "$data" "$exec_root" "$(dirname "$socket")"
  # An engine that was killed leaves pid files of itself and its containerd (and they may
  # linger as zombies, which dockerd would take for running): each goes once its
  # process is dead.
  local file old
  for file in "$pidfile" "$exec_root/containerd/containerd.pid"; do
    [ -s "$file" ] || continue
    old=$(cat "$file")
    if ! kill -0 "$old" 2>/dev/null || [ "$(ps -o stat= -p "$old" | cut -c1)" = Z ]; then
      rm -f "$file"
    fi
  done
  say "starting dockerd ($name) on unix://$socket, log $log"
  # setsid: the engine outlives this script and the shell that ran it.
  setsid dockerd "${dockerd_flags[@]}" --host "unix://$socket" --data-root "$data" \
    --exec-root "$exec_root" --pidfile "$pidfile" "$@" >"$log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 60))
  until DOCKER_HOST="unix://$socket" engine_answers; do
    if [ $SECONDS -ge $deadline ]; then
      tail -n 20 "$log" >&2 || true
      die "dockerd ($name) did not answer on $socket within 60 s; see $log"
    fi
    sleep 0.2
  done
}

build_rootfs_tar() {
  [ -s "$rootfs_tar" ] && return
  need_root "building the image's root filesystem"
  local dir
  dir=$(mktemp -d /var/tmp/mcpr-rootfs.XXXXXX)
  say "debootstrap bookworm minbase + python3 into $dir (about a minute)"
  debootstrap --variant=minbase --include=python3 bookworm "$dir" "$mirror" >"$dir.log" 2>&1 \
    || { tail -n 20 "$dir.log" >&2; die "debootstrap failed; see $dir.log"; }
  # Nothing in the image needs the package caches.
  rm -rf "$dir/var/cache/apt/archives"/*.deb "$dir/var/lib/apt/lists"/*
  mkdir -p "$cache"
  tar -C "$dir" --numeric-owner -cf "$rootfs_tar.part" .
  mv "$rootfs_tar.part" "$rootfs_tar"
  rm -rf "$dir" "$dir.log"
}

ensure_image() {
  if docker image inspect "$image" >/dev/null 2>&1; then
    return
  fi
  build_rootfs_tar
  say "importing $image"
  docker import --change 'CMD ["python3"]' "$rootfs_tar" "$image" >/dev/null
  docker run --rm --network none "$image" python3 -c 'import sys; assert sys.version_info >= (3, 8)' \
    || die "the image $image was imported but python3 does not run in it"
}

main_engine() {
  if ! engine_answers; then
    if [ -n "${DOCKER_HOST:-}" ] && [ "${DOCKER_HOST#unix://}" = "$DOCKER_HOST" ]; then
      die "no engine answers at DOCKER_HOST=$DOCKER_HOST (not a local socket: start it there)"
    fi
    install_packages
    local socket=${DOCKER_HOST:-unix:///var/run/docker.sock}
    socket=${socket#unix://}
    start_dockerd default "$socket" /var/lib/docker /var/run/docker
  fi
  install_packages
  ensure_image
  say "engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})') ready with image $image"
}

# make_tls_files DIR: a CA, a server certificate for 127.0.0.1/localhost and a client
# certificate, named as Docker expects (ca.pem, cert.pem, key.pem for the client).
make_tls_files() {
  local dir=$1
  [ -s "$dir/key.pem" ] && [ -s "$dir/server-key.pem" ] && return
  command -v openssl >/dev/null || die "openssl is needed for --tls (apt-get install openssl)"
  mkdir -p "$dir"
  chmod 700 "$dir"
  (
    cd "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=mcpr-test-ca \
      -keyout ca-key.pem -out ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout server-key.pem \
      -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile server.ext -out server-cert.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj /CN=mcpr-client -keyout key.pem -out client.csr 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 3650 \
      -extfile client.ext -out cert.pem 2>/dev/null
    rm -f server.csr client.csr server.ext client.ext
    chmod 600 ./*key.pem
    chmod 644 ca.pem cert.pem server-cert.pem
  ) || die "making the TLS files in $dir failed"
}

extra_engine() {
  local name=$1 tls_port=${2:-}
  [[ $name =~ ^[a-z0-9-]+$ ]] || die "engine names are lower-case letters, digits and dashes: $name"
  [ -z "$tls_port" ] || [[ $tls_port =~ ^[0-9]+$ ]] || die "--tls needs a port number: $tls_port"
  local socket="/run/mcpr-docker-$name.sock" data="/var/lib/mcpr-docker-$name"
  export DOCKER_HOST="unix://$socket"
  if ! engine_answers; then
    install_packages
    local extra=()
    if [ -n "$tls_port" ]; then
      need_root "making TLS files"
      make_tls_files "$data-tls"
      extra=(--host "tcp://127.0.0.1:$tls_port" --tlsverify --tlscacert "$data-tls/ca.pem"
             --tlscert "$data-tls/server-cert.pem" --tlskey "$data-tls/server-key.pem")
    fi
    start_dockerd "$name" "$socket" "$data" "/run/mcpr-docker-$name" "${extra[@]}"
  fi
  ensure_image
  if [ -n "$tls_port" ]; then
    echo "tcp://127.0.0.1:$tls_port $data-tls"
  else
    echo "$DOCKER_HOST"
  fi
}

stop_engine() {
  local name=$1 pidfile="/run/mcpr-dockerd-$1.pid"
  [ -s "$pidfile" ] || return 0
  local pid
  pid=$(cat "$pidfile")
  kill "$pid" 2>/dev/null || return 0
  local deadline=$((SECONDS + 20))
  while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
}

# ssh_engine PORT: see the top of this script. The sshd has a configuration, host key
# and authorized key of its own under /run/mcpr-sshd-PORT; nothing of the system's ssh
# setup is changed.
ssh_engine() {
  local port=$1 dir="/run/mcpr-sshd-$1"
  [[ $port =~ ^[0-9]+$ ]] || die "--ssh needs a port number: $port"
  need_root "starting an sshd"
  main_engine
  if ! command -v sshd >/dev/null && [ ! -x /usr/sbin/sshd ]; then
    say "installing openssh-server"
    apt-get update -qq
    # The package's own service is not wanted: only this script's sshd runs.
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      openssh-server openssh-client >/dev/null || { rm -f /usr/sbin/policy-rc.d; die "installing openssh-server failed"; }
    rm -f /usr/sbin/policy-rc.d
  fi
  command -v ssh >/dev/null || die "ssh (openssh-client) is needed for ssh:// engines"
  mkdir -p "$dir" /run/sshd
  chmod 700 "$dir"
  [ -s "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host_ed25519"
  [ -s "$dir/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/client_ed25519"
  cp "$dir/client_ed25519.pub" "$dir/authorized_keys"
  cat >"$dir/sshd_config" <<EOF_CONFIG
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $dir/sshd.pid
EOF_CONFIG
  local pid=""
  [ -s "$dir/sshd.pid" ] && pid=$(cat "$dir/sshd.pid")
  if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
    say "starting sshd on 127.0.0.1:$port, for the engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log" || die "sshd did not start; see $dir/sshd.log"
  fi
  local deadline=$((SECONDS + 20))
  until [ -s "$dir/sshd.pid" ]; do
    [ $SECONDS -lt $deadline ] || die "sshd did not start; see $dir/sshd.log"
    sleep 0.1
  done
  echo "ssh://root@127.0.0.1:$port $dir/client_ed25519"
}

stop_ssh() {
  local pidfile="/run/mcpr-sshd-$1/sshd.pid"
  [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null
  rm -f "$pidfile"
}

case "${1:-}" in
  "") main_engine ;;
  --engine)
    if [ "${3:-}" = --tls ]; then
      extra_engine "${2:?--engine needs a name}" "${4:?--tls needs a port}"
    else
      extra_engine "${2:?--engine needs a name}"
    fi ;;
  --stop) stop_engine "${2:?--stop needs a name}" ;;
  --ssh) ssh_engine "${2:?--ssh needs a port}" ;;
  --stop-ssh) stop_ssh "${2:?--stop-ssh needs a port}" ;;
  *) die "unknown argument: $1 (see the comment at the top of this script)" ;;
esac
