//! Raw connection bytes through the whole request path with a generated policy: head,
//! decision rounds, body, narrowing, and the bytes that would go upstream, checked.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringfence::fuzzing::whole_path(data));
