//! The `ringfence` command line as operators and scripts use it.

mod support;

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
fn check_reports_the_acl_errors_with_the_gateway_errors() {
    // One mistake in each section, and one in the ACL file a second config points to: every
    // one is reported by one `check`, not the next only after the first is fixed.
    let acl = write_config(
        "both-acl.yml",
        "readonlyrest:\n  access_control_rules:\n  - name: a\n    auth_kye: \"u:p\"\n",
    );
    let inline = write_config(
        "both-inline.yml",
        "gateway:\n  listen: \"127.0.0.1:9201\"\n  upstreams: [\"http://127.0.0.1:9200\"]\n  workres: 2\nreadonlyrest:\n  access_control_rules:\n  - name: a\n    auth_kye: \"u:p\"\n",
    );
    let with_file = write_config(
        "both-file.yml",
        &format!(
            "gateway:\n  listen: \"127.0.0.1:9201\"\n  upstreams: [\"http://127.0.0.1:9200\"]\n  workres: 2\n  acl_file: {}\n",
            acl.display()
        ),
    );
    for (config, acl_file) in [(&inline, &inline), (&with_file, &acl)] {
        let output = ringfence(&["check", "--config", config.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert!(
            stderr.contains(&format!(
                "{}:4:3: unknown key `workres` in gateway",
                config.display()
            )),
            "{stderr}"
        );
        let rule_error = stderr
            .lines()
            .find(|line| line.contains("auth_kye"))
            .unwrap_or_else(|| panic!("no error about the ACL's `auth_kye`:\n{stderr}"));
        assert!(
            rule_error.starts_with(&format!("{}:", acl_file.display())),
            "{stderr}"
        );
    }
}

#[test]
fn check_reads_the_keystore_and_refuses_jks_with_the_command_that_converts_it() {
    let dir = std::env::temp_dir().join(format!("ringfence-cli-jks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keystore = dir.join("keystore.jks");
    // A JKS file starts with 0xFEEDFEED and a version; nothing past that is read.
    std::fs::write(&keystore, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 0]).unwrap();
    let path = write_config(
        "jks.yml",
        &format!(
            "gateway:\n  listen: \"127.0.0.1:9201\"\n  upstreams: [\"http://127.0.0.1:9200\"]\nreadonlyrest:\n  ssl:\n    keystore_file: {}\n    keystore_pass: secret\n  access_control_rules:\n  - name: all\n    auth_key: u:p\n",
            keystore.display()
        ),
    );
    let output = ringfence(&["check", "--config", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "keytool -importkeystore -srckeystore {} -srcstoretype JKS",
            keystore.display()
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("secret"), "{stderr}");
}

#[test]
fn check_accepts_the_examples() {
    for example in [
        "examples/gateway.yml",
        "examples/gateway-acl-file.yml",
        "examples/gateway-ldap.yml",
    ] {
        // The LDAP example reads its service account's password from the environment.
        let output = Command::new(env!("CARGO_BIN_EXE_ringfence"))
            .args(["check", "--config", example])
            .env("LDAP_BIND_PASSWORD", "from-the-environment")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("OK"));
        // Least privilege: nothing in them for `check` to warn about.
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("warning"), "{example}: {stderr}");
    }
}

#[test]
fn check_warns_about_a_gateway_open_to_the_network() {
    let acl = "readonlyrest:\n  access_control_rules:\n  - name: anyone\n    methods: [GET]\n  - name: probes\n    hosts: [\"10.0.0.0/8\"]\n    uri_re: [\"^/_cluster/health$\"]\n  - name: alice\n    auth_key: \"alice:secret\"\n";
    let open = write_config(
        "exposed.yml",
        &format!(
            "gateway:\n  listen: \"0.0.0.0:9201\"\n  upstreams: [\"http://127.0.0.1:9200\"]\n{acl}"
        ),
    );
    let output = ringfence(&["check", "--config", open.to_str().unwrap()]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        output.status.success(),
        "warnings do not fail check: {stderr}"
    );
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains(": warning: "))
        .collect();
    assert_eq!(warnings.len(), 3, "{stderr}");
    assert!(
        warnings[0].contains("plain HTTP") && warnings[0].contains("clear text"),
        "{stderr}"
    );
    assert!(warnings[1].contains("no gateway.ip_filter"), "{stderr}");
    // `probes` is limited by `hosts`, `alice` authenticates: only `anyone` is named.
    assert!(warnings[2].contains("block `anyone`"), "{stderr}");
    // The same ACL on loopback: nothing to warn about.
    let local = write_config(
        "loopback.yml",
        &format!("gateway:\n  listen: \"127.0.0.1:9201\"\n  upstreams: [\"http://127.0.0.1:9200\"]\n{acl}"),
    );
    let output = ringfence(&["check", "--config", local.to_str().unwrap()]);
    assert!(output.status.success());
    assert_eq!(String::from_utf8(output.stderr).unwrap(), "");
}

#[test]
fn version_and_help() {
    let version = ringfence(&["--version"]);
    assert!(String::from_utf8(version.stdout)
        .unwrap()
        .starts_with("ringfence "));
    let help = String::from_utf8(ringfence(&["help"]).stdout).unwrap();
    // Every command the help lists has an example under "Examples:".
    let commands: Vec<&str> = help
        .split("Commands:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_else(|| panic!("no Commands: section\n{help}"))
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .collect();
    assert_eq!(commands, ["run", "check", "hash", "classify"], "{help}");
    let examples = help
        .split("Examples:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Examples: section\n{help}"));
    for command in commands {
        assert!(
            examples.contains(&format!("ringfence {command} ")),
            "no example of `{command}`:\n{help}"
        );
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

#[test]
fn run_without_a_valid_policy_refuses_everything_until_one_loads() {
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    // A one-line upstream that answers every request with 200.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let upstream_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in upstream.incoming().flatten() {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0
                        || stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}")
                            .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let acl = write_config(
        "not-started-acl.yml",
        "readonlyrest:\n  access_control_rules:\n  - name: x\n    methodz: GET\n",
    );
    let config = write_config(
        "not-started.yml",
        &format!(
            "gateway:\n  listen: 127.0.0.1:{port}\n  upstreams: [\"http://{upstream_addr}\"]\n  workers: 1\n  metadata_refresh_ms: 0\n  policy_watch_ms: 100\n  not_started_response_code: 503\n  acl_file: {}\n",
            acl.display()
        ),
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringfence"))
        .args(["run", "--config", config.to_str().unwrap()])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let get = || -> Option<(u16, String)> {
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        Some((reply[9..12].parse().ok()?, reply))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let first = loop {
        if let Some(reply) = get() {
            break reply;
        }
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(first.0, 503, "{}", first.1);
    assert!(
        first.1.contains("READONLYREST_FAILED_TO_START"),
        "{}",
        first.1
    );
    std::fs::write(&acl, "readonlyrest:\n  enable: false\n").unwrap();
    while get().map(|r| r.0) != Some(200) {
        assert!(Instant::now() < deadline, "the fixed policy was not loaded");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn hash_prints_a_rule_line_the_gateway_accepts() {
    use std::io::Write;
    let upstream = support::StubUpstream::echo();
    for scheme in ["sha256", "pbkdf2"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ringfence"))
            .args(["hash", scheme, "--user", "alice"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Not a terminal: the password is read from stdin, never from argv.
        child.stdin.take().unwrap().write_all(b"s3cret\n").unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{scheme}");
        let line = String::from_utf8(output.stdout).unwrap();
        assert!(
            line.starts_with(&format!("auth_key_{scheme}: \"alice:")),
            "{line}"
        );
        assert!(!line.contains("s3cret"), "{line}");
        let acl = format!("  access_control_rules:\n  - name: alice\n    {}", line);
        let gateway = support::start_gateway(&format!("hash-{scheme}"), &upstream.url(), &acl, "");
        let addr = gateway.local_addrs()[0];
        let get = |password: &str| {
            use base64::Engine;
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("alice:{password}"));
            support::roundtrip(
                addr,
                format!("GET / HTTP/1.1\r\nHost: es\r\nAuthorization: Basic {token}\r\n\r\n")
                    .as_bytes(),
            )
            .status
        };
        assert_eq!(get("s3cret"), 200, "{scheme}: {line}");
        assert_eq!(get("wrong"), 401, "{scheme}");
    }
    assert_eq!(upstream.requests().len(), 2);
}

/// Runs `ringfence run` with its stderr on a pipe (not a terminal) until it logs that it
/// listens, then stops it; returns every log line it wrote, as bytes.
fn run_until_listening(name: &str, args: &[&str], env: &[(&str, &str)]) -> Vec<Vec<u8>> {
    use std::io::BufRead;
    use std::time::Duration;
    // Port 1 on loopback: nothing answers, and the gateway starts all the same.
    let config = write_config(
        &format!("{name}.yml"),
        "gateway:\n  listen: 127.0.0.1:0\n  upstreams: [\"http://127.0.0.1:1\"]\n  workers: 1\nreadonlyrest:\n  enable: false\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_ringfence"))
        .args(["run", "--config", config.to_str().unwrap()])
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("RINGFENCE_LOG_FORMAT")
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || loop {
        let mut line = Vec::new();
        match stderr.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                if lines.send(line).is_err() {
                    return;
                }
            }
        }
    });
    let mut log = Vec::new();
    while !log
        .iter()
        .any(|line: &Vec<u8>| line.windows(9).any(|w| w == b"listening"))
    {
        match received.recv_timeout(Duration::from_secs(10)) {
            Ok(line) => log.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "no `listening` line within 10 s:\n{}",
                    String::from_utf8_lossy(&log.concat())
                );
            }
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The pipe closes with the process: whatever it wrote before is still to be read.
    log.extend(received.iter());
    log
}

fn assert_no_escape_bytes(log: &[Vec<u8>]) {
    let text = String::from_utf8_lossy(&log.concat()).into_owned();
    assert!(!text.contains('\u{1b}'), "colours on a pipe:\n{text:?}");
}

#[test]
fn json_logs_are_one_object_per_line_without_colours() {
    for (name, args, env) in [
        ("log-json-flag", &["--log-format", "json"][..], &[][..]),
        (
            "log-json-env",
            &[][..],
            &[("RINGFENCE_LOG_FORMAT", "json")][..],
        ),
    ] {
        let log = run_until_listening(name, args, env);
        assert_no_escape_bytes(&log);
        for line in &log {
            let event: serde_json::Value = serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!("{name}: not JSON ({e}): {}", String::from_utf8_lossy(line))
            });
            assert!(event["level"].is_string(), "{name}: {event}");
            assert!(event["timestamp"].is_string(), "{name}: {event}");
        }
        let listening = log
            .iter()
            .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
            .find(|event| event["message"] == "listening")
            .unwrap_or_else(|| panic!("{name}: no listening event"));
        assert!(
            listening["addr"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:")),
            "{name}: {listening}"
        );
    }
}

#[test]
fn text_logs_on_a_pipe_have_no_colours() {
    let log = run_until_listening("log-text", &[], &[]);
    assert_no_escape_bytes(&log);
    let text = String::from_utf8_lossy(&log.concat()).into_owned();
    assert!(text.contains("listening addr=127.0.0.1:"), "{text}");
}

#[test]
fn unknown_log_formats_are_refused() {
    let output = ringfence(&["run", "--config", "x.yml", "--log-format", "yaml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("unknown log format `yaml` (text or json)"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = Command::new(env!("CARGO_BIN_EXE_ringfence"))
        .args(["check", "--config", "examples/gateway.yml"])
        .env("RINGFENCE_LOG_FORMAT", "yaml")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("RINGFENCE_LOG_FORMAT: unknown log format"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `ringfence run --config <file>` as a child process, with its stderr captured.
fn spawn_run(config: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_ringfence"))
        .args(["run", "--config", config.to_str().unwrap()])
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_second_gateway_on_a_served_address_refuses_to_start() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let config = |name: &str, listen: &str| {
        write_config(
            name,
            &format!(
                "gateway:\n  listen: {listen}\n  upstreams: [\"http://127.0.0.1:1\"]\n  workers: 2\nreadonlyrest:\n  enable: false\n"
            ),
        )
    };
    let first = support::Binary::start(&config("first-owner.yml", "127.0.0.1:0"));
    let served = first.addr.to_string();
    // The same address, and the wildcard that covers it: neither may share the port.
    for (name, listen) in [
        ("second-same.yml", served.clone()),
        (
            "second-wildcard.yml",
            format!("0.0.0.0:{}", first.addr.port()),
        ),
    ] {
        let mut second = spawn_run(&config(name, &listen));
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = second.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                second.kill().unwrap();
                panic!("a second gateway on {listen} started beside the one serving {served}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        second
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!status.success(), "{stderr}");
        assert!(stderr.contains("in use by another process"), "{stderr}");
    }
    // The first gateway still answers (its listener was not disturbed).
    let reply = support::roundtrip(
        first.addr,
        b"GET /_ringfence/none HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(reply.status > 0, "{}", first.log());
}

#[test]
fn install_script_puts_binary_config_and_unit_in_place() {
    let root = std::env::temp_dir().join(format!("ringfence-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let install = |expect_config_kept: bool| {
        let output = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/install.sh"))
            .env("DESTDIR", &root)
            .env("RINGFENCE_BIN", env!("CARGO_BIN_EXE_ringfence"))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(
            output.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        // The installed binary checked the installed config.
        assert!(stdout.contains("gateway.yml: OK"), "{stdout}");
        assert_eq!(stdout.contains("keeping the existing"), expect_config_kept);
    };
    install(false);
    let installed = |path: &str| root.join(path);
    let binary = std::fs::read(installed("usr/local/bin/ringfence")).unwrap();
    assert_eq!(
        binary,
        std::fs::read(env!("CARGO_BIN_EXE_ringfence")).unwrap()
    );
    let unit = std::fs::read_to_string(installed("etc/systemd/system/ringfence.service")).unwrap();
    assert!(
        unit.contains("ExecStart=/usr/local/bin/ringfence run --config /etc/ringfence/gateway.yml")
    );
    let config = installed("etc/ringfence/gateway.yml");
    assert_eq!(
        std::fs::read_to_string(&config).unwrap(),
        std::fs::read_to_string("examples/gateway.yml").unwrap()
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&config).unwrap().permissions().mode() & 0o777,
        0o640
    );
    // A second run keeps an operator's edited config.
    std::fs::write(
        &config,
        "# edited\n".to_string() + &std::fs::read_to_string("examples/gateway.yml").unwrap(),
    )
    .unwrap();
    install(true);
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .starts_with("# edited\n"));
    std::fs::remove_dir_all(&root).unwrap();
}
