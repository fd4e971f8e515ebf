//! Hostile input: property tests of the host, header, path and tenant-key parsers; a
//! rejection table of hostile `Host` headers over real HTTP; floods of unknown tenants with
//! a directory that counts how often it is asked.

use std::cell::RefCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::http::header::{HeaderName, HeaderValue, HOST};
use actix_web::test::TestRequest;
use actix_web::{web, App, HttpResponse};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tenantpool::actix::resolve::{ActixRequest, Host, HostName, ResolvedBy, Resolver};
use tenantpool::actix::{GracefulShutdown, ResolveTenant, TenantConn, TenantRegistry};
use tenantpool::directory::async_trait;
use tenantpool::{
    DatabaseUrl, DirectoryError, Registry, Settings, SqliteConnection, StaticDirectory,
    TenantDirectory, TenantId, TenantTarget,
};

use crate::support::{self, client, get, random_key};

// ---------------------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------------------

/// Cases per property: `PROPTEST_CASES` when set, else 1,000,000 at full size and 20,000
/// otherwise.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(support::size(20_000, 1_000_000))
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Whether `label` is a DNS label as the resolver must accept it.
fn valid_label(label: &str) -> bool {
    (1..=63).contains(&label.len())
        && label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !label.starts_with('-')
        && !label.ends_with('-')
}

/// Labels: ordinary, upper case, too long, punycode, reserved, hostile characters.
fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9][a-z0-9-]{0,12}[a-z0-9]",
        2 => "[a-zA-Z0-9-]{0,8}",
        1 => "[a-z]{60,66}",
        1 => "xn--[a-z0-9]{1,8}",
        1 => Just("www".to_string()),
        1 => Just("api".to_string()),
        1 => "[0-9]{1,4}",
        2 => "[a-z]{0,4}[@_ /\\\\:#%?\\[\\]\\x00-\\x1f\\x7f\u{0430}\u{0435}\u{043e}\u{ff0e}\u{3002}][a-z]{0,4}",
    ]
}

/// Hosts: structured ones near the base domain, and arbitrary text.
fn host() -> impl Strategy<Value = String> {
    let structured = (
        prop::collection::vec(label(), 1..4),
        prop_oneof![
            Just(".example.com"),
            Just(".EXAMPLE.com"),
            Just(".example.com."),
            Just(".example.com.evil.com"),
            Just("example.com"),
            Just(".exаmple.com"),
            Just(".example.co"),
            Just(""),
        ],
        prop_oneof![
            3 => Just(String::new()),
            2 => "[0-9]{1,6}".prop_map(|p| format!(":{p}")),
            1 => "[^0-9]{0,3}".prop_map(|p| format!(":{p}")),
        ],
    )
        .prop_map(|(labels, base, port)| format!("{}{base}{port}", labels.join(".")));
    prop_oneof![
        6 => structured,
        1 => any::<String>(),
        1 => prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => "\\[[0-9a-f:.]{0,20}\\](:[0-9]{0,6})?",
        1 => "[0-9]{1,3}(\\.[0-9]{1,3}){0,4}(:[0-9]{0,6})?",
    ]
}

fn resolver() -> Resolver {
    Resolver::builder()
        .subdomain_of("example.com")
        .build()
        .expect("resolver")
}

fn request_with(name: HeaderName, value: &str) -> Option<actix_web::HttpRequest> {
    let value = HeaderValue::from_bytes(value.as_bytes()).ok()?;
    Some(
        TestRequest::default()
            .insert_header((name, value))
            .to_http_request(),
    )
}

fn check(ok: bool, message: impl FnOnce() -> String) -> Result<(), TestCaseError> {
    if ok {
        Ok(())
    } else {
        Err(TestCaseError::fail(message()))
    }
}

/// The name part of a raw host as the rules say it must come out: port and one trailing dot
/// stripped, lower case.
fn expected_name(raw: &str) -> Option<String> {
    let name = match raw.rsplit_once(':') {
        Some((name, port)) if !raw.starts_with('[') => {
            let _ = port;
            name
        }
        _ => raw,
    };
    Some(name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase())
}

#[test]
fn fuzzed_hosts_never_panic_and_every_accepted_host_follows_the_base_domain_rules() {
    let resolver = resolver();
    let accepted = std::cell::Cell::new(0u64);
    let tenants = std::cell::Cell::new(0u64);
    let started = Instant::now();
    runner()
        .run(&host(), |raw| {
            let parsed = Host::parse(&raw);
            if let Ok(host) = &parsed {
                accepted.set(accepted.get() + 1);
                match host.name() {
                    HostName::Domain(d) => {
                        check(d.len() <= 253, || format!("{raw:?}: {d} is too long"))?;
                        check(d.split('.').all(valid_label), || {
                            format!("{raw:?} accepted with an invalid label: {d}")
                        })?;
                        check(
                            !d.rsplit('.')
                                .next()
                                .unwrap_or("")
                                .bytes()
                                .all(|b| b.is_ascii_digit()),
                            || format!("{raw:?}: a numeric last label was accepted: {d}"),
                        )?;
                        check(expected_name(&raw).as_deref() == Some(d.as_str()), || {
                            format!("{raw:?} came out as {d}")
                        })?;
                    }
                    HostName::Ip(IpAddr::V4(ip)) => {
                        let name = expected_name(&raw).unwrap_or_default();
                        check(name.parse::<Ipv4Addr>().ok() == Some(*ip), || {
                            format!("{raw:?} accepted as {ip}")
                        })?;
                    }
                    HostName::Ip(IpAddr::V6(ip)) => {
                        let inner = raw
                            .strip_prefix('[')
                            .and_then(|r| r.split(']').next())
                            .unwrap_or("");
                        check(inner.parse::<Ipv6Addr>().ok() == Some(*ip), || {
                            format!("{raw:?} accepted as {ip}")
                        })?;
                    }
                }
            }
            let Some(req) = request_with(HOST, &raw) else {
                return Ok(());
            };
            match resolver.resolve(&ActixRequest::new(&req)) {
                Ok(Some(found)) => {
                    tenants.set(tenants.get() + 1);
                    let t = found.tenant.as_str();
                    check(valid_label(t) && TenantId::parse(t).is_ok(), || {
                        format!("{raw:?} gave an invalid key {t:?}")
                    })?;
                    check(found.source == ResolvedBy::Subdomain, || format!("{raw:?}"))?;
                    check(
                        !["www", "api"].contains(&t) && !t.starts_with("xn--"),
                        || format!("{raw:?} gave a reserved or punycode key {t:?}"),
                    )?;
                    let domain = parsed
                        .as_ref()
                        .ok()
                        .and_then(|h| h.domain().map(str::to_string));
                    check(domain == Some(format!("{t}.example.com")), || {
                        format!("{raw:?} gave {t:?} but its host is {domain:?}")
                    })?;
                }
                Ok(None) => {
                    // Not a tenant host: never one of the form <valid label>.example.com.
                    if let Ok(h) = &parsed {
                        if let Some(label) = h.domain().and_then(|d| d.strip_suffix(".example.com"))
                        {
                            check(
                                label.contains('.')
                                    || ["www", "api"].contains(&label)
                                    || !valid_label(label),
                                || format!("{raw:?}: the tenant host was not resolved"),
                            )?;
                        }
                    }
                }
                Err(_) => {}
            }
            if parsed.is_err() {
                check(resolver.resolve(&ActixRequest::new(&req)).is_err(), || {
                    format!("{raw:?} does not parse but was not refused")
                })?;
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "FIGURES fuzz_hosts: cases={} accepted_hosts={} tenants_found={} took={:?}",
        cases(),
        accepted.get(),
        tenants.get(),
        started.elapsed()
    );
    assert!(
        accepted.get() > 0 && tenants.get() > 0,
        "the generator never hit an accepted host"
    );
}

#[test]
fn fuzzed_tenant_keys_headers_and_paths_never_panic_and_accept_only_valid_keys() {
    let resolver = Resolver::builder()
        .header("X-Tenant-Id")
        .path_prefix("/t")
        .build()
        .expect("resolver");
    let key = prop_oneof![
        4 => label(),
        1 => any::<String>(),
        1 => " {0,2}[a-zA-Z0-9-]{0,70}[ \t]{0,2}",
    ];
    let started = Instant::now();
    let accepted = std::cell::Cell::new(0u64);
    runner()
        .run(&(key, any::<bool>()), |(raw, by_path)| {
            let parsed = TenantId::parse(&raw);
            if let Ok(t) = &parsed {
                accepted.set(accepted.get() + 1);
                check(valid_label(t.as_str()), || {
                    format!("{raw:?} accepted as {t}")
                })?;
                check(t.as_str() == raw.to_ascii_lowercase(), || {
                    format!("{raw:?} came out as {t}")
                })?;
            }
            // For the path source, the segment after `/t/` of the path as the URI parser
            // read it; for the header, the value without surrounding blanks.
            let (req, want) = if by_path {
                let Ok(uri) = actix_web::http::Uri::try_from(format!("/t/{raw}/notes")) else {
                    return Ok(());
                };
                let segment = uri
                    .path()
                    .strip_prefix("/t/")
                    .and_then(|rest| rest.split('/').next())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                (
                    TestRequest::default()
                        .uri(&uri.to_string())
                        .to_http_request(),
                    segment,
                )
            } else {
                let Some(req) = request_with(HeaderName::from_static("x-tenant-id"), &raw) else {
                    return Ok(());
                };
                (req, raw.trim_matches([' ', '\t']).to_ascii_lowercase())
            };
            match resolver.resolve(&ActixRequest::new(&req)) {
                Ok(Some(found)) => {
                    let t = found.tenant.as_str();
                    check(valid_label(t), || format!("{raw:?} resolved to {t:?}"))?;
                    check(t == want, || {
                        format!("{raw:?} resolved to {t:?}, not {want:?}")
                    })?;
                }
                Ok(None) => {
                    return Err(TestCaseError::fail(format!(
                        "{raw:?} (path: {by_path}) was neither resolved nor refused"
                    )));
                }
                Err(_) => {
                    check(TenantId::parse(&want).is_err(), || {
                        format!("{raw:?} (path: {by_path}) refused, but {want:?} is a valid key")
                    })?;
                }
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "FIGURES fuzz_keys: cases={} accepted_keys={} took={:?}",
        cases(),
        accepted.get(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------
// Over real HTTP: a SQLite app with one tenant, `acme`
// ---------------------------------------------------------------------------------------

async fn ping(mut conn: TenantConn<SqliteConnection>) -> HttpResponse {
    // Imported here only: `RunQueryDsl` has a blanket `load` that shadows `AtomicU64::load`.
    use diesel_async::RunQueryDsl;
    match diesel::sql_query("SELECT 1").execute(&mut conn).await {
        Ok(_) => HttpResponse::Ok().body(conn.tenant().to_string()),
        Err(e) => conn.query_error(e).into_response(),
    }
}

trait IntoResponse {
    fn into_response(self) -> HttpResponse;
}

impl<E: actix_web::ResponseError> IntoResponse for E {
    fn into_response(self) -> HttpResponse {
        self.error_response()
    }
}

/// A directory that counts how often the registry asks it.
struct Counting {
    inner: StaticDirectory,
    can_list: bool,
    lookups: Arc<AtomicU64>,
    lists: Arc<AtomicU64>,
}

#[async_trait]
impl TenantDirectory for Counting {
    async fn lookup(&self, tenant: &TenantId) -> Result<Option<TenantTarget>, DirectoryError> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        self.inner.lookup(tenant).await
    }

    async fn list(&self) -> Result<Option<Vec<TenantId>>, DirectoryError> {
        if !self.can_list {
            return Ok(None);
        }
        self.lists.fetch_add(1, Ordering::Relaxed);
        self.inner.list().await
    }
}

struct SqliteApp {
    addr: SocketAddr,
    handle: actix_web::dev::ServerHandle,
    served: tokio::task::JoinHandle<std::io::Result<Vec<tenantpool::ShutdownReport>>>,
    registry: Registry<SqliteConnection>,
    lookups: Arc<AtomicU64>,
    lists: Arc<AtomicU64>,
    dir: std::path::PathBuf,
}

impl SqliteApp {
    fn start(settings: Settings, can_list: bool) -> Self {
        let dir = std::env::temp_dir().join(tenantpool_testkit::unique("tpr_hostile"));
        let url = DatabaseUrl::parse(&format!("sqlite://{}/acme.db", dir.display())).expect("url");
        let lookups = Arc::new(AtomicU64::new(0));
        let lists = Arc::new(AtomicU64::new(0));
        let directory = Counting {
            inner: StaticDirectory::new().with(
                TenantId::parse("acme").expect("key"),
                TenantTarget::database(url).creating_missing(),
            ),
            can_list,
            lookups: lookups.clone(),
            lists: lists.clone(),
        };
        let registry = Registry::<SqliteConnection>::builder(settings)
            .directory(directory)
            .build()
            .expect("registry");
        let resolver = Resolver::builder()
            .subdomain_of("example.com")
            .build()
            .expect("resolver");
        let r = registry.clone();
        let (addr, handle, server) = serve!(
            move || {
                App::new()
                    .app_data(TenantRegistry::new(r.clone()))
                    .wrap(ResolveTenant::new(resolver.clone()))
                    .route("/ping", web::get().to(ping))
            },
            1
        );
        let served = actix_web::rt::spawn(
            GracefulShutdown::new(Duration::from_secs(5))
                .registry(registry.clone())
                .run(server),
        );
        Self {
            addr,
            handle,
            served,
            registry,
            lookups,
            lists,
            dir,
        }
    }

    async fn stop(self) {
        self.handle.stop(true).await;
        let reports = self.served.await.expect("server task").expect("server");
        assert!(reports.iter().all(|r| r.clean), "{reports:?}");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[actix_web::test]
async fn hostile_hosts_are_refused_over_http_with_the_exact_status() {
    let app = SqliteApp::start(Settings::default(), true);
    let long_label = format!("{}.example.com", "a".repeat(64));
    let long_host = format!("{}.example.com", vec!["abcdefghi"; 30].join("."));
    let rows: Vec<(&str, Vec<u8>, u16)> = vec![
        // Controls: the real tenant, spelled in the ways the rules allow.
        ("the tenant", b"acme.example.com".to_vec(), 200),
        (
            "upper case, trailing dot, port",
            b"ACME.Example.COM.:8080".to_vec(),
            200,
        ),
        // Hostile.
        (
            "a foreign host ending in the tenant's",
            b"acme.example.com.evil.com".to_vec(),
            400,
        ),
        ("user info", b"acme.example.com@evil.com".to_vec(), 400),
        (
            "user info before",
            b"evil.com@acme.example.com".to_vec(),
            400,
        ),
        ("fragment", b"evil.com#acme.example.com".to_vec(), 400),
        (
            "Cyrillic a in the label",
            "\u{0430}cme.example.com".as_bytes().to_vec(),
            400,
        ),
        (
            "Cyrillic a in the base",
            "acme.ex\u{0430}mple.com".as_bytes().to_vec(),
            400,
        ),
        (
            "fullwidth dot",
            "acme\u{ff0e}example.com".as_bytes().to_vec(),
            400,
        ),
        ("punycode label", b"xn--cme-8cd.example.com".to_vec(), 400),
        ("label of 64", long_label.as_bytes().to_vec(), 400),
        ("host of 300", long_host.as_bytes().to_vec(), 400),
        ("empty label", b"acme..example.com".to_vec(), 400),
        ("leading dot", b".acme.example.com".to_vec(), 400),
        ("two trailing dots", b"acme.example.com..".to_vec(), 400),
        ("dot-dot", b"..".to_vec(), 400),
        ("NUL", b"acme\0.example.com".to_vec(), 400),
        ("control byte", b"acme\x01.example.com".to_vec(), 400),
        ("DEL", b"acme\x7f.example.com".to_vec(), 400),
        ("escape", b"acme\x1b[2J.example.com".to_vec(), 400),
        ("inner space", b"acme .example.com".to_vec(), 400),
        ("underscore", b"acme_corp.example.com".to_vec(), 400),
        ("slash", b"acme.example.com/evil".to_vec(), 400),
        ("backslash", b"acme.example.com\\evil".to_vec(), 400),
        ("percent-encoded dot", b"acme%2eexample.com".to_vec(), 400),
        ("leading hyphen", b"-acme.example.com".to_vec(), 400),
        ("trailing hyphen", b"acme-.example.com".to_vec(), 400),
        ("nested subdomain", b"a.acme.example.com".to_vec(), 400),
        ("reserved subdomain", b"www.example.com".to_vec(), 400),
        ("bare base domain", b"example.com".to_vec(), 400),
        ("port too large", b"acme.example.com:99999".to_vec(), 400),
        ("port 65536", b"acme.example.com:65536".to_vec(), 400),
        ("negative port", b"acme.example.com:-1".to_vec(), 400),
        ("plus port", b"acme.example.com:+80".to_vec(), 400),
        ("hex port", b"acme.example.com:0x50".to_vec(), 400),
        ("empty port", b"acme.example.com:".to_vec(), 400),
        ("two ports", b"acme.example.com:80:80".to_vec(), 400),
        ("IPv4 literal", b"127.0.0.1".to_vec(), 400),
        ("IPv4 literal with port", b"127.0.0.1:8080".to_vec(), 400),
        ("IPv6 literal", b"[::1]".to_vec(), 400),
        ("IPv6 literal with port", b"[::1]:8080".to_vec(), 400),
        ("IPv4-mapped IPv6", b"[::ffff:127.0.0.1]".to_vec(), 400),
        ("IPv6 with zone", b"[fe80::1%25eth0]".to_vec(), 400),
        ("unbracketed IPv6", b"::1".to_vec(), 400),
        ("decimal IP", b"2130706433".to_vec(), 400),
        ("short IPv4", b"127.1".to_vec(), 400),
        ("hex IPv4", b"0x7f.0.0.1".to_vec(), 400),
        ("empty", b"".to_vec(), 400),
        // Well formed, unknown: the registry's 404.
        ("unknown tenant", b"nobody.example.com".to_vec(), 404),
        (
            "unknown tenant, upper case",
            b"NOBODY.example.com:443".to_vec(),
            404,
        ),
    ];
    let mut failures = Vec::new();
    for (what, host, want) in &rows {
        let mut req = b"GET /ping HTTP/1.1\r\nHost: ".to_vec();
        req.extend_from_slice(host);
        req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
        let (status, answer) = support::raw(app.addr, &req).await;
        if status != *want {
            failures.push(format!(
                "{what} ({:?}): {status}, want {want}: {}",
                String::from_utf8_lossy(host),
                answer.lines().last().unwrap_or("")
            ));
        }
    }
    // Request shapes rather than host values.
    let shapes: Vec<(&str, &[u8], u16)> = vec![
        (
            "two Host headers",
            b"GET /ping HTTP/1.1\r\nHost: acme.example.com\r\nHost: evil.com\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "absolute form naming a foreign host",
            b"GET http://evil.com/ping HTTP/1.1\r\nHost: acme.example.com\r\nConnection: close\r\n\r\n",
            400,
        ),
        (
            "absolute form naming the tenant",
            b"GET http://acme.example.com/ping HTTP/1.1\r\nHost: acme.example.com\r\nConnection: close\r\n\r\n",
            200,
        ),
        ("no Host at all", b"GET /ping HTTP/1.0\r\n\r\n", 400),
        (
            "forwarded host from an untrusted peer",
            b"GET /ping HTTP/1.1\r\nHost: nobody.example.com\r\nX-Forwarded-Host: acme.example.com\r\nForwarded: host=acme.example.com\r\nConnection: close\r\n\r\n",
            404,
        ),
    ];
    for (what, req, want) in &shapes {
        let (status, answer) = support::raw(app.addr, req).await;
        if status != *want {
            failures.push(format!(
                "{what}: {status}, want {want}: {}",
                answer.lines().last().unwrap_or("")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "wrong statuses:\n{}",
        failures.join("\n")
    );
    eprintln!(
        "FIGURES rejection_table: rows={} all with the exact status",
        rows.len() + shapes.len()
    );
    app.stop().await;
}

/// Sends `n` requests for random subdomains, `concurrency` at a time; returns the answers'
/// statuses by count and the time it took.
async fn flood(
    addr: SocketAddr,
    n: u64,
    offset: u64,
    concurrency: u64,
) -> (std::collections::BTreeMap<u16, u64>, Duration) {
    let statuses: Rc<RefCell<std::collections::BTreeMap<u16, u64>>> = Rc::default();
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let statuses = statuses.clone();
            actix_web::rt::spawn(async move {
                let http = client(Duration::from_secs(30));
                let mut i = w;
                while i < n {
                    let host = format!("{}.example.com", random_key(offset + i));
                    let a = get(&http, addr, "/ping", ("Host", &host)).await;
                    if a.status == 503 {
                        assert!(a.retry_after.is_some(), "{a:?}");
                    }
                    *statuses.borrow_mut().entry(a.status).or_default() += 1;
                    i += concurrency;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("flood worker");
    }
    let took = started.elapsed();
    let statuses = statuses.borrow().clone();
    (statuses, took)
}

#[actix_web::test]
async fn a_flood_of_unknown_subdomains_is_404_without_lookups_and_in_bounded_memory() {
    let _heavy = support::heavy().await;
    let mut s = Settings::default();
    s.backoff.directory_refresh = Duration::from_millis(500);
    let app = SqliteApp::start(s, true);
    let since_start = Instant::now();
    let n = support::size(10_000, 100_000);
    // Warm up (allocator, caches, connections) before the baseline.
    let (warm, _) = flood(app.addr, 2_000, 10_000_000, 16).await;
    assert_eq!(warm.get(&404), Some(&2_000), "{warm:?}");
    let before = support::rss_kib();
    let (statuses, took) = flood(app.addr, n, 0, 16).await;
    let after = support::rss_kib();
    assert_eq!(statuses.get(&404), Some(&n), "{statuses:?}");
    let a = get(
        &client(Duration::from_secs(10)),
        app.addr,
        "/ping",
        ("Host", "acme.example.com"),
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (200, "acme"));

    let stats = app.registry.stats();
    let c = &stats.counters;
    let lookups = app.lookups.load(Ordering::Relaxed);
    let lists = app.lists.load(Ordering::Relaxed);
    assert_eq!(c.directory_lookups, lookups);
    assert_eq!(c.directory_lists, lists);
    assert_eq!(lookups, 1, "only the real tenant was looked up");
    // At most one list call per refresh interval (500 ms), over the whole run.
    let ran = since_start.elapsed();
    let allowed_lists = 2 * (ran.as_secs() + 1) + 2;
    assert!(lists <= allowed_lists, "{lists} list calls in {ran:?}");
    assert_eq!(c.unknown_rejected, n + 2_000);
    assert_eq!(stats.cached_tenants, 1, "unknown keys were cached");
    let grown = after.saturating_sub(before);
    eprintln!(
        "FIGURES flood_listed_http: keys={n} took={took:?} rps={:.0} lookups={lookups} lists={lists} \
         rss_before={before}KiB rss_after={after}KiB grown={grown}KiB",
        n as f64 / took.as_secs_f64()
    );
    assert!(
        grown < 16 * 1024,
        "RSS grew by {grown} KiB over {n} unknown keys"
    );
    app.stop().await;
}

#[actix_web::test]
async fn a_flood_on_a_directory_that_cannot_list_is_rate_limited_and_bounded() {
    let _heavy = support::heavy().await;
    let rate = 50u32;
    let mut s = Settings::default();
    s.backoff.unlisted_starts_per_second = rate;
    s.backoff.max_failed_tenants = 1_000;
    let app = SqliteApp::start(s, false);
    let n = support::size(10_000, 100_000);
    let (warm, _) = flood(app.addr, 2_000, 20_000_000, 16).await;
    assert_eq!(warm.values().sum::<u64>(), 2_000);
    let lookups_before = app.lookups.load(Ordering::Relaxed);
    let before = support::rss_kib();
    let started = Instant::now();
    let (statuses, took) = flood(app.addr, n, 0, 16).await;
    let after = support::rss_kib();
    let lookups = app.lookups.load(Ordering::Relaxed) - lookups_before;
    let not_found = statuses.get(&404).copied().unwrap_or(0);
    let throttled = statuses.get(&503).copied().unwrap_or(0);
    assert_eq!(not_found + throttled, n, "only 404 and 503: {statuses:?}");
    assert_eq!(not_found, lookups, "every 404 cost exactly one lookup");
    let allowed = u64::from(rate) * (started.elapsed().as_secs_f64().ceil() as u64 + 2);
    assert!(
        lookups <= allowed,
        "{lookups} lookups in {took:?} at {rate}/s"
    );
    assert!(
        throttled > 0,
        "nothing was throttled; the test proves nothing"
    );
    let a = get(
        &client(Duration::from_secs(10)),
        app.addr,
        "/ping",
        ("Host", "acme.example.com"),
    )
    .await;
    assert!(a.status == 200 || a.status == 503, "{a:?}");
    let stats = app.registry.stats();
    assert_eq!(
        stats.counters.directory_lists, 1,
        "one list call, which learned that the directory cannot list"
    );
    assert!(stats.cached_tenants <= 1);
    let grown = after.saturating_sub(before);
    eprintln!(
        "FIGURES flood_unlisted_http: keys={n} took={took:?} lookups={lookups} not_found={not_found} \
         throttled={throttled} rss_before={before}KiB rss_after={after}KiB grown={grown}KiB"
    );
    assert!(
        grown < 16 * 1024,
        "RSS grew by {grown} KiB over {n} unknown keys"
    );
    app.stop().await;
}
