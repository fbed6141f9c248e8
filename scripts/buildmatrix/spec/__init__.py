"""The file format: what variants.toml (and the other TOML files read here) may hold.

shape: every table and key, declared once; keys: the record types of that declaration;
check: one table against its declaration; reach: where a value can end up and the rule each
place imposes; tomlpos: a key path to its line; loadguard: bytes to data, or a ModelError;
schema: the JSON schema emitted from the declaration.
"""
