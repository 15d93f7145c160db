#[test]
fn each() {
    let dir = std::path::Path::new("/tmp/fz-art/whole_path");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        println!("=== {}", path.display());
        let _ = std::panic::catch_unwind(|| ringfence::fuzzing::whole_path(&data));
    }
}
