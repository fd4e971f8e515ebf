//! Checks that the tenant databases and schemas the plan needs exist (`scripts/loadbench`
//! creates them), so that a run fails at once instead of in the middle.

use crate::{db_url, fail, sampler, tenant_db, tenant_key, Result, SCHEMA_DB};

use super::Plan;

/// Fails unless `lb_t1..lb_tN` and the schemas `t1..tN` of `lb_schemas` exist.
pub async fn check(plan: &Plan, admin: &tokio_postgres::Client) -> Result<()> {
    let wanted: Vec<String> = (1..=plan.tenants).map(tenant_db).collect();
    let row = admin
        .query_one(
            "SELECT count(*)::int8 FROM pg_database WHERE datname = ANY($1)",
            &[&wanted],
        )
        .await?;
    let found: i64 = row.get(0);
    if found != plan.tenants as i64 {
        return fail(format!(
            "{found} of the {} databases lb_t1..lb_t{} exist: run scripts/loadbench, which creates them",
            plan.tenants, plan.tenants
        ));
    }
    let schemas = sampler::connect(&db_url(&plan.pg, SCHEMA_DB, "lb_driver")).await?;
    let keys: Vec<String> = (1..=plan.tenants).map(tenant_key).collect();
    let row = schemas
        .query_one(
            "SELECT count(*)::int8 FROM pg_namespace WHERE nspname = ANY($1)",
            &[&keys],
        )
        .await?;
    let found: i64 = row.get(0);
    if found != plan.tenants as i64 {
        return fail(format!(
            "{found} of the {} schemas t1..t{} exist in {SCHEMA_DB}: run scripts/loadbench, which creates them",
            plan.tenants, plan.tenants
        ));
    }
    Ok(())
}
