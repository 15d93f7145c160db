//! Any text as a configuration file.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringfence::fuzzing::config_yaml(data));
