//! The provisioning lock of one tenant, held across processes for the whole of an operation.
//!
//! - PostgreSQL: a session advisory lock on the catalog's connection, keyed by a hash of
//!   `tenantpool:<key>`;
//! - MySQL/MariaDB: `GET_LOCK('tenantpool:<key>')` on the catalog's connection;
//! - SQLite: an exclusive lock on the file `<catalog file>.provision.lock` (one for the whole
//!   catalog: an embedded database has one machine's worth of provisioning).
//!
//! The server-side locks belong to the catalog's session: a process that dies holding one
//! releases it with its connection.

use std::time::{Duration, Instant};

use super::connection::CatalogConnection;
use super::CatalogError;
use crate::TenantId;

/// How often a taken lock is tried again.
const RETRY: Duration = Duration::from_millis(25);

/// A held provisioning lock; give it back with [`TenantLock::release`].
pub(super) enum TenantLock {
    /// Held by the catalog's database session.
    #[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
    Session { name: String },
    /// Held through an open lock file.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    File(std::fs::File),
}

impl TenantLock {
    /// Takes `tenant`'s lock, waiting at most `wait`.
    pub(super) async fn take(
        conn: &mut CatalogConnection,
        #[cfg_attr(not(feature = "sqlite"), allow(unused_variables))] lock_file: Option<
            &std::path::Path,
        >,
        tenant: &TenantId,
        wait: Duration,
    ) -> Result<Self, CatalogError> {
        let name = format!("tenantpool:{tenant}");
        let deadline = Instant::now() + wait;
        loop {
            let got = match conn {
                #[cfg(feature = "postgres")]
                CatalogConnection::Pg(c) => pg::try_lock(c, &name).await?,
                #[cfg(feature = "mysql")]
                CatalogConnection::Mysql(c) => mysql::try_lock(c, &name).await?,
                #[cfg(feature = "sqlite")]
                CatalogConnection::Sqlite(_) => {
                    let path = lock_file
                        .ok_or_else(|| {
                            CatalogError::Unsupported(
                                "a SQLite catalog in memory has no lock file".into(),
                            )
                        })?
                        .to_path_buf();
                    let file = tokio::task::spawn_blocking(move || try_lock_file(&path))
                        .await
                        .map_err(|e| {
                            CatalogError::Unavailable(format!("lock task failed: {e}"))
                        })??;
                    if let Some(file) = file {
                        return Ok(Self::File(file));
                    }
                    false
                }
            };
            if got {
                return Ok(Self::Session { name });
            }
            if Instant::now() >= deadline {
                return Err(CatalogError::Locked {
                    tenant: tenant.clone(),
                });
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Gives the lock back. A failure leaves it to the session's end (the caller then drops
    /// the connection).
    pub(super) async fn release(self, conn: &mut CatalogConnection) -> Result<(), CatalogError> {
        match (self, conn) {
            (Self::File(file), _) => {
                drop(file);
                Ok(())
            }
            #[cfg(feature = "postgres")]
            (Self::Session { name }, CatalogConnection::Pg(c)) => pg::unlock(c, &name).await,
            #[cfg(feature = "mysql")]
            (Self::Session { name }, CatalogConnection::Mysql(c)) => mysql::unlock(c, &name).await,
            #[allow(unreachable_patterns)]
            _ => Ok(()),
        }
    }
}

#[cfg(feature = "postgres")]
mod pg {
    //! A session advisory lock, keyed by a hash of the name.

    use diesel::sql_types::{Bool, Text};
    use diesel::QueryableByName;
    use diesel_async::{AsyncPgConnection, RunQueryDsl};

    use crate::catalog::CatalogError;

    #[derive(QueryableByName)]
    struct Got {
        #[diesel(sql_type = Bool)]
        got: bool,
    }

    pub(super) async fn try_lock(
        c: &mut AsyncPgConnection,
        name: &str,
    ) -> Result<bool, CatalogError> {
        diesel::sql_query("SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS got")
            .bind::<Text, _>(name)
            .get_result::<Got>(c)
            .await
            .map(|g| g.got)
            .map_err(|e| CatalogError::from_query(&e))
    }

    pub(super) async fn unlock(c: &mut AsyncPgConnection, name: &str) -> Result<(), CatalogError> {
        diesel::sql_query("SELECT pg_advisory_unlock(hashtextextended($1, 0)) AS got")
            .bind::<Text, _>(name)
            .get_result::<Got>(c)
            .await
            .map(drop)
            .map_err(|e| CatalogError::from_query(&e))
    }
}

#[cfg(feature = "mysql")]
mod mysql {
    //! `GET_LOCK` and `RELEASE_LOCK`.

    use diesel::sql_types::{BigInt, Nullable, Text};
    use diesel::QueryableByName;
    use diesel_async::{AsyncMysqlConnection, RunQueryDsl};

    use crate::catalog::CatalogError;

    #[derive(QueryableByName)]
    struct Got {
        #[diesel(sql_type = Nullable<BigInt>)]
        got: Option<i64>,
    }

    pub(super) async fn try_lock(
        c: &mut AsyncMysqlConnection,
        name: &str,
    ) -> Result<bool, CatalogError> {
        diesel::sql_query("SELECT GET_LOCK(?, 0) AS got")
            .bind::<Text, _>(name)
            .get_result::<Got>(c)
            .await
            .map(|g| g.got == Some(1))
            .map_err(|e| CatalogError::from_query(&e))
    }

    pub(super) async fn unlock(
        c: &mut AsyncMysqlConnection,
        name: &str,
    ) -> Result<(), CatalogError> {
        diesel::sql_query("SELECT RELEASE_LOCK(?) AS got")
            .bind::<Text, _>(name)
            .get_result::<Got>(c)
            .await
            .map(drop)
            .map_err(|e| CatalogError::from_query(&e))
    }
}

/// Tries once to lock `path` (created when missing); `None` when another holds it.
#[cfg(feature = "sqlite")]
fn try_lock_file(path: &std::path::Path) -> Result<Option<std::fs::File>, CatalogError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| CatalogError::Unavailable(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => Err(CatalogError::Unavailable(format!(
            "{}: {e}",
            path.display()
        ))),
    }
}
