//! Micro-benchmarks of the checkout path, in ns/op (`cargo bench --bench checkout`).
//!
//! - `checkout/deadpool_direct`: a warm `get` and return on a hand-written diesel-async
//!   `Pool<AsyncPgConnection>` with `RecyclingMethod::Fast`: the baseline.
//! - `checkout/registry_get`: the same through the registry (cache hit, checkout, guard drop),
//!   database mode.
//! - `checkout/registry_get_schema_mode`: the same in schema mode, the connection already on
//!   the tenant's schema (the switch is skipped; the tenant's fair-share permit is taken).
//! - `cache_hit/*`: the registry's tenant lookup among 1,000 cached tenants that share one
//!   pool: `is_cached` alone, and a full `get` rotating over the tenants.
//!
//! Needs PostgreSQL (`TENANTPOOL_BENCH_PG_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`); skips with a notice when it is unreachable.
//! Each benchmark runs on a current-thread runtime, as an actix worker does.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use tenantpool::{
    DatabaseUrl, Registry, SchemaName, Settings, StaticDirectory, TenantId, TenantTarget,
};

const TENANTS: usize = 1000;

fn pg_url() -> String {
    let base = std::env::var("TENANTPOOL_BENCH_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}application_name=tp_bench")
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("cannot build a tokio runtime")
}

fn registry(directory: StaticDirectory) -> Registry<AsyncPgConnection> {
    let mut settings = Settings::default();
    settings.pool.max_size = 4;
    settings.cache.max_tenants = 10_000;
    settings.budget.max_connections = 8;
    Registry::builder(settings)
        .directory(directory)
        .build()
        .expect("cannot build the registry")
}

fn checkout(c: &mut Criterion) {
    let rt = runtime();
    let url = pg_url();
    let reachable = rt.block_on(async {
        tokio::time::timeout(
            Duration::from_secs(5),
            tokio_postgres::connect(&url, tokio_postgres::NoTls),
        )
        .await
    });
    if !matches!(reachable, Ok(Ok(_))) {
        eprintln!(
            "\n*** checkout benchmarks SKIPPED: PostgreSQL is unreachable at {url} \
             (set TENANTPOOL_BENCH_PG_URL) ***\n"
        );
        return;
    }

    let mut group = c.benchmark_group("checkout");

    // The baseline a user would write.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(&url, config);
    let pool: Pool<AsyncPgConnection> = Pool::builder(manager)
        .max_size(4)
        .build()
        .expect("cannot build the deadpool pool");
    drop(
        rt.block_on(pool.get())
            .expect("first checkout from deadpool"),
    );
    group.bench_function("deadpool_direct", |b| {
        b.to_async(&rt).iter(|| async {
            let conn = pool.get().await.expect("deadpool checkout");
            drop(black_box(conn));
        })
    });

    let target = DatabaseUrl::parse(&url).expect("benchmark URL");
    let acme = TenantId::parse("acme").expect("tenant key");
    let db_mode =
        registry(StaticDirectory::new().with(acme.clone(), TenantTarget::database(target.clone())));
    drop(
        rt.block_on(db_mode.get(&acme))
            .expect("first registry checkout"),
    );
    group.bench_function("registry_get", |b| {
        b.to_async(&rt).iter(|| async {
            let conn = db_mode
                .get(black_box(&acme))
                .await
                .expect("registry checkout");
            drop(black_box(conn));
        })
    });

    let public = SchemaName::parse("public").expect("schema name");
    let schema_mode = registry(
        StaticDirectory::new().with(acme.clone(), TenantTarget::schema(target.clone(), public)),
    );
    drop(
        rt.block_on(schema_mode.get(&acme))
            .expect("first schema-mode checkout"),
    );
    group.bench_function("registry_get_schema_mode", |b| {
        b.to_async(&rt).iter(|| async {
            let conn = schema_mode
                .get(black_box(&acme))
                .await
                .expect("schema-mode checkout");
            drop(black_box(conn));
        })
    });
    group.finish();

    // 1,000 cached tenants sharing one pool (same target): the lookup is what differs.
    let keys: Vec<TenantId> = (0..TENANTS)
        .map(|i| TenantId::parse(&format!("t{i}")).expect("tenant key"))
        .collect();
    let mut directory = StaticDirectory::new();
    for key in &keys {
        directory.insert(key.clone(), TenantTarget::database(target.clone()));
    }
    let many = registry(directory);
    rt.block_on(async {
        for key in &keys {
            drop(many.get(key).await.expect("starting a tenant"));
        }
    });
    many.run_maintenance();
    let mut group = c.benchmark_group("cache_hit");
    let next = AtomicUsize::new(0);
    group.bench_function("is_cached_1000_tenants", |b| {
        b.iter(|| {
            let i = next.fetch_add(1, Ordering::Relaxed) % TENANTS;
            black_box(many.is_cached(black_box(&keys[i])))
        })
    });
    group.bench_function("registry_get_1000_tenants", |b| {
        b.to_async(&rt).iter(|| async {
            let i = next.fetch_add(1, Ordering::Relaxed) % TENANTS;
            let conn = many.get(black_box(&keys[i])).await.expect("checkout");
            drop(black_box(conn));
        })
    });
    group.finish();
}

criterion_group!(benches, checkout);
criterion_main!(benches);
