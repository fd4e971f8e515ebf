//! The HTTP routes, generic over the connection type.

use actix_web::http::header::LOCATION;
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse, ResponseError};
use serde::Deserialize;
use tenantpool::actix::{error_response, QueryError, TenantConn};
use tenantpool::TenantId;

use crate::store::NotesStore;

/// The body of `POST /notes`.
#[derive(Debug, Deserialize)]
struct NewNote {
    text: String,
}

/// Longest note accepted, in bytes.
const MAX_NOTE_LEN: usize = 10_000;

/// Why a notes request failed; every variant answers with the adapter's JSON error body.
#[derive(Debug, thiserror::Error)]
enum ApiError {
    #[error("note {id} does not exist")]
    NotFound { tenant: TenantId, id: i64 },
    #[error("{reason}")]
    Invalid { tenant: TenantId, reason: String },
    /// A failed query: 503 with `Retry-After` when the connection to the database was lost
    /// (a restart, a terminated backend), a generic 500 otherwise; never driver text.
    #[error(transparent)]
    Query(#[from] QueryError),
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Query(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::NotFound { tenant, .. } | Self::Invalid { tenant, .. } => {
                error_response(self.status_code(), self.to_string(), Some(tenant))
            }
            Self::Query(e) => e.error_response(),
        }
    }
}

pub(crate) fn notes<C: NotesStore>(cfg: &mut web::ServiceConfig) {
    cfg.app_data(
        web::JsonConfig::default()
            .limit(64 * 1024)
            .error_handler(|err, _req| {
                let message = format!("invalid JSON body: {err}");
                actix_web::error::InternalError::from_response(
                    err,
                    error_response(StatusCode::BAD_REQUEST, message, None),
                )
                .into()
            }),
    )
    .service(
        web::resource("/notes")
            .route(web::get().to(list::<C>))
            .route(web::post().to(create::<C>)),
    )
    .service(
        web::resource("/notes/{id}")
            .route(web::get().to(show::<C>))
            .route(web::delete().to(delete::<C>)),
    );
}

pub(crate) async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn list<C: NotesStore>(mut conn: TenantConn<C>) -> Result<HttpResponse, ApiError> {
    let notes = conn.list().await.map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Ok().json(notes))
}

async fn create<C: NotesStore>(
    mut conn: TenantConn<C>,
    body: web::Json<NewNote>,
) -> Result<HttpResponse, ApiError> {
    let tenant = conn.tenant().clone();
    let text = body.into_inner().text;
    if text.trim().is_empty() || text.len() > MAX_NOTE_LEN {
        return Err(ApiError::Invalid {
            tenant,
            reason: format!("text must be 1 to {MAX_NOTE_LEN} bytes and not blank"),
        });
    }
    let note = conn.create(&text).await.map_err(|e| conn.query_error(e))?;
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/notes/{}", note.id)))
        .json(note))
}

async fn show<C: NotesStore>(
    mut conn: TenantConn<C>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let tenant = conn.tenant().clone();
    let id = id.into_inner();
    match conn.find(id).await.map_err(|e| conn.query_error(e))? {
        Some(note) => Ok(HttpResponse::Ok().json(note)),
        None => Err(ApiError::NotFound { tenant, id }),
    }
}

async fn delete<C: NotesStore>(
    mut conn: TenantConn<C>,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let tenant = conn.tenant().clone();
    let id = id.into_inner();
    if conn.remove(id).await.map_err(|e| conn.query_error(e))? {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound { tenant, id })
    }
}
