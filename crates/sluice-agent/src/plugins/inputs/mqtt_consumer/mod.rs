//! `inputs.mqtt_consumer`: subscribes to MQTT topics (MQTT 3.1.1, via rumqttc) and parses
//! each message with the configured data format. A service input: messages arrive between
//! gathers. The connection is retried with a doubling back-off (capped by
//! `max_reconnect_interval`); with `persistent_session = true` and `qos` 1 or 2 the broker
//! keeps what was published while the agent was away and delivers it on reconnection.
//! In such a session a message is acknowledged only once its metrics are written by the
//! outputs (or saved in a disk buffer, or dropped by a filter or a full buffer; see
//! [`crate::delivery`]), in the order messages arrived, as Telegraf does: an agent killed
//! before writing leaves the message with the broker, which sends it again. Otherwise
//! (QoS 0, or no persistent session) messages are acknowledged once parsed.
//!
//! ```text
//!  broker ──► rumqttc event loop (tokio task) ──► parser ──► topic tag, topic_parsing ──► sink
//!               │  reconnects with back-off              └─ bad payload: logged, counted, acked
//!               ├─ connection state ──► gather() reports "not connected" errors
//!               └─ acks, in arrival order ◄── done(id) ◄── last metric of a message written
//! ```

pub mod topic_parsing;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, Publish, QoS};
use serde::Deserialize;

use crate::config::ConfigDuration;
use crate::delivery::Delivery;
use crate::error::{Error, Result};
use crate::metric::now_nanos;
use crate::parsers::DataParser;
use crate::plugins::{Accumulator, Input, MetricSink};
use crate::stats::{Counter, InputStats, Stats};
use crate::tls::TlsClientConfig;
use topic_parsing::{TopicParser, TopicParsingConfig};

/// `[[inputs.mqtt_consumer]]` (the data-format keys are in
/// [`crate::parsers::ParserConfig`]). Defaults are Telegraf's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqttConsumerConfig {
    /// Brokers, `tcp://host:port` (or `mqtt://`, or `host:port`); tried in turn.
    /// Default: `["tcp://127.0.0.1:1883"]`.
    pub servers: Vec<String>,
    /// Topic filters to subscribe to (`+` one level, `#` the rest). Default: `[]`.
    pub topics: Vec<String>,
    /// The tag holding the message's topic; `""` adds none. Default: `"topic"`.
    pub topic_tag: Option<String>,
    /// Subscription QoS: 0, 1 or 2. Default: 0.
    pub qos: u8,
    /// Time allowed to establish a connection. Default: `"30s"`.
    pub connection_timeout: ConfigDuration,
    /// The longest wait between reconnection attempts (the wait starts at 1 s and
    /// doubles). Default: `"30s"`.
    pub max_reconnect_interval: ConfigDuration,
    /// MQTT keep-alive interval (whole seconds). Default: `"60s"`.
    pub keepalive: ConfigDuration,
    /// Accepted for compatibility; the client detects a dead connection from the
    /// keep-alive alone. Default: `"10s"`.
    pub ping_timeout: ConfigDuration,
    /// Messages handed on and not yet written (or dropped) by every output that took
    /// their metrics, at most: at this many the consumer holds what the broker sends
    /// until some are written (QoS 1/2 messages are bounded by the broker's in-flight
    /// limit, since held ones are not acknowledged; after as many QoS 0 messages again
    /// it stops reading). The connection stays alive meanwhile. It also sizes the
    /// client's queues. Default: 1000.
    pub max_undelivered_messages: usize,
    /// Keep the session (subscriptions and queued QoS 1/2 messages) on the broker across
    /// disconnections; needs `client_id`. Default: false.
    pub persistent_session: bool,
    /// The MQTT client id; empty means a random `Telegraf-Consumer-…` id. Default: `""`.
    pub client_id: String,
    /// User name for the broker. Default: `""` (none).
    pub username: String,
    /// Password for the broker (environment variables such as `$MQTT_PASSWORD` are
    /// expanded by the configuration loader). Default: `""`.
    pub password: String,
    /// Log every MQTT packet at debug level. Default: false.
    pub client_trace: bool,
    /// Telegraf's client TLS keys (`tls_ca`, `tls_cert`, `tls_key`, `tls_server_name`,
    /// `tls_min_version`, `insecure_skip_verify`), taken out of the plugin's table by
    /// `PluginSpec::parse_with_tls`. Default: none (the system's roots).
    #[serde(skip)]
    pub tls: TlsClientConfig,
    /// Topic parsing rules.
    pub topic_parsing: Vec<TopicParsingConfig>,
}

crate::tls::with_tls!(MqttConsumerConfig);

impl Default for MqttConsumerConfig {
    fn default() -> Self {
        MqttConsumerConfig {
            servers: vec!["tcp://127.0.0.1:1883".to_owned()],
            topics: Vec::new(),
            topic_tag: None,
            qos: 0,
            connection_timeout: ConfigDuration::secs(30),
            max_reconnect_interval: ConfigDuration::secs(30),
            keepalive: ConfigDuration::secs(60),
            ping_timeout: ConfigDuration::secs(10),
            max_undelivered_messages: 1000,
            persistent_session: false,
            client_id: String::new(),
            username: String::new(),
            password: String::new(),
            client_trace: false,
            tls: TlsClientConfig::default(),
            topic_parsing: Vec::new(),
        }
    }
}

/// A broker address.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Server {
    host: String,
    port: u16,
    /// Over TLS (`ssl://`, `tls://`, `mqtts://`).
    tls: bool,
}

impl Server {
    fn parse(url: &str) -> std::result::Result<Server, String> {
        let (rest, tls) = match url.split_once("://") {
            Some(("tcp" | "mqtt", rest)) => (rest, false),
            Some(("ssl" | "tls" | "mqtts", rest)) => (rest, true),
            Some((scheme, _)) => {
                return Err(format!(
                    "server {url:?}: scheme {scheme:?} is not supported (use tcp://, mqtt://, or ssl://, tls://, mqtts:// for TLS; websockets are not implemented)"
                ));
            }
            None => (url, false),
        };
        let rest = rest.trim_end_matches('/');
        let default_port = if tls { 8883 } else { 1883 };
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => (
                host,
                port.parse::<u16>()
                    .map_err(|_| format!("server {url:?}: bad port {port:?}"))?,
            ),
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("server {url:?} has no host"));
        }
        Ok(Server {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

/// The connection as the gather sees it.
#[derive(Debug, Default)]
struct Connection {
    connected: bool,
    /// The last connection error, while disconnected.
    error: Option<String>,
}

/// Telegraf's `internal_mqtt_consumer` counters.
#[derive(Debug, Clone)]
struct Counters {
    /// Messages received from the broker.
    messages_received: Arc<Counter>,
    /// Bytes of their payloads.
    payload_size: Arc<Counter>,
}

/// What the event-loop task needs.
struct Worker {
    name: String,
    config: MqttConsumerConfig,
    servers: Vec<Server>,
    client_id: String,
    qos: QoS,
    parser: DataParser,
    topic_tag: String,
    topic_parsers: Vec<TopicParser>,
    sink: MetricSink,
    stats: Arc<InputStats>,
    counters: Counters,
    state: Arc<Mutex<Connection>>,
    /// The TLS configuration of `ssl://` brokers, built once.
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Worker {
    fn options(&self, server: &Server) -> MqttOptions {
        let mut options =
            MqttOptions::new(self.client_id.clone(), server.host.clone(), server.port);
        options.set_clean_session(!self.config.persistent_session);
        options.set_manual_acks(true);
        let keepalive = self.config.keepalive.0.as_secs();
        options.set_keep_alive(Duration::from_secs(if keepalive == 0 {
            0
        } else {
            keepalive.max(1)
        }));
        options.set_inflight(
            u16::try_from(self.config.max_undelivered_messages.clamp(1, 65_535))
                .unwrap_or(u16::MAX),
        );
        options.set_max_packet_size(256 << 20, 256 << 20);
        if server.tls
            && let Some(tls) = &self.tls
        {
            options.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls.clone()),
            ));
        }
        if !self.config.username.is_empty() || !self.config.password.is_empty() {
            options.set_credentials(self.config.username.clone(), self.config.password.clone());
        }
        options
    }

    fn connect(&self, server: &Server) -> (AsyncClient, EventLoop) {
        let cap = self.config.max_undelivered_messages.clamp(10, 65_535);
        let (client, mut eventloop) = AsyncClient::new(self.options(server), cap);
        let mut network = eventloop.network_options();
        network.set_connection_timeout(self.config.connection_timeout.0.as_secs().max(1));
        eventloop.set_network_options(network);
        (client, eventloop)
    }

    fn set_state(&self, connected: bool, error: Option<String>) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.connected = connected;
        state.error = error;
    }

    /// Parses one message and hands its metrics on, each carrying `delivery` when the
    /// message waits for them to be written; a bad payload is logged and counted.
    fn handle(&self, topic: &str, payload: &[u8], delivery: Option<Delivery>) {
        let metrics = match self.parser.parse(payload, now_nanos()) {
            Ok(metrics) => metrics,
            Err(err) => {
                self.stats.errors.add(1);
                tracing::error!(input = %self.name, topic, "cannot parse message: {err}");
                return;
            }
        };
        let mut out = Vec::with_capacity(metrics.len());
        for mut metric in metrics {
            if !self.topic_tag.is_empty() {
                metric.tags.insert(self.topic_tag.clone(), topic.to_owned());
            }
            for parser in &self.topic_parsers {
                if let Err(err) = parser.apply(&mut metric, topic) {
                    self.stats.errors.add(1);
                    tracing::error!(input = %self.name, topic, "topic_parsing: {err}");
                    return;
                }
            }
            metric.delivery.clone_from(&delivery);
            out.push(metric);
        }
        if !out.is_empty() {
            (self.sink)(out);
        }
    }

    /// Sends the acknowledgements of `publishes`, in order.
    fn acknowledge(&self, client: &AsyncClient, publishes: impl Iterator<Item = Publish>) {
        for publish in publishes {
            if let Err(err) = client.try_ack(&publish) {
                tracing::warn!(input = %self.name, "cannot acknowledge a message: {err}");
            }
        }
    }

    /// Hands a message's metrics on. Every message counts in `unacked` until its
    /// metrics are written; with `track` (a persistent session), a QoS 1/2 message is
    /// acknowledged then, otherwise now. A packet that came on an earlier connection
    /// (`ackable` false) is not acknowledged: its id means nothing to the broker now.
    fn take(
        &self,
        client: &AsyncClient,
        publish: Publish,
        ackable: bool,
        track: bool,
        unacked: &mut Unacked,
        done_tx: &tokio::sync::mpsc::UnboundedSender<u64>,
    ) {
        let needs_ack = ackable && publish.qos != QoS::AtMostOnce;
        let wait_for_write = track && needs_ack;
        let id = unacked.track(wait_for_write.then(|| publish.clone()));
        let delivery = Delivery::new(id, done_tx.clone());
        self.handle(&publish.topic, &publish.payload, Some(delivery));
        if needs_ack && !wait_for_write {
            self.acknowledge(client, std::iter::once(publish));
        }
    }

    async fn run(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut index = 0;
        let mut backoff = Duration::from_secs(1);
        let (mut client, mut eventloop) = self.connect(&self.servers[index]);
        // Messages of a persistent session wait for their metrics to be written.
        let track = self.config.persistent_session && self.qos != QoS::AtMostOnce;
        let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
        let mut unacked = Unacked::default();
        let mut held = Held::default();
        let max_undelivered = self.config.max_undelivered_messages.max(1);
        loop {
            // With `max_undelivered_messages` handed on and not yet written, what the
            // broker sends is held until an output writes (or drops) some. The event
            // loop keeps running meanwhile, so keep-alive pings go out and the broker
            // does not drop the connection.
            if unacked.len() < max_undelivered
                && let Some((publish, ackable)) = held.pop()
            {
                self.take(&client, publish, ackable, track, &mut unacked, &done_tx);
                continue;
            }
            let event = tokio::select! {
                event = eventloop.poll(), if held.has_room(max_undelivered) => event,
                Some(id) = done_rx.recv() => {
                    self.acknowledge(&client, unacked.done(id));
                    continue;
                }
                _ = stop.changed() => break,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    // Messages of an earlier connection are sent again by the broker
                    // (packet ids may be reused): they are no longer acknowledged here.
                    unacked.forget();
                    held.forget();
                    backoff = Duration::from_secs(1);
                    let server = &self.servers[index];
                    tracing::info!(input = %self.name, host = %server.host, port = server.port, session_present = ack.session_present, "connected to the MQTT broker");
                    self.set_state(true, None);
                    if !ack.session_present && !self.config.topics.is_empty() {
                        let topics = self
                            .config
                            .topics
                            .iter()
                            .map(|t| rumqttc::SubscribeFilter::new(t.clone(), self.qos));
                        if let Err(err) = client.try_subscribe_many(topics) {
                            tracing::error!(input = %self.name, "cannot subscribe: {err}");
                        }
                    }
                }
                Ok(Event::Incoming(Packet::SubAck(ack))) => {
                    if ack
                        .return_codes
                        .iter()
                        .any(|c| matches!(c, rumqttc::SubscribeReasonCode::Failure))
                    {
                        tracing::error!(input = %self.name, "the broker refused a subscription: {:?}", ack.return_codes);
                    } else {
                        tracing::info!(input = %self.name, topics = ?self.config.topics, "subscribed");
                    }
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    self.counters.messages_received.add(1);
                    self.counters.payload_size.add(publish.payload.len() as u64);
                    if self.config.client_trace {
                        tracing::debug!(input = %self.name, topic = %publish.topic, bytes = publish.payload.len(), "message");
                    }
                    if unacked.len() < max_undelivered && held.is_empty() {
                        self.take(&client, publish, true, track, &mut unacked, &done_tx);
                    } else {
                        held.push(publish);
                    }
                }
                Ok(other) => {
                    if self.config.client_trace {
                        tracing::debug!(input = %self.name, "mqtt: {other:?}");
                    }
                }
                Err(err) => {
                    let server = &self.servers[index];
                    let message = format!("{}:{}: {err}", server.host, server.port);
                    let was_connected = self.state.lock().map(|s| s.connected).unwrap_or(false);
                    if was_connected {
                        tracing::warn!(input = %self.name, "connection to the MQTT broker lost: {message}");
                    } else {
                        tracing::debug!(input = %self.name, "cannot connect to the MQTT broker: {message}");
                    }
                    self.set_state(false, Some(message));
                    unacked.forget();
                    held.forget();
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break,
                    }
                    backoff = (backoff * 2).min(
                        self.config
                            .max_reconnect_interval
                            .0
                            .max(Duration::from_secs(1)),
                    );
                    if self.servers.len() > 1 {
                        index = (index + 1) % self.servers.len();
                        (client, eventloop) = self.connect(&self.servers[index]);
                    }
                }
            }
        }
        let _ = client.try_disconnect();
        // Give the disconnect packet a moment to leave.
        let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
    }
}

/// Messages read and not yet written, in arrival order, by delivery id; those of a
/// persistent session keep their packet to be acknowledged once written (MQTT
/// acknowledges QoS 1 messages in the order they arrived).
#[derive(Default)]
struct Unacked {
    next_id: u64,
    /// `(id, packet to acknowledge, written)`; ids are consecutive.
    waiting: VecDeque<(u64, Option<Publish>, bool)>,
}

impl Unacked {
    /// Starts waiting for a message's metrics to be written, with the packet to
    /// acknowledge then, if any; returns its delivery id.
    fn track(&mut self, publish: Option<Publish>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.waiting.push_back((id, publish, false));
        id
    }

    /// Messages read and not yet written.
    fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Marks delivery `id` written; returns the packets now ready to acknowledge (the
    /// written ones at the front).
    fn done(&mut self, id: u64) -> impl Iterator<Item = Publish> + use<> {
        let first = self.waiting.front().map_or(u64::MAX, |(id, _, _)| *id);
        if let Some(slot) = id
            .checked_sub(first)
            .and_then(|i| self.waiting.get_mut(usize::try_from(i).ok()?))
        {
            slot.2 = true;
        }
        let mut ready = Vec::new();
        while self.waiting.front().is_some_and(|(_, _, written)| *written) {
            ready.extend(self.waiting.pop_front().and_then(|(_, publish, _)| publish));
        }
        ready.into_iter()
    }

    /// Forgets the packets of waiting messages (the connection they came on is gone, and
    /// the broker sends them again); the messages still count until written.
    fn forget(&mut self) {
        for (_, publish, _) in &mut self.waiting {
            *publish = None;
        }
    }
}

/// Messages received while `max_undelivered_messages` wait to be written: they are
/// handed on, in order, as outputs catch up.
///
/// The broker cannot send more QoS 1/2 messages than its in-flight limit before they
/// are acknowledged (at most 65,535 packet ids; mosquitto's default is 20), and held
/// messages are not, so only QoS 0 messages need a bound here: at
/// `max_undelivered_messages` of them held, the consumer stops reading.
#[derive(Default)]
struct Held {
    /// `(message, ackable)`: ackable until the connection it came on is gone.
    messages: VecDeque<(Publish, bool)>,
    at_most_once: usize,
}

impl Held {
    fn push(&mut self, publish: Publish) {
        if publish.qos == QoS::AtMostOnce {
            self.at_most_once += 1;
        }
        self.messages.push_back((publish, true));
    }

    fn pop(&mut self) -> Option<(Publish, bool)> {
        let (publish, ackable) = self.messages.pop_front()?;
        if publish.qos == QoS::AtMostOnce {
            self.at_most_once -= 1;
        }
        Some((publish, ackable))
    }

    fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// Whether another message may be read from the broker.
    fn has_room(&self, max_undelivered: usize) -> bool {
        self.at_most_once < max_undelivered
    }

    /// The connection the held messages came on is gone: they are still handed on
    /// (the broker may send some again: at least once), but not acknowledged.
    fn forget(&mut self) {
        for (_, ackable) in &mut self.messages {
            *ackable = false;
        }
    }
}

/// A random client id suffix (Telegraf uses `Telegraf-Consumer-` and five characters).
fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..5)
        .map(|_| {
            let pick = (sluice_client::random_unit() * ALPHABET.len() as f64) as usize;
            ALPHABET[pick.min(ALPHABET.len() - 1)] as char
        })
        .collect()
}

/// The `mqtt_consumer` input.
pub struct MqttConsumer {
    name: String,
    config: MqttConsumerConfig,
    servers: Vec<Server>,
    qos: QoS,
    parser: DataParser,
    topic_parsers: Vec<TopicParser>,
    stats: Arc<InputStats>,
    counters: Counters,
    state: Arc<Mutex<Connection>>,
    stop: Option<tokio::sync::watch::Sender<bool>>,
    task: Option<tokio::task::JoinHandle<()>>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for MqttConsumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttConsumer")
            .field("name", &self.name)
            .field("servers", &self.servers)
            .finish_non_exhaustive()
    }
}

impl MqttConsumer {
    /// An MQTT consumer named `name` (for logs and `internal_gather`) reading messages
    /// with `parser`; parse errors are counted in `stats`, and messages in Telegraf's
    /// `internal_mqtt_consumer` counters (`messages_received`, `payload_size`, shared by
    /// every mqtt_consumer).
    ///
    /// # Errors
    /// A message about an invalid key.
    pub fn new(
        name: &str,
        config: MqttConsumerConfig,
        parser: DataParser,
        stats: &Stats,
    ) -> std::result::Result<MqttConsumer, String> {
        let counters = Counters {
            messages_received: stats.plugin("mqtt_consumer", "messages_received"),
            payload_size: stats.plugin("mqtt_consumer", "payload_size"),
        };
        let stats = stats.input(name);
        if config.servers.is_empty() {
            return Err("`servers` is empty".to_owned());
        }
        let servers = config
            .servers
            .iter()
            .map(|s| Server::parse(s))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| format!("`servers`: {e}"))?;
        let qos = match config.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            2 => QoS::ExactlyOnce,
            other => return Err(format!("`qos` must be 0, 1 or 2, not {other}")),
        };
        if config.persistent_session && config.client_id.is_empty() {
            return Err("`persistent_session` requires `client_id`".to_owned());
        }
        if config.connection_timeout.0 < Duration::from_secs(1) {
            return Err("`connection_timeout` must be at least 1s".to_owned());
        }
        let topic_parsers = config
            .topic_parsing
            .iter()
            .map(TopicParser::new)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| format!("`topic_parsing`: {e}"))?;
        let tls_keys = config.tls.clone();
        let tls = if servers.iter().any(|s| s.tls) {
            Some(Arc::new(tls_keys.rustls_config()?))
        } else {
            if tls_keys.is_set() {
                tracing::warn!(input = %name, "the TLS keys are not used: no server is ssl://, tls:// or mqtts://");
            }
            None
        };
        Ok(MqttConsumer {
            name: name.to_owned(),
            config,
            servers,
            qos,
            parser,
            topic_parsers,
            stats,
            counters,
            state: Arc::default(),
            stop: None,
            task: None,
            tls,
        })
    }
}

impl Input for MqttConsumer {
    fn gather(&mut self, _acc: &mut Accumulator) -> Result<()> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match (&state.error, state.connected) {
            (Some(error), false) => Err(Error::Gather {
                plugin: self.name.clone(),
                message: format!("not connected to the MQTT broker: {error}"),
            }),
            _ => Ok(()),
        }
    }

    fn start(&mut self, sink: MetricSink) -> Result<()> {
        let client_id = if self.config.client_id.is_empty() {
            format!("Telegraf-Consumer-{}", random_suffix())
        } else {
            self.config.client_id.clone()
        };
        let worker = Worker {
            name: self.name.clone(),
            config: self.config.clone(),
            servers: self.servers.clone(),
            client_id,
            qos: self.qos,
            parser: self.parser.clone(),
            topic_tag: self
                .config
                .topic_tag
                .clone()
                .unwrap_or_else(|| "topic".to_owned()),
            topic_parsers: self.topic_parsers.clone(),
            sink,
            stats: self.stats.clone(),
            counters: self.counters.clone(),
            state: self.state.clone(),
            tls: self.tls.clone(),
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let handle = tokio::runtime::Handle::try_current().map_err(|_| Error::Gather {
            plugin: self.name.clone(),
            message: "no async runtime to run the MQTT client in".to_owned(),
        })?;
        self.task = Some(handle.spawn(worker.run(stop_rx)));
        self.stop = Some(stop_tx);
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(true);
        }
        if let Some(task) = self.task.take() {
            // Wait (briefly) for the clean disconnect, from whatever thread stops us.
            let deadline = std::time::Instant::now() + Duration::from_secs(2);
            while !task.is_finished() && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            task.abort();
        }
    }

    fn is_service(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(pkid: u16) -> Publish {
        let mut publish = Publish::new("t", QoS::AtLeastOnce, vec![b'1']);
        publish.pkid = pkid;
        publish
    }

    #[test]
    fn messages_are_acknowledged_in_arrival_order_once_written() {
        let mut unacked = Unacked::default();
        let ids: Vec<u64> = (1..=3).map(|p| unacked.track(Some(message(p)))).collect();
        let pkids = |ready: Vec<Publish>| ready.iter().map(|p| p.pkid).collect::<Vec<_>>();
        // The second is written first: it waits for the first.
        assert!(pkids(unacked.done(ids[1]).collect()).is_empty());
        assert_eq!(unacked.len(), 3);
        assert_eq!(pkids(unacked.done(ids[0]).collect()), [1, 2]);
        assert_eq!(unacked.len(), 1);
        // A connection lost forgets the third's packet; it still counts until written,
        // and its late delivery acknowledges nothing.
        unacked.forget();
        let fourth = unacked.track(Some(message(4)));
        assert_eq!(unacked.len(), 2);
        assert!(pkids(unacked.done(fourth).collect()).is_empty());
        assert_eq!(pkids(unacked.done(ids[2]).collect()), [4]);
        assert_eq!(unacked.len(), 0);
    }

    #[test]
    fn messages_without_a_packet_to_acknowledge_still_count_until_written() {
        let mut unacked = Unacked::default();
        let first = unacked.track(None);
        let second = unacked.track(Some(message(7)));
        assert_eq!(unacked.len(), 2);
        assert_eq!(unacked.done(second).count(), 0);
        assert_eq!(unacked.done(first).map(|p| p.pkid).collect::<Vec<_>>(), [7]);
        assert_eq!(unacked.len(), 0);
    }

    #[test]
    fn servers_parse_as_telegraf_writes_them() {
        let s = |u: &str| Server::parse(u);
        assert_eq!(
            s("tcp://mqtt.example.com:1883"),
            Ok(Server {
                host: "mqtt.example.com".into(),
                port: 1883,
                tls: false,
            })
        );
        assert_eq!(s("mqtt://10.0.0.1").unwrap().port, 1883);
        assert_eq!(s("localhost:1884").unwrap().port, 1884);
        for tls in ["ssl://broker", "tls://broker:8883", "mqtts://broker"] {
            assert_eq!(
                s(tls),
                Ok(Server {
                    host: "broker".into(),
                    port: 8883,
                    tls: true,
                })
            );
        }
        assert!(s("ws://broker:80").unwrap_err().contains("not supported"));
        assert!(s("tcp://:1883").is_err());
        assert!(s("tcp://h:port").is_err());
    }

    #[test]
    fn invalid_settings_are_refused() {
        let new = |config: MqttConsumerConfig| {
            MqttConsumer::new(
                "mqtt_consumer",
                config,
                DataParser::Influx,
                &Stats::default(),
            )
        };
        let err = new(MqttConsumerConfig {
            persistent_session: true,
            ..MqttConsumerConfig::default()
        })
        .unwrap_err();
        assert!(err.contains("client_id"), "{err}");
        assert!(
            new(MqttConsumerConfig {
                qos: 3,
                ..MqttConsumerConfig::default()
            })
            .is_err()
        );
        assert!(
            new(MqttConsumerConfig {
                connection_timeout: ConfigDuration(Duration::from_millis(10)),
                ..MqttConsumerConfig::default()
            })
            .is_err()
        );
        assert!(new(MqttConsumerConfig::default()).is_ok());
    }
}
