//! The tools as a model sees them: names, descriptions, JSON schemas.

use serde_json::{Value, json};

use super::args::{MAX_MINUTES, MIN_MINUTES};

/// The names of the tools, as the LLM sees them.
pub const TOOL_NAMES: [&str; 8] = [
    "check_availability",
    "book_appointment",
    "find_appointments",
    "reschedule_appointment",
    "cancel_appointment",
    "end_call",
    "transfer_call",
    "take_message",
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
    let local_time = "Local wall-clock time in the business's time zone, YYYY-MM-DDTHH:MM, \
                      on a quarter hour (:00, :15, :30 or :45)";
    let minutes = json!({
        "type": "integer",
        "minimum": MIN_MINUTES,
        "maximum": MAX_MINUTES,
        "description": format!("Appointment length in whole minutes, {MIN_MINUTES} to {MAX_MINUTES}; default is the business's usual length")
    });
    vec![
        ToolDef {
            name: "check_availability",
            description: "List the free appointment start times on a date.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "date": {"type": "string", "description": "The day, YYYY-MM-DD"},
                    "duration_minutes": minutes
                },
                "required": ["date"]
            }),
        },
        ToolDef {
            name: "book_appointment",
            description: "Book an appointment for the caller. Confirm the time and name with the caller first. \
                          At most one booking per caller turn.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "start": {"type": "string", "description": local_time},
                    "name": {"type": "string", "description": "The caller's name"},
                    "duration_minutes": minutes,
                    "email": {"type": "string"},
                    "phone": {"type": "string", "description": "A callback number if the caller gives one; the booking always belongs to the number they are calling from"},
                    "reason": {"type": "string", "description": "What the appointment is for"}
                },
                "required": ["start", "name"]
            }),
        },
        ToolDef {
            name: "find_appointments",
            description: "Find the caller's own upcoming appointments: those booked from the number they are calling from. \
                          Other people's appointments are never shown.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "phone": {"type": "string", "description": "Ignored unless it is the caller's own number"},
                    "name": {"type": "string", "description": "Narrows the caller's own appointments to this name"}
                }
            }),
        },
        ToolDef {
            name: "reschedule_appointment",
            description: "Move one of the caller's own appointments (identified by its id or its current start) to a new time.",
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
            description: "Cancel one of the caller's own appointments (identified by its id or its start).",
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
        ToolDef {
            name: "transfer_call",
            description: "Connect the caller to a person at the business when they ask for one. \
                          Say a short line first (\"Let me put you through.\"). If the result says \
                          nobody can come to the phone, offer to take a message.",
            parameters: json!({
                "type": "object",
                "properties": {"reason": {"type": "string", "description": "What the caller wants, told to the person who answers"}}
            }),
        },
        ToolDef {
            name: "take_message",
            description: "Take a message for the business: who it is from, what it is about, and a \
                          callback number (default: the number the caller is calling from). Read the \
                          callback number back digit by digit if the caller said it.",
            parameters: json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string", "description": "Who the message is from"},
                    "message": {"type": "string", "description": "What it is about"},
                    "callback_number": {"type": "string", "description": "Where to call back, if not the number they are calling from"}
                },
                "required": ["name", "message"]
            }),
        },
    ]
}
