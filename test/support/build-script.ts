// A `builder: script` build script as an operator writes one: a small sparse raw disk with a unique marker, at
// the path it is given. It counts its runs in COUNT_FILE when set, so a test can tell a rebuild from a reuse.
export const BUILD_SCRIPT = `#!/bin/sh
set -eu
out=$1
if [ -n "\${COUNT_FILE:-}" ]; then echo run >> "$COUNT_FILE"; fi
truncate -s \${SIZE_MB:-8}M "$out"
printf 'nodepool test image %s\\n' "$(date +%s%N)" | dd of="$out" bs=512 seek=2048 conv=notrunc 2>/dev/null
echo "built $out"
`;
