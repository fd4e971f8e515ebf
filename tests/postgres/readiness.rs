//! Readiness through an outage, an exhausted budget and an idle service: the twins.

use crate::twins::twins;
use crate::Postgres;

twins!(Postgres, readiness, threads = 2:
    readiness_turns_unready_while_the_server_refuses_connections_and_ready_when_it_is_back,
    a_budget_exhausted_past_the_window_is_unready_until_it_frees,
    concurrent_readiness_calls_share_one_probe_whose_connection_is_closed_after,
);
