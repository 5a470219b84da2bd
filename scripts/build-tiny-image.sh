#!/bin/sh
# A `builder: script` diskimage's build: writes a small real raw disk image (an ext4 file system holding a
# minimal /etc) to the path given as the first argument. Only standard tools: truncate (coreutils) and
# mke2fs (e2fsprogs), run unprivileged. SIZE_MB (env-vars) sets its size; DIB_RELEASE (release) is recorded.
set -eu

out=${1:?usage: build-tiny-image.sh OUTPUT.raw}
size_mb=${SIZE_MB:-16}
release=${DIB_RELEASE:-none}

for tool in truncate mke2fs; do
  command -v "$tool" >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
  command -v "$tool" >/dev/null 2>&1 || {
    echo "build-tiny-image.sh: $tool not found; install it (Debian: apt-get install coreutils e2fsprogs)" >&2
    exit 2
  }
done

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc"
printf 'NAME="nodepool tiny image"\nVERSION_ID="%s"\n' "$release" >"$root/etc/os-release"
printf 'tiny\n' >"$root/etc/hostname"

rm -f "$out"
truncate -s "${size_mb}M" "$out"
mke2fs -q -F -t ext4 -L tiny -d "$root" "$out"
echo "build-tiny-image.sh: wrote ${size_mb} MiB raw image $out (release $release)"
