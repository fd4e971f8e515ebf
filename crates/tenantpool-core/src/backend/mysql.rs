//! MySQL and MariaDB through `AsyncMysqlConnection`.
//!
//! The connection is opened with mysql_async on the I/O runtime (so that its socket belongs to
//! that runtime, and so that "unknown database" is told apart by its error code), then wrapped
//! by diesel-async. mysql_async cannot hold the budget permit, so it travels next to the
//! connection and is dropped with it.

use diesel::connection::CacheSize;
use diesel::sql_types::{BigInt, Bool, Text};
use diesel::QueryableByName;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, RunQueryDsl, SimpleAsyncConnection};
use futures_util::future::BoxFuture;

use super::{on_io, quoted, Backend, ConnectContext, ConnectFailure};
use crate::backend::ConnectionPermit;
use crate::tls::{TlsMode, TlsOptions};
use crate::{BackendKind, DatabaseUrl, IoRuntime, SchemaName};

/// What [`Backend::server_capacity`] reads.
#[derive(QueryableByName)]
struct Accepts {
    #[diesel(sql_type = BigInt)]
    accepts: i64,
}

/// MySQL's "Unknown database" error code.
const ER_BAD_DB_ERROR: u16 = 1049;

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

impl Backend for AsyncMysqlConnection {
    const KIND: BackendKind = BackendKind::Mysql;

    async fn connect(
        url: DatabaseUrl,
        ctx: ConnectContext,
    ) -> Result<(Self, Option<ConnectionPermit>), ConnectFailure> {
        let ConnectContext {
            io,
            permit,
            timeout,
            ..
        } = ctx;
        on_io(&io, timeout, async move {
            let opts = mysql_async::Opts::from_url(url.driver_url())
                .map_err(|e| ConnectFailure::Unavailable(url.redact(&e.to_string())))?;
            // As diesel-async's own `establish`: diesel's statement cache replaces
            // mysql_async's, and affected rows are matched rows. And one TCP session: by
            // default mysql_async reconnects over the server's Unix socket after logging in,
            // which opens a second session behind the budget's back.
            let opts = mysql_async::OptsBuilder::from_opts(opts)
                .prefer_socket(false)
                .stmt_cache_size(0)
                .client_found_rows(true);
            // Inside the connect turn, the permit and the connect timeout: the handshake is
            // part of the connect.
            let tls = ssl_opts(url.tls()).map_err(ConnectFailure::Tls)?;
            let raw = match mysql_async::Conn::new(opts.clone().ssl_opts(tls)).await {
                // PREFERRED: plain TCP when the server offers no TLS.
                Err(mysql_async::Error::Driver(
                    mysql_async::DriverError::NoClientSslFlagFromServer,
                )) if url.tls().mode == TlsMode::Prefer => mysql_async::Conn::new(opts).await,
                other => other,
            }
            .map_err(|e| classify(&url, e))?;
            let conn = AsyncMysqlConnection::try_from(raw)
                .await
                .map_err(|e| ConnectFailure::Unavailable(url.redact(&e.to_string())))?;
            // The permit travels with the connection, in this task, so that a cancelled
            // caller cannot release it while the connection still exists.
            Ok((conn, Some(permit)))
        })
        .await
    }

    async fn server_capacity(&mut self) -> diesel::QueryResult<Option<u64>> {
        let row: Accepts = diesel::sql_query("SELECT CAST(@@max_connections AS SIGNED) AS accepts")
            .get_result(self)
            .await?;
        Ok(u64::try_from(row.accepts).ok())
    }

    async fn validate(&mut self) -> diesel::QueryResult<()> {
        self.batch_execute("SELECT 1").await
    }

    async fn switch_schema(&mut self, schema: &SchemaName) -> diesel::QueryResult<()> {
        self.batch_execute(&format!("USE {}", quoted(schema, '`')))
            .await
    }

    async fn ensure_schema(
        &mut self,
        schema: &SchemaName,
        create: bool,
    ) -> diesel::QueryResult<bool> {
        if create {
            self.batch_execute(&format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                quoted(schema, '`')
            ))
            .await?;
        }
        let found: Present = diesel::sql_query(
            "SELECT EXISTS (SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?) AS present",
        )
        .bind::<Text, _>(schema.as_str())
        .get_result(self)
        .await?;
        Ok(found.present)
    }

    fn prepare_for_sharing(&mut self) {
        self.set_prepared_statement_cache_size(CacheSize::Disabled);
    }

    fn abandon(&mut self, _url: &DatabaseUrl) -> Option<BoxFuture<'static, ()>> {
        let token = self.cancel_token();
        Some(Box::pin(async move {
            if let Err(e) = token.cancel_query().await {
                tracing::debug!(error = %e, "KILL QUERY for an abandoned connection failed");
            }
        }))
    }

    fn close(self, permit: Option<ConnectionPermit>, io: &IoRuntime, clean: bool) {
        if clean {
            // mysql_async closes a dropped connection with COM_QUIT from a task it spawns on
            // the current runtime. Drop it on the I/O runtime, let that task run (it finishes
            // in one poll: nothing is pending on a clean connection), then release the permit.
            io.handle().spawn(async move {
                drop(self);
                tokio::task::yield_now().await;
                tokio::task::yield_now().await;
                drop(permit);
            });
        } else {
            // An abandoned connection may have a result half read: draining it could take as
            // long as the statement. Outside any runtime, mysql_async closes the socket at once.
            close_off_runtime(move || {
                drop(self);
                drop(permit);
            });
        }
    }
}

fn classify(url: &DatabaseUrl, e: mysql_async::Error) -> ConnectFailure {
    match &e {
        mysql_async::Error::Server(s) if s.code == ER_BAD_DB_ERROR => {
            ConnectFailure::DatabaseMissing
        }
        mysql_async::Error::Io(mysql_async::IoError::Tls(_))
        | mysql_async::Error::Driver(
            mysql_async::DriverError::NoClientSslFlagFromServer
            | mysql_async::DriverError::NoKeyFound,
        ) => ConnectFailure::Tls(url.redact(&e.to_string())),
        // rustls's certificate and alert errors reach mysql_async wrapped in an I/O error.
        mysql_async::Error::Io(_)
            if [
                "invalid peer certificate",
                "received fatal alert",
                "peer is incompatible",
            ]
            .iter()
            .any(|needle| e.to_string().contains(needle)) =>
        {
            ConnectFailure::Tls(url.redact(&e.to_string()))
        }
        _ => ConnectFailure::Unavailable(url.redact(&e.to_string())),
    }
}

/// mysql_async's TLS options for `options`: `None` for `DISABLED`. The system's roots are
/// handed over as certificates when no root file is given (mysql_async would otherwise trust
/// its built-in Mozilla set instead of the machine's).
fn ssl_opts(options: &TlsOptions) -> Result<Option<mysql_async::SslOpts>, String> {
    if options.mode == TlsMode::Disable {
        return Ok(None);
    }
    let verify = options.mode.verifies_chain(options.root_cert.is_some());
    // Unverified modes keep mysql_async's built-in roots: its verifier needs some anchors to
    // be built at all, and accepts any certificate anyway.
    let mut ssl = mysql_async::SslOpts::default()
        .with_disable_built_in_roots(verify)
        .with_danger_accept_invalid_certs(!verify)
        .with_danger_skip_domain_validation(options.mode != TlsMode::VerifyFull);
    if verify {
        ssl = match &options.root_cert {
            Some(path) => ssl.with_root_certs(vec![path.clone().into()]),
            None => {
                let found = rustls_native_certs::load_native_certs();
                if found.certs.is_empty() {
                    return Err("no trusted roots on this system: give ssl-ca".into());
                }
                ssl.with_root_certs(found.certs.into_iter().map(|c| c.to_vec().into()).collect())
            }
        };
    }
    if let (Some(cert), Some(key)) = (&options.client_cert, &options.client_key) {
        ssl = ssl.with_client_identity(Some(mysql_async::ClientIdentity::new(
            cert.clone().into(),
            pkcs1_key(key)?.into(),
        )));
    }
    Ok(Some(ssl))
}

/// The client key at `path` as PKCS#1 DER: the only form mysql_async reads (it would take
/// any other key for "no key found").
fn pkcs1_key(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::PrivateKeyDer;
    match PrivateKeyDer::from_pem_file(path) {
        Ok(PrivateKeyDer::Pkcs1(key)) => Ok(key.secret_pkcs1_der().to_vec()),
        Ok(_) => Err(format!(
            "the client key {} is not an RSA key in PKCS#1 form, the only form the MySQL \
             driver reads (convert with `openssl rsa -in key.pem -traditional`)",
            path.display()
        )),
        Err(e) => Err(format!(
            "cannot read the client key {}: {e}",
            path.display()
        )),
    }
}

/// Runs `job` on a thread with no tokio runtime (one long-lived thread for all closes).
fn close_off_runtime(job: impl FnOnce() + Send + 'static) {
    use std::sync::mpsc::{channel, Sender};
    use std::sync::{Mutex, OnceLock};
    type Job = Box<dyn FnOnce() + Send>;
    static CLOSER: OnceLock<Mutex<Option<Sender<Job>>>> = OnceLock::new();
    let closer = CLOSER.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("tenantpool-mysql-close".into())
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    job();
                }
            });
        Mutex::new(spawned.ok().map(|_| tx))
    });
    let job: Job = Box::new(job);
    let sender = crate::lock::lock(closer).clone();
    match sender {
        Some(tx) => {
            if let Err(returned) = tx.send(job) {
                (returned.0)();
            }
        }
        None => job(),
    }
}
