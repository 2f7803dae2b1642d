#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| circles_fuzz::rpc_frames::run(data));
