//! `pwdgrp.cgi` (account management) and `usergroup.cgi` (who am I).

use warp::http::StatusCode;

use super::{respond, text, Reply, Request};
use crate::app::App;
use crate::users::{AccountError, Role};

fn html(status: StatusCode, body: &str) -> Reply {
    respond(status, "text/html", format!("{body}\n"))
}

fn account_error(e: &AccountError, user: &str) -> Reply {
    let msg = match e {
        AccountError::BadName => "Error: account user name.".to_string(),
        AccountError::BadPassword => "Error: account password.".to_string(),
        AccountError::BadGroups => "Error: account security group.".to_string(),
        AccountError::Exists => format!("Error: this user name already exists, consult the system log file ({user})."),
        AccountError::NoSuchUser => format!("Error: account {user} does not exist, consult the system log file."),
        AccountError::LastAdmin => "Error: the last administrator account cannot be removed or demoted, consult the system log file.".into(),
        AccountError::Storage(_) => "Error: consult the system log file.".into(),
    };
    if let AccountError::Storage(detail) = e {
        tracing::error!("saving accounts: {detail}");
    }
    html(StatusCode::OK, &msg)
}

/// Handles `pwdgrp.cgi` (GET or form POST).
pub async fn pwdgrp(app: &App, req: &mut Request) -> Reply {
    let args = match req.form_args(app.config.http.max_body_bytes).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let get = |k: &str| super::find_arg(&args, k);
    let action = get("action").unwrap_or("");
    let users = app.auth.users();

    // While no account exists, only the first administrator may be created, anonymously.
    if users.is_empty() {
        if action != "add" {
            return html(
                StatusCode::UNAUTHORIZED,
                "Error: initial admin user must be created first.",
            );
        }
        let sgrp = get("sgrp").unwrap_or("");
        if !sgrp.split(':').any(|g| g.eq_ignore_ascii_case("admin")) {
            return html(
                StatusCode::UNAUTHORIZED,
                "Error: not a valid initial admin user.",
            );
        }
    } else if let Err(r) = app.require(req, Role::Admin) {
        return r;
    }

    let user = get("user").unwrap_or("");
    match action {
        "add" => match users.add(
            user,
            get("pwd").unwrap_or(""),
            get("grp").unwrap_or("users"),
            get("sgrp").unwrap_or(""),
            get("comment").unwrap_or(""),
        ) {
            Ok(()) => html(StatusCode::OK, &format!("Created account {user}.")),
            Err(e) => account_error(&e, user),
        },
        "update" => {
            if users.get(user).is_none() {
                return account_error(&AccountError::NoSuchUser, user);
            }
            match users.update(user, get("pwd"), get("sgrp"), get("comment")) {
                Ok(()) => html(StatusCode::OK, &format!("Modified account {user}.")),
                Err(e) => account_error(&e, user),
            }
        }
        "remove" => match users.remove(user) {
            Ok(()) => html(StatusCode::OK, &format!("Removed account {user}.")),
            Err(e) => account_error(&e, user),
        },
        "get" => {
            let all = users.all();
            let names = |g: &str| {
                all.iter()
                    .filter(|a| a.sgroups.iter().any(|s| s == g))
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let digusers = all
                .iter()
                .map(|a| a.name.as_str())
                .collect::<Vec<_>>()
                .join(",");
            let body = format!(
                "admin=\"{}\"\r\noperator=\"{}\"\r\nviewer=\"{}\"\r\nptz=\"{}\"\r\ndigusers=\"{}\"\r\n",
                names("admin"),
                names("operator"),
                names("viewer"),
                names("ptz"),
                digusers
            );
            text(StatusCode::OK, &body)
        }
        "" => html(StatusCode::OK, "Error: action operation type."),
        other => html(
            StatusCode::OK,
            &format!("Error: malformed action operation, {other}."),
        ),
    }
}

/// Handles `usergroup.cgi`: the caller's name and groups.
pub fn usergroup(app: &App, req: &Request) -> Reply {
    match app.require(req, Role::Viewer) {
        Ok(Some(a)) => {
            let mut groups = Vec::new();
            if a.group == "root" {
                groups.push("root".to_string());
            }
            groups.extend(a.sgroups.iter().cloned());
            text(
                StatusCode::OK,
                &format!("{}\n{}\n", a.name, groups.join(" ")),
            )
        }
        Ok(None) => app.challenge(false),
        Err(r) => r,
    }
}
