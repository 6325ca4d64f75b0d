//! Black-box tests: the real server on a loopback port, driven as Twilio
//! and as a user of the REST API would drive it.

mod auth;
mod browser;
mod calendar_contract;
mod check;
mod contract;
mod conversations;
mod dashboard;
mod database;
mod duties;
mod envelope;
mod fake_google;
mod gather;
mod google;
mod helpers;
mod ledger;
mod llm;
mod metrics;
mod openapi;
mod outbound;
mod postgres;
mod scheduling;
mod security;
mod sessions;
mod stream;
