#![no_main]
use libfuzzer_sys::fuzz_target;
use segstate::format::svm::{SaveAreaOffset, VmcbSaveArea};
use segstate::ingest::{self, InputFormat};

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // A save area of any accepted length round-trips byte for byte.
    if let Ok(area) = VmcbSaveArea::from_save_area_bytes(data) {
        assert_eq!(area.to_bytes(), data);
    }
    let _ = ingest::read(data, Some(InputFormat::VmcbSave));
    // The same bytes as the save area of a whole page (control area zero).
    let mut page = vec![0u8; VmcbSaveArea::PAGE_SIZE];
    let n = data
        .len()
        .min(VmcbSaveArea::PAGE_SIZE - SaveAreaOffset::IN_PAGE);
    page[SaveAreaOffset::IN_PAGE..SaveAreaOffset::IN_PAGE + n].copy_from_slice(&data[..n]);
    if let Ok(area) = VmcbSaveArea::from_page(&page) {
        assert_eq!(area.to_page(), page);
    }
    if let Ok(inputs) = ingest::read(&page, Some(InputFormat::Vmcb)) {
        common::check_all(&inputs);
    }
});
