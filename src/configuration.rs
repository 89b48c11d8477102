//! `Settings`: every knob of the service, each an environment variable and a flag.
//!
//! `main` reads them from the command line and the environment; `Settings::default()` is
//! the same defaults without reading either, so tests never depend on the shell they run
//! in. Every duration takes one format: a number of milliseconds (`45000`) or a number
//! with a unit (`45s`, `36h`, `7d`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure};
use clap::{ArgAction, Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use ipnet::IpNet;
use secrecy::{ExposeSecret, SecretString};

use crate::limits::parse_network;
use crate::store::redis::RedisTarget;
use crate::store::TabLimits;

#[derive(Debug, Parser)]
#[command(name = "presence", version, about = "Who else is viewing this page right now: a presence service.")]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    /// What to do; without one, `serve`.
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Print a JWT signed with PRESENCE_JWT_SECRET, to try the service with curl.
    Token(TokenArgs),
}

#[derive(Debug, Args)]
pub struct TokenArgs {
    /// The user id (`sub` claim).
    #[arg(long)]
    pub sub: String,
    /// The display name (`name` claim).
    #[arg(long)]
    pub name: Option<String>,
    /// An http(s) URL of the user's picture (`picture` claim).
    #[arg(long)]
    pub picture: Option<String>,
    /// The user's role in the host app (`role` claim).
    #[arg(long)]
    pub role: Option<String>,
    /// How long the token is valid, e.g. 15m, 1h, 7d.
    // Its own id: the service's `ttl` (`--ttl-ms`) is a global flag of every subcommand.
    #[arg(long = "ttl", id = "token_ttl", default_value = "1h", value_parser = at_least(Duration::from_secs(1)))]
    pub ttl: Duration,
}

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address and port to listen on; port 0 picks a free one.
    #[arg(long, env = "PRESENCE_LISTEN", default_value = "127.0.0.1:8080", global = true)]
    pub listen: SocketAddr,

    /// A tab that has not been heard from for this long is gone (milliseconds, or 45s).
    #[arg(long = "ttl-ms", env = "PRESENCE_TTL_MS", default_value = "45000", value_parser = at_least(Duration::from_millis(100)), global = true)]
    pub ttl: Duration,

    /// How often clients are told to heartbeat; must be below the TTL.
    #[arg(long = "heartbeat-interval-ms", env = "PRESENCE_HEARTBEAT_INTERVAL_MS", default_value = "15000", value_parser = at_least(Duration::from_millis(50)), global = true)]
    pub heartbeat_interval: Duration,

    /// How often expired tabs of pages nobody reads are swept.
    #[arg(long = "sweep-interval-ms", env = "PRESENCE_SWEEP_INTERVAL_MS", default_value = "5000", value_parser = at_least(Duration::from_millis(10)), global = true)]
    pub sweep_interval: Duration,

    /// How often an idle live-update stream gets a comment, so proxies
    /// keep it open; a stream whose client went away is noticed by these writes.
    #[arg(long = "stream-keepalive-ms", env = "PRESENCE_STREAM_KEEPALIVE_MS", default_value = "15000", value_parser = at_least(Duration::from_millis(10)), global = true)]
    pub stream_keepalive: Duration,

    /// The most live tabs one user may have over all pages; a new one beyond is refused (429).
    #[arg(long, env = "PRESENCE_MAX_TABS_PER_USER", default_value_t = 64,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_tabs_per_user: u32,

    /// The most live tabs the registry holds; a new one beyond is refused (503) until some go.
    #[arg(long, env = "PRESENCE_MAX_TABS", default_value_t = 1_000_000,
          value_parser = clap::value_parser!(u64).range(1..), global = true)]
    pub max_tabs: u64,

    /// The most live-update streams one user may have open on this instance (429 beyond).
    #[arg(long, env = "PRESENCE_MAX_STREAMS_PER_USER", default_value_t = 32,
          value_parser = clap::value_parser!(u32).range(1..), global = true)]
    pub max_streams_per_user: u32,

    /// Requests a second one signed-in user may make, on average: bursts of ten seconds'
    /// worth pass, beyond that 429; 0 for no limit.
    #[arg(long, env = "PRESENCE_RATE_LIMIT_PER_USER", default_value_t = 20, global = true)]
    pub rate_limit_per_user: u32,

    /// Requests a second one client address may make, on average, signed in or not: bursts
    /// of ten seconds' worth pass, beyond that 429; 0 for no limit. Behind a reverse proxy,
    /// name it in PRESENCE_TRUSTED_PROXIES, or every request counts as the proxy's.
    #[arg(long, env = "PRESENCE_RATE_LIMIT_PER_IP", default_value_t = 200, global = true)]
    pub rate_limit_per_ip: u32,

    /// Addresses or networks (10.0.0.0/8, fd00::/8) of this service's reverse proxies, comma
    /// separated: a request from one of them is from the client its X-Forwarded-For names.
    #[arg(long, env = "PRESENCE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_network, global = true)]
    pub trusted_proxies: Vec<IpNet>,

    /// HS256 secret that the host app signs its JWTs with.
    #[arg(long, env = "PRESENCE_JWT_SECRET", hide_env_values = true, global = true)]
    pub jwt_secret: Option<SecretString>,

    /// PEM public key (RSA, EC P-256 or Ed25519) for RS256, ES256 or EdDSA JWTs.
    #[arg(long, env = "PRESENCE_JWT_PUBLIC_KEY_FILE", global = true)]
    pub jwt_public_key_file: Option<PathBuf>,

    /// When set, JWTs must carry this `iss`.
    #[arg(long, env = "PRESENCE_JWT_ISSUER", global = true)]
    pub jwt_issuer: Option<String>,

    /// When set, JWTs must carry this `aud`.
    #[arg(long, env = "PRESENCE_JWT_AUDIENCE", global = true)]
    pub jwt_audience: Option<String>,

    /// Base64 key (at least 64 bytes) that signs and encrypts session cookies; without it a
    /// random key is made and sessions end when the process does.
    #[arg(long, env = "PRESENCE_SESSION_KEY", hide_env_values = true, global = true)]
    pub session_key: Option<SecretString>,

    /// Name of the session cookie.
    #[arg(long, env = "PRESENCE_COOKIE_NAME", default_value = "presence_session", global = true)]
    pub cookie_name: String,

    /// Mark the session cookie Secure (HTTPS only); set false for plain-HTTP development.
    #[arg(long, env = "PRESENCE_COOKIE_SECURE", default_value_t = true, action = ArgAction::Set, global = true)]
    pub cookie_secure: bool,

    /// SameSite of the session cookie: lax, strict, or none (needs secure cookies), which a
    /// host app on another site than the service needs for the cookie to be sent at all.
    #[arg(long, env = "PRESENCE_COOKIE_SAME_SITE", value_enum, default_value_t = CookieSameSite::Lax, global = true)]
    pub cookie_same_site: CookieSameSite,

    /// Origins of host apps on other sites that may call the API with the session cookie,
    /// comma-separated (https://app.example.com); CORS allows exactly these, with credentials.
    #[arg(long, env = "PRESENCE_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = parse_origin, global = true)]
    pub allowed_origins: Vec<String>,

    /// Enable POST /api/session/dev, which signs anyone in as anyone. Never in production.
    #[arg(long, env = "PRESENCE_DEV_LOGIN", default_value_t = false, action = ArgAction::Set, global = true)]
    pub dev_login: bool,

    /// How often each live page's viewer count is written to the stats history.
    #[arg(long = "stats-sample-interval-ms", env = "PRESENCE_STATS_SAMPLE_INTERVAL_MS", default_value = "60000", value_parser = at_least(Duration::from_millis(10)), global = true)]
    pub stats_sample_interval: Duration,

    /// How long the stats history is kept, e.g. 7d or 36h; at least 1m.
    #[arg(long, env = "PRESENCE_STATS_RETENTION", default_value = "7d", value_parser = at_least(Duration::from_secs(60)),
          global = true)]
    pub stats_retention: Duration,

    /// The user directory and viewer stats: sqlite:FILE (created if missing) or postgres://…
    #[arg(long, env = "PRESENCE_DATABASE_URL", default_value = "sqlite:presence.db", global = true)]
    pub database_url: String,

    /// Redis URL, redis://[[user]:password@]host[:port][/db]: when set, the registry, the
    /// sessions and the live updates are kept in Redis, so any number of instances agree.
    #[arg(long, env = "PRESENCE_REDIS_URL", hide_env_values = true, global = true)]
    pub redis_url: Option<SecretString>,

    /// Redis Cluster seed nodes, redis://host:port,redis://host:port,…: like
    /// PRESENCE_REDIS_URL, on a cluster (the two exclude each other).
    #[arg(long, env = "PRESENCE_REDIS_CLUSTER", hide_env_values = true, global = true, conflicts_with = "redis_url")]
    pub redis_cluster: Option<SecretString>,

    /// Prefix of every Redis key and channel, so several deployments can share one Redis.
    #[arg(long, env = "PRESENCE_REDIS_PREFIX", default_value = "presence", global = true)]
    pub redis_prefix: String,

    /// Log lines for people (pretty) or for machines (json); RUST_LOG sets the level.
    #[arg(long, env = "PRESENCE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, global = true)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CookieSameSite {
    Lax,
    Strict,
    None,
}

impl Settings {
    /// Where the registry is, if in Redis: one node, or a cluster by its seed nodes.
    pub fn redis_target(&self) -> anyhow::Result<Option<RedisTarget>> {
        match (&self.redis_url, &self.redis_cluster) {
            (Some(_), Some(_)) => bail!("PRESENCE_REDIS_URL and PRESENCE_REDIS_CLUSTER exclude each other: set one"),
            (Some(url), None) => Ok(Some(RedisTarget::Single(url.expose_secret().to_owned()))),
            (None, Some(seeds)) => {
                let seeds: Vec<String> = seeds
                    .expose_secret()
                    .split(',')
                    .map(str::trim)
                    .filter(|seed| !seed.is_empty())
                    .map(String::from)
                    .collect();
                ensure!(
                    !seeds.is_empty(),
                    "PRESENCE_REDIS_CLUSTER names no node: redis://host:port,redis://host:port,…"
                );
                Ok(Some(RedisTarget::Cluster(seeds)))
            }
            (None, None) => Ok(None),
        }
    }

    pub fn tab_limits(&self) -> TabLimits {
        TabLimits { per_user: self.max_tabs_per_user, total: usize::try_from(self.max_tabs).unwrap_or(usize::MAX) }
    }
}

/// The defaults, as if no flag were given and no `PRESENCE_*` variable were set.
impl Default for Settings {
    fn default() -> Self {
        let command = Cli::command().mut_args(|arg| arg.env(None::<&str>));
        let matches = command.get_matches_from(["presence"]);
        Cli::from_arg_matches(&matches).unwrap_or_else(|error| unreachable!("the defaults parse: {error}")).settings
    }
}

/// A duration (milliseconds, or a number with a unit: `45s`, `7d`) of at least `minimum`.
fn at_least(minimum: Duration) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |raw| {
        let raw = raw.trim();
        let duration = match raw.parse::<u64>() {
            Ok(millis) => Duration::from_millis(millis),
            Err(_) => humantime::parse_duration(raw)
                .map_err(|error| format!("{error}; a duration is milliseconds (45000) or has a unit (45s, 7d)"))?,
        };
        if duration < minimum {
            return Err(format!("must be at least {}", humantime::format_duration(minimum)));
        }
        Ok(duration)
    }
}

/// An origin as browsers send it in `Origin` (`https://app.example.com`, lowercase, no
/// default port, no trailing slash), since CORS and the origin check compare it byte for byte.
fn parse_origin(raw: &str) -> Result<String, String> {
    let hint = "an origin is scheme://host[:port], like https://app.example.com";
    if raw.trim().is_empty() {
        return Err(format!("an empty origin (a stray comma?); {hint}, and for none leave the setting unset"));
    }
    let url = url::Url::parse(raw.trim()).map_err(|e| format!("{e}; {hint}"))?;
    let bare = url.path() == "/" && url.query().is_none() && url.fragment().is_none() && url.username().is_empty();
    if !matches!(url.scheme(), "http" | "https") || !bare || url.password().is_some() {
        return Err(format!("{raw:?} is not an origin; {hint}, with no path, query or credentials"));
    }
    Ok(url.origin().ascii_serialization())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_stats_retention_is_a_duration_of_a_minute_or_more() {
        assert_eq!(Settings::default().stats_retention, Duration::from_secs(7 * 24 * 3600));
        let cli = Cli::try_parse_from(["presence", "--stats-retention", "36h"]).unwrap();
        assert_eq!(cli.settings.stats_retention, Duration::from_secs(36 * 3600));
        for bad in ["59s", "0m", "soon"] {
            assert!(Cli::try_parse_from(["presence", "--stats-retention", bad]).is_err(), "{bad}");
        }
    }

    #[test]
    fn defaults_never_read_the_environment() {
        std::env::set_var("PRESENCE_COOKIE_NAME", "from-the-shell");
        assert_eq!(Settings::default().cookie_name, "presence_session");
        assert_eq!(Cli::parse_from(["presence"]).settings.cookie_name, "from-the-shell", "the command line does");
        std::env::remove_var("PRESENCE_COOKIE_NAME");
    }

    #[test]
    fn every_duration_is_milliseconds_or_has_a_unit() {
        let ttl = |raw: &str| Cli::try_parse_from(["presence", "--ttl-ms", raw]).map(|cli| cli.settings.ttl);
        assert_eq!(ttl("45000").unwrap(), Duration::from_secs(45));
        assert_eq!(ttl("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(ttl("1m 30s").unwrap(), Duration::from_secs(90));
        for bad in ["99", "50ms", "soon", "-1", ""] {
            assert!(ttl(bad).is_err(), "{bad}");
        }
        let retention = Cli::try_parse_from(["presence", "--stats-retention", "86400000"]).unwrap();
        assert_eq!(retention.settings.stats_retention, Duration::from_secs(86_400));
        assert_eq!(Settings::default().ttl, Duration::from_secs(45));
        assert_eq!(Settings::default().listen, "127.0.0.1:8080".parse().unwrap());
    }

    #[test]
    fn allowed_origins_are_normalized_as_browsers_send_them() {
        assert!(Settings::default().allowed_origins.is_empty());
        let cli = Cli::try_parse_from([
            "presence",
            "--allowed-origins",
            "https://App.Example.com:443/,http://localhost:5173",
        ])
        .unwrap();
        assert_eq!(cli.settings.allowed_origins, ["https://app.example.com", "http://localhost:5173"]);
        for bad in
            ["app.example.com", "*", "https://app.example.com/path", "ftp://x.example", "https://u:p@x.example", "null"]
        {
            let error = Cli::try_parse_from(["presence", "--allowed-origins", bad]).unwrap_err().to_string();
            assert!(error.contains("scheme://host[:port]"), "{bad}: {error}");
        }
    }

    #[test]
    fn trusted_proxies_are_a_list_of_networks() {
        assert!(Settings::default().trusted_proxies.is_empty());
        let cli = Cli::try_parse_from(["presence", "--trusted-proxies", "10.0.0.0/8,::1"]).unwrap();
        assert_eq!(cli.settings.trusted_proxies, [parse_network("10.0.0.0/8").unwrap(), parse_network("::1").unwrap()]);
        let error = Cli::try_parse_from(["presence", "--trusted-proxies", "10.0.0.0/8,"]).unwrap_err().to_string();
        assert!(error.contains("neither an address nor a network"), "{error}");
    }

    #[test]
    fn flags_come_before_or_after_the_subcommand() {
        let cli = Cli::parse_from(["presence", "token", "--sub", "u1", "--ttl-ms", "1000"]);
        assert_eq!(cli.settings.ttl, Duration::from_secs(1));
        assert!(matches!(cli.command, Some(Command::Token(TokenArgs { ref sub, .. })) if sub == "u1"));
    }
}
