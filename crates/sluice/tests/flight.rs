//! Arrow Flight `DoGet` on the HTTP port of the real `sluice serve`, as the influxdb3
//! clients use it: a JSON ticket and `authorization: Bearer <token>` metadata.

mod common;

use arrow::array::{Array as _, AsArray as _, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use arrow_flight::{FlightClient, Ticket};
use common::{ADMIN, TestServer, token};
use futures::TryStreamExt as _;
use serde_json::json;

const LINES: &str = "cpu,host=a usage=1.5,count=3i 1000000000\n\
                     cpu,host=b usage=2.5,count=4i 2000000000\n";

async fn client(server: &TestServer, bearer: Option<&str>) -> FlightClient {
    let channel = tonic::transport::Endpoint::from_shared(server.url(""))
        .unwrap()
        .connect()
        .await
        .expect("a gRPC connection to the HTTP port");
    let mut client = FlightClient::new(channel);
    if let Some(bearer) = bearer {
        client
            .add_header("authorization", &format!("Bearer {bearer}"))
            .unwrap();
    }
    client
}

async fn do_get(
    client: &mut FlightClient,
    ticket: serde_json::Value,
) -> Result<Vec<RecordBatch>, arrow_flight::error::FlightError> {
    let stream = client
        .do_get(Ticket::new(ticket.to_string().into_bytes()))
        .await?;
    stream.try_collect().await
}

fn status_code(error: arrow_flight::error::FlightError) -> tonic::Code {
    match error {
        arrow_flight::error::FlightError::Tonic(status) => status.code(),
        other => panic!("expected a gRPC status, got {other}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn setup() -> TestServer {
    let server = TestServer::spawn();
    let reply = server.post(
        "/api/v3/write_lp?db=db&precision=ns",
        &[("Authorization", &token(ADMIN))],
        LINES.as_bytes(),
    );
    assert_eq!(reply.status, 204, "{}", reply.body);
    server
}

#[test]
fn flight_do_get_runs_sql_on_the_http_port() {
    let server = setup();
    runtime().block_on(async {
        let mut client = client(&server, Some(ADMIN)).await;
        let batches = do_get(
            &mut client,
            json!({"database": "db", "sql_query": "SELECT host, usage, count FROM cpu ORDER BY host", "query_type": "sql"}),
        )
        .await
        .unwrap();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        assert_eq!(batch.num_rows(), 2);
        let names: Vec<_> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["host", "usage", "count"]);
        let usage = batch.column(1).as_primitive::<Float64Type>();
        assert_eq!(usage.values(), &[1.5, 2.5]);
        let count = batch.column(2).as_primitive::<Int64Type>();
        assert_eq!(count.values(), &[3, 4]);

        // Params bind `$name` placeholders, as influxdb3-python's query_parameters do.
        let bound = do_get(
            &mut client,
            json!({"database": "db", "sql_query": "SELECT count FROM cpu WHERE host = $h", "query_type": "sql", "params": {"h": "b"}}),
        )
        .await
        .unwrap();
        let rows: usize = bound.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 1);
        assert_eq!(bound[0].column(0).as_primitive::<Int64Type>().value(0), 4);
    });
    // HTTP still answers on the same port.
    assert_eq!(server.get("/ping", &[]).status, 204);
}

#[test]
fn flight_do_get_runs_influxql_with_the_measurement_column() {
    let server = setup();
    runtime().block_on(async {
        let mut client = client(&server, Some(ADMIN)).await;
        let batches = do_get(
            &mut client,
            json!({"database": "db", "sql_query": "SELECT usage FROM cpu GROUP BY host", "query_type": "influxql"}),
        )
        .await
        .unwrap();
        let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
        let names: Vec<_> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(names, ["iox::measurement", "time", "host", "usage"]);
        let measurement = batch.column(0).as_string::<i32>();
        assert_eq!((measurement.value(0), measurement.value(1)), ("cpu", "cpu"));
        let host = batch.column(2).as_string::<i32>();
        assert_eq!((host.value(0), host.value(1)), ("a", "b"));
        assert!(!batch.column(3).is_null(1));
    });
}

#[test]
fn flight_errors_are_grpc_statuses() {
    let server = setup();
    runtime().block_on(async {
        let mut client = client(&server, Some(ADMIN)).await;
        let bad = do_get(
            &mut client,
            json!({"database": "db", "sql_query": "SELEC nonsense", "query_type": "sql"}),
        )
        .await
        .unwrap_err();
        assert_eq!(status_code(bad), tonic::Code::InvalidArgument);
        let unknown = do_get(
            &mut client,
            json!({"database": "nodb", "sql_query": "SELECT 1", "query_type": "sql"}),
        )
        .await
        .unwrap_err();
        assert_eq!(status_code(unknown), tonic::Code::NotFound);
        let not_json = client
            .do_get(Ticket::new("SELECT 1"))
            .await
            .map(|_| ())
            .unwrap_err();
        assert_eq!(status_code(not_json), tonic::Code::InvalidArgument);
    });
}

#[test]
fn flight_needs_a_bearer_token_with_read_permission() {
    let server = setup();
    let created = server.post(
        "/api/v3/configure/token",
        &[("Authorization", &token(ADMIN))],
        json!({"name": "w", "permissions": [{"database": "db", "actions": ["write"]}]})
            .to_string()
            .as_bytes(),
    );
    let writer = created.json()["token"].as_str().unwrap().to_owned();
    let ticket = json!({"database": "db", "sql_query": "SELECT * FROM cpu", "query_type": "sql"});
    let influxql =
        json!({"database": "db", "sql_query": "SELECT * FROM cpu", "query_type": "influxql"});
    runtime().block_on(async {
        let mut anonymous = client(&server, None).await;
        let error = do_get(&mut anonymous, ticket.clone()).await.unwrap_err();
        assert_eq!(status_code(error), tonic::Code::Unauthenticated);

        let mut wrong = client(&server, Some("not-a-token")).await;
        let error = do_get(&mut wrong, ticket.clone()).await.unwrap_err();
        assert_eq!(status_code(error), tonic::Code::Unauthenticated);

        let mut write_only = client(&server, Some(&writer)).await;
        for t in [&ticket, &influxql] {
            let error = do_get(&mut write_only, t.clone()).await.unwrap_err();
            assert_eq!(status_code(error), tonic::Code::PermissionDenied);
        }

        let mut admin = client(&server, Some(ADMIN)).await;
        for t in [&ticket, &influxql] {
            let rows: usize = do_get(&mut admin, t.clone())
                .await
                .unwrap()
                .iter()
                .map(RecordBatch::num_rows)
                .sum();
            assert_eq!(rows, 2);
        }
    });
}
