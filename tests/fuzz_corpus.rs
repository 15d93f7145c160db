//! Replays the fuzz corpus (`fuzz/corpus/<target>/*`) through the fuzz entry points.

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        count += 1;
    }
    assert!(count > 0, "empty corpus in {}", dir.display());
}

#[test]
fn request_head_corpus() {
    replay("request_head", ringfence::fuzzing::request_head);
}

#[test]
fn chunked_corpus() {
    replay("chunked", ringfence::fuzzing::chunked);
}

#[test]
fn config_yaml_corpus() {
    replay("config_yaml", ringfence::fuzzing::config_yaml);
}

#[test]
fn es_request_corpus() {
    replay("es_request", ringfence::fuzzing::es_request);
}

#[test]
fn whole_path_corpus() {
    replay("whole_path", ringfence::fuzzing::whole_path);
}
