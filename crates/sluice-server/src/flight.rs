//! Arrow Flight on the HTTP port: `DoGet` with the JSON ticket the influxdb3 clients send
//! (`{"database","sql_query","query_type":"sql"|"influxql","params"}`), authorized by
//! `authorization: Bearer <token>` metadata, and the internal `{"peer_rows":…}` ticket of
//! query nodes' `--ingest-peers` (`peer_rows`). Requests with `content-type:
//! application/grpc` reach this service; everything else goes to the HTTP router.

use std::collections::HashMap;

use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::flight_service_server::{FlightService, FlightServiceServer};
use arrow_flight::{
    Action as FlightAction, ActionType, Criteria, Empty, FlightData, FlightDescriptor, FlightInfo,
    HandshakeRequest, HandshakeResponse, PollInfo, PutResult, SchemaResult, Ticket,
};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use futures::stream::{self, BoxStream};
use futures::{StreamExt as _, TryStreamExt as _};
use serde::Deserialize;
use serde_json::Value as Json;
use sluice_influxql::ParamValue;
use tonic::{Request as GrpcRequest, Response as GrpcResponse, Status, Streaming};
use tower::ServiceExt as _;

use crate::auth::Action;
use crate::error::{Error, Result};
use crate::influxql;
use crate::params::Params;
use crate::peer_rows::{self, PeerRowsTicket};
use crate::state::AppState;

/// The Flight service over the server's state.
#[derive(Debug, Clone)]
pub(crate) struct Flight {
    state: AppState,
}

/// The gRPC service that [`dispatch`] hands gRPC requests to.
pub(crate) type GrpcService = FlightServiceServer<Flight>;

/// The gRPC service for `state`.
pub(crate) fn service(state: AppState) -> GrpcService {
    FlightServiceServer::new(Flight { state })
}

/// Middleware: a request with `content-type: application/grpc…` goes to the Flight
/// service, any other to the HTTP router.
pub(crate) async fn dispatch(
    State(grpc): State<GrpcService>,
    request: Request,
    next: Next,
) -> Response {
    let is_grpc = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"));
    if !is_grpc {
        return next.run(request).await;
    }
    match grpc.oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(never) => match never {},
    }
}

/// The ticket of the influxdb3 clients.
#[derive(Debug, Deserialize)]
struct QueryTicket {
    database: String,
    sql_query: String,
    /// `sql` (the default) or `influxql`.
    #[serde(default)]
    query_type: Option<String>,
    /// Values of `$name` placeholders.
    #[serde(default)]
    params: Option<serde_json::Map<String, Json>>,
}

fn to_status(error: Error) -> Status {
    let (status, message) = error.status_and_message();
    match status {
        StatusCode::BAD_REQUEST => Status::invalid_argument(message),
        StatusCode::UNAUTHORIZED => Status::unauthenticated(message),
        StatusCode::FORBIDDEN => Status::permission_denied(message),
        StatusCode::NOT_FOUND => Status::not_found(message),
        StatusCode::SERVICE_UNAVAILABLE => Status::unavailable(message),
        StatusCode::PAYLOAD_TOO_LARGE => Status::resource_exhausted(message),
        _ => Status::internal(message),
    }
}

impl Flight {
    async fn query(
        &self,
        metadata: &tonic::metadata::MetadataMap,
        ticket: &[u8],
    ) -> Result<sluice_query::QueryOutput> {
        crate::modes::require(&self.state, crate::modes::Needs::Query)?;
        let headers = metadata.clone().into_headers();
        let principal = self
            .state
            .inner
            .auth
            .authenticate(&headers, &Params::default())?;
        let ticket: QueryTicket =
            serde_json::from_slice(ticket).map_err(|e| Error::InvalidBody {
                reason: format!(
                    "the ticket must be json {{\"database\",\"sql_query\",\"query_type\"}}: {e}"
                ),
            })?;
        match ticket.query_type.as_deref().unwrap_or("sql") {
            "sql" => {
                principal.require(&ticket.database, Action::Read)?;
                Ok(self
                    .state
                    .inner
                    .query
                    .sql(&ticket.database, &ticket.sql_query, ticket.params.as_ref())
                    .await?)
            }
            "influxql" => {
                let exists = self
                    .state
                    .inner
                    .storage
                    .all_databases()
                    .iter()
                    .any(|d| d.name == ticket.database);
                if !exists {
                    principal.require(&ticket.database, Action::Read)?;
                    return Err(sluice_query::Error::DatabaseNotFound(ticket.database).into());
                }
                let bound: Option<HashMap<String, ParamValue>> = ticket
                    .params
                    .as_ref()
                    .map(influxql::params_from_json)
                    .transpose()?;
                let results = influxql::run(
                    &self.state,
                    &principal,
                    Some(&ticket.database),
                    None,
                    &ticket.sql_query,
                    bound.as_ref(),
                )
                .await?;
                if let Some(message) = influxql::first_error(&results) {
                    return Err(Error::StatementFailed {
                        message: message.to_owned(),
                    });
                }
                sluice_query::format::influxql_table(&results).map_err(Error::from)
            }
            other => Err(Error::InvalidParameter {
                name: "query_type",
                reason: format!("expected sql or influxql, got {other:?}"),
            }),
        }
    }
}

fn unimplemented<T>(what: &str) -> Result<T, Status> {
    Err(Status::unimplemented(format!(
        "{what} is not supported: sluice serves DoGet with a query ticket"
    )))
}

#[tonic::async_trait]
impl FlightService for Flight {
    type HandshakeStream = BoxStream<'static, Result<HandshakeResponse, Status>>;
    type ListFlightsStream = BoxStream<'static, Result<FlightInfo, Status>>;
    type DoGetStream = BoxStream<'static, Result<FlightData, Status>>;
    type DoPutStream = BoxStream<'static, Result<PutResult, Status>>;
    type DoExchangeStream = BoxStream<'static, Result<FlightData, Status>>;
    type DoActionStream = BoxStream<'static, Result<arrow_flight::Result, Status>>;
    type ListActionsStream = BoxStream<'static, Result<ActionType, Status>>;

    async fn do_get(
        &self,
        request: GrpcRequest<Ticket>,
    ) -> Result<GrpcResponse<Self::DoGetStream>, Status> {
        let ticket = &request.get_ref().ticket;
        if let Some(peer_rows) = PeerRowsTicket::parse(ticket).map_err(to_status)? {
            let answer = peer_rows::answer(&self.state, request.metadata(), peer_rows)
                .await
                .map_err(to_status)?;
            return Ok(GrpcResponse::new(answer));
        }
        let output = self
            .query(request.metadata(), ticket)
            .await
            .map_err(to_status)?;
        let batches = stream::iter(output.batches.into_iter().map(Ok));
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(output.schema)
            .build(batches)
            .map_err(Status::from);
        Ok(GrpcResponse::new(encoded.boxed()))
    }

    async fn handshake(
        &self,
        _request: GrpcRequest<Streaming<HandshakeRequest>>,
    ) -> Result<GrpcResponse<Self::HandshakeStream>, Status> {
        unimplemented("Handshake")
    }

    async fn list_flights(
        &self,
        _request: GrpcRequest<Criteria>,
    ) -> Result<GrpcResponse<Self::ListFlightsStream>, Status> {
        unimplemented("ListFlights")
    }

    async fn get_flight_info(
        &self,
        _request: GrpcRequest<FlightDescriptor>,
    ) -> Result<GrpcResponse<FlightInfo>, Status> {
        unimplemented("GetFlightInfo")
    }

    async fn poll_flight_info(
        &self,
        _request: GrpcRequest<FlightDescriptor>,
    ) -> Result<GrpcResponse<PollInfo>, Status> {
        unimplemented("PollFlightInfo")
    }

    async fn get_schema(
        &self,
        _request: GrpcRequest<FlightDescriptor>,
    ) -> Result<GrpcResponse<SchemaResult>, Status> {
        unimplemented("GetSchema")
    }

    async fn do_put(
        &self,
        _request: GrpcRequest<Streaming<FlightData>>,
    ) -> Result<GrpcResponse<Self::DoPutStream>, Status> {
        unimplemented("DoPut")
    }

    async fn do_exchange(
        &self,
        _request: GrpcRequest<Streaming<FlightData>>,
    ) -> Result<GrpcResponse<Self::DoExchangeStream>, Status> {
        unimplemented("DoExchange")
    }

    async fn do_action(
        &self,
        _request: GrpcRequest<FlightAction>,
    ) -> Result<GrpcResponse<Self::DoActionStream>, Status> {
        unimplemented("DoAction")
    }

    async fn list_actions(
        &self,
        _request: GrpcRequest<Empty>,
    ) -> Result<GrpcResponse<Self::ListActionsStream>, Status> {
        Ok(GrpcResponse::new(stream::empty().boxed()))
    }
}
