//! Registered accounts: the tokio half of [`crate::register::Schedule`].

use super::*;

impl Inner {
    pub(super) fn lock_accounts(&self) -> std::sync::MutexGuard<'_, HashMap<String, Account>> {
        self.accounts.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn set_status(&self, id: &str, status: RegStatus) {
        if let Some(entry) = self.lock_accounts().get_mut(id) {
            entry.status = status;
        }
    }

    /// Keeps one account registered until `cancel`, then unregisters it.
    pub(super) async fn register_loop(
        self: Arc<Self>,
        acc: AccountConfig,
        cancel: CancellationToken,
    ) {
        use rsipstack::dialog::authenticate::Credential;
        use rsipstack::dialog::registration::Registration;
        let credential = Credential {
            username: acc.user.clone(),
            password: acc.password.clone(),
            realm: None,
            auth_username: acc.auth_user.clone(),
        };
        let servers: Vec<&String> = std::iter::once(&acc.registrar)
            .chain(acc.secondary.iter())
            .collect();
        let mut regs: Vec<Registration> = servers
            .iter()
            .map(|_| {
                let mut r = Registration::new(self.endpoint.clone(), Some(credential.clone()));
                r.outbound_proxy = acc.outbound_proxy;
                r
            })
            .collect();
        let mut schedule = Schedule::new(servers.len() == 2);
        let mut last_ok: Option<usize> = None;
        loop {
            let i = schedule.server();
            let text = servers[i];
            let dialled = match registrar_uri(text) {
                Ok(uri) => self.reach(&uri, &acc).await.map(|()| uri),
                Err(e) => Err(e),
            };
            let outcome = match dialled {
                Err(e) => Err(e),
                Ok(uri) => match tokio::time::timeout(
                    acc.timeout,
                    regs[i].register(uri, Some(acc.expires)),
                )
                .await
                {
                    Ok(Ok(resp))
                        if resp.status_code.kind()
                            == rsipstack::sip::StatusCodeKind::Successful =>
                    {
                        let contact = regs[i]
                            .discovered_public_address()
                            .map_or_else(String::new, |a| a.to_string());
                        Ok((regs[i].expires(), contact))
                    }
                    Ok(Ok(resp)) => Err(format!("{text}: {}", resp.status_code)),
                    Ok(Err(e)) => Err(format!("{text}: {e}")),
                    Err(_) => Err(format!("{text}: no answer in {:?}", acc.timeout)),
                },
            };
            let next = match outcome {
                Ok((granted, contact)) => {
                    tracing::info!(account = %acc.id, server = %text, granted, %contact, "registered");
                    self.set_status(
                        &acc.id,
                        RegStatus::Registered {
                            server: text.clone(),
                            expires: granted,
                            contact,
                        },
                    );
                    last_ok = Some(i);
                    schedule.on_outcome(Outcome::Ok(granted), Instant::now())
                }
                Err(reason) => {
                    tracing::warn!(account = %acc.id, "registration failed: {reason}");
                    // Still registered elsewhere until that binding runs out: only a
                    // failure of the registrar we hold is a failed status.
                    if last_ok.is_none_or(|k| k == i) {
                        last_ok = None;
                        self.set_status(&acc.id, RegStatus::Failed { reason });
                    }
                    schedule.on_outcome(Outcome::Failed, Instant::now())
                }
            };
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tokio::time::sleep_until(next.into()) => {}
            }
        }
        if let Some(i) = last_ok {
            if let Ok(uri) = registrar_uri(servers[i]) {
                let _ = tokio::time::timeout(acc.timeout, async {
                    if self.reach(&uri, &acc).await.is_ok() {
                        let _ = regs[i].register(uri, Some(0)).await;
                    }
                })
                .await;
            }
        }
    }
}

impl Inner {
    /// Over TLS (and without an outbound proxy), netamp opens the connection a REGISTER
    /// to `uri` goes through; other transports are the stack's.
    async fn reach(&self, uri: &rsipstack::sip::Uri, acc: &AccountConfig) -> Result<(), String> {
        match (super::tls::tls_target(uri), acc.outbound_proxy) {
            (Some((host, port)), None) => self
                .dial_tls(&host, port, acc.verify_server)
                .await
                .map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }
}

/// A registrar as a URI (`sip:` is added to a bare `host[:port]`).
pub(super) fn registrar_uri(text: &str) -> Result<rsipstack::sip::Uri, String> {
    let t = if text.starts_with("sip:") || text.starts_with("sips:") {
        text.to_string()
    } else {
        format!("sip:{text}")
    };
    rsipstack::sip::Uri::try_from(t.as_str()).map_err(|e| format!("registrar {text:?}: {e}"))
}
