//! Flattening of the metadata tree for the flat formats (dotenv, INI): `__map_k` and
//! `__list_i` key segments, as sops writes them (sops-format.md §8.6).
//! (stub: being written)
