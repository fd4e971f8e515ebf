//! A background worker at full size (the twins): 10,000 jobs over 200 tenants in database
//! and schema mode.

use crate::twins::twins;
use crate::MySql;

twins!(MySql, jobs, threads = 2:
    a_worker_runs_ten_thousand_jobs_over_database_tenants_and_leaves_nothing_open,
    a_worker_runs_ten_thousand_jobs_over_schema_tenants_and_leaves_nothing_open,
);
