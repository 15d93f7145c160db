//! A throwaway OpenLDAP server for the LDAP tests: `tests/ldap/slapd.sh` (also used by the
//! LDAP benchmark) writes `slapd.conf` and an mdb database in a temporary directory, loaded
//! with `tests/ldap/fixture.ldif` by `slapadd`, and runs `slapd` on
//! `ldap://127.0.0.1:<free port>/` as a child, killed on drop.
//!
//! Needs Debian's `slapd` and `ldap-utils` (scripts/test.sh installs them). Without them
//! the test fails, naming the packages: an LDAP test that skips would pass while testing
//! nothing. Use from any test file with `#[path = "support/slapd.rs"] mod slapd;`.
//!
//! The directory: suffix `dc=example,dc=com`, root DN `cn=admin,dc=example,dc=com` with
//! password `admin-secret` (see [`ROOT_DN`], [`ROOT_PASSWORD`]); anonymous reads allowed
//! (slapd's default access); users and groups as the fixture's header describes.

#![allow(dead_code, reason = "each test file uses a different part")]

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SUFFIX: &str = "dc=example,dc=com";
pub const ROOT_DN: &str = "cn=admin,dc=example,dc=com";
pub const ROOT_PASSWORD: &str = "admin-secret";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";
/// How long slapd may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Slapd {
    dir: PathBuf,
    port: u16,
    ldif: PathBuf,
    child: Option<Child>,
}

impl Slapd {
    /// A server with `tests/ldap/fixture.ldif` loaded, accepting connections.
    pub fn start() -> Slapd {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ldap/fixture.ldif");
        Slapd::start_with(&fixture)
    }

    /// A server with `ldif` loaded.
    pub fn start_with(ldif: &Path) -> Slapd {
        for tool in [SLAPD, SLAPADD] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: install the Debian packages `slapd` and `ldap-utils` \
                 (apt-get install slapd ldap-utils; scripts/test.sh does it)"
            );
        }
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("ringfence-slapd-{}-{port}", std::process::id()));
        let _fresh = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("slapd temporary directory");
        let mut slapd = Slapd {
            dir,
            port,
            ldif: ldif.to_path_buf(),
            child: None,
        };
        slapd.start_again();
        slapd
    }

    /// `ldap://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (connections drop, the port refuses); the data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _gone = child.kill();
            let _reaped = child.wait();
        }
    }

    /// Starts the server again on the same port with the same data; returns once it
    /// accepts connections.
    pub fn start_again(&mut self) {
        self.stop();
        let log = std::fs::File::create(self.dir.join("slapd.log")).expect("slapd.log");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ldap/slapd.sh");
        let child = Command::new(script)
            .arg(&self.dir)
            .arg(self.port.to_string())
            .arg(&self.ldif)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting slapd");
        self.child = Some(child);
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, self.port));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_ok() {
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default();
                panic!(
                    "slapd did not start on port {} ({exited:?}): {log}",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
        let _removed = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on now (the kernel's pick, released at once).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
