//! Any bytes as an Elasticsearch request: route, indices from path and body, narrowing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| ringfence::fuzzing::es_request(data));
