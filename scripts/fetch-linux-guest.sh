#!/usr/bin/env bash
# Fetches a stock Debian bookworm arm64 guest with apt and builds what
# tests/linux.rs and benches/linux-boot.sh boot:
#
#   scripts/fetch-linux-guest.sh [DIR]     (default: ${CARGO_TARGET_DIR:-target}/linux-guest)
#
# DIR/vmlinuz          the kernel of the package linux-image-arm64:arm64 depends on
#                      (an arm64 Image with its EFI stub header, unmodified)
# DIR/initrd.gz        gzip'd newc cpio: busybox-static, the virtio/ext4 modules and
#                      an /init that loads them, prints PREBOARD-INIT-OK and runs a
#                      shell on the console (and one on /dev/hvc0 when there is one)
# DIR/disk.img         64 MiB ext4 image made from DIR/disk-root (hello.txt, data.bin)
# DIR/kernel-release   the kernel's `uname -r`
#
# Idempotent: packages already in DIR/debs are not downloaded again, and a
# complete DIR built by this same script is reused as it is (delete DIR to
# fetch the newest kernel). Needs root (dpkg --add-architecture, apt-get
# update) and apt, dpkg-deb, cpio, gzip, depmod (kmod) and mkfs.ext4
# (e2fsprogs). Nothing here is committed.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${1:-${CARGO_TARGET_DIR:-$repo_root/target}/linux-guest}"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"

for t in apt-get apt-cache dpkg dpkg-deb cpio gzip depmod mkfs.ext4 sha256sum; do
	if ! command -v "$t" >/dev/null; then
		echo "fetch-linux-guest: '$t' not found (apt packages: apt dpkg cpio gzip kmod e2fsprogs coreutils)" >&2
		exit 1
	fi
done

# A DIR completed by this version of the script is reused without network.
stamp="$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
if [ "$(cat "$dir/.complete" 2>/dev/null)" = "$stamp" ] &&
	[ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.gz" ] && [ -s "$dir/disk.img" ]; then
	echo "fetch-linux-guest: reusing $dir ($(cat "$dir/kernel-release"))"
	exit 0
fi
rm -f "$dir/.complete"

if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	dpkg --add-architecture arm64
	apt-get update -qq
elif ! apt-cache show linux-image-arm64:arm64 >/dev/null 2>&1; then
	apt-get update -qq
fi

# The metapackage names the current ABI's image package.
image_pkg="$(apt-cache depends linux-image-arm64:arm64 |
	awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { sub(/:arm64$/, "", $2); print $2; exit }')"
if [ -z "$image_pkg" ]; then
	echo "fetch-linux-guest: linux-image-arm64:arm64 depends on no linux-image-<version> package" >&2
	exit 1
fi
kver="${image_pkg#linux-image-}"

mkdir -p "$dir/debs"
for pkg in "$image_pkg" busybox-static; do
	if ! compgen -G "$dir/debs/${pkg}_*_arm64.deb" >/dev/null; then
		echo "fetch-linux-guest: downloading $pkg:arm64"
		# apt's sandbox user may not write to DIR; download as root.
		(cd "$dir/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg:arm64")
	fi
done

root="$dir/root"
rm -rf "$root"
mkdir -p "$root"
for pkg in "$image_pkg" busybox-static; do
	deb="$(compgen -G "$dir/debs/${pkg}_*_arm64.deb" | sort | tail -n1)"
	dpkg-deb -x "$deb" "$root"
done
# The package's postinst would run depmod; modules.dep is not shipped.
depmod -b "$root" "$kver"
moddir="lib/modules/$kver"

# Modules /init loads, in an order where each follows its dependencies:
# the virtio-mmio transport, the devices Preboard's boards offer, ext4
# (and crc32c, its soft dependency) and gpio_keys + evdev (the power key,
# for acpid).
declare -A seen=()
order=()
add_module() {
	local path="$1" deps d
	[ -n "${seen[$path]:-}" ] && return
	seen[$path]=1
	deps="$(awk -v m="$path:" '$1 == m { $1 = ""; print; exit }' "$root/$moddir/modules.dep")"
	for d in $deps; do add_module "$d"; done
	order+=("$path")
}
for name in virtio_mmio virtio_blk virtio_net virtio_console virtio-rng crc32c_generic ext4 gpio_keys evdev; do
	path="$(awk -F: -v n="/$name.ko" 'index($1, n) && substr($1, length($1) - length(n) + 1) == n { print $1; exit }' \
		"$root/$moddir/modules.dep")"
	if [ -z "$path" ]; then
		echo "fetch-linux-guest: module $name is not in $kver's modules.dep (built in?)" >&2
		exit 1
	fi
	add_module "$path"
done

staging="$dir/initramfs"
rm -rf "$staging"
# (acpid, a daemon, logs to /var/log and exits without it.)
mkdir -p "$staging"/{bin,dev,etc,proc,sys,tmp,mnt,root,var/log,var/run,"$moddir"}
cp "$root/bin/busybox" "$staging/bin/busybox"
for m in "${order[@]}"; do
	mkdir -p "$staging/$moddir/$(dirname "$m")"
	cp "$root/$moddir/$m" "$staging/$moddir/$m"
	echo "$m"
done >"$staging/etc/preboard-modules"

cat >"$staging/init" <<'EOF'
#!/bin/busybox sh
# Preboard's test initramfs: mount the kernel filesystems, load the
# modules listed in /etc/preboard-modules, print the marker, shells.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
moddir=/lib/modules/$(uname -r)
while read -r m; do
	insmod "$moddir/$m" || echo "PREBOARD-INIT: insmod $m failed"
done </etc/preboard-modules
# The power key (gpio-keys) asks for a clean shutdown.
acpid -c /etc/acpi 2>/dev/null || true
echo "PREBOARD-INIT-OK $(uname -r)"
# benches/linux-boot.sh: with "pbwork" on the command line, run a fixed
# workload (integer loop, compression, hashing), print its results, power off.
if grep -qw pbwork /proc/cmdline; then
	sum=$(awk 'BEGIN { s = 0; for (i = 1; i <= 1000000; i++) s += (i * i) % 7; print s }')
	gz=$(cat /bin/busybox /bin/busybox | gzip -6 | wc -c)
	sha=$(cat /lib/modules/*/kernel/fs/ext4/ext4.ko | sha256sum | cut -c1-16)
	echo "PREBOARD-WORK-DONE $sum $gz $sha"
	poweroff -f
fi
if [ -c /dev/hvc0 ]; then
	(while :; do setsid sh -c 'exec sh </dev/hvc0 >/dev/hvc0 2>&1'; sleep 1; done) &
fi
while :; do
	setsid cttyhack sh
	echo "PREBOARD-INIT: console shell exited; starting another"
done
EOF
chmod 755 "$staging/init"

# busybox acpid: the gpio-keys power button (KEY_POWER) powers off.
mkdir -p "$staging/etc/acpi/PWRF"
printf '#!/bin/sh\nsync\npoweroff -f\n' >"$staging/etc/acpi/PWRF/00000080"
chmod 755 "$staging/etc/acpi/PWRF/00000080"

# udhcpc's hook: configure what the DHCP server offered.
cat >"$staging/etc/udhcpc.script" <<'EOF'
#!/bin/sh
case "$1" in
bound | renew)
	ifconfig "$interface" "$ip" netmask "${subnet:-255.255.255.0}" up
	[ -n "$router" ] && route add default gw "${router%% *}" dev "$interface"
	;;
deconfig) ifconfig "$interface" 0.0.0.0 up ;;
esac
exit 0
EOF
chmod 755 "$staging/etc/udhcpc.script"

(cd "$staging" && find . | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --quiet) | gzip -9n >"$dir/initrd.gz.tmp"
mv "$dir/initrd.gz.tmp" "$dir/initrd.gz"
cp "$root/boot/vmlinuz-$kver" "$dir/vmlinuz"
echo "$kver" >"$dir/kernel-release"

# The data disk: a text file and 4 MiB of random bytes whose checksum the
# tests compare inside and outside the guest.
rm -rf "$dir/disk-root"
mkdir -p "$dir/disk-root"
echo "hello from the host" >"$dir/disk-root/hello.txt"
head -c 4M /dev/urandom >"$dir/disk-root/data.bin"
rm -f "$dir/disk.img"
mkfs.ext4 -q -F -L preboard -d "$dir/disk-root" "$dir/disk.img" 64M >/dev/null

nmods="$(wc -l <"$staging/etc/preboard-modules")"
# The unpacked packages and the staging tree are rebuilt on every run:
# keep only what the tests boot (the kernel tree alone is ~360 MiB).
rm -rf "$root" "$staging"

echo "$stamp" >"$dir/.complete"
echo "fetch-linux-guest: $dir ready ($kver, $nmods modules)"
