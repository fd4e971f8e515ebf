//! The per-server budget: steals from idle pools, hands returned connections to waiting
//! creators, and fails with a typed error only after the checkout timeout.

use crate::twins::twins;
use crate::MySql;

twins!(MySql, budget, threads = 2:
    a_full_budget_of_idle_connections_makes_room_by_stealing_not_by_timeout,
    connections_returned_to_pools_nobody_waits_on_pass_their_permit_to_a_waiting_tenant,
    a_budget_held_by_busy_connections_fails_the_checkout_with_exhausted_after_the_timeout,
);
