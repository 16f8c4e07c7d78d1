//! A throwaway PostgreSQL cluster (Debian's, installed by scripts/agent-services.sh) for
//! the Iceberg SQL catalog tests: `initdb` into a temporary directory, `pg_ctl` on a free
//! loopback port, trust authentication, stopped on drop. As root it runs as the
//! `postgres` user (postgres refuses to run as root).

use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running cluster; its database `postgres` is reached as user `postgres`.
pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    data: PathBuf,
    user: Option<(u32, u32)>,
}

impl Postgres {
    /// Starts a cluster under `dir`, or `None` when PostgreSQL is not installed (the
    /// caller skips, or fails under `SLUICE_COMPAT_REQUIRED=1`).
    pub fn start(dir: &Path) -> Option<Postgres> {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Postgres::start_on(dir, port)
    }

    /// [`Postgres::start`] on `port`.
    pub fn start_on(dir: &Path, port: u16) -> Option<Postgres> {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("initdb").is_file())
            .collect();
        versions.sort();
        let bin = versions.pop()?;
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let user = root.then(|| (uid_of("postgres", "-u"), uid_of("postgres", "-g")));
        let home = dir.join("postgres");
        std::fs::create_dir_all(&home).unwrap();
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid)).unwrap();
            std::os::unix::fs::chown(&home, Some(uid), Some(gid)).unwrap();
        }
        let pg = Postgres {
            port,
            bin,
            data: home.join("data"),
            user,
        };
        pg.run(
            pg.command("initdb")
                .arg("-D")
                .arg(&pg.data)
                .args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"])
                .arg("--locale=C"),
        );
        pg.run(
            pg.command("pg_ctl")
                .arg("-D")
                .arg(&pg.data)
                .arg("-l")
                .arg(home.join("log"))
                .arg("-o")
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                    home.display()
                ))
                .args(["-w", "-t", "120", "start"]),
        );
        Some(pg)
    }

    /// The URL of database `postgres` as user `postgres`, for sqlx and for SQLAlchemy
    /// (`postgresql+psycopg2://…` there).
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        if let Some((uid, gid)) = self.user {
            command.uid(uid).gid(gid);
        }
        command
            .env_remove("PGDATA")
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        command
    }

    fn run(&self, command: &mut Command) {
        let out = command.output().expect("postgres tools run");
        assert!(
            out.status.success(),
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
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

fn uid_of(user: &str, flag: &str) -> u32 {
    let out = Command::new("id").args([flag, user]).output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}
