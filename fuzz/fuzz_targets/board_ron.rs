//! RON board loader: any text gives a board or a `BoardError`, never a panic;
//! the `-m` / `--smp` overrides on a parsed board likewise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    // `include` may name files; keep the run away from device and kernel
    // files (`/dev/zero` would read forever, `/dev/stdin` would block).
    if ["dev/", "proc/", "sys/"].iter().any(|p| src.contains(p)) {
        return;
    }
    let Ok(mut board) = boards::parse_board(src, "fuzz.ron") else {
        return;
    };
    // Override values from the input's last 12 bytes (a valid board can
    // end in a comment, whose bytes the fuzzer is free to mutate), plus the
    // same values rounded the way the CLI would produce them.
    let mut tail = [0u8; 12];
    let take = data.len().min(tail.len());
    tail[..take].copy_from_slice(&data[data.len() - take..]);
    let size = u64::from_le_bytes([tail[0], tail[1], tail[2], tail[3], tail[4], tail[5], tail[6], tail[7]]);
    let count = u32::from_le_bytes([tail[8], tail[9], tail[10], tail[11]]);
    for size in [size, size & !0xf_ffff, size >> 32 << 20] {
        let _ = board.set_ram_size(size);
    }
    for count in [count, count & 0xff, count % 16] {
        let _ = board.set_cpu_count(count);
    }
});
