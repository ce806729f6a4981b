//! action1 operations over the rules service: action configurations, recipient
//! configurations, action rules and the templates netamp runs.
//!
//! A rule's wait between actions is `aa:ActivationTimeout` (an `xsd:duration` such as
//! `PT10S`, or whole seconds). An inverted condition is written as
//! `not(<ItemFilter>)` in its `MessageContent` (netamp's form; Axis does not publish
//! one [inferred]).

use std::collections::BTreeMap;

use super::event1::refused;
use super::xml::{esc, esc_attr, Element};
use super::{Fault, Needs};
use crate::recipients::{RecipientConfig, RECIPIENT_TEMPLATES};
use crate::rules::action::TEMPLATES;
use crate::rules::service::RulesService;
use crate::rules::{ActionConfig, Condition, Rule};

const TOPIC_DIALECT: &str = "http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet";
const CONTENT_DIALECT: &str = "http://www.onvif.org/ver10/tev/messageContentFilter/ItemFilter";

/// The role `op` needs, or `None` for an operation action1 does not have here.
pub fn needs(op: &str) -> Option<Needs> {
    Some(match op {
        "AddActionConfiguration"
        | "GetActionConfigurations"
        | "RemoveActionConfiguration"
        | "AddRecipientConfiguration"
        | "GetRecipientConfigurations"
        | "RemoveRecipientConfiguration"
        | "AddActionRule"
        | "GetActionRules"
        | "RemoveActionRule"
        | "GetActionTemplates"
        | "GetRecipientTemplates" => Needs::Operator,
        _ => return None,
    })
}

fn number(op: &Element, name: &str) -> Result<u32, Fault> {
    op.text_of(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Fault::invalid(format!("{name} must be a number")))
}

/// `Name`, `TemplateToken` and `Parameters/Parameter@Name@Value` of a new configuration.
fn configuration(
    op: &Element,
    wrapper: &str,
) -> Result<(String, String, BTreeMap<String, String>), Fault> {
    let new = op
        .child(wrapper)
        .ok_or_else(|| Fault::invalid(format!("{wrapper} is needed")))?;
    let template = new
        .text_of("TemplateToken")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Fault::invalid("TemplateToken is needed"))?
        .to_string();
    let name = new.text_of("Name").unwrap_or("").to_string();
    let mut parameters = BTreeMap::new();
    if let Some(ps) = new.child("Parameters") {
        for p in ps.all("Parameter") {
            let k = p
                .attr("Name")
                .ok_or_else(|| Fault::invalid("a Parameter needs Name"))?;
            parameters.insert(k.to_string(), p.attr("Value").unwrap_or("").to_string());
        }
    }
    let name = if name.is_empty() {
        template.clone()
    } else {
        name
    };
    Ok((name, template, parameters))
}

fn parameters(p: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<aa:Parameters>");
    for (k, v) in p {
        out.push_str(&format!(
            "<aa:Parameter Name=\"{}\" Value=\"{}\"/>",
            esc_attr(k),
            esc_attr(v)
        ));
    }
    out.push_str("</aa:Parameters>");
    out
}

fn condition(e: &Element) -> Result<Condition, Fault> {
    let topic = e
        .text_of("TopicExpression")
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Fault::invalid("a condition needs TopicExpression"))?;
    let raw = e.text_of("MessageContent").filter(|c| !c.is_empty());
    let (content, invert) = match raw {
        Some(c) => match c.strip_prefix("not(").and_then(|c| c.strip_suffix(')')) {
            Some(inner) => (Some(inner.trim().to_string()), true),
            None => (Some(c.to_string()), false),
        },
        None => (None, false),
    };
    Ok(Condition {
        topic: topic.to_string(),
        content,
        invert,
    })
}

fn render_condition(tag: &str, c: &Condition) -> String {
    let content = c.content.as_ref().map_or(String::new(), |f| {
        let f = if c.invert {
            format!("not({f})")
        } else {
            f.clone()
        };
        format!(
            "<wsnt:MessageContent Dialect=\"{CONTENT_DIALECT}\">{}</wsnt:MessageContent>",
            esc(&f)
        )
    });
    format!(
        "<aa:{tag}><wsnt:TopicExpression Dialect=\"{TOPIC_DIALECT}\">{}</wsnt:TopicExpression>{content}</aa:{tag}>",
        esc(&c.topic)
    )
}

/// Seconds of an `xsd:duration` of hours, minutes and seconds (`PT1H2M3S`), or of a
/// plain number.
fn seconds(v: &str) -> Result<u32, Fault> {
    let bad = || {
        Fault::invalid(format!(
            "ActivationTimeout {v:?} is not a duration like PT10S"
        ))
    };
    if let Ok(n) = v.parse::<u32>() {
        return Ok(n);
    }
    let rest = v.strip_prefix("PT").ok_or_else(bad)?;
    let (mut total, mut num) = (0u64, String::new());
    for c in rest.chars() {
        match c {
            '0'..='9' => num.push(c),
            'H' | 'M' | 'S' => {
                let n: u64 = num.parse().map_err(|_| bad())?;
                let unit = match c {
                    'H' => 3600,
                    'M' => 60,
                    _ => 1,
                };
                total = n
                    .checked_mul(unit)
                    .and_then(|s| total.checked_add(s))
                    .ok_or_else(bad)?;
                num.clear();
            }
            _ => return Err(bad()),
        }
    }
    if !num.is_empty() {
        return Err(bad());
    }
    u32::try_from(total).map_err(|_| bad())
}

fn rule(op: &Element) -> Result<Rule, Fault> {
    let new = op
        .child("NewActionRule")
        .ok_or_else(|| Fault::invalid("NewActionRule is needed"))?;
    let enabled = match new.text_of("Enabled") {
        None | Some("true" | "1") => true,
        Some("false" | "0") => false,
        Some(v) => {
            return Err(Fault::invalid(format!(
                "Enabled must be true or false, not {v:?}"
            )))
        }
    };
    let trigger = new.child("StartEvent").map(condition).transpose()?;
    let conditions = match new.child("Conditions") {
        Some(cs) => cs
            .all("Condition")
            .map(condition)
            .collect::<Result<_, _>>()?,
        None => vec![],
    };
    if trigger.is_none() && conditions.is_empty() {
        return Err(Fault::invalid("a rule needs a StartEvent or Conditions"));
    }
    Ok(Rule {
        name: new.text_of("Name").unwrap_or("").to_string(),
        enabled,
        trigger,
        conditions,
        wait_s: new
            .text_of("ActivationTimeout")
            .map(seconds)
            .transpose()?
            .unwrap_or(0),
        action: number(new, "PrimaryAction")?,
        preset: None,
    })
}

fn templates(tag: &str, list: &[&str]) -> String {
    let mut out = format!("<aa:{tag}s>");
    for t in list {
        out.push_str(&format!(
            "<aa:{tag}><aa:TemplateToken>{}</aa:TemplateToken></aa:{tag}>",
            esc(t)
        ));
    }
    out.push_str(&format!("</aa:{tag}s>"));
    out
}

/// `<aa:{tag}s>` listing each configuration (id, name, template, parameters) with its
/// secrets masked.
fn configurations<'a>(
    tag: &str,
    items: impl Iterator<Item = (u32, &'a String, &'a String, &'a BTreeMap<String, String>)>,
) -> String {
    let mut out = format!("<aa:{tag}s>");
    for (id, name, template, params) in items {
        let mut p = params.clone();
        crate::recipients::model::mask(&mut p);
        out.push_str(&format!(
            "<aa:{tag}><aa:ConfigurationID>{id}</aa:ConfigurationID><aa:Name>{}</aa:Name><aa:TemplateToken>{}</aa:TemplateToken>{}</aa:{tag}>",
            esc(name),
            esc(template),
            parameters(&p)
        ));
    }
    out.push_str(&format!("</aa:{tag}s>"));
    out
}

/// Runs action1 operation `op`; the reply body.
pub fn run(op: &Element, rules: &RulesService) -> Result<String, Fault> {
    let name = op.name.as_str();
    let body = match name {
        "GetActionTemplates" => templates("ActionTemplate", TEMPLATES),
        "GetRecipientTemplates" => templates("RecipientTemplate", RECIPIENT_TEMPLATES),
        "AddActionConfiguration" => {
            let (name, template, parameters) = configuration(op, "NewActionConfiguration")?;
            let id = rules
                .add(ActionConfig {
                    name,
                    template,
                    parameters,
                })
                .map_err(refused)?;
            format!("<aa:ConfigurationID>{id}</aa:ConfigurationID>")
        }
        "GetActionConfigurations" => {
            let (set, _) = rules.list();
            let items = set
                .actions
                .iter()
                .map(|(id, a)| (*id, &a.name, &a.template, &a.parameters));
            configurations("ActionConfiguration", items)
        }
        "RemoveActionConfiguration" => {
            rules
                .remove::<ActionConfig>(number(op, "ConfigurationID")?)
                .map_err(refused)?;
            String::new()
        }
        "AddRecipientConfiguration" => {
            let (name, template, parameters) = configuration(op, "NewRecipientConfiguration")?;
            let id = rules
                .add(RecipientConfig {
                    name,
                    template,
                    parameters,
                })
                .map_err(refused)?;
            format!("<aa:ConfigurationID>{id}</aa:ConfigurationID>")
        }
        "GetRecipientConfigurations" => {
            let (set, _) = rules.list();
            let items = set
                .recipients
                .iter()
                .map(|(id, r)| (*id, &r.name, &r.template, &r.parameters));
            configurations("RecipientConfiguration", items)
        }
        "RemoveRecipientConfiguration" => {
            rules
                .remove::<RecipientConfig>(number(op, "ConfigurationID")?)
                .map_err(refused)?;
            String::new()
        }
        "AddActionRule" => {
            let mut r = rule(op)?;
            if r.name.is_empty() {
                r.name = "Action rule".into();
            }
            let id = rules.add(r).map_err(refused)?;
            format!("<aa:RuleID>{id}</aa:RuleID>")
        }
        "GetActionRules" => {
            let (set, _) = rules.list();
            let mut out = String::from("<aa:ActionRules>");
            for (id, r) in &set.rules {
                out.push_str(&format!(
                    "<aa:ActionRule><aa:RuleID>{id}</aa:RuleID><aa:Name>{}</aa:Name><aa:Enabled>{}</aa:Enabled>",
                    esc(&r.name),
                    r.enabled
                ));
                if let Some(t) = &r.trigger {
                    out.push_str(&render_condition("StartEvent", t));
                }
                if !r.conditions.is_empty() {
                    out.push_str("<aa:Conditions>");
                    for c in &r.conditions {
                        out.push_str(&render_condition("Condition", c));
                    }
                    out.push_str("</aa:Conditions>");
                }
                if r.wait_s > 0 {
                    out.push_str(&format!(
                        "<aa:ActivationTimeout>PT{}S</aa:ActivationTimeout>",
                        r.wait_s
                    ));
                }
                out.push_str(&format!(
                    "<aa:PrimaryAction>{}</aa:PrimaryAction></aa:ActionRule>",
                    r.action
                ));
            }
            out.push_str("</aa:ActionRules>");
            out
        }
        "RemoveActionRule" => {
            rules
                .remove::<Rule>(number(op, "RuleID")?)
                .map_err(refused)?;
            String::new()
        }
        other => {
            return Err(Fault::not_supported(format!(
                "action1 has no operation {other} here"
            )))
        }
    };
    Ok(if body.is_empty() {
        format!("<aa:{name}Response/>")
    } else {
        format!("<aa:{name}Response>{body}</aa:{name}Response>")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_inverted_conditions() {
        assert_eq!(seconds("PT10S").ok(), Some(10));
        assert_eq!(seconds("PT1H2M3S").ok(), Some(3723));
        assert_eq!(seconds("15").ok(), Some(15));
        assert!(seconds("P1D").is_err() && seconds("PT5").is_err() && seconds("PTxS").is_err());
        // Hostile numbers are refused, not overflowed.
        assert!(seconds("PT99999999999999999999H").is_err());
        assert!(seconds("PT18446744073709551615H").is_err());
        let el = super::super::xml::parse(
            "<c><TopicExpression>tns1:Device/tnsaxis:IO/Port</TopicExpression><MessageContent>not(boolean(//SimpleItem[@Name=\"port\" and @Value=\"0\"]))</MessageContent></c>",
        )
        .expect("xml");
        let c = condition(&el).expect("condition");
        assert!(c.invert);
        assert_eq!(
            c.content.as_deref(),
            Some("boolean(//SimpleItem[@Name=\"port\" and @Value=\"0\"])")
        );
        assert!(render_condition("Condition", &c).contains("not(boolean("));
    }
}
