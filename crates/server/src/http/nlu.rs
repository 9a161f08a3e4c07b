//! `POST /api/v1/nlu/analyze`: what the bot understands of one message.

use super::extract::ApiJson;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use chrono::NaiveDate;
use serde::Deserialize;

#[derive(Deserialize)]
pub struct AnalyzeBody {
    text: String,
    #[serde(default)]
    today: Option<NaiveDate>,
}

pub async fn analyze(State(s): State<AppState>, ApiJson(body): ApiJson<AnalyzeBody>) -> ApiResult<Json<nlu::Analysis>> {
    if body.text.trim().is_empty() {
        return Err(ApiError::unprocessable("empty_text", "El texto está vacío."));
    }
    if body.text.chars().count() > nlu::MAX_TEXT_CHARS {
        return Err(ApiError::unprocessable(
            "text_too_long",
            format!("El texto supera los {} caracteres.", nlu::MAX_TEXT_CHARS),
        ));
    }
    let today = body.today.unwrap_or_else(|| s.clock.today_in(s.config.timezone));
    let units = unit_refs(&s).await?;
    Ok(Json(nlu::analyze(&body.text, today, &units)))
}

pub async fn unit_refs(s: &AppState) -> ApiResult<Vec<nlu::UnitRef>> {
    Ok(s.store
        .list_units(false)
        .await?
        .into_iter()
        .map(|u| nlu::UnitRef { id: u.id, name: u.name, slug: u.slug })
        .collect())
}
