//! Work outside requests (the twins): the current tenant in spawned tasks and deep calls,
//! fan-out through failures, panics and cancellation, `max_lifetime` and per-tenant
//! `max_size` end to end.

use crate::twins::twins;
use crate::Postgres;

twins!(Postgres, context, threads = 2:
    the_current_tenant_travels_into_spawned_tasks_and_deep_calls,
    a_fan_out_runs_every_listed_tenant_within_its_limit_through_failures_and_panics,
    a_fan_out_dropped_mid_transaction_leaves_no_lock_and_no_open_transaction,
    connections_older_than_max_lifetime_are_closed_and_replaced,
    a_tenant_with_its_own_max_size_gets_it_in_either_mode,
);
