//! The metric names: Prometheus style, base units (seconds), `_total` on counters.

/// Counters, published at scrape time from the registry's atomics.
pub(crate) const CHECKOUTS: &str = "tenantpool_checkouts_total";
pub(crate) const CHECKOUT_TIMEOUTS: &str = "tenantpool_checkout_timeouts_total";
pub(crate) const CONNECTIONS_OPENED: &str = "tenantpool_connections_opened_total";
pub(crate) const CONNECT_FAILURES: &str = "tenantpool_connect_failures_total";
pub(crate) const CONNECTIONS_CLOSED: &str = "tenantpool_connections_closed_total";
pub(crate) const TENANT_STARTS: &str = "tenantpool_tenant_starts_total";
pub(crate) const TENANT_EVICTIONS: &str = "tenantpool_tenant_evictions_total";
pub(crate) const UNKNOWN_TENANT_REJECTIONS: &str = "tenantpool_unknown_tenant_rejections_total";
pub(crate) const DIRECTORY_LOOKUPS: &str = "tenantpool_directory_lookups_total";
pub(crate) const SCHEMA_SWITCHES: &str = "tenantpool_schema_switches_total";
pub(crate) const HELD_TOO_LONG: &str = "tenantpool_connections_held_too_long_total";

/// Gauges per server and per registry.
pub(crate) const SERVER_CONNECTIONS_OPEN: &str = "tenantpool_server_connections_open";
pub(crate) const SERVER_CONNECTIONS_BUDGET: &str = "tenantpool_server_connections_budget";
pub(crate) const SERVER_CREATORS_WAITING: &str = "tenantpool_server_creators_waiting";
pub(crate) const SERVER_SERVICE_TOTAL: &str = "tenantpool_server_connections_service_total";
pub(crate) const SERVER_ACCEPTS: &str = "tenantpool_server_connections_accepted";
pub(crate) const CONNECTIONS_IDLE: &str = "tenantpool_connections_idle";
pub(crate) const CONNECTIONS_IN_USE: &str = "tenantpool_connections_in_use";
pub(crate) const CHECKOUTS_WAITING: &str = "tenantpool_checkouts_waiting";
pub(crate) const POOLS: &str = "tenantpool_pools";
pub(crate) const CACHED_TENANTS: &str = "tenantpool_cached_tenants";

/// Per-tenant gauges (top K and `_other`).
pub(crate) const TENANT_IN_USE: &str = "tenantpool_tenant_connections_in_use";
pub(crate) const TENANT_WAITING: &str = "tenantpool_tenant_checkouts_waiting";
pub(crate) const TENANT_WAITS: &str = "tenantpool_tenant_checkout_waits";
pub(crate) const TENANT_WAIT_SECONDS: &str = "tenantpool_tenant_checkout_wait_seconds";
pub(crate) const TENANT_TIMEOUTS: &str = "tenantpool_tenant_checkout_timeouts";

/// Histograms, recorded where the event happens.
pub(crate) const CHECKOUT_WAIT: &str = "tenantpool_checkout_wait_seconds";
pub(crate) const CONNECT_TIME: &str = "tenantpool_connect_seconds";
pub(crate) const HELD_TIME: &str = "tenantpool_connection_held_seconds";
pub(crate) const TENANT_START_TIME: &str = "tenantpool_tenant_start_seconds";

/// The `tenant` label of every tenant outside the top K.
pub(crate) const OTHER_TENANTS: &str = "_other";
