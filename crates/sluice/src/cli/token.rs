//! `sluice token create|list|delete`: manage database-scoped tokens on a running server.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The server's URL, `http://` or `https://`. Default http://127.0.0.1:8086.
    #[arg(
        long,
        env = "SLUICE_HOST",
        default_value = "http://127.0.0.1:8086",
        global = true
    )]
    host: String,
    /// The admin token. Default: none (required).
    #[arg(long, env = "SLUICE_TOKEN", hide_env_values = true, global = true)]
    token: Option<String>,
    #[command(flatten)]
    tls: super::TlsArgs,
    #[command(subcommand)]
    command: TokenCommand,
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Create a token for one or more databases and print it (it is shown only once).
    Create {
        /// Database the token may use (repeat for several; `*` for all).
        #[arg(long = "db", required = true)]
        databases: Vec<String>,
        /// What it may do: read, write or read,write.
        #[arg(long, default_value = "read,write")]
        permission: String,
        /// A label for the token. Default empty.
        #[arg(long, default_value = "")]
        name: String,
        /// How long the token is accepted (e.g. 12h, 30d, 52w). Default: forever.
        #[arg(long)]
        expiry: Option<String>,
    },
    /// List tokens (ids, names and permissions; never the secrets).
    List,
    /// Delete a token by id.
    Delete {
        /// The token's id, as `list` shows it.
        id: String,
    },
}

pub(crate) fn run(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let token = args
        .token
        .filter(|t| !t.is_empty())
        .context("an admin token is needed: pass --token or set SLUICE_TOKEN")?;
    let base = args.host.trim_end_matches('/').to_owned();
    let agent = args.tls.agent()?;
    let url = format!("{base}/api/v3/configure/token");
    let auth = format!("Token {token}");
    let (status, body) = match args.command {
        TokenCommand::Create {
            databases,
            permission,
            name,
            expiry,
        } => {
            let actions = parse_actions(&permission)?;
            let permissions: Vec<Value> = databases
                .iter()
                .map(|db| json!({ "database": db, "actions": actions }))
                .collect();
            let mut request = json!({ "name": name, "permissions": permissions });
            if let Some(expiry) = expiry {
                request["expiry"] = json!(expiry);
            }
            let request = request.to_string();
            let response = agent
                .post(&url)
                .header("Authorization", &auth)
                .content_type("application/json")
                .send(request.as_str());
            read(response, &url)?
        }
        TokenCommand::List => read(agent.get(&url).header("Authorization", &auth).call(), &url)?,
        TokenCommand::Delete { id } => {
            let url = format!("{url}?id={}", encode(&id));
            read(
                agent.delete(&url).header("Authorization", &auth).call(),
                &url,
            )?
        }
    };
    if !(200..300).contains(&status) {
        let message = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or(body);
        anyhow::bail!("server answered {status}: {message}");
    }
    if status == 204 {
        println!("deleted");
        return Ok(ExitCode::SUCCESS);
    }
    let value: Value = serde_json::from_str(&body).context("the server sent invalid json")?;
    if let Some(tokens) = value["tokens"].as_array() {
        println!("{:<18} {:<16} {:<26} PERMISSIONS", "ID", "NAME", "EXPIRES");
        for token in tokens {
            let permissions = if token["admin"].as_bool() == Some(true) {
                "admin".to_owned()
            } else {
                describe_permissions(&token["permissions"])
            };
            println!(
                "{:<18} {:<16} {:<26} {permissions}",
                token["id"].as_str().unwrap_or(""),
                token["name"].as_str().unwrap_or(""),
                token["expires_at"].as_str().unwrap_or("never"),
            );
        }
    } else {
        println!("id: {}", value["id"].as_str().unwrap_or(""));
        println!(
            "permissions: {}",
            describe_permissions(&value["permissions"])
        );
        if let Some(expires_at) = value["expires_at"].as_str() {
            println!("expires: {expires_at}");
        }
        println!("token: {}", value["token"].as_str().unwrap_or(""));
    }
    Ok(ExitCode::SUCCESS)
}

fn read(
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    url: &str,
) -> anyhow::Result<(u16, String)> {
    let mut response = response.map_err(|err| super::unreachable(url, err))?;
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_string()
        .with_context(|| format!("cannot read the answer of {url}"))?;
    Ok((status, body))
}

fn parse_actions(text: &str) -> anyhow::Result<Vec<&'static str>> {
    let mut actions = Vec::new();
    for part in text.split(',').map(str::trim) {
        let action = match part {
            "read" => "read",
            "write" => "write",
            other => anyhow::bail!("invalid permission {other:?}: use read, write or read,write"),
        };
        if !actions.contains(&action) {
            actions.push(action);
        }
    }
    Ok(actions)
}

fn describe_permissions(permissions: &Value) -> String {
    permissions
        .as_array()
        .map(|list| {
            list.iter()
                .map(|p| {
                    let actions: Vec<&str> = p["actions"]
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    format!(
                        "{}:{}",
                        p["database"].as_str().unwrap_or(""),
                        actions.join(",")
                    )
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// Percent-encodes a query-string value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_permission_lists() {
        assert_eq!(parse_actions("read,write").unwrap(), ["read", "write"]);
        assert_eq!(parse_actions("write").unwrap(), ["write"]);
        assert!(parse_actions("admin").is_err());
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }
}
