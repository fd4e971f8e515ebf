//! The benchmark's own PostgreSQL connections (the driver's checks, the connect ceiling, the
//! cold start, and the hand-written variants A, D and E), over the process's transport
//! (`--sslmode`): plain TCP, or TLS with the connector tenantpool itself uses.

use diesel::ConnectionResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;
use tokio_postgres::{Client, NoTls};

use crate::Result;

/// A client and its connection's driver future (to spawn), over the process's transport.
pub async fn open(url: &str) -> Result<(Client, BoxFuture<'static, ()>)> {
    let parsed = tenantpool::DatabaseUrl::parse(url)?;
    match tenantpool::backend::postgres_tls_connector(&parsed)? {
        Some(tls) => {
            let (client, connection) = tokio_postgres::connect(url, tls).await?;
            Ok((client, connection.map(drop).boxed()))
        }
        None => {
            let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
            Ok((client, connection.map(drop).boxed()))
        }
    }
}

/// Opens a connection for the driver's own queries.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, driver) = open(url)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL: {e}"))?;
    tokio::spawn(driver);
    Ok(client)
}

/// What a hand-written variant's pool (or D's per-request connect) does: diesel-async's
/// `establish` on plain TCP, the same connector as tenantpool's under TLS.
pub async fn establish(url: &str) -> ConnectionResult<AsyncPgConnection> {
    if crate::sslmode() == "disable" {
        return AsyncPgConnection::establish(url).await;
    }
    let bad = |e: String| diesel::ConnectionError::BadConnection(e);
    let parsed = tenantpool::DatabaseUrl::parse(url).map_err(|e| bad(e.to_string()))?;
    let tls = tenantpool::backend::postgres_tls_connector(&parsed)
        .map_err(|e| bad(e.to_string()))?
        .ok_or_else(|| bad("no TLS connector".into()))?;
    let (client, connection) = tokio_postgres::connect(url, tls)
        .await
        .map_err(|e| bad(e.to_string()))?;
    AsyncPgConnection::try_from_client_and_connection(client, connection).await
}
