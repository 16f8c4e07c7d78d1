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
