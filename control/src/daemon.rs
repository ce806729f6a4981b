//! The daemon's wiring: builds each service once, hands out `Arc`s, starts the
//! listeners, and runs until a signal.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netamp_engine::decode::DecodeLimits;
use netamp_engine::device::{self, InputSpec, OutputSpec};
use netamp_engine::{Engine, EngineConfig};

use crate::cli::Cli;
use crate::config::Config;
use crate::error::ControlError;
use crate::{
    audio, audio_settings, auth, clips, config, events, http, identity, io_service, maintenance,
    operator, player, recorder, rtsp, services, shutdown, sip_service, sip_settings, sound_level,
    store, users,
};

/// Decoder crates log every malformed upload at error level; netamp reports those to the
/// client as a 400 with the reason, so their own logging is noise by default. warp logs a
/// client that hangs up mid-body at error level, and VMS senders with a fake
/// Content-Length always do. rsipstack logs every SIP datagram at info level, and warns
/// when an ACK overtakes its own 200 on loopback (harmless: the dialog is confirmed).
/// How long open HTTP connections (a `receive.cgi` stream, an upload) get to finish
/// after SIGTERM before they are dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

const QUIET_CRATES: &str = "symphonia_core=off,symphonia_format_riff=off,symphonia_format_ogg=off,\
    symphonia_bundle_mp3=off,symphonia_bundle_flac=off,symphonia_codec_vorbis=off,symphonia_codec_pcm=off,\
    symphonia_adapter_libopus=off,warp::server::run=off,rsipstack=warn,rsipstack::dialog::dialog=error,pulseaudio::client::reactor=off,rustls::msgs::handshake=error,rustls_platform_verifier=off";

/// Logging to stderr: `--log-level` (a level, to which the quiet crates' filters are
/// added, or whole directives), else `RUST_LOG`, else info. Under systemd (stderr is the
/// journal's stream) records go to journald with their fields; elsewhere plain text,
/// with colours only on a terminal.
fn init_logging(level: Option<&str>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::EnvFilter;
    let filter = match level {
        Some(l) if !l.contains('=') && !l.contains(',') => {
            EnvFilter::new(format!("{l},{QUIET_CRATES}"))
        }
        Some(directives) => EnvFilter::new(directives),
        None => EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(format!("info,{QUIET_CRATES}"))),
    };
    let journald = stderr_is_journal()
        .then(|| tracing_journald::layer().ok())
        .flatten();
    use tracing_subscriber::Layer as _;
    // The system log (systemlog.cgi, logs/system.log) keeps info and up whatever stderr
    // shows.
    let ring = crate::logs::RingLayer.with_filter(EnvFilter::new(format!("info,{QUIET_CRATES}")));
    let registry = tracing_subscriber::registry().with(ring);
    match journald {
        Some(layer) => registry
            .with(
                layer
                    .with_syslog_identifier("netamp".into())
                    .with_filter(filter),
            )
            .init(),
        None => {
            use std::io::IsTerminal;
            registry
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .with_ansi(std::io::stderr().is_terminal())
                        .with_filter(filter),
                )
                .init()
        }
    }
}

/// True when stderr is connected to the journal: systemd names the stream's device and
/// inode in `$JOURNAL_STREAM` (a child whose stderr was redirected keeps the variable
/// but not the stream, hence the comparison).
fn stderr_is_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = stream.to_str().and_then(|s| s.split_once(':')) else {
        return false;
    };
    let Ok(meta) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    dev.parse() == Ok(meta.dev()) && ino.parse() == Ok(meta.ino())
}

/// Runs the daemon until a signal ends it: logging, signals, the runtime, then
/// [`run`]. Exits the process with 1 when it cannot start.
pub fn main(cli: Cli) {
    if let Some(command) = &cli.command {
        if let Err(e) = operator::run(&cli, command) {
            eprintln!("netamp: {e}");
            std::process::exit(1);
        }
        return;
    }
    init_logging(cli.log_level.as_deref());
    let stop = match shutdown::install() {
        Ok(n) => n,
        Err(e) => {
            eprintln!("netamp: cannot handle signals: {e}");
            std::process::exit(1);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("netamp: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(run(cli, stop));
    // Blocking tasks still running (a stalled upload's decoder) are not waited for.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Err(e) => {
            eprintln!("netamp: {e}");
            std::process::exit(1);
        }
        Ok(None) => {}
        Ok(Some((what, data_dir))) => {
            if let Err(e) = maintenance::reset_state(&data_dir, what) {
                eprintln!("netamp: {what:?}: cannot reset {}: {e}", data_dir.display());
                std::process::exit(1);
            }
            let e = maintenance::exec_self();
            eprintln!("netamp: cannot run again: {e}");
            std::process::exit(1);
        }
    }
}

/// Runs the daemon until a signal or a maintenance request stops it; the latter is
/// returned with the state directory, for [`main`] to carry out once everything is down.
async fn run(
    cli: Cli,
    stop: Arc<tokio::sync::Notify>,
) -> Result<Option<(maintenance::Reset, PathBuf)>, ControlError> {
    let mut config = Config::load(operator::config_path(&cli).as_deref())?;
    if let Some(a) = cli.http {
        config.http.listen = a;
    }
    if let Some(a) = cli.sip {
        config.sip.listen = a;
    }
    if let Some(a) = cli.sip_tls.clone() {
        config.sip.tls_listen = a;
    }
    if let Some(a) = cli.https.clone() {
        config.http.https_listen = a;
    }
    if config.http.access == "http" {
        config.http.https_listen.clear();
    }
    if let Some(a) = cli.rtsp.clone() {
        config.rtsp.listen = a;
    }
    if let Some(o) = cli.audio_out.clone() {
        config.audio.output = o;
    }
    if let Some(i) = cli.audio_in.clone() {
        config.audio.input = i;
    }
    config.validate()?;
    let data_dir = operator::data_dir(&cli, &config);
    std::fs::create_dir_all(&data_dir).map_err(|source| ControlError::State {
        path: data_dir.clone(),
        source,
    })?;
    // Password digests and credentials live here: the daemon's user only (the state files
    // themselves are written 0600).
    {
        use std::os::unix::fs::PermissionsExt;
        if let Err(e) = std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o700))
        {
            tracing::warn!(
                "data directory {}: cannot make it 0700: {e}",
                data_dir.display()
            );
        }
    }

    // Held for the daemon's life: the offline `netamp user` commands wait for it.
    let _state_lock = store::StateLock::take(&data_dir)?;

    let out_spec: OutputSpec = config.audio.output.parse()?;
    let in_spec: InputSpec = config.audio.input.parse()?;
    let identity = identity::Identity::new(
        identity::device_mac(&data_dir, config.device.mac.as_deref())?,
        config.device.name.as_deref(),
        &cli.profile,
    );
    crate::logs::set_host(&identity.mac);
    if let Err(e) = crate::logs::open_file(&data_dir) {
        tracing::warn!("system log file in {}: {e}", data_dir.display());
    }
    let certs = Arc::new(
        crate::certstore::CertStore::open(&data_dir.join("certs"))
            .map_err(|e| ControlError::Config(format!("certificate store: {e}")))?,
    );
    let syslog = Arc::new(crate::syslog::RemoteSyslog::load(
        &data_dir,
        crate::logs::host(),
        certs.clone(),
    )?);
    syslog.start();

    let users = Arc::new(users::UserStore::load(
        data_dir.join("users.json"),
        identity.realm(),
    )?);
    if let Some(admin) = cli.admin.as_deref() {
        let (user, pwd) = admin
            .split_once(':')
            .ok_or_else(|| ControlError::Config("--admin takes USER:PASSWORD".into()))?;
        if users.is_empty() {
            users
                .add(user, pwd, "root", "admin:operator:viewer:ptz", "")
                .map_err(|e| ControlError::Config(format!("--admin: {e:?}")))?;
            tracing::info!(user, "created the first administrator");
        }
    }

    let engine_config = EngineConfig {
        period_frames: config.audio.period_frames,
        duck_gain: config.audio.duck_gain,
        max_sources: config.audio.max_sources,
        ..EngineConfig::default()
    };
    let (engine, renderer, mut engine_events) =
        Engine::start(engine_config, DecodeLimits::default())?;
    let output = device::open_output(&out_spec, renderer)?;
    let echo_reference = output.is_sound_card() && in_spec.is_sound_card();
    let capture = netamp_engine::capture::Capture::start(
        &in_spec,
        netamp_engine::capture::CaptureOptions {
            stages: netamp_dsp::echo::Stages {
                echo_cancel: config.audio.echo_cancel,
                noise_suppression: config.audio.noise_suppression,
                agc: config.audio.agc,
            },
            // An echo needs a loudspeaker and a microphone in one room. With a file or
            // `null` at either end there is no such path, and a reference would only make
            // AEC3 assume one: until its no-echo detector trips (6 s of far-end audio) it
            // suppresses the room whenever the far end talks.
            reference: echo_reference
                .then(|| engine.take_render_reference())
                .flatten(),
            echo_delay_ms: config.audio.echo_delay_ms,
            avc: config.audio.avc.then(|| {
                (
                    netamp_dsp::avc::AvcConfig {
                        threshold_dbfs: config.audio.avc_threshold_dbfs,
                        slope: config.audio.avc_slope,
                        max_boost_db: config.audio.avc_max_boost_db,
                        slew_db_per_s: config.audio.avc_slew_db_per_s,
                    },
                    engine.avc_handle(),
                )
            }),
        },
    )?;
    tracing::info!(
        output = output.name(),
        input = capture.name(),
        "audio running"
    );
    if output.is_sound_card() {
        report_render_scheduling(engine.stats_handle());
    }

    let bus = Arc::new(events::EventBus::new());
    let clips = Arc::new(
        clips::ClipLibrary::load(
            &data_dir,
            config.clips.max_groups,
            config.clips.max_upload_mb,
            config.clips.max_volume,
            DecodeLimits::default(),
        )?
        .with_max_uploads(config.clips.max_concurrent_uploads),
    );
    let io = Arc::new(io_service::IoService::new(
        &cli.profile,
        &config.io,
        &data_dir,
        bus.clone(),
    )?);
    io.start();
    let player = Arc::new(player::ClipPlayer::new(
        engine.clone(),
        bus.clone(),
        config.clips.mix,
        config.clips.priority,
    ));
    // What the engine reports is handled here, on a control task: nothing of control's
    // runs on an engine thread.
    let events_player = player.clone();
    tokio::spawn(async move {
        while let Some(ev) = engine_events.next().await {
            events_player.on_engine_event(ev);
        }
    });
    let audio = Arc::new(audio::AudioService::new(
        engine,
        capture,
        config.audio.clone(),
        audio_settings::AudioSettings::load(&data_dir)?,
        output.name().to_string(),
        echo_reference,
    ));
    let recorder = Arc::new(recorder::Recorder::load(
        &data_dir,
        config.recording.clone(),
    )?);
    recorder.start(&audio.capture);
    let auth = Arc::new(auth::Authenticator::new(users, config.auth.clone()));

    // The certificate HTTPS and SIP over TLS present, made (or loaded) before either
    // listens; the certificate API needs it either way.
    let sip_tls = config.sip.enabled && !config.sip.tls_listen.is_empty();
    let tls = if config.http.https_listen.is_empty() && !sip_tls {
        None
    } else {
        Some(Arc::new(crate::tls::TlsState::load_or_create(&data_dir)?))
    };
    if let Some(t) = &tls {
        // The pair in use is an entry of the store, so it is listed and can be picked
        // again after another.
        let adopted = t
            .certificate_pem()
            .and_then(|c| Ok((c, t.key_pem()?)))
            .and_then(|(c, k)| certs.adopt(&c, &k).map_err(|e| e.to_string()));
        if let Err(e) = adopted {
            tracing::warn!("certificate store: the certificate in use is not filed: {e}");
        }
    }

    // SIP before HTTP: scripts and tests take the HTTP line as "ready".
    let accounts = sip_service::AccountStore::load(&data_dir)?;
    let call_settings = sip_settings::SettingsStore::load(&data_dir, &config.sip)?;
    let calls = if config.sip.enabled {
        let calls = sip_service::CallService::start(
            config.sip.clone(),
            accounts,
            call_settings,
            sip_service::CallDeps {
                bus: bus.clone(),
                audio: audio.clone(),
                tls: match (&tls, sip_tls) {
                    (Some(t), true) => Some(t.sip_listen(&config.sip.tls_listen)?),
                    _ => None,
                },
                certs: certs.clone(),
            },
        )
        .await?;
        if let Some(ua) = calls.ua() {
            say(&format!("netamp: SIP on udp and tcp {}", ua.local_addr()));
            if let Some(a) = ua.tls_addr() {
                say(&format!("netamp: SIP on tls {a}"));
            }
        }
        calls
    } else {
        Arc::new(sip_service::CallService::disabled(
            config.sip.clone(),
            accounts,
            call_settings,
        ))
    };

    // RTSP first: scripts and tests take the HTTP line as "ready".
    let mut rtsp_addr = None;
    if let Some(l) = rtsp_listener(&config.rtsp.listen).await? {
        let bound = l
            .local_addr()
            .map_err(|e| ControlError::Config(format!("RTSP: {e}")))?;
        rtsp_addr = Some(bound);
        say(&format!(
            "netamp: RTSP events on rtsp://{bound}/axis-media/media.amp?event=on"
        ));
        tokio::spawn(rtsp::serve(auth.clone(), bus.clone(), l));
    }
    tokio::spawn(sound_level::run(audio.clone(), bus.clone()));

    let rule_store = crate::rules::RuleStore::load(&data_dir)
        .map_err(|e| ControlError::Config(format!("rules: {e}")))?;
    if let Ok(clip) = u32::try_from(config.sip.pre_announcement_clip) {
        rule_store
            .set_pre_announcement(clip)
            .map_err(|e| ControlError::Config(format!("[sip] pre_announcement_clip: {e}")))?;
    }
    let timeout_s = config.rules.notification_timeout_s;
    let notifier = crate::recipients::Notifier::new(
        crate::recipients::message::DeviceText {
            name: identity.name.clone(),
            mac: identity
                .mac
                .as_bytes()
                .chunks(2)
                .map(|c| String::from_utf8_lossy(c).into_owned())
                .collect::<Vec<_>>()
                .join(":"),
        },
        std::time::Duration::from_secs(timeout_s),
        certs.clone(),
    )
    .map_err(|e| ControlError::Config(format!("notifications: {e}")))?;
    let zone = config.time_zone()?;
    let rules = crate::rules::service::RulesService::new(
        rule_store,
        crate::rules::service::RuleDeps {
            bus: bus.clone(),
            clips: clips.clone(),
            player: player.clone(),
            audio: audio.clone(),
            io: io.clone(),
            notifier: Arc::new(notifier),
            calls: calls.clone(),
            zone,
        },
    );
    rules.start();

    let svc = Arc::new(services::Services {
        identity: Arc::new(identity),
        auth: auth.clone(),
        clips,
        player,
        audio,
        calls,
        io,
        bus,
        recorder,
        rules,
        started: Instant::now(),
        boot_id: {
            let b: [u8; 16] = rand::random();
            b.iter().map(|x| format!("{x:02x}")).collect()
        },
        maintenance: Arc::new(maintenance::Maintenance::new(stop.clone())),
        config_report: operator::masked_config_text(operator::config_path(&cli).as_deref()),
        tls,
        certs,
        syslog,
        rtsp_addr,
    });
    let mut http_state = http::HttpState::new(auth, config.http.max_body_bytes);

    let h = &config.http;
    let listen = h.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| ControlError::Listen(listen, e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| ControlError::Listen(listen, e))?;
    let shown = if bound.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], bound.port()))
    } else {
        bound
    };
    // Accepted sockets inherit the listener's send buffer size.
    if let Err(e) =
        socket2::SockRef::from(&listener).set_send_buffer_size(h.send_buffer_kib.max(4) * 1024)
    {
        tracing::warn!("cannot bound the HTTP send buffer: {e}");
    }
    // HTTPS before the HTTP line: scripts and tests take the HTTP line as "ready".
    let https = match https_listener(&h.https_listen).await? {
        Some(l) => {
            let tls = svc.tls.clone().ok_or_else(|| {
                ControlError::Config("HTTPS listens without a certificate".into())
            })?;
            let b = l
                .local_addr()
                .map_err(|e| ControlError::Config(format!("HTTPS: {e}")))?;
            let shown = if b.ip().is_unspecified() {
                SocketAddr::from(([127, 0, 0, 1], b.port()))
            } else {
                b
            };
            say(&format!(
                "netamp: HTTPS listening on https://{shown}/ (bound {b})"
            ));
            Some((l, tls, b))
        }
        None => None,
    };
    say(&format!(
        "netamp: HTTP listening on http://{shown}/ (bound {bound})"
    ));
    if svc.auth.users().is_empty() {
        say(&format!(
            "netamp: no account yet; create the first administrator with\n  curl 'http://{shown}/axis-cgi/pwdgrp.cgi?action=add&user=root&pwd=<password>&grp=root&sgrp=admin:operator:viewer:ptz'"
        ));
    }

    // Only a device reachable from the LAN is announced on it: a loopback-only listener
    // (every test daemon's) would be a name nobody can use.
    let _announcer = if config.device.mdns && !bound.ip().is_loopback() {
        match crate::discovery::Announcer::start(
            &svc.identity,
            bound.port(),
            https.as_ref().map(|(_, _, b)| b.port()),
        ) {
            Ok(a) => {
                tracing::info!(
                    "announced on the LAN (mDNS) as {:?}",
                    crate::discovery::instance_name(&svc.identity)
                );
                Some(a)
            }
            Err(e) => {
                tracing::warn!("mDNS announcements off: {e}");
                None
            }
        }
    } else {
        None
    };
    // Ready for systemd (Type=notify) once every listener is bound; the watchdog is fed
    // from a task on this runtime, so a wedged control loop gets the daemon restarted.
    let _ = sd_notify::notify(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(&format!("serving HTTP on {bound}")),
    ]);
    if let Some(period) = sd_notify::watchdog_enabled() {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]);
            }
        });
    }

    let limits = http::server::Limits {
        max_connections: h.max_connections,
        max_per_client: h.max_connections_per_client.min(h.max_connections),
        max_header_bytes: h.max_header_bytes,
        idle_timeout: Duration::from_secs(h.idle_timeout_s),
        grace: SHUTDOWN_GRACE,
    };
    let mut listeners = vec![http::server::Listener {
        tcp: listener,
        tls: None,
    }];
    let https_port = https.as_ref().map(|(_, _, b)| b.port());
    if let Some((tcp, tls, _)) = https {
        listeners.push(http::server::Listener {
            tcp,
            tls: Some(tls),
        });
    }
    if config.http.access == "https" {
        let port = https_port.ok_or_else(|| {
            ControlError::Config(
                "[http] access = \"https\": HTTPS could not listen (https_listen)".into(),
            )
        })?;
        http_state.https_only = Some(http::HttpsOnly {
            port,
            open_paths: config.http.http_open_paths.clone(),
        });
    }
    let http_state = Arc::new(http_state);
    http::serve(svc.clone(), http_state, listeners, limits, async move {
        stop.notified().await
    })
    .await;
    let reset = svc.maintenance.pending();
    if reset == maintenance::Reset::None {
        tracing::info!("shutting down");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    } else {
        tracing::info!("stopping to run again ({reset:?})");
        // The same process runs again (exec) and says READY=1 then.
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Reloading]);
    }
    svc.player.stop_all();
    svc.io.shutdown();
    output.stop();
    Ok((reset != maintenance::Reset::None).then_some((reset, data_dir)))
}

/// Logs, once, what scheduling the sound card's render thread got (it asks on its first
/// callback and may not log itself).
fn report_render_scheduling(stats: Arc<netamp_engine::stats::Stats>) {
    use netamp_engine::device::rt_priority::{RtPriority, PRIORITY};
    tokio::spawn(async move {
        for _ in 0..50 {
            match stats.snapshot().rt_priority {
                RtPriority::Realtime => {
                    tracing::info!("render thread: real-time priority (SCHED_FIFO {PRIORITY})");
                    return;
                }
                RtPriority::Refused => {
                    tracing::warn!(
                        "render thread: real-time priority refused, normal scheduling (grant \
                         LimitRTPRIO={PRIORITY} or more, as the package's unit does, or CAP_SYS_NICE)"
                    );
                    return;
                }
                RtPriority::NotAsked => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    });
}

/// A line for whoever started netamp (scripts read where it listens). A closed stdout
/// (the reader went away) is no reason to stop serving.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Binds `addr`, the value of the config key `key`.
async fn bind_listener(key: &str, addr: &str) -> Result<tokio::net::TcpListener, ControlError> {
    let parsed: SocketAddr = addr
        .parse()
        .map_err(|e| ControlError::Config(format!("{key} {addr:?}: {e}")))?;
    tokio::net::TcpListener::bind(parsed)
        .await
        .map_err(|e| ControlError::Listen(parsed, e))
}

/// The HTTPS listener `[http] https_listen` asks for (see [`config::HttpConfig`]); `None`
/// when HTTPS is off, or `auto` found neither port free.
async fn https_listener(listen: &str) -> Result<Option<tokio::net::TcpListener>, ControlError> {
    const KEY: &str = "[http] https_listen";
    match listen {
        "" => Ok(None),
        "auto" => match bind_listener(KEY, "0.0.0.0:443").await {
            Ok(l) => Ok(Some(l)),
            Err(e) => match bind_listener(KEY, config::HTTPS_FALLBACK).await {
                Ok(l) => {
                    tracing::info!(
                        "HTTPS: {e}; HTTPS is on {} instead (set {KEY} to choose)",
                        config::HTTPS_FALLBACK
                    );
                    Ok(Some(l))
                }
                Err(e2) => {
                    tracing::warn!("HTTPS off: {e}; {e2} (set {KEY} to choose)");
                    Ok(None)
                }
            },
        },
        addr => bind_listener(KEY, addr).await.map(Some),
    }
}

/// The RTSP listener `[rtsp] listen` asks for (see [`config::RtspConfig`]); `None` when
/// RTSP is off. A configured address that cannot be bound stops the start-up: Home
/// Assistant would otherwise get no events without anyone knowing why.
async fn rtsp_listener(listen: &str) -> Result<Option<tokio::net::TcpListener>, ControlError> {
    const KEY: &str = "[rtsp] listen";
    match listen {
        "" => Ok(None),
        "auto" => match bind_listener(KEY, "0.0.0.0:554").await {
            Ok(l) => Ok(Some(l)),
            Err(e) => {
                tracing::warn!(
                    "RTSP: {e}; the event stream is on {} instead (set {KEY} to choose)",
                    config::RTSP_FALLBACK
                );
                bind_listener(KEY, config::RTSP_FALLBACK).await.map(Some)
            }
        },
        addr => bind_listener(KEY, addr).await.map(Some),
    }
}
