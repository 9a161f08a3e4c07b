//! Speech-to-text over an OpenAI-compatible `POST /v1/audio/transcriptions`: the OGG/Opus voice
//! note goes as is (no decoding), `language=es`, `response_format=verbose_json`.

use super::breaker::Breaker;
use super::{SendError, classify_reqwest, classify_status};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// An OpenAI-compatible transcription service.
#[derive(Debug, Clone)]
pub struct SttConfig {
    pub api_base: String,
    pub api_key: Option<SecretString>,
    pub model: String,
}

#[derive(Clone)]
pub struct Stt {
    config: SttConfig,
    http: reqwest::Client,
    pub breaker: Arc<Breaker>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
    /// From the segments' average log-probabilities when the service reports them.
    pub confidence: Option<f32>,
}

pub const TIMEOUT: Duration = Duration::from_secs(8);

impl Stt {
    pub fn new(config: SttConfig) -> Stt {
        let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(3)).build().expect("HTTP client");
        Stt { config, http, breaker: Arc::new(Breaker::new("stt")) }
    }

    /// `GET /v1/models` with the key: does the service answer and take the key (`posada doctor`)?
    /// OpenAI-compatible servers list their models there.
    pub async fn probe_models(&self) -> Result<super::Probe, String> {
        let mut req = self.http.get(format!("{}/v1/models", self.config.api_base));
        if let Some(key) = &self.config.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        super::probe(req).await
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    pub async fn transcribe(&self, audio: Vec<u8>, mime: &str) -> Result<Transcript, SendError> {
        if self.breaker.allow(Instant::now()).is_err() {
            return Err(SendError::BreakerOpen);
        }
        let part = reqwest::multipart::Part::bytes(audio)
            .file_name("voice.ogg")
            .mime_str(mime.split(';').next().unwrap_or("audio/ogg").trim())
            .map_err(|e| SendError::Permanent(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .part("file", part)
            .text("model", self.config.model.clone())
            .text("language", "es")
            .text("response_format", "verbose_json");
        let mut req = self
            .http
            .post(format!("{}/v1/audio/transcriptions", self.config.api_base))
            .timeout(TIMEOUT)
            .multipart(form);
        if let Some(key) = &self.config.api_key {
            req = req.bearer_auth(key.expose_secret());
        }
        let outcome = match req.send().await {
            Err(e) => Err(classify_reqwest(&e)),
            Ok(r) if r.status().is_success() => {
                let v: Value = r.json().await.map_err(|e| SendError::Permanent(e.to_string()))?;
                Ok(transcript_from(&v))
            }
            Ok(r) => {
                let status = r.status().as_u16();
                Err(classify_status(status, &r.text().await.unwrap_or_default()))
            }
        };
        match &outcome {
            Err(SendError::Retryable(_)) => self.breaker.failure(Instant::now()),
            _ => self.breaker.success(),
        }
        outcome
    }
}

/// `exp(mean avg_logprob)` over the segments, discounted by how likely each is silence.
pub fn transcript_from(v: &Value) -> Transcript {
    let text = v["text"].as_str().unwrap_or("").trim().to_string();
    let segments: Vec<(f64, f64)> = v["segments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| Some((s["avg_logprob"].as_f64()?, s["no_speech_prob"].as_f64().unwrap_or(0.0))))
        .collect();
    let confidence = (!segments.is_empty()).then(|| {
        let n = segments.len() as f64;
        let mean: f64 = segments.iter().map(|(lp, ns)| lp.exp() * (1.0 - ns)).sum::<f64>() / n;
        mean.clamp(0.0, 1.0) as f32
    });
    Transcript { text, confidence }
}

#[cfg(test)]
mod tests {
    #[test]
    fn confidence_comes_from_the_segments() {
        let v = serde_json::json!({"text": " hola ", "segments": [{"avg_logprob": -0.1, "no_speech_prob": 0.0}, {"avg_logprob": -0.3, "no_speech_prob": 0.1}]});
        let t = super::transcript_from(&v);
        assert_eq!(t.text, "hola");
        let c = t.confidence.unwrap();
        assert!((0.7..0.9).contains(&c), "{c}");
        assert_eq!(super::transcript_from(&serde_json::json!({"text": "x"})).confidence, None);
    }
}
