//! The catalog as the registry's directory: lookups, the list, and the watch that carries
//! changes to every replica.

use std::collections::HashSet;

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::record::TenantStatus;
use super::{queries, Catalog, TenantRecord};
use crate::directory::{DirectoryChanges, DirectoryError, TenantDirectory, TenantTarget};
use crate::TenantId;

impl Catalog {
    /// The target a row gives: `None` for a deleted tenant, a suspended target for a
    /// suspended one.
    pub(crate) fn target_of(
        &self,
        record: &TenantRecord,
    ) -> Result<Option<TenantTarget>, super::CatalogError> {
        if record.status == TenantStatus::Deleted {
            return Ok(None);
        }
        let mut target = self
            .placement_named(&record.placement)?
            .target(&record.tenant, &record.overrides)?;
        target.suspended = record.status == TenantStatus::Suspended;
        Ok(Some(target))
    }

    /// One poll: reports the tenants changed since `seen` (and those in `hinted`, changed
    /// without the version being raised: by hand, in PostgreSQL), and returns the version.
    async fn poll(
        &self,
        seen: Option<i64>,
        hinted: HashSet<String>,
        changes: &DirectoryChanges,
    ) -> Result<i64, super::CatalogError> {
        let (version, keys) = self
            .with_connection(|conn| {
                Box::pin(async move { queries::changed_since(conn, seen).await })
            })
            .await?;
        let mut reported: HashSet<String> = HashSet::new();
        for key in keys.into_iter().chain(hinted) {
            if !reported.insert(key.clone()) {
                continue;
            }
            match TenantId::parse(&key) {
                Ok(tenant) => changes.changed(&tenant),
                Err(e) => tracing::warn!(key = %key, error = %e, "catalog row with an invalid key"),
            }
        }
        Ok(version)
    }
}

#[async_trait]
impl TenantDirectory for Catalog {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        let record = self
            .get(tenant)
            .await
            .map_err(|e| DirectoryError::new(e.to_string()))?;
        match record {
            Some(record) => self
                .target_of(&record)
                .map_err(|e| DirectoryError::new(e.to_string())),
            None => Ok(None),
        }
    }

    /// The tenants that are not deleted (suspended ones included: they answer 403, not 404).
    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        let records = self
            .records()
            .await
            .map_err(|e| DirectoryError::new(e.to_string()))?;
        Ok(Some(
            records
                .into_iter()
                .filter(|r| r.status != TenantStatus::Deleted)
                .map(|r| r.tenant)
                .collect(),
        ))
    }

    /// Closes the catalog's connection (a later call opens a new one).
    async fn close(&self) {
        *self.inner.conn.lock().await = None;
    }

    /// Polls the catalog's version every `poll_interval`, and on PostgreSQL also as soon as a
    /// notification arrives; reports every tenant whose row changed.
    async fn watch(&self, changes: DirectoryChanges) {
        let (wake_tx, mut wake_rx) = mpsc::unbounded_channel::<String>();
        let _listener = self.spawn_listener(wake_tx);
        let mut seen: Option<i64> = None;
        let mut failing = false;
        loop {
            let mut hinted = HashSet::new();
            if seen.is_some() {
                tokio::select! {
                    () = tokio::time::sleep(self.inner.poll_interval) => {}
                    Some(key) = wake_rx.recv() => { hinted.insert(key); }
                }
                while let Ok(key) = wake_rx.try_recv() {
                    hinted.insert(key);
                }
            }
            match self.poll(seen, hinted, &changes).await {
                Ok(version) => {
                    if failing {
                        tracing::info!("catalog reachable again");
                        failing = false;
                    }
                    seen = Some(version);
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "catalog poll failed; retrying every poll interval");
                        failing = true;
                    }
                    if seen.is_none() {
                        tokio::time::sleep(self.inner.poll_interval).await;
                    }
                }
            }
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

impl Catalog {
    /// On PostgreSQL with `listen` on: a task that listens on `tenantpool_catalog` and sends
    /// each notification's tenant key to `wake`, reconnecting after a failure.
    fn spawn_listener(&self, wake: mpsc::UnboundedSender<String>) -> AbortOnDrop {
        #[cfg(feature = "postgres")]
        if self.inner.listen && self.inner.url.kind() == crate::BackendKind::Postgres {
            let url = self.inner.url.clone();
            let retry = self
                .inner
                .poll_interval
                .max(std::time::Duration::from_millis(500));
            return AbortOnDrop(Some(tokio::spawn(async move {
                loop {
                    if let Err(e) = listen::run(&url, &wake).await {
                        tracing::debug!(error = %e, "catalog listener ended; the poll carries changes meanwhile");
                    }
                    if wake.is_closed() {
                        return;
                    }
                    tokio::time::sleep(retry).await;
                }
            })));
        }
        let _ = wake;
        AbortOnDrop(None)
    }
}

#[cfg(feature = "postgres")]
mod listen {
    //! A PostgreSQL session that listens on the catalog's channel.

    use futures_util::StreamExt;
    use tokio::sync::mpsc;
    use tokio_postgres::tls::MakeTlsConnect;
    use tokio_postgres::{AsyncMessage, Socket};

    use crate::DatabaseUrl;

    /// Listens until the session ends; returns why it ended.
    pub(super) async fn run(
        url: &DatabaseUrl,
        wake: &mpsc::UnboundedSender<String>,
    ) -> Result<(), String> {
        let mut config: tokio_postgres::Config = url
            .driver_url()
            .parse()
            .map_err(|e| url.redact(&format!("{e}")))?;
        config.ssl_mode(crate::backend::postgres_ssl_mode(url.tls().mode));
        config.application_name("tenantpool-catalog-listener");
        match crate::backend::postgres_tls_connector(url).map_err(|e| e.to_string())? {
            Some(tls) => session(url, &config, tls, wake).await,
            None => session(url, &config, tokio_postgres::NoTls, wake).await,
        }
    }

    async fn session<T>(
        url: &DatabaseUrl,
        config: &tokio_postgres::Config,
        tls: T,
        wake: &mpsc::UnboundedSender<String>,
    ) -> Result<(), String>
    where
        T: MakeTlsConnect<Socket>,
        T::Stream: Send + 'static,
    {
        let (client, mut connection) =
            tokio::time::timeout(std::time::Duration::from_secs(5), config.connect(tls))
                .await
                .map_err(|_| "connect timed out".to_string())?
                .map_err(|e| url.redact(&e.to_string()))?;
        let (tx, mut messages) = mpsc::unbounded_channel();
        let mut stream = futures_util::stream::poll_fn(move |cx| connection.poll_message(cx));
        let driver = tokio::spawn(async move {
            while let Some(message) = stream.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if tx.send(n.payload().to_string()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        let listened = client.batch_execute("LISTEN tenantpool_catalog").await;
        if let Err(e) = listened {
            driver.abort();
            return Err(url.redact(&e.to_string()));
        }
        while let Some(key) = messages.recv().await {
            if wake.send(key).is_err() {
                break;
            }
        }
        driver.abort();
        Err("the listening session closed".into())
    }
}
