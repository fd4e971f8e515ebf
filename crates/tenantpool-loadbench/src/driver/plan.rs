//! What one invocation does: the full run, or the smoke run, with overrides from the command
//! line (`tenantpool-loadbench run --rounds 7 --variants a,b ...`).

use std::path::PathBuf;
use std::time::Duration;

use crate::args::Args;
use crate::query::Query;
use crate::variant::Variant;
use crate::wrk::Load;
use crate::{db_url, Result};

/// Everything one invocation does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The CI smoke run: tiny, B, C1, C2, BX and C1X only, exits non-zero when C1, C2 or C1X
    /// breaks its budget.
    pub smoke: bool,
    /// `postgres://user@host:port`.
    pub pg: String,
    /// Where results and server logs go.
    pub out: PathBuf,
    /// Tenants of C1, C2 and E.
    pub tenants: usize,
    /// tenantpool's budget.
    pub budget: usize,
    /// Size of A's pool and of each tenantpool pool.
    pub pool_size: usize,
    /// Size of each of E's pools.
    pub naive_pool_size: usize,
    /// actix workers of every server.
    pub workers: usize,
    /// Zipf exponent of the tenant distribution.
    pub zipf_s: f64,
    /// wrk threads.
    pub threads: usize,
    /// wrk connections.
    pub connections: usize,
    /// Rounds of A and B, interleaved (A B A B ...); the table shows the medians.
    pub rounds_ab: usize,
    /// Measured seconds of A and B per round.
    pub duration_ab: Duration,
    /// Measured seconds of C1, C2 and E.
    pub duration_c: Duration,
    /// Measured seconds of D.
    pub duration_d: Duration,
    /// Warm-up before every measurement of A, B and D.
    pub warmup: Duration,
    /// Warm-up of C1, C2 and E (where the tenants start).
    pub warmup_c: Duration,
    /// Variants to run.
    pub variants: Vec<Variant>,
    /// Run the cold-start experiment.
    pub coldstart: bool,
    /// Concurrent first requests of the stampede.
    pub stampede: usize,
    /// Tenant counts of the memory measurement (empty: skip).
    pub memory_tenants: Vec<usize>,
    /// Sampler period.
    pub sample_every: Duration,
    /// First port; each server gets the next one.
    pub port: u16,
    /// Tenants are `t<k>.<domain>`.
    pub domain: String,
    /// The query every server runs per request (`--query cached|sql`).
    pub query: Query,
    /// Every variant's transport to PostgreSQL (`--sslmode disable|require`).
    pub sslmode: &'static str,
}

impl Plan {
    /// The full run, or the smoke run, with overrides from the command line.
    pub fn from_args(args: &Args) -> Result<Self> {
        let smoke = args.flag("smoke");
        let secs = |name: &str, default: f64| -> Result<Duration> {
            Ok(Duration::from_secs_f64(args.get(name, default)?))
        };
        let variants = match args.str("variants") {
            Some(list) => list
                .split(',')
                .map(Variant::parse)
                .collect::<Result<Vec<_>>>()?,
            None if smoke => vec![
                Variant::B,
                Variant::C1,
                Variant::C2,
                Variant::BX,
                Variant::C1X,
            ],
            None => Variant::ALL.to_vec(),
        };
        let memory_default = if smoke { vec![] } else { vec![10_000, 100_000] };
        let memory_tenants = if args.flag("no-memory") {
            vec![]
        } else {
            match args.list::<usize>("memory-tenants")? {
                v if v.is_empty() => memory_default,
                v => v,
            }
        };
        let s = smoke;
        Ok(Self {
            smoke,
            pg: args
                .get("pg", "postgres://postgres@127.0.0.1:5432".to_string())?
                .trim_end_matches('/')
                .to_string(),
            out: PathBuf::from(args.get("out", "target/loadbench/latest".to_string())?),
            tenants: args.get("tenants", if s { 10 } else { 1000 })?,
            budget: args.get("budget", if s { 8 } else { 80 })?,
            pool_size: args.get("pool-size", 10)?,
            naive_pool_size: args.get("naive-pool-size", 5)?,
            workers: args.get("workers", 2)?,
            zipf_s: args.get("zipf-s", 1.1)?,
            threads: args.get("threads", if s { 1 } else { 2 })?,
            connections: args.get("connections", if s { 8 } else { 64 })?,
            rounds_ab: args.get("rounds", if s { 1 } else { 5 })?,
            duration_ab: secs("duration-ab", if s { 2.0 } else { 15.0 })?,
            duration_c: secs("duration-c", if s { 2.0 } else { 20.0 })?,
            duration_d: secs("duration-d", if s { 2.0 } else { 10.0 })?,
            warmup: secs("warmup", if s { 1.0 } else { 3.0 })?,
            warmup_c: secs("warmup-c", if s { 1.0 } else { 10.0 })?,
            variants,
            coldstart: !s && !args.flag("no-coldstart"),
            stampede: args.get("stampede", 500)?,
            memory_tenants,
            sample_every: Duration::from_millis(args.get("sample-ms", 5)?),
            port: args.get("port", 18180)?,
            domain: "lb.localhost".to_string(),
            query: args.str("query").map_or(Ok(Query::Cached), Query::parse)?,
            sslmode: {
                crate::set_sslmode(args.str("sslmode"))?;
                crate::sslmode()
            },
        })
    }

    /// The driver's own connection to PostgreSQL.
    pub fn admin_url(&self) -> String {
        db_url(&self.pg, "postgres", "lb_driver")
    }

    /// The server runs in order: A and B (and AX, BX) interleave (A B A B ...) so that drift
    /// on this noisy machine hits both, then every other variant once. Each with its round.
    pub fn order(&self) -> Vec<(Variant, usize)> {
        let is_ab = |v: &Variant| matches!(v, Variant::A | Variant::B | Variant::AX | Variant::BX);
        let ab: Vec<Variant> = self.variants.iter().copied().filter(is_ab).collect();
        let mut order: Vec<(Variant, usize)> = Vec::new();
        for round in 0..self.rounds_ab.max(1) {
            order.extend(ab.iter().map(|v| (*v, round)));
        }
        let rest = self.variants.iter().copied().filter(|v| !is_ab(v));
        order.extend(rest.map(|v| (v, 0)));
        order
    }

    /// The tenants, warm-up and measured time of a variant's runs.
    pub fn shape(&self, variant: Variant) -> (usize, Duration, Duration) {
        match variant {
            Variant::A | Variant::B | Variant::AX | Variant::BX => {
                (1, self.warmup, self.duration_ab)
            }
            Variant::D => (1, self.warmup, self.duration_d),
            Variant::C1 | Variant::C2 | Variant::E | Variant::C1X => {
                (self.tenants, self.warmup_c, self.duration_c)
            }
        }
    }

    /// wrk's load over `tenants` tenants for `duration`.
    pub fn load(&self, tenants: usize, duration: Duration) -> Load {
        Load {
            threads: self.threads,
            connections: self.connections,
            duration,
            tenants,
            zipf_s: self.zipf_s,
            domain: self.domain.clone(),
            seed: 42,
        }
    }

    /// Whether the run measures the connect ceiling (C2's bound; not in the smoke run).
    pub fn measures_connect_ceiling(&self) -> bool {
        !self.smoke && self.variants.contains(&Variant::C2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<Plan> {
        Plan::from_args(&Args::parse(args.iter().map(|a| a.to_string()))?)
    }

    #[test]
    fn the_smoke_run_is_b_c1_c2_and_their_axum_twins_without_memory_or_cold_start() -> Result<()> {
        let smoke = plan(&["--smoke"])?;
        assert_eq!(
            smoke.variants,
            vec![
                Variant::B,
                Variant::C1,
                Variant::C2,
                Variant::BX,
                Variant::C1X
            ]
        );
        assert_eq!((smoke.tenants, smoke.budget), (10, 8));
        assert!(smoke.memory_tenants.is_empty() && !smoke.coldstart);
        assert!(!smoke.measures_connect_ceiling());
        assert_eq!(smoke.query, Query::Cached);
        Ok(())
    }

    #[test]
    fn a_and_b_interleave_before_the_other_variants() -> Result<()> {
        let full = plan(&["--variants", "c2,a,b", "--rounds", "2", "--query", "sql"])?;
        let order: Vec<(&str, usize)> = full.order().iter().map(|(v, r)| (v.label(), *r)).collect();
        assert_eq!(order, [("A", 0), ("B", 0), ("A", 1), ("B", 1), ("C2", 0)]);
        assert_eq!(full.query, Query::Sql);
        Ok(())
    }
}
