//! Real servers for the service-input tests, started on free loopback ports in temporary
//! directories: a mosquitto broker (with a password file and persistence) and podman's
//! Docker-compatible API. Installed by `scripts/agent-mq.sh`; when one is missing the test
//! is skipped, unless `SLUICE_COMPAT_REQUIRED=1` (set by `scripts/test.sh`), which makes
//! it fail.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Whether `program` is installed; otherwise skips (returns false) or, when
/// `SLUICE_COMPAT_REQUIRED=1`, panics naming the script that installs it.
pub fn require(programs: &[&str]) -> bool {
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| which(p).is_none())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let message = format!(
        "{} not installed: run scripts/agent-mq.sh (Debian packages mosquitto, mosquitto-clients, podman, runc, busybox-static)",
        missing.join(", ")
    );
    if std::env::var("SLUICE_COMPAT_REQUIRED").as_deref() == Ok("1") {
        panic!("{message}");
    }
    eprintln!("SKIPPED: {message}");
    false
}

/// The path of `program` on `PATH` or in the sbin directories.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin", "/bin"])
        .map(|dir| Path::new(dir).join(program))
        .find(|p| p.is_file())
}

/// A free loopback port (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `check` holds, failing with `what` after `limit`.
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The MQTT user the broker accepts.
pub const MQTT_USER: &str = "telegraf";
/// Its password (the agent reads it from `$MQTT_PASSWORD`).
pub const MQTT_PASSWORD: &str = "s3cret-sensor-pass";

/// A mosquitto broker on `127.0.0.1:port` needing a user name and password, keeping its
/// persistence database (sessions, queued messages) in a temporary directory.
pub struct Mosquitto {
    pub port: u16,
    /// The TLS listener's port, when started with [`Mosquitto::start_with_tls`].
    pub tls_port: Option<u16>,
    dir: PathBuf,
    child: Option<Child>,
}

impl Mosquitto {
    /// Configures and starts a broker in `dir`.
    pub fn start(dir: &Path) -> Mosquitto {
        Mosquitto::start_with_tls(dir, None)
    }

    /// Configures and starts a broker in `dir`, with a second listener speaking TLS when
    /// `certificates` names a directory holding `ca.pem`, `server.pem` and `server.key`.
    pub fn start_with_tls(dir: &Path, certificates: Option<&Path>) -> Mosquitto {
        std::fs::create_dir_all(dir).unwrap();
        let passwords = dir.join("passwd");
        let status = Command::new(which("mosquitto_passwd").unwrap())
            .arg("-b")
            .arg("-c")
            .arg(&passwords)
            .args([MQTT_USER, MQTT_PASSWORD])
            .status()
            .unwrap();
        assert!(status.success(), "mosquitto_passwd failed");
        let port = free_port();
        let config = format!(
            "listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {}\npersistence true\npersistence_location {}/\nuser root\nlog_dest file {}/mosquitto.log\n",
            passwords.display(),
            dir.display(),
            dir.display(),
        );
        let mut config = config;
        let tls_port = certificates.map(|certs| {
            let tls_port = free_port();
            config.push_str(&format!(
                "listener {tls_port} 127.0.0.1\ncafile {ca}\ncertfile {cert}\nkeyfile {key}\n",
                ca = certs.join("ca.pem").display(),
                cert = certs.join("server.pem").display(),
                key = certs.join("server.key").display(),
            ));
            tls_port
        });
        std::fs::write(dir.join("mosquitto.conf"), config).unwrap();
        let mut broker = Mosquitto {
            port,
            tls_port,
            dir: dir.to_owned(),
            child: None,
        };
        broker.run();
        broker
    }

    fn run(&mut self) {
        let child = Command::new(which("mosquitto").unwrap())
            .arg("-c")
            .arg(self.dir.join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let port = self.port;
        wait_until("mosquitto to listen", Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// Stops the broker (SIGTERM: it saves its persistence database first).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let _ = child.wait();
        }
    }

    /// Starts the stopped broker again on the same port with the same database.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// Publishes each of `messages` to `topic` with QoS `qos` (mosquitto_pub, one
    /// message per line).
    pub fn publish(&self, topic: &str, qos: u8, messages: &[String]) {
        let mut child = Command::new(which("mosquitto_pub").unwrap())
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-u", MQTT_USER, "-P", MQTT_PASSWORD])
            .args(["-q", &qos.to_string(), "-t", topic, "-l"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut stdin = child.stdin.take().unwrap();
            for message in messages {
                writeln!(stdin, "{message}").unwrap();
            }
        }
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "mosquitto_pub failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The agent's log, collected line by line from its stderr.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<String>>);

impl Log {
    /// Collects `stderr` in a thread.
    pub fn collect(stderr: ChildStderr) -> Log {
        let log = Log::default();
        let store = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut text = store.0.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        log
    }

    /// How many lines contain `needle`.
    pub fn count(&self, needle: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .lines()
            .filter(|l| l.contains(needle))
            .count()
    }

    /// The whole log.
    pub fn text(&self) -> String {
        self.0.lock().unwrap().clone()
    }
}

/// Sends SIGTERM to `child` and waits for it.
pub fn terminate(child: &mut Child) -> Option<i32> {
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap().code()
}
