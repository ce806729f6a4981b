//! Requests from outside a dialog: INVITE (offer/answer, limits, ringing or answering),
//! OPTIONS, stray requests; answering and hanging up.

use super::*;

impl Inner {
    pub(super) async fn serve_transactions(
        self: Arc<Self>,
        mut incoming: rsipstack::transaction::TransactionReceiver,
    ) {
        while let Some(tx) = incoming.recv().await {
            let me = self.clone();
            tokio::spawn(async move {
                let method = tx.original.method;
                if let Err(e) = me.on_transaction(tx).await {
                    tracing::debug!("SIP {method}: {e}");
                }
            });
        }
    }

    pub(super) async fn on_transaction(
        self: Arc<Self>,
        mut tx: Transaction,
    ) -> Result<(), SipError> {
        let in_dialog = tx
            .original
            .to_header()
            .ok()
            .and_then(|t| t.tag().ok().flatten())
            .is_some();
        if in_dialog {
            return match self.dialogs.match_dialog(&tx) {
                Some(rsipstack::dialog::dialog::Dialog::Invite(mut d)) => {
                    d.handle(&mut tx).await.map_err(stack)
                }
                _ if tx.original.method == Method::Ack => Ok(()),
                _ => tx
                    .reply(StatusCode::CallTransactionDoesNotExist)
                    .await
                    .map_err(stack),
            };
        }
        match tx.original.method {
            Method::Invite => self.on_invite(tx).await,
            Method::Options => tx
                .reply_with(StatusCode::OK, capability_headers(), None)
                .await
                .map_err(stack),
            Method::Ack => Ok(()),
            Method::Bye | Method::Cancel | Method::Info => tx
                .reply(StatusCode::CallTransactionDoesNotExist)
                .await
                .map_err(stack),
            _ => tx
                .reply_with(
                    StatusCode::MethodNotAllowed,
                    vec![Header::Allow(ALLOW.into())],
                    None,
                )
                .await
                .map_err(stack),
        }
    }

    pub(super) async fn on_invite(self: Arc<Self>, mut tx: Transaction) -> Result<(), SipError> {
        let refuse = |code| {
            self.stats.refused.fetch_add(1, Ordering::Relaxed);
            code
        };
        // One reading of the policy for the whole INVITE: a SetSIPConfiguration in the
        // middle does not mix two.
        let policy = self.policy();
        if !policy.allow_incoming {
            return tx
                .reply(refuse(StatusCode::TemporarilyUnavailable))
                .await
                .map_err(stack);
        }
        let (account, account_answers) = self.account_reached(&tx.original);
        if account.is_none() && !policy.peer_to_peer {
            // The peer-to-peer account was removed: only calls to an account are taken.
            return tx.reply(refuse(StatusCode::NotFound)).await.map_err(stack);
        }
        let session = session_expires(&tx.original);
        if let Some(Err(min)) = session.map(crate::session_timer::answer) {
            return tx
                .reply_with(
                    refuse(StatusCode::SessionIntervalTooSmall),
                    vec![Header::Other("Min-SE".into(), min.to_string())],
                    None,
                )
                .await
                .map_err(stack);
        }
        let over_tls = tx
            .connection
            .as_ref()
            .is_some_and(|c| c.transport() == rsipstack::sip::Transport::Tls);
        // The offer, and whether the call is SRTP (the media-encryption policy).
        let offer = std::str::from_utf8(tx.original.body())
            .map_err(|_| SipError::Malformed("SDP is not text".into()))
            .and_then(sdp::parse_offer)
            .and_then(|offer| {
                let crypto = crate::srtp::decide(
                    self.config.media_encryption,
                    over_tls,
                    offer.secure,
                    &offer.crypto,
                )?;
                Ok((offer, crypto))
            });
        let (offer, crypto) = match offer {
            Ok(o) => o,
            Err(e) => {
                tracing::info!("INVITE refused: {e}");
                return tx
                    .reply_with(
                        refuse(StatusCode::NotAcceptableHere),
                        vec![Header::Warning(format!("399 netamp \"{e}\"").into())],
                        None,
                    )
                    .await
                    .map_err(stack);
            }
        };
        let (socket, rtcp) = match self.bind_rtp() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("no RTP port: {e}");
                return tx
                    .reply(refuse(StatusCode::ServiceUnavailable))
                    .await
                    .map_err(stack);
            }
        };
        let port = socket.local_addr()?.port();
        let mut local = self.local_sdp(port);
        local.crypto = crypto;
        let (negotiated, answer) = match sdp::answer(&offer, &local) {
            Ok(a) => a,
            Err(e) => {
                return tx
                    .reply_with(
                        refuse(StatusCode::NotAcceptableHere),
                        vec![Header::Warning(format!("304 netamp \"{e}\"").into())],
                        None,
                    )
                    .await
                    .map_err(stack);
            }
        };
        let contact = self.contact(&tx);
        let dialog = match self.dialogs.get_or_create_server_invite(
            &tx,
            self.states.clone(),
            None,
            Some(contact),
        ) {
            Ok(d) => d,
            Err(e) => {
                return tx
                    .reply(StatusCode::CallTransactionDoesNotExist)
                    .await
                    .map_err(|_| stack(e));
            }
        };
        let key = dialog.id().call_id.clone();
        let info = CallInfo {
            id: dialog.id().call_id.clone(),
            state: CallState::Ringing,
            incoming: true,
            remote_uri: tx
                .original
                .from_header()
                .ok()
                .and_then(|f| f.uri().ok())
                .map(|u| u.to_string())
                .unwrap_or_default(),
            account,
            remote_addr: tx
                .connection
                .as_ref()
                .and_then(|c| c.get_remote_addr().map(|a| a.addr.to_string()))
                .unwrap_or_default(),
            transport: tx
                .connection
                .as_ref()
                .map(|c| c.transport().to_string())
                .unwrap_or_default(),
            codec: Some(negotiated.codec),
            srtp: negotiated.srtp.is_some(),
            started_ms: now_ms(),
            reason: None,
            ending: None,
            rtcp: (0, 0),
            spoofed: (0, 0),
            receive: None,
        };
        // The count and the insert under one lock: two INVITEs racing for the last slot
        // cannot both win.
        let busy = {
            let mut calls = self.lock_calls();
            let busy = calls.len() >= policy.max_calls;
            if !busy {
                let limits = CallLimits {
                    ring_timeout: policy.ring_timeout,
                    max_duration: policy.max_duration,
                    session_interval: session,
                };
                let core = CallCore::incoming(
                    limits,
                    account_answers.unwrap_or(policy.auto_answer),
                    Instant::now(),
                );
                calls.insert(
                    key.clone(),
                    self.new_call(
                        info.clone(),
                        dialog.clone(),
                        (answer, negotiated),
                        (socket, rtcp),
                        core,
                    ),
                );
            }
            busy
        };
        if busy {
            self.dialogs.remove_dialog(&dialog.id());
            return tx.reply(refuse(StatusCode::BusyHere)).await.map_err(stack);
        }
        let mut d = dialog.clone();
        let handle = tokio::spawn(async move { d.handle(&mut tx).await });
        // The core answers, rings or announces, and keeps the ring timer.
        self.start_core(&key);
        match handle.await {
            Ok(r) => r.map_err(stack),
            Err(_) => Ok(()),
        }
    }

    /// The registered account `invite` reached — the first whose user is its
    /// Request-URI's user (a registrar forwards calls to the contact the account
    /// registered, which carries that user) — and whether it answers at once (`None`:
    /// as the policy says). No match: the peer-to-peer account.
    fn account_reached(&self, invite: &rsipstack::sip::Request) -> (Option<String>, Option<bool>) {
        let user = invite.uri.auth.as_ref().map(|a| a.user.as_str());
        let Some(user) = user.filter(|u| !u.is_empty()) else {
            return (None, None);
        };
        let accounts = self.lock_accounts();
        let mut matching: Vec<&AccountConfig> = accounts
            .values()
            .map(|a| &a.config)
            .filter(|c| c.user == user)
            .collect();
        // The map's order is arbitrary; the lowest id wins, the same every time.
        matching.sort_by(|a, b| a.id.cmp(&b.id));
        matching
            .first()
            .map_or((None, None), |c| (Some(c.id.clone()), c.auto_answer))
    }

    /// The Contact of our replies: the address the request reached, over its transport.
    pub(super) fn contact(&self, tx: &Transaction) -> rsipstack::sip::Uri {
        let transport = tx
            .connection
            .as_ref()
            .map(|c| c.transport())
            .unwrap_or(rsipstack::sip::Transport::Udp);
        let mut params = Vec::new();
        if transport != rsipstack::sip::Transport::Udp {
            params.push(rsipstack::sip::Param::Transport(transport));
        }
        // TLS listens on a port of its own: the ACK and the BYE must come there.
        let port = match (&self.tls, transport) {
            (Some(addr), rsipstack::sip::Transport::Tls) => addr.port(),
            _ => self.local.port(),
        };
        rsipstack::sip::Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(rsipstack::sip::Auth {
                user: "netamp".into(),
                password: None,
            }),
            host_with_port: SocketAddr::new(self.media_ip, port).into(),
            params,
            ..Default::default()
        }
    }

    pub(super) fn answer(&self, call_id: &str) -> Result<(), SipError> {
        self.input(call_id, Input::Answer)
    }

    /// Sends 200 with the answer and starts the media.
    pub(super) fn answer_key(&self, key: &str) -> Result<(), SipError> {
        let mut calls = self.lock_calls();
        let call = calls
            .get_mut(key)
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        if call.info.state != CallState::Ringing {
            return Ok(());
        }
        let socket = call
            .socket
            .take()
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        let mut headers = vec![
            Header::ContentType("application/sdp".into()),
            Header::Allow(ALLOW.into()),
        ];
        headers.extend(call.session_headers());
        // The 200 first, the media threads after it: the RTP socket is already bound, so
        // nothing the caller sends in between is lost, and the answer is not kept
        // waiting for three thread starts.
        call.dialog
            .accept(Some(headers), Some(call.answer.clone().into_bytes()))
            .map_err(stack)?;
        match self.start_media(call, socket) {
            Ok(m) => call.media = Some(m),
            Err(e) => {
                // Answered but without media: better ended than silent.
                tracing::warn!("call media: {e}; hanging up");
                let dialog = call.dialog.clone();
                tokio::spawn(async move {
                    let _ = dialog.bye().await;
                });
            }
        }
        call.info.state = CallState::Active;
        self.stats.answered.fetch_add(1, Ordering::Relaxed);
        let _ = self.events.send(SipEvent::Call(call.info.clone()));
        Ok(())
    }

    pub(super) async fn hangup(&self, call_id: &str) -> Result<(), SipError> {
        let (dialog, state) = self
            .lock_calls()
            .get(call_id)
            .map(|c| (c.dialog.clone(), c.info.state))
            .ok_or_else(|| SipError::NoSuchCall(call_id.into()))?;
        if state == CallState::Ringing {
            dialog
                .reject(Some(StatusCode::TemporarilyUnavailable), None)
                .map_err(stack)
        } else if state == CallState::Calling {
            dialog.cancel().await.map_err(stack)
        } else {
            dialog.bye().await.map_err(stack)
        }
    }
}

pub(super) fn capability_headers() -> Vec<Header> {
    vec![
        Header::Allow(ALLOW.into()),
        Header::Accept("application/sdp, application/dtmf-relay, application/dtmf".into()),
        Header::ContentLength(0.into()),
    ]
}
