//! Real nginx, PostgreSQL and redis servers for the service-input tests, each on a free
//! loopback port in a temporary directory, stopped when dropped; and the fixtures of
//! Telegraf's documented measurements they are compared with.
//!
//! When a server's program is missing the tests skip, unless `SLUICE_COMPAT_REQUIRED=1`
//! (set by scripts/test.sh, which installs them with scripts/agent-services.sh): then
//! they fail.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether missing servers fail the tests instead of skipping them.
pub fn required() -> bool {
    std::env::var("SLUICE_COMPAT_REQUIRED").is_ok_and(|v| v == "1")
}

/// Says why a test cannot run: panics when servers are required, else prints and
/// returns (the caller then returns early).
pub fn unavailable(why: &str) {
    assert!(
        !required(),
        "{why} (SLUICE_COMPAT_REQUIRED=1: run scripts/agent-services.sh)"
    );
    eprintln!("skipping: {why}");
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A program found on PATH or in the usual system directories.
pub fn program(name: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    path.split(':')
        .chain(["/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        .map(|dir| Path::new(dir).join(name))
        .find(|p| p.is_file())
}

/// A child process killed (and reaped) when dropped.
pub struct Process {
    pub child: Child,
}

impl Drop for Process {
    /// SIGTERM first, so that a master process (nginx) stops its workers too; SIGKILL
    /// after 10 s.
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions; the pid is our child's.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(command: &mut Command, what: &str) -> Process {
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot start {what}: {err}"));
    Process { child }
}

/// Runs a command to completion, panicking with its output when it fails.
pub fn run(command: &mut Command, what: &str) {
    let out = command
        .output()
        .unwrap_or_else(|err| panic!("cannot run {what}: {err}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---- TLS ----

/// A certificate authority and a server certificate for 127.0.0.1/localhost signed by
/// it, made with openssl in `dir`: `ca.pem`, `server.pem`, `server.key`.
pub fn make_certificates(dir: &Path) -> Option<()> {
    let openssl = program("openssl")?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(
        Command::new(&openssl)
            .current_dir(dir)
            .args(["req", "-x509"])
            .args(ec)
            .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"])
            .args(["-subj", "/CN=sluice test CA"]),
        "openssl (CA)",
    );
    run(
        Command::new(&openssl)
            .current_dir(dir)
            .args(["req"])
            .args(ec)
            .args(["-keyout", "server.key", "-out", "server.csr"])
            .args(["-subj", "/CN=localhost"]),
        "openssl (request)",
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(
        Command::new(&openssl)
            .current_dir(dir)
            .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem"])
            .args(["-CAkey", "ca.key", "-CAcreateserial", "-out", "server.pem"])
            .args(["-days", "2", "-extfile", "ext.cnf"]),
        "openssl (sign)",
    );
    Some(())
}

// ---- nginx ----

/// nginx with `stub_status` at `/nginx_status` on `http_port`, and on `https_port`
/// (certificates from [`make_certificates`] in `dir`) also proxying every other path to
/// `upstream` (a sluice server's `host:port`).
pub struct Nginx {
    pub http_port: u16,
    pub https_port: u16,
    _process: Process,
}

impl Nginx {
    pub fn start(dir: &Path, upstream: &str) -> Option<Nginx> {
        Self::start_with(dir, upstream, false)
    }

    /// As [`Nginx::start`], proxying to the HTTP server on the unix socket `socket`; the
    /// workers run as the caller (root included), so that they reach a socket in a
    /// directory only the caller may enter.
    pub fn start_for_socket(dir: &Path, socket: &Path) -> Option<Nginx> {
        Self::start_with(dir, &format!("unix:{}:", socket.display()), true)
    }

    fn start_with(dir: &Path, upstream: &str, workers_as_caller: bool) -> Option<Nginx> {
        let Some(nginx) = program("nginx") else {
            unavailable("nginx is not installed");
            return None;
        };
        if make_certificates(dir).is_none() {
            unavailable("openssl is not installed");
            return None;
        }
        let (http_port, https_port) = (free_port(), free_port());
        let d = dir.display();
        let temp = dir.join("temp");
        std::fs::create_dir_all(&temp).unwrap();
        // Workers may run as another user: let them write their temporary files.
        std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(0o777))
            .unwrap();
        // nginx started by root runs its workers as `nobody` unless told otherwise; started
        // by another user it runs them as that user.
        // SAFETY: geteuid has no preconditions.
        let user = if workers_as_caller && unsafe { libc::geteuid() } == 0 {
            "user root;"
        } else {
            ""
        };
        let config = format!(
            r#"
{user}
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/temp/body;
  proxy_temp_path {d}/temp/proxy;
  fastcgi_temp_path {d}/temp/fastcgi;
  uwsgi_temp_path {d}/temp/uwsgi;
  scgi_temp_path {d}/temp/scgi;
  server {{
    listen 127.0.0.1:{http_port};
    location /nginx_status {{ stub_status; }}
  }}
  server {{
    listen 127.0.0.1:{https_port} ssl;
    ssl_certificate {d}/server.pem;
    ssl_certificate_key {d}/server.key;
    # TLS 1.2 only, whatever this nginx's default: tests refuse it with tls_min_version.
    ssl_protocols TLSv1.2;
    location /nginx_status {{ stub_status; }}
    location / {{
      proxy_pass http://{upstream};
      proxy_request_buffering off;
    }}
  }}
}}
"#
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let process = spawn(
            Command::new(nginx)
                .arg("-p")
                .arg(dir)
                .arg("-e")
                .arg(dir.join("error.log"))
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .args(["-g", "daemon off;"]),
            "nginx",
        );
        wait_for_port(http_port, "nginx");
        wait_for_port(https_port, "nginx (https)");
        Some(Nginx {
            http_port,
            https_port,
            _process: process,
        })
    }
}

// ---- redis ----

/// `redis-server` on a free port, without persistence.
pub struct Redis {
    pub port: u16,
    pub process: Process,
}

impl Redis {
    /// A server requiring `password` (when not empty), replicating `master` (a port)
    /// when given.
    pub fn start(dir: &Path, password: &str, master: Option<u16>) -> Option<Redis> {
        Self::start_on(dir, free_port(), password, master)
    }

    /// As [`Redis::start`], on `port`.
    pub fn start_on(dir: &Path, port: u16, password: &str, master: Option<u16>) -> Option<Redis> {
        Self::start_with(dir, port, password, master, false)
    }

    /// A server requiring `password` that speaks only TLS, with the certificates of
    /// [`make_certificates`] made in `dir` (`dir/ca.pem` is the CA to trust).
    pub fn start_tls(dir: &Path, password: &str) -> Option<Redis> {
        Self::start_with(dir, free_port(), password, None, true)
    }

    fn start_with(
        dir: &Path,
        port: u16,
        password: &str,
        master: Option<u16>,
        tls: bool,
    ) -> Option<Redis> {
        let Some(redis) = program("redis-server") else {
            unavailable("redis-server is not installed");
            return None;
        };
        std::fs::create_dir_all(dir).unwrap();
        let mut command = Command::new(redis);
        if tls {
            if make_certificates(dir).is_none() {
                unavailable("openssl is not installed");
                return None;
            }
            command
                .args(["--port", "0", "--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(dir.join("server.pem"))
                .arg("--tls-key-file")
                .arg(dir.join("server.key"))
                .arg("--tls-ca-cert-file")
                .arg(dir.join("ca.pem"))
                .args(["--tls-auth-clients", "no"]);
        } else {
            command.args(["--port", &port.to_string()]);
        }
        command
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir);
        if !password.is_empty() {
            command.args(["--requirepass", password, "--masterauth", password]);
        }
        if let Some(master) = master {
            command.args(["--replicaof", "127.0.0.1", &master.to_string()]);
        }
        let process = spawn(&mut command, "redis-server");
        wait_for_port(port, "redis-server");
        Some(Redis { port, process })
    }
}

// ---- PostgreSQL ----

/// A PostgreSQL cluster made with `initdb` in a temporary directory, run with `pg_ctl`
/// as a user that is not root (postgres refuses to run as root). User `postgres` with
/// password `password`, scram authentication over TCP.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    user: Option<(u32, u32)>,
}

/// The uid and gid of `name`, from `id`.
fn ids_of(name: &str) -> Option<(u32, u32)> {
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, name]).output().ok()?;
        String::from_utf8(out.stdout).ok()?.trim().parse().ok()
    };
    Some((id("-u")?, id("-g")?))
}

impl Postgres {
    pub fn start(dir: &Path) -> Option<Postgres> {
        Self::start_with(dir, false)
    }

    /// A server that also accepts TLS, with the certificates of [`make_certificates`]
    /// made in `dir/pg` (`dir/pg/ca.pem` is the CA to trust).
    pub fn start_tls(dir: &Path) -> Option<Postgres> {
        Self::start_with(dir, true)
    }

    fn start_with(dir: &Path, tls: bool) -> Option<Postgres> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|entries| {
                let mut versions: Vec<PathBuf> = entries
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|p| p.join("initdb").is_file())
                    .collect();
                versions.sort();
                versions.pop()
            });
        let Some(bin) = bin else {
            unavailable("PostgreSQL (/usr/lib/postgresql/*/bin/initdb) is not installed");
            return None;
        };
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let user = if root {
            Some(
                ids_of("postgres")
                    .or_else(|| ids_of("nobody"))
                    .expect("a user to run postgres as"),
            )
        } else {
            None
        };
        let home = dir.join("pg");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join("pwfile"), "password\n").unwrap();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(home.join("pwfile"), Some(uid), Some(gid)).unwrap();
        }
        let port = free_port();
        let data = home.join("data");
        let pg = Postgres {
            port,
            bin,
            data,
            user,
        };
        run(
            pg.command("initdb")
                .arg("-D")
                .arg(&pg.data)
                .args([
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                ])
                .arg(format!("--pwfile={}", home.join("pwfile").display()))
                .args(["--no-sync", "-E", "UTF8", "--locale=C"]),
            "initdb",
        );
        let mut options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            home.display()
        );
        if tls {
            if make_certificates(&home).is_none() {
                unavailable("openssl is not installed");
                return None;
            }
            // The server reads its key only when its owner alone may.
            for file in ["server.pem", "server.key"] {
                let path = pg.data.join(file);
                std::fs::copy(home.join(file), &path).unwrap();
                if let Some((uid, gid)) = user {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
                }
                let mode = std::os::unix::fs::PermissionsExt::from_mode(0o600);
                std::fs::set_permissions(&path, mode).unwrap();
            }
            options.push_str(" -c ssl=on -c ssl_cert_file=server.pem -c ssl_key_file=server.key");
        }
        run(
            pg.command("pg_ctl")
                .arg("-D")
                .arg(&pg.data)
                .arg("-l")
                .arg(home.join("log"))
                .arg("-o")
                .arg(options)
                .args(["-w", "-t", "120", "start"]),
            "pg_ctl start",
        );
        wait_for_port(port, "postgres");
        Some(pg)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command.env_remove("PGDATA").env("LC_ALL", "C");
        command
    }

    /// Runs SQL through psql as `postgres`.
    pub fn psql(&self, sql: &str) {
        run(
            self.command("psql")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
                .args([
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    sql,
                ])
                .env("PGPASSWORD", "password"),
            "psql",
        );
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

// ---- fixtures ----

/// The measurements, tag keys and field types of a fixture taken from Telegraf's
/// documentation (tests/fixtures/telegraf/NAME.txt).
#[derive(Debug, Default)]
pub struct Fixture {
    pub tags: BTreeMap<String, BTreeSet<String>>,
    /// measurement → field → (type, documented but absent here).
    pub fields: BTreeMap<String, BTreeMap<String, (String, bool)>>,
}

impl Fixture {
    pub fn load(name: &str) -> Fixture {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/telegraf")
            .join(format!("{name}.txt"));
        let text = std::fs::read_to_string(&path).unwrap();
        let mut fixture = Fixture::default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                [m, "tag", key] => {
                    fixture
                        .tags
                        .entry((*m).to_owned())
                        .or_default()
                        .insert((*key).to_owned());
                }
                [m, "field", key, ty, rest @ ..] => {
                    fixture.fields.entry((*m).to_owned()).or_default().insert(
                        (*key).to_owned(),
                        ((*ty).to_owned(), rest.first() == Some(&"absent")),
                    );
                }
                _ => panic!("{}: bad line {line:?}", path.display()),
            }
        }
        fixture
    }
}
