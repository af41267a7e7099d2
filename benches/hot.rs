//! Criterion benches for the hot inner functions: AES-GCM per value (encrypt and decrypt
//! walks), the MAC, YAML parse and emit (layout-preserving and canonical), and the
//! `seal check` scanner on one file, and wrapping/unwrapping a data key for X25519 and
//! post-quantum age recipients. Whole-process comparisons with sops and the scanners
//! are in `bench/compare.sh`; these isolate where the time per value or per file goes.
//! Run: `cargo bench --bench hot` (add `-- <filter>` for one group).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

use seal::check::scan::{FileContext, scan};
use seal::cipher::{DataKey, WalkRules, decrypt_docs, decrypt_mac, encrypt_docs, encrypt_mac};
use seal::rules::{KUBERNETES_REGEX, Selector};
use seal::stores::{EmitOptions, Format};

/// A Secret with `n` keys of 48 pseudo-random alphanumerics (the same shape as
/// bench/compare.py's workloads).
fn secret(n: usize) -> String {
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut out = String::from(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bench\n  namespace: default\ntype: Opaque\nstringData:\n",
    );
    for i in 0..n {
        out.push_str(&format!("  KEY_{i:05}: "));
        for _ in 0..48 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            out.push(char::from(alphabet[(x % 62) as usize]));
        }
        out.push('\n');
    }
    out
}

fn selector() -> Selector {
    Selector::from_field("encrypted_regex", KUBERNETES_REGEX).expect("a valid constant regex")
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
  namespace: team-1
  labels:
    app.kubernetes.io/name: app
spec:
  replicas: 2
  selector:
    matchLabels:
      app.kubernetes.io/name: app
  template:
    metadata:
      labels:
        app.kubernetes.io/name: app
    spec:
      containers:
        - name: app
          image: registry.example.com/team/app:1.2.3
          ports:
            - containerPort: 8080
          env:
            - name: DATABASE_PASSWORD
              valueFrom:
                secretKeyRef:
                  name: db
                  key: password
";

/// AES-256-GCM with the 32-byte nonce, per value: the encrypt and decrypt walks over a
/// Secret of 1,000 values (MAC included, as in the commands).
fn cipher(c: &mut Criterion) {
    let store = Format::Yaml.store();
    let parsed = store
        .load_plain(secret(1000).as_bytes())
        .expect("the generated Secret parses");
    let key = DataKey::from_slice(&[7u8; 32]).expect("32 bytes");
    let sel = selector();
    let rules = WalkRules {
        selector: &sel,
        mac_only_encrypted: false,
    };
    let mut enc = parsed.docs.clone();
    encrypt_docs(&mut enc, &key, &rules, None).expect("encrypts");

    let mut g = c.benchmark_group("cipher");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("encrypt 1,000 values", |b| {
        b.iter_batched(
            || parsed.docs.clone(),
            |mut docs| encrypt_docs(black_box(&mut docs), &key, &rules, None),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("decrypt 1,000 values", |b| {
        b.iter_batched(
            || enc.clone(),
            |mut docs| decrypt_docs(black_box(&mut docs), &key, &rules, None),
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();

    let mut g = c.benchmark_group("mac");
    let mac = "A".repeat(128);
    let lm = "2026-11-25T16:44:17Z";
    let sealed = encrypt_mac(&key, &mac, lm).expect("encrypts");
    g.bench_function("encrypt the MAC", |b| {
        b.iter(|| encrypt_mac(&key, black_box(&mac), lm))
    });
    g.bench_function("decrypt the MAC", |b| {
        b.iter(|| decrypt_mac(&key, black_box(&sealed), lm))
    });
    g.finish();
}

/// YAML parse (fast scanner and composer) and emit (layout-preserving, as decrypt writes,
/// and canonical), per byte, at three sizes.
fn yaml(c: &mut Criterion) {
    let store = Format::Yaml.store();
    let mut g = c.benchmark_group("yaml");
    for n in [100, 1000, 10000] {
        let text = secret(n);
        g.throughput(Throughput::Bytes(text.len() as u64));
        g.bench_with_input(BenchmarkId::new("parse", n), &text, |b, t| {
            b.iter(|| store.load_plain(black_box(t.as_bytes())))
        });
        let parsed = store.load_plain(text.as_bytes()).expect("parses");
        // Change every value, so that the layout writer splices each one.
        let mut changed = parsed.docs.clone();
        for doc in &mut changed {
            if let Some(seal::tree::Item::Pair(_, seal::tree::Value::Branch(b))) =
                doc.items.last_mut()
            {
                for item in &mut b.items {
                    if let seal::tree::Item::Pair(_, seal::tree::Value::Str(s)) = item {
                        s.push('x');
                    }
                }
            }
        }
        g.bench_with_input(BenchmarkId::new("emit in place", n), &changed, |b, docs| {
            b.iter(|| store.emit_plain(black_box(docs), &parsed.layout, EmitOptions::default()))
        });
        let none = seal::stores::Layout::none();
        g.bench_with_input(
            BenchmarkId::new("emit canonical", n),
            &changed,
            |b, docs| b.iter(|| store.emit_plain(black_box(docs), &none, EmitOptions::default())),
        );
    }
    g.finish();
}

/// The `seal check` scanner on one file of each common kind (no rule applies).
fn scanner(c: &mut Criterion) {
    let key = DataKey::from_slice(&[7u8; 32]).expect("32 bytes");
    let store = Format::Yaml.store();
    let sel = selector();
    let rules = WalkRules {
        selector: &sel,
        mac_only_encrypted: false,
    };
    // An encrypted Secret without real metadata is still scanned value by value.
    let parsed = store.load_plain(secret(5).as_bytes()).expect("parses");
    let mut docs = parsed.docs.clone();
    encrypt_docs(&mut docs, &key, &rules, None).expect("encrypts");
    let enc = store
        .emit_plain(&docs, &parsed.layout, EmitOptions::default())
        .expect("emits");
    let plain_secret = secret(5).into_bytes();
    let files: [(&str, &[u8]); 3] = [
        ("deployment", DEPLOYMENT.as_bytes()),
        ("plaintext Secret", &plain_secret),
        ("Secret with ENC values", &enc),
    ];
    let mut g = c.benchmark_group("check scanner");
    for (name, bytes) in files {
        let ctx = FileContext {
            path: "clusters/c00/app.yaml",
            rule: None,
            require: &[],
        };
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(name, |b| b.iter(|| scan(&ctx, black_box(bytes))));
    }
    g.finish();
}

/// Wrapping a data key for one recipient (an armored age file, as each metadata entry
/// holds) and unwrapping it with the identity: X25519 against post-quantum
/// (ML-KEM-768 + X25519). Key generation is outside the timed part.
fn age_keys(c: &mut Criterion) {
    use age::secrecy::ExposeSecret;
    use seal::keys::age_pq;
    use std::io::Read;

    let data_key = [7u8; 32];
    let x = age::x25519::Identity::generate();
    let pq = age_pq::Identity::generate();
    let x_public = x.to_public().to_string();
    let pq_public = pq.to_public().to_string();
    let unwrap = |armored: &str, id: &dyn age::Identity| {
        let d = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(armored.as_bytes()))
            .expect("an age file");
        let mut out = Vec::new();
        d.decrypt(std::iter::once(id))
            .expect("opens")
            .read_to_end(&mut out)
            .expect("reads");
        out
    };
    let mut g = c.benchmark_group("age data key");
    for (name, public, id) in [
        ("X25519", &x_public, &x as &dyn age::Identity),
        ("ML-KEM-768 + X25519", &pq_public, &pq as &dyn age::Identity),
    ] {
        let armored = seal::keys::wrap(public, &data_key).expect("wraps");
        assert_eq!(unwrap(&armored, id), data_key);
        g.bench_function(format!("wrap {name}"), |b| {
            b.iter(|| seal::keys::wrap(black_box(public), &data_key))
        });
        g.bench_function(format!("unwrap {name}"), |b| {
            b.iter(|| unwrap(black_box(&armored), id))
        });
    }
    g.bench_function("parse an AGE-SECRET-KEY-PQ-1 identity", |b| {
        let text = pq.to_string();
        b.iter(|| black_box(text.expose_secret()).parse::<age_pq::Identity>())
    });
    g.finish();
}

criterion_group!(benches, cipher, yaml, scanner, age_keys);
criterion_main!(benches);
