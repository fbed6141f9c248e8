"""Building variants with ``flox build``: the nox ``build-*`` sessions and what they run.

sessions: which sessions exist and what each builds; flox: one flox call, logged; dryrun: what a
build would do; parallelism: compiler jobs per build; builders: remote builders and caches.
"""
