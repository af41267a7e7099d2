//! Fuzz regressions: every input a fuzzer flagged (crash, hang, out-of-memory) is kept in
//! `tests/fuzz-regressions/<target>/` and replayed here through the same entry points as
//! the fuzz target of that name (`fuzz/fuzz_targets/<target>.rs`): it must not panic and
//! must finish within a second.
//!
//! `SEAL_FUZZ_CORPUS=fuzz/corpus cargo test --release --test fuzz_regressions -- --nocapture`
//! also replays a whole fuzzing corpus (not committed) without the sanitizer and prints the
//! slowest input per target: that is how a libFuzzer timeout on a loaded machine is told
//! apart from a real hang.

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use seal::check::scan::{FileContext, scan, scan_text_only};
use seal::cipher::EncValue;
use seal::commands::common::{Input, open};
use seal::config::Config;
use seal::keys::Identities;
use seal::metadata::Metadata;
use seal::stores::{EmitOptions, Format, Layout};

/// The slowest any single input may be (debug build, loaded machine).
const BUDGET: Duration = Duration::from_secs(1);

fn store(format: Format, data: &[u8]) {
    let store = format.store();
    let _ = store.load_encrypted(data);
    if let Ok(parsed) = store.load_plain(data) {
        let opts = EmitOptions::default();
        let _ = store.emit_plain(&parsed.docs, &parsed.layout, opts);
        let _ = store.emit_plain(&parsed.docs, &Layout::none(), opts);
        if let Some(meta) = &parsed.metadata {
            let _ = store.emit_encrypted(&parsed.docs, meta, &parsed.layout, opts);
        }
    }
}

fn enc_value(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(v) = EncValue::parse(s) {
        assert_eq!(EncValue::parse(&v.to_string()).as_ref(), Ok(&v));
    }
}

fn metadata(data: &[u8]) {
    let Ok(parsed) = Format::Yaml.store().load_plain(data) else {
        return;
    };
    let mut trees: Vec<_> = parsed.metadata.into_iter().collect();
    trees.extend(parsed.docs);
    for tree in &trees {
        if let Ok(meta) = Metadata::from_tree(tree) {
            assert!(Metadata::from_tree(&meta.to_tree()).is_ok());
        }
    }
}

fn config(data: &[u8]) {
    if let Ok(cfg) = Config::parse(data, Path::new("/repo/.sops.yaml")) {
        for p in [
            "/repo/a/secret.yaml",
            "/repo/x.env",
            "/elsewhere/b.json",
            "/repo",
        ] {
            let _ = cfg.rule_for(Path::new(p));
        }
    }
}

const NAMES: [&str; 8] = [
    "k8s/secret.yaml",
    "app/values.yml",
    "conf/settings.json",
    ".env",
    "db.ini",
    "id_ed25519",
    "README.md",
    "secrets/blob.bin",
];

fn check_scan(data: &[u8]) {
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let require = [common::recipient("alice")];
    let ctx = FileContext {
        path: NAMES[usize::from(*first) % NAMES.len()],
        rule: None,
        require: if first & 0x80 != 0 { &require } else { &[] },
    };
    let _ = scan(&ctx, rest);
    let _ = scan_text_only(&ctx, rest);
}

static IDS: LazyLock<Identities> = LazyLock::new(|| {
    let text = std::fs::read_to_string(common::key_file("alice")).unwrap();
    let mut ids = Identities::default();
    for line in text.lines().filter(|l| l.starts_with("AGE-SECRET-KEY-")) {
        let id = age::x25519::Identity::from_str(line).unwrap();
        let public = id.to_public().to_string();
        ids.add(Box::new(id), Some(public), "test");
    }
    ids
});

fn decrypt(data: &[u8]) {
    const FORMATS: [Format; 5] = [
        Format::Yaml,
        Format::Json,
        Format::Dotenv,
        Format::Ini,
        Format::Binary,
    ];
    let Some((first, rest)) = data.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(*first) % FORMATS.len()];
    let input = Input {
        display: PathBuf::from("fuzz"),
        file: None,
        rules_path: None,
        format,
        out_format: format,
        bytes: rest.to_vec(),
    };
    if let Ok(opened) = open(&input, &IDS, first & 0x80 != 0, true) {
        let _ = format
            .store()
            .emit_plain(&opened.docs, &opened.layout, EmitOptions::default());
    }
}

fn target(name: &str) -> Option<fn(&[u8])> {
    Some(match name {
        "store_yaml" => |d| store(Format::Yaml, d),
        "store_json" => |d| store(Format::Json, d),
        "store_dotenv" => |d| store(Format::Dotenv, d),
        "store_ini" => |d| store(Format::Ini, d),
        "enc_value" => enc_value,
        "metadata" => metadata,
        "config" => config,
        "check_scan" => check_scan,
        "decrypt" => decrypt,
        _ => return None,
    })
}

/// Replay every file below `root/<target>/`; returns (inputs, slowest, its path).
fn replay(root: &Path, budget: Option<Duration>) -> Vec<(String, usize, Duration, PathBuf)> {
    let mut report = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root) else {
        panic!("{} is missing", root.display());
    };
    let mut dirs: Vec<_> = dirs.flatten().map(|e| e.path()).collect();
    dirs.sort();
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let Some(run) = target(&name) else {
            panic!("{}: no fuzz target of that name", dir.display());
        };
        let (mut n, mut slowest, mut which) = (0, Duration::ZERO, PathBuf::new());
        for f in std::fs::read_dir(&dir).unwrap().flatten() {
            let data = std::fs::read(f.path()).unwrap();
            let t = Instant::now();
            let r = catch_unwind(AssertUnwindSafe(|| run(&data)));
            let took = t.elapsed();
            assert!(r.is_ok(), "{}: panicked", f.path().display());
            if let Some(b) = budget {
                assert!(took < b, "{}: took {took:?}", f.path().display());
            }
            if took >= slowest {
                (slowest, which) = (took, f.path());
            }
            n += 1;
        }
        report.push((name, n, slowest, which));
    }
    report
}

#[test]
fn every_kept_fuzz_finding_stays_fixed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let report = replay(&root, Some(BUDGET));
    assert!(report.iter().map(|r| r.1).sum::<usize>() > 0, "no inputs");
}

#[test]
fn a_fuzzing_corpus_replays_without_panic_or_hang() {
    let Some(corpus) = std::env::var_os("SEAL_FUZZ_CORPUS") else {
        return; // opt-in: the corpus is not committed
    };
    for (name, n, slowest, which) in replay(Path::new(&corpus), None) {
        eprintln!(
            "{name}: {n} inputs, slowest {slowest:?} ({})",
            which.display()
        );
    }
}
