//! `inputs.mqtt_consumer` against a real mosquitto broker (user name and password, the
//! password from `$MQTT_PASSWORD` as in the course), writing into a real sluice server:
//! JSON messages with the course's topics, a malformed message that is counted and logged
//! while the others are kept, `--test --test-wait`, and a persistent QoS 1 session that
//! loses nothing across a broker restart, while the agent is stopped, or when it is
//! killed before its output could write; no more than `max_undelivered_messages` read
//! while an output cannot write; a TLS listener read with `tls_ca`.

mod common;
mod servers;
mod service_kit;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::Server;
use service_kit::{Log, MQTT_PASSWORD, Mosquitto, require, terminate, wait_until};

const WAIT: Duration = Duration::from_secs(60);

fn spawn_agent(dir: &Path, config: &str, args: &[&str]) -> (Child, Log) {
    let path = dir.join("agent.conf");
    std::fs::write(&path, config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice-agent"))
        .arg("--config")
        .arg(&path)
        .args(args)
        .env("MQTT_PASSWORD", MQTT_PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let log = Log::collect(child.stderr.take().unwrap());
    (child, log)
}

/// The course's `mqtt_consumer` block (servers pointed at the test broker), plus a topic
/// parsing rule for the room, writing to `bucket`.
fn course_config(broker: &Mosquitto, url: &str) -> String {
    format!(
        r#"
[agent]
  omit_hostname = true
  interval = "1s"
  flush_interval = "500ms"
[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:{port}"]
  topics = ["sensors/+/temperature", "sensors/+/humidity"]
  data_format = "json"
  username = "telegraf"
  password = "$MQTT_PASSWORD"
  tag_keys = ["sensor"]
  [[inputs.mqtt_consumer.topic_parsing]]
    topic = "sensors/+/+"
    tags = "_/room/_"
[[inputs.internal]]
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "iot"
"#,
        port = broker.port
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn json_messages_land_with_telegrafs_names_and_types_and_a_bad_one_is_counted() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_passwd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let broker = Mosquitto::start(&dir.path().join("broker"));
    let (mut agent, log) = spawn_agent(dir.path(), &course_config(&broker, &server.url), &[]);
    tokio::task::block_in_place(|| {
        wait_until("the agent to subscribe", WAIT, || {
            log.count("subscribed") > 0
        });
        broker.publish(
            "sensors/kitchen/temperature",
            1,
            &[
                r#"{"value": 21.5, "sensor": "t1", "unit": "C", "ok": true, "calibration": {"offset": -0.5}}"#.into(),
                r#"{"value": "#.into(),
                r#"{"value": 22, "sensor": "t1"}"#.into(),
            ],
        );
        broker.publish(
            "sensors/hall/humidity",
            1,
            &[r#"{"value": 40, "sensor": "h7"}"#.into()],
        );
        broker.publish("other/hall/humidity", 1, &[r#"{"value": 1}"#.into()]);
    });
    let mut rows = Vec::new();
    for _ in 0..600 {
        if server.tables("iot").contains(&"mqtt_consumer".to_owned()) {
            rows = server.rows("iot", "mqtt_consumer").await;
            if rows.len() >= 3 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The internal counters are written at the next gathers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let code = tokio::task::block_in_place(|| terminate(&mut agent));
    assert_eq!(code, Some(0), "{}", log.text());
    assert_eq!(
        rows.len(),
        3,
        "three good messages, the malformed one dropped: {rows:?}"
    );

    // Names and types as Telegraf's JSON parser documents them: numbers are floats,
    // strings and booleans are dropped unless listed, nested keys are joined with `_`,
    // the topic is a tag, topic_parsing adds `room`.
    let kinds = server.column_kinds("iot", "mqtt_consumer");
    let expected: Vec<(&str, &str)> = vec![
        ("calibration_offset", "float"),
        ("room", "tag"),
        ("sensor", "tag"),
        ("topic", "tag"),
        ("value", "float"),
    ];
    assert_eq!(
        kinds
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect::<Vec<_>>(),
        expected
    );
    let kitchen: Vec<_> = rows.iter().filter(|r| r["room"] == "kitchen").collect();
    assert_eq!(kitchen.len(), 2);
    assert!(
        kitchen
            .iter()
            .all(|r| r["topic"] == "sensors/kitchen/temperature")
    );
    let values: BTreeSet<&str> = rows.iter().map(|r| r["value"].as_str()).collect();
    assert_eq!(values, BTreeSet::from(["21.5", "22.0", "40.0"]));

    // The malformed message was logged and counted as an input error.
    assert_eq!(log.count("cannot parse message"), 1, "{}", log.text());
    let gathers = server.rows("iot", "internal_gather").await;
    let errors: i64 = gathers
        .iter()
        .filter(|r| r["input"] == "mqtt_consumer")
        .map(|r| r["errors"].parse::<i64>().unwrap())
        .max()
        .unwrap();
    assert!(errors >= 1, "{gathers:?}");
    // Telegraf's own counters of the consumer: the four messages of its topics (the
    // malformed one too), and their bytes.
    let published = [
        r#"{"value": 21.5, "sensor": "t1", "unit": "C", "ok": true, "calibration": {"offset": -0.5}}"#,
        r#"{"value": "#,
        r#"{"value": 22, "sensor": "t1"}"#,
        r#"{"value": 40, "sensor": "h7"}"#,
    ];
    let consumer = server.rows("iot", "internal_mqtt_consumer").await;
    let last = consumer
        .iter()
        .max_by_key(|r| r["messages_received"].parse::<i64>().unwrap())
        .expect("internal_mqtt_consumer rows");
    assert_eq!(last["messages_received"], "4", "{consumer:?}");
    let bytes: usize = published.iter().map(|m| m.len()).sum();
    assert_eq!(last["payload_size"], bytes.to_string(), "{consumer:?}");
    server.stop().await;
}

#[test]
fn test_wait_collects_messages_before_printing() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_passwd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker"));
    let config = format!(
        r#"
[agent]
  omit_hostname = true
[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:{port}"]
  topics = ["plant/#"]
  username = "telegraf"
  password = "${{MQTT_PASSWORD}}"
  data_format = "value"
  data_type = "float"
  topic_tag = ""
  [[inputs.mqtt_consumer.topic_parsing]]
    topic = "plant/+/+"
    measurement = "_/_/measurement"
    tags = "_/line/_"
"#,
        port = broker.port
    );
    let (agent, log) = spawn_agent(dir.path(), &config, &["--test", "--test-wait", "15"]);
    wait_until("the agent to subscribe", WAIT, || {
        log.count("subscribed") > 0
    });
    broker.publish("plant/l1/pressure", 0, &["1.5".into(), "2.5".into()]);
    let out = agent.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", log.text());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines: Vec<String> = stdout
        .lines()
        .map(|l| l.rsplit_once(' ').unwrap().0.to_owned())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        vec![
            "> pressure,line=l1 value=1.5",
            "> pressure,line=l1 value=2.5"
        ],
        "{stdout}"
    );
}

#[test]
fn a_tls_broker_is_read_with_the_test_ca_and_refused_without_it() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_passwd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let certs = dir.path().join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    if servers::make_certificates(&certs).is_none() {
        servers::unavailable("openssl is not installed");
        return;
    }
    let broker = Mosquitto::start_with_tls(&dir.path().join("broker"), Some(&certs));
    let config = |tls_keys: &str| {
        format!(
            r#"
[agent]
  omit_hostname = true
  interval = "1s"
[[inputs.mqtt_consumer]]
  servers = ["ssl://127.0.0.1:{port}"]
  topics = ["secure/#"]
  username = "telegraf"
  password = "${{MQTT_PASSWORD}}"
  data_format = "value"
  data_type = "integer"
  {tls_keys}
[[outputs.file]]
  files = ["{out}"]
"#,
            port = broker.tls_port.unwrap(),
            out = dir.path().join("out.lp").display()
        )
    };
    let with_ca = config(&format!("tls_ca = {:?}", certs.join("ca.pem")));
    let (agent, log) = spawn_agent(dir.path(), &with_ca, &["--test", "--test-wait", "15"]);
    wait_until("the agent to subscribe over TLS", WAIT, || {
        log.count("subscribed") > 0
    });
    broker.publish("secure/a", 0, &["7".into()]);
    let out = agent.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", log.text());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("> mqtt_consumer,topic=secure/a value=7i "),
        "{stdout}\n{}",
        log.text()
    );

    // Without the test CA, the system's roots do not vouch for the broker.
    let (mut agent, log) = spawn_agent(dir.path(), &config(""), &[]);
    wait_until("the broker's certificate to be refused", WAIT, || {
        log.count("not connected to the MQTT broker") > 0 && log.text().contains("certificate")
    });
    let code = terminate(&mut agent);
    assert_eq!(code, Some(0), "{}", log.text());
    assert_eq!(log.count("subscribed"), 0, "{}", log.text());
}

fn counter_config(broker: &Mosquitto, url: &str) -> String {
    format!(
        r#"
[agent]
  omit_hostname = true
  interval = "1s"
  flush_interval = "500ms"
[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:{port}"]
  topics = ["counter/#"]
  qos = 1
  client_id = "sluice-agent-persistent-test"
  persistent_session = true
  max_reconnect_interval = "2s"
  username = "telegraf"
  password = "$MQTT_PASSWORD"
  data_format = "value"
  data_type = "integer"
[[outputs.influxdb_v2]]
  urls = ["{url}"]
  bucket = "q"
"#,
        port = broker.port
    )
}

async fn stored_values(server: &Server) -> BTreeSet<i64> {
    if !server.tables("q").contains(&"mqtt_consumer".to_owned()) {
        return BTreeSet::new();
    }
    server
        .rows("q", "mqtt_consumer")
        .await
        .iter()
        .map(|r| r["value"].parse::<i64>().unwrap())
        .collect()
}

async fn wait_for_values(server: &Server, upto: i64) {
    let want: BTreeSet<i64> = (1..=upto).collect();
    for _ in 0..900 {
        if stored_values(server).await.is_superset(&want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = stored_values(server).await;
    panic!(
        "missing values: {:?}",
        want.difference(&got).collect::<Vec<_>>()
    );
}

fn numbers(range: std::ops::RangeInclusive<i64>) -> Vec<String> {
    range.map(|n| n.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_qos1_session_loses_nothing_across_broker_and_agent_restarts() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_passwd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("data"), 0, true).await;
    let mut broker = Mosquitto::start(&dir.path().join("broker"));
    let config = counter_config(&broker, &server.url);
    let (mut agent, log) = spawn_agent(dir.path(), &config, &[]);
    tokio::task::block_in_place(|| {
        wait_until("the agent to subscribe", WAIT, || {
            log.count("subscribed") > 0
        });
        broker.publish("counter/a", 1, &numbers(1..=20));
    });
    wait_for_values(&server, 20).await;

    // The broker restarts; messages are published before the agent is back (its
    // reconnection waits at least a second), so the session must have kept them.
    tokio::task::block_in_place(|| {
        broker.restart();
        broker.publish("counter/a", 1, &numbers(21..=40));
        // Only the connection log line carries `session_present=`.
        wait_until("the agent to reconnect", WAIT, || {
            log.count("session_present=") >= 2
        });
    });
    wait_for_values(&server, 40).await;
    assert!(
        log.count("connection to the MQTT broker lost") >= 1,
        "{}",
        log.text()
    );

    // The agent stops; what is published meanwhile arrives when it starts again.
    let code = tokio::task::block_in_place(|| terminate(&mut agent));
    assert_eq!(code, Some(0), "{}", log.text());
    tokio::task::block_in_place(|| broker.publish("counter/b", 1, &numbers(41..=60)));
    let (mut agent, log) = spawn_agent(dir.path(), &config, &[]);
    wait_for_values(&server, 60).await;
    let code = tokio::task::block_in_place(|| terminate(&mut agent));
    assert_eq!(code, Some(0), "{}", log.text());
    assert!(log.count("session_present=true") >= 1, "{}", log.text());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_session_acknowledges_a_message_only_once_it_is_written() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_passwd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker"));
    // The database is not up yet: every write fails and the messages' metrics wait in
    // the agent's memory buffer.
    let port = service_kit::free_port();
    let config = counter_config(&broker, &format!("http://127.0.0.1:{port}"));
    let (mut agent, log) = spawn_agent(dir.path(), &config, &[]);
    tokio::task::block_in_place(|| {
        wait_until("the agent to subscribe", WAIT, || {
            log.count("subscribed") > 0
        });
        broker.publish("counter/a", 1, &numbers(1..=10));
        wait_until("a write of the messages to fail", WAIT, || {
            log.count("write failed") > 0
        });
    });
    // Killed: nothing written, nothing flushed on the way out. Had the messages been
    // acknowledged on arrival, the broker would have nothing left to send.
    agent.kill().unwrap();
    agent.wait().unwrap();
    let server = Server::start(&dir.path().join("data"), port, true).await;
    let (mut agent, log) = spawn_agent(dir.path(), &config, &[]);
    wait_for_values(&server, 10).await;
    let code = tokio::task::block_in_place(|| terminate(&mut agent));
    assert_eq!(code, Some(0), "{}", log.text());
    assert!(log.count("session_present=true") >= 1, "{}", log.text());
    server.stop().await;
}

#[test]
fn a_missing_broker_is_an_input_error_and_the_agent_keeps_running() {
    let dir = tempfile::tempdir().unwrap();
    let port = service_kit::free_port();
    let config = format!(
        r#"
[agent]
  omit_hostname = true
  interval = "500ms"
[[inputs.mqtt_consumer]]
  servers = ["tcp://127.0.0.1:{port}"]
  topics = ["x"]
  max_reconnect_interval = "1s"
[[inputs.mem]]
[[outputs.file]]
  files = ["{out}"]
"#,
        out = dir.path().join("out.lp").display()
    );
    let (mut agent, log) = spawn_agent(dir.path(), &config, &[]);
    wait_until("gather errors", WAIT, || {
        log.count("not connected to the MQTT broker") >= 2
    });
    wait_until("mem metrics", WAIT, || {
        std::fs::read_to_string(dir.path().join("out.lp"))
            .is_ok_and(|t| t.lines().any(|l| l.starts_with("mem ")))
    });
    assert_eq!(terminate(&mut agent), Some(0), "{}", log.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn no_more_than_max_undelivered_messages_are_handed_on_before_an_output_writes_them() {
    if !require(&["mosquitto", "mosquitto_pub", "mosquitto_passwd"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let broker = Mosquitto::start(&dir.path().join("broker"));
    // The database is down; a file output beside it writes whatever is read, so the
    // file shows how many messages the consumer took from the broker.
    let port = service_kit::free_port();
    let out = dir.path().join("out.lp");
    // A one-second keep-alive: the broker drops a client silent for 1.5 s.
    let config = counter_config(&broker, &format!("http://127.0.0.1:{port}")).replace(
        "  persistent_session = true\n",
        "  persistent_session = true\n  max_undelivered_messages = 3\n  keepalive = \"1s\"\n",
    ) + &format!("[[outputs.file]]\n  files = [\"{}\"]\n", out.display());
    let read = || {
        std::fs::read_to_string(&out)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("mqtt_consumer"))
            .count()
    };
    let (mut agent, log) = spawn_agent(dir.path(), &config, &[]);
    tokio::task::block_in_place(|| {
        wait_until("the agent to subscribe", WAIT, || {
            log.count("subscribed") > 0
        });
        // Mosquitto lets 20 QoS 1 messages be in flight to a client: without the bound
        // all ten would be read at once.
        broker.publish("counter/a", 1, &numbers(1..=10));
        wait_until("three messages written to the file", WAIT, || read() >= 3);
        wait_until("writes to the database to fail", WAIT, || {
            log.count("write failed") >= 2
        });
        // Long enough for the broker to drop a silent client (mosquitto looks at
        // keep-alives every few seconds).
        std::thread::sleep(Duration::from_secs(7));
    });
    assert_eq!(read(), 3, "{}", log.text());
    // Waiting for its outputs, the consumer kept the connection alive: the broker
    // did not drop it (a dropped connection would also send the three again).
    assert_eq!(
        log.count("connection to the MQTT broker lost"),
        0,
        "{}",
        log.text()
    );

    // The database comes up: the three are written, and the rest are read and written.
    let server = Server::start(&dir.path().join("data"), port, true).await;
    wait_for_values(&server, 10).await;
    assert_eq!(read(), 10, "{}", log.text());
    let code = tokio::task::block_in_place(|| terminate(&mut agent));
    assert_eq!(code, Some(0), "{}", log.text());
    // While it waited for its outputs, the consumer kept the connection alive: the
    // broker did not drop it (which would also have sent the three again).
    assert_eq!(
        log.count("connection to the MQTT broker lost"),
        0,
        "{}",
        log.text()
    );
    assert_eq!(
        log.count("connected to the MQTT broker"),
        1,
        "{}",
        log.text()
    );
    server.stop().await;
}
