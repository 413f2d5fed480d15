"""The shell side of governance (spec §13): policy sources, signed bundles, the policy store.

``sources`` loads the human-edited YAML policy directory, lints it and compiles it to the
GovernancePolicy document of §13.1 (the format is in ``docs/POLICY.md``). ``bundle`` signs and
verifies that document as a COSE_Sign1 policy bundle (§13.3); ``store`` keeps the trusted
policy keys and the staged and active bundles of a state directory. The kernel parses and
judges the document; nothing here decides a lease.
"""
