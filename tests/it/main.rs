//! Black-box tests: the real server on a loopback port, driven as Twilio
//! and as a user of the REST API would drive it.

mod auth;
mod browser;
mod calendar_contract;
mod check;
mod cluster;
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
mod redis_engine;
mod scheduling;
mod security;
mod sessions;
mod speculation;
mod stream;
