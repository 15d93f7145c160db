//! The `ringfence` command line as operators and scripts use it.

use std::process::Command;

fn ringfence(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
        .args(args)
        .output()
        .unwrap()
}

fn write_config(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ringfence-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn check_reports_every_error_with_file_line_and_column() {
    let path = write_config(
        "typo.yml",
        "gateway:\n  listen: \"0.0.0.0:9201\"\n  upstreams: [\"http://127.0.0.1:9200\"]\n  limits:\n    max_header_byte: 100\n  workres: 2\nreadonlyrest:\n  enable: false\n",
    );
    let output = ringfence(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let file = path.display();
    assert!(
        stderr.contains(&format!(
            "{file}:5:5: unknown key `max_header_byte` in gateway.limits"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{file}:6:3: unknown key `workres` in gateway")),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
}

#[test]
fn check_accepts_the_examples() {
    for example in ["examples/gateway.yml", "examples/gateway-acl-file.yml"] {
        let output = ringfence(&["check", "--config", example]);
        assert!(
            output.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("OK"));
    }
}

#[test]
fn version_and_help() {
    let version = ringfence(&["--version"]);
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .starts_with("ringfence "));
    let help = String::from_utf8(ringfence(&["help"]).stdout).unwrap();
    for command in ["run", "check"] {
        assert!(help.contains(command), "{help}");
    }
}

#[test]
fn run_rejects_a_bad_override() {
    let output = ringfence(&[
        "run",
        "--config",
        "examples/gateway.yml",
        "--upstream",
        "ftp://x",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("must start with http://"));
}
