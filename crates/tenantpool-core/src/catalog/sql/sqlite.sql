-- The tenantpool catalog, version 1 (SQLite). Idempotent: `Catalog::install` runs it on every
-- install, and every statement is a no-op when its object exists.
CREATE TABLE IF NOT EXISTS tenantpool_catalog (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL,
    schema_version INTEGER NOT NULL
);
INSERT OR IGNORE INTO tenantpool_catalog (id, version, schema_version) VALUES (1, 0, 1);
CREATE TABLE IF NOT EXISTS tenantpool_tenants (
    tenant_key VARCHAR(63) NOT NULL PRIMARY KEY,
    placement VARCHAR(63) NOT NULL,
    status VARCHAR(16) NOT NULL CHECK (status IN ('active', 'suspended', 'deleted')),
    max_size INTEGER,
    tenant_max_in_use INTEGER,
    checkout_timeout_ms BIGINT,
    migration_version VARCHAR(64),
    version BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tenantpool_tenants_version ON tenantpool_tenants (version);
