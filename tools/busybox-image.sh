#!/usr/bin/env bash
# Build the local image busybox:latest from the node's static /bin/busybox (package busybox-static),
# so tests and demos run containers without any registry.
#
# Idempotent: does nothing when the image exists and was built by this script (it carries the label
# io.skiff.image=busybox); an image of that name made otherwise (which may lack applets such as
# wget or httpd that tests use) is replaced; FORCE=1 always rebuilds. The root filesystem holds
# /bin/busybox, one symlink per applet under /bin, /sbin, /usr/bin, /usr/sbin (the layout of
# `busybox --install -s`), /tmp (1777), /root, /etc/passwd and /etc/group with root and nobody.
set -euo pipefail

image="${IMAGE:-busybox:latest}"
busybox="${BUSYBOX:-/bin/busybox}"

say() { echo "busybox-image: $*"; }
die() { echo "busybox-image: ERROR: $*" >&2; exit 1; }

label="$(docker image inspect --format '{{index .Config.Labels "io.skiff.image"}}' "$image" 2>/dev/null || true)"
if [ "${FORCE:-0}" != 1 ] && [ "$label" = busybox ]; then
  say "$image present"
  exit 0
fi
if docker image inspect "$image" >/dev/null 2>&1; then
  say "replacing $image (not built by this script, or FORCE=1)"
fi
[ -x "$busybox" ] || die "no static busybox at $busybox (apt-get install busybox-static)"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,tmp,root,etc,proc,sys,dev,var/tmp,home}
chmod 1777 "$root/tmp" "$root/var/tmp"
cp "$busybox" "$root/bin/busybox"
# `busybox --list-full` names each applet with its install directory (bin/ls, usr/bin/wget, ...).
"$busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  mkdir -p "$root/$(dirname "$applet")"
  ln -sf /bin/busybox "$root/$applet"
done
cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat >"$root/etc/group" <<'GROUP'
root:x:0:
nogroup:x:65534:
GROUP

tar -C "$root" -c . | docker import --change 'CMD ["sh"]' --change 'LABEL io.skiff.image=busybox' - "$image" >/dev/null
say "built $image from $busybox ($("$busybox" --list | wc -l) applets)"
