//! event1 operations: `GetEventInstances` (every topic netamp emits), scheduled events
//! (`AddScheduledEvent`, `GetScheduledEvents`, `RemoveScheduledEvent`, over the rules
//! service's schedules) and `ChangeVirtualInputState` (a manual trigger).

use super::xml::{esc, Element};
use super::{catalog, Fault, Needs};
use crate::io_service::IoService;
use crate::rules::schedule::Schedule;
use crate::rules::service::RulesService;
use crate::rules::RuleError;

/// The role `op` needs, or `None` for an operation event1 does not have here.
pub fn needs(op: &str) -> Option<Needs> {
    Some(match op {
        "GetEventInstances" | "ChangeVirtualInputState" => Needs::Viewer,
        "AddScheduledEvent" | "GetScheduledEvents" | "RemoveScheduledEvent" => Needs::Operator,
        _ => return None,
    })
}

/// A rules-service refusal as a fault.
pub fn refused(e: RuleError) -> Fault {
    match e {
        RuleError::Store(s) => Fault::receiver(s),
        other => Fault::invalid(other.to_string()),
    }
}

fn id(op: &Element, name: &str) -> Result<u32, Fault> {
    op.text_of(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Fault::invalid(format!("{name} must be a number")))
}

/// Runs event1 operation `op`; the reply body.
pub fn run(op: &Element, rules: &RulesService, io: &IoService) -> Result<String, Fault> {
    match op.name.as_str() {
        "GetEventInstances" => Ok(format!(
            "<aev:GetEventInstancesResponse>{}</aev:GetEventInstancesResponse>",
            catalog::topic_set()
        )),
        "AddScheduledEvent" => {
            let new = op
                .child("NewScheduledEvent")
                .ok_or_else(|| Fault::invalid("NewScheduledEvent is needed"))?;
            let name = new.text_of("Name").unwrap_or("").to_string();
            let ical = new
                .child("Schedule")
                .and_then(|s| s.text_of("ICalendar"))
                .ok_or_else(|| Fault::invalid("Schedule/ICalendar is needed"))?
                .to_string();
            let name = if name.is_empty() {
                "Scheduled event".to_string()
            } else {
                name
            };
            let id = rules.add(Schedule { name, ical }).map_err(refused)?;
            Ok(format!(
                "<aev:AddScheduledEventResponse><aev:EventID>{id}</aev:EventID></aev:AddScheduledEventResponse>"
            ))
        }
        "GetScheduledEvents" => {
            let (set, _) = rules.list();
            let mut out = String::from("<aev:GetScheduledEventsResponse><aev:ScheduledEvents>");
            for (id, s) in &set.schedules {
                out.push_str(&format!(
                    "<aev:ScheduledEvent><aev:EventID>{id}</aev:EventID><aev:Name>{}</aev:Name><aev:Schedule><aev:ICalendar>{}</aev:ICalendar></aev:Schedule></aev:ScheduledEvent>",
                    esc(&s.name),
                    esc(&s.ical)
                ));
            }
            out.push_str("</aev:ScheduledEvents></aev:GetScheduledEventsResponse>");
            Ok(out)
        }
        "RemoveScheduledEvent" => {
            rules
                .remove::<Schedule>(id(op, "EventID")?)
                .map_err(refused)?;
            Ok("<aev:RemoveScheduledEventResponse/>".into())
        }
        "ChangeVirtualInputState" => {
            let port = id(op, "InputNumber")? as usize;
            let active = match op.text_of("Active") {
                Some("true" | "1") => true,
                Some("false" | "0") => false,
                _ => return Err(Fault::invalid("Active must be true or false")),
            };
            let changed = io
                .set_virtual(port, active, None)
                .map_err(|e| Fault::invalid(e.to_string()))?;
            Ok(format!(
                "<aev:ChangeVirtualInputStateResponse><aev:StateChanged>{changed}</aev:StateChanged></aev:ChangeVirtualInputStateResponse>"
            ))
        }
        other => Err(Fault::not_supported(format!(
            "event1 has no operation {other} here"
        ))),
    }
}
