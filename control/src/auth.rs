//! HTTP Digest (MD5, SHA-256; qop=auth) and Basic authentication, with failure blocking.
//!
//! Brute-force blocking, with the manual's knobs (`[auth]`): failed logins are counted per
//! client address over the last second, per page (path) and for the whole device. More
//! than `max_failures_per_s_page` on one page blocks that page for the address, more than
//! `max_failures_per_s_device` blocks the whole device, each for `block_seconds`; the
//! request that goes over the limit is the first one refused (429). `blocking = false`
//! turns it off.
//!
//! Replays: a nonce is an HMAC of its time, the same for every client within a second, so
//! each accepted answer is remembered by nonce, user and cnonce with its count `nc`
//! (RFC 7616 §3.4). The same answer again, or an `nc` that does not grow, is refused with
//! `stale=true`: a real client then asks for a fresh nonce; a replaying one has nothing.
//! Without `qop` there is no count, so such an answer is good once. The memory is bounded
//! ([`MAX_TRACKED_ANSWERS`]); when it is full of unexpired nonces, new nonces are refused
//! as stale until some expire rather than forgetting one that could then be replayed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

use crate::config::AuthConfig;
use crate::users::{constant_time_eq, hex, md5_hex, sha256_hex, Account, UserStore};

/// The result of checking a request's credentials.
#[derive(Debug, Clone)]
pub enum AuthOutcome {
    /// Valid credentials.
    User(Account),
    /// No credentials sent.
    Anonymous,
    /// Wrong credentials; `stale` when only the nonce had expired.
    Failed {
        /// The Digest nonce was valid but too old.
        stale: bool,
    },
    /// Too many failures from this address.
    Blocked,
}

/// One address's recent failures and blocks.
#[derive(Debug, Default)]
struct Failures {
    /// Failures of the last second: when, and on which page.
    recent: std::collections::VecDeque<(Instant, String)>,
    /// Blocked everywhere until then.
    device_until: Option<Instant>,
    /// Pages blocked, each until then.
    pages: HashMap<String, Instant>,
}

impl Failures {
    /// Whether anything is blocked still (at `now`).
    fn blocks(&self, now: Instant) -> bool {
        self.device_until.is_some_and(|t| now < t) || self.pages.values().any(|t| now < *t)
    }
}

/// The window failures are counted over.
const FAILURE_WINDOW: Duration = Duration::from_secs(1);

/// Most (nonce, user, cnonce) answers remembered for replay detection.
pub const MAX_TRACKED_ANSWERS: usize = 16_384;

/// An accepted Digest answer's identity: nonce, user name, cnonce.
type AnswerKey = (String, String, String);

/// Checks credentials and issues challenges.
pub struct Authenticator {
    users: Arc<UserStore>,
    secret: [u8; 32],
    config: AuthConfig,
    failures: Mutex<HashMap<IpAddr, Failures>>,
    /// Accepted answers: the highest `nc` and the nonce's time (for expiry).
    answers: Mutex<HashMap<AnswerKey, (u32, u64)>>,
}

fn unix_now(now: SystemTime) -> u64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Splits a Digest parameter list (`a="b", c=d`) into pairs; quoted commas are kept.
pub fn parse_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else { break };
        let key = rest[..eq]
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        rest = rest[eq + 1..].trim_start();
        let value;
        if let Some(r) = rest.strip_prefix('"') {
            let mut v = String::new();
            let mut chars = r.char_indices();
            let mut end = r.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            v.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => v.push(c),
                }
            }
            value = v;
            rest = &r[end.min(r.len())..];
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            value = rest[..end].trim().to_string();
            rest = &rest[end..];
        }
        rest = rest.trim_start().trim_start_matches(',').trim_start();
        out.insert(key, value);
    }
    out
}

impl Authenticator {
    /// Creates an authenticator with a fresh nonce secret.
    pub fn new(users: Arc<UserStore>, config: AuthConfig) -> Self {
        let secret: [u8; 32] = rand::random();
        Self {
            users,
            secret,
            config,
            failures: Mutex::new(HashMap::new()),
            answers: Mutex::new(HashMap::new()),
        }
    }

    /// Whether brute-force blocking is on.
    pub fn blocking(&self) -> bool {
        self.config.blocking
    }

    /// Whether requests without credentials may do what a viewer may.
    pub fn anonymous_viewing(&self) -> bool {
        self.config.anonymous_viewing
    }

    /// The account store.
    pub fn users(&self) -> &Arc<UserStore> {
        &self.users
    }

    fn nonce_at(&self, ts: u64) -> String {
        let ts_bytes = ts.to_be_bytes();
        let mut h = Sha256::new();
        h.update(self.secret);
        h.update(ts_bytes);
        let mac = hex(&h.finalize());
        format!(
            "{}{}",
            base64::engine::general_purpose::STANDARD.encode(ts_bytes),
            &mac[..40]
        )
    }

    /// A new nonce: 12 base64 characters of timestamp plus 40 hex of MAC, like Apache's.
    pub fn nonce(&self, now: SystemTime) -> String {
        self.nonce_at(unix_now(now))
    }

    /// Checks a nonce we issued and returns its time; Err(true) when it is ours but
    /// expired.
    fn check_nonce(&self, nonce: &str, now: SystemTime) -> Result<u64, bool> {
        if nonce.len() != 52 || !nonce.is_ascii() {
            return Err(false);
        }
        let ts_bytes = base64::engine::general_purpose::STANDARD
            .decode(&nonce[..12])
            .map_err(|_| false)?;
        let ts = u64::from_be_bytes(ts_bytes.try_into().map_err(|_| false)?);
        if !constant_time_eq(self.nonce_at(ts).as_bytes(), nonce.as_bytes()) {
            return Err(false);
        }
        let age = unix_now(now).saturating_sub(ts);
        if age > self.config.nonce_lifetime_seconds || ts > unix_now(now) + 5 {
            return Err(true);
        }
        Ok(ts)
    }

    /// Records an answer with count `nc` to a nonce issued at `ts`: false when it was
    /// seen before with this count or a higher one (a replay), or when no more answers can
    /// be remembered.
    fn first_use(&self, key: AnswerKey, nc: u32, ts: u64, now: SystemTime) -> bool {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((last, _)) = answers.get_mut(&key) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        if answers.len() >= MAX_TRACKED_ANSWERS {
            let lifetime = self.config.nonce_lifetime_seconds;
            let now = unix_now(now);
            answers.retain(|_, (_, t)| now.saturating_sub(*t) <= lifetime);
            if answers.len() >= MAX_TRACKED_ANSWERS {
                return false;
            }
        }
        answers.insert(key, (nc, ts));
        true
    }

    /// `WWW-Authenticate` values for a 401: Digest SHA-256, Digest MD5, then Basic.
    ///
    /// MD5 comes after SHA-256 because clients that know only MD5 (ffmpeg, curl before
    /// 7.57) keep the *last* Digest challenge they read, and ffmpeg gives up on one it
    /// cannot compute; clients that choose (browsers) take the strongest they support.
    pub fn challenges(&self, stale: bool, now: SystemTime) -> Vec<String> {
        let realm = self.users.realm();
        let nonce = self.nonce(now);
        let stale = if stale { ", stale=true" } else { "" };
        vec![
            format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=SHA-256{stale}, qop=\"auth\""),
            format!("Digest realm=\"{realm}\", nonce=\"{nonce}\", algorithm=MD5{stale}, qop=\"auth\""),
            format!("Basic realm=\"{realm}\""),
        ]
    }

    /// Checks the `Authorization` header of a request. `path` is the request's path; a
    /// Digest answer computed for another path is refused.
    pub fn authenticate(
        &self,
        method: &str,
        path: &str,
        header: Option<&str>,
        ip: Option<IpAddr>,
        now: SystemTime,
    ) -> AuthOutcome {
        if let Some(ip) = ip {
            if self.is_blocked(ip, path) {
                return AuthOutcome::Blocked;
            }
        }
        let Some(header) = header.map(str::trim) else {
            return AuthOutcome::Anonymous;
        };
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        let outcome = if scheme.eq_ignore_ascii_case("basic") {
            self.basic(rest.trim())
        } else if scheme.eq_ignore_ascii_case("digest") {
            self.digest(method, path, rest, now)
        } else {
            AuthOutcome::Failed { stale: false }
        };
        if let (AuthOutcome::Failed { stale: false }, Some(ip)) = (&outcome, ip) {
            if self.count_failure(ip, path) {
                return AuthOutcome::Blocked;
            }
        }
        outcome
    }

    fn basic(&self, b64: &str) -> AuthOutcome {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some((user, pwd)) = decoded.as_deref().and_then(|d| d.split_once(':')) else {
            return AuthOutcome::Failed { stale: false };
        };
        match self.users.check_password(user, pwd) {
            Some(a) => AuthOutcome::User(a),
            None => AuthOutcome::Failed { stale: false },
        }
    }

    fn digest(&self, method: &str, path: &str, params: &str, now: SystemTime) -> AuthOutcome {
        let p = parse_params(params);
        let get = |k: &str| p.get(k).map(String::as_str);
        let (Some(user), Some(nonce), Some(uri), Some(response)) =
            (get("username"), get("nonce"), get("uri"), get("response"))
        else {
            return AuthOutcome::Failed { stale: false };
        };
        if get("realm") != Some(self.users.realm()) {
            return AuthOutcome::Failed { stale: false };
        }
        // The answer covers `uri`; it must name this request's path (absolute-form too).
        let uri_path = uri.split('?').next().unwrap_or("");
        let uri_path = uri_path
            .find("://")
            .and_then(|i| uri_path[i + 3..].find('/').map(|j| &uri_path[i + 3 + j..]))
            .unwrap_or(uri_path);
        if uri_path != path {
            return AuthOutcome::Failed { stale: false };
        }
        let Some(account) = self.users.get(user) else {
            return AuthOutcome::Failed { stale: false };
        };
        let algorithm = get("algorithm").unwrap_or("MD5");
        let (ha1, h): (&str, fn(&str) -> String) = if algorithm.eq_ignore_ascii_case("MD5") {
            (&account.ha1_md5, md5_hex)
        } else if algorithm.eq_ignore_ascii_case("SHA-256") {
            (&account.ha1_sha256, sha256_hex)
        } else {
            return AuthOutcome::Failed { stale: false };
        };
        let ha2 = h(&format!("{method}:{uri}"));
        let (expected, count, cnonce) = match get("qop") {
            Some(qop) if qop.eq_ignore_ascii_case("auth") => {
                let (Some(nc), Some(cnonce)) = (get("nc"), get("cnonce")) else {
                    return AuthOutcome::Failed { stale: false };
                };
                // Eight hex digits (RFC 7616).
                let Some(count) = (nc.len() == 8)
                    .then(|| u32::from_str_radix(nc, 16).ok())
                    .flatten()
                else {
                    return AuthOutcome::Failed { stale: false };
                };
                (
                    h(&format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")),
                    count,
                    cnonce,
                )
            }
            None => (h(&format!("{ha1}:{nonce}:{ha2}")), 0, ""),
            Some(_) => return AuthOutcome::Failed { stale: false },
        };
        if !constant_time_eq(
            expected.as_bytes(),
            response.to_ascii_lowercase().as_bytes(),
        ) {
            return AuthOutcome::Failed { stale: false };
        }
        match self.check_nonce(nonce, now) {
            Ok(ts) => {
                let key = (nonce.to_string(), account.name.clone(), cnonce.to_string());
                if self.first_use(key, count, ts, now) {
                    AuthOutcome::User(account)
                } else {
                    AuthOutcome::Failed { stale: true }
                }
            }
            Err(stale) => AuthOutcome::Failed { stale },
        }
    }

    fn failures(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Failures>> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_blocked(&self, ip: IpAddr, path: &str) -> bool {
        if !self.config.blocking {
            return false;
        }
        let now = Instant::now();
        let mut f = self.failures();
        let Some(e) = f.get_mut(&ip) else {
            return false;
        };
        let blocked =
            e.device_until.is_some_and(|t| now < t) || e.pages.get(path).is_some_and(|t| now < *t);
        e.pages.retain(|_, t| now < *t);
        if e.device_until.is_some_and(|t| now >= t) {
            e.device_until = None;
        }
        blocked
    }

    /// Counts a failed login on `path`; true when it blocks the address (for this page or
    /// the whole device).
    fn count_failure(&self, ip: IpAddr, path: &str) -> bool {
        if !self.config.blocking {
            return false;
        }
        let now = Instant::now();
        let mut f = self.failures();
        if f.len() > 10_000 {
            // Bound memory under a spray of addresses: forget what blocks nothing.
            f.retain(|_, e| e.blocks(now));
        }
        let e = f.entry(ip).or_default();
        while e
            .recent
            .front()
            .is_some_and(|(t, _)| now.duration_since(*t) > FAILURE_WINDOW)
        {
            e.recent.pop_front();
        }
        // At most one more than the device limit is kept: enough to see it exceeded.
        let device_limit = self.config.max_failures_per_s_device as usize;
        if e.recent.len() > device_limit {
            e.recent.pop_front();
        }
        e.recent.push_back((now, path.to_string()));
        let until = now + Duration::from_secs(self.config.block_seconds);
        let on_page = e.recent.iter().filter(|(_, p)| p == path).count();
        if e.recent.len() > device_limit {
            e.device_until = Some(until);
            tracing::warn!(
                "access: {ip} blocked for {} s: more than {device_limit} failed logins within a second",
                self.config.block_seconds
            );
            true
        } else if on_page > self.config.max_failures_per_s_page as usize {
            e.pages.insert(path.to_string(), until);
            tracing::warn!(
                "access: {ip} blocked from {path} for {} s: more than {} failed logins on it within a second",
                self.config.block_seconds,
                self.config.max_failures_per_s_page
            );
            true
        } else {
            false
        }
    }

    /// Clears the failure count after a good login.
    pub fn forgive(&self, ip: IpAddr) {
        // Only the count: a page blocked stays blocked (a good login elsewhere must not
        // reopen a page that is being guessed at).
        let mut f = self.failures();
        let now = Instant::now();
        if let Some(e) = f.get_mut(&ip) {
            e.recent.clear();
            if !e.blocks(now) {
                f.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth() -> (Authenticator, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "netamp-auth-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let users = UserStore::load(dir.join("u.json"), "AXIS_ACCC8EC43707".into()).unwrap();
        users.add("root", "pass", "root", "admin", "").unwrap();
        (
            Authenticator::new(
                Arc::new(users),
                AuthConfig {
                    max_failures_per_s_device: 3,
                    ..Default::default()
                },
            ),
            dir,
        )
    }

    fn digest_header(
        a: &Authenticator,
        alg: &str,
        h: fn(&str) -> String,
        pwd: &str,
        now: SystemTime,
    ) -> String {
        // A client's own cnonce per algorithm, as two clients would have.
        answer(a, alg, h, pwd, now, alg, 1)
    }

    /// A Digest answer with this cnonce and count.
    fn answer(
        a: &Authenticator,
        alg: &str,
        h: fn(&str) -> String,
        pwd: &str,
        now: SystemTime,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let nonce = a.nonce(now);
        let ha1 = h(&format!("root:AXIS_ACCC8EC43707:{pwd}"));
        let ha2 = h("GET:/axis-cgi/param.cgi?action=list");
        let resp = h(&format!("{ha1}:{nonce}:{nc:08x}:{cnonce}:auth:{ha2}"));
        format!("Digest username=\"root\", realm=\"AXIS_ACCC8EC43707\", nonce=\"{nonce}\", uri=\"/axis-cgi/param.cgi?action=list\", algorithm={alg}, response=\"{resp}\", qop=auth, nc={nc:08x}, cnonce=\"{cnonce}\"")
    }

    #[test]
    fn a_replayed_answer_or_a_count_that_does_not_grow_is_refused_as_stale() {
        let (a, dir) = auth();
        let now = SystemTime::now();
        let ok = |hdr: &str| {
            matches!(
                a.authenticate("GET", "/axis-cgi/param.cgi", Some(hdr), None, now),
                AuthOutcome::User(_)
            )
        };
        let stale = |hdr: &str| {
            matches!(
                a.authenticate("GET", "/axis-cgi/param.cgi", Some(hdr), None, now),
                AuthOutcome::Failed { stale: true }
            )
        };
        let first = answer(&a, "MD5", md5_hex, "pass", now, "c1", 1);
        assert!(ok(&first));
        assert!(stale(&first), "the same answer again");
        assert!(ok(&answer(&a, "MD5", md5_hex, "pass", now, "c1", 2)));
        assert!(stale(&answer(&a, "MD5", md5_hex, "pass", now, "c1", 2)));
        assert!(
            stale(&answer(&a, "MD5", md5_hex, "pass", now, "c1", 1)),
            "nc went back"
        );
        // Another client on the same nonce (issued in the same second) starts at 1.
        assert!(ok(&answer(&a, "MD5", md5_hex, "pass", now, "c2", 1)));
        // A count that is not eight hex digits is no answer.
        let short = answer(&a, "MD5", md5_hex, "pass", now, "c3", 3).replace("nc=00000003", "nc=3");
        assert!(matches!(
            a.authenticate("GET", "/axis-cgi/param.cgi", Some(&short), None, now),
            AuthOutcome::Failed { stale: false }
        ));
        // Full of live answers: a new one is refused as stale, none is forgotten.
        for i in 0..MAX_TRACKED_ANSWERS {
            a.first_use(
                ("n".into(), "u".into(), i.to_string()),
                1,
                unix_now(now),
                now,
            );
        }
        assert!(stale(&answer(&a, "MD5", md5_hex, "pass", now, "c4", 1)));
        assert!(stale(&first), "still remembered");
        // Once they expire there is room again.
        let later = now + Duration::from_secs(400);
        let fresh = answer(&a, "MD5", md5_hex, "pass", later, "c5", 1);
        assert!(matches!(
            a.authenticate("GET", "/axis-cgi/param.cgi", Some(&fresh), None, later),
            AuthOutcome::User(_)
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn digest_md5_and_sha256_and_basic() {
        let (a, dir) = auth();
        let now = SystemTime::now();
        for (alg, h) in [
            ("MD5", md5_hex as fn(&str) -> String),
            ("SHA-256", sha256_hex),
        ] {
            let hdr = digest_header(&a, alg, h, "pass", now);
            assert!(
                matches!(
                    a.authenticate("GET", "/axis-cgi/param.cgi", Some(&hdr), None, now),
                    AuthOutcome::User(_)
                ),
                "{alg}"
            );
            let bad = digest_header(&a, alg, h, "wrong", now);
            assert!(matches!(
                a.authenticate("GET", "/axis-cgi/param.cgi", Some(&bad), None, now),
                AuthOutcome::Failed { stale: false }
            ));
        }
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("root:pass")
        );
        assert!(matches!(
            a.authenticate("GET", "/axis-cgi/param.cgi", Some(&basic), None, now),
            AuthOutcome::User(_)
        ));
        let old = now - Duration::from_secs(1000);
        let hdr = digest_header(&a, "MD5", md5_hex, "pass", old);
        assert!(matches!(
            a.authenticate("GET", "/axis-cgi/param.cgi", Some(&hdr), None, now),
            AuthOutcome::Failed { stale: true }
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn digest_for_another_path_is_refused() {
        let (a, dir) = auth();
        let now = SystemTime::now();
        let hdr = digest_header(&a, "MD5", md5_hex, "pass", now);
        assert!(matches!(
            a.authenticate("GET", "/axis-cgi/pwdgrp.cgi", Some(&hdr), None, now),
            AuthOutcome::Failed { .. }
        ));
        // 52 bytes that are not 52 ASCII characters must not be sliced mid-character.
        assert_eq!(a.check_nonce(&"é".repeat(26), now), Err(false));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn blocks_after_repeated_failures() {
        let (a, dir) = auth();
        let ip: IpAddr = "127.0.0.9".parse().unwrap();
        let bad = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("root:x")
        );
        let wrong = || {
            a.authenticate(
                "GET",
                "/axis-cgi/param.cgi",
                Some(&bad),
                Some(ip),
                SystemTime::now(),
            )
        };
        for _ in 0..3 {
            assert!(matches!(wrong(), AuthOutcome::Failed { .. }));
        }
        // The fourth within the second goes over the device limit: refused already.
        assert!(matches!(wrong(), AuthOutcome::Blocked));
        assert!(matches!(
            a.authenticate("GET", "/", None, Some(ip), SystemTime::now()),
            AuthOutcome::Blocked
        ));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn nonce_shape_and_params() {
        let (a, dir) = auth();
        let n = a.nonce(SystemTime::now());
        assert_eq!(n.len(), 52);
        assert_eq!(&n[11..12], "=");
        let p = parse_params(r#"username="a,b", realm="R", nc=00000001, qop=auth"#);
        assert_eq!(p["username"], "a,b");
        assert_eq!(p["nc"], "00000001");
        assert_eq!(p["qop"], "auth");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
