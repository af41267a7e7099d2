use std::path::PathBuf;

use super::*;
use crate::keys::KeyType as _;
use crate::metadata::KeyGroup;

const ID: &str = "tr-west-1:0b7e1c4a-1111-2222-3333-444455556666";

/// Exactly these variables and this HOME.
struct TestEnv(Vec<(&'static str, String)>, Option<PathBuf>);

impl Env for TestEnv {
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

#[test]
fn key_ids_parse_with_sops_rules_and_messages() {
    let k = HcKey::parse(ID).unwrap();
    assert_eq!(k.region, "tr-west-1");
    assert_eq!(k.uuid, "0b7e1c4a-1111-2222-3333-444455556666");
    assert_eq!(k.key_id, ID);
    let spaced = HcKey::parse("tr-west-1 : abc").unwrap();
    assert_eq!(
        (spaced.region.as_str(), spaced.uuid.as_str()),
        ("tr-west-1", "abc")
    );
    assert_eq!(spaced.key_id, "tr-west-1 : abc");
    assert_eq!(
        HcKey::parse("no-colon").unwrap_err(),
        "invalid key ID format: expected 'region:key-uuid', got \"no-colon\""
    );
    assert_eq!(
        HcKey::parse(" :abc").unwrap_err(),
        "region cannot be empty in key ID: \":abc\""
    );
    assert_eq!(
        HcKey::parse("r: ").unwrap_err(),
        "key UUID cannot be empty in key ID: \"r:\""
    );
    // The UUID keeps any further colon, as sops's SplitN(…, 2).
    assert_eq!(HcKey::parse("r:a:b").unwrap().uuid, "a:b");
}

#[test]
fn recipients_are_claimed_apart_from_the_other_types() {
    assert!(HcKey::claims(ID));
    assert!(HcKey::claims("r:k"));
    for other in [
        "age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq",
        "pgp:ABCDEF",
        "arn:aws:kms:eu-west-1:1:key/k",
        "https://v.vault.azure.net/keys/k/1",
        "projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "ssh-ed25519 AAAAC3Nz user@host:x",
    ] {
        assert!(!HcKey::claims(other), "{other}");
    }
    assert_eq!(crate::keys::type_of(ID).name(), TYPE);
    assert_eq!(crate::keys::type_of("pgp:ABCDEF").name(), "pgp");
    assert_eq!(
        crate::keys::type_of("arn:aws:kms:eu-west-1:1:key/k").name(),
        "kms"
    );
    assert_eq!(
        flag_recipients(&[format!(" {ID} ,, r:k"), "x:y".into()], "--hckms").unwrap(),
        [ID, "r:k", "x:y"]
    );
    assert_eq!(
        flag_recipients(&["r:k,nope".into()], "--hckms").unwrap_err(),
        "--hckms: invalid key ID format: expected 'region:key-uuid', got \"nope\""
    );
}

#[test]
fn entries_round_trip_in_sops_field_order_and_rules_read_both_forms() {
    let k = HcKey {
        enc: "AAAAopaque==".into(),
        created_at: "2024-01-01T00:00:00Z".into(),
        ..HcKey::parse(ID).unwrap()
    };
    let v = entry_value(&k);
    let Value::Branch(b) = &v else { panic!() };
    let names: Vec<&str> = b
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Pair(k, _) => Some(k.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["key_id", "created_at", "enc"]);
    assert_eq!(entries(std::slice::from_ref(&v)).unwrap(), vec![k.clone()]);
    let group = KeyGroup {
        age: vec![],
        other: vec![(TYPE.into(), vec![v])],
    };
    assert_eq!(HCKMS.recipients(&group), [ID]);
    assert_eq!(HCKMS.describe(&group), [format!("HuaweiCloud KMS {ID}")]);
    let s = |v: &str| Value::Str(v.into());
    let flat = Branch {
        items: vec![Item::Pair(
            TYPE.into(),
            Value::List(vec![s(ID), s("r:k, r:j")]),
        )],
    };
    assert_eq!(
        HCKMS.rule_recipients(&flat, true, "r").unwrap(),
        [ID, "r:k", "r:j"]
    );
    let grouped = Branch {
        items: vec![Item::Pair(
            TYPE.into(),
            Value::List(vec![Value::Branch(Branch {
                items: vec![Item::Pair("key_id".into(), s(ID))],
            })]),
        )],
    };
    assert_eq!(HCKMS.rule_recipients(&grouped, false, "g").unwrap(), [ID]);
    let bad = Branch {
        items: vec![Item::Pair(TYPE.into(), s(ID))],
    };
    assert!(HCKMS.rule_recipients(&bad, false, "g").is_err());
    let no_id = Value::Branch(Branch {
        items: vec![Item::Pair("enc".into(), s("x"))],
    });
    assert_eq!(
        entries(&[no_id]).unwrap_err(),
        "hckms entry 1 has no string \"key_id\""
    );
}

#[test]
fn endpoints_come_from_the_environment_the_regions_file_then_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let home = Some(dir.path().to_path_buf());
    let env = |vars: Vec<(&'static str, String)>| TestEnv(vars, home.clone());
    assert_eq!(
        endpoints("tr-west-1", &env(vec![])).unwrap(),
        ["https://kms.tr-west-1.myhuaweicloud.com"]
    );
    assert_eq!(
        endpoints("eu-west-101", &env(vec![])).unwrap(),
        ["https://kms.eu-west-101.myhuaweicloud.eu"]
    );
    assert!(
        REGIONS.windows(2).all(|w| w[0].0 < w[1].0),
        "sorted, no duplicate"
    );
    let e = endpoints("xx-nowhere-1", &env(vec![])).unwrap_err();
    assert!(e.contains("HUAWEICLOUD_SDK_REGION_KMS_XX_NOWHERE_1"), "{e}");
    let v = env(vec![(
        "HUAWEICLOUD_SDK_REGION_KMS_XX_NOWHERE_1",
        "http://127.0.0.1:1/, https://b".into(),
    )]);
    assert_eq!(
        endpoints("xx-nowhere-1", &v).unwrap(),
        ["http://127.0.0.1:1", "https://b"]
    );
    let v = env(vec![(
        "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
        "http://kms.example.com".into(),
    )]);
    let e = endpoints("tr-west-1", &v).unwrap_err();
    assert!(e.contains("not loopback"), "{e}");
    // The regions file: ~/.huaweicloud/regions.yaml, or the one the variable names.
    std::fs::create_dir_all(dir.path().join(".huaweicloud")).unwrap();
    std::fs::write(
        dir.path().join(".huaweicloud/regions.yaml"),
        "ECS:\n  - id: tr-west-1\n    endpoint: https://ecs\nkms:\n  - id: tr-west-1\n    endpoint: https://kms.local\n    endpoints:\n      - http://[::1]:8443\n",
    )
    .unwrap();
    assert_eq!(
        endpoints("tr-west-1", &env(vec![])).unwrap(),
        ["https://kms.local", "http://[::1]:8443"]
    );
    let other = dir.path().join("r.yaml");
    std::fs::write(
        &other,
        "KMS:\n  - id: ap-southeast-1\n    endpoint: https://x\n",
    )
    .unwrap();
    let v = env(vec![(
        "HUAWEICLOUD_SDK_REGIONS_FILE",
        other.display().to_string(),
    )]);
    assert_eq!(
        endpoints("tr-west-1", &v).unwrap(),
        ["https://kms.tr-west-1.myhuaweicloud.com"]
    );
    assert_eq!(endpoints("ap-southeast-1", &v).unwrap(), ["https://x"]);
    std::fs::write(&other, "KMS: [\n").unwrap();
    assert!(
        endpoints("tr-west-1", &v)
            .unwrap_err()
            .contains("not valid YAML")
    );
}

#[test]
fn credentials_come_from_the_environment_then_the_profile_file() {
    let dir = tempfile::tempdir().unwrap();
    let home = Some(dir.path().to_path_buf());
    let env = |vars: Vec<(&'static str, String)>| TestEnv(vars, home.clone());
    let c = auth::credentials(
        &env(vec![
            ("HUAWEICLOUD_SDK_AK", "AK1".into()),
            ("HUAWEICLOUD_SDK_SK", "sk-secret".into()),
            ("HUAWEICLOUD_SDK_PROJECT_ID", "p1".into()),
            ("HUAWEICLOUD_SDK_SECURITY_TOKEN", "tok-secret".into()),
        ]),
        "k",
    )
    .unwrap();
    assert_eq!(
        (c.ak.as_str(), c.project_id.as_deref()),
        ("AK1", Some("p1"))
    );
    assert_eq!(
        c.security_token.as_deref().map(|t| t.as_str()),
        Some("tok-secret")
    );
    assert!(!format!("{c:?}").contains("secret"));
    // Without a project: none (looked up through IAM when a request needs it).
    let c = auth::credentials(
        &env(vec![
            ("HUAWEICLOUD_SDK_AK", "AK1".into()),
            ("HUAWEICLOUD_SDK_SK", "sk-secret".into()),
        ]),
        "k",
    )
    .unwrap();
    assert_eq!(c.project_id, None);
    // Nothing at all.
    let e = auth::credentials(&env(vec![("HUAWEICLOUD_SDK_AK", "AK1".into())]), "k").unwrap_err();
    assert!(
        e.contains("no HuaweiCloud credentials") && e.contains("metadata"),
        "{e}"
    );
    // The profile file.
    std::fs::create_dir_all(dir.path().join(".huaweicloud")).unwrap();
    std::fs::write(
        dir.path().join(".huaweicloud/credentials"),
        "[basic]\nak = AK2\nsk = sk2-secret\nproject_id = p2\niam_endpoint = iam.local\n",
    )
    .unwrap();
    let c = auth::credentials(&env(vec![]), "k").unwrap();
    assert_eq!(
        (c.ak.as_str(), c.project_id.as_deref()),
        ("AK2", Some("p2"))
    );
    assert!(c.security_token.is_none());
    assert_eq!(c.iam_endpoint.as_deref(), Some("iam.local"));
    // The IAM endpoint: the profile's first (https:// added), the variable, the table.
    assert_eq!(
        iam_endpoint("tr-west-1", &c, &env(vec![])),
        "https://iam.local"
    );
    let c = auth::Credentials {
        iam_endpoint: None,
        ..c
    };
    let v = env(vec![(
        "HUAWEICLOUD_SDK_IAM_ENDPOINT",
        "https://iam.x/".into(),
    )]);
    assert_eq!(iam_endpoint("tr-west-1", &c, &v), "https://iam.x");
    assert_eq!(
        iam_endpoint("tr-west-1", &c, &env(vec![])),
        "https://iam.tr-west-1.myhuaweicloud.com"
    );
    assert_eq!(
        iam_endpoint("xx-nowhere-1", &c, &env(vec![])),
        "https://iam.myhuaweicloud.com"
    );
    let other = dir.path().join("creds");
    std::fs::write(&other, "[basic]\nak = AK3\n").unwrap();
    let e = auth::credentials(
        &env(vec![(
            "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
            other.display().to_string(),
        )]),
        "k",
    )
    .unwrap_err();
    assert!(e.contains("no ak and sk"), "{e}");
}

#[test]
fn no_credentials_fail_before_any_connection() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    l.set_nonblocking(true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = TestEnv(
        vec![(
            "HUAWEICLOUD_SDK_REGION_KMS_TR_WEST_1",
            format!("http://127.0.0.1:{port}"),
        )],
        Some(dir.path().to_path_buf()),
    );
    let k = HcKey {
        enc: "opaque".into(),
        ..HcKey::parse(ID).unwrap()
    };
    let e = decrypt(&k, &env).unwrap_err();
    assert!(e.contains("no HuaweiCloud credentials"), "{e}");
    assert!(l.accept().is_err(), "a connection was made");
}

#[test]
fn refusals_name_the_service_code_and_a_hint() {
    let k = HcKey::parse(ID).unwrap();
    let apigw = serde_json::json!({"error_code": "APIGW.0301", "error_msg": "Incorrect IAM authentication information: verify aksk signature fail", "request_id": "r"});
    let with = format!("with {}", k.key_id);
    let m = refusal(
        "HuaweiCloud KMS",
        "https://kms.tr-west-1.myhuaweicloud.com/v1.0/p/kms/decrypt-data",
        "decrypt-data",
        &with,
        401,
        Some(&apigw),
    );
    assert!(m.contains("HTTP 401 APIGW.0301: Incorrect IAM"), "{m}");
    assert!(
        m.contains("https://kms.tr-west-1.myhuaweicloud.com refused decrypt-data"),
        "{m}"
    );
    let kms = serde_json::json!({"error": {"error_code": "KMS.0205", "error_msg": "The key does not exist."}});
    let m = refusal(
        "HuaweiCloud KMS",
        "https://h/x",
        "encrypt-data",
        &with,
        404,
        Some(&kms),
    );
    assert!(
        m.contains("KMS.0205: The key does not exist.") && m.contains("region and UUID"),
        "{m}"
    );
    assert_eq!(
        url_path("http://127.0.0.1:9/v1.0/p/kms/x?y"),
        "/v1.0/p/kms/x"
    );
}
