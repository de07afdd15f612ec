//! DTB input path: the raw parser, the board importer, and rendering the
//! imported board's own device tree back to a blob. Never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = boards::dtb_in::parse(data);
    if let Ok((board, _warnings)) = boards::from_dtb::board_from_dtb(data, "fuzz.dtb") {
        let boot = boards::BootInfo::default();
        if let Ok(tree) = boards::machine::board_device_tree(&board, &boot) {
            let _ = boards::to_dtb(&tree);
            let _ = boards::to_dts(&tree);
        }
    }
});
