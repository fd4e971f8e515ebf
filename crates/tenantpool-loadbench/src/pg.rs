//! The driver's own PostgreSQL connections (checks, the connect ceiling, the cold start).

use tokio_postgres::{Client, NoTls};

use crate::Result;

/// Opens a connection for the driver's own queries.
pub async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .map_err(|e| format!("cannot connect to PostgreSQL at {url}: {e}"))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            eprintln!("loadbench: a driver connection ended: {e}");
        }
    });
    Ok(client)
}
