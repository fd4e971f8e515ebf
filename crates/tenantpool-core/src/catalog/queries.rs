//! The catalog's queries, written once with diesel's query builder for every backend.

use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::connection::{on_connection, CatalogConnection};
use super::record::{now_ms, Row, TenantStatus};
use super::schema::{tenantpool_catalog, tenantpool_tenants};
use super::CatalogError;
use crate::directory::PoolOverrides;
use crate::TenantId;

/// A change to one tenant's row.
pub(super) enum Change<'a> {
    /// A new tenant, or a deleted one taken again.
    Create {
        placement: &'a str,
        overrides: &'a PoolOverrides,
    },
    /// A new status for a tenant that is not deleted.
    Status(TenantStatus),
    /// A new placement for a tenant that is not deleted.
    Move { placement: &'a str },
}

/// An error inside a catalog transaction: the database's, or the catalog's own refusal.
enum TxError {
    Db(diesel::result::Error),
    Catalog(CatalogError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Db(e)
    }
}

impl From<TxError> for CatalogError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Db(e) => CatalogError::from_query(&e),
            TxError::Catalog(e) => e,
        }
    }
}

/// One tenant's row.
pub(super) async fn get(
    conn: &mut CatalogConnection,
    tenant: &TenantId,
) -> Result<Option<Row>, CatalogError> {
    let key = tenant.as_str();
    on_connection!(conn, c => tenantpool_tenants::table
        .find(key)
        .select(Row::as_select())
        .first(c)
        .await
        .optional())
    .map_err(|e| CatalogError::from_query(&e))
}

/// Every row, by key.
pub(super) async fn all(conn: &mut CatalogConnection) -> Result<Vec<Row>, CatalogError> {
    on_connection!(conn, c => tenantpool_tenants::table
        .order(tenantpool_tenants::tenant_key)
        .select(Row::as_select())
        .load(c)
        .await)
    .map_err(|e| CatalogError::from_query(&e))
}

/// The catalog's version, and the keys of the rows changed after `since` (none when `since`
/// is `None`: the first poll only learns the version).
pub(super) async fn changed_since(
    conn: &mut CatalogConnection,
    since: Option<i64>,
) -> Result<(i64, Vec<String>), CatalogError> {
    let version: i64 = on_connection!(conn, c => tenantpool_catalog::table
        .find(1)
        .select(tenantpool_catalog::version)
        .first(c)
        .await)
    .map_err(|e| CatalogError::from_query(&e))?;
    let Some(since) = since.filter(|s| *s < version) else {
        return Ok((version, Vec::new()));
    };
    let keys: Vec<String> = on_connection!(conn, c => tenantpool_tenants::table
        .filter(tenantpool_tenants::version.gt(since))
        .select(tenantpool_tenants::tenant_key)
        .load(c)
        .await)
    .map_err(|e| CatalogError::from_query(&e))?;
    Ok((version, keys))
}

/// Records the migration version of `tenant`'s data. Not a change of the directory's answer:
/// the catalog's version stays, and no replica forgets the tenant.
pub(super) async fn record_migration(
    conn: &mut CatalogConnection,
    tenant: &TenantId,
    migration: &str,
) -> Result<bool, CatalogError> {
    use tenantpool_tenants::dsl as t;
    let key = tenant.as_str();
    on_connection!(conn, c => diesel::update(t::tenantpool_tenants.find(key))
        .set(t::migration_version.eq(migration))
        .execute(c)
        .await)
    .map(|n| n > 0)
    .map_err(|e| CatalogError::from_query(&e))
}

/// Applies `change` to `tenant`'s row in one transaction that raises the catalog's version
/// (which also serialises concurrent changes: every one updates the version row first).
pub(super) async fn apply(
    conn: &mut CatalogConnection,
    tenant: &TenantId,
    change: Change<'_>,
) -> Result<Row, CatalogError> {
    use tenantpool_tenants::dsl as t;
    let key = tenant.as_str();
    let change = &change;
    let row = on_connection!(conn, c => c
        .transaction::<Row, TxError, _>(async move |c| {
            {
                diesel::update(tenantpool_catalog::table.find(1))
                    .set(tenantpool_catalog::version.eq(tenantpool_catalog::version + 1))
                    .execute(c)
                    .await?;
                let version: i64 = tenantpool_catalog::table
                    .find(1)
                    .select(tenantpool_catalog::version)
                    .first(c)
                    .await?;
                let existing: Option<Row> = t::tenantpool_tenants
                    .find(key)
                    .select(Row::as_select())
                    .first(c)
                    .await
                    .optional()?;
                let live = existing
                    .as_ref()
                    .is_some_and(|r| r.status != TenantStatus::Deleted.as_str());
                let now = now_ms();
                match change {
                    Change::Create { placement, overrides } => {
                        if live {
                            return Err(TxError::Catalog(CatalogError::Exists { tenant: tenant.clone() }));
                        }
                        let mut row = Row::new(tenant, placement, overrides, version, now);
                        if let Some(old) = &existing {
                            row.created_at = old.created_at;
                            row.migration_version.clone_from(&old.migration_version);
                            diesel::delete(t::tenantpool_tenants.find(key)).execute(c).await?;
                        }
                        diesel::insert_into(t::tenantpool_tenants).values(&row).execute(c).await?;
                    }
                    Change::Status(status) => {
                        if !live {
                            return Err(TxError::Catalog(CatalogError::NotFound { tenant: tenant.clone() }));
                        }
                        diesel::update(t::tenantpool_tenants.find(key))
                            .set((t::status.eq(status.as_str()), t::version.eq(version), t::updated_at.eq(now)))
                            .execute(c)
                            .await?;
                    }
                    Change::Move { placement } => {
                        if !live {
                            return Err(TxError::Catalog(CatalogError::NotFound { tenant: tenant.clone() }));
                        }
                        diesel::update(t::tenantpool_tenants.find(key))
                            .set((t::placement.eq(*placement), t::version.eq(version), t::updated_at.eq(now)))
                            .execute(c)
                            .await?;
                    }
                }
                let row: Row = t::tenantpool_tenants
                    .find(key)
                    .select(Row::as_select())
                    .first(c)
                    .await?;
                Ok(row)
            }
        })
        .await);
    match row {
        Ok(row) => Ok(row),
        Err(TxError::Db(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::UniqueViolation,
            _,
        ))) => Err(CatalogError::Exists {
            tenant: tenant.clone(),
        }),
        Err(e) => Err(e.into()),
    }
}
