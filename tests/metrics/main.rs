//! The metrics a scrape shows (feature `metrics`), on real servers: exact counter deltas and
//! gauge values for known traffic on PostgreSQL, a bounded number of series for 10,000
//! SQLite tenants, and the admin `/metrics` endpoint behind its bearer token.
//!
//! Its own test binary, because metrics go to the process's one global recorder
//! (`AdminMetrics::install`). Counters and gauges carry the registry's name, unique per
//! test; the histograms carry only server and backend, so the tests of this binary run one
//! at a time ([`serial`]) and read histogram deltas.

#[path = "../common/mod.rs"]
#[allow(unused_macros, unused_imports)] // its SQL helpers serve the other binaries
mod common;

mod endpoint;
mod postgres;
mod sqlite;

use tenantpool::actix::admin::AdminMetrics;

/// The binary's recorder.
pub fn recorder() -> AdminMetrics {
    AdminMetrics::install().expect("this binary installs the only global recorder")
}

/// A fresh, empty data directory for the SQLite files of test `name`, and the template of
/// a registry creating a file in it for each tenant of `keys`.
pub fn sqlite_template(
    name: &str,
    keys: impl IntoIterator<Item = impl AsRef<str>>,
) -> (std::path::PathBuf, tenantpool::TemplateDirectory) {
    let dir = std::env::temp_dir()
        .join("tenantpool-tests")
        .join("metrics")
        .join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).expect("clean the test's data directory");
    }
    std::fs::create_dir_all(&dir).expect("create the test's data directory");
    let template = format!("sqlite://{}/{{tenant}}.db", dir.display());
    let keys = keys
        .into_iter()
        .map(|k| tenantpool::TenantId::parse(k.as_ref()))
        .collect::<Result<Vec<_>, _>>()
        .expect("keys");
    let directory = tenantpool::TemplateDirectory::database(&template)
        .expect("template")
        .allow(keys)
        .creating_missing();
    (dir, directory)
}

/// One test at a time (see the module docs).
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

/// A scrape's text, read by metric name and labels.
pub struct Scrape(pub String);

impl Scrape {
    /// The samples of `name` (exact name) whose labels include every pair of `labels`.
    pub fn samples(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.0
            .lines()
            .filter(|line| !line.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                (metric == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse().expect("a number"))
            })
            .collect()
    }

    /// The one sample of `name` with `labels`, 0 when there is none yet.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        match self.samples(name, labels)[..] {
            [] => 0.0,
            [v] => v,
            ref many => panic!("{name} {labels:?}: {} samples, expected one", many.len()),
        }
    }

    /// The sample lines (series) carrying `label`.
    pub fn series_with(&self, label: (&str, &str)) -> Vec<&str> {
        let needle = format!("{}=\"{}\"", label.0, label.1);
        self.0
            .lines()
            .filter(|line| !line.starts_with('#') && line.contains(&needle))
            .collect()
    }
}

/// The admin token of the endpoints here.
pub const TOKEN: &str = "metrics-admin-token-0123456789";

/// Scrapes `GET /_tenantpool/metrics` of `admin` with `auth` as the Authorization header:
/// the status, and the text.
pub async fn get_metrics(
    admin: &tenantpool::actix::admin::Admin,
    auth: Option<&str>,
) -> (u16, Scrape) {
    use actix_web::{test, App};
    let app = test::init_service(App::new().service(admin.scope())).await;
    let mut req = test::TestRequest::get().uri("/_tenantpool/metrics");
    if let Some(auth) = auth {
        req = req.insert_header(("Authorization", auth));
    }
    let resp = test::call_service(&app, req.to_request()).await;
    let status = resp.status().as_u16();
    let body = test::read_body(resp).await;
    (
        status,
        Scrape(String::from_utf8(body.to_vec()).expect("utf-8")),
    )
}

/// A scrape with the right token, which must answer 200.
pub async fn scrape(admin: &tenantpool::actix::admin::Admin) -> Scrape {
    let (status, text) = get_metrics(admin, Some(&format!("Bearer {TOKEN}"))).await;
    assert_eq!(status, 200, "{}", text.0);
    text
}

/// The admin scope reporting on `registry` as `name`, with the binary's recorder.
pub fn admin<C: tenantpool::Backend>(
    name: &str,
    registry: tenantpool::Registry<C>,
) -> tenantpool::actix::admin::Admin {
    tenantpool::actix::admin::Admin::new("/_tenantpool", TOKEN)
        .expect("admin")
        .registry(name, registry)
        .metrics(recorder())
}
