//! `switchyard keys …` and `switchyard secrets …`: gateway API keys and stored provider keys,
//! managed straight in the configured key store.

use anyhow::{bail, Context as _};
use switchyard_config::Config;
use switchyard_gateway::control::{Keys, NewKey};
use switchyard_store::keys::KeyRecord;

use crate::cli::{KeysCommand, SecretsCommand};

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
    let keys = Keys::open(&config.auth.url).await.with_context(|| {
        format!(
            "opening the key store at {}",
            switchyard_config::redact_url(&config.auth.url)
        )
    })?;
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

pub async fn secrets(config: &Config, command: SecretsCommand) -> anyhow::Result<()> {
    let Some(master) = &config.auth.master_key else {
        bail!("stored provider keys need a master key: set SWITCHYARD_MASTER_KEY (64 hex digits, e.g. `openssl rand -hex 32`) or [auth] master_key");
    };
    let keys = Keys::open(&config.auth.url).await.with_context(|| {
        format!(
            "opening the key store at {}",
            switchyard_config::redact_url(&config.auth.url)
        )
    })?;
    let fail = |e: switchyard_gateway::GatewayError| anyhow::anyhow!("{}", e.message);
    let vault = switchyard_gateway::control::Vault::new(keys.store(), master).map_err(fail)?;
    match command {
        SecretsCommand::Set {
            provider,
            alias,
            keys,
        } => {
            if !config.providers.iter().any(|p| p.name == provider) {
                bail!("no provider `{provider}` in the configuration");
            }
            let mut value = String::new();
            std::io::stdin()
                .read_line(&mut value)
                .context("reading the key from stdin")?;
            vault
                .set(&provider, &alias, value.trim(), keys.as_deref())
                .await
                .map_err(fail)?;
            eprintln!("stored `{alias}` for {provider}");
        }
        SecretsCommand::List => {
            println!("{:<20} {:<20} {:<20} KEYS", "PROVIDER", "ALIAS", "STORED");
            for s in vault.list().await.map_err(fail)? {
                println!(
                    "{:<20} {:<20} {:<20} {}",
                    s.provider,
                    s.alias,
                    crate::report::utc_time(s.created_at),
                    s.keys.map_or("any".to_owned(), |k| k.join(","))
                );
            }
        }
        SecretsCommand::Rm { provider, alias } => {
            if !vault.delete(&provider, &alias).await.map_err(fail)? {
                bail!("no key stored as `{alias}` for `{provider}`");
            }
            eprintln!("deleted `{alias}` for {provider}");
        }
    }
    Ok(())
}
