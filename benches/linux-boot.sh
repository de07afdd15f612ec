#!/usr/bin/env bash
# Boots the same Debian arm64 guest (scripts/fetch-linux-guest.sh: stock
# kernel, busybox initramfs, same command line) on Preboard's JIT and on
# QEMU TCG side by side, and prints the median wall times of N runs:
#
#   benches/linux-boot.sh [--runs N] [--smp N] [--no-build] [--guest DIR] [--baseline BIN]
#
#   init   launch -> /init's PREBOARD-INIT-OK (kernel boot to userspace)
#   work   launch -> PREBOARD-WORK-DONE, the end of /init's fixed workload
#          (awk integer loop, gzip of 4 MiB, sha256 of a module; "pbwork" on
#          the command line asks for it)
#   exit   launch -> the process exits (poweroff -f)
#   cpu    user + system CPU seconds of the whole run (QEMU: all its
#          threads); steadier than wall time on a busy machine
#
# Peers (add a line to the engine list for another):
#   qemu-tcg      qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512
#   preboard-jit  $CARGO_TARGET_DIR/release/preboard run --engine jit -m 512M
#   preboard-base with --baseline BIN: another preboard binary (say, a build of
#                 main) with the same arguments, to measure a change against it
#                 in the same run
# Every run must exit 0 and print the same workload results as the others,
# or the script stops. Needs bash, awk, date +%s.%N, qemu-system-aarch64.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

runs=3
smp=1
build=1
target="${CARGO_TARGET_DIR:-$repo_root/target}"
guest="$target/linux-guest"
baseline=""
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs="${2:-}"; shift 2 ;;
	--smp) smp="${2:-}"; shift 2 ;;
	--no-build) build=0; shift ;;
	--guest) guest="${2:-}"; shift 2 ;;
	--baseline) baseline="${2:-}"; shift 2 ;;
	*) echo "usage: $0 [--runs N] [--smp N] [--no-build] [--guest DIR] [--baseline BIN]" >&2; exit 2 ;;
	esac
done

if [ "$build" = 1 ]; then
	cargo build --release --bin preboard >&2
fi
[ -s "$guest/.complete" ] || scripts/fetch-linux-guest.sh "$guest" >&2
preboard="$target/release/preboard"
append="console=ttyAMA0 panic=-1 pbwork"

engines=(qemu-tcg preboard-jit)
if [ -n "$baseline" ]; then
	[ -x "$baseline" ] || { echo "--baseline $baseline: not an executable" >&2; exit 2; }
	engines+=(preboard-base)
fi
# Sets cmd to engine $1's command line.
engine_cmd() {
	case "$1" in
	qemu-tcg)
		cmd=(qemu-system-aarch64 -M virt -cpu cortex-a57 -m 512 -smp "$smp" -nographic -no-reboot
			-kernel "$guest/vmlinuz" -initrd "$guest/initrd.gz" -append "$append")
		;;
	preboard-jit | preboard-base)
		local bin="$preboard"
		[ "$1" = preboard-base ] && bin="$baseline"
		cmd=("$bin" run --engine jit -m 512M --smp "$smp"
			--kernel "$guest/vmlinuz" --initrd "$guest/initrd.gz" --append "$append")
		;;
	esac
}

now() { date +%s.%N; }

# One run: prints "init work exit cpu result" (seconds).
run_once() {
	local log t0 t1 status
	log="$(mktemp)"
	t0="$(now)"
	set +e
	engine_cmd "$1"
	local TIMEFORMAT='%U %S'
	{
		time {
			"${cmd[@]}" </dev/null 2>"$log.err" | while IFS= read -r line; do
				case "$line" in
				*PREBOARD-INIT-OK*) echo "init $(now)" ;;
				*PREBOARD-WORK-DONE*) echo "work $(now) ${line#*PREBOARD-WORK-DONE }" ;;
				esac
			done >"$log"
			echo "${PIPESTATUS[0]}" >"$log.status"
		}
	} 2>"$log.cpu"
	status="$(cat "$log.status")"
	set -e
	t1="$(now)"
	if [ "$status" != 0 ] || ! grep -q '^work ' "$log"; then
		echo "$1: exit code $status, no workload result; stderr:" >&2
		cat "$log.err" >&2
		rm -f "$log" "$log.err"
		exit 1
	fi
	awk -v t0="$t0" -v t1="$t1" -v cpu="$(awk '{ print $1 + $2 }' "$log.cpu")" '
		$1 == "init" { init = $2 - t0 }
		$1 == "work" { work = $2 - t0; $1 = ""; $2 = ""; res = $0 }
		END {
			gsub(/^ +| +$/, "", res); gsub(/ /, "_", res)
			printf "%.2f %.2f %.2f %.2f %s\n", init, work, t1 - t0, cpu, res
		}' "$log"
	rm -f "$log" "$log.err" "$log.cpu" "$log.status"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

declare -A med
result=""
for e in "${engines[@]}"; do : >"/tmp/linux-boot-$$-$e"; done
# Runs take turns between engines, so that a change in the machine's load
# during the benchmark weighs on every engine alike.
for _ in $(seq "$runs"); do
	for e in "${engines[@]}"; do
		r="$(run_once "$e")"
		echo "$e: $r" >&2
		echo "$r" >>"/tmp/linux-boot-$$-$e"
		res="$(echo "$r" | cut -d' ' -f5)"
		if [ -z "$result" ]; then
			result="$res"
		elif [ "$res" != "$result" ]; then
			echo "$e: workload result $res differs from $result" >&2
			exit 1
		fi
	done
done
for e in "${engines[@]}"; do
	for col in 1 2 3 4; do
		med[$e,$col]="$(cut -d' ' -f$col "/tmp/linux-boot-$$-$e" | median)"
	done
	rm -f "/tmp/linux-boot-$$-$e"
done

kernel="$(cat "$guest/kernel-release")"
echo "Debian $kernel, busybox initramfs, $smp core(s), median of $runs (seconds from launch)"
printf '%-14s %8s %8s %8s %8s\n' engine init work exit cpu
for e in "${engines[@]}"; do
	printf '%-14s %8s %8s %8s %8s\n' "$e" "${med[$e,1]}" "${med[$e,2]}" "${med[$e,3]}" "${med[$e,4]}"
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%7.2fx", a / b }'; }
for e in "${engines[@]}"; do
	[ "$e" = qemu-tcg ] && continue
	printf '%-14s' "$e/qemu"
	for col in 1 2 3 4; do printf ' %s' "$(ratio "${med[$e,$col]}" "${med[qemu-tcg,$col]}")"; done
	echo
done
echo "(ratio < 1: Preboard is faster; workload result $result)"
