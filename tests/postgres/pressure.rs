//! Per-tenant pressure in the stats snapshot (the twins): exact figures for known traffic.

use crate::twins::twins;
use crate::Postgres;

twins!(Postgres, pressure, threads = 2:
    held_connections_waits_and_timeouts_give_exact_figures_per_tenant,
);
