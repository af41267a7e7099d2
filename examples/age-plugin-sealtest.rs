//! A deterministic age plugin for seal's tests (`age-plugin-sealtest`), built by `cargo test`
//! with the `age-plugin` crate. It is a toy, not cryptography: a key is 16 bytes shared by
//! the recipient (`age1sealtest1…`) and the identity (`AGE-PLUGIN-SEALTEST-1…`), and the
//! stanza `sealtest <key id>` carries the file key XORed with SHA-256 of the key.
//!
//! `age-plugin-sealtest --generate HEX` prints the identity and recipient of the key `HEX`
//! (32 hex digits), as plugins print new identities. When unwrapping, the plugin sends the
//! message `sealtest: unwrapping with key <id>`; with `SEALTEST_PIN` set it first asks for
//! a secret (the PIN) and refuses a different answer, as hardware plugins ask for a PIN.

use std::collections::{HashMap, HashSet};
use std::io;

use age_core::format::{FILE_KEY_BYTES, FileKey, Stanza};
use age_core::secrecy::ExposeSecret;
use age_plugin::identity::{self, IdentityPluginV1};
use age_plugin::recipient::{self, RecipientPluginV1};
use age_plugin::{Callbacks, PluginHandler, run_state_machine};
use sha2::Digest;

const NAME: &str = "sealtest";

fn key_id(key: &[u8]) -> String {
    key.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

fn pad(key: &[u8]) -> [u8; 32] {
    sha2::Sha256::digest(key).into()
}

fn seal_key(key: &[u8], file_key: &[u8]) -> Vec<u8> {
    let pad = pad(key);
    file_key
        .iter()
        .zip(pad.iter())
        .map(|(a, b)| a ^ b)
        .collect()
}

struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = Wrapper;
    type IdentityV1 = Unwrapper;

    fn recipient_v1(self) -> io::Result<Wrapper> {
        Ok(Wrapper { keys: Vec::new() })
    }

    fn identity_v1(self) -> io::Result<Unwrapper> {
        Ok(Unwrapper { keys: Vec::new() })
    }
}

struct Wrapper {
    keys: Vec<Vec<u8>>,
}

impl RecipientPluginV1 for Wrapper {
    fn add_recipient(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        if plugin_name != NAME || bytes.len() != 16 {
            return Err(recipient::Error::Recipient {
                index,
                message: "not a sealtest recipient".to_string(),
            });
        }
        self.keys.push(bytes.to_vec());
        Ok(())
    }

    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), recipient::Error> {
        if plugin_name != NAME || bytes.len() != 16 {
            return Err(recipient::Error::Identity {
                index,
                message: "not a sealtest identity".to_string(),
            });
        }
        self.keys.push(bytes.to_vec());
        Ok(())
    }

    fn labels(&mut self) -> HashSet<String> {
        HashSet::new()
    }

    fn wrap_file_keys(
        &mut self,
        file_keys: Vec<FileKey>,
        _callbacks: impl Callbacks<recipient::Error>,
    ) -> io::Result<Result<Vec<Vec<Stanza>>, Vec<recipient::Error>>> {
        Ok(Ok(file_keys
            .iter()
            .map(|fk| {
                self.keys
                    .iter()
                    .map(|k| Stanza {
                        tag: NAME.to_string(),
                        args: vec![key_id(k)],
                        body: seal_key(k, fk.expose_secret()),
                    })
                    .collect()
            })
            .collect()))
    }
}

struct Unwrapper {
    keys: Vec<Vec<u8>>,
}

impl IdentityPluginV1 for Unwrapper {
    fn add_identity(
        &mut self,
        index: usize,
        plugin_name: &str,
        bytes: &[u8],
    ) -> Result<(), identity::Error> {
        if plugin_name != NAME || bytes.len() != 16 {
            return Err(identity::Error::Identity {
                index,
                message: "not a sealtest identity".to_string(),
            });
        }
        self.keys.push(bytes.to_vec());
        Ok(())
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut out = HashMap::new();
        for (i, stanzas) in files.iter().enumerate() {
            for stanza in stanzas.iter().filter(|s| s.tag == NAME) {
                let Some(key) = self
                    .keys
                    .iter()
                    .find(|k| stanza.args.first() == Some(&key_id(k)))
                else {
                    continue;
                };
                if let Ok(pin) = std::env::var("SEALTEST_PIN") {
                    let given = callbacks.request_secret("sealtest PIN")?;
                    if given.map(|g| g.expose_secret() != pin).unwrap_or(true) {
                        out.insert(
                            i,
                            Err(vec![identity::Error::Stanza {
                                file_index: i,
                                stanza_index: 0,
                                message: "wrong PIN".to_string(),
                            }]),
                        );
                        break;
                    }
                }
                let _ =
                    callbacks.message(&format!("sealtest: unwrapping with key {}", key_id(key)))?;
                if stanza.body.len() != FILE_KEY_BYTES {
                    continue;
                }
                let plain = seal_key(key, &stanza.body);
                let fk = FileKey::try_init_with_mut(|fk| {
                    fk.copy_from_slice(&plain);
                    Ok::<(), ()>(())
                });
                if let Ok(fk) = fk {
                    out.insert(i, Ok(fk));
                }
                break;
            }
        }
        Ok(out)
    }
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(sm) = args.iter().find_map(|a| a.strip_prefix("--age-plugin=")) {
        return run_state_machine(sm, Handler);
    }
    match args.as_slice() {
        [flag, sm] if flag == "--age-plugin" => run_state_machine(sm, Handler),
        [flag, hex] if flag == "--generate" && hex.len() == 32 => {
            let key: Vec<u8> = (0..16)
                .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16))
                .collect::<Result<_, _>>()
                .map_err(|_| io::Error::other("--generate takes 32 hex digits"))?;
            age_plugin::print_new_identity(NAME, &key, &key);
            Ok(())
        }
        _ => Err(io::Error::other(
            "usage: age-plugin-sealtest --generate HEX32 | --age-plugin=STATE_MACHINE",
        )),
    }
}
