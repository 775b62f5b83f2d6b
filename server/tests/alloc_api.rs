//! `weblm serve`: the allocation planner and the PAK / alert admin endpoints over real HTTP.

mod common;
use common::*;
use serde_json::json;

const TOK: &str = "token-client-a";

fn server(fx: &Fixture) -> Server {
    let lic = fx.license("lic.toml", "host-1", &[("VOIP", 20)]);
    let cfg = fx.standard_config("std", &lic, "host-1", &[("ir-a", TOK)], "");
    Server::start(&cfg)
}

#[test]
fn plan_over_http() {
    let fx = Fixture::new();
    let s = server(&fx);
    let cfg = json!({
        "system_licenses": 100, "seed": 7,
        "tenant": {"sip": 60, "h323": 90},
        "zone": [
            {"name": "east", "assigned": 50, "priority": 3},
            {"name": "west", "assigned": 30},
            {"name": "north", "assigned": 20, "priority": 2}
        ]
    });
    let (st, b) = call(
        &s.url(),
        TOK,
        "POST",
        "/v1/alloc/plan?licenses=33",
        Some(cfg.clone()),
    );
    assert_eq!(st, 200, "{b}");
    let got: Vec<u64> = b["zones"]["zones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|z| z["granted"].as_u64().unwrap())
        .collect();
    assert_eq!(got, vec![16, 10, 7]);
    assert_eq!(b["tenant"]["sip"], 13);
    let (st, _) = call(&s.url(), "", "POST", "/v1/alloc/plan", Some(cfg));
    assert_eq!(st, 401);
    let bad = json!({"system_licenses": 10, "zone": [{"name": "a", "assigned": 11}]});
    let (st, b) = call(&s.url(), TOK, "POST", "/v1/alloc/plan", Some(bad));
    assert_eq!(st, 400);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("zones would be assigned 11 licenses"),
        "{b}"
    );
}

#[test]
fn paks_rehost_and_alerts_over_http() {
    let fx = Fixture::new();
    let s = server(&fx);
    let u = s.url();
    let reg = json!({"pak": "PAK123", "feature": "USER", "version": "2.0", "count": 10});
    let (st, _) = call(&u, TOK, "POST", "/v1/admin/paks", Some(reg.clone()));
    assert_eq!(st, 403, "a client token is not enough");
    let (st, b) = call(&u, ADMIN, "POST", "/v1/admin/paks", Some(reg.clone()));
    assert_eq!(st, 201, "{b}");
    assert_eq!(b["remaining"], 10);
    let (st, _) = call(&u, ADMIN, "POST", "/v1/admin/paks", Some(reg));
    assert_eq!(st, 409);
    let f = |n: u32| json!({"system_id": "sys-a", "count": n});
    let (st, b) = call(
        &u,
        ADMIN,
        "POST",
        "/v1/admin/paks/PAK123/fulfil",
        Some(f(4)),
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(
        (b["fulfilled"].as_u64(), b["remaining"].as_u64()),
        (Some(4), Some(6))
    );
    let (st, _) = call(
        &u,
        ADMIN,
        "POST",
        "/v1/admin/paks/PAK123/fulfil",
        Some(f(6)),
    );
    assert_eq!(st, 200);
    let (st, b) = call(
        &u,
        ADMIN,
        "POST",
        "/v1/admin/paks/PAK123/fulfil",
        Some(f(1)),
    );
    assert_eq!(st, 409);
    assert_eq!(b["error"]["code"], "pak_exhausted");
    assert_eq!(
        b["error"]["message"],
        "The PAK you have entered, PAK123, cannot be fulfilled because there are no licenses \
         remaining in the PAK"
    );
    let (st, _) = call(&u, ADMIN, "POST", "/v1/admin/paks/NOPE/fulfil", Some(f(1)));
    assert_eq!(st, 404);
    let (st, b) = call(
        &u,
        ADMIN,
        "POST",
        "/v1/admin/rehost",
        Some(json!({"from": "sys-a", "to": "sys-b"})),
    );
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["moved"], 10);
    let (st, b) = call(&u, ADMIN, "GET", "/v1/admin/licenses?system=sys-a", None);
    assert_eq!(st, 200);
    assert_eq!(b[0]["valid"], false);
    let (st, b) = call(&u, ADMIN, "GET", "/v1/admin/alerts?pending=true", None);
    assert_eq!(st, 200);
    assert_eq!(b, json!([]));
}
