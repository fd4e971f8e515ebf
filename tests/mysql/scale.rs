//! Many tenants at once: the budget holds at every sampled instant, idle tenants drain to zero
//! connections with no further traffic, and a stampede on a cold tenant builds one pool.

use crate::twins::twins;
use crate::MySql;

twins!(MySql, scale, threads = 4:
    many_database_tenants_stay_within_budget_and_drain_when_idle,
    many_schema_tenants_share_one_pool_within_budget_and_drain_when_idle,
    a_stampede_on_a_cold_tenant_builds_one_pool_and_at_most_max_size_connections,
);
