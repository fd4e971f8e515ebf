//! The catalog (the twins): tenants changed in a control database reach a registry, and
//! concurrent creates of one key make one winner, counted on the server.

use crate::twins::twins;
use crate::MySql;

twins!(MySql, catalog, threads = 2:
    a_tenant_created_suspended_resumed_moved_and_deleted_in_the_catalog_reaches_the_registry,
    concurrent_creates_of_one_key_make_one_winner_and_the_others_see_it_exists,
);
