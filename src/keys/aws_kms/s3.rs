//! S3 `PutObject` for `publish` (sops's `s3_bucket` destinations): one signed PUT, with
//! the credentials and endpoint rules of the KMS client (`AWS_ENDPOINT_URL_S3`, else
//! `AWS_ENDPOINT_URL`, else the profile's `endpoint_url`: path-style `ENDPOINT/BUCKET/KEY`;
//! else the region's virtual-hosted `https://BUCKET.s3.REGION.amazonaws.com/KEY`). The region
//! is `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the profile's, else `us-east-1`.

use sha2::{Digest, Sha256};

use super::credentials::{SharedConfig, resolve_credentials};
use super::sigv4::{hex, sign_method, uri_encode};
use super::{Arn, KmsError, KmsErrorKind, endpoint_for, err};
use crate::keys::{Env, http};

/// Upload `body` to `s3://bucket/key`. Errors name the bucket and key, never a credential.
pub fn put_object(bucket: &str, key: &str, body: &[u8], env: &dyn Env) -> Result<(), KmsError> {
    let shared = SharedConfig::load(env, "")?;
    let var = |n: &str| env.var(n).filter(|v| !v.is_empty());
    let region = var("AWS_REGION")
        .or_else(|| var("AWS_DEFAULT_REGION"))
        .or_else(|| shared.get("region"))
        .unwrap_or_else(|| "us-east-1".to_string());
    let arn = Arn {
        partition: "aws".to_string(),
        region: region.clone(),
    };
    let target = format!("s3://{bucket}/{key}");
    let creds = resolve_credentials(env, &shared, "", &arn, &target)?;
    let encoded: Vec<String> = key.split('/').map(uri_encode).collect();
    let encoded = encoded.join("/");
    let regional = format!("https://s3.{region}.amazonaws.com");
    let endpoint = endpoint_for(env, &shared, "S3", "s3", &arn);
    let url = if endpoint == regional {
        format!("https://{bucket}.s3.{region}.amazonaws.com/{encoded}")
    } else {
        format!("{endpoint}/{}/{encoded}", uri_encode(bucket))
    };
    let headers = [
        ("content-type", "application/octet-stream".to_string()),
        ("x-amz-content-sha256", hex(&Sha256::digest(body))),
    ];
    let signed = sign_method(
        "PUT",
        &creds,
        &region,
        "s3",
        &url,
        &headers,
        body,
        time::OffsetDateTime::now_utc(),
    );
    let refs: Vec<(&str, &str)> = signed
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp = http::send(
        "AWS S3",
        "PUT",
        &url,
        &refs,
        Some(body),
        http::Options::default(),
    )
    .map_err(|e| err(KmsErrorKind::Transport, format!("{e} (uploading {target})")))?;
    if resp.status == 200 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(&resp.body);
    let code = text
        .split("<Code>")
        .nth(1)
        .and_then(|t| t.split("</Code>").next())
        .unwrap_or("no error code");
    Err(err(
        KmsErrorKind::Refused,
        format!(
            "AWS S3 at {} refused uploading {target}: HTTP {} ({code}); check that the bucket exists and the credentials may write to it",
            http::origin(&url),
            resp.status
        ),
    ))
}
