//! Accounts: names, roles and password digests (never the password itself).

use std::path::PathBuf;
use std::sync::RwLock;

use md5::{Digest as _, Md5};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::ControlError;
use crate::store;

/// Access levels, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Anyone, no credentials.
    Anonymous,
    /// May watch and play clips.
    Viewer,
    /// May change media and I/O.
    Operator,
    /// May manage users and the device.
    Admin,
}

/// One stored account.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Account {
    /// 1–14 characters `a-zA-Z0-9`.
    pub name: String,
    /// `root` for the first administrator, else `users`.
    pub group: String,
    /// Security groups: `admin`, `operator`, `viewer`, `ptz`.
    pub sgroups: Vec<String>,
    /// Free text.
    #[serde(default)]
    pub comment: String,
    /// MD5(user:realm:password), hex.
    pub ha1_md5: String,
    /// SHA-256(user:realm:password), hex.
    pub ha1_sha256: String,
}

impl Account {
    /// The highest role among the account's groups.
    pub fn role(&self) -> Role {
        let has = |g: &str| self.sgroups.iter().any(|s| s == g);
        if has("admin") {
            Role::Admin
        } else if has("operator") {
            Role::Operator
        } else if has("viewer") {
            Role::Viewer
        } else {
            Role::Anonymous
        }
    }
}

/// Hex digest helpers for Digest authentication.
pub fn md5_hex(s: &str) -> String {
    hex(&Md5::digest(s.as_bytes()))
}

/// SHA-256 as lower-case hex.
pub fn sha256_hex(s: &str) -> String {
    hex(&Sha256::digest(s.as_bytes()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why an account change was refused (each maps to a pwdgrp.cgi sentence).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountError {
    /// The name is not 1–14 characters `a-zA-Z0-9`.
    #[error("an account name is 1 to 14 letters and digits")]
    BadName,
    /// The password is empty, too long or not printable ASCII.
    #[error("a password is 1 to 64 printable ASCII characters")]
    BadPassword,
    /// The security groups are not a valid combination.
    #[error("not a valid combination of security groups")]
    BadGroups,
    /// An account with that name exists.
    #[error("the account exists")]
    Exists,
    /// No account with that name.
    #[error("no such account")]
    NoSuchUser,
    /// The change would leave no administrator.
    #[error("the change would leave no administrator")]
    LastAdmin,
    /// The first administrator (group `root`) is never removed nor demoted.
    #[error("the root account cannot be removed or demoted")]
    Root,
    /// [`MAX_ACCOUNTS`] exist already.
    #[error("{MAX_ACCOUNTS} accounts exist, the most there may be")]
    TooMany,
    /// Saving failed.
    #[error("cannot save: {0}")]
    Storage(String),
}

/// All accounts, persisted in `users.json`.
pub struct UserStore {
    path: PathBuf,
    realm: String,
    accounts: RwLock<Vec<Account>>,
}

const VALID_SGROUPS: [&str; 4] = ["admin", "operator", "viewer", "ptz"];

/// Most accounts, as the devices' manuals state.
pub const MAX_ACCOUNTS: usize = 100;

fn valid_name(name: &str) -> bool {
    (1..=14).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

fn valid_password(pwd: &str) -> bool {
    (1..=64).contains(&pwd.len()) && pwd.chars().all(|c| (' '..='~').contains(&c))
}

/// Parses a colon list like `admin:operator:viewer:ptz` into a normalised group list.
pub fn parse_sgroups(s: &str) -> Result<Vec<String>, AccountError> {
    let mut groups: Vec<String> = Vec::new();
    for g in s.split(':').map(str::trim).filter(|g| !g.is_empty()) {
        let g = g.to_ascii_lowercase();
        if !VALID_SGROUPS.contains(&g.as_str()) {
            return Err(AccountError::BadGroups);
        }
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    // Higher roles imply the lower ones, as on Axis devices.
    let has = |g: &str, v: &Vec<String>| v.iter().any(|x| x == g);
    if has("admin", &groups) && !has("operator", &groups) {
        groups.push("operator".into());
    }
    if has("operator", &groups) && !has("viewer", &groups) {
        groups.push("viewer".into());
    }
    if !has("viewer", &groups) {
        return Err(AccountError::BadGroups);
    }
    groups.sort_by_key(|g| VALID_SGROUPS.iter().position(|v| v == g));
    Ok(groups)
}

impl UserStore {
    /// Loads `users.json` from the data directory.
    pub fn load(path: PathBuf, realm: String) -> Result<Self, ControlError> {
        let accounts: Vec<Account> = store::load_json(&path)?.unwrap_or_default();
        Ok(Self {
            path,
            realm,
            accounts: RwLock::new(accounts),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Account>> {
        self.accounts.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Account>> {
        self.accounts.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The Digest realm these digests were made for.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// True while no account exists (the first admin may then be created anonymously).
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// A copy of one account.
    pub fn get(&self, name: &str) -> Option<Account> {
        self.read().iter().find(|a| a.name == name).cloned()
    }

    /// Copies of all accounts.
    pub fn all(&self) -> Vec<Account> {
        self.read().clone()
    }

    fn digests(&self, name: &str, pwd: &str) -> (String, String) {
        let a1 = format!("{name}:{}:{pwd}", self.realm);
        (md5_hex(&a1), sha256_hex(&a1))
    }

    /// Checks a clear-text password (Basic auth) against the stored digest.
    pub fn check_password(&self, name: &str, pwd: &str) -> Option<Account> {
        let account = self.get(name)?;
        let (md5, _) = self.digests(name, pwd);
        constant_time_eq(md5.as_bytes(), account.ha1_md5.as_bytes()).then_some(account)
    }

    fn save(&self, accounts: &[Account]) -> Result<(), AccountError> {
        store::save_json(&self.path, &accounts).map_err(|e| AccountError::Storage(e.to_string()))
    }

    /// Adds an account.
    pub fn add(
        &self,
        name: &str,
        pwd: &str,
        group: &str,
        sgroups: &str,
        comment: &str,
    ) -> Result<(), AccountError> {
        if !valid_name(name) {
            return Err(AccountError::BadName);
        }
        if !valid_password(pwd) {
            return Err(AccountError::BadPassword);
        }
        let sgroups = parse_sgroups(sgroups)?;
        let mut accounts = self.write();
        if accounts.iter().any(|a| a.name == name) {
            return Err(AccountError::Exists);
        }
        if accounts.len() >= MAX_ACCOUNTS {
            return Err(AccountError::TooMany);
        }
        if accounts.is_empty() && !sgroups.iter().any(|g| g == "admin") {
            return Err(AccountError::LastAdmin);
        }
        let (ha1_md5, ha1_sha256) = self.digests(name, pwd);
        let group = if group == "root" && accounts.is_empty() {
            "root"
        } else {
            "users"
        };
        let mut next = accounts.clone();
        next.push(Account {
            name: name.into(),
            group: group.into(),
            sgroups,
            comment: comment.into(),
            ha1_md5,
            ha1_sha256,
        });
        self.save(&next)?;
        *accounts = next;
        Ok(())
    }

    /// Changes an account's password, groups or comment.
    pub fn update(
        &self,
        name: &str,
        pwd: Option<&str>,
        sgroups: Option<&str>,
        comment: Option<&str>,
    ) -> Result<(), AccountError> {
        let mut accounts = self.write();
        let mut next = accounts.clone();
        let idx = next
            .iter()
            .position(|a| a.name == name)
            .ok_or(AccountError::NoSuchUser)?;
        if let Some(pwd) = pwd {
            if !valid_password(pwd) {
                return Err(AccountError::BadPassword);
            }
            let (m, s) = self.digests(name, pwd);
            next[idx].ha1_md5 = m;
            next[idx].ha1_sha256 = s;
        }
        if let Some(sg) = sgroups {
            next[idx].sgroups = parse_sgroups(sg)?;
            if next[idx].group == "root" && next[idx].role() != Role::Admin {
                return Err(AccountError::Root);
            }
        }
        if let Some(c) = comment {
            next[idx].comment = c.into();
        }
        if !next.iter().any(|a| a.role() == Role::Admin) {
            return Err(AccountError::LastAdmin);
        }
        self.save(&next)?;
        *accounts = next;
        Ok(())
    }

    /// Removes an account (never the last administrator).
    pub fn remove(&self, name: &str) -> Result<(), AccountError> {
        let mut accounts = self.write();
        let mut next = accounts.clone();
        let Some(gone) = next.iter().position(|a| a.name == name) else {
            return Err(AccountError::NoSuchUser);
        };
        if next[gone].group == "root" {
            return Err(AccountError::Root);
        }
        next.remove(gone);
        if !next.iter().any(|a| a.role() == Role::Admin) {
            return Err(AccountError::LastAdmin);
        }
        self.save(&next)?;
        *accounts = next;
        Ok(())
    }
}

/// Compares without an early exit, so timing does not reveal how much matched.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (UserStore, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "netamp-users-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        (
            UserStore::load(dir.join("users.json"), "AXIS_000000000000".into()).unwrap(),
            dir,
        )
    }

    #[test]
    fn lifecycle_and_persistence() {
        let (s, dir) = store();
        assert_eq!(
            s.add("joe", "pw", "users", "viewer", ""),
            Err(AccountError::LastAdmin)
        );
        s.add("root", "secret", "root", "admin:operator:viewer:ptz", "")
            .unwrap();
        assert_eq!(
            s.add("root", "x", "users", "viewer", ""),
            Err(AccountError::Exists)
        );
        assert_eq!(
            s.add("bad name", "x", "users", "viewer", ""),
            Err(AccountError::BadName)
        );
        s.add("joe", "pw", "users", "viewer:operator", "Joe")
            .unwrap();
        assert_eq!(s.get("joe").unwrap().role(), Role::Operator);
        assert!(s.check_password("joe", "pw").is_some());
        assert!(s.check_password("joe", "nope").is_none());
        assert_eq!(s.remove("root"), Err(AccountError::Root));
        assert_eq!(
            s.update("root", None, Some("viewer"), None),
            Err(AccountError::Root)
        );
        // Another administrator does not make root removable.
        s.add("ann", "pw", "users", "admin", "").unwrap();
        assert_eq!(s.remove("root"), Err(AccountError::Root));
        s.remove("ann").unwrap();
        // At most MAX_ACCOUNTS; a refused add changes nothing.
        for i in s.all().len()..MAX_ACCOUNTS {
            s.add(&format!("u{i}"), "pw", "users", "viewer", "")
                .unwrap();
        }
        assert_eq!(
            s.add("onemore", "pw", "users", "viewer", ""),
            Err(AccountError::TooMany)
        );
        assert_eq!(s.all().len(), MAX_ACCOUNTS);
        for i in 2..MAX_ACCOUNTS {
            s.remove(&format!("u{i}")).unwrap();
        }
        let reloaded = UserStore::load(dir.join("users.json"), "AXIS_000000000000".into()).unwrap();
        assert_eq!(reloaded.all(), s.all());
        let raw = std::fs::read_to_string(dir.join("users.json")).unwrap();
        assert!(!raw.contains("secret"), "password stored in clear");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn groups_imply_lower_roles() {
        assert_eq!(
            parse_sgroups("admin").unwrap(),
            vec!["admin", "operator", "viewer"]
        );
        assert_eq!(parse_sgroups("viewer:ptz").unwrap(), vec!["viewer", "ptz"]);
        assert_eq!(parse_sgroups("ptz"), Err(AccountError::BadGroups));
        assert_eq!(parse_sgroups("god"), Err(AccountError::BadGroups));
    }
}
