//! The route table: every path the HTTP surface serves, the methods it answers and the
//! handler behind it. [`super::route`] dispatches through it (a method the row does not
//! list gets `405` with `Allow`), `netamp routes` prints it, and the role-matrix test
//! (`tests/tests/role_matrix.rs`) is generated from that print-out, so a route added here
//! without an entry there fails the test.

/// Which handler serves a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    /// `param.cgi` in all its locations.
    Param,
    /// `pwdgrp.cgi`.
    Pwdgrp,
    /// `usergroup.cgi`.
    UserGroup,
    /// `mediaclip.cgi`.
    MediaClip,
    /// `playclip.cgi`.
    PlayClip,
    /// `stopclip.cgi`.
    StopClip,
    /// `io/port.cgi`.
    Port,
    /// `io/portmanagement.cgi`.
    PortManagement,
    /// `virtualinput/activate.cgi`.
    VirtualActivate,
    /// `virtualinput/deactivate.cgi`.
    VirtualDeactivate,
    /// `virtualinput/getschemaversions.cgi`.
    VirtualSchemas,
    /// `io/virtualinput.cgi` (manual trigger).
    ManualTrigger,
    /// `audio/transmit.cgi`.
    Transmit,
    /// `audio/receive.cgi`.
    Receive,
    /// `audiodevicecontrol.cgi`.
    AudioDevice,
    /// `audiomixer.cgi`.
    AudioMixer,
    /// `/api/v1/recordings[/…]`.
    Recordings,
    /// `/api/v1/recipients[/…]`.
    Recipients,
    /// `/api/v1/schedules[/…]`.
    Schedules,
    /// `/api/v1/rules[/…]`.
    Rules,
    /// `wssession.cgi`.
    WsSession,
    /// `/api/v1/io/sim`.
    IoSim,
    /// `basicdeviceinfo.cgi`.
    BasicDeviceInfo,
    /// `apidiscovery.cgi`.
    ApiDiscovery,
    /// `/api/v1/status`.
    Status,
    /// `/api/v1/events/state`.
    EventState,
    /// `/api/v1/events/recent`.
    EventRecent,
    /// `/vapix/call`.
    Call,
    /// `/vapix/services` (SOAP).
    SoapServices,
    /// `/metrics`.
    Metrics,
    /// `/api/v1/https/certificate`.
    Certificate,
    /// `/api/v1/certificates[/…]`.
    Certificates,
    /// `/api/v1/syslog` and `/api/v1/syslog/test`.
    Syslog,
    /// `systemlog.cgi`.
    SystemLog,
    /// `accesslog.cgi`.
    AccessLog,
    /// `serverreport.cgi`.
    ServerReport,
    /// `debug/debug.tgz`.
    DebugArchive,
    /// `restart.cgi`.
    Restart,
    /// `factorydefault.cgi`.
    FactoryDefault,
    /// `hardfactorydefault.cgi`.
    HardFactoryDefault,
    /// `systemready.cgi`.
    SystemReady,
    /// `/healthz`.
    Healthz,
}

/// One row of the route table.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The path.
    pub path: &'static str,
    /// Whether `path/<anything>` is served too.
    pub subpaths: bool,
    /// The methods answered (`HEAD` goes with `GET`).
    pub methods: &'static [&'static str],
    /// The handler.
    pub handler: Handler,
}

/// VAPIX CGIs answer GET and POST alike (arguments in the query or the body).
const CGI: &[&str] = &["GET", "POST"];
const GET: &[&str] = &["GET"];
const CRUD: &[&str] = &["GET", "POST", "PUT", "DELETE"];

const fn cgi(path: &'static str, handler: Handler) -> Route {
    Route {
        path,
        subpaths: false,
        methods: CGI,
        handler,
    }
}

const fn api(path: &'static str, methods: &'static [&'static str], handler: Handler) -> Route {
    Route {
        path,
        subpaths: false,
        methods,
        handler,
    }
}

const fn tree(path: &'static str, methods: &'static [&'static str], handler: Handler) -> Route {
    Route {
        path,
        subpaths: true,
        methods,
        handler,
    }
}

use Handler as H;

/// Every route.
pub static ROUTES: &[Route] = &[
    cgi("/axis-cgi/param.cgi", H::Param),
    cgi("/axis-cgi/admin/param.cgi", H::Param),
    cgi("/axis-cgi/view/param.cgi", H::Param),
    cgi("/axis-cgi/operator/param.cgi", H::Param),
    cgi("/axis-cgi/pwdgrp.cgi", H::Pwdgrp),
    cgi("/axis-cgi/usergroup.cgi", H::UserGroup),
    cgi("/axis-cgi/mediaclip.cgi", H::MediaClip),
    cgi("/axis-cgi/playclip.cgi", H::PlayClip),
    cgi("/axis-cgi/stopclip.cgi", H::StopClip),
    cgi("/axis-cgi/io/port.cgi", H::Port),
    cgi("/axis-cgi/io/portmanagement.cgi", H::PortManagement),
    cgi("/axis-cgi/virtualinput/activate.cgi", H::VirtualActivate),
    cgi(
        "/axis-cgi/virtualinput/deactivate.cgi",
        H::VirtualDeactivate,
    ),
    cgi(
        "/axis-cgi/virtualinput/getschemaversions.cgi",
        H::VirtualSchemas,
    ),
    cgi("/axis-cgi/io/virtualinput.cgi", H::ManualTrigger),
    api("/axis-cgi/audio/transmit.cgi", &["POST"], H::Transmit),
    api("/axis-cgi/audio/receive.cgi", GET, H::Receive),
    cgi("/axis-cgi/audiodevicecontrol.cgi", H::AudioDevice),
    cgi("/axis-cgi/audiomixer.cgi", H::AudioMixer),
    tree(
        "/api/v1/recordings",
        &["GET", "POST", "DELETE"],
        H::Recordings,
    ),
    tree("/api/v1/recipients", CRUD, H::Recipients),
    tree("/api/v1/schedules", CRUD, H::Schedules),
    tree("/api/v1/rules", CRUD, H::Rules),
    cgi("/axis-cgi/wssession.cgi", H::WsSession),
    api("/api/v1/io/sim", &["GET", "POST"], H::IoSim),
    cgi("/axis-cgi/basicdeviceinfo.cgi", H::BasicDeviceInfo),
    cgi("/axis-cgi/apidiscovery.cgi", H::ApiDiscovery),
    api("/api/v1/status", GET, H::Status),
    api("/api/v1/events/state", GET, H::EventState),
    api("/api/v1/events/recent", GET, H::EventRecent),
    cgi("/vapix/call", H::Call),
    cgi("/vapix/services", H::SoapServices),
    api("/metrics", GET, H::Metrics),
    api("/api/v1/https/certificate", &["GET", "PUT"], H::Certificate),
    tree("/api/v1/certificates", CRUD, H::Certificates),
    api("/api/v1/syslog", &["GET", "PUT"], H::Syslog),
    api("/api/v1/syslog/test", &["POST"], H::Syslog),
    cgi("/axis-cgi/systemlog.cgi", H::SystemLog),
    cgi("/axis-cgi/accesslog.cgi", H::AccessLog),
    cgi("/axis-cgi/serverreport.cgi", H::ServerReport),
    cgi("/axis-cgi/admin/serverreport.cgi", H::ServerReport),
    cgi("/axis-cgi/debug/debug.tgz", H::DebugArchive),
    cgi("/axis-cgi/restart.cgi", H::Restart),
    cgi("/axis-cgi/factorydefault.cgi", H::FactoryDefault),
    cgi("/axis-cgi/hardfactorydefault.cgi", H::HardFactoryDefault),
    cgi("/axis-cgi/systemready.cgi", H::SystemReady),
    api("/healthz", GET, H::Healthz),
];

/// The row serving `path`, if any.
pub fn find(path: &str) -> Option<&'static Route> {
    ROUTES.iter().find(|r| {
        path == r.path
            || (r.subpaths
                && path
                    .strip_prefix(r.path)
                    .is_some_and(|rest| rest.starts_with('/')))
    })
}

/// Whether `row` answers `method`.
pub fn allows(row: &Route, method: &str) -> bool {
    let method = if method == "HEAD" { "GET" } else { method };
    row.methods.contains(&method)
}

/// The table as `netamp routes` prints it: one JSON object per line.
pub fn listing() -> String {
    ROUTES
        .iter()
        .map(|r| {
            let path = if r.subpaths {
                format!("{}/*", r.path)
            } else {
                r.path.to_string()
            };
            format!(
                "{}\n",
                serde_json::json!({"path": path, "methods": r.methods, "handler": format!("{:?}", r.handler)})
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_unique_and_found_with_their_subpaths() {
        for (i, r) in ROUTES.iter().enumerate() {
            assert!(
                ROUTES[..i].iter().all(|o| o.path != r.path),
                "{} twice",
                r.path
            );
            assert!(std::ptr::eq(find(r.path).expect("found"), r));
        }
        assert_eq!(
            find("/api/v1/rules/r1/enabled").map(|r| r.handler),
            Some(Handler::Rules)
        );
        assert!(find("/api/v1/rulesx").is_none());
        assert!(find("/axis-cgi/param.cgi/x").is_none());
        let row = find("/api/v1/status").expect("status");
        assert!(allows(row, "HEAD") && !allows(row, "POST"));
        assert_eq!(listing().lines().count(), ROUTES.len());
    }
}
