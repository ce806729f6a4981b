//! Outgoing calls: the offer, the INVITE in the background, the answer.

use super::*;

impl Inner {
    /// Calls `to` (peer to peer, or through a registered account); returns the call's id
    /// at once, the call goes on in the background.
    pub(super) async fn call(
        self: &Arc<Self>,
        to: &str,
        account: Option<(AccountConfig, RegStatus)>,
    ) -> Result<String, SipError> {
        let route = account
            .as_ref()
            .map(|(a, s)| AccountRoute::new(a, s))
            .transpose()?;
        let to = match &route {
            Some(r) => r.callee(to),
            None => to.to_string(),
        };
        let callee = rsipstack::sip::Uri::try_from(to.as_str())
            .map_err(|e| SipError::Malformed(format!("SIP address {to:?}: {e}")))?;
        let secure_scheme = callee.scheme == Some(rsipstack::sip::Scheme::Sips);
        let transport = callee
            .params
            .iter()
            .find_map(|p| match p {
                rsipstack::sip::Param::Transport(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(if secure_scheme {
                rsipstack::sip::Transport::Tls
            } else {
                rsipstack::sip::Transport::Udp
            });
        // Through an account whose registrar is reached over TLS, the call is TLS too.
        let route_tls = route
            .as_ref()
            .and_then(|r| r.destination.as_ref())
            .is_some_and(|d| d.r#type == Some(rsipstack::sip::Transport::Tls));
        let over_tls = transport == rsipstack::sip::Transport::Tls || route_tls;
        // SRTP (SDES) only where the keys travel encrypted: on a TLS call.
        let crypto = match self.config.media_encryption {
            crate::srtp::MediaEncryption::Required if !over_tls => {
                return Err(SipError::Unsupported(
                    "media encryption is required: call a sips: or ;transport=tls address".into(),
                ))
            }
            crate::srtp::MediaEncryption::Off => None,
            _ if over_tls => Some(crate::srtp::Crypto::fresh(
                1,
                crate::srtp::Suite::AesCm128Sha1_80,
            )?),
            _ => None,
        };
        if over_tls {
            // Through the account's server when there is one, else to the callee itself.
            let target = match route.as_ref().and_then(|r| r.destination.as_ref()) {
                Some(d) => Some((
                    d.addr.host.to_string(),
                    d.addr.port.as_ref().map_or(5061, |p| p.value()),
                )),
                None => super::tls::tls_target(&callee),
            };
            if let Some((host, port)) = target {
                let verify = account.as_ref().and_then(|(a, _)| a.verify_server);
                self.dial_tls(&host, port, verify).await?;
            }
        }
        let (socket, rtcp) = self.bind_rtp()?;
        let port = socket.local_addr()?.port();
        let mut local = self.local_sdp(port);
        local.crypto = crypto.clone();
        let (offer, offered) = sdp::offer(&local);
        let user = route.as_ref().map_or("netamp", |r| r.user.as_str());
        let me = rsipstack::sip::Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(rsipstack::sip::Auth {
                user: user.into(),
                password: None,
            }),
            // A TLS call's Contact is the TLS listener, where the peer's requests come.
            host_with_port: SocketAddr::new(
                self.media_ip,
                match (over_tls, self.tls) {
                    (true, Some(t)) => t.port(),
                    _ => self.local.port(),
                },
            )
            .into(),
            params: if transport == rsipstack::sip::Transport::Udp {
                Vec::new()
            } else {
                vec![rsipstack::sip::Param::Transport(transport)]
            },
            ..Default::default()
        };
        let option = rsipstack::dialog::invitation::InviteOption {
            caller: route.as_ref().map_or_else(|| me.clone(), |r| r.aor.clone()),
            callee: callee.clone(),
            contact: me,
            content_type: Some("application/sdp".into()),
            offer: Some(offer.clone().into_bytes()),
            destination: route.as_ref().and_then(|r| r.destination.clone()),
            credential: route.map(|r| r.credential),
            ..Default::default()
        };
        let (dialog, pending) = {
            let mut calls = self.lock_calls();
            if calls.len() >= self.policy().max_calls {
                return Err(SipError::Limit(format!(
                    "{} call(s) already",
                    self.policy().max_calls
                )));
            }
            let (dialog, pending) = self
                .dialogs
                .do_invite_async(option, self.states.clone())
                .map_err(stack)?;
            let info = CallInfo {
                id: dialog.id().call_id.clone(),
                state: CallState::Calling,
                incoming: false,
                remote_uri: callee.to_string(),
                account: account.as_ref().map(|(a, _)| a.id.clone()),
                remote_addr: String::new(),
                transport: transport.to_string(),
                codec: None,
                started_ms: now_ms(),
                reason: None,
                ending: None,
                rtcp: (0, 0),
                spoofed: (0, 0),
                receive: None,
                srtp: false,
            };
            calls.insert(
                info.id.clone(),
                self.new_call(
                    info,
                    dialog.clone(),
                    (
                        offer,
                        Negotiated {
                            codec: offered[0].1,
                            payload_type: offered[0].0,
                            telephone_event: None,
                            direction: self.config.direction,
                            remote: (self.media_ip, 0),
                            srtp: None,
                        },
                    ),
                    (socket, rtcp),
                    CallCore::outgoing(CallLimits {
                        ring_timeout: self.policy().ring_timeout,
                        max_duration: self.policy().max_duration,
                        session_interval: None,
                    }),
                ),
            );
            (dialog, pending)
        };
        let id = dialog.id().call_id.clone();
        self.start_core(&id);
        if let Some(info) = self.lock_calls().get(&id).map(|c| c.info.clone()) {
            let _ = self.events.send(SipEvent::Call(info));
        }
        let me = self.clone();
        let key = id.clone();
        let invite_timeout = self.config.invite_timeout;
        tokio::spawn(async move {
            let mut pending = pending;
            // Timer B: without any response the call fails (over TCP the stack would wait
            // for ever); once the callee rings, it may ring as long as it likes.
            let result = match tokio::time::timeout(invite_timeout, &mut pending).await {
                Ok(r) => Some(r),
                Err(_) if !me.lock_calls().get(&key).is_some_and(|c| c.provisional) => {
                    pending.abort();
                    None
                }
                Err(_) => Some((&mut pending).await),
            };
            let outcome = match result {
                None => Err(format!(
                    "no response to the INVITE within {} s",
                    invite_timeout.as_secs()
                )),
                Some(Ok(Ok((_, Some(resp))))) => Ok(resp),
                Some(Ok(Ok((_, None)))) => Err("no response".to_string()),
                Some(Ok(Err(e))) => Err(e.to_string()),
                Some(Err(e)) => Err(e.to_string()),
            };
            match outcome {
                Ok(resp)
                    if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful =>
                {
                    if let Err(e) = me.connect(&key, resp.body(), &offered, crypto.as_ref()) {
                        tracing::warn!("outgoing call: {e}");
                        let _ = dialog.bye().await;
                        me.end(&key, e.to_string(), Ending::Failed);
                    }
                }
                Ok(resp) => {
                    let ending = Ending::of_status(u16::from(resp.status_code.clone()));
                    me.end(&key, resp.status_code.to_string(), ending)
                }
                Err(e) => {
                    tracing::warn!("outgoing call to {}: {e}", callee);
                    me.end(&key, e, Ending::Failed)
                }
            }
        });
        Ok(id)
    }

    /// An outgoing call was answered: read the answer and start the media.
    pub(super) fn connect(
        &self,
        key: &str,
        body: &[u8],
        offered: &[(u8, AudioCodec)],
        ours: Option<&crate::srtp::Crypto>,
    ) -> Result<(), SipError> {
        let answer = sdp::parse_offer(
            std::str::from_utf8(body).map_err(|_| SipError::Malformed("SDP".into()))?,
        )?;
        let negotiated = sdp::from_answer(&answer, offered, ours)?;
        let mut calls = self.lock_calls();
        let call = calls
            .get_mut(key)
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        let socket = call
            .socket
            .take()
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        call.info.srtp = negotiated.srtp.is_some();
        call.negotiated = negotiated;
        call.info.codec = Some(call.negotiated.codec);
        call.media = Some(self.start_media(call, socket)?);
        call.core.handle(Input::RemoteAnswered, Instant::now());
        call.info.state = CallState::Active;
        let _ = self.events.send(SipEvent::Call(call.info.clone()));
        Ok(())
    }
}

/// How a call through a registered account is addressed and sent.
struct AccountRoute {
    /// The account's user.
    user: String,
    /// Its address of record (`sip:user@registrar-domain`): the From of its calls.
    aor: rsipstack::sip::Uri,
    /// The registrar's domain, for bare numbers.
    domain: String,
    /// Where the INVITE goes: the outbound proxy, else the registrar it is registered on.
    destination: Option<rsipstack::transport::SipAddr>,
    credential: rsipstack::dialog::authenticate::Credential,
}

impl AccountRoute {
    fn new(account: &AccountConfig, status: &RegStatus) -> Result<Self, SipError> {
        let server = match status {
            RegStatus::Registered { server, .. } => server.as_str(),
            _ => account.registrar.as_str(),
        };
        let registrar = super::accounts::registrar_uri(server).map_err(SipError::Malformed)?;
        let aor = rsipstack::sip::Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(rsipstack::sip::Auth {
                user: account.user.clone(),
                password: None,
            }),
            host_with_port: registrar.host_with_port.clone(),
            ..Default::default()
        };
        let destination = match account.outbound_proxy {
            Some(proxy) => Some(proxy.into()),
            None => rsipstack::transport::SipAddr::try_from(&registrar).ok(),
        };
        Ok(Self {
            user: account.user.clone(),
            aor,
            domain: registrar.host_with_port.to_string(),
            destination,
            credential: rsipstack::dialog::authenticate::Credential {
                username: account.user.clone(),
                password: account.password.clone(),
                realm: None,
                auth_username: account.auth_user.clone(),
            },
        })
    }

    /// `to` as a URI: a bare user or number is taken at the registrar's domain.
    fn callee(&self, to: &str) -> String {
        let to = to.trim();
        if to.starts_with("sip:") || to.starts_with("sips:") {
            to.to_string()
        } else if to.contains('@') {
            format!("sip:{to}")
        } else {
            format!("sip:{to}@{}", self.domain)
        }
    }
}
