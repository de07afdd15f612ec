#!/bin/bash
# Runs prebuilt/devices.elf under QEMU the way tests/device_firmware.rs runs
# it under Preboard: input piped into the UART, a 1 MiB disk image holding
# the pattern the firmware expects, a virtio-console writing to a file, a
# blank (0xFF) flash bank 1.
#
#	devices/qemu-run.sh virt|virt-gicv3 [RUNS]
#
# Prints the transcript of the last of RUNS runs (default 1) on the same
# images, then the exit status as `rc=N`; checks the images on the host
# afterwards like the Rust test (the lines `host: ...`). From firmware/:
#
#	devices/qemu-run.sh virt | sed '/^rc=\|^host:/d' > devices/qemu-virt.transcript
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:?usage: devices/qemu-run.sh virt|virt-gicv3 [RUNS]}
runs=${2:-1}
case $config in
virt) machine=virt ;;
virt-gicv3) machine=virt,gic-version=3 ;;
*) echo "unknown configuration $config" >&2; exit 2 ;;
esac
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Disk: byte at offset o = (o * 13 + (o >> 9)) & 0xff (image_byte in main.c).
python3 - "$tmp/disk.img" <<'PY'
import sys
open(sys.argv[1], "wb").write(bytes((o * 13 + (o >> 9)) & 0xff for o in range(1 << 20)))
PY
# QEMU wants the whole 64 MiB bank; erased flash is 0xFF.
head -c 64M /dev/zero | tr '\0' '\377' > "$tmp/flash1.img"
for ((i = 1; i <= runs; i++)); do
	set +e
	rm -f "$tmp/console.txt"
	out=$(printf 'Preboard devices: UART RX through the GIC\n' |
		timeout 60 qemu-system-aarch64 -M "$machine" -cpu cortex-a57 -nographic -semihosting \
			-global virtio-mmio.force-legacy=false \
			-drive if=none,file="$tmp/disk.img",format=raw,id=d0 \
			-device virtio-blk-device,drive=d0,serial=pb-devices-0001 \
			-chardev file,id=vc0,path="$tmp/console.txt" \
			-device virtio-serial-device -device virtconsole,chardev=vc0 \
			-drive if=pflash,unit=1,file="$tmp/flash1.img",format=raw \
			-kernel "${DEVICES_ELF:-prebuilt/devices.elf}")
	rc=$?
	set -e
done
printf '%s\n' "$out" | tr -d '\r'
echo "rc=$rc"
python3 - "$tmp/disk.img" "$tmp/flash1.img" "$tmp/console.txt" <<'PY'
import struct, sys
disk = open(sys.argv[1], "rb").read()
want = bytearray((o * 13 + (o >> 9)) & 0xff for o in range(1 << 20))
for o in range(512, 9 * 512):
    want[o] = ((o * 7 + 0x5a) ^ (o >> 9)) & 0xff
print("host: disk image", "ok" if disk == bytes(want) else "MISMATCH")
flash = open(sys.argv[2], "rb").read(0x200)
words = struct.unpack("<128I", flash)
print("host: flash words 0..3", " ".join("%08x" % w for w in words[:4]))
print("host: flash words 0x40..0x4f", " ".join("%08x" % w for w in words[0x40:0x50]))
print("host: console", repr(open(sys.argv[3], "rb").read()))
PY
