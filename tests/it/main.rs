//! Black-box tests: the real server on a loopback port, driven as Twilio
//! and as a user of the REST API would drive it.

mod auth;
mod browser;
mod check;
mod cluster;
mod contract;
mod conversations;
mod dashboard;
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
mod redis_engine;
mod scheduling;
mod security;
mod sessions;
mod speculation;
mod stream;
