//! `budget.replicas` (the twins): a replica's share of the budget, counted on the server, and
//! what the server accepts read from it.

use crate::twins::twins;
use crate::MySql;

twins!(MySql, replicas, threads = 2:
    a_replica_opens_only_its_share_and_reads_what_the_server_accepts,
);
