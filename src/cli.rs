//! The command line: `renke [serve]`, `migrate`, `quota`, `user add`, `county add|list`,
//! `draw verify`.
use crate::Application;
use crate::app::{self, Actor, Context};
use crate::config::Settings;
use crate::domain::account::{Role, Username};
use crate::domain::quota::{PlanText, QuotaSummary, SamplePlan, thousands};
use crate::error::AppError;
use clap::{Parser, Subcommand};
use tokio::io::AsyncReadExt;

#[derive(Debug, Parser)]
#[command(name = "renke", version, about = "认可 — 社会认可度调查平台")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the sample plan for a population.
    Quota {
        #[arg(long)]
        population: String,
        #[arg(long)]
        rate_permille: Option<String>,
        #[arg(long)]
        parent_share: Option<String>,
        #[arg(long)]
        floor: Option<String>,
        /// Print JSON, as `GET /api/v1/quota` answers.
        #[arg(long)]
        json: bool,
    },
    /// Manage user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Recompute the tally's aggregates from the raw responses.
    Tally {
        /// Required: recompute (the aggregates are otherwise kept up to date on every answer).
        #[arg(long)]
        rebuild: bool,
        /// Only this survey (default: every survey).
        #[arg(long)]
        survey: Option<i32>,
    },
    /// Fill the database with a demo county, its survey and simulated answers.
    Demo,
    /// The audit trail: `verify` checks its hash chain, `list` prints the newest entries.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Write a consistent copy of the SQLite database while Renke runs (PostgreSQL: use pg_dump).
    Backup {
        /// The file to write (must not exist).
        #[arg(long)]
        to: std::path::PathBuf,
    },
    /// Manage counties (tenants).
    County {
        #[command(subcommand)]
        command: CountyCommand,
    },
    /// Draws: `verify` re-runs a renke-draw-v2 draw offline from its certificate and lines.
    Draw {
        #[command(subcommand)]
        command: DrawCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum DrawCommand {
    /// Re-run a draw from its certificate (the JSON of `GET …/draws/{draw}`) and its
    /// `lines.csv`, as docs/verify_draw.py does; with rosters (GROUP=FILE, as uploaded) each
    /// person's line hash is recomputed. Prints `identical` or the first difference (exit 1).
    Verify {
        #[arg(long)]
        certificate: std::path::PathBuf,
        #[arg(long)]
        lines: std::path::PathBuf,
        /// A roster as uploaded, with its group: `parent=parents.csv` (repeatable).
        #[arg(long = "roster", value_name = "GROUP=FILE")]
        rosters: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// admin, organizer, viewer, school or interviewer.
        #[arg(long)]
        role: String,
        /// The county's id or exact name (required for every role but admin).
        #[arg(long)]
        county: Option<String>,
        /// The school's name (required for school: the principal's account sees only it).
        #[arg(long)]
        school: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no entry was changed or removed; exits non-zero if the chain is broken.
    Verify,
    /// Print the newest entries.
    List {
        #[arg(long, default_value_t = 50)]
        last: u64,
    },
}

#[derive(Debug, Subcommand)]
pub enum CountyCommand {
    /// Add a county.
    Add {
        #[arg(long)]
        name: String,
    },
    /// List counties with their ids.
    List,
}

/// A command failed: the message is for the person at the terminal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn fail(e: impl std::fmt::Display) -> CliError {
    CliError(e.to_string())
}

/// A use case's failure, with its cause: the person at the terminal needs it.
fn failed(e: AppError) -> CliError {
    CliError(e.with_cause())
}

/// Who the audit trail says acted, for commands.
const OPERATOR: Actor<'static> = Actor::Operator("cli");

/// The settings from the environment and a context on them (migrations applied).
async fn open() -> Result<Context, CliError> {
    let settings = Settings::from_env().map_err(fail)?;
    Context::open(&settings).await.map_err(failed)
}

/// Runs the command line. Returns the process's error message on failure.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let settings = Settings::from_env().map_err(fail)?;
            let app = Application::build(settings).await.map_err(fail)?;
            app.run_until_stopped().await.map_err(fail)
        }
        Command::Migrate => {
            open().await?.close().await.map_err(failed)?;
            println!("migrations applied");
            Ok(())
        }
        Command::Quota {
            population,
            rate_permille,
            parent_share,
            floor,
            json,
        } => {
            let params = PlanText {
                population: Some(&population),
                rate_permille: rate_permille.as_deref(),
                parent_share: parent_share.as_deref(),
                floor: floor.as_deref(),
            }
            .parse()
            .map_err(|e| fail(format!("--{}: {e}", e.field.replace('_', "-"))))?;
            let plan = SamplePlan::compute(&params);
            if json {
                let text = serde_json::to_string(&QuotaSummary::from(&plan)).map_err(fail)?;
                println!("{text}");
            } else {
                println!(
                    "population {}  rate {}‰  parent share {}  floor {}",
                    thousands(params.population),
                    params.rate,
                    params.parent_share.fraction(),
                    params.floor
                );
                println!("n = {}", thousands(plan.total));
                for line in plan.groups.values() {
                    println!(
                        "{:<13} {:>8}  {}",
                        line.group.code(),
                        thousands(line.quota),
                        line.group.label()
                    );
                }
            }
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    username,
                    role,
                    county,
                    school,
                },
        } => {
            Username::parse(&username).map_err(fail)?;
            let parsed: Role = role.parse().map_err(fail)?;
            let ctx = open().await?;
            let county_id = match (parsed, county) {
                (Role::Admin, _) => None,
                (_, None) => {
                    return Err(CliError(
                        "--county is required for organizer and viewer".into(),
                    ));
                }
                (_, Some(key)) => Some(
                    app::accounts::county_by_id_or_name(&ctx, &key)
                        .await
                        .map_err(failed)?
                        .ok_or_else(|| {
                            CliError(format!("no county `{key}` (see `renke county list`)"))
                        })?
                        .id,
                ),
            };
            let mut input = String::new();
            tokio::io::stdin()
                .read_to_string(&mut input)
                .await
                .map_err(fail)?;
            let user = app::accounts::create_user(
                &ctx,
                &OPERATOR,
                app::accounts::NewUserInput {
                    username: &username,
                    password: input.trim_end_matches(['\r', '\n']),
                    role: &role,
                    county_id,
                    school: school.as_deref(),
                },
            )
            .await
            .map_err(failed)?;
            println!(
                "added user {} ({}) with id {}",
                user.username, user.role, user.id
            );
            Ok(())
        }
        Command::Tally { rebuild, survey } => {
            if !rebuild {
                return Err(CliError("say --rebuild to recompute the aggregates".into()));
            }
            let ctx = open().await?;
            let ids = match survey {
                Some(id) => vec![id],
                None => app::tally::survey_ids(&ctx, &OPERATOR)
                    .await
                    .map_err(failed)?,
            };
            for id in ids {
                let n = app::tally::rebuild(&ctx, &OPERATOR, id)
                    .await
                    .map_err(failed)?;
                println!("survey {id}: rebuilt the tally from {n} responses");
            }
            Ok(())
        }
        Command::Audit { command } => {
            let ctx = open().await?;
            match command {
                AuditCommand::Verify => {
                    match app::accounts::verify_audit(&ctx, &OPERATOR)
                        .await
                        .map_err(failed)?
                    {
                        app::accounts::Chain::Intact { entries, head } => {
                            println!("audit trail intact: {entries} entries, head {head}");
                            Ok(())
                        }
                        app::accounts::Chain::Broken { at, reason } => Err(CliError(format!(
                            "audit trail broken at entry {at}: {reason}"
                        ))),
                    }
                }
                AuditCommand::List { last } => {
                    for e in app::accounts::audit_entries(&ctx, &OPERATOR, last)
                        .await
                        .map_err(failed)?
                    {
                        println!(
                            "{}\t{}\t{}\t{}\t{}\t{}",
                            e.id, e.at, e.actor, e.action, e.subject, e.detail
                        );
                    }
                    Ok(())
                }
            }
        }
        Command::Backup { to } => {
            let settings = Settings::from_env().map_err(fail)?;
            if !settings.database_url.starts_with("sqlite:") {
                return Err(CliError(
                    "backup copies SQLite databases; for PostgreSQL use pg_dump (see the README)"
                        .into(),
                ));
            }
            if to.exists() {
                return Err(CliError(format!("{} exists already", to.display())));
            }
            app::backup(&settings, &to).await.map_err(failed)?;
            println!("backup written to {}", to.display());
            Ok(())
        }
        Command::Demo => {
            let settings = Settings::from_env().map_err(fail)?;
            crate::demo::run(&settings).await.map_err(fail)
        }
        Command::Draw {
            command:
                DrawCommand::Verify {
                    certificate,
                    lines,
                    rosters,
                },
        } => {
            let read = |path: &std::path::Path| {
                std::fs::read(path).map_err(|e| CliError(format!("{}: {e}", path.display())))
            };
            let mut given = Vec::with_capacity(rosters.len());
            for r in &rosters {
                let (group, path) = r.split_once('=').ok_or_else(|| {
                    CliError(format!(
                        "--roster {r}: expected GROUP=FILE, e.g. parent=parents.csv"
                    ))
                })?;
                let group = group
                    .parse()
                    .map_err(|_| CliError(format!("--roster {r}: no group `{group}`")))?;
                given.push((group, read(std::path::Path::new(path))?));
            }
            match app::draws::check_files(&read(&certificate)?, &read(&lines)?, &given) {
                Ok(Ok(n)) => {
                    println!("identical：复核一致，共 {n} 行");
                    Ok(())
                }
                Ok(Err(difference)) => Err(CliError(format!("different: {difference}"))),
                Err(unreadable) => Err(CliError(unreadable)),
            }
        }
        Command::County { command } => {
            let ctx = open().await?;
            match command {
                CountyCommand::Add { name } => {
                    let county = app::accounts::create_county(&ctx, &OPERATOR, &name)
                        .await
                        .map_err(failed)?;
                    println!("added county {} with id {}", county.name, county.id);
                }
                CountyCommand::List => {
                    for c in app::accounts::counties(&ctx, &OPERATOR)
                        .await
                        .map_err(failed)?
                    {
                        println!("{}\t{}", c.id, c.name);
                    }
                }
            }
            Ok(())
        }
    }
}
