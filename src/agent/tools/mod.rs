//! The calendar tools: JSON-schema definitions for an LLM, one dispatcher,
//! and short structured results.
//!
//! Both agents use these: the LLM through [`Tools::dispatch`] (name + JSON
//! arguments, as a model sends them), the rules agent through the typed
//! methods underneath. A refusal is a result, not an error, and carries what
//! the agent can say ("3 PM is taken; 3:30 and 4:00 are free"). Times in
//! and out are local wall-clock times in `BUSINESS_TIMEZONE`, written
//! `YYYY-MM-DDTHH:MM`. Rescheduling and cancelling act only on appointments
//! booked from the caller's own number, unless the caller names the
//! appointment's id.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::speech;
use crate::calendar::{Appointment, CalendarError, Details, Outcome, Refusal, Scheduler, digits};

/// The names of the tools, as the LLM sees them.
pub const TOOL_NAMES: [&str; 6] = [
    "check_availability",
    "book_appointment",
    "find_appointments",
    "reschedule_appointment",
    "cancel_appointment",
    "end_call",
];

/// One tool's definition: name, description, JSON-schema parameters.
#[derive(Debug, Clone)]
pub struct ToolDef {
    /// The function name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// JSON schema of the arguments.
    pub parameters: Value,
}

/// The tool definitions, ready for an LLM's `tools` list.
pub fn definitions() -> Vec<ToolDef> {
    let local_time = "Local wall-clock time in the business's time zone, YYYY-MM-DDTHH:MM";
    vec![
        ToolDef {
            name: "check_availability",
            description: "List the free appointment start times on a date.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "date": {"type": "string", "description": "The day, YYYY-MM-DD"},
                    "duration_minutes": {"type": "integer", "description": "Appointment length; default is the business's usual length"}
                },
                "required": ["date"]
            }),
        },
        ToolDef {
            name: "book_appointment",
            description: "Book an appointment. Confirm the time and name with the caller first.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "start": {"type": "string", "description": local_time},
                    "name": {"type": "string", "description": "The caller's name"},
                    "duration_minutes": {"type": "integer"},
                    "email": {"type": "string"},
                    "phone": {"type": "string", "description": "Defaults to the number the caller is calling from"},
                    "reason": {"type": "string", "description": "What the appointment is for"}
                },
                "required": ["start", "name"]
            }),
        },
        ToolDef {
            name: "find_appointments",
            description: "Find upcoming appointments by phone number or name. Without arguments, finds the caller's own.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "phone": {"type": "string"},
                    "name": {"type": "string"}
                }
            }),
        },
        ToolDef {
            name: "reschedule_appointment",
            description: "Move one of the caller's appointments (identified by its id or its current start) to a new time.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "appointment_id": {"type": "string"},
                    "start": {"type": "string", "description": format!("The appointment's current start. {local_time}")},
                    "new_start": {"type": "string", "description": local_time}
                },
                "required": ["new_start"]
            }),
        },
        ToolDef {
            name: "cancel_appointment",
            description: "Cancel one of the caller's appointments (identified by its id or its start).",
            parameters: json!({
                "type": "object",
                "properties": {
                    "appointment_id": {"type": "string"},
                    "start": {"type": "string", "description": local_time},
                    "reason": {"type": "string"}
                }
            }),
        },
        ToolDef {
            name: "end_call",
            description: "End the call after saying goodbye.",
            parameters: json!({
                "type": "object",
                "properties": {"reason": {"type": "string"}}
            }),
        },
    ]
}

/// Who is calling and when.
#[derive(Debug, Clone)]
pub struct ToolContext {
    /// The caller's number.
    pub caller: Option<String>,
    /// Now.
    pub now: DateTime<Utc>,
}

/// A tool's result.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolResult {
    /// The structured result, sent back to the model.
    pub value: Value,
    /// The tool asked to end the call.
    pub end_call: bool,
}

impl ToolResult {
    fn of(value: Value) -> Self {
        Self {
            value,
            end_call: false,
        }
    }

    fn error(message: impl Into<String>) -> Self {
        Self::of(json!({ "error": message.into() }))
    }
}

/// `2026-11-24T14:00`.
pub fn format_local(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M").to_string()
}

/// Parses `YYYY-MM-DDTHH:MM` (seconds and a space instead of `T` tolerated).
pub fn parse_local(raw: &str) -> Option<NaiveDateTime> {
    let raw = raw.trim();
    [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
}

/// The calendar tools over the scheduling rules.
#[derive(Clone)]
pub struct Tools {
    /// The rules and the calendar.
    pub scheduler: Scheduler,
}

/// What a reschedule or cancel was aimed at.
pub enum Target {
    /// An id the caller gave.
    Id(String),
    /// The current start of one of the caller's appointments.
    Start(NaiveDateTime),
}

fn unavailable(e: &CalendarError) -> ToolResult {
    tracing::warn!(error = %e, "calendar failed during a tool call");
    ToolResult::error(
        "The calendar is unavailable right now. Apologise and offer to take a message or call back.",
    )
}

impl Tools {
    /// Tools over `scheduler`.
    pub fn new(scheduler: Scheduler) -> Self {
        Self { scheduler }
    }

    fn spoken(&self, t: NaiveDateTime) -> String {
        speech::date_time(t.date(), t.time())
    }

    /// An appointment as the model sees it.
    pub fn describe(&self, a: &Appointment) -> Value {
        let start = self.scheduler.to_local(a.start);
        json!({
            "appointment_id": a.id,
            "start": format_local(start),
            "end": format_local(self.scheduler.to_local(a.end)),
            "spoken": self.spoken(start),
            "name": a.name,
            "reason": a.reason,
        })
    }

    fn refusal(
        &self,
        wanted: NaiveDateTime,
        refusal: &Refusal,
        alternatives: &[NaiveDateTime],
    ) -> Value {
        json!({
            "ok": false,
            "requested": format_local(wanted),
            "reason": refusal.explain(),
            "alternatives": alternatives.iter().map(|t| format_local(*t)).collect::<Vec<_>>(),
            "alternatives_spoken": alternatives.iter().map(|t| self.spoken(*t)).collect::<Vec<_>>(),
        })
    }

    /// Runs a tool by name with JSON arguments, as an LLM calls it.
    pub async fn dispatch(&self, name: &str, args: &Value, ctx: &ToolContext) -> ToolResult {
        let text = |k: &str| {
            args.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
        };
        let minutes = args
            .get("duration_minutes")
            .and_then(Value::as_u64)
            .map(|m| m.clamp(5, 480) as u32);
        match name {
            "check_availability" => {
                let Some(date) =
                    text("date").and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                else {
                    return ToolResult::error("date must look like 2026-11-24");
                };
                self.check_availability(date, minutes, ctx).await
            }
            "book_appointment" => {
                let Some(start) = text("start").and_then(parse_local) else {
                    return ToolResult::error("start must look like 2026-11-24T14:00");
                };
                let Some(name) = text("name") else {
                    return ToolResult::error("ask the caller for their name first");
                };
                let details = Details {
                    name: name.to_owned(),
                    phone: text("phone")
                        .map(str::to_owned)
                        .or_else(|| ctx.caller.clone()),
                    email: text("email").map(str::to_owned),
                    reason: text("reason").map(str::to_owned),
                };
                self.book(start, minutes, details, ctx).await
            }
            "find_appointments" => {
                let phone = text("phone").map(str::to_owned);
                let name = text("name");
                let phone = if phone.is_none() && name.is_none() {
                    ctx.caller.clone()
                } else {
                    phone
                };
                self.find(phone.as_deref(), name, ctx).await
            }
            "reschedule_appointment" | "cancel_appointment" => {
                let target = match (text("appointment_id"), text("start")) {
                    (Some(id), _) => Target::Id(id.to_owned()),
                    (None, Some(s)) => match parse_local(s) {
                        Some(t) => Target::Start(t),
                        None => return ToolResult::error("start must look like 2026-11-24T14:00"),
                    },
                    (None, None) => {
                        return ToolResult::error("give appointment_id or the appointment's start");
                    }
                };
                if name == "cancel_appointment" {
                    return self.cancel(target, ctx).await;
                }
                let Some(new_start) = text("new_start").and_then(parse_local) else {
                    return ToolResult::error("new_start must look like 2026-11-24T14:00");
                };
                self.reschedule(target, new_start, ctx).await
            }
            "end_call" => ToolResult {
                value: json!({ "ok": true }),
                end_call: true,
            },
            other => ToolResult::error(format!("there is no tool called {other}")),
        }
    }

    /// `check_availability`.
    pub async fn check_availability(
        &self,
        date: NaiveDate,
        minutes: Option<u32>,
        ctx: &ToolContext,
    ) -> ToolResult {
        let s = &self.scheduler;
        if date < s.today(ctx.now) {
            return ToolResult::of(
                json!({ "date": date.to_string(), "open": false, "reason": "that day has passed", "free": [] }),
            );
        }
        if !s.is_open_on(date) {
            return ToolResult::of(
                json!({ "date": date.to_string(), "open": false, "reason": Refusal::Weekend.explain(), "free": [] }),
            );
        }
        match s
            .free_slots(date, minutes.unwrap_or(s.default_minutes), ctx.now)
            .await
        {
            Ok(free) => ToolResult::of(json!({
                "date": date.to_string(),
                "day": speech::date(date),
                "open": true,
                "free": free.iter().map(|t| t.format("%H:%M").to_string()).collect::<Vec<_>>(),
                "free_spoken": free.iter().map(|t| speech::time(t.time())).collect::<Vec<_>>(),
            })),
            Err(e) => unavailable(&e),
        }
    }

    /// `book_appointment`.
    pub async fn book(
        &self,
        start: NaiveDateTime,
        minutes: Option<u32>,
        details: Details,
        ctx: &ToolContext,
    ) -> ToolResult {
        match self.scheduler.book(start, minutes, details, ctx.now).await {
            Ok(Outcome::Done(a)) => {
                let mut v = self.describe(&a);
                v["ok"] = json!(true);
                v["booked"] = json!(true);
                ToolResult::of(v)
            }
            Ok(Outcome::Refused {
                refusal,
                alternatives,
            }) => ToolResult::of(self.refusal(start, &refusal, &alternatives)),
            Err(e) => unavailable(&e),
        }
    }

    /// `find_appointments`.
    pub async fn find(
        &self,
        phone: Option<&str>,
        name: Option<&str>,
        ctx: &ToolContext,
    ) -> ToolResult {
        match self.scheduler.find(phone, name, ctx.now).await {
            Ok(found) => ToolResult::of(json!({
                "appointments": found.iter().map(|a| self.describe(a)).collect::<Vec<_>>()
            })),
            Err(e) => unavailable(&e),
        }
    }

    /// Resolves a target to one of the caller's appointments.
    pub async fn resolve(
        &self,
        target: &Target,
        ctx: &ToolContext,
    ) -> Result<Appointment, ToolResult> {
        match target {
            Target::Id(id) => match self.scheduler.calendar().get(id).await {
                Ok(Some(a)) => Ok(a),
                Ok(None) => Err(ToolResult::error(format!("there is no appointment {id}"))),
                Err(e) => Err(unavailable(&e)),
            },
            Target::Start(start) => {
                let Some(caller) = ctx.caller.as_deref().filter(|c| !digits(c).is_empty()) else {
                    return Err(ToolResult::error(
                        "the caller's number is unknown: ask for the appointment id",
                    ));
                };
                let mine = self
                    .scheduler
                    .find(Some(caller), None, ctx.now)
                    .await
                    .map_err(|e| unavailable(&e))?;
                mine.into_iter()
                    .find(|a| self.scheduler.to_local(a.start) == *start)
                    .ok_or_else(|| {
                        ToolResult::error(format!(
                            "no appointment booked from the caller's number starts at {}",
                            format_local(*start)
                        ))
                    })
            }
        }
    }

    /// `reschedule_appointment`.
    pub async fn reschedule(
        &self,
        target: Target,
        new_start: NaiveDateTime,
        ctx: &ToolContext,
    ) -> ToolResult {
        let current = match self.resolve(&target, ctx).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        match self
            .scheduler
            .reschedule(&current.id, new_start, ctx.now)
            .await
        {
            Ok(Outcome::Done(a)) => {
                let mut v = self.describe(&a);
                v["ok"] = json!(true);
                v["moved_from"] = json!(format_local(self.scheduler.to_local(current.start)));
                ToolResult::of(v)
            }
            Ok(Outcome::Refused {
                refusal,
                alternatives,
            }) => ToolResult::of(self.refusal(new_start, &refusal, &alternatives)),
            Err(CalendarError::NotFound) => ToolResult::error("that appointment no longer exists"),
            Err(e) => unavailable(&e),
        }
    }

    /// `cancel_appointment`.
    pub async fn cancel(&self, target: Target, ctx: &ToolContext) -> ToolResult {
        let current = match self.resolve(&target, ctx).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        match self.scheduler.calendar().cancel(&current.id).await {
            Ok(a) => {
                let mut v = self.describe(&a);
                v["ok"] = json!(true);
                v["cancelled"] = json!(true);
                ToolResult::of(v)
            }
            Err(CalendarError::NotFound) => ToolResult::error("that appointment no longer exists"),
            Err(e) => unavailable(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn tools(dir: &std::path::Path) -> Tools {
        Tools::new(crate::calendar::tests::scheduler("America/New_York", dir))
    }

    fn ctx(caller: &str) -> ToolContext {
        ToolContext {
            caller: Some(caller.into()),
            // Monday 2026-11-23, 8 AM in New York.
            now: Utc.with_ymd_and_hms(2026, 11, 23, 13, 0, 0).unwrap(),
        }
    }

    #[test]
    fn definitions_name_the_interface_tools_with_object_schemas() {
        let defs = definitions();
        let names: Vec<&str> = defs.iter().map(|d| d.name).collect();
        assert_eq!(names, TOOL_NAMES);
        for d in defs {
            assert_eq!(d.parameters["type"], "object", "{}", d.name);
        }
    }

    #[tokio::test]
    async fn check_book_find_reschedule_cancel_through_the_dispatcher() {
        let dir = tempfile::tempdir().unwrap();
        let t = tools(dir.path());
        let me = ctx("+14155550100");
        let free = t
            .dispatch("check_availability", &json!({"date": "2026-11-24"}), &me)
            .await;
        assert_eq!(free.value["free"][0], "09:00");
        assert_eq!(free.value["free"].as_array().unwrap().len(), 16);

        let booked = t
            .dispatch(
                "book_appointment",
                &json!({"start": "2026-11-24T15:00", "name": "Ada Lovelace"}),
                &me,
            )
            .await;
        assert_eq!(booked.value["ok"], true, "{}", booked.value);
        assert_eq!(booked.value["spoken"], "Tuesday, November 24th at 3 PM");
        let id = booked.value["appointment_id"].as_str().unwrap().to_owned();

        let taken = t
            .dispatch(
                "book_appointment",
                &json!({"start": "2026-11-24T15:00", "name": "Bob"}),
                &ctx("+14155550111"),
            )
            .await;
        assert_eq!(taken.value["ok"], false);
        assert_eq!(taken.value["reason"], "that time is already taken");
        assert_eq!(
            taken.value["alternatives"],
            json!(["2026-11-24T14:00", "2026-11-24T14:30", "2026-11-24T15:30"])
        );

        let found = t.dispatch("find_appointments", &json!({}), &me).await;
        assert_eq!(
            found.value["appointments"][0]["appointment_id"],
            id.as_str()
        );

        // Someone else cannot move it by its time, only the owner (or by id).
        let stranger = t
            .dispatch(
                "reschedule_appointment",
                &json!({"start": "2026-11-24T15:00", "new_start": "2026-11-24T16:00"}),
                &ctx("+14155550111"),
            )
            .await;
        assert!(
            stranger.value["error"]
                .as_str()
                .unwrap()
                .contains("no appointment")
        );
        let moved = t
            .dispatch(
                "reschedule_appointment",
                &json!({"start": "2026-11-24T15:00", "new_start": "2026-11-24T16:00"}),
                &me,
            )
            .await;
        assert_eq!(moved.value["start"], "2026-11-24T16:00", "{}", moved.value);
        assert_eq!(moved.value["moved_from"], "2026-11-24T15:00");

        let cancelled = t
            .dispatch(
                "cancel_appointment",
                &json!({"appointment_id": id}),
                &ctx("+10000000000"),
            )
            .await;
        assert_eq!(cancelled.value["cancelled"], true);
        let found = t.dispatch("find_appointments", &json!({}), &me).await;
        assert_eq!(found.value["appointments"], json!([]));
    }

    #[tokio::test]
    async fn bad_arguments_and_unknown_tools_are_results_not_panics() {
        let dir = tempfile::tempdir().unwrap();
        let t = tools(dir.path());
        let me = ctx("+14155550100");
        for (name, args) in [
            ("check_availability", json!({"date": "tomorrow"})),
            ("book_appointment", json!({"start": "2026-11-24T15:00"})),
            ("book_appointment", json!({"start": 5, "name": "x"})),
            ("cancel_appointment", json!({})),
            (
                "reschedule_appointment",
                json!({"appointment_id": "nope", "new_start": "2026-11-24T15:00"}),
            ),
            ("launch_rockets", json!({})),
        ] {
            let r = t.dispatch(name, &args, &me).await;
            assert!(r.value["error"].is_string(), "{name}: {}", r.value);
            assert!(!r.end_call);
        }
        assert!(t.dispatch("end_call", &json!({}), &me).await.end_call);
        let weekend = t
            .dispatch("check_availability", &json!({"date": "2026-11-28"}), &me)
            .await;
        assert_eq!(weekend.value["open"], false);
    }
}
