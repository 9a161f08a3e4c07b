//! `/api/v1/openapi.json`, generated from the same list the router is built from.

use axum::Json;
use serde_json::{Map, Value, json};

pub async fn spec() -> Json<Value> {
    Json(document())
}

pub fn document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for route in super::api().docs {
        let params: Vec<Value> = route
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut op = json!({
            "summary": route.summary,
            "tags": [route.tag],
            "parameters": params,
            "responses": {
                "default": {"description": "Errors: {\"error\": {\"code\", \"message\"}}"},
                "200": {"description": "OK"},
            },
        });
        if route.auth {
            op["security"] = json!([{"bearer": []}]);
        }
        let entry = paths.entry(route.path.to_string()).or_insert_with(|| json!({}));
        entry[route.method.to_lowercase()] = op;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Posada", "version": env!("CARGO_PKG_VERSION")},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "paths": paths,
    })
}
