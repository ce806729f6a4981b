//! Outgoing calls: the offer, the INVITE in the background, the answer.

use super::*;

impl Inner {
    /// Calls `to`; returns the call's id at once, the call goes on in the background.
    pub(super) async fn call(self: &Arc<Self>, to: &str) -> Result<String, SipError> {
        let callee = rsipstack::sip::Uri::try_from(to)
            .map_err(|e| SipError::Malformed(format!("SIP address {to:?}: {e}")))?;
        let (socket, rtcp) = self.bind_rtp()?;
        let port = socket.local_addr()?.port();
        let (offer, offered) = sdp::offer(&self.local_sdp(port));
        let transport = callee
            .params
            .iter()
            .find_map(|p| match p {
                rsipstack::sip::Param::Transport(t) => Some(*t),
                _ => None,
            })
            .unwrap_or(rsipstack::sip::Transport::Udp);
        let me = rsipstack::sip::Uri {
            scheme: Some(rsipstack::sip::Scheme::Sip),
            auth: Some(rsipstack::sip::Auth {
                user: "netamp".into(),
                password: None,
            }),
            host_with_port: SocketAddr::new(self.media_ip, self.local.port()).into(),
            params: if transport == rsipstack::sip::Transport::Udp {
                Vec::new()
            } else {
                vec![rsipstack::sip::Param::Transport(transport)]
            },
            ..Default::default()
        };
        let option = rsipstack::dialog::invitation::InviteOption {
            caller: me.clone(),
            callee: callee.clone(),
            contact: me,
            content_type: Some("application/sdp".into()),
            offer: Some(offer.clone().into_bytes()),
            ..Default::default()
        };
        let (dialog, pending) = {
            let mut calls = self.lock_calls();
            if calls.len() >= self.config.max_calls {
                return Err(SipError::Limit(format!(
                    "{} call(s) already",
                    self.config.max_calls
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
                remote_addr: String::new(),
                transport: transport.to_string(),
                codec: None,
                started_ms: now_ms(),
                reason: None,
                rtcp: (0, 0),
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
                        },
                    ),
                    (socket, rtcp),
                ),
            );
            (dialog, pending)
        };
        let id = dialog.id().call_id.clone();
        if let Some(info) = self.lock_calls().get(&id).map(|c| c.info.clone()) {
            let _ = self.events.send(SipEvent::Call(info));
        }
        let me = self.clone();
        let key = id.clone();
        tokio::spawn(async move {
            let outcome = match pending.await {
                Ok(Ok((_, Some(resp)))) => Ok(resp),
                Ok(Ok((_, None))) => Err("no response".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match outcome {
                Ok(resp)
                    if resp.status_code.kind() == rsipstack::sip::StatusCodeKind::Successful =>
                {
                    if let Err(e) = me.connect(&key, resp.body(), &offered) {
                        tracing::warn!("outgoing call: {e}");
                        let _ = dialog.bye().await;
                        me.end(&key, e.to_string());
                    }
                }
                Ok(resp) => me.end(&key, resp.status_code.to_string()),
                Err(e) => me.end(&key, e),
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
    ) -> Result<(), SipError> {
        let answer = sdp::parse_offer(
            std::str::from_utf8(body).map_err(|_| SipError::Malformed("SDP".into()))?,
        )?;
        let negotiated = sdp::from_answer(&answer, offered)?;
        let mut calls = self.lock_calls();
        let call = calls
            .get_mut(key)
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        let socket = call
            .socket
            .take()
            .ok_or_else(|| SipError::NoSuchCall(key.into()))?;
        call.negotiated = negotiated;
        call.info.codec = Some(call.negotiated.codec);
        call.media = Some(self.start_media(call, socket)?);
        call.info.state = CallState::Active;
        let _ = self.events.send(SipEvent::Call(call.info.clone()));
        Ok(())
    }
}
