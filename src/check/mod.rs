//! `seal check`: the key-less scanner that finds secrets committed in plaintext. STUB.
