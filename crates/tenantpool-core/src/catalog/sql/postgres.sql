-- The tenantpool catalog, version 1 (PostgreSQL). Idempotent: `Catalog::install` runs it on
-- every install, and every statement is a no-op when its object exists.
CREATE TABLE IF NOT EXISTS tenantpool_catalog (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL,
    schema_version INTEGER NOT NULL
);
INSERT INTO tenantpool_catalog (id, version, schema_version) VALUES (1, 0, 1) ON CONFLICT (id) DO NOTHING;
CREATE TABLE IF NOT EXISTS tenantpool_tenants (
    tenant_key VARCHAR(63) PRIMARY KEY,
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
-- Every change, made by tenantpool or by hand, wakes the listening replicas at commit.
CREATE OR REPLACE FUNCTION tenantpool_tenants_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('tenantpool_catalog', COALESCE(NEW.tenant_key, OLD.tenant_key));
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS tenantpool_tenants_notify ON tenantpool_tenants;
CREATE TRIGGER tenantpool_tenants_notify AFTER INSERT OR UPDATE OR DELETE ON tenantpool_tenants
    FOR EACH ROW EXECUTE FUNCTION tenantpool_tenants_notify();
