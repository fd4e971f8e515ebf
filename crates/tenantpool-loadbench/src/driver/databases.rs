//! Checks that the tenant databases and schemas the plan needs exist (`scripts/loadbench`
//! creates them), so that a run fails at once instead of in the middle.

use crate::{db_url, fail, pg, tenant_db, tenant_key, Result, SCHEMA_DB};

use super::Plan;

/// Fails unless `lb_t1..lb_tN` and the schemas `t1..tN` of `lb_schemas` exist.
pub async fn check(plan: &Plan, admin: &tokio_postgres::Client) -> Result<()> {
    let n = plan.tenants;
    let databases: Vec<String> = (1..=n).map(tenant_db).collect();
    let sql = "SELECT count(*)::int8 FROM pg_database WHERE datname = ANY($1)";
    let found = count(admin, sql, &databases).await?;
    require(found, n, &format!("databases lb_t1..lb_t{n}"))?;
    let schemas = pg::connect(&db_url(&plan.pg, SCHEMA_DB, "lb_driver")).await?;
    let keys: Vec<String> = (1..=n).map(tenant_key).collect();
    let sql = "SELECT count(*)::int8 FROM pg_namespace WHERE nspname = ANY($1)";
    let found = count(&schemas, sql, &keys).await?;
    require(found, n, &format!("schemas t1..t{n} in {SCHEMA_DB}"))
}

/// The count `sql` returns for `names`.
async fn count(client: &tokio_postgres::Client, sql: &str, names: &[String]) -> Result<i64> {
    Ok(client.query_one(sql, &[&names]).await?.try_get(0)?)
}

/// Fails unless all `wanted` of `what` were found.
fn require(found: i64, wanted: usize, what: &str) -> Result<()> {
    if found == wanted as i64 {
        return Ok(());
    }
    fail(format!(
        "{found} of the {wanted} {what} exist: run scripts/loadbench, which creates them"
    ))
}
