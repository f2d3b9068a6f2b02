//! The `postmill` command line: parses arguments, runs one command, turns its result
//! into the contract's exit code. Everything else lives in the library.

use clap::{Parser, Subcommand};
use postmill::commands::CliError;
use postmill::commands::{self, run::RunArgs};
use postmill::config::{Config, Mode, ProcessEnv, ProviderChoice};
use postmill::error::Exit;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "postmill", version, about = "Folders of scraped interview posts in, structured summaries out.")]
struct Cli {
    /// Config file (default: ./config.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Summarise every post of the input folder; resumes where an earlier run stopped.
    Run {
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long, value_enum)]
        provider: Option<ProviderChoice>,
        #[arg(long, value_enum)]
        mode: Option<Mode>,
        #[arg(long)]
        concurrency: Option<usize>,
        /// Try again the jobs that failed permanently in earlier runs.
        #[arg(long)]
        retry_failed: bool,
        /// Only these post ids.
        #[arg(long, num_args = 1..)]
        only: Vec<String>,
        /// When quotas are exhausted for the day, sleep until the reset instead of exiting 75.
        #[arg(long)]
        wait: bool,
        #[arg(long)]
        no_progress: bool,
    },
    /// Counts per state, failed posts with their reasons, exhausted pools and when work resumes.
    Status {
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Checks the configured models against ListModels.
    Models {
        #[arg(long)]
        json: bool,
    },
    /// Where the quota went: the ledger of --output, or log files.
    Audit {
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long)]
        since: Option<jiff::civil::Date>,
        #[arg(long)]
        until: Option<jiff::civil::Date>,
        #[arg(long, value_enum, default_value = "table")]
        format: commands::audit::Format,
        /// usage.jsonl files or legacy logs; when given, --output's ledger is not read.
        logfiles: Vec<PathBuf>,
    },
    /// The requests the pending work needs, today's capacity, and when the batch can finish.
    Plan {
        #[arg(long)]
        input: Option<PathBuf>,
        #[arg(long)]
        output: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// The batch digest across all summaries: digest.md, digest.json, report.html.
    Digest {
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Quota bookkeeping.
    Quota {
        #[command(subcommand)]
        action: QuotaAction,
    },
}

#[derive(Subcommand)]
enum QuotaAction {
    /// Forget recorded exhaustion (all pools, or those matching provider/project/model).
    Reset {
        #[arg(long)]
        output: Option<PathBuf>,
        pool: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let exit = match execute(cli) {
        Ok(exit) => exit,
        Err(e) => {
            eprintln!("postmill: {}", postmill::error::chain(&e));
            e.exit()
        }
    };
    ExitCode::from(exit as u8)
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("postmill=info,warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| postmill::progress::LogWriter)
        .with_ansi(postmill::progress::colour())
        .with_target(false)
        .init();
}

fn execute(cli: Cli) -> Result<Exit, CliError> {
    let cfg = Config::load(cli.config.as_deref(), &ProcessEnv)?;
    let runtime = tokio::runtime::Runtime::new()
        .map_err(|e| CliError::Other(anyhow::Error::new(e).context("cannot start the async runtime")))?;
    let out = |o: Option<PathBuf>| o.unwrap_or_else(|| cfg.output.clone());
    match cli.command {
        Command::Run { input, output, provider, mode, concurrency, retry_failed, only, wait, no_progress } => {
            let args = RunArgs { input, output, provider, mode, concurrency, retry_failed, only, wait, no_progress };
            runtime.block_on(commands::run::run(&cfg, args))
        }
        Command::Status { output, json } => commands::status::status(&out(output), json),
        Command::Models { json } => runtime.block_on(commands::models::models(&cfg, json)),
        Command::Audit { output, since, until, format, logfiles } => {
            commands::audit::audit(&cfg, &out(output), since, until, format, &logfiles)
        }
        Command::Plan { input, output, json } => {
            let input = input.unwrap_or_else(|| cfg.input.clone());
            commands::plan::plan(&cfg, &input, &out(output), json)
        }
        Command::Digest { output } => commands::digest::digest(&out(output)),
        Command::Quota { action: QuotaAction::Reset { output, pool } } => {
            commands::quota::reset(&out(output), pool.as_deref())
        }
    }
}
