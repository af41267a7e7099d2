//! Built-in ExternalSecret presets: keys specs (the format of
//! [`crate::k8s::external_secret::KeySpec`]) for apps whose secrets are tedious to write
//! by hand. `plane` follows the home-ops conventions: fields named `PLANE_<KEY>` in the
//! app's password-manager item, the CloudNativePG superuser password from the
//! `cloudnative-pg` item (for the postgres init container) and the S3 credentials from
//! the `rook-ceph` item.

/// The presets: name and keys spec text.
pub const PRESETS: &[(&str, &str)] = &[("plane", PLANE)];

/// The keys spec of a preset.
pub fn preset(name: &str) -> Option<&'static str> {
    PRESETS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The names of the presets, for messages.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|(n, _)| *n).collect()
}

/// Plane (plane-ce): database, Redis, object storage, runtime secrets, optional
/// integrations. 150 MiB upload limit = 157286400 bytes.
pub const PLANE: &str = r#"app: plane
prefix: PLANE_
extracts:
  - key: cloudnative-pg
    comment: POSTGRES_SUPER_PASS (CloudNativePG superuser) for the postgres init container
  - key: rook-ceph
    comment: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY of the rook-ceph object store user
groups:
  - title: "Database (CloudNativePG): Plane's role and database, created by the init container"
    keys:
      - {key: postgres_db, default: plane, anchor: db_name}
      - {key: postgres_host, default: postgres-rw.database.svc.cluster.local, anchor: db_host}
      - {key: postgres_user, anchor: db_user}
      - {key: postgres_password, anchor: db_pass, hint: openssl rand -hex 24}
      - key: database_url
        value: "postgresql://{{ .PLANE_POSTGRES_USER }}:{{ .PLANE_POSTGRES_PASSWORD }}@postgres-rw.database.svc.cluster.local:5432/plane"
      - {name: INIT_POSTGRES_DBNAME, alias: db_name}
      - {name: INIT_POSTGRES_HOST, alias: db_host}
      - {name: INIT_POSTGRES_USER, alias: db_user}
      - {name: INIT_POSTGRES_PASS, alias: db_pass}
      - {name: INIT_POSTGRES_SUPER_PASS, field: POSTGRES_SUPER_PASS, item: cloudnative-pg}
  - title: "Redis (Dragonfly or Redis): cache and task queue"
    keys:
      - {key: redis_url, default: "redis://dragonfly.database.svc.cluster.local:6379"}
  - title: "Object storage (rook-ceph S3): uploads and the document store"
    keys:
      - {key: use_minio, default: "0"}
      - {key: aws_access_key_id, field: AWS_ACCESS_KEY_ID, item: rook-ceph}
      - {key: aws_secret_access_key, field: AWS_SECRET_ACCESS_KEY, item: rook-ceph}
      - {key: aws_s3_endpoint_url, default: "http://rook-ceph-rgw-ceph-objectstore.rook-ceph.svc.cluster.local"}
      - {key: aws_region, default: us-east-1}
      - {key: docstore_bucket, default: plane, anchor: bucket}
      - {key: aws_s3_bucket_name, alias: bucket}
      - {key: doc_upload_size_limit, default: "157286400", hint: 150 MiB in bytes}
  - title: "Runtime secrets and URLs (override the ${SECRET_DOMAIN} defaults later if needed)"
    keys:
      - {key: secret_key, hint: openssl rand -hex 32}
      - {key: live_server_secret_key, hint: openssl rand -hex 32}
      - {key: next_public_deploy_url, default: "https://plane.${SECRET_DOMAIN}", anchor: url}
      - {key: web_url, alias: url}
      - {key: cors_allowed_origins, alias: url}
  - title: "Optional integrations: uncomment and add the fields to the plane item"
    keys:
      - {key: email_host, optional: true}
      - {key: email_host_user, optional: true}
      - {key: email_host_password, optional: true}
      - {key: email_port, optional: true}
      - {key: email_from, optional: true}
      - {key: github_client_id, optional: true}
      - {key: github_client_secret, optional: true}
      - {key: google_client_id, optional: true}
      - {key: google_client_secret, optional: true}
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::k8s::external_secret::{KeySpec, Source};

    #[test]
    fn plane_preset_parses_with_the_expected_conventions() {
        let p = crate::stores::Format::Yaml
            .store()
            .load_plain(PLANE.as_bytes())
            .unwrap();
        let spec = KeySpec::from_tree(&p.docs[0]).unwrap();
        assert_eq!(spec.app.as_deref(), Some("plane"));
        let groups = spec.resolve_groups("PLANE_");
        assert_eq!(groups.len(), 5);
        let all: Vec<_> = groups.iter().flat_map(|g| &g.entries).collect();
        let get = |n: &str| {
            all.iter()
                .find(|e| e.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert_eq!(
            get("PLANE_SECRET_KEY").hint.as_deref(),
            Some("openssl rand -hex 32")
        );
        assert_eq!(
            get("PLANE_LIVE_SERVER_SECRET_KEY").hint.as_deref(),
            Some("openssl rand -hex 32")
        );
        assert_eq!(
            get("PLANE_DOC_UPLOAD_SIZE_LIMIT").source,
            Source::Literal((150u64 << 20).to_string())
        );
        assert_eq!(
            get("PLANE_NEXT_PUBLIC_DEPLOY_URL").source,
            Source::Literal("https://plane.${SECRET_DOMAIN}".into())
        );
        assert_eq!(
            get("PLANE_CORS_ALLOWED_ORIGINS").source,
            Source::Alias("url".into())
        );
        assert!(all.iter().any(|e| e.name == "PLANE_DOCSTORE_BUCKET"));
        assert_eq!(
            get("INIT_POSTGRES_SUPER_PASS").source,
            Source::Field("POSTGRES_SUPER_PASS".into())
        );
        assert!(preset("nope").is_none());
    }
}
