//! Tenant migrations (the twins): once at first start, skipped when current, in bulk.

use crate::twins::twins;
use crate::Postgres;

twins!(Postgres, migrations, threads = 2:
    migrations_run_once_at_first_start_and_in_bulk_resumably,
);
