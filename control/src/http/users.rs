//! `pwdgrp.cgi` (account management) and `usergroup.cgi` (who am I).

use warp::http::StatusCode;

use super::Gate;
use super::{respond, text, Reply, Request};
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
        AccountError::Root => "Error: the root account cannot be removed or demoted, consult the system log file.".into(),
        AccountError::TooMany => format!("Error: the maximum number of accounts ({}) is reached, consult the system log file.", crate::users::MAX_ACCOUNTS),
        AccountError::Storage(_) => "Error: consult the system log file.".into(),
    };
    if let AccountError::Storage(detail) = e {
        tracing::error!("saving accounts: {detail}");
    }
    html(StatusCode::OK, &msg)
}

/// Handles `pwdgrp.cgi` (GET or form POST).
pub async fn pwdgrp(gate: &Gate, req: &mut Request) -> Reply {
    let args = match req.form_args(req.body_limit).await {
        Ok(a) => a,
        Err(r) => return r,
    };
    let get = |k: &str| super::find_arg(&args, k);
    let action = get("action").unwrap_or("");
    let users = gate.auth().users();

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
    } else if let Err(r) = gate.require(req, Role::Admin) {
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
pub fn usergroup(gate: &Gate, req: &Request) -> Reply {
    match gate.require(req, Role::Viewer) {
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
        Ok(None) => gate.challenge(false),
        Err(r) => r,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::testing::{gate, get, read, PASSWORD};

    #[tokio::test]
    async fn only_an_administrator_manages_accounts_and_replies_are_the_axis_lines() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let add = format!(
            "/axis-cgi/pwdgrp.cgi?action=add&user=guard&pwd={PASSWORD}&grp=users&sgrp=viewer"
        );
        for who in [None, Some("view"), Some("op")] {
            let r = pwdgrp(&gate, &mut get(&add, who)).await;
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{who:?}");
        }
        assert!(
            gate.auth().users().get("guard").is_none(),
            "a refused add was stored"
        );
        let r = pwdgrp(&gate, &mut get(&add, Some("root"))).await;
        assert_eq!(
            read(r).await,
            (
                StatusCode::OK,
                "text/html".into(),
                "Created account guard.\n".into()
            )
        );
        let r = pwdgrp(&gate, &mut get(&add, Some("root"))).await;
        assert_eq!(
            read(r).await.2,
            "Error: this user name already exists, consult the system log file (guard).\n"
        );
        let r = pwdgrp(
            &gate,
            &mut get("/axis-cgi/pwdgrp.cgi?action=get", Some("root")),
        )
        .await;
        assert_eq!(
            read(r).await.2,
            "admin=\"root\"\r\noperator=\"root,op\"\r\nviewer=\"root,op,view,guard\"\r\nptz=\"root\"\r\ndigusers=\"root,op,view,guard\"\r\n"
        );
        let r = pwdgrp(
            &gate,
            &mut get(
                "/axis-cgi/pwdgrp.cgi?action=remove&user=guard",
                Some("root"),
            ),
        )
        .await;
        assert_eq!(read(r).await.2, "Removed account guard.\n");
        let r = pwdgrp(
            &gate,
            &mut get("/axis-cgi/pwdgrp.cgi?action=explode", Some("root")),
        )
        .await;
        assert_eq!(
            read(r).await.2,
            "Error: malformed action operation, explode.\n"
        );
    }

    #[tokio::test]
    async fn the_first_administrator_is_created_anonymously_and_nothing_else() {
        let dir = tempfile::tempdir().expect("dir");
        let users = std::sync::Arc::new(
            crate::users::UserStore::load(dir.path().join("users.json"), "r".into())
                .expect("users"),
        );
        let gate = Gate::new(
            std::sync::Arc::new(crate::auth::Authenticator::new(users, Default::default())),
            Default::default(),
        );
        let r = pwdgrp(&gate, &mut get("/axis-cgi/pwdgrp.cgi?action=get", None)).await;
        assert_eq!(
            read(r).await,
            (
                StatusCode::UNAUTHORIZED,
                "text/html".into(),
                "Error: initial admin user must be created first.\n".into()
            )
        );
        let viewer =
            format!("/axis-cgi/pwdgrp.cgi?action=add&user=a&pwd={PASSWORD}&grp=users&sgrp=viewer");
        let r = pwdgrp(&gate, &mut get(&viewer, None)).await;
        assert_eq!(read(r).await.2, "Error: not a valid initial admin user.\n");
        let admin = format!("/axis-cgi/pwdgrp.cgi?action=add&user=root&pwd={PASSWORD}&grp=root&sgrp=admin:operator:viewer");
        let r = pwdgrp(&gate, &mut get(&admin, None)).await;
        assert_eq!(read(r).await.2, "Created account root.\n");
        // From now on credentials are needed.
        let r = pwdgrp(&gate, &mut get(&admin.replace("user=root", "user=b"), None)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }

    #[tokio::test]
    async fn usergroup_names_the_caller_and_its_groups() {
        let dir = tempfile::tempdir().expect("dir");
        let gate = gate(dir.path());
        let r = usergroup(&gate, &get("/axis-cgi/usergroup.cgi", Some("root")));
        assert_eq!(read(r).await.2, "root\nroot admin operator viewer ptz\n");
        let r = usergroup(&gate, &get("/axis-cgi/usergroup.cgi", Some("view")));
        assert_eq!(read(r).await.2, "view\nviewer\n");
        let r = usergroup(&gate, &get("/axis-cgi/usergroup.cgi", None));
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    }
}
