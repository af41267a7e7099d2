//! Where AWS credentials come from, in the order of the AWS SDK for Go v2 that sops uses:
//! the key's `aws_profile`, the environment, a web identity, the shared `config` and
//! `credentials` files' profile (static keys, `role_arn` + `source_profile`,
//! `credential_process`), the container endpoint, and last EC2 instance metadata (IMDSv2,
//! one-second timeout, skipped with `AWS_EC2_METADATA_DISABLED=true`). STS `AssumeRole`
//! for `+ROLE` ARNs and profiles with `role_arn` lives here too. Secrets are zeroised on
//! drop and never named in messages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use zeroize::Zeroizing;

use super::sigv4::{form, signed_post};
use super::{Arn, KmsError, KmsErrorKind, endpoint_for, err, one_line};
use crate::keys::Env;
use crate::keys::http;

/// The selected profile of `~/.aws/config` and `~/.aws/credentials` (credentials file
/// first, as the SDK reads keys), plus the whole files for `source_profile` chains.
pub(super) struct SharedConfig {
    name: String,
    /// Whether the profile was named (key's `aws_profile` or `AWS_PROFILE`) rather than
    /// `default`.
    named: bool,
    config: BTreeMap<String, BTreeMap<String, String>>,
    credentials: BTreeMap<String, BTreeMap<String, String>>,
    config_path: PathBuf,
    credentials_path: PathBuf,
}

pub(super) fn expand_home(env: &dyn Env, p: &str) -> PathBuf {
    match (p.strip_prefix("~/"), env.home()) {
        (Some(rest), Some(h)) => h.join(rest),
        _ => PathBuf::from(p),
    }
}

impl SharedConfig {
    pub(super) fn load(env: &dyn Env, key_profile: &str) -> Result<SharedConfig, KmsError> {
        let home = env.home().unwrap_or_default();
        let config_path = env
            .var("AWS_CONFIG_FILE")
            .filter(|v| !v.is_empty())
            .map(|p| expand_home(env, &p))
            .unwrap_or_else(|| home.join(".aws/config"));
        let credentials_path = env
            .var("AWS_SHARED_CREDENTIALS_FILE")
            .filter(|v| !v.is_empty())
            .map(|p| expand_home(env, &p))
            .unwrap_or_else(|| home.join(".aws/credentials"));
        let read = |p: &PathBuf, config: bool| -> Result<_, KmsError> {
            match std::fs::read_to_string(p) {
                Ok(t) => Ok(parse_ini(&t, config)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
                Err(e) => Err(err(
                    KmsErrorKind::Credentials,
                    format!("could not read the AWS shared file {}: {e}", p.display()),
                )),
            }
        };
        let (name, named) = if !key_profile.is_empty() {
            (key_profile.to_string(), true)
        } else {
            match env.var("AWS_PROFILE").filter(|v| !v.is_empty()) {
                Some(p) => (p, true),
                None => ("default".to_string(), false),
            }
        };
        Ok(SharedConfig {
            config: read(&config_path, true)?,
            credentials: read(&credentials_path, false)?,
            name,
            named,
            config_path,
            credentials_path,
        })
    }

    pub(super) fn exists(&self, profile: &str) -> bool {
        self.config.contains_key(profile) || self.credentials.contains_key(profile)
    }

    fn get_in(&self, profile: &str, field: &str) -> Option<String> {
        self.credentials
            .get(profile)
            .and_then(|p| p.get(field))
            .or_else(|| self.config.get(profile).and_then(|p| p.get(field)))
            .filter(|v| !v.is_empty())
            .cloned()
    }

    pub(super) fn get(&self, field: &str) -> Option<String> {
        self.get_in(&self.name, field)
    }
}

/// An INI file as the AWS tools read it: `[section]` (in `config`, `[profile NAME]` and
/// `[default]`), `key = value`, `#`/`;` comments; indented lines (nested `s3 =` blocks)
/// are skipped.
fn parse_ini(text: &str, config: bool) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut out: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l.starts_with(';') {
            continue;
        }
        if let Some(sec) = l.strip_prefix('[').and_then(|s| s.split(']').next()) {
            let sec = sec.trim();
            current = if config {
                match sec.strip_prefix("profile ") {
                    Some(n) => Some(n.trim().to_string()),
                    None if sec == "default" => Some(sec.to_string()),
                    None => None, // sso-session, services: not profiles
                }
            } else {
                Some(sec.to_string())
            };
            if let Some(c) = &current {
                out.entry(c.clone()).or_default();
            }
            continue;
        }
        if let (Some(sec), Some((k, v))) = (&current, l.split_once('=')) {
            let v = v.trim();
            let v = match v.find(" #").or_else(|| v.find(" ;")) {
                Some(i) => v[..i].trim_end(),
                None => v,
            };
            out.entry(sec.clone())
                .or_default()
                .insert(k.trim().to_ascii_lowercase(), v.to_string());
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------------------

/// AWS credentials (zeroised on drop) and where they came from (for messages).
pub(super) struct Credentials {
    pub(super) access_key: String,
    pub(super) secret: Zeroizing<String>,
    pub(super) token: Option<Zeroizing<String>>,
}

pub(super) fn creds(access: String, secret: String, token: Option<String>) -> Credentials {
    Credentials {
        access_key: access,
        secret: Zeroizing::new(secret),
        token: token.filter(|t| !t.is_empty()).map(Zeroizing::new),
    }
}

pub(super) fn resolve_credentials(
    env: &dyn Env,
    shared: &SharedConfig,
    key_profile: &str,
    arn: &Arn,
    key: &str,
) -> Result<Credentials, KmsError> {
    if !key_profile.is_empty() {
        return from_profile(env, shared, key_profile, arn, key, 0)?
            .ok_or_else(|| no_profile(shared, key_profile, key));
    }
    let var = |n: &str| env.var(n).filter(|v| !v.is_empty());
    let access = var("AWS_ACCESS_KEY_ID").or_else(|| var("AWS_ACCESS_KEY"));
    let secret = var("AWS_SECRET_ACCESS_KEY").or_else(|| var("AWS_SECRET_KEY"));
    if let (Some(a), Some(s)) = (&access, &secret) {
        return Ok(creds(a.clone(), s.clone(), var("AWS_SESSION_TOKEN")));
    }
    if let (Some(file), Some(role)) = (var("AWS_WEB_IDENTITY_TOKEN_FILE"), var("AWS_ROLE_ARN")) {
        let sts = endpoint_for(env, shared, "STS", "sts", arn);
        let session = var("AWS_ROLE_SESSION_NAME").unwrap_or_else(session_name);
        return web_identity(&sts, &expand_home(env, &file), &role, &session, key);
    }
    if let Some(c) = from_profile(env, shared, &shared.name.clone(), arn, key, 0)? {
        return Ok(c);
    }
    if shared.named && !shared.exists(&shared.name) {
        return Err(no_profile(shared, &shared.name, key));
    }
    if let Some(c) = container_credentials(env, key)? {
        return Ok(c);
    }
    let disabled = env
        .var("AWS_EC2_METADATA_DISABLED")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let partial = match (&access, &secret) {
        (Some(_), None) => " (AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not)",
        (None, Some(_)) => " (AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not)",
        _ => "",
    };
    if disabled {
        return Err(err(
            KmsErrorKind::Credentials,
            format!(
                "no AWS credentials for KMS key {key}{partial}: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile in {} or {} \
                 (instance metadata is off: AWS_EC2_METADATA_DISABLED=true)",
                shared.credentials_path.display(),
                shared.config_path.display()
            ),
        ));
    }
    imds_credentials(env, key, partial, shared)
}

fn no_profile(shared: &SharedConfig, profile: &str, key: &str) -> KmsError {
    err(
        KmsErrorKind::Credentials,
        format!(
            "the AWS profile {profile:?} (for KMS key {key}) has no credentials in {} or {}: \
             check the profile name, or set aws_profile/AWS_PROFILE to one that exists",
            shared.credentials_path.display(),
            shared.config_path.display()
        ),
    )
}

/// Credentials of one shared-config profile: static keys, `role_arn` with
/// `source_profile` (or `credential_source = Environment`), or `credential_process`.
fn from_profile(
    env: &dyn Env,
    shared: &SharedConfig,
    profile: &str,
    arn: &Arn,
    key: &str,
    depth: u32,
) -> Result<Option<Credentials>, KmsError> {
    if depth > 5 {
        return Err(err(
            KmsErrorKind::Credentials,
            format!(
                "the AWS profile {profile:?} has a source_profile chain deeper than 5 (a loop?)"
            ),
        ));
    }
    let get = |f: &str| shared.get_in(profile, f);
    if let Some(role) = get("role_arn") {
        let base = if let Some(src) = get("source_profile") {
            if src == profile {
                match (get("aws_access_key_id"), get("aws_secret_access_key")) {
                    (Some(a), Some(s)) => creds(a, s, get("aws_session_token")),
                    _ => return Err(no_profile(shared, &src, key)),
                }
            } else {
                from_profile(env, shared, &src, arn, key, depth + 1)?
                    .ok_or_else(|| no_profile(shared, &src, key))?
            }
        } else if get("credential_source").as_deref() == Some("Environment") {
            match (
                env.var("AWS_ACCESS_KEY_ID"),
                env.var("AWS_SECRET_ACCESS_KEY"),
            ) {
                (Some(a), Some(s)) => creds(a, s, env.var("AWS_SESSION_TOKEN")),
                _ => {
                    return Err(err(
                        KmsErrorKind::Credentials,
                        format!(
                            "the AWS profile {profile:?} takes its source credentials from the \
                             environment, but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"
                        ),
                    ));
                }
            }
        } else if let Some(file) = get("web_identity_token_file") {
            let sts = endpoint_for(env, shared, "STS", "sts", arn);
            let session = get("role_session_name").unwrap_or_else(session_name);
            return web_identity(&sts, &expand_home(env, &file), &role, &session, key).map(Some);
        } else {
            return Err(err(
                KmsErrorKind::Credentials,
                format!(
                    "the AWS profile {profile:?} has role_arn but neither source_profile nor \
                     credential_source = Environment (seal does not read SSO or EC2 sources there)"
                ),
            ));
        };
        let sts = endpoint_for(env, shared, "STS", "sts", arn);
        return assume_role(&sts, &arn.region, &base, &role, key).map(Some);
    }
    if let (Some(a), Some(s)) = (get("aws_access_key_id"), get("aws_secret_access_key")) {
        return Ok(Some(creds(a, s, get("aws_session_token"))));
    }
    if let Some(cmd) = get("credential_process") {
        return credential_process(&cmd, profile).map(Some);
    }
    Ok(None)
}

/// Run a profile's `credential_process` and read its JSON (`Version` 1).
fn credential_process(cmd: &str, profile: &str) -> Result<Credentials, KmsError> {
    let fail = |why: String| {
        err(
            KmsErrorKind::Credentials,
            format!("the credential_process of AWS profile {profile:?} {why}"),
        )
    };
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| fail(format!("could not be run: {e}")))?;
    if !out.status.success() {
        return Err(fail(format!("exited with {}", out.status)));
    }
    let stdout = Zeroizing::new(out.stdout);
    let j: serde_json::Value =
        serde_json::from_slice(&stdout).map_err(|_| fail("did not print JSON".to_string()))?;
    let s = |k: &str| j.get(k).and_then(|v| v.as_str()).map(str::to_string);
    match (s("AccessKeyId"), s("SecretAccessKey")) {
        (Some(a), Some(k)) => Ok(creds(a, k, s("SessionToken"))),
        _ => Err(fail("printed no AccessKeyId/SecretAccessKey".to_string())),
    }
}

/// The STS session name sops uses: `sops@HOSTNAME`, the host name reduced to the characters
/// sops keeps, cut to 64 characters.
fn session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .unwrap_or_default();
    sanitize_session(host.trim())
}

pub(super) fn sanitize_session(host: &str) -> String {
    // sops's class [^a-zA-Z0-9=,.@-_] (where "@-_" is the range 0x40..=0x5F).
    let kept: String = host
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '=' | ',' | '.' | '@'..='_'))
        .collect();
    let mut name = format!("sops@{kept}");
    name.truncate(64);
    name
}

/// STS `AssumeRole` (signed with the base credentials).
pub(super) fn assume_role(
    sts: &str,
    region: &str,
    base: &Credentials,
    role: &str,
    key: &str,
) -> Result<Credentials, KmsError> {
    let body = form(&[
        ("Action", "AssumeRole"),
        ("RoleArn", role),
        ("RoleSessionName", &session_name()),
        ("Version", "2011-06-15"),
    ]);
    let headers = [(
        "content-type",
        "application/x-www-form-urlencoded; charset=utf-8".to_string(),
    )];
    let resp = signed_post(
        "AWS STS",
        sts,
        region,
        "sts",
        base,
        &headers,
        body.as_bytes(),
    )
    .map_err(|e| {
        err(
            KmsErrorKind::Transport,
            format!("{e} (assuming role {role} for {key})"),
        )
    })?;
    sts_credentials(&resp, sts, "AssumeRole", role, key)
}

/// STS `AssumeRoleWithWebIdentity` (unsigned; the token file proves the identity).
fn web_identity(
    sts: &str,
    token_file: &std::path::Path,
    role: &str,
    session: &str,
    key: &str,
) -> Result<Credentials, KmsError> {
    let token = Zeroizing::new(std::fs::read_to_string(token_file).map_err(|e| {
        err(
            KmsErrorKind::Credentials,
            format!(
                "could not read the web identity token file {} (AWS_WEB_IDENTITY_TOKEN_FILE): {e}",
                token_file.display()
            ),
        )
    })?);
    let body = Zeroizing::new(form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("RoleArn", role),
        ("RoleSessionName", session),
        ("Version", "2011-06-15"),
        ("WebIdentityToken", token.trim()),
    ]));
    let resp = http::post(
        "AWS STS",
        &format!("{sts}/"),
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
        body.as_bytes(),
        http::Options::default(),
    )
    .map_err(|e| {
        err(
            KmsErrorKind::Transport,
            format!("{e} (web identity for {key})"),
        )
    })?;
    sts_credentials(&resp, sts, "AssumeRoleWithWebIdentity", role, key)
}

fn sts_credentials(
    resp: &http::Response,
    sts: &str,
    action: &str,
    role: &str,
    key: &str,
) -> Result<Credentials, KmsError> {
    let body = Zeroizing::new(String::from_utf8_lossy(&resp.body).into_owned());
    let tag = |t: &str| xml_tag(&body, t);
    if let (200, Some(a), Some(s)) = (resp.status, tag("AccessKeyId"), tag("SecretAccessKey")) {
        return Ok(creds(a, s, tag("SessionToken")));
    }
    let code = tag("Code").unwrap_or_else(|| format!("HTTP {}", resp.status));
    let msg = tag("Message")
        .map(|m| format!(": {}", one_line(&m)))
        .unwrap_or_default();
    Err(err(
        KmsErrorKind::Credentials,
        format!(
            "AWS STS at {} refused {action} for role {role} (KMS key {key}): {code}{msg}; check \
             the role ARN and that the base credentials may assume it",
            http::origin(sts)
        ),
    ))
}

fn xml_tag(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&close)? + start;
    Some(
        body[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

/// The ECS/EKS container credentials endpoint (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or
/// `…_RELATIVE_URI`), when set.
fn container_credentials(env: &dyn Env, key: &str) -> Result<Option<Credentials>, KmsError> {
    let var = |n: &str| env.var(n).filter(|v| !v.is_empty());
    let url = match (
        var("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
        var("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
    ) {
        (Some(rel), _) => format!("http://169.254.170.2{rel}"),
        (None, Some(full)) => full,
        (None, None) => return Ok(None),
    };
    let token = match var("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(f) => std::fs::read_to_string(&f)
            .ok()
            .map(|t| t.trim().to_string()),
        None => var("AWS_CONTAINER_AUTHORIZATION_TOKEN"),
    }
    .map(Zeroizing::new);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(t) = &token {
        headers.push(("authorization", t.as_str()));
    }
    let opts = http::Options {
        timeout: Duration::from_secs(2),
        attempts: 2,
    };
    let resp = http::send(
        "the container credentials endpoint",
        "GET",
        &url,
        &headers,
        None,
        opts,
    )
    .map_err(|e| {
        err(
            KmsErrorKind::Credentials,
            format!("{e} (credentials for KMS key {key})"),
        )
    })?;
    json_credentials(&resp, "the container credentials endpoint", key).map(Some)
}

fn json_credentials(resp: &http::Response, what: &str, key: &str) -> Result<Credentials, KmsError> {
    let j: Option<serde_json::Value> = serde_json::from_slice(&resp.body).ok();
    let s = |k: &str| {
        j.as_ref()
            .and_then(|j| j.get(k))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    match (resp.status, s("AccessKeyId"), s("SecretAccessKey")) {
        (200, Some(a), Some(k)) => Ok(creds(a, k, s("Token"))),
        (status, ..) => Err(err(
            KmsErrorKind::Credentials,
            format!("{what} answered HTTP {status} without credentials (KMS key {key})"),
        )),
    }
}

/// EC2 instance metadata (IMDSv2), with a one-second timeout and no retry: used only when
/// nothing else gave credentials and `AWS_EC2_METADATA_DISABLED` is not `true`.
fn imds_credentials(
    env: &dyn Env,
    key: &str,
    partial: &str,
    shared: &SharedConfig,
) -> Result<Credentials, KmsError> {
    let base = env
        .var("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "http://169.254.169.254".to_string());
    let base = base.trim_end_matches('/');
    let opts = http::Options {
        timeout: Duration::from_secs(1),
        attempts: 1,
    };
    let none = |why: String| {
        err(
            KmsErrorKind::Credentials,
            format!(
                "no AWS credentials for KMS key {key}{partial}: set AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or AWS_PROFILE naming a profile in {} or {}; instance \
                 metadata gave none ({why}; AWS_EC2_METADATA_DISABLED=true skips it)",
                shared.credentials_path.display(),
                shared.config_path.display()
            ),
        )
    };
    const SVC: &str = "instance metadata";
    let tok = http::send(
        SVC,
        "PUT",
        &format!("{base}/latest/api/token"),
        &[("x-aws-ec2-metadata-token-ttl-seconds", "300")],
        Some(b""),
        opts,
    )
    .map_err(|e| none(e.message))?;
    if tok.status != 200 {
        return Err(none(format!("token request answered HTTP {}", tok.status)));
    }
    let token = Zeroizing::new(String::from_utf8_lossy(&tok.body).trim().to_string());
    let h = [("x-aws-ec2-metadata-token", token.as_str())];
    let list = http::send(
        SVC,
        "GET",
        &format!("{base}/latest/meta-data/iam/security-credentials/"),
        &h,
        None,
        opts,
    )
    .map_err(|e| none(e.message))?;
    let role = String::from_utf8_lossy(&list.body)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if list.status != 200 || role.is_empty() || role.contains('/') {
        return Err(none("no instance role".to_string()));
    }
    let resp = http::send(
        SVC,
        "GET",
        &format!("{base}/latest/meta-data/iam/security-credentials/{role}"),
        &h,
        None,
        opts,
    )
    .map_err(|e| none(e.message))?;
    json_credentials(&resp, "instance metadata", key)
}
