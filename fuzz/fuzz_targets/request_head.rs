//! Any bytes as a request head: parse, and forward what parses.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringfence::fuzzing::request_head(data));
