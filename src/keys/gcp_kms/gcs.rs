//! Google Cloud Storage uploads for `seal publish` (sops's `gcs_bucket` destination): one
//! object written with the JSON API's media upload, authenticated with the credentials
//! Cloud KMS keys use ([`super::auth`]), or without authentication against the emulator
//! that `STORAGE_EMULATOR_HOST` names, as Google's client libraries (and so sops) do.

use super::{GcpError, GcpErrorKind, auth, err, form_escape, one_line};
use crate::keys::{Env, http};

/// The public Cloud Storage endpoint.
const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";

/// The endpoint (no trailing `/`) and whether requests carry a token: an emulator named
/// by `STORAGE_EMULATOR_HOST` (`host:port`, plain HTTP, or a URL) takes none.
pub fn endpoint(env: &dyn Env) -> (String, bool) {
    match env
        .var("STORAGE_EMULATOR_HOST")
        .map(|h| h.trim().trim_end_matches('/').to_string())
        .filter(|h| !h.is_empty())
    {
        Some(h) if h.contains("://") => (h, false),
        Some(h) => (format!("http://{h}"), false),
        None => (DEFAULT_ENDPOINT.to_string(), true),
    }
}

/// The upload URL of object `name` in `bucket`.
pub fn upload_url(base: &str, bucket: &str, name: &str) -> String {
    format!(
        "{base}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
        form_escape(bucket),
        form_escape(name)
    )
}

/// Write `bytes` as object `name` of `bucket` (replacing it).
pub fn put_object(bucket: &str, name: &str, bytes: &[u8], env: &dyn Env) -> Result<(), GcpError> {
    if bucket.trim().is_empty() || name.is_empty() {
        return Err(err(
            GcpErrorKind::BadKey,
            "a GCS destination needs a bucket and an object name".into(),
        ));
    }
    let (base, authenticated) = endpoint(env);
    let token = if authenticated {
        Some(auth::access_token(env)?)
    } else {
        None
    };
    let bearer = token.as_ref().map(|t| format!("Bearer {}", t.as_str()));
    let mut headers = vec![("content-type", "application/octet-stream")];
    if let Some(b) = &bearer {
        headers.push(("authorization", b.as_str()));
    }
    let url = upload_url(&base, bucket, name);
    let answer = http::post(
        "Google Cloud Storage",
        &url,
        &headers,
        bytes,
        http::Options::default(),
    )
    .map_err(|e| err(GcpErrorKind::Refused, e.message))?;
    if answer.status == 200 {
        return Ok(());
    }
    let said = serde_json::from_slice::<serde_json::Value>(&answer.body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(one_line))
        .unwrap_or_else(|| one_line(&String::from_utf8_lossy(&answer.body)));
    Err(err(
        GcpErrorKind::Refused,
        format!(
            "Google Cloud Storage at {} refused gs://{bucket}/{name}: HTTP {}{}",
            http::origin(&url),
            answer.status,
            if said.is_empty() {
                String::new()
            } else {
                format!(": {said}")
            }
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::path::PathBuf;

    struct Vars(HashMap<&'static str, &'static str>);

    impl Env for Vars {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
        fn home(&self) -> Option<PathBuf> {
            None
        }
    }

    #[test]
    fn the_emulator_host_is_plain_http_without_a_token() {
        let none = Vars(HashMap::new());
        assert_eq!(endpoint(&none), (DEFAULT_ENDPOINT.to_string(), true));
        let host = Vars(HashMap::from([("STORAGE_EMULATOR_HOST", "127.0.0.1:9023")]));
        assert_eq!(
            endpoint(&host),
            ("http://127.0.0.1:9023".to_string(), false)
        );
        let url = Vars(HashMap::from([(
            "STORAGE_EMULATOR_HOST",
            "https://gcs.test/",
        )]));
        assert_eq!(endpoint(&url), ("https://gcs.test".to_string(), false));
    }

    #[test]
    fn object_names_are_escaped_in_the_query() {
        assert_eq!(
            upload_url("http://h", "b", "dir/a b.yaml"),
            "http://h/upload/storage/v1/b/b/o?uploadType=media&name=dir%2Fa%20b.yaml"
        );
    }
}
