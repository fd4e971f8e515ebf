//! Sessions killed by the server (`KILL CONNECTION`): the twins. In database mode mysql_async
//! cannot see a session killed while idle before its first statement, which then fails with a
//! 503-class error (`pool.validate_after_idle = "0s"` closes that gap for a round trip per
//! checkout); under load that is covered by the twin's "only rows or 503-class" check.

use crate::twins::twins;
use crate::MySql;

twins!(MySql, killed, threads = 2:
    sessions_killed_while_idle_cost_no_schema_mode_request_an_error,
    sessions_killed_under_load_answer_only_rows_or_unavailable,
);
