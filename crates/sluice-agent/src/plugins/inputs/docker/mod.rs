//! `inputs.docker`: engine and per-container metrics from the Docker Engine API (or
//! Podman's Docker-compatible API), over a unix socket or TCP (over TLS when the plugin
//! has TLS keys).
//!
//! ```text
//!  gather ─► (own thread, current-thread runtime)
//!            GET /info ─► docker, docker_data, docker_metadata, docker_devicemapper
//!            GET /services, /tasks ─► docker_swarm           (gather_services)
//!            GET /containers/json?all=true ─► name/state/label filters
//!              └─ per container, concurrently:
//!                 GET /containers/{id}/json ─► docker_container_status, _health
//!                 GET /containers/{id}/stats?stream=false ─► _mem, _cpu, _net, _blkio
//! ```

pub mod client;
pub mod metrics;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

use crate::config::ConfigDuration;
use crate::error::{Error, Result};
use crate::filter::glob_match;
use crate::metric::Metric;
use crate::plugins::{Accumulator, Input};
use crate::tls::TlsClientConfig;
use client::{Client, DockerEnv, Endpoint};
use metrics::{Classes, CpuSample};

/// `[[inputs.docker]]`. Defaults are Telegraf's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DockerConfig {
    /// `unix:///path`, `tcp://host:port` (HTTPS when `tls` has any key set) or `ENV`
    /// (`DOCKER_HOST`, with TLS from `DOCKER_CERT_PATH` and `DOCKER_TLS_VERIFY`; see
    /// [`DockerEnv`]). Default: `"unix:///var/run/docker.sock"`.
    pub endpoint: String,
    /// Gather swarm services (`docker_swarm`); only on a manager node. Default: false.
    pub gather_services: bool,
    /// Tag containers with `source`, the first 12 characters of their id. Default: false.
    pub source_tag: bool,
    /// Deprecated: container names to gather (globs); use `container_name_include`.
    /// Default: `[]`.
    pub container_names: Vec<String>,
    /// Container names to gather (globs); all when empty. Default: `[]`.
    pub container_name_include: Vec<String>,
    /// Container names to skip (globs). Default: `[]`.
    pub container_name_exclude: Vec<String>,
    /// Container states to gather (globs); `["running"]` when both state lists are
    /// empty. Default: `[]`.
    pub container_state_include: Vec<String>,
    /// Container states to skip (globs). Default: `[]`.
    pub container_state_exclude: Vec<String>,
    /// Disk usage objects (`docker_disk_usage`): not supported, must stay empty.
    /// Default: `[]`.
    pub storage_objects: Vec<String>,
    /// Timeout of each API request. Default: `"5s"`.
    pub timeout: ConfigDuration,
    /// Deprecated: `true` adds `network` and `blkio` to `perdevice_include`. Default: unset.
    pub perdevice: Option<bool>,
    /// Deprecated: `false` keeps only `cpu` in `total_include`. Default: unset.
    pub total: Option<bool>,
    /// Per-device metrics to emit: `cpu` (cpu0, ...), `blkio` (8:0, ...), `network`
    /// (eth0, ...). Default: `["cpu"]`.
    pub perdevice_include: Vec<String>,
    /// Totals to emit: `cpu`, `blkio`, `network`. Default: `["cpu", "blkio", "network"]`.
    pub total_include: Vec<String>,
    /// Container labels added as tags (globs); all when empty. Default: `[]`.
    pub docker_label_include: Vec<String>,
    /// Container labels not added as tags (globs). Default: `[]`.
    pub docker_label_exclude: Vec<String>,
    /// Container environment variables added as tags. Default: `[]`.
    pub tag_env: Vec<String>,
    /// How long a container's previous CPU reading is kept to compute `usage_percent`
    /// when the engine sends no `precpu_stats` (Podman). Default: `"60s"`.
    pub podman_cache_ttl: ConfigDuration,
    /// Telegraf's client TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
    /// `tls_min_version`, `insecure_skip_verify`), taken out of the plugin's table by
    /// `PluginSpec::parse_with_tls`: any of them set makes a `tcp://` endpoint speak
    /// HTTPS; a `unix://` endpoint does not use them. Default: none (plain HTTP).
    #[serde(skip)]
    pub tls: TlsClientConfig,
}

crate::tls::with_tls!(DockerConfig);

impl Default for DockerConfig {
    fn default() -> Self {
        DockerConfig {
            endpoint: "unix:///var/run/docker.sock".to_owned(),
            gather_services: false,
            source_tag: false,
            container_names: Vec::new(),
            container_name_include: Vec::new(),
            container_name_exclude: Vec::new(),
            container_state_include: Vec::new(),
            container_state_exclude: Vec::new(),
            storage_objects: Vec::new(),
            timeout: ConfigDuration::secs(5),
            perdevice: None,
            total: None,
            perdevice_include: vec!["cpu".to_owned()],
            total_include: vec!["cpu".to_owned(), "blkio".to_owned(), "network".to_owned()],
            docker_label_include: Vec::new(),
            docker_label_exclude: Vec::new(),
            tag_env: Vec::new(),
            podman_cache_ttl: ConfigDuration::secs(60),
            tls: TlsClientConfig::default(),
        }
    }
}

/// Telegraf's include/exclude filter: included when `include` is empty or matches, and
/// `exclude` does not match.
fn include_exclude(include: &[String], exclude: &[String], value: &str) -> bool {
    (include.is_empty() || include.iter().any(|p| glob_match(p, value)))
        && !exclude.iter().any(|p| glob_match(p, value))
}

/// What every container task needs.
#[derive(Debug)]
struct Settings {
    config: DockerConfig,
    state_include: Vec<String>,
    perdevice: Classes,
    total: Classes,
}

/// What one collection found: metrics, per-container errors, new CPU readings.
type Collected = (Vec<Metric>, Vec<String>, Vec<(String, CpuSample)>);

/// The `docker` input.
#[derive(Debug)]
pub struct Docker {
    endpoint: Endpoint,
    /// The TLS configuration of a `tcp://` endpoint, when any TLS key is set.
    tls: Option<rustls::ClientConfig>,
    settings: Arc<Settings>,
    /// The last CPU reading of each container, for engines without `precpu_stats`.
    cpu_cache: HashMap<String, (CpuSample, Instant)>,
}

impl Docker {
    /// A docker input; `endpoint = "ENV"` reads the process's environment. The TLS keys
    /// are checked (and their files read) here, whatever the endpoint, as Telegraf does;
    /// they are used only for a `tcp://` endpoint.
    ///
    /// # Errors
    /// A message about an invalid key; for a TLS key, one naming the key (and the file
    /// that cannot be read or parsed).
    pub fn new(config: DockerConfig) -> std::result::Result<Docker, String> {
        Docker::with_env(config, &DockerEnv::read())
    }

    /// A docker input whose `endpoint = "ENV"` reads `env`: the endpoint is `DOCKER_HOST`
    /// (else the default socket), and when `DOCKER_CERT_PATH` or `DOCKER_TLS_VERIFY` is
    /// set, its TLS keys are those of [`DockerEnv::tls`] (the plugin may then set none of
    /// its own).
    ///
    /// # Errors
    /// As [`Docker::new`]; a TLS file of the environment's certificate directory that
    /// cannot be read is an error naming the variable and the file.
    pub fn with_env(config: DockerConfig, env: &DockerEnv) -> std::result::Result<Docker, String> {
        let from_env = config.endpoint == "ENV";
        let (address, env_tls) = if from_env {
            (env.endpoint(), env.tls())
        } else {
            (config.endpoint.as_str(), None)
        };
        let endpoint = Endpoint::parse(address).map_err(|e| {
            if from_env {
                format!("`endpoint` = \"ENV\": DOCKER_HOST: {e}")
            } else {
                format!("`endpoint`: {e}")
            }
        })?;
        // The environment's keys, and what its errors are prefixed with.
        let (tls_keys, source) = match env_tls {
            Some(_) if config.tls != TlsClientConfig::default() => {
                return Err(
                    "`endpoint` = \"ENV\": DOCKER_CERT_PATH or DOCKER_TLS_VERIFY gives the TLS \
                     settings, so the plugin's TLS keys cannot be set too; remove them or \
                     unset the variables"
                        .to_owned(),
                );
            }
            Some(env_tls) => {
                let variable = if env.cert_path.is_some() {
                    "DOCKER_CERT_PATH"
                } else {
                    "DOCKER_TLS_VERIFY (certificates in $HOME/.docker)"
                };
                let dir = env.cert_dir().unwrap_or_default();
                let source = format!(
                    "`endpoint` = \"ENV\": {variable}: the certificates of {}: ",
                    dir.display()
                );
                (env_tls, source)
            }
            None => (config.tls.clone(), String::new()),
        };
        let located = |err: String| format!("{source}{err}");
        // `options` refuses `tls_key_pwd` even when no other key is set.
        tls_keys.options().map_err(located)?;
        let tls = if tls_keys.is_set() {
            let tls = tls_keys.rustls_config().map_err(located)?;
            if let Endpoint::Unix(path) = &endpoint {
                tracing::debug!(
                    input = "docker",
                    "TLS keys are not used for the unix socket {path}"
                );
            }
            Some(tls)
        } else {
            None
        };
        let mut perdevice = Classes::parse(&config.perdevice_include, "perdevice_include")?;
        let mut total = Classes::parse(&config.total_include, "total_include")?;
        // The deprecated switches, as Telegraf applied them before removing them.
        if config.perdevice == Some(true) {
            perdevice.network = true;
            perdevice.blkio = true;
        }
        if config.total == Some(false) {
            total = Classes {
                cpu: total.cpu,
                ..Classes::default()
            };
        }
        if !config.storage_objects.is_empty() {
            return Err("`storage_objects` (docker_disk_usage) is not supported".to_owned());
        }
        let state_include = if config.container_state_include.is_empty()
            && config.container_state_exclude.is_empty()
        {
            vec!["running".to_owned()]
        } else {
            config.container_state_include.clone()
        };
        Ok(Docker {
            endpoint,
            tls,
            settings: Arc::new(Settings {
                config,
                state_include,
                perdevice,
                total,
            }),
            cpu_cache: HashMap::new(),
        })
    }

    /// One collection: metrics, per-container errors, and the new CPU readings.
    fn collect(&self, now: i64) -> std::result::Result<Collected, String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start a runtime: {e}"))?;
        let client = Client::new(
            &self.endpoint,
            self.settings.config.timeout.0,
            self.tls.as_ref(),
        )?;
        let previous: HashMap<String, CpuSample> = self
            .cpu_cache
            .iter()
            .map(|(id, (sample, _))| (id.clone(), *sample))
            .collect();
        runtime.block_on(gather_all(client, self.settings.clone(), previous, now))
    }
}

async fn gather_all(
    client: Client,
    settings: Arc<Settings>,
    previous: HashMap<String, CpuSample>,
    now: i64,
) -> std::result::Result<Collected, String> {
    let mut out = Vec::new();
    let mut errors = Vec::new();
    let info = client.get("/info").await?;
    let text = |key: &str| {
        info.get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    let engine_tags = BTreeMap::from([
        ("engine_host".to_owned(), text("Name")),
        ("server_version".to_owned(), text("ServerVersion")),
    ]);
    out.extend(metrics::engine_metrics(&info, &engine_tags, now));
    if settings.config.gather_services {
        match swarm_metrics(&client, now).await {
            Ok(metrics) => out.extend(metrics),
            Err(err) => errors.push(err),
        }
    }
    let list = client
        .get("/containers/json?all=true")
        .await
        .map_err(|e| format!("listing containers failed: {e}"))?;
    let mut tasks = tokio::task::JoinSet::new();
    for container in list.as_array().cloned().unwrap_or_default() {
        let Some(tags) = container_tags(&settings, &container, &engine_tags) else {
            continue;
        };
        let id = container
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let running = container.get("State").and_then(Value::as_str) == Some("running");
        let client = client.clone();
        let settings = settings.clone();
        let previous = previous.get(&id).copied();
        tasks.spawn(async move {
            gather_container(&client, &settings, id, tags, running, previous, now).await
        });
    }
    let mut samples = Vec::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(result) => {
                out.extend(result.metrics);
                errors.extend(result.errors);
                samples.extend(result.sample);
            }
            Err(err) => errors.push(format!("a container gather failed: {err}")),
        }
    }
    Ok((out, errors, samples))
}

/// The tags of a listed container, or `None` when the name/state filters skip it.
fn container_tags(
    settings: &Settings,
    container: &Value,
    engine_tags: &BTreeMap<String, String>,
) -> Option<BTreeMap<String, String>> {
    let config = &settings.config;
    let name = container
        .get("Names")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|n| n.trim_start_matches('/'))
        .find(|n| !n.contains('/'))?
        .to_owned();
    let include: Vec<String> = config
        .container_name_include
        .iter()
        .chain(&config.container_names)
        .cloned()
        .collect();
    let state = container.get("State").and_then(Value::as_str).unwrap_or("");
    if name.is_empty()
        || !include_exclude(&include, &config.container_name_exclude, &name)
        || !include_exclude(
            &settings.state_include,
            &config.container_state_exclude,
            state,
        )
    {
        return None;
    }
    let image = container.get("Image").and_then(Value::as_str).unwrap_or("");
    let (image_name, image_version) = metrics::parse_image(image);
    let mut tags = engine_tags.clone();
    tags.insert("container_name".to_owned(), name);
    tags.insert("container_image".to_owned(), image_name);
    tags.insert("container_version".to_owned(), image_version);
    if config.source_tag {
        let id = container.get("Id").and_then(Value::as_str).unwrap_or("");
        tags.insert("source".to_owned(), id.chars().take(12).collect());
    }
    if let Some(labels) = container.get("Labels").and_then(Value::as_object) {
        for (key, value) in labels {
            if include_exclude(
                &config.docker_label_include,
                &config.docker_label_exclude,
                key,
            ) && let Some(value) = value.as_str()
            {
                tags.insert(key.clone(), value.to_owned());
            }
        }
    }
    Some(tags)
}

/// What one container's gather found.
struct ContainerResult {
    metrics: Vec<Metric>,
    errors: Vec<String>,
    sample: Option<(String, CpuSample)>,
}

async fn gather_container(
    client: &Client,
    settings: &Settings,
    id: String,
    mut tags: BTreeMap<String, String>,
    running: bool,
    previous: Option<CpuSample>,
    now: i64,
) -> ContainerResult {
    let mut result = ContainerResult {
        metrics: Vec::new(),
        errors: Vec::new(),
        sample: None,
    };
    let inspect = match client.get(&format!("/containers/{id}/json")).await {
        Ok(inspect) => inspect,
        Err(err) => {
            result
                .errors
                .push(format!("inspecting container failed: {err}"));
            return result;
        }
    };
    for wanted in &settings.config.tag_env {
        let env = inspect
            .get("Config")
            .and_then(|c| c.get("Env"))
            .and_then(Value::as_array);
        for entry in env.into_iter().flatten().filter_map(Value::as_str) {
            if let Some((key, value)) = entry.split_once('=')
                && key == wanted
                && !value.trim().is_empty()
            {
                tags.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    if let Some(status) = inspect
        .get("State")
        .and_then(|s| s.get("Status"))
        .and_then(Value::as_str)
    {
        tags.insert("container_status".to_owned(), status.to_owned());
    }
    result
        .metrics
        .extend(metrics::state_metrics(&inspect, &tags, &id, now));
    if !running {
        return result; // a stopped container has no stats
    }
    match client
        .get(&format!("/containers/{id}/stats?stream=false"))
        .await
    {
        Ok(stats) => {
            result.metrics.extend(metrics::stats_metrics(
                &stats,
                &tags,
                &id,
                now,
                settings.perdevice,
                settings.total,
                previous,
            ));
            let sample = CpuSample::of(stats.get("cpu_stats").unwrap_or(&Value::Null));
            result.sample = Some((id, sample));
        }
        Err(err) => result
            .errors
            .push(format!("getting container stats failed: {err}")),
    }
    result
}

/// `docker_swarm`: desired and running tasks of each service.
async fn swarm_metrics(client: &Client, now: i64) -> std::result::Result<Vec<Metric>, String> {
    let services = client
        .get("/services")
        .await
        .map_err(|e| format!("getting service list failed: {e}"))?;
    let services = services.as_array().cloned().unwrap_or_default();
    if services.is_empty() {
        return Ok(Vec::new());
    }
    let tasks = client
        .get("/tasks")
        .await
        .map_err(|e| format!("getting task list failed: {e}"))?;
    let mut running: HashMap<String, i64> = HashMap::new();
    let mut not_shutdown: HashMap<String, i64> = HashMap::new();
    for task in tasks.as_array().into_iter().flatten() {
        let service = task
            .get("ServiceID")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if task.get("DesiredState").and_then(Value::as_str) != Some("shutdown") {
            *not_shutdown.entry(service.clone()).or_default() += 1;
        }
        if task
            .get("Status")
            .and_then(|s| s.get("State"))
            .and_then(Value::as_str)
            == Some("running")
        {
            *running.entry(service).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for service in services {
        let id = service
            .get("ID")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let spec = service.get("Spec").cloned().unwrap_or(Value::Null);
        let mode = spec.get("Mode").cloned().unwrap_or(Value::Null);
        let mut m = Metric::new("docker_swarm", now)
            .with_tag("service_id", id.clone())
            .with_tag(
                "service_name",
                spec.get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
            );
        let running = running.get(&id).copied().unwrap_or(0);
        if let Some(replicas) = mode.get("Replicated").and_then(|r| r.get("Replicas")) {
            m = m.with_tag("service_mode", "replicated");
            m.set_field("tasks_running", running);
            m.set_field("tasks_desired", metrics::int(replicas).unwrap_or(0));
        } else if mode.get("Global").is_some() {
            m = m.with_tag("service_mode", "global");
            m.set_field("tasks_running", running);
            m.set_field("tasks_desired", not_shutdown.get(&id).copied().unwrap_or(0));
        } else if let Some(job) = mode.get("ReplicatedJob") {
            m = m.with_tag("service_mode", "replicated_job");
            m.set_field("tasks_running", running);
            if let Some(v) = job.get("MaxConcurrent").and_then(metrics::int) {
                m.set_field("max_concurrent", v);
            }
            if let Some(v) = job.get("TotalCompletions").and_then(metrics::int) {
                m.set_field("total_completions", v);
            }
        } else if mode.get("GlobalJob").is_some() {
            m = m.with_tag("service_mode", "global_job");
            m.set_field("tasks_running", running);
        } else {
            continue;
        }
        out.push(m);
    }
    Ok(out)
}

impl Input for Docker {
    fn gather(&mut self, acc: &mut Accumulator) -> Result<()> {
        let now = acc.time();
        // The requests run on a thread of their own with a runtime of their own, so a
        // gather works both from an input thread and from within the agent's runtime.
        let this = &*self;
        let collected = std::thread::scope(|scope| {
            scope
                .spawn(|| this.collect(now))
                .join()
                .unwrap_or_else(|_| Err("the docker gather panicked".to_owned()))
        });
        let (metrics, errors, samples) = collected.map_err(|message| Error::Gather {
            plugin: "docker".to_owned(),
            message,
        })?;
        metrics.into_iter().for_each(|m| acc.add(m));
        errors.into_iter().for_each(|e| acc.add_error(e));
        let at = Instant::now();
        for (id, sample) in samples {
            self.cpu_cache.insert(id, (sample, at));
        }
        let ttl = self.settings.config.podman_cache_ttl.0;
        if !ttl.is_zero() {
            self.cpu_cache.retain(|_, (_, when)| {
                at.duration_since(*when) <= ttl.max(Duration::from_millis(1))
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_course_keys_map_to_telegraf_include_lists() {
        let docker = Docker::new(DockerConfig {
            perdevice: Some(true),
            total: Some(false),
            ..DockerConfig::default()
        })
        .unwrap();
        let all = Classes {
            cpu: true,
            blkio: true,
            network: true,
        };
        assert_eq!(docker.settings.perdevice, all);
        assert_eq!(
            docker.settings.total,
            Classes {
                cpu: true,
                ..Classes::default()
            }
        );
        let defaults = Docker::new(DockerConfig::default()).unwrap();
        assert_eq!(
            defaults.settings.perdevice,
            Classes {
                cpu: true,
                ..Classes::default()
            }
        );
        assert_eq!(defaults.settings.total, all);
        assert!(
            Docker::new(DockerConfig {
                perdevice_include: vec!["disk".into()],
                ..DockerConfig::default()
            })
            .is_err()
        );
        assert!(
            Docker::new(DockerConfig {
                endpoint: "ssh://host".into(),
                ..DockerConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn endpoint_env_takes_the_address_and_tls_from_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let ca = crate::tls::test_pki::Ca::new("docker CA");
        ca.write(dir.path(), "ca");
        let (cert, key) = ca.issue(dir.path(), "client");
        std::fs::rename(cert, dir.path().join("cert.pem")).unwrap();
        std::fs::rename(key, dir.path().join("key.pem")).unwrap();
        let env_config = |tls: TlsClientConfig| DockerConfig {
            endpoint: "ENV".into(),
            tls,
            ..DockerConfig::default()
        };
        let tcp = DockerEnv {
            host: Some("tcp://127.0.0.1:2376".into()),
            ..DockerEnv::default()
        };
        // DOCKER_HOST alone: plain HTTP to it, or the plugin's TLS keys.
        let plain = Docker::with_env(env_config(TlsClientConfig::default()), &tcp).unwrap();
        assert_eq!(plain.endpoint, Endpoint::Tcp("127.0.0.1:2376".into()));
        assert!(plain.tls.is_none());
        let skip = TlsClientConfig {
            insecure_skip_verify: true,
            ..TlsClientConfig::default()
        };
        assert!(
            Docker::with_env(env_config(skip.clone()), &tcp)
                .unwrap()
                .tls
                .is_some()
        );
        // No DOCKER_HOST: the default socket.
        let default = Docker::with_env(
            env_config(TlsClientConfig::default()),
            &DockerEnv::default(),
        )
        .unwrap();
        assert_eq!(
            default.endpoint,
            Endpoint::Unix("/var/run/docker.sock".into())
        );

        // DOCKER_CERT_PATH and DOCKER_TLS_VERIFY: TLS with the directory's files.
        let verified = DockerEnv {
            cert_path: Some(dir.path().display().to_string()),
            tls_verify: Some("1".into()),
            ..tcp.clone()
        };
        let docker = Docker::with_env(env_config(TlsClientConfig::default()), &verified).unwrap();
        assert!(docker.tls.is_some());
        // The plugin's keys and the environment's cannot both be set.
        let err = Docker::with_env(env_config(skip), &verified).unwrap_err();
        assert!(
            err.starts_with("`endpoint` = \"ENV\": DOCKER_CERT_PATH or"),
            "{err}"
        );
        // A missing file names the variable, the directory and the file.
        std::fs::remove_file(dir.path().join("ca.pem")).unwrap();
        let err = Docker::with_env(env_config(TlsClientConfig::default()), &verified).unwrap_err();
        let ca_pem = dir.path().join("ca.pem");
        assert!(
            err.starts_with("`endpoint` = \"ENV\": DOCKER_CERT_PATH: the certificates of "),
            "{err}"
        );
        assert!(
            err.contains(&format!("cannot read {}", ca_pem.display())),
            "{err}"
        );
        // Without DOCKER_TLS_VERIFY the engine is not checked, so ca.pem is not needed.
        let unverified = DockerEnv {
            tls_verify: None,
            ..verified
        };
        assert!(
            Docker::with_env(env_config(TlsClientConfig::default()), &unverified)
                .unwrap()
                .tls
                .is_some()
        );
        let err = Docker::with_env(
            env_config(TlsClientConfig::default()),
            &DockerEnv {
                host: Some("ssh://host".into()),
                ..DockerEnv::default()
            },
        )
        .unwrap_err();
        assert!(
            err.starts_with("`endpoint` = \"ENV\": DOCKER_HOST: "),
            "{err}"
        );
    }

    #[test]
    fn tls_keys_are_checked_at_start_and_kept_for_tcp() {
        let with_tls = |endpoint: &str, tls: TlsClientConfig| {
            Docker::new(DockerConfig {
                endpoint: endpoint.to_owned(),
                tls,
                ..DockerConfig::default()
            })
        };
        let skip = TlsClientConfig {
            insecure_skip_verify: true,
            ..TlsClientConfig::default()
        };
        assert!(
            with_tls("tcp://127.0.0.1:2376", skip.clone())
                .unwrap()
                .tls
                .is_some()
        );
        assert!(
            with_tls("tcp://127.0.0.1:2375", TlsClientConfig::default())
                .unwrap()
                .tls
                .is_none()
        );
        // A unix socket does not use the keys, but they are checked all the same.
        assert!(with_tls("unix:///run/docker.sock", skip).is_ok());
        let missing = TlsClientConfig {
            tls_ca: Some("/nonexistent/ca.pem".into()),
            ..TlsClientConfig::default()
        };
        let err = with_tls("unix:///run/docker.sock", missing).unwrap_err();
        assert!(
            err.starts_with("`tls_ca`: cannot read /nonexistent/ca.pem"),
            "{err}"
        );
        let password = TlsClientConfig {
            tls_key_pwd: Some("secret".into()),
            ..TlsClientConfig::default()
        };
        let err = with_tls("tcp://127.0.0.1:2376", password).unwrap_err();
        assert!(err.starts_with("`tls_key_pwd`"), "{err}");
    }

    #[test]
    fn name_state_and_label_filters_pick_containers_and_tags() {
        let settings = |config: DockerConfig| Docker::new(config).unwrap().settings;
        let container = json!({"Id": "0123456789abcdef", "Names": ["/web"], "Image": "nginx:1.25",
                               "State": "running", "Labels": {"app": "shop", "com.docker.compose.x": "1"}});
        let engine = BTreeMap::from([("engine_host".to_owned(), "h".to_owned())]);
        let tags = container_tags(
            &settings(DockerConfig {
                docker_label_exclude: vec!["com.docker.*".into()],
                source_tag: true,
                ..DockerConfig::default()
            }),
            &container,
            &engine,
        )
        .unwrap();
        assert_eq!(tags["container_name"], "web");
        assert_eq!(tags["container_image"], "nginx");
        assert_eq!(tags["container_version"], "1.25");
        assert_eq!(tags["source"], "0123456789ab");
        assert_eq!(tags["app"], "shop");
        assert!(!tags.contains_key("com.docker.compose.x"));
        let skipped = |config| container_tags(&settings(config), &container, &engine).is_none();
        assert!(skipped(DockerConfig {
            container_name_exclude: vec!["w*".into()],
            ..DockerConfig::default()
        }));
        assert!(skipped(DockerConfig {
            container_name_include: vec!["db".into()],
            ..DockerConfig::default()
        }));
        assert!(skipped(DockerConfig {
            container_state_include: vec!["exited".into()],
            ..DockerConfig::default()
        }));
        assert!(!skipped(DockerConfig::default()));
    }
}
