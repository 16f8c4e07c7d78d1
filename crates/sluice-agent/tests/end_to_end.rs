//! Example configurations run end to end: the real agent binary writes to a real
//! `sluice serve`, and the data is queried back over HTTP.

mod common;

/// `(f_blocks, f_frsize)` of `path`, read with the `stat` command.
fn statfs_blocks(path: &str) -> (u64, u64) {
    let out = std::process::Command::new("stat")
        .args(["-f", "-c", "%b %S", path])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut parts = text.split_whitespace().map(|p| p.parse::<u64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap())
}

use common::{Server, meminfo, run_agent};

#[tokio::test(flavor = "multi_thread")]
async fn minimal_cpu_mem_system_config_lands_in_the_bucket() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let config = format!(
        r#"
[global_tags]
  dc = "${{AGENT_TEST_DC:-lab}}"
[agent]
  hostname = "agent-1"
[[inputs.cpu]]
  percpu = false
[[inputs.mem]]
[[inputs.system]]
[[inputs.disk]]
  mount_points = ["/"]
  ignore_fs = []
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  token = "unused"
  organization = "org"
  bucket = "metrics"
"#,
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
    let mut tables = server.tables("metrics");
    tables.sort();
    assert_eq!(tables, vec!["cpu", "disk", "mem", "system"]);
    let disk = server.rows("metrics", "disk").await;
    assert_eq!(disk[0]["path"], "/");
    let blocks: u64 = {
        let st = statfs_blocks("/");
        st.0 * st.1
    };
    assert_eq!(disk[0]["total"], blocks.to_string());
    let mem = server.rows("metrics", "mem").await;
    assert_eq!(mem.len(), 1);
    assert_eq!(mem[0]["total"], meminfo("MemTotal").to_string());
    assert_eq!(mem[0]["host"], "agent-1");
    assert_eq!(mem[0]["dc"], "lab");
    let cpu = server.rows("metrics", "cpu").await;
    assert_eq!(cpu[0]["cpu"], "cpu-total");
    let idle: f64 = cpu[0]["usage_idle"].parse().unwrap();
    assert!((0.0..=100.0).contains(&idle));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn multiple_outputs_split_metrics_with_namepass_and_namedrop() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let config = format!(
        r#"
[agent]
  omit_hostname = true
[[inputs.mem]]
[[inputs.system]]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "only_mem"
  namepass = ["me?"]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "no_mem"
  namedrop = ["mem"]
  fieldexclude = ["uptime*"]
"#,
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
    assert_eq!(server.tables("only_mem"), vec!["mem"]);
    assert_eq!(server.tables("no_mem"), vec!["system"]);
    let system = server.rows("no_mem", "system").await;
    assert_eq!(
        system.len(),
        1,
        "uptime metrics were emptied and dropped: {system:?}"
    );
    assert!(!system[0].contains_key("uptime"));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_v1_output_creates_its_database_when_the_server_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, false).await;
    let config = format!(
        r#"
[[inputs.mem]]
[[outputs.influxdb]]
  urls = ["{url}"]
  database = "telegraf_v1"
"#,
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
    assert_eq!(server.tables("telegraf_v1"), vec!["mem"]);
    server.stop().await;
}

#[test]
fn once_exits_non_zero_when_the_output_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[[inputs.mem]]
[[outputs.influxdb_v2]]
  urls = ["http://127.0.0.1:9"]
  bucket = "b"
  timeout = "1s"
"#;
    let out = run_agent(dir.path(), config, &["--once"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("write failed"));
}

#[test]
fn test_mode_prints_line_protocol_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let config = r#"
[agent]
  omit_hostname = true
[[inputs.mem]]
  name_override = "memory"
  fieldinclude = ["total"]
  [inputs.mem.tags]
    role = "test"
[[outputs.influxdb_v2]]
  urls = ["http://127.0.0.1:9"]
  bucket = "b"
"#;
    let out = run_agent(dir.path(), config, &["--test"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = format!("> memory,role=test total={}i ", meminfo("MemTotal"));
    assert!(stdout.starts_with(&expected), "{stdout}");
    assert_eq!(stdout.lines().count(), 1);
}

#[test]
fn config_errors_name_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_agent(
        dir.path(),
        "[agent]\n\n[[inputs.mem]]\n  colour = 1\n",
        &["--test"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("agent.conf:4") && stderr.contains("colour"),
        "{stderr}"
    );
    let out = run_agent(dir.path(), "[[inputs.nonesuch]]\n", &["--test"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("agent.conf:1") && stderr.contains("nonesuch"),
        "{stderr}"
    );
}

#[test]
fn an_output_data_format_other_than_influx_is_a_startup_error_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["json", "csv"] {
        let config = format!(
            "[[inputs.mem]]\n[[outputs.file]]\n  files = [\"stdout\"]\n  data_format = \"{format}\"\n"
        );
        let out = run_agent(dir.path(), &config, &["--once"]);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("agent.conf:4") && stderr.contains(format),
            "{stderr}"
        );
    }
}

#[test]
fn a_configuration_without_inputs_or_outputs_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str); 4] = [
        ("[[outputs.file]]\n", &["--once"], "no inputs found"),
        ("[[outputs.file]]\n", &["--test"], "no inputs found"),
        ("[[inputs.mem]]\n", &["--once"], "no outputs found"),
        ("[[inputs.mem]]\n", &[], "no outputs found"),
    ];
    for (config, args, want) in cases {
        let out = run_agent(dir.path(), config, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{config} {args:?}: {stderr}");
        assert!(stderr.contains(want), "{stderr}");
    }
    // --test prints instead of writing, so it needs no output; so does --test-wait, which
    // implies --test as in Telegraf.
    for args in [&["--test"][..], &["--test-wait", "1"]] {
        let out = run_agent(dir.path(), "[[inputs.mem]]\n", args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(String::from_utf8_lossy(&out.stdout).starts_with("> mem"));
    }
}

#[test]
fn metrics_with_empty_or_unusual_tag_values_are_written_with_those_tags_left_out_or_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.json");
    let output = dir.path().join("out.lp");
    std::fs::write(&input, r#"{"v": 1, "role": "", "path": "C:\\"}"#).unwrap();
    let config = format!(
        r#"
[global_tags]
  env = "${{SLUICE_TEST_UNSET_VARIABLE:-}}"
[agent]
  omit_hostname = true
[[inputs.file]]
  files = ["{input}"]
  data_format = "json"
  tag_keys = ["role", "path"]
  name_override = "m"
  [inputs.file.tags]
    team = "a\tb"
[[outputs.file]]
  files = ["{output}"]
"#,
        input = input.display(),
        output = output.display()
    );
    let out = run_agent(dir.path(), &config, &["--once"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("dropping"), "{stderr}");
    let written = std::fs::read_to_string(&output).unwrap();
    assert!(written.starts_with("m,path=C:,team=a\\tb v=1"), "{written}");
}

/// Runs `config` (with `{url}` and `{data}` filled in) once against a fresh server.
async fn once_against_server(config: &str, data: &str) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let data_path = dir.path().join("input.lp");
    std::fs::write(&data_path, data).unwrap();
    let config = config
        .replace("{url}", &server.url)
        .replace("{data}", &data_path.display().to_string());
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
    (server, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn processors_rename_map_and_convert_before_writing() {
    let config = r#"
[agent]
  omit_hostname = true
[[inputs.file]]
  files = ["{data}"]
[[processors.rename]]
  order = 1
  [[processors.rename.replace]]
    measurement = "web"
    dest = "http"
[[processors.enum]]
  order = 2
  [[processors.enum.mapping]]
    fields = ["status"]
    dest = "status_code"
    [processors.enum.mapping.value_mappings]
      up = 1
      down = 0
[[processors.converter]]
  order = 3
  [processors.converter.tags]
    integer = ["port"]
[[processors.regex]]
  order = 4
  [[processors.regex.tags]]
    key = "path"
    pattern = "^/api/(\\w+).*"
    replacement = "${1}"
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "p"
"#;
    let (server, _dir) = once_against_server(
        config,
        "web,port=8080,path=/api/users/7 status=\"up\" 1000\n",
    )
    .await;
    assert_eq!(server.tables("p"), vec!["http"]);
    let rows = server.rows("p", "http").await;
    assert_eq!(rows[0]["status_code"], "1");
    assert_eq!(rows[0]["port"], "8080");
    assert_eq!(rows[0]["path"], "users");
    assert_eq!(rows[0]["status"], "up");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn basicstats_aggregates_and_drops_the_originals() {
    let config = r#"
[agent]
  omit_hostname = true
[[inputs.file]]
  files = ["{data}"]
[[aggregators.basicstats]]
  period = "1h"
  drop_original = true
  stats = ["count", "min", "max", "mean", "sum", "diff", "rate"]
  namepass = ["load"]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "agg"
"#;
    let data = "load,host=a v=1 1000000000\nload,host=a v=3 2000000000\nload,host=a v=8 5000000000\nother x=1 1000\n";
    let (server, _dir) = once_against_server(config, data).await;
    let mut tables = server.tables("agg");
    tables.sort();
    assert_eq!(tables, vec!["load", "other"]);
    let rows = server.rows("agg", "load").await;
    assert_eq!(rows.len(), 1, "only the aggregate is written: {rows:?}");
    let r = &rows[0];
    assert_eq!(r["v_count"], "3.0");
    assert_eq!(r["v_min"], "1.0");
    assert_eq!(r["v_max"], "8.0");
    assert_eq!(r["v_mean"], "4.0");
    assert_eq!(r["v_sum"], "12.0");
    assert_eq!(r["v_diff"], "7.0");
    assert_eq!(r["v_rate"], "1.75");
    assert!(!r.contains_key("v"));
    server.stop().await;
}
