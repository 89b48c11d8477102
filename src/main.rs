//! The `presence` binary: serve (the default), or mint a token to try the service with.

use clap::Parser;

use presence::auth::mint;
use presence::configuration::{Cli, Command, TokenArgs};
use presence::domain::{Profile, ProfileFields};
use presence::startup::Application;
use presence::telemetry;

/// jemalloc gives freed memory back to the system by itself (settings in
/// `.cargo/config.toml`), so a million expired tabs do not leave the RSS at its peak.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Token(args)) => print_token(&cli.settings, args),
        None | Some(Command::Serve) => {
            telemetry::init(cli.settings.log_format);
            let application = Application::build(cli.settings).await?;
            application.run_until_stopped().await?;
            Ok(())
        }
    }
}

fn print_token(settings: &presence::configuration::Settings, args: TokenArgs) -> anyhow::Result<()> {
    let fields = ProfileFields { id: args.sub, name: args.name, avatar: args.picture, role: args.role };
    let profile = Profile::try_from(fields).map_err(|errors| anyhow::anyhow!("invalid claims: {errors}"))?;
    println!("{}", mint(settings, &profile, args.ttl)?);
    Ok(())
}
