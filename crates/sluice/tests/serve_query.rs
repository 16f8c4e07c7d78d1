//! `/query` database statements and the v2/v3 bucket and database endpoints.

mod common;

use common::{ADMIN, TestServer, token};

#[test]
fn telegraf_creates_its_database_through_query() {
    let server = TestServer::spawn();
    let auth = token(ADMIN);
    let headers = [("Authorization", auth.as_str())];
    let reply = server.post("/query?q=CREATE+DATABASE+%22telegraf%22", &headers, b"");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, r#"{"results":[{"statement_id":0}]}"#);
    // Idempotent, like InfluxDB 1.x.
    let again = server.get("/query?q=CREATE%20DATABASE%20telegraf", &headers);
    assert_eq!(again.body, r#"{"results":[{"statement_id":0}]}"#);
    let show = server.get("/query?q=SHOW+DATABASES", &headers);
    assert_eq!(
        show.json()["results"][0]["series"][0]["values"],
        serde_json::json!([["telegraf"]])
    );
}

#[test]
fn query_runs_create_drop_and_show_from_the_url_or_a_form_body() {
    let server = TestServer::without_auth();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let reply = server.post(
        "/query",
        &form,
        b"q=CREATE+DATABASE+a+WITH+DURATION+30d%3B+CREATE+DATABASE+b%3B+SHOW+DATABASES",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let results = reply.json()["results"].clone();
    assert_eq!(results[0], serde_json::json!({"statement_id": 0}));
    assert_eq!(results[1], serde_json::json!({"statement_id": 1}));
    assert_eq!(results[2]["statement_id"], 2);
    assert_eq!(results[2]["series"][0]["name"], "databases");
    assert_eq!(
        results[2]["series"][0]["columns"],
        serde_json::json!(["name"])
    );
    assert_eq!(
        results[2]["series"][0]["values"],
        serde_json::json!([["a"], ["b"]])
    );

    let buckets = server.get("/api/v2/buckets?name=a", &[]);
    assert_eq!(
        buckets.json()["buckets"][0]["retentionRules"][0]["everySeconds"],
        30 * 86_400
    );

    assert_eq!(server.get("/query?q=DROP+DATABASE+a", &[]).status, 200);
    let show = server.get("/query?q=SHOW+DATABASES", &[]);
    assert_eq!(
        show.json()["results"][0]["series"][0]["values"],
        serde_json::json!([["b"]])
    );
}

#[test]
fn unsupported_statements_are_statement_errors_and_bad_requests_are_400() {
    let server = TestServer::without_auth();
    let users = server.get("/query?db=x&q=SHOW+USERS", &[]);
    assert_eq!(users.status, 200);
    let error = users.json()["results"][0]["error"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(error.contains("unsupported statement"), "{error}");
    let missing = server.get("/query", &[]);
    assert_eq!(missing.status, 400);
    assert!(missing.json()["error"].as_str().unwrap().contains("\"q\""));
    let malformed = server.get("/query?q=CREATE+DATABASE", &[]);
    assert_eq!(malformed.status, 400);
    assert!(
        malformed.json()["error"]
            .as_str()
            .unwrap()
            .contains("error parsing query")
    );
    let bad_name = server.get("/query?q=CREATE+DATABASE+%22%2Fx%22", &[]);
    assert_eq!(bad_name.status, 200);
    assert!(
        bad_name.json()["results"][0]["error"].is_string(),
        "{}",
        bad_name.body
    );
}

#[test]
fn v2_orgs_and_buckets_work_as_the_official_clients_expect() {
    let server = TestServer::spawn();
    let auth = token(ADMIN);
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let orgs = server.get("/api/v2/orgs?org=my-org", &headers);
    assert_eq!(orgs.status, 200);
    let org_id = orgs.json()["orgs"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(orgs.json()["orgs"][0]["name"], "my-org");

    let body = format!(
        r#"{{"orgID":"{org_id}","name":"sensors","retentionRules":[{{"type":"expire","everySeconds":86400}}]}}"#
    );
    let created = server.post("/api/v2/buckets", &headers, body.as_bytes());
    assert_eq!(created.status, 201, "{}", created.body);
    let bucket = created.json();
    assert_eq!(bucket["name"], "sensors");
    assert_eq!(bucket["orgID"], org_id.as_str());
    assert_eq!(bucket["retentionRules"][0]["everySeconds"], 86_400);
    let id = bucket["id"].as_str().unwrap().to_owned();

    let duplicate = server.post("/api/v2/buckets", &headers, body.as_bytes());
    assert_eq!(duplicate.status, 422);
    assert_eq!(duplicate.json()["code"], "conflict");

    let found = server.get("/api/v2/buckets?name=sensors", &headers);
    assert_eq!(found.json()["buckets"][0]["id"], id.as_str());
    assert_eq!(
        server.get("/api/v2/buckets?name=none", &headers).json()["buckets"],
        serde_json::json!([])
    );
    assert_eq!(
        server
            .get(&format!("/api/v2/buckets/{id}"), &headers)
            .json()["name"],
        "sensors"
    );

    let write = server.post(
        "/api/v2/write?org=my-org&bucket=sensors",
        &headers,
        b"t v=1",
    );
    assert_eq!(write.status, 204);

    assert_eq!(
        server
            .request("DELETE", &format!("/api/v2/buckets/{id}"), &headers, None)
            .status,
        204
    );
    let gone = server.request("DELETE", &format!("/api/v2/buckets/{id}"), &headers, None);
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json()["code"], "not found");
    assert_eq!(
        server.get("/api/v2/buckets", &headers).json()["buckets"],
        serde_json::json!([])
    );
}

#[test]
fn v3_configure_database_lists_creates_and_deletes() {
    let server = TestServer::without_auth();
    let json = [("Content-Type", "application/json")];
    assert_eq!(
        server
            .post(
                "/api/v3/configure/database",
                &json,
                br#"{"db":"x","retention_period":"7d"}"#
            )
            .status,
        200
    );
    assert_eq!(
        server
            .post("/api/v3/configure/database", &json, br#"{"db":"x"}"#)
            .status,
        409
    );
    let list = server.get("/api/v3/configure/database?format=json", &[]);
    assert_eq!(list.json(), serde_json::json!([{"iox::database": "x"}]));
    assert_eq!(
        server
            .request("DELETE", "/api/v3/configure/database?db=x", &[], None)
            .status,
        200
    );
    assert_eq!(
        server
            .request("DELETE", "/api/v3/configure/database?db=x", &[], None)
            .status,
        404
    );
}

/// A token with `permission` (`read` or `write`) on `db`, made with `sluice token create`.
fn scoped_token(server: &TestServer, db: &str, permission: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["token", "create", "--db", db, "--permission", permission])
        .args(["--name", permission])
        .env_clear()
        .env("SLUICE_HOST", server.url(""))
        .env("SLUICE_TOKEN", ADMIN)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("token: "))
        .expect("the token is printed")
        .to_owned()
}

fn query(server: &TestServer, auth: &str, q: &str) -> common::Reply {
    let q: String = q
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    server.post(
        &format!("/query?db=s&q={q}"),
        &[("Authorization", auth)],
        b"",
    )
}

#[test]
fn deleted_points_stay_deleted_across_a_kill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let options = common::Options::default().data_dir(&dir.path().join("data"));
    let server = TestServer::start(options.clone());
    let admin = token(ADMIN);
    let write = |server: &TestServer, body: &str| {
        let reply = server.post(
            "/write?db=s&precision=s",
            &[("Authorization", admin.as_str())],
            body.as_bytes(),
        );
        assert_eq!(reply.status, 204, "{}", reply.body);
    };
    write(
        &server,
        "cpu,host=a v=1 100\ncpu,host=a v=2 200\ncpu,host=b v=3 100\nmem,host=a f=1i 100\n",
    );

    // Deleting needs write permission, not read.
    let reader = token(&scoped_token(&server, "s", "read"));
    let writer = token(&scoped_token(&server, "s", "write"));
    let denied = query(&server, &reader, "DELETE FROM cpu WHERE host = 'a'");
    assert_eq!(denied.status, 403, "{}", denied.body);

    let reply = query(
        &server,
        &writer,
        "DELETE FROM cpu WHERE host = 'a' AND time < 150s; DROP MEASUREMENT mem",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body,
        r#"{"results":[{"statement_id":0},{"statement_id":1}]}"#
    );
    // Acknowledged after the delete: kept.
    write(&server, "cpu,host=a v=4 100\n");

    let expected = serde_json::json!([
        ["1970-01-01T00:01:40Z", "a", 4],
        ["1970-01-01T00:01:40Z", "b", 3],
        ["1970-01-01T00:03:20Z", "a", 2]
    ]);
    let check = |server: &TestServer| {
        let select = query(server, &admin, "SELECT host, v FROM cpu");
        let json = select.json();
        let values = &json["results"][0]["series"][0]["values"];
        let mut rows = values.as_array().unwrap().clone();
        rows.sort_by_key(|r| (r[0].to_string(), r[1].to_string()));
        assert_eq!(serde_json::Value::Array(rows), expected, "{}", select.body);
        let measurements = query(server, &admin, "SHOW MEASUREMENTS");
        assert_eq!(
            measurements.json()["results"][0]["series"][0]["values"],
            serde_json::json!([["cpu"]])
        );
    };
    check(&server);
    // SIGKILL: the WAL alone must bring the deletes back in order.
    drop(server);
    let server = TestServer::start(options.clone());
    check(&server);
    // One more delete, then a graceful restart.
    let reply = query(&server, &admin, "DROP SERIES FROM cpu WHERE host = 'b'");
    assert_eq!(reply.body, r#"{"results":[{"statement_id":0}]}"#);
    let mut server = server;
    assert!(server.terminate().success());
    let server = TestServer::start(options);
    let select = query(&server, &admin, "SELECT host, v FROM cpu");
    assert_eq!(
        select.json()["results"][0]["series"][0]["values"],
        serde_json::json!([
            ["1970-01-01T00:01:40Z", "a", 4],
            ["1970-01-01T00:03:20Z", "a", 2]
        ])
    );
}

#[test]
fn a_flux_query_is_told_what_to_use_instead() {
    let server = TestServer::without_auth();
    let reply = server.post(
        "/api/v2/query?org=o",
        &[("Content-Type", "application/vnd.flux")],
        b"from(bucket: \"b\") |> range(start: -1h)",
    );
    assert_eq!(reply.status, 404, "{}", reply.body);
    assert_eq!(reply.json()["code"], "not found");
    let message = reply.json()["message"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("Flux queries are not supported"),
        "{message}"
    );
    assert!(message.contains("/api/v3/query_sql"), "{message}");
}
