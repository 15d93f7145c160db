//! Any bytes as a chunked body, fed whole and split.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringfence::fuzzing::chunked(data));
