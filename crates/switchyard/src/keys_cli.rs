//! `switchyard keys …`: gateway API keys managed straight in the configured key store.

use anyhow::{bail, Context as _};
use switchyard_config::Config;
use switchyard_gateway::control::{Keys, NewKey};
use switchyard_store::keys::KeyRecord;

use crate::cli::KeysCommand;

fn when(ms: Option<i64>) -> String {
    match ms {
        Some(ms) => crate::report::utc_time(ms),
        None => "never".to_owned(),
    }
}

fn table(keys: &[KeyRecord]) -> String {
    let mut out = format!(
        "{:<21} {:<20} {:<10} {:<9} {:<20} {}\n",
        "ID", "NAME", "PREFIX", "STATE", "EXPIRES", "MODELS"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<21} {:<20} {:<10} {:<9} {:<20} {}\n",
            k.id,
            k.name,
            k.prefix,
            if k.disabled { "disabled" } else { "active" },
            when(k.expires_at),
            if k.models.is_empty() {
                "any".to_owned()
            } else {
                k.models.join(",")
            }
        ));
    }
    out
}

pub async fn run(config: &Config, command: KeysCommand) -> anyhow::Result<()> {
    let keys = Keys::open(&config.auth.url)
        .await
        .with_context(|| format!("opening the key store at {}", config.auth.url))?;
    let fail = |e: switchyard_gateway::GatewayError| anyhow::anyhow!("{}", e.message);
    match command {
        KeysCommand::Create {
            name,
            models,
            expires,
            rate_limit,
            budget,
            json,
        } => {
            let new = NewKey {
                name,
                models,
                expires,
                rate_limit,
                budget,
            };
            let (key, record) = keys.create(&new).await.map_err(fail)?;
            if json {
                println!("{}", serde_json::json!({"key": key, "record": record}));
            } else {
                println!("{key}");
                eprintln!(
                    "created {} ({}): the key above is shown only now; store it safely",
                    record.id, record.name
                );
            }
        }
        KeysCommand::List { json } => {
            let list = keys.list().await.map_err(fail)?;
            if json {
                for k in &list {
                    println!("{}", serde_json::to_string(k)?);
                }
            } else {
                print!("{}", table(&list));
            }
        }
        KeysCommand::Disable { id } => {
            if !keys.set_disabled(&id, true).await.map_err(fail)? {
                bail!("no API key `{id}`");
            }
            eprintln!("disabled {id}");
        }
        KeysCommand::Enable { id } => {
            if !keys.set_disabled(&id, false).await.map_err(fail)? {
                bail!("no API key `{id}`");
            }
            eprintln!("enabled {id}");
        }
        KeysCommand::Delete { id } => {
            if !keys.delete(&id).await.map_err(fail)? {
                bail!("no API key `{id}`");
            }
            eprintln!("deleted {id}");
        }
    }
    Ok(())
}
