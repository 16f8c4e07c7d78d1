//! `inputs.docker` against podman's Docker-compatible API (no Docker engine runs on our
//! machines): a private podman store and API socket in a temporary directory, an image
//! imported from a root filesystem holding Debian's static busybox, and containers run
//! with runc. The agent runs the course's `docker` block with `--once` into a real sluice
//! server; names, tags and types are compared with Telegraf's documentation. A
//! TLS-terminating nginx in front of the podman socket checks `tcp://` endpoints with the
//! client TLS keys.

mod common;
mod servers;
mod service_kit;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{Server, run_agent};
use service_kit::{require, wait_until};

/// A podman API service on a unix socket, with its own storage.
struct Podman {
    dir: PathBuf,
    socket: PathBuf,
    service: Option<Child>,
}

impl Podman {
    fn base_args(dir: &Path) -> Vec<String> {
        [
            "--root",
            &dir.join("root").display().to_string(),
            "--runroot",
            &dir.join("run").display().to_string(),
            "--tmpdir",
            &dir.join("tmp").display().to_string(),
            "--storage-driver",
            "vfs",
            "--runtime",
            "runc",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }

    fn start(dir: &Path) -> Podman {
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let socket = dir.join("podman.sock");
        let service = Command::new("podman")
            .args(Podman::base_args(dir))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until("the podman socket", Duration::from_secs(60), || {
            std::os::unix::net::UnixStream::connect(&socket).is_ok()
        });
        Podman {
            dir: dir.to_owned(),
            socket,
            service: Some(service),
        }
    }

    fn podman(&self, args: &[&str]) -> Output {
        Command::new("podman")
            .args(Podman::base_args(&self.dir))
            .args(args)
            .output()
            .unwrap()
    }

    /// Imports a root filesystem holding busybox as `localhost/sluice-busybox:1.0`.
    fn import_busybox(&self) {
        let rootfs = self.dir.join("rootfs");
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        let busybox = service_kit::which("busybox").unwrap();
        std::fs::copy(busybox, rootfs.join("bin/busybox")).unwrap();
        for applet in ["sh", "sleep", "true"] {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
        let tar = self.dir.join("rootfs.tar");
        let status = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        let out = self.podman(&[
            "import",
            &tar.display().to_string(),
            "localhost/sluice-busybox:1.0",
        ]);
        assert!(
            out.status.success(),
            "podman import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `podman run -d` with the limits this machine allows; the error text on failure.
    fn run(&self, name: &str, extra: &[&str], command: &[&str]) -> Result<(), String> {
        let mut args = vec![
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        args.extend_from_slice(extra);
        args.push("localhost/sluice-busybox:1.0");
        args.extend_from_slice(command);
        let out = self.podman(&args);
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        if let Some(mut service) = self.service.take() {
            let _ = service.kill();
            let _ = service.wait();
        }
        // Storage written by the containers' root may hold read-only directories.
        let _ = Command::new("chmod")
            .arg("-R")
            .arg("u+w")
            .arg(&self.dir)
            .status();
    }
}

/// Telegraf's documented fields of each measurement, with their types
/// (plugins/inputs/docker/README.md; unsigned counters arrive as integers).
fn documented() -> BTreeMap<&'static str, BTreeMap<&'static str, &'static str>> {
    let int = "integer";
    let mem: Vec<&str> = vec![
        "total_pgmajfault",
        "cache",
        "mapped_file",
        "total_inactive_file",
        "pgpgout",
        "rss",
        "total_mapped_file",
        "writeback",
        "unevictable",
        "pgpgin",
        "total_unevictable",
        "pgmajfault",
        "total_rss",
        "total_rss_huge",
        "total_writeback",
        "total_inactive_anon",
        "rss_huge",
        "hierarchical_memory_limit",
        "total_pgfault",
        "total_active_file",
        "active_anon",
        "total_active_anon",
        "total_pgpgout",
        "total_cache",
        "inactive_anon",
        "active_file",
        "pgfault",
        "inactive_file",
        "total_pgpgin",
        "max_usage",
        "usage",
        "fail_count",
        "limit",
    ];
    let mut m: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    let docker = m.entry("docker").or_default();
    for f in [
        "n_used_file_descriptors",
        "n_cpus",
        "n_containers",
        "n_containers_running",
        "n_containers_stopped",
        "n_containers_paused",
        "n_images",
        "n_goroutines",
        "n_listener_events",
        "memory_total",
        "pool_blocksize",
    ] {
        docker.insert(f, int);
    }
    let mem_fields = m.entry("docker_container_mem").or_default();
    for f in mem {
        mem_fields.insert(f, int);
    }
    mem_fields.insert("usage_percent", "float");
    mem_fields.insert("container_id", "string");
    let cpu = m.entry("docker_container_cpu").or_default();
    for f in [
        "throttling_periods",
        "throttling_throttled_periods",
        "throttling_throttled_time",
        "usage_in_kernelmode",
        "usage_in_usermode",
        "usage_system",
        "usage_total",
    ] {
        cpu.insert(f, int);
    }
    cpu.insert("usage_percent", "float");
    cpu.insert("container_id", "string");
    let net = m.entry("docker_container_net").or_default();
    for f in [
        "rx_dropped",
        "rx_bytes",
        "rx_errors",
        "tx_packets",
        "tx_dropped",
        "rx_packets",
        "tx_errors",
        "tx_bytes",
    ] {
        net.insert(f, int);
    }
    net.insert("container_id", "string");
    let blkio = m.entry("docker_container_blkio").or_default();
    for op in ["async", "read", "sync", "total", "write"] {
        blkio.insert(
            Box::leak(format!("io_service_bytes_recursive_{op}").into_boxed_str()),
            int,
        );
        blkio.insert(
            Box::leak(format!("io_serviced_recursive_{op}").into_boxed_str()),
            int,
        );
    }
    blkio.insert("container_id", "string");
    let health = m.entry("docker_container_health").or_default();
    health.insert("health_status", "string");
    health.insert("failing_streak", int);
    let status = m.entry("docker_container_status").or_default();
    for f in [
        "pid",
        "exitcode",
        "started_at",
        "finished_at",
        "uptime_ns",
        "restart_count",
    ] {
        status.insert(f, int);
    }
    status.insert("oomkilled", "boolean");
    status.insert("container_id", "string");
    m
}

/// Telegraf's documented tags of the container measurements (plus the extra tag of each).
const CONTAINER_TAGS: &[&str] = &[
    "engine_host",
    "server_version",
    "container_image",
    "container_name",
    "container_status",
    "container_version",
];

#[tokio::test(flavor = "multi_thread")]
async fn the_course_docker_block_reads_podman_as_telegraf_names_it() {
    if !require(&["podman", "runc", "busybox", "tar"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let podman = tokio::task::block_in_place(|| Podman::start(&dir.path().join("podman")));
    let ran = tokio::task::block_in_place(|| {
        podman.import_busybox();
        let web = podman.run(
            "web",
            &[
                "--label",
                "app=shop",
                "--label",
                "tier=front",
                "--health-cmd",
                "true",
                "--health-interval",
                "disable",
            ],
            &["/bin/sleep", "600"],
        );
        if web.is_ok() {
            let out = podman.podman(&["healthcheck", "run", "web"]);
            assert!(
                out.status.success(),
                "healthcheck: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            podman.run("db", &[], &["/bin/sleep", "600"]).unwrap();
            podman.run("job", &[], &["/bin/true"]).unwrap();
        }
        web
    });
    let config = format!(
        r#"
[agent]
  omit_hostname = true
[[inputs.docker]]
  endpoint = "unix://{socket}"
  gather_services = false
  container_name_include = []
  container_name_exclude = ["db"]
  timeout = "5s"
  perdevice = true
  total = false
  docker_label_include = []
  docker_label_exclude = ["tier"]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "docker"
"#,
        socket = podman.socket.display(),
        url = server.url
    );
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run_agent(&dir, &config, &["--once"])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The engine measurement: Telegraf's fields, all integers.
    let docker = server.rows("docker", "docker").await;
    let engine_fields = server.column_kinds("docker", "docker");
    let documented = documented();
    for (name, kind) in &engine_fields {
        match kind.as_str() {
            "tag" => assert!(
                ["engine_host", "server_version", "unit"].contains(&name.as_str()),
                "{name}"
            ),
            kind => assert_eq!(
                documented["docker"].get(name.as_str()),
                Some(&kind),
                "{name}"
            ),
        }
    }
    let counts = docker
        .iter()
        .find(|r| r.contains_key("n_containers"))
        .unwrap();
    assert!(counts["server_version"].starts_with('4') || !counts["server_version"].is_empty());
    assert!(docker.iter().any(|r| r.contains_key("memory_total")));

    if let Err(why) = ran {
        // Podman cannot run containers on this machine: the engine and listing are all
        // that can be checked (docs/agent.md says so).
        eprintln!(
            "WARNING: podman cannot run a container here, only engine metrics are checked: {why}"
        );
        server.stop().await;
        return;
    }
    assert_eq!(counts["n_containers"], "3");
    assert_eq!(counts["n_containers_running"], "2");

    let mut tables = server.tables("docker");
    tables.sort();
    // `docker_container_blkio` appears only where the engine reports block devices
    // (podman on our machines reports none, and `total = false` drops the total).
    tables.retain(|t| t != "docker_container_blkio");
    assert_eq!(
        tables,
        vec![
            "docker",
            "docker_container_cpu",
            "docker_container_health",
            "docker_container_mem",
            "docker_container_net",
            "docker_container_status",
        ]
    );
    if server
        .tables("docker")
        .contains(&"docker_container_blkio".to_owned())
    {
        tables.push("docker_container_blkio".to_owned());
    }
    for table in &tables[1..] {
        let kinds = server.column_kinds("docker", table);
        for (name, kind) in &kinds {
            if kind == "tag" {
                let extra = match table.as_str() {
                    "docker_container_cpu" => "cpu",
                    "docker_container_net" => "network",
                    "docker_container_blkio" => "device",
                    _ => "app",
                };
                assert!(
                    CONTAINER_TAGS.contains(&name.as_str()) || name == extra || name == "app",
                    "{table}: unexpected tag {name}"
                );
            } else {
                assert_eq!(
                    documented[table.as_str()].get(name.as_str()),
                    Some(&kind.as_str()),
                    "{table}.{name} is not documented with type {kind}"
                );
            }
        }
        let rows = server.rows("docker", table).await;
        assert!(
            rows.iter().all(|r| r["container_name"] == "web"),
            "{table}: {rows:?}"
        );
        assert!(
            rows.iter()
                .all(|r| r["container_image"] == "localhost/sluice-busybox")
        );
        assert!(rows.iter().all(|r| r["container_version"] == "1.0"));
        assert!(rows.iter().all(|r| r["container_status"] == "running"));
        assert!(
            rows.iter()
                .all(|r| r["app"] == "shop" && !r.contains_key("tier"))
        );
    }
    let health = server.rows("docker", "docker_container_health").await;
    assert_eq!(health[0]["health_status"], "healthy");
    let status = server.rows("docker", "docker_container_status").await;
    assert_eq!(status[0]["oomkilled"], "false");
    assert!(status[0]["pid"].parse::<i64>().unwrap() > 0);
    let cpu = server.rows("docker", "docker_container_cpu").await;
    let mut cpus: Vec<&str> = cpu.iter().map(|r| r["cpu"].as_str()).collect();
    cpus.sort();
    assert_eq!(cpus[0], "cpu-total");
    assert!(
        cpus.len() >= 2,
        "perdevice = true adds per-CPU metrics: {cpus:?}"
    );
    let mem = server.rows("docker", "docker_container_mem").await;
    assert!(mem[0]["usage"].parse::<i64>().unwrap() > 0);

    // The defaults of today's Telegraf: per-CPU only, totals for cpu, blkio and network.
    let config = format!(
        "[agent]\n  omit_hostname = true\n[[inputs.docker]]\n  endpoint = \"unix://{}\"\n  container_name_include = [\"w*\"]\n",
        podman.socket.display()
    );
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_owned();
        move || run_agent(&dir, &config, &["--test"])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("> docker_container_net,") && l.contains("network=total")),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("> docker_container_blkio,") && l.contains("device=total")),
        "{stdout}"
    );
    server.stop().await;
}

#[test]
fn an_unreachable_engine_fails_the_gather_with_the_endpoint_named() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("missing.sock");
    let config = format!(
        "[[inputs.docker]]\n  endpoint = \"unix://{}\"\n  timeout = \"1s\"\n",
        socket.display()
    );
    let out = run_agent(dir.path(), &config, &["--test"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("GET /info") && stderr.contains("missing.sock"),
        "{stderr}"
    );
}

/// Runs `sluice-agent --test` with one `docker` input on `endpoint` plus `extra` keys, in a
/// directory of its own under `dir`.
async fn test_docker_input(dir: &Path, name: &str, endpoint: &str, extra: &str) -> Output {
    let config =
        format!("[[inputs.docker]]\n  endpoint = \"{endpoint}\"\n  timeout = \"5s\"\n{extra}");
    let dir = dir.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    tokio::task::spawn_blocking(move || run_agent(&dir, &config, &["--test"]))
        .await
        .unwrap()
}

/// The engine metric (`> docker,...`) of a `--test` run that succeeded, with its counts.
fn engine_line(out: &Output) -> String {
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("> docker,") && l.contains("n_containers="))
        .unwrap_or_else(|| panic!("no docker engine metric in {stdout}"));
    assert!(line.contains("n_images="), "{line}");
    line.to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_tcp_endpoint_with_tls_keys_speaks_https_to_the_engine() {
    if !require(&["podman", "nginx", "openssl"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let podman = tokio::task::block_in_place(|| Podman::start(&dir.path().join("podman")));
    let certs = dir.path().join("nginx");
    std::fs::create_dir_all(&certs).unwrap();
    let Some(nginx) =
        tokio::task::block_in_place(|| servers::Nginx::start_for_socket(&certs, &podman.socket))
    else {
        return;
    };
    let endpoint = format!("tcp://127.0.0.1:{}", nginx.https_port);
    let ca = certs.join("ca.pem");

    // tls_ca trusts the test CA: the engine's metrics come through nginx over TLS.
    let out = test_docker_input(
        dir.path(),
        "ca",
        &endpoint,
        &format!("  tls_ca = \"{}\"\n", ca.display()),
    )
    .await;
    let line = engine_line(&out);
    assert!(line.contains("n_containers=0i"), "{line}");

    // Without TLS keys the endpoint is spoken to in plain HTTP, which nginx's TLS port
    // refuses.
    let out = test_docker_input(dir.path(), "plain", &endpoint, "").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("GET /info on {endpoint}: 400")),
        "{stderr}"
    );

    // The system's roots (a TLS key other than tls_ca) do not trust the test CA: the
    // gather fails, naming the endpoint and the certificate.
    let out = test_docker_input(
        dir.path(),
        "system-roots",
        &endpoint,
        "  tls_server_name = \"localhost\"\n",
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("GET /info on {endpoint} (TLS)"))
            && stderr.contains("invalid peer certificate"),
        "{stderr}"
    );

    // insecure_skip_verify accepts the certificate.
    let out = test_docker_input(
        dir.path(),
        "insecure",
        &endpoint,
        "  insecure_skip_verify = true\n",
    )
    .await;
    engine_line(&out);

    // A CA file that cannot be read is a configuration error naming the key.
    let out = test_docker_input(
        dir.path(),
        "missing-ca",
        &endpoint,
        "  tls_ca = \"/nonexistent/ca.pem\"\n",
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("`tls_ca`: cannot read /nonexistent/ca.pem"),
        "{stderr}"
    );

    // The unix socket itself ignores the TLS keys.
    let out = test_docker_input(
        dir.path(),
        "unix",
        &format!("unix://{}", podman.socket.display()),
        &format!("  tls_ca = \"{}\"\n", ca.display()),
    )
    .await;
    engine_line(&out);
}
