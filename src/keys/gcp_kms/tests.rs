use super::*;
use crate::keys::{KeyError, KeyType as _};
use crate::metadata::KeyGroup;
use std::path::PathBuf;

struct MapEnv(Vec<(&'static str, String)>, Option<PathBuf>);
impl Env for MapEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
    }
    fn home(&self) -> Option<PathBuf> {
        self.1.clone()
    }
}

const ID: &str = "projects/p/locations/global/keyRings/r/cryptoKeys/k";

#[test]
fn resource_ids_are_checked_as_sops_checks_them() {
    assert!(GcpKey::new(ID).check().is_ok());
    assert_eq!(
        GcpKey::new(" projects/p/locations/global/keyRings/r/cryptoKeys/k ").resource_id,
        ID
    );
    for bad in [
        "projects/p/locations/global/keyRings/r",
        "projects//locations/global/keyRings/r/cryptoKeys/k",
        "projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1",
        "project/p/locations/global/keyRings/r/cryptoKeys/k",
        "",
    ] {
        let e = GcpKey::new(bad).check().unwrap_err();
        assert_eq!(e.kind, GcpErrorKind::BadKey, "{bad}");
        assert!(e.message.contains("resource ID"), "{e}");
    }
    let list = parse_id_list(&format!("{ID},,{ID}2"));
    assert_eq!(list.len(), 2);
    assert_eq!(
        flag_recipients(&[format!("{ID}, {ID}x")]),
        [ID.to_string(), format!("{ID}x")]
    );
}

#[test]
fn entries_round_trip_in_sops_order() {
    let k = GcpKey {
        resource_id: ID.into(),
        created_at: "2024-01-01T00:00:00Z".into(),
        enc: "CiQAabc=".into(),
    };
    let v = entry_value(&k);
    assert_eq!(entries(std::slice::from_ref(&v)).unwrap(), vec![k]);
    let Value::Branch(b) = v else { panic!() };
    let names: Vec<&str> = b
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Pair(k, _) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["resource_id", "created_at", "enc"]);
    let no_enc = Value::Branch(Branch {
        items: vec![Item::Pair("resource_id".into(), Value::Str(ID.into()))],
    });
    assert!(entries(&[no_enc]).unwrap_err().contains("enc"));
}

#[test]
fn the_endpoint_follows_sops_and_the_go_client() {
    let env = |v: Vec<(&'static str, &str)>| {
        MapEnv(
            v.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
            None,
        )
    };
    assert_eq!(endpoint(&env(vec![])), "https://cloudkms.googleapis.com");
    assert_eq!(
        endpoint(&env(vec![("SOPS_GCP_KMS_ENDPOINT", "http://127.0.0.1:9/")])),
        "http://127.0.0.1:9"
    );
    assert_eq!(
        endpoint(&env(vec![(
            "SOPS_GCP_KMS_ENDPOINT",
            "cloudkms.s3nsapis.fr:443"
        )])),
        "https://cloudkms.s3nsapis.fr:443"
    );
    assert_eq!(
        endpoint(&env(vec![("GOOGLE_CLOUD_UNIVERSE_DOMAIN", "example.eu")])),
        "https://cloudkms.example.eu"
    );
    assert_eq!(
        endpoint(&env(vec![
            ("SOPS_GCP_KMS_UNIVERSE_DOMAIN", "a.example"),
            ("GOOGLE_CLOUD_UNIVERSE_DOMAIN", "b.example")
        ])),
        "https://cloudkms.a.example"
    );
    assert_eq!(
        GcpKey::new(ID).url("decrypt", &env(vec![])),
        format!("https://cloudkms.googleapis.com/v1/{ID}:decrypt")
    );
}

#[test]
fn a_signed_jwt_verifies_with_the_service_accounts_public_key() {
    use rsa::pkcs8::EncodePrivateKey as _;
    use rsa::signature::Verifier as _;
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
    let pem = key.to_pkcs8_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    let jwt = auth::signed_jwt("sa@p.iam", "kid1", &pem, "http://t/token", 1000).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as U;
    let header: serde_json::Value = serde_json::from_slice(&U.decode(parts[0]).unwrap()).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&U.decode(parts[1]).unwrap()).unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], "kid1");
    assert_eq!(claims["iss"], "sa@p.iam");
    assert_eq!(claims["aud"], "http://t/token");
    assert_eq!(claims["exp"], 4600);
    assert!(claims["scope"].as_str().unwrap().contains("cloudkms"));
    let verifier = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key.to_public_key());
    let sig = rsa::pkcs1v15::Signature::try_from(U.decode(parts[2]).unwrap().as_slice()).unwrap();
    verifier
        .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .unwrap();
    assert!(auth::signed_jwt("e", "", "not a key", "u", 0).is_err());
}

#[test]
fn credentials_are_found_in_sops_order_and_never_shown() {
    let d = tempfile::tempdir().unwrap();
    // GOOGLE_CREDENTIALS (JSON text) wins over the access token; an unsupported type is named.
    let env = MapEnv(
        vec![
            (
                "GOOGLE_CREDENTIALS",
                r#"{"type":"external_account"}"#.into(),
            ),
            ("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.secret".into()),
        ],
        Some(d.path().into()),
    );
    let e = auth::access_token(&env).unwrap_err();
    assert_eq!(e.kind, GcpErrorKind::Credentials);
    assert!(e.message.contains("external_account"), "{e}");
    assert!(!e.message.contains("ya29.secret"), "{e}");
    // Then the access token, as it is.
    let env = MapEnv(
        vec![("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.secret".into())],
        Some(d.path().into()),
    );
    assert_eq!(auth::access_token(&env).unwrap().as_str(), "ya29.secret");
    // A missing GOOGLE_APPLICATION_CREDENTIALS file is an error naming it.
    let env = MapEnv(
        vec![(
            "GOOGLE_APPLICATION_CREDENTIALS",
            d.path().join("nope.json").display().to_string(),
        )],
        Some(d.path().into()),
    );
    let e = auth::access_token(&env).unwrap_err();
    assert!(e.message.contains("GOOGLE_APPLICATION_CREDENTIALS"), "{e}");
    // gcloud's file with a private key that is not one: named, the key not shown.
    let gcloud = d.path().join(".config/gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::write(
        gcloud.join("application_default_credentials.json"),
        r#"{"type":"service_account","client_email":"e","private_key":"SECRETKEY"}"#,
    )
    .unwrap();
    let e = auth::access_token(&MapEnv(vec![], Some(d.path().into()))).unwrap_err();
    assert!(
        e.message.contains("application_default_credentials.json"),
        "{e}"
    );
    assert!(!e.message.contains("SECRETKEY"), "{e}");
}

#[test]
fn no_credentials_ask_the_metadata_server_once_and_say_what_to_set() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    let d = tempfile::tempdir().unwrap();
    let env = MapEnv(
        vec![("GCE_METADATA_HOST", format!("127.0.0.1:{port}"))],
        Some(d.path().into()),
    );
    let t = std::time::Instant::now();
    let e = decrypt(
        &GcpKey {
            enc: "AAAA".into(),
            ..GcpKey::new(ID)
        },
        &env,
    )
    .unwrap_err();
    assert_eq!(e.kind, GcpErrorKind::Credentials, "{e}");
    for word in [
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_OAUTH_ACCESS_TOKEN",
        "metadata server",
        ID,
    ] {
        assert!(e.message.contains(word), "{word}: {e}");
    }
    assert!(t.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn as_a_key_type_names_checks_and_reads_rules() {
    let t = &GCP;
    let k = GcpKey {
        enc: "CiQA".into(),
        created_at: "2024-01-01T00:00:00Z".into(),
        ..GcpKey::new(ID)
    };
    let group = KeyGroup {
        age: vec![],
        other: vec![(TYPE.into(), vec![entry_value(&k)])],
    };
    assert_eq!(t.recipients(&group), [ID]);
    assert_eq!(t.describe(&group), [format!("GCP KMS {ID}")]);
    assert!(t.claims(ID) && !t.claims("arn:aws:kms:x") && !t.claims("age1x"));
    assert!(matches!(
        t.check("projects/p/keyRings/r"),
        Err(KeyError::BadRecipient { .. })
    ));
    assert_eq!(crate::keys::type_of(ID).name(), TYPE);
    let s = |v: &str| Value::Str(v.into());
    let flat = Branch {
        items: vec![Item::Pair(TYPE.into(), s(&format!("{ID},{ID}2")))],
    };
    assert_eq!(
        t.rule_recipients(&flat, true, "r").unwrap(),
        [ID.to_string(), format!("{ID}2")]
    );
    let group_rule = Branch {
        items: vec![Item::Pair(
            TYPE.into(),
            Value::List(vec![Value::Branch(Branch {
                items: vec![Item::Pair("resource_id".into(), s(ID))],
            })]),
        )],
    };
    assert_eq!(t.rule_recipients(&group_rule, false, "g").unwrap(), [ID]);
    let bad = Branch {
        items: vec![Item::Pair(TYPE.into(), s(ID))],
    };
    assert!(
        t.rule_recipients(&bad, false, "g")
            .unwrap_err()
            .contains("list")
    );
}
