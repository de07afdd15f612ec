#!/usr/bin/env bash
# Peer comparison: runs the benchmark firmwares on every engine side by side
# and prints one table per workload of wall times (median of N runs) and
# ratios to QEMU.
#
#   benches/compare.sh [--runs N] [--no-build] [--workload int|fp|all]
#
# Workloads (--workload, default all; one table each):
#   int   firmware/prebuilt/bench-int-timed.elf: integer kernels, ~113 M instructions
#   fp    firmware/prebuilt/bench-fp-timed.elf: FP/SIMD kernels, ~152 M instructions
# (the -timed builds print each kernel's guest-timed duration, read from the
# generic timer, which QEMU and Preboard both run in host time: the
# per-kernel table below the whole-run one, with the geometric mean.)
# Engines (add a line to ENGINES for a new one):
#   qemu-tcg         qemu-system-aarch64 -M virt -cpu cortex-a57 (the peer)
#   preboard-interp  $CARGO_TARGET_DIR/release/preboard run --engine interp
#   preboard-jit     $CARGO_TARGET_DIR/release/preboard run --engine jit
# CARGO_TARGET_DIR defaults to target/. Every run must exit 0 and print
# exactly the workload's firmware/bench-*/qemu-virt.expected, or the script
# stops: a wrong answer has no speed.
#
# Columns: "wall" is the whole process, "cpu" its user + system CPU time
# (less disturbed by a busy machine; QEMU's counts all its threads);
# "start" is the same engine running the tiny hello firmware (process
# start-up, board and DTB set-up); "net" = wall - start, the time spent
# running guest code, and what "MIPS" and the net ratio use. MIPS =
# Preboard's retired-instruction count of the workload over net time
# (every engine runs the same instruction stream). QEMU's start-up is most
# of its wall time on bench-int, so compare engines on "net".
# Needs: cargo, qemu-system-aarch64, awk. Timing uses `date +%s.%N`.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

runs=3
build=1
workload=all
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs="${2:-}"; shift $(($# > 1 ? 2 : 1)) ;;
	--no-build) build=0; shift ;;
	--workload) workload="${2:-}"; shift $(($# > 1 ? 2 : 1)) ;;
	-h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument: $1 (try --help)" >&2; exit 2 ;;
	esac
done
case "$runs" in '' | *[!0-9]* | 0) echo "compare.sh: --runs needs a positive integer, not '$runs'" >&2; exit 2 ;; esac
case "$workload" in
int | fp) workloads=("$workload") ;;
all) workloads=(int fp) ;;
*) echo "compare.sh: --workload needs int, fp or all, not '$workload'" >&2; exit 2 ;;
esac

idle=firmware/prebuilt/hello.elf
for f in "$idle" $(for w in "${workloads[@]}"; do echo "firmware/prebuilt/bench-$w-timed.elf firmware/bench-$w/qemu-virt.expected"; done); do
	[ -f "$f" ] || { echo "compare.sh: $f not found" >&2; exit 66; }
done
command -v qemu-system-aarch64 >/dev/null || { echo "compare.sh: qemu-system-aarch64 not installed" >&2; exit 69; }

if [ "$build" = 1 ]; then
	echo "building preboard (release)..." >&2
	cargo build --release --quiet --bin preboard
fi
preboard=${CARGO_TARGET_DIR:-target}/release/preboard
[ -x "$preboard" ] || { echo "compare.sh: $preboard not built (drop --no-build)" >&2; exit 66; }

# name|command (the ELF path is appended)
ENGINES=(
	"qemu-tcg|qemu-system-aarch64 -M virt -cpu cortex-a57 -nographic -semihosting -kernel"
	"preboard-interp|$preboard run --engine interp --kernel"
	"preboard-jit|$preboard run --engine jit --kernel"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }

# User + system CPU seconds of the finished children of the shell that ran
# `times >FILE` (bash builtin; its second line), read from FILE.
child_cpu() {
	awk 'NR == 2 {
		s = 0
		for (f = 1; f <= 2; f++) { split($f, p, "m"); s += p[1] * 60 + p[2] }
		printf "%.3f\n", s
	}' "$1"
}

# run_one <name> <elf> <expected output or ""> <command...>: prints the
# wall time of one run that exited 0 (and printed <expected>, if given).
run_one() {
	local name="$1" image="$2" want="$3"
	shift 3
	local t0 t1 rc=0
	times >"$tmp/times0"
	t0=$(now)
	PREBOARD_LOG=info "$@" "$image" >"$tmp/out" 2>"$tmp/err" </dev/null || rc=$?
	t1=$(now)
	times >"$tmp/times1"
	# The -timed images add "time <kernel> <us> us" lines; the rest must be
	# the QEMU transcript.
	grep -v '^time ' "$tmp/out" >"$tmp/checked" || true
	if [ "$rc" -ne 0 ] || { [ -n "$want" ] && ! cmp -s "$tmp/checked" "$want"; }; then
		echo "compare.sh: $name on $image: exit code $rc${want:+, or the output differs from $want}:" >&2
		if [ -n "$want" ]; then diff "$want" "$tmp/checked" >&2 || true; else cat "$tmp/out" >&2; fi
		cat "$tmp/err" >&2
		exit 1
	fi
	# Preboard logs "N instructions in S s (M MIPS)" at exit.
	if [ "$image" != "$idle" ]; then
		awk -v e="$name" '/^time / { print e, $2, $3 }' "$tmp/out" >>"$tmp/kernels"
		awk -v a="$(child_cpu "$tmp/times0")" -v b="$(child_cpu "$tmp/times1")" \
			'BEGIN { printf "%.3f\n", b - a }' >>"$tmp/cpu.$name"
		sed 's/\x1b\[[0-9;]*m//g' "$tmp/err" | awk '/ instructions in / {
			for (i = 1; i < NF; i++) if ($(i + 1) == "instructions") print $i }' >>"$tmp/insns"
	fi
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}

median() { tr ' ' '\n' | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# bench_workload <int|fp>: runs every engine on firmware/prebuilt/bench-<w>.elf
# and prints its table.
bench_workload() {
	local w="$1" e name
	local elf=firmware/prebuilt/bench-$w-timed.elf expected=firmware/bench-$w/qemu-virt.expected
	local -A wall start cpu all idles
	rm -f "$tmp"/cpu.* "$tmp/insns" "$tmp/kernels"
	# Runs take turns between engines, so that a change in the machine's
	# load during the benchmark weighs on every engine alike (on a shared
	# host, one engine's five runs in a row could all land in a slow spell).
	for _ in $(seq "$runs"); do
		for e in "${ENGINES[@]}"; do
			name=${e%%|*}
			read -r -a cmd <<<"${e#*|}"
			all[$name]="${all[$name]:-} $(run_one "$name" "$elf" "$expected" "${cmd[@]}")"
			idles[$name]="${idles[$name]:-} $(run_one "$name" "$idle" "" "${cmd[@]}")"
		done
	done
	for e in "${ENGINES[@]}"; do
		name=${e%%|*}
		all[$name]="${all[$name]# }"
		wall[$name]=$(echo "${all[$name]}" | median)
		cpu[$name]=$(median <"$tmp/cpu.$name")
		start[$name]=$(echo "${idles[$name]# }" | median)
	done

	local insns
	insns=$(tail -n1 "$tmp/insns" 2>/dev/null || true)
	insns=${insns:-0}
	echo "bench-$w: $insns guest instructions; median of $runs runs; $(date -u +%Y-%m-%d), $(nproc) CPUs"
	printf '%-16s %8s %8s %8s %8s %8s %15s %15s   %s\n' \
		engine "wall s" "cpu s" "start s" "net s" MIPS "wall vs qemu" "net vs qemu" "bench-$w runs (s)"
	for e in "${ENGINES[@]}"; do
		name=${e%%|*}
		awk -v n="$name" -v w="${wall[$name]}" -v c="${cpu[$name]}" -v s="${start[$name]}" -v i="$insns" -v r="${all[$name]}" \
			-v qw="${wall[qemu-tcg]}" -v qs="${start[qemu-tcg]}" '
		function rel(x, base) {
			if (n == "qemu-tcg") return "1.00x"
			if (base <= 0) return "n/a"
			return x >= base ? sprintf("%.2fx slower", x / base) : sprintf("%.2fx faster", base / x)
		}
		BEGIN {
			net = w - s; qnet = qw - qs
			if (net < 0.001) net = 0.001
			printf "%-16s %8.3f %8.3f %8.3f %8.3f %8.1f %15s %15s   %s\n", n, w, c, s, net, i / net / 1e6, rel(w, qw), rel(net, qnet), r
		}'
	done
	kernel_table
}

# kernel_table: per-kernel medians (ms) of the guest-timed lines in
# $tmp/kernels ("engine kernel us"), each engine's ratio to QEMU
# (>1: faster than QEMU) and the geometric mean of the ratios.
kernel_table() {
	local names=()
	for e in "${ENGINES[@]}"; do names+=("${e%%|*}"); done
	echo
	echo "per kernel, ms in the guest (median of $runs); ratio = qemu time / engine time (>1: faster than QEMU)"
	awk -v engines="${names[*]}" '
	function median(list,    n, a, i, j, t) {
		n = split(list, a, " ")
		for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	{ if (!($2 in seen)) { seen[$2] = 1; order[++nk] = $2 } t[$1, $2] = t[$1, $2] " " $3 }
	END {
		ne = split(engines, e, " ")
		printf "%-8s", "kernel"
		for (j = 1; j <= ne; j++) printf " %16s", e[j]
		for (j = 2; j <= ne; j++) printf " %16s", "ratio " substr(e[j], 10)
		printf "\n"
		for (k = 1; k <= nk; k++) {
			name = order[k]
			printf "%-8s", name
			for (j = 1; j <= ne; j++) { m[j] = median(t[e[j], name]) / 1000; printf " %16.1f", m[j] }
			for (j = 2; j <= ne; j++) {
				r = m[j] > 0 ? m[1] / m[j] : 0
				printf " %15.2fx", r
				if (r > 0) { lg[j] += log(r); cnt[j]++ }
			}
			printf "\n"
		}
		printf "%-8s", "geomean"
		for (j = 1; j <= ne; j++) printf " %16s", ""
		for (j = 2; j <= ne; j++) printf " %15.2fx", cnt[j] ? exp(lg[j] / cnt[j]) : 0
		printf "\n"
	}' "$tmp/kernels"
}

first=1
for w in "${workloads[@]}"; do
	[ "$first" = 1 ] || echo
	first=0
	bench_workload "$w"
done
