//! The texts reps get, as minijinja templates from config (`[notify.templates]`), one per place a
//! text goes: Slack, SMS, the email's subject, text and HTML parts, and the title of a webhook/push.
//!
//! Every template is compiled AND rendered against sample notices at load, so a broken template
//! (syntax, unknown filter, attribute of a missing value) stops the config from loading, naming the
//! template, instead of failing the first real lead at 3 a.m.
//!
//! Escaping follows where the text goes: the HTML part is HTML-escaped; the Slack text escapes
//! `&`, `<` and `>` as Slack requires, so a lead who calls themselves `<!channel>` cannot ping a
//! whole channel; SMS, subject, plain text and the webhook title are plain.
//!
//! Context: `lead` (`id`; `display`: the name, else email, else phone, else "(no name)"; `name`,
//! `company`, `title`, `email`, `phone`, `country`, `score`, `grade`, `source`), `rep` (`id`,
//! `name`), `why`, `accept_url`, `hot`, `attempt` (above 1: passed on from another rep), `domain`
//! (the routing domain), `notice_id`. A value the lead lacks is undefined (falsy, prints as
//! nothing), so `{{ lead.company or "—" }}` reads well and nothing ever prints "none".

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Error, Output, State};
use serde::{Deserialize, Serialize};
use speedlead_topics::LeadSummary;
use uuid::Uuid;

use super::Notice;

pub const SLACK: &str = "slack";
pub const SMS: &str = "sms";
pub const EMAIL_SUBJECT: &str = "email_subject";
pub const EMAIL_TEXT: &str = "email_text";
pub const EMAIL_HTML: &str = "email_html";
pub const WEBHOOK_TITLE: &str = "webhook_title";

/// Slack's own escaping (its mrkdwn treats `<…>` as links and mentions).
const SLACK_ESCAPE: AutoEscape = AutoEscape::Custom("slack");

/// `[notify.templates]`: every key is optional; the defaults below are meant to be good enough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplateSettings {
    /// Slack mrkdwn, shown above the Accept button (and as the notification's preview text).
    pub slack: String,
    /// Plain text; keep it short (one SMS segment is 160 GSM characters; ASCII stays GSM).
    pub sms: String,
    pub email_subject: String,
    pub email_text: String,
    /// Auto-escaped HTML.
    pub email_html: String,
    /// The `title` of the webhook payload (what a push notification shows).
    pub webhook_title: String,
}

impl Default for TemplateSettings {
    fn default() -> Self {
        TemplateSettings {
            slack: defaults::SLACK.into(),
            sms: defaults::SMS.into(),
            email_subject: defaults::EMAIL_SUBJECT.into(),
            email_text: defaults::EMAIL_TEXT.into(),
            email_html: defaults::EMAIL_HTML.into(),
            webhook_title: defaults::WEBHOOK_TITLE.into(),
        }
    }
}

impl TemplateSettings {
    fn named(&self) -> [(&'static str, &str); 6] {
        [
            (SLACK, &self.slack),
            (SMS, &self.sms),
            (EMAIL_SUBJECT, &self.email_subject),
            (EMAIL_TEXT, &self.email_text),
            (EMAIL_HTML, &self.email_html),
            (WEBHOOK_TITLE, &self.webhook_title),
        ]
    }
}

/// The compiled templates, shared by every channel.
pub struct Templates {
    env: Environment<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.env.templates().map(|(name, _)| name)).finish()
    }
}

impl Templates {
    /// Compiles every template and renders each against a full and an empty sample notice;
    /// the error names the template.
    pub fn new(settings: &TemplateSettings) -> Result<Templates, String> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| match name {
            EMAIL_HTML => AutoEscape::Html,
            SLACK => SLACK_ESCAPE,
            _ => AutoEscape::None,
        });
        env.set_formatter(format_value);
        env.add_filter("clip", clip);
        for (name, source) in settings.named() {
            env.add_template_owned(name, source.to_string()).map_err(|e| format!("template {name}: {e}"))?;
        }
        let templates = Templates { env };
        for sample in [samples::full(), samples::empty()] {
            for (name, _) in settings.named() {
                templates.render(name, &sample)?;
            }
        }
        Ok(templates)
    }

    /// Renders template `name` (one of the constants above) for `notice`.
    pub fn render(&self, name: &str, notice: &Notice) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| format!("template {name}: {e}"))?;
        template.render(Context::of(notice)).map_err(|e| format!("template {name}: {e}"))
    }
}

/// Missing values print as nothing; the Slack template gets Slack's escaping; the rest is
/// minijinja's own (HTML for the HTML template, none elsewhere).
fn format_value(out: &mut Output, state: &State, value: &Value) -> Result<(), Error> {
    if value.is_none() || value.is_undefined() {
        return Ok(());
    }
    if state.auto_escape() == SLACK_ESCAPE && !value.is_safe() {
        return write!(out, "{}", slack_escape(&value.to_string())).map_err(Error::from);
    }
    minijinja::escape_formatter(out, state, value)
}

/// <https://api.slack.com/reference/surfaces/formatting#escaping>
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `{{ value|clip(40) }}`: at most `n` characters, ending in `...` when cut (ASCII, so an SMS
/// stays in the GSM alphabet).
fn clip(value: String, n: usize) -> String {
    if value.chars().count() <= n {
        return value;
    }
    let mut out: String = value.chars().take(n.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

#[derive(Serialize)]
struct Context<'a> {
    notice_id: &'a str,
    lead: LeadContext<'a>,
    rep: RepContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    why: Option<&'a str>,
    accept_url: &'a str,
    hot: bool,
    attempt: u32,
    domain: &'a str,
}

#[derive(Serialize)]
struct LeadContext<'a> {
    id: Uuid,
    display: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    company: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    phone: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    score: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    grade: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
}

#[derive(Serialize)]
struct RepContext<'a> {
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// A value worth showing: present and not blank.
fn shown(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

impl<'a> Context<'a> {
    fn of(n: &'a Notice) -> Self {
        let l: &LeadSummary = &n.lead;
        let (name, email, phone) =
            (shown(l.name.as_deref()), shown(l.email.as_deref()), shown(l.phone.as_deref()));
        Context {
            notice_id: &n.id,
            lead: LeadContext {
                id: n.lead_id,
                display: name.or(email).or(phone).unwrap_or("(no name)"),
                name,
                company: shown(l.company.as_deref()),
                title: shown(l.title.as_deref()),
                email,
                phone,
                country: shown(l.country.as_deref()),
                score: l.score,
                grade: shown(l.grade.as_deref()),
                source: shown(Some(&l.source)),
            },
            rep: RepContext { id: &n.rep_id, name: shown(n.rep_name.as_deref()) },
            why: shown(Some(&n.why)),
            accept_url: &n.accept_url,
            hot: n.hot,
            attempt: n.attempt,
            domain: &n.routing_domain,
        }
    }
}

/// The notices every template must render at load.
pub(crate) mod samples {
    use super::*;

    pub fn full() -> Notice {
        Notice {
            id: "sample".into(),
            lead_id: Uuid::nil(),
            attempt: 2,
            routing_domain: "emea".into(),
            rep_id: "dana".into(),
            rep_name: Some("Dana Scully".into()),
            lead: LeadSummary {
                name: Some("Ana Lima".into()),
                company: Some("Acme GmbH".into()),
                title: Some("VP Sales".into()),
                email: Some("ana@acme.io".into()),
                phone: Some("+4915112345678".into()),
                country: Some("DE".into()),
                score: Some(91),
                grade: Some("A".into()),
                source: "web_form".into(),
                captured_at: None,
            },
            why: "round robin in pool enterprise".into(),
            accept_url: "https://speedlead.example/v1/acks/token".into(),
            hot: true,
        }
    }

    pub fn empty() -> Notice {
        Notice {
            id: String::new(),
            lead_id: Uuid::nil(),
            attempt: 1,
            routing_domain: String::new(),
            rep_id: String::new(),
            rep_name: None,
            lead: LeadSummary::default(),
            why: String::new(),
            accept_url: String::new(),
            hot: false,
        }
    }
}

/// The default texts. No `trim_blocks`: a line starting with `{%-` continues the line before
/// (minijinja strips the newline), and an optional line carries its own newline inside its
/// `{% if %}`, so a missing value leaves no blank line.
mod defaults {
    pub const SLACK: &str = r#"{% if hot %}:fire: *Hot lead for you*{% else %}*New lead for you*{% endif %}
{%- if attempt > 1 %} (passed on to you){% endif %}: *{{ lead.display }}*
{%- if lead.title %}, {{ lead.title }}{% endif %}
{%- if lead.company %} at {{ lead.company }}{% endif %}
Score {% if lead.score is defined %}{{ lead.score }}{% if lead.grade %} (grade {{ lead.grade }}){% endif %}
{%- else %}—{% endif %} · {{ lead.source or "unknown source" }}
{%- if lead.country %} · {{ lead.country }}{% endif %}
{%- if lead.email %}
Email: {{ lead.email }}{% endif %}
{%- if lead.phone %}
Phone: {{ lead.phone }}{% endif %}
{%- if why %}
_Why you: {{ why }}_{% endif %}"#;

    pub const SMS: &str = r#"{% if hot %}HOT lead{% else %}New lead{% endif %}: {{ lead.display|clip(40) }}
{%- if lead.company %} ({{ lead.company|clip(30) }}){% endif %}
{%- if lead.phone and lead.phone != lead.display %} {{ lead.phone }}{% endif %}
{%- if lead.score is defined %}, score {{ lead.score }}{% endif %}. Accept: {{ accept_url }}"#;

    pub const EMAIL_SUBJECT: &str = r#"{% if hot %}[HOT] {% endif %}New lead: {{ lead.display }}
{%- if lead.company %} ({{ lead.company }}){% endif %}"#;

    pub const EMAIL_TEXT: &str = r#"Hi {{ rep.name or rep.id or "there" }},

{% if hot %}A hot lead{% else %}A new lead{% endif %} is yours
{%- if attempt > 1 %}, passed on to you from another rep{% endif %}:

  Name:     {{ lead.name or "—" }}
  Company:  {{ lead.company or "—" }}
  Title:    {{ lead.title or "—" }}
  Email:    {{ lead.email or "—" }}
  Phone:    {{ lead.phone or "—" }}
  Country:  {{ lead.country or "—" }}
  Score:    {% if lead.score is defined %}{{ lead.score }}
{%- if lead.grade %} (grade {{ lead.grade }}){% endif %}{% else %}—{% endif %}
  Source:   {{ lead.source or "—" }}
{%- if why %}

Why you: {{ why }}{% endif %}

Accept it: {{ accept_url }}

Accept it now, or it moves on to the next rep.
speedlead{% if domain %} ({{ domain }}){% endif %}"#;

    pub const EMAIL_HTML: &str = r#"<!doctype html>
<html><body style="font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#111">
<p>Hi {{ rep.name or rep.id or "there" }},</p>
<p>{% if hot %}<strong>A hot lead</strong>{% else %}A new lead{% endif %} is yours
{%- if attempt > 1 %}, passed on to you from another rep{% endif %}:</p>
<table cellpadding="4" style="border-collapse:collapse">
<tr><td style="color:#555">Name</td><td><strong>{{ lead.name or "—" }}</strong></td></tr>
<tr><td style="color:#555">Company</td><td>{{ lead.company or "—" }}</td></tr>
<tr><td style="color:#555">Title</td><td>{{ lead.title or "—" }}</td></tr>
<tr><td style="color:#555">Email</td><td>{{ lead.email or "—" }}</td></tr>
<tr><td style="color:#555">Phone</td><td>{{ lead.phone or "—" }}</td></tr>
<tr><td style="color:#555">Country</td><td>{{ lead.country or "—" }}</td></tr>
<tr><td style="color:#555">Score</td><td>{% if lead.score is defined %}{{ lead.score }}
{%- if lead.grade %} (grade {{ lead.grade }}){% endif %}{% else %}—{% endif %}</td></tr>
<tr><td style="color:#555">Source</td><td>{{ lead.source or "—" }}</td></tr>
</table>
{% if why %}<p style="color:#555">Why you: {{ why }}</p>
{% endif %}<p><a href="{{ accept_url }}" style="display:inline-block;padding:10px 18px;background:#1a7f37;
color:#fff;text-decoration:none;border-radius:6px;font-weight:600">Accept this lead</a></p>
<p style="color:#555;font-size:13px">Accept it now, or it moves on to the next rep.
If the button does not work, open {{ accept_url }}</p>
</body></html>"#;

    pub const WEBHOOK_TITLE: &str = r#"{% if hot %}Hot lead{% else %}New lead{% endif %}: {{ lead.display }}
{%- if lead.company %} ({{ lead.company }}){% endif %}"#;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render_all(notice: &Notice) -> Vec<(&'static str, String)> {
        let t = Templates::new(&TemplateSettings::default()).unwrap();
        [SLACK, SMS, EMAIL_SUBJECT, EMAIL_TEXT, EMAIL_HTML, WEBHOOK_TITLE]
            .into_iter()
            .map(|name| (name, t.render(name, notice).unwrap()))
            .collect()
    }

    #[test]
    fn default_templates_render_every_field() {
        let notice = samples::full();
        let out: std::collections::HashMap<_, _> = render_all(&notice).into_iter().collect();
        for field in
            ["Ana Lima", "Acme GmbH", "VP Sales", "ana@acme.io", "+4915112345678", "DE", "91", "web_form"]
        {
            assert!(out[EMAIL_TEXT].contains(field), "email_text lacks {field}:\n{}", out[EMAIL_TEXT]);
            assert!(out[EMAIL_HTML].contains(field), "email_html lacks {field}:\n{}", out[EMAIL_HTML]);
            assert!(out[SLACK].contains(field), "slack lacks {field}:\n{}", out[SLACK]);
        }
        for text in [&out[EMAIL_TEXT], &out[SLACK]] {
            assert!(text.contains("round robin in pool enterprise") && text.contains("grade A"), "{text}");
        }
        assert!(out[EMAIL_TEXT].starts_with("Hi Dana Scully,") && out[EMAIL_TEXT].contains("passed on"));
        assert!(out[EMAIL_TEXT].contains("Accept it: https://speedlead.example/v1/acks/token"));
        assert!(out[EMAIL_HTML]
            .contains(r#"href="https:&#x2f;&#x2f;speedlead.example&#x2f;v1&#x2f;acks&#x2f;token""#));
        assert_eq!(out[EMAIL_SUBJECT], "[HOT] New lead: Ana Lima (Acme GmbH)");
        assert_eq!(out[WEBHOOK_TITLE], "Hot lead: Ana Lima (Acme GmbH)");
        let sms = "HOT lead: Ana Lima (Acme GmbH) +4915112345678, score 91. \
                   Accept: https://speedlead.example/v1/acks/token";
        assert_eq!(out[SMS], sms);
        assert!(out[SLACK]
            .starts_with(":fire: *Hot lead for you* (passed on to you): *Ana Lima*, VP Sales at Acme GmbH"));
    }

    #[test]
    fn missing_values_read_well_and_never_print_none() {
        let mut notice = samples::empty();
        notice.lead.email = Some("  ".into());
        notice.lead.phone = Some("+15551234567".into());
        notice.rep_id = "r7".into();
        notice.accept_url = "https://x/v1/acks/t".into();
        for (name, out) in render_all(&notice) {
            let out = out.replace("text-decoration:none", "");
            for bad in ["none", "None", "undefined", "()"] {
                assert!(!out.contains(bad), "{name} prints {bad}:\n{out}");
            }
            assert!(!out.contains("\n\n\n"), "{name} leaves blank lines:\n{out}");
        }
        let t = Templates::new(&TemplateSettings::default()).unwrap();
        // The phone stands in for the missing name; the blank email counts as missing.
        assert_eq!(t.render(EMAIL_SUBJECT, &notice).unwrap(), "New lead: +15551234567");
        assert_eq!(t.render(SMS, &notice).unwrap(), "New lead: +15551234567. Accept: https://x/v1/acks/t");
        let text = t.render(EMAIL_TEXT, &notice).unwrap();
        assert!(
            text.starts_with("Hi r7,") && text.contains("Company:  —") && text.contains("Score:    —"),
            "{text}"
        );
        assert!(!text.contains("Why you"), "{text}");
        assert_eq!(
            t.render(SLACK, &notice).unwrap(),
            "*New lead for you*: *+15551234567*\nScore — · unknown source\nPhone: +15551234567"
        );
    }

    #[test]
    fn the_default_sms_stays_short_and_ascii() {
        let mut notice = samples::full();
        notice.lead.name = Some("Maximiliane Alexandra von und zu Hohenlohe-Schillingsfürst".into());
        notice.lead.company = Some("Internationale Handelsgesellschaft für Industriebedarf mbH".into());
        notice.accept_url = format!("https://leads.example.com/v1/acks/{}", "t".repeat(140));
        let sms = Templates::new(&TemplateSettings::default()).unwrap().render(SMS, &notice).unwrap();
        assert!(sms.chars().count() <= 300, "{} chars: {sms}", sms.chars().count());
        assert!(
            sms.starts_with(
                "HOT lead: Maximiliane Alexandra von und zu Hohe... (Internationale Handelsgesel...)"
            ),
            "{sms}"
        );
        // Nothing the template adds leaves the GSM alphabet (an em dash would halve the segment size).
        assert!(sms.is_ascii(), "{sms}");
    }

    #[test]
    fn html_is_escaped_and_slack_mentions_are_defused() {
        let mut notice = samples::full();
        notice.lead.name = Some("<script>alert(1)</script>".into());
        notice.lead.company = Some("<!channel> & Co".into());
        let t = Templates::new(&TemplateSettings::default()).unwrap();
        let html = t.render(EMAIL_HTML, &notice).unwrap();
        assert!(
            !html.contains("<script>") && html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{html}"
        );
        let slack = t.render(SLACK, &notice).unwrap();
        assert!(slack.contains("at &lt;!channel&gt; &amp; Co"), "{slack}");
        // Plain-text destinations are not escaped: an SMS or a subject shows what the lead typed.
        assert!(t.render(EMAIL_SUBJECT, &notice).unwrap().contains("<script>alert(1)</script>"));
        // A template author can still write Slack markup of their own.
        let custom = TemplateSettings {
            slack: "<{{ accept_url }}|Accept> {{ lead.company }}".into(),
            ..Default::default()
        };
        let slack = Templates::new(&custom).unwrap().render(SLACK, &notice).unwrap();
        assert_eq!(slack, "<https://speedlead.example/v1/acks/token|Accept> &lt;!channel&gt; &amp; Co");
    }

    #[test]
    fn a_broken_template_is_refused_at_load_naming_it() {
        let broken = TemplateSettings { email_html: "<p>{{ lead.name </p>".into(), ..Default::default() };
        let err = Templates::new(&broken).unwrap_err();
        assert!(err.starts_with("template email_html: "), "{err}");
        // Errors that only show when rendering are caught at load too.
        let broken = TemplateSettings { sms: "{{ lead.name|no_such_filter }}".into(), ..Default::default() };
        let err = Templates::new(&broken).unwrap_err();
        assert!(err.starts_with("template sms: ") && err.contains("no_such_filter"), "{err}");
        let broken =
            TemplateSettings { webhook_title: "{{ lead.company.name.first }}".into(), ..Default::default() };
        assert!(Templates::new(&broken).unwrap_err().starts_with("template webhook_title: "));
    }

    #[test]
    fn settings_default_every_key_and_refuse_unknown_ones() {
        let s: TemplateSettings = serde_json::from_str(r#"{"sms": "{{ lead.display }}"}"#).unwrap();
        assert_eq!(s.sms, "{{ lead.display }}");
        assert_eq!(s.slack, defaults::SLACK);
        let err = serde_json::from_str::<TemplateSettings>(r#"{"smss": ""}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `smss`"), "{err}");
    }
}
