//! The HTTP routes on axum, generic over the connection type: the same paths, statuses and
//! bodies as the actix routes of `tenantpool-notes`.

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::header::{CONTENT_TYPE, LOCATION};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use tenantpool::TenantId;
use tenantpool_axum::{error_response, QueryError, TenantConn};
use tenantpool_notes::NotesStore;

/// The body of `POST /notes`.
#[derive(Debug, Deserialize)]
struct NewNote {
    text: String,
}

/// Longest note accepted, in bytes.
const MAX_NOTE_LEN: usize = 10_000;

/// Largest request body accepted, in bytes.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// Why a notes request failed; every variant answers with the adapter's JSON error body.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("note {id} does not exist")]
    NotFound { tenant: TenantId, id: i64 },
    #[error("{reason}")]
    Invalid { tenant: TenantId, reason: String },
    #[error("invalid JSON body: {0}")]
    Json(#[from] serde_json::Error),
    /// A failed query: 503 with `Retry-After` when the connection to the database was lost,
    /// a generic 500 otherwise; never driver text.
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            Self::NotFound { ref tenant, .. } => {
                error_response(StatusCode::NOT_FOUND, self.to_string(), Some(tenant))
            }
            Self::Invalid { ref tenant, .. } => {
                error_response(StatusCode::BAD_REQUEST, self.to_string(), Some(tenant))
            }
            Self::Json(_) => error_response(StatusCode::BAD_REQUEST, self.to_string(), None),
            Self::Query(e) => e.into_response(),
        }
    }
}

/// The notes routes for connection type `C`.
pub(crate) fn notes<C: NotesStore>() -> Router {
    Router::new()
        .route("/notes", get(list::<C>).post(create::<C>))
        .route("/notes/{id}", get(show::<C>).delete(delete::<C>))
}

pub(crate) async fn healthz() -> Response {
    ([(CONTENT_TYPE, "text/plain")], "ok").into_response()
}

async fn list<C: NotesStore>(mut conn: TenantConn<C>) -> Result<Response, ApiError> {
    let notes = conn.list().await.map_err(|e| conn.query_error(e))?;
    Ok(Json(notes).into_response())
}

async fn create<C: NotesStore>(mut conn: TenantConn<C>, body: Bytes) -> Result<Response, ApiError> {
    let tenant = conn.tenant().clone();
    let text = serde_json::from_slice::<NewNote>(&body)?.text;
    if text.trim().is_empty() || text.len() > MAX_NOTE_LEN {
        return Err(ApiError::Invalid {
            tenant,
            reason: format!("text must be 1 to {MAX_NOTE_LEN} bytes and not blank"),
        });
    }
    let note = conn.create(&text).await.map_err(|e| conn.query_error(e))?;
    let location = format!("/notes/{}", note.id);
    Ok((StatusCode::CREATED, [(LOCATION, location)], Json(note)).into_response())
}

async fn show<C: NotesStore>(
    mut conn: TenantConn<C>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let tenant = conn.tenant().clone();
    match conn.find(id).await.map_err(|e| conn.query_error(e))? {
        Some(note) => Ok(Json(note).into_response()),
        None => Err(ApiError::NotFound { tenant, id }),
    }
}

async fn delete<C: NotesStore>(
    mut conn: TenantConn<C>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let tenant = conn.tenant().clone();
    if conn.remove(id).await.map_err(|e| conn.query_error(e))? {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::NotFound { tenant, id })
    }
}
