#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| netamp_control::fuzzing::clip_upload(data));
